use std::collections::HashMap;

use crate::types::{
    CellInput, CellValue, Effect, Field, FieldKind, Row, RowOutcome, TableInfo, TableKind,
    TransformContext, View,
};
use crate::{Config, Error};

/// A row transformation. The SDK creates one value per plugin instance (from its config) and
/// calls [`Transformer::transform`] once per batch.
///
/// ```
/// use kiln_guest::{Batch, Config, Error, Outcome, Transformer};
///
/// struct Shout;
///
/// impl Transformer for Shout {
///     fn new(_config: Config) -> Result<Self, Error> {
///         Ok(Shout)
///     }
///
///     fn transform(&mut self, batch: &Batch) -> Vec<Outcome> {
///         batch
///             .rows()
///             .map(|row| match row.text("Name") {
///                 Some(name) => row.set("Name", name.to_uppercase()),
///                 None => row.unchanged(),
///             })
///             .collect()
///     }
/// }
///
/// let table = Batch::table_with_columns("Leads", &["Name"]);
/// let row = Batch::row_with_text(&table, "r_1", &[("Name", "ada")]);
/// let batch = Batch::new(table, vec![row]);
/// let outcomes = batch.resolve(Shout.transform(&batch));
/// assert!(matches!(outcomes[0].effect, kiln_guest::types::Effect::SetCells(_)));
/// ```
pub trait Transformer: Sized + 'static {
    /// Creates the plugin from its settings; a bad setting fails every row of the batch
    /// with the error's message.
    fn new(config: Config) -> Result<Self, Error>;

    /// One [`Outcome`] per row of the batch, built from its [`RowRef`]s.
    fn transform(&mut self, batch: &Batch) -> Vec<Outcome>;
}

/// A batch of rows with the table they come from.
pub struct Batch {
    ctx: TransformContext,
    rows: Vec<Row>,
    /// Lower-cased field name → index into `ctx.table.fields`.
    by_name: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
}

impl Batch {
    /// A batch over `table` (for native tests and benches).
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// let table = Batch::table_with_columns("Leads", &["Email"]);
    /// let batch = Batch::new(table, vec![]);
    /// assert!(batch.is_empty());
    /// ```
    pub fn new(table: TableInfo, rows: Vec<Row>) -> Self {
        let total = rows.len() as u64;
        Self::from_parts(
            rows,
            TransformContext {
                workspace_id: table.workspace_id,
                table,
                batch_index: 0,
                total_rows: total,
                dry_run: false,
            },
        )
    }

    pub(crate) fn from_parts(rows: Vec<Row>, ctx: TransformContext) -> Self {
        let by_name = ctx
            .table
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.to_lowercase(), i))
            .collect();
        let by_id = ctx
            .table
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        Self {
            ctx,
            rows,
            by_name,
            by_id,
        }
    }

    /// The table the rows come from, with the fields this plugin may see.
    pub fn table(&self) -> &TableInfo {
        &self.ctx.table
    }

    /// What the host said about this batch: its index, the run's size, whether it is a dry run.
    pub fn context(&self) -> &TransformContext {
        &self.ctx
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in order; build one [`Outcome`] from each.
    pub fn rows(&self) -> impl Iterator<Item = RowRef<'_>> {
        self.rows
            .iter()
            .enumerate()
            .map(move |(index, row)| RowRef {
                batch: self,
                row,
                index,
            })
    }

    /// A column by name (case-insensitive) or id.
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// let batch = Batch::new(Batch::table_with_columns("Leads", &["Email"]), vec![]);
    /// assert_eq!(batch.field("email").map(|f| f.id.as_str()), Some("f_0"));
    /// ```
    pub fn field(&self, column: &str) -> Option<&Field> {
        self.by_id
            .get(column)
            .or_else(|| self.by_name.get(&column.to_lowercase()))
            .map(|i| &self.ctx.table.fields[*i])
    }

    /// Whether the table has this column (by name or id).
    pub fn has_column(&self, column: &str) -> bool {
        self.field(column).is_some()
    }

    /// Turns outcomes into the effects the host applies: column names become field ids,
    /// no-op writes are dropped, and an unknown column fails only its own row.
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// use kiln_guest::types::Effect;
    /// let table = Batch::table_with_columns("Leads", &["Email"]);
    /// let row = Batch::row_with_text(&table, "r_1", &[("Email", "a@b.io")]);
    /// let batch = Batch::new(table, vec![row]);
    /// let outcomes = batch.rows().map(|r| r.set("Email", "a@b.io").set("Nope", "x")).collect();
    /// assert!(matches!(batch.resolve(outcomes)[0].effect, Effect::Error(_)));
    /// ```
    pub fn resolve(&self, outcomes: Vec<Outcome>) -> Vec<RowOutcome> {
        outcomes
            .into_iter()
            .filter_map(|o| {
                let row = self.rows.get(o.index)?;
                let effect = match o.effect {
                    Pending::Unchanged => Effect::Unchanged,
                    Pending::Delete => Effect::Delete,
                    Pending::Error(m) => Effect::Error(m),
                    Pending::Set(cells) => self.resolve_sets(row, cells),
                };
                Some(RowOutcome {
                    row_id: row.id.clone(),
                    effect,
                })
            })
            .collect()
    }

    fn resolve_sets(&self, row: &Row, cells: Vec<(String, CellValue)>) -> Effect {
        let mut inputs: Vec<CellInput> = Vec::with_capacity(cells.len());
        for (column, value) in cells {
            let Some(field) = self.field(&column) else {
                return Effect::Error(format!(
                    "table `{}` has no column `{column}`",
                    self.ctx.table.name
                ));
            };
            let current = row
                .cells
                .iter()
                .find(|c| c.field_id == field.id)
                .map(|c| &c.value)
                .unwrap_or(&CellValue::Null);
            if same_value(current, &value) {
                continue;
            }
            inputs.retain(|c| c.field_id != field.id);
            inputs.push(CellInput {
                field_id: field.id.clone(),
                value,
            });
        }
        if inputs.is_empty() {
            Effect::Unchanged
        } else {
            Effect::SetCells(inputs)
        }
    }

    /// A table description from column names (native tests and benches); field ids are
    /// `f_<index>`.
    ///
    /// ```
    /// let table = kiln_guest::Batch::table_with_columns("Leads", &["Email", "Name"]);
    /// assert_eq!(table.fields[1].id, "f_1");
    /// ```
    pub fn table_with_columns(name: &str, columns: &[&str]) -> TableInfo {
        TableInfo {
            id: format!("t_{}", name.to_lowercase().replace(' ', "_")),
            name: name.to_string(),
            kind: TableKind::Spreadsheet,
            workspace_id: 1,
            workbook_id: None,
            first_view_id: Some("gv_default".into()),
            views: vec![View {
                id: "gv_default".into(),
                name: "Default view".into(),
            }],
            fields: columns
                .iter()
                .enumerate()
                .map(|(i, c)| Field {
                    id: format!("f_{i}"),
                    name: c.to_string(),
                    kind: FieldKind::Text,
                    action: None,
                })
                .collect(),
        }
    }

    /// A row of text cells by column name for `table` (native tests and benches); unknown
    /// columns are skipped.
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// let table = Batch::table_with_columns("Leads", &["Email"]);
    /// let row = Batch::row_with_text(&table, "r_1", &[("Email", "a@b.io")]);
    /// assert_eq!(row.cells.len(), 1);
    /// ```
    pub fn row_with_text(table: &TableInfo, id: &str, cells: &[(&str, &str)]) -> Row {
        Row {
            id: id.to_string(),
            cells: cells
                .iter()
                .filter_map(|(name, value)| {
                    let field = table
                        .fields
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(name))?;
                    Some(crate::types::Cell {
                        field_id: field.id.clone(),
                        value: CellValue::Text(value.to_string()),
                        status: None,
                    })
                })
                .collect(),
            created_at: None,
            updated_at: None,
        }
    }
}

fn same_value(a: &CellValue, b: &CellValue) -> bool {
    match (a, b) {
        (CellValue::Null, CellValue::Null) => true,
        (CellValue::Text(x), CellValue::Text(y)) | (CellValue::Json(x), CellValue::Json(y)) => {
            x == y
        }
        (CellValue::Number(x), CellValue::Number(y)) => x == y,
        (CellValue::Boolean(x), CellValue::Boolean(y)) => x == y,
        _ => false,
    }
}

/// One row of a batch, readable by column name (case-insensitive) or field id.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    batch: &'a Batch,
    row: &'a Row,
    index: usize,
}

impl<'a> RowRef<'a> {
    /// The record id (`r_…`).
    pub fn id(&self) -> &'a str {
        &self.row.id
    }

    /// The row as the host sent it: every cell with its field id and status.
    pub fn raw(&self) -> &'a Row {
        self.row
    }

    /// The cell's value; `None` when the column does not exist or the cell is unset.
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// use kiln_guest::types::CellValue;
    /// let table = Batch::table_with_columns("Leads", &["Email", "Name"]);
    /// let batch = Batch::new(table.clone(), vec![Batch::row_with_text(&table, "r_1", &[("Email", "a@b.io")])]);
    /// let row = batch.rows().next().unwrap();
    /// assert_eq!(row.get("Email"), Some(&CellValue::Text("a@b.io".into())));
    /// assert_eq!(row.get("Name"), None);
    /// ```
    pub fn get(&self, column: &str) -> Option<&'a CellValue> {
        let field = self.batch.field(column)?;
        self.row
            .cells
            .iter()
            .find(|c| c.field_id == field.id)
            .map(|c| &c.value)
            .filter(|v| !matches!(v, CellValue::Null))
    }

    /// The cell as text: text and JSON as they are, numbers and booleans formatted.
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// let table = Batch::table_with_columns("Leads", &["Email"]);
    /// let batch = Batch::new(table.clone(), vec![Batch::row_with_text(&table, "r_1", &[("Email", "a@b.io")])]);
    /// assert_eq!(batch.rows().next().unwrap().text("email").as_deref(), Some("a@b.io"));
    /// ```
    pub fn text(&self, column: &str) -> Option<String> {
        match self.get(column)? {
            CellValue::Null => None,
            CellValue::Text(s) | CellValue::Json(s) => Some(s.clone()),
            CellValue::Number(n) => Some(if n.fract() == 0.0 && n.abs() < 1e15 {
                format!("{}", *n as i64)
            } else {
                n.to_string()
            }),
            CellValue::Boolean(b) => Some(b.to_string()),
        }
    }

    /// Leaves the row as it is.
    pub fn unchanged(&self) -> Outcome {
        Outcome {
            index: self.index,
            effect: Pending::Unchanged,
        }
    }

    /// Deletes the row.
    pub fn delete(&self) -> Outcome {
        Outcome {
            index: self.index,
            effect: Pending::Delete,
        }
    }

    /// This row could not be processed; the rest of the batch goes on.
    pub fn error(&self, message: impl Into<String>) -> Outcome {
        Outcome {
            index: self.index,
            effect: Pending::Error(message.into()),
        }
    }

    /// Sets a cell; chain [`Outcome::set`] for more.
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// let table = Batch::table_with_columns("Leads", &["First", "Last"]);
    /// let batch = Batch::new(table.clone(), vec![Batch::row_with_text(&table, "r_1", &[])]);
    /// let row = batch.rows().next().unwrap();
    /// let outcome = row.set("First", "Ada").set("Last", "Lovelace");
    /// assert!(!outcome.is_unchanged());
    /// ```
    pub fn set(&self, column: &str, value: impl Into<CellValue>) -> Outcome {
        self.unchanged().set(column, value)
    }
}

enum Pending {
    Unchanged,
    Set(Vec<(String, CellValue)>),
    Delete,
    Error(String),
}

/// The declared effect for one row.
pub struct Outcome {
    index: usize,
    effect: Pending,
}

impl Outcome {
    /// Adds a cell to set. On a deleted or failed row it does nothing.
    pub fn set(mut self, column: &str, value: impl Into<CellValue>) -> Outcome {
        let value = value.into();
        self.effect = match self.effect {
            Pending::Unchanged => Pending::Set(vec![(column.to_string(), value)]),
            Pending::Set(mut cells) => {
                cells.push((column.to_string(), value));
                Pending::Set(cells)
            }
            other => other,
        };
        self
    }

    /// Whether this outcome changes the row (before no-op writes are dropped).
    pub fn is_unchanged(&self) -> bool {
        matches!(self.effect, Pending::Unchanged)
    }
}

impl From<&str> for CellValue {
    fn from(s: &str) -> Self {
        CellValue::Text(s.to_string())
    }
}

impl From<String> for CellValue {
    fn from(s: String) -> Self {
        CellValue::Text(s)
    }
}

impl From<f64> for CellValue {
    fn from(n: f64) -> Self {
        CellValue::Number(n)
    }
}

impl From<bool> for CellValue {
    fn from(b: bool) -> Self {
        CellValue::Boolean(b)
    }
}

impl<T: Into<CellValue>> From<Option<T>> for CellValue {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(CellValue::Null)
    }
}

#[cfg(feature = "transformer")]
thread_local! {
    static TRANSFORMER: std::cell::RefCell<Option<Box<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(None) };
}

/// The export glue: one plugin value per instance, created on the first batch.
#[doc(hidden)]
#[cfg(feature = "transformer")]
pub fn run_transformer<T: Transformer>(rows: Vec<Row>, ctx: TransformContext) -> Vec<RowOutcome> {
    let batch = Batch::from_parts(rows, ctx);
    TRANSFORMER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            match T::new(Config::from_host()) {
                Ok(plugin) => *slot = Some(Box::new(plugin)),
                Err(e) => {
                    let message = format!("the plugin could not start: {e}");
                    let outcomes = batch.rows().map(|r| r.error(message.clone())).collect();
                    return batch.resolve(outcomes);
                }
            }
        }
        match slot.as_mut().and_then(|p| p.downcast_mut::<T>()) {
            Some(plugin) => {
                let outcomes = plugin.transform(&batch);
                batch.resolve(outcomes)
            }
            None => Vec::new(),
        }
    })
}
