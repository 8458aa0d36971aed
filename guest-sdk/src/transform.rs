use rustc_hash::FxHashMap;

use crate::types::{
    Cell, CellInput, CellValue, Effect, Field, FieldKind, Row, RowOutcome, TableInfo, TableKind,
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
///
/// Columns are resolved once per batch and every row's cells are indexed once, so reading a
/// cell by name is two small hash lookups, with no allocation and no scan of the row.
pub struct Batch {
    ctx: TransformContext,
    rows: Vec<Row>,
    /// Field name as the table spells it → index into `ctx.table.fields`.
    by_exact_name: FxHashMap<String, usize>,
    /// Lower-cased field name → index, for names spelled in another case.
    by_name: FxHashMap<String, usize>,
    by_id: FxHashMap<String, usize>,
    /// `rows × fields`: where each row keeps each field's cell, or [`NO_CELL`].
    slots: Vec<u32>,
}

const NO_CELL: u32 = u32::MAX;

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
        let fields = &ctx.table.fields;
        let mut by_exact_name = FxHashMap::default();
        let mut by_name = FxHashMap::default();
        let mut by_id = FxHashMap::default();
        for (i, f) in fields.iter().enumerate() {
            by_exact_name.insert(f.name.clone(), i);
            by_name.insert(f.name.to_lowercase(), i);
            by_id.insert(f.id.clone(), i);
        }
        let width = fields.len();
        let mut slots = vec![NO_CELL; rows.len().saturating_mul(width)];
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.cells.iter().enumerate() {
                if let (Some(&f), Ok(c)) = (by_id.get(&cell.field_id), u32::try_from(c)) {
                    // The first cell of a field wins, as a scan of the row would find it.
                    let slot = &mut slots[r * width + f];
                    if *slot == NO_CELL {
                        *slot = c;
                    }
                }
            }
        }
        Self {
            ctx,
            rows,
            by_exact_name,
            by_name,
            by_id,
            slots,
        }
    }

    /// The index of a column given by id, by name as spelled, or by name in any case.
    fn field_index(&self, column: &str) -> Option<usize> {
        if let Some(&i) = self
            .by_id
            .get(column)
            .or_else(|| self.by_exact_name.get(column))
        {
            return Some(i);
        }
        self.by_name.get(&column.to_lowercase()).copied()
    }

    /// Row `row`'s cell of field `field`, found through the index.
    fn cell(&self, row: usize, field: usize) -> Option<&Cell> {
        let width = self.ctx.table.fields.len();
        let slot = *self.slots.get(row * width + field)?;
        if slot == NO_CELL {
            return None;
        }
        self.rows.get(row)?.cells.get(slot as usize)
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
        self.ctx.table.fields.get(self.field_index(column)?)
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
                    Pending::Set(cells) => self.resolve_sets(o.index, cells),
                };
                Some(RowOutcome {
                    row_id: row.id.clone(),
                    effect,
                })
            })
            .collect()
    }

    fn resolve_sets(&self, row: usize, cells: Vec<(String, CellValue)>) -> Effect {
        let mut inputs: Vec<CellInput> = Vec::with_capacity(cells.len());
        for (column, value) in cells {
            let Some(index) = self.field_index(&column) else {
                return Effect::Error(format!(
                    "table `{}` has no column `{column}`",
                    self.ctx.table.name
                ));
            };
            let field = &self.ctx.table.fields[index];
            let current = self
                .cell(row, index)
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
        let field = self.batch.field_index(column)?;
        self.batch
            .cell(self.index, field)
            .map(|c| &c.value)
            .filter(|v| !matches!(v, CellValue::Null))
    }

    /// The cell's text without copying it: text and JSON cells only (see [`RowRef::text`]
    /// for numbers and booleans as text).
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// let table = Batch::table_with_columns("Leads", &["Email"]);
    /// let batch = Batch::new(table.clone(), vec![Batch::row_with_text(&table, "r_1", &[("Email", "a@b.io")])]);
    /// assert_eq!(batch.rows().next().unwrap().str("Email"), Some("a@b.io"));
    /// ```
    pub fn str(&self, column: &str) -> Option<&'a str> {
        match self.get(column)? {
            CellValue::Text(s) | CellValue::Json(s) => Some(s),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Cell;

    fn cell(field: &str, value: &str) -> Cell {
        Cell {
            field_id: field.into(),
            value: CellValue::Text(value.into()),
            status: None,
        }
    }

    #[test]
    fn cells_are_found_by_id_by_name_in_any_case_and_the_first_of_a_field_wins() {
        let table = Batch::table_with_columns("Leads", &["Email", "Full Name", "Phone"]);
        let row = |id: &str, cells: Vec<Cell>| Row {
            id: id.into(),
            cells,
            created_at: None,
            updated_at: None,
        };
        let batch = Batch::new(
            table,
            vec![
                // Out of order, a field the table does not have, a field twice.
                row(
                    "r_1",
                    vec![
                        cell("f_9", "stray"),
                        cell("f_2", "555"),
                        cell("f_0", "a@b.io"),
                        cell("f_0", "second"),
                    ],
                ),
                row("r_2", vec![cell("f_1", "Ada")]),
            ],
        );
        let rows: Vec<_> = batch.rows().collect();
        assert_eq!(rows[0].str("Email"), Some("a@b.io"));
        assert_eq!(rows[0].str("EMAIL"), Some("a@b.io"));
        assert_eq!(rows[0].str("f_0"), Some("a@b.io"));
        assert_eq!(rows[0].str("Phone"), Some("555"));
        assert_eq!(rows[0].get("Full Name"), None);
        assert_eq!(rows[0].get("f_9"), None, "not a column of the table");
        assert_eq!(rows[1].text("full name").as_deref(), Some("Ada"));
        assert_eq!(rows[1].get("Email"), None);

        // A write of what is there is no change; the row's own cells decide, not another's.
        let outcomes = batch.resolve(vec![
            rows[0].set("Email", "a@b.io").set("full name", "Grace"),
            rows[1].set("Full Name", "Ada"),
        ]);
        match &outcomes[0].effect {
            Effect::SetCells(cells) => {
                assert_eq!(cells.len(), 1);
                assert_eq!(cells[0].field_id, "f_1");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(outcomes[1].effect, Effect::Unchanged));
    }
}
