//! CSV in and out of the embedded workspace.

use std::fmt;
use std::io::Write;
use std::path::Path;

use super::store::{Db, now_ms};
use super::{LocalBackend, LocalError};
use crate::backend::ClayError;
use crate::backend::model::*;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportSummary {
    pub table_id: String,
    pub table_name: String,
    pub created_table: bool,
    pub new_columns: Vec<String>,
    pub rows_imported: usize,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} rows into {} ({}){}{}",
            self.rows_imported,
            self.table_name,
            self.table_id,
            if self.created_table {
                ", a new table"
            } else {
                ""
            },
            if self.new_columns.is_empty() {
                String::new()
            } else {
                format!(", new columns: {}", self.new_columns.join(", "))
            }
        )
    }
}

impl LocalBackend {
    /// Imports a CSV file into `table_name`: the table is created if missing, header names
    /// map onto existing columns (new names become text columns). The file is checked whole
    /// first: a ragged row or a row-limit overflow imports nothing.
    pub fn import_csv(&self, path: &Path, table_name: &str) -> Result<ImportSummary, LocalError> {
        let csv_err = |message: String| LocalError::Csv {
            path: path.to_path_buf(),
            message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| csv_err(e.to_string()))?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| csv_err(e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if header.is_empty() || header.iter().all(String::is_empty) {
            return Err(csv_err("the file is empty or has no header row".into()));
        }
        if let Some(i) = header.iter().position(String::is_empty) {
            return Err(csv_err(format!("header column {} has no name", i + 1)));
        }
        let mut records = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| csv_err(e.to_string()))?;
            let line = record.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
            if record.len() != header.len() {
                return Err(csv_err(format!(
                    "line {line} has {} fields but the header has {}; nothing was imported",
                    record.len(),
                    header.len()
                )));
            }
            records.push(record.iter().map(str::to_string).collect::<Vec<_>>());
        }
        self.blocking(|db| import(db, table_name, &header, records))
    }

    /// Writes a table as CSV: a header of column names, then one line per row.
    pub fn write_csv(&self, table: &str, out: impl Write) -> Result<(), LocalError> {
        let (info, rows) = self.export_rows(table)?;
        let fields: Vec<&Field> = info
            .fields
            .iter()
            .filter(|f| !f.id.starts_with("f_created_at") && !f.id.starts_with("f_updated_at"))
            .collect();
        let mut w = csv::Writer::from_writer(out);
        let io = |e: csv::Error| LocalError::Io(std::io::Error::other(e.to_string()));
        w.write_record(fields.iter().map(|f| f.name.as_str()))
            .map_err(io)?;
        for row in rows {
            w.write_record(fields.iter().map(|f| {
                row.cell(&f.id)
                    .map(|c| c.value.as_text())
                    .unwrap_or_default()
            }))
            .map_err(io)?;
        }
        w.flush()?;
        Ok(())
    }
}

fn import(
    db: &mut Db<'_>,
    table_name: &str,
    header: &[String],
    records: Vec<Vec<String>>,
) -> Result<ImportSummary, LocalError> {
    let (table, created) = match db.resolve_table(table_name) {
        Ok(t) => (t, false),
        Err(ClayError::NotFound(_)) => {
            let ws = 1u64;
            let workbook = match db
                .search_resources(ws, "Imports")?
                .into_iter()
                .find(|r| r.kind == ResourceKind::Workbook)
            {
                Some(wb) => wb.id,
                None => db.create_workbook(ws, "Imports", false, None)?.id,
            };
            let id = db.create_table(ws, &workbook, table_name, db.actor, now_ms())?;
            (db.get_table(&id)?, true)
        }
        Err(e) => return Err(e.into()),
    };
    let count = db.count_rows(&table.id)?;
    if count + records.len() as u64 > db.row_limit {
        return Err(ClayError::Invalid(format!(
            "table `{}` has {count} rows; importing {} would exceed the limit of {} rows per table; nothing was imported",
            table.name,
            records.len(),
            db.row_limit
        ))
        .into());
    }
    let mut ids = Vec::with_capacity(header.len());
    let mut new_columns = Vec::new();
    for name in header {
        match table.field_by_name(name) {
            Some(f) => ids.push(f.id.clone()),
            None => {
                ids.push(db.add_field(&table.id, name, FieldKind::Text, None)?);
                new_columns.push(name.clone());
            }
        }
    }
    let rows: Vec<NewRow> = records
        .into_iter()
        .map(|r| NewRow {
            id: None,
            cells: r
                .into_iter()
                .zip(&ids)
                .filter(|(v, _)| !v.is_empty())
                .map(|(v, id)| CellInput {
                    field_id: id.clone(),
                    value: CellValue::Text(v),
                })
                .collect(),
        })
        .collect();
    let n = rows.len();
    db.add_rows(&table.id, &rows, usize::MAX)?;
    Ok(ImportSummary {
        table_id: table.id,
        table_name: table.name,
        created_table: created,
        new_columns,
        rows_imported: n,
    })
}
