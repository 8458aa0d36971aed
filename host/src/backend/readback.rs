//! Reading writes back: which of the cell values a write asked for a table really holds.
//! Clay applies row updates asynchronously and has been reported to drop values given at
//! creation, so a write's answer says little; the rows read afterwards say what is there.
//!
//! Differences name rows and fields, never values: a cell may hold a secret.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::model::{CellInput, CellValue, Row, RowUpdate};
use super::{Clay, ClayResult};

/// A row whose cells are not (yet) what was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub row_id: String,
    pub field_ids: Vec<String>,
}

/// What a table holds of the values written to it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadBack {
    /// Rows holding every value written.
    pub verified: u64,
    /// Rows that exist but hold other values.
    pub differing: Vec<Difference>,
    /// Rows the table does not have.
    pub missing: Vec<String>,
    /// Reads made (more than one when values were still arriving).
    pub reads: u32,
    /// The rows as the table holds them, in the order written (missing ones left out).
    #[serde(skip)]
    pub rows: Vec<Row>,
}

impl ReadBack {
    pub fn agrees(&self) -> bool {
        self.differing.is_empty() && self.missing.is_empty()
    }
}

/// Whether a held value is the one written. Clay may answer a number written as text (or
/// the reverse), so equal text counts; an empty cell is absent from a sparse record.
fn holds(row: &Row, want: &CellInput) -> bool {
    match row.cell(&want.field_id) {
        None => want.value.is_null(),
        Some(c) => {
            c.value == want.value
                || (!want.value.is_null()
                    && !c.value.is_null()
                    && c.value.as_text() == want.value.as_text())
                || (want.value == CellValue::Text(String::new()) && c.value.is_null())
        }
    }
}

fn differing_fields(row: &Row, want: &RowUpdate) -> Vec<String> {
    want.cells
        .iter()
        .filter(|c| !holds(row, c))
        .map(|c| c.field_id.clone())
        .collect()
}

/// Reads `expected`'s rows of `table_id` (batches of at most 200, never an empty one) and
/// compares them with the values written. Rows that differ are read again, with a growing
/// pause, until they agree or `wait` has passed: Clay applies updates after answering.
pub async fn read_back(
    clay: &dyn Clay,
    table_id: &str,
    expected: &[RowUpdate],
    wait: Duration,
) -> ClayResult<ReadBack> {
    let started = Instant::now();
    let mut held: HashMap<String, Row> = HashMap::with_capacity(expected.len());
    let mut pending: Vec<&RowUpdate> = expected.iter().collect();
    let mut pause = Duration::from_millis(100);
    let mut reads = 0u32;
    while !pending.is_empty() {
        let ids: Vec<String> = pending.iter().map(|u| u.id.clone()).collect();
        for chunk in ids.chunks(super::BULK_READ_IDS) {
            for row in clay.read_records(table_id, chunk).await? {
                held.insert(row.id.clone(), row);
            }
        }
        reads += 1;
        pending.retain(|u| {
            held.get(&u.id)
                .is_none_or(|row| !differing_fields(row, u).is_empty())
        });
        if pending.is_empty() || started.elapsed() + pause > wait {
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
    let mut out = ReadBack {
        reads,
        ..ReadBack::default()
    };
    for u in expected {
        match held.get(&u.id).cloned() {
            None => out.missing.push(u.id.clone()),
            Some(row) => {
                let fields = differing_fields(&row, u);
                if fields.is_empty() {
                    out.verified += 1;
                } else {
                    out.differing.push(Difference {
                        row_id: u.id.clone(),
                        field_ids: fields,
                    });
                }
                out.rows.push(row);
            }
        }
    }
    Ok(out)
}
