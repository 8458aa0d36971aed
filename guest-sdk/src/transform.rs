use std::cell::{Cell as StdCell, RefCell};
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;

use kiln_batch::{BatchIndex, BatchWriter, OutcomeWriter, Status, Value};

use crate::types::{
    Cell, CellInput, CellStatus, CellValue, Field, FieldKind, Row, TableInfo, TableKind,
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
/// assert!(matches!(outcomes[0].effect, kiln_guest::Effect::SetCells(_)));
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
/// The host sends a batch as one buffer (clay:api 0.2.0); the batch reads its cells from it
/// in place. Columns are looked up by name once per call and cells by position, so reading
/// a cell is a small hash lookup with no allocation and no scan of the row.
pub struct Batch {
    ctx: TransformContext,
    buf: Vec<u8>,
    index: BatchIndex,
    /// Shared with every [`Outcome`], so a `set` resolves its column when it is made; and
    /// with the next batch of the same table, which need not index its columns again.
    columns: Arc<Columns>,
    /// Tells this batch's outcomes from those a plugin kept from another batch.
    generation: u64,
}

/// A batch's columns by id, by name as the table spells it, and by name in any case.
struct Columns {
    /// The fields' ids and names, to tell whether the next batch has the same columns.
    fields: Vec<(String, String)>,
    /// Field id, then name as the table spells it → index into `ctx.table.fields`. Ids go in
    /// first, so an id wins over a name spelled like it.
    exact: FxHashMap<String, usize>,
    /// Lower-cased field name → index, for names spelled in another case; built on the first
    /// lookup that needs it (most plugins spell names as the table does).
    by_name: OnceLock<FxHashMap<String, usize>>,
}

impl Columns {
    fn new(fields: &[Field]) -> Self {
        let mut exact = FxHashMap::with_capacity_and_hasher(fields.len() * 2, Default::default());
        for (i, f) in fields.iter().enumerate() {
            exact.entry(f.id.clone()).or_insert(i);
        }
        for (i, f) in fields.iter().enumerate() {
            exact.entry(f.name.clone()).or_insert(i);
        }
        Columns {
            fields: fields
                .iter()
                .map(|f| (f.id.clone(), f.name.clone()))
                .collect(),
            exact,
            by_name: OnceLock::new(),
        }
    }

    fn describe(&self, fields: &[Field]) -> bool {
        self.fields.len() == fields.len()
            && self
                .fields
                .iter()
                .zip(fields)
                .all(|((id, name), f)| *id == f.id && *name == f.name)
    }

    /// The index of a column given by id, by name as spelled, or by name in any case.
    fn index(&self, column: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(column) {
            return Some(i);
        }
        let by_name = self.by_name.get_or_init(|| {
            let mut map = FxHashMap::default();
            for (i, (_, name)) in self.fields.iter().enumerate() {
                map.entry(name.to_lowercase()).or_insert(i);
            }
            map
        });
        by_name.get(&column.to_lowercase()).copied()
    }
}

thread_local! {
    /// The last batch's columns: a plugin instance sees one table batch after batch.
    static LAST_COLUMNS: RefCell<Option<Arc<Columns>>> = const { RefCell::new(None) };
    static GENERATION: StdCell<u64> = const { StdCell::new(0) };
}

/// The columns of `fields`, reused from the last batch when they are the same.
fn columns_of(fields: &[Field]) -> Arc<Columns> {
    LAST_COLUMNS.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some(columns) if columns.describe(fields) => columns.clone(),
            _ => {
                let columns = Arc::new(Columns::new(fields));
                *last = Some(columns.clone());
                columns
            }
        }
    })
}

/// What the plugin declared for one row, with its columns resolved to field ids: what the
/// host applies, and what native tests look at.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The row stays as it is.
    Unchanged,
    /// These cells change (writes of the value already there are dropped).
    SetCells(Vec<CellInput>),
    /// The row is deleted.
    Delete,
    /// The row could not be processed.
    Error(String),
}

/// One row's [`Effect`], named by its record id.
#[derive(Debug, Clone, PartialEq)]
pub struct RowOutcome {
    /// The record id (`r_…`).
    pub row_id: String,
    /// What happens to it.
    pub effect: Effect,
}

/// An outcome resolved against the batch: columns are field positions.
enum Resolved {
    Unchanged,
    Set(Vec<(usize, CellValue)>),
    Delete,
    Error(String),
}

impl Batch {
    /// A batch over `table` (for native tests and benches). A row's cells are matched to the
    /// table's fields by id; cells of other fields are left out, as the host leaves them.
    ///
    /// ```
    /// use kiln_guest::Batch;
    /// let table = Batch::table_with_columns("Leads", &["Email"]);
    /// let batch = Batch::new(table, vec![]);
    /// assert!(batch.is_empty());
    /// ```
    pub fn new(table: TableInfo, rows: Vec<Row>) -> Self {
        let total = rows.len() as u64;
        let buf = encode(&table.fields, &rows);
        let ctx = TransformContext {
            workspace_id: table.workspace_id,
            table,
            batch_index: 0,
            total_rows: total,
            dry_run: false,
        };
        match Self::from_buffer(buf, ctx) {
            Ok(batch) => batch,
            // `encode` writes what `from_buffer` reads; a failure here is a bug in this crate.
            Err(e) => panic!("kiln-guest wrote a batch it cannot read: {e}"),
        }
    }

    /// A batch from the host's buffer.
    pub(crate) fn from_buffer(
        buf: Vec<u8>,
        ctx: TransformContext,
    ) -> Result<Self, kiln_batch::FormatError> {
        let index = BatchIndex::read(&buf)?;
        let columns = columns_of(&ctx.table.fields);
        let generation = GENERATION.with(|g| {
            g.set(g.get() + 1);
            g.get()
        });
        Ok(Self {
            ctx,
            buf,
            index,
            columns,
            generation,
        })
    }

    fn field_index(&self, column: &str) -> Option<usize> {
        self.columns.index(column)
    }

    fn value(&self, row: usize, field: usize) -> Option<Value<'_>> {
        self.index.value(&self.buf, row, field)
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
        self.index.rows()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.index.rows() == 0
    }

    /// The rows, in order; build one [`Outcome`] from each.
    pub fn rows(&self) -> impl Iterator<Item = RowRef<'_>> {
        (0..self.index.rows()).map(move |index| RowRef { batch: self, index })
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

    /// Turns outcomes into the effects the host applies, one per row in the batch's order:
    /// column names become field ids, no-op writes are dropped, and an unknown column fails
    /// only its own row, as does a row with no outcome or with two.
    ///
    /// ```
    /// use kiln_guest::{Batch, Effect};
    /// let table = Batch::table_with_columns("Leads", &["Email"]);
    /// let row = Batch::row_with_text(&table, "r_1", &[("Email", "a@b.io")]);
    /// let batch = Batch::new(table, vec![row]);
    /// let outcomes = batch.rows().map(|r| r.set("Email", "a@b.io").set("Nope", "x")).collect();
    /// assert!(matches!(batch.resolve(outcomes)[0].effect, Effect::Error(_)));
    /// ```
    pub fn resolve(&self, outcomes: Vec<Outcome>) -> Vec<RowOutcome> {
        let fields = &self.ctx.table.fields;
        self.resolved(outcomes)
            .into_iter()
            .enumerate()
            .map(|(row, r)| RowOutcome {
                row_id: self
                    .index
                    .id(&self.buf, row)
                    .unwrap_or_default()
                    .to_string(),
                effect: match r {
                    Resolved::Unchanged => Effect::Unchanged,
                    Resolved::Delete => Effect::Delete,
                    Resolved::Error(m) => Effect::Error(m),
                    Resolved::Set(cells) => Effect::SetCells(
                        cells
                            .into_iter()
                            .map(|(f, value)| CellInput {
                                field_id: fields[f].id.clone(),
                                value,
                            })
                            .collect(),
                    ),
                },
            })
            .collect()
    }

    /// The outcomes as the host reads them: one buffer, one per row in order.
    #[cfg_attr(not(feature = "transformer"), allow(dead_code))]
    pub(crate) fn encode_outcomes(&self, outcomes: Vec<Outcome>) -> Vec<u8> {
        let mut w = OutcomeWriter::with_capacity(self.len() * 2);
        for r in self.resolved(outcomes) {
            match r {
                Resolved::Unchanged => w.unchanged(),
                Resolved::Delete => w.delete(),
                Resolved::Error(m) => w.error(&m),
                Resolved::Set(cells) => w.set_cells(
                    cells
                        .iter()
                        .map(|(f, v)| (u32::try_from(*f).unwrap_or(u32::MAX), value_of(v))),
                ),
            }
        }
        w.finish()
    }

    /// One resolved outcome per row, in row order.
    fn resolved(&self, outcomes: Vec<Outcome>) -> Vec<Resolved> {
        let mut slots: Vec<Option<Resolved>> = (0..self.len()).map(|_| None).collect();
        let mut twice = Vec::new();
        for o in outcomes {
            // Only this batch's rows: an outcome kept from another batch names a row and
            // columns of that one.
            let Some(slot) = slots
                .get_mut(o.index)
                .filter(|_| o.batch == self.generation)
            else {
                continue;
            };
            if slot.is_some() {
                twice.push(o.index);
            }
            *slot = Some(match o.effect {
                Pending::Unchanged => Resolved::Unchanged,
                Pending::Delete => Resolved::Delete,
                Pending::Error(m) => Resolved::Error(m),
                Pending::Set(cells) => self.resolve_sets(o.index, cells),
            });
        }
        for row in twice {
            slots[row] = Some(Resolved::Error(
                "the plugin returned more than one outcome for this row; none of them was applied"
                    .into(),
            ));
        }
        slots
            .into_iter()
            .map(|s| {
                s.unwrap_or_else(|| {
                    Resolved::Error("the plugin returned no outcome for this row".into())
                })
            })
            .collect()
    }

    fn resolve_sets(&self, row: usize, cells: Vec<(Column, CellValue)>) -> Resolved {
        let mut sets: Vec<(usize, CellValue)> = Vec::with_capacity(cells.len());
        for (column, value) in cells {
            let index = match column {
                Column::At(index) if index < self.ctx.table.fields.len() => index,
                Column::At(index) => {
                    return Resolved::Error(format!(
                        "column #{index} is not a column of this batch's table `{}`",
                        self.ctx.table.name
                    ));
                }
                Column::Unknown(column) => {
                    return Resolved::Error(format!(
                        "table `{}` has no column `{column}`",
                        self.ctx.table.name
                    ));
                }
            };
            // The last write of a column wins, even when it puts back what is there.
            sets.retain(|(f, _)| *f != index);
            let current = self.value(row, index).unwrap_or(Value::Null);
            if current != value_of(&value) {
                sets.push((index, value));
            }
        }
        if sets.is_empty() {
            Resolved::Unchanged
        } else {
            Resolved::Set(sets)
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
                    Some(Cell {
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

/// `rows` in the host's layout, cells in `fields` order (the first cell of a field wins).
fn encode(fields: &[Field], rows: &[Row]) -> Vec<u8> {
    let position: FxHashMap<&str, usize> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    let mut w = BatchWriter::new(u32::try_from(fields.len()).unwrap_or(u32::MAX), 64);
    let mut slots: Vec<Option<&Cell>> = vec![None; fields.len()];
    for row in rows {
        slots.iter_mut().for_each(|s| *s = None);
        for cell in &row.cells {
            if let Some(&i) = position.get(cell.field_id.as_str()) {
                slots[i].get_or_insert(cell);
            }
        }
        w.row(&row.id, row.created_at, row.updated_at);
        for slot in &slots {
            match slot {
                None => w.cell(None, None),
                Some(c) => w.cell(Some(value_of(&c.value)), c.status.as_ref().map(status_of)),
            }
        }
    }
    w.finish()
}

fn value_of(v: &CellValue) -> Value<'_> {
    match v {
        CellValue::Null => Value::Null,
        CellValue::Text(s) => Value::Text(s),
        CellValue::Number(n) => Value::Number(*n),
        CellValue::Boolean(b) => Value::Boolean(*b),
        CellValue::Json(s) => Value::Json(s),
    }
}

fn owned_value(v: Value<'_>) -> CellValue {
    match v {
        Value::Null => CellValue::Null,
        Value::Text(s) => CellValue::Text(s.to_string()),
        Value::Number(n) => CellValue::Number(n),
        Value::Boolean(b) => CellValue::Boolean(b),
        Value::Json(s) => CellValue::Json(s.to_string()),
    }
}

fn status_of(s: &CellStatus) -> Status<'_> {
    match s {
        CellStatus::Success => Status::Success,
        CellStatus::Pending => Status::Pending,
        CellStatus::RunConditionNotMet => Status::RunConditionNotMet,
        CellStatus::Error(code) => Status::Error(code),
    }
}

fn owned_status(s: Status<'_>) -> CellStatus {
    match s {
        Status::Success => CellStatus::Success,
        Status::Pending => CellStatus::Pending,
        Status::RunConditionNotMet => CellStatus::RunConditionNotMet,
        Status::Error(code) => CellStatus::Error(code.to_string()),
    }
}

/// One row of a batch, readable by column name (case-insensitive) or field id.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    batch: &'a Batch,
    index: usize,
}

impl<'a> RowRef<'a> {
    /// The record id (`r_…`).
    pub fn id(&self) -> &'a str {
        self.batch
            .index
            .id(&self.batch.buf, self.index)
            .unwrap_or_default()
    }

    /// When the row was created, when Clay said.
    pub fn created_at(&self) -> Option<crate::types::Timestamp> {
        self.batch.index.created_at(self.index)
    }

    /// When the row last changed, when Clay said.
    pub fn updated_at(&self) -> Option<crate::types::Timestamp> {
        self.batch.index.updated_at(self.index)
    }

    /// The row as an owned record, every visible cell with its field id and status (for a
    /// plugin that keeps rows past the batch).
    pub fn to_row(&self) -> Row {
        let b = self.batch;
        Row {
            id: self.id().to_string(),
            cells: b
                .ctx
                .table
                .fields
                .iter()
                .enumerate()
                .filter_map(|(f, field)| {
                    Some(Cell {
                        field_id: field.id.clone(),
                        value: owned_value(b.value(self.index, f)?),
                        status: b.index.status(&b.buf, self.index, f).map(owned_status),
                    })
                })
                .collect(),
            created_at: self.created_at(),
            updated_at: self.updated_at(),
        }
    }

    /// The cell's value, borrowed from the batch; `None` when the column does not exist or
    /// the cell is unset.
    ///
    /// ```
    /// use kiln_guest::{Batch, Value};
    /// let table = Batch::table_with_columns("Leads", &["Email", "Name"]);
    /// let batch = Batch::new(table.clone(), vec![Batch::row_with_text(&table, "r_1", &[("Email", "a@b.io")])]);
    /// let row = batch.rows().next().unwrap();
    /// assert_eq!(row.get("Email"), Some(Value::Text("a@b.io")));
    /// assert_eq!(row.get("Name"), None);
    /// ```
    pub fn get(&self, column: &str) -> Option<Value<'a>> {
        let field = self.batch.field_index(column)?;
        self.batch
            .index
            .value(&self.batch.buf, self.index, field)
            .filter(|v| !matches!(v, Value::Null))
    }

    /// Clay's status for the cell, when it gave one (enrichment columns).
    pub fn status(&self, column: &str) -> Option<CellStatus> {
        let field = self.batch.field_index(column)?;
        self.batch
            .index
            .status(&self.batch.buf, self.index, field)
            .map(owned_status)
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
            Value::Text(s) | Value::Json(s) => Some(s),
            _ => None,
        }
    }

    /// The cell as a number: number cells, and text that parses as one.
    pub fn number(&self, column: &str) -> Option<f64> {
        match self.get(column)? {
            Value::Number(n) => Some(n),
            Value::Text(s) => s.trim().parse().ok(),
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
            Value::Null => None,
            Value::Text(s) | Value::Json(s) => Some(s.to_string()),
            Value::Number(n) => Some(if n.fract() == 0.0 && n.abs() < 1e15 {
                format!("{}", n as i64)
            } else {
                n.to_string()
            }),
            Value::Boolean(b) => Some(b.to_string()),
        }
    }

    /// Leaves the row as it is.
    pub fn unchanged(&self) -> Outcome {
        Outcome {
            index: self.index,
            columns: self.batch.columns.clone(),
            batch: self.batch.generation,
            effect: Pending::Unchanged,
        }
    }

    /// Deletes the row.
    pub fn delete(&self) -> Outcome {
        Outcome {
            index: self.index,
            columns: self.batch.columns.clone(),
            batch: self.batch.generation,
            effect: Pending::Delete,
        }
    }

    /// This row could not be processed; the rest of the batch goes on.
    pub fn error(&self, message: impl Into<String>) -> Outcome {
        Outcome {
            index: self.index,
            columns: self.batch.columns.clone(),
            batch: self.batch.generation,
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
    Set(Vec<(Column, CellValue)>),
    Delete,
    Error(String),
}

/// A column an outcome sets, resolved when the outcome is made.
enum Column {
    At(usize),
    /// Not a column of the table: the row fails with this name when the batch resolves.
    Unknown(String),
}

/// The declared effect for one row.
pub struct Outcome {
    index: usize,
    columns: Arc<Columns>,
    batch: u64,
    effect: Pending,
}

impl Outcome {
    /// Adds a cell to set. On a deleted or failed row it does nothing.
    pub fn set(mut self, column: &str, value: impl Into<CellValue>) -> Outcome {
        let value = value.into();
        let column = match self.columns.index(column) {
            Some(i) => Column::At(i),
            None => Column::Unknown(column.to_string()),
        };
        self.effect = match self.effect {
            Pending::Unchanged => {
                // A row's sets are few: one allocation holds them all.
                let mut cells = Vec::with_capacity(8);
                cells.push((column, value));
                Pending::Set(cells)
            }
            Pending::Set(mut cells) => {
                cells.push((column, value));
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
pub fn run_transformer<T: Transformer>(batch: Vec<u8>, ctx: TransformContext) -> Vec<u8> {
    let batch = match Batch::from_buffer(batch, ctx) {
        Ok(batch) => batch,
        Err(e) => {
            // The host wrote a batch this SDK cannot read: no row gets an outcome, and the
            // host reports each as missing one.
            crate::log::error(&format!("kiln-guest cannot read the batch: {e}"));
            return Vec::new();
        }
    };
    TRANSFORMER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            match T::new(Config::from_host()) {
                Ok(plugin) => *slot = Some(Box::new(plugin)),
                Err(e) => {
                    let message = format!("the plugin could not start: {e}");
                    let outcomes = batch.rows().map(|r| r.error(message.clone())).collect();
                    return batch.encode_outcomes(outcomes);
                }
            }
        }
        match slot.as_mut().and_then(|p| p.downcast_mut::<T>()) {
            Some(plugin) => {
                let outcomes = plugin.transform(&batch);
                batch.encode_outcomes(outcomes)
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

        // The last write of a column wins: writing back what is there undoes an earlier set.
        let outcomes = batch.resolve(vec![
            rows[0].set("Email", "x@y.io").set("Email", "a@b.io"),
            rows[1]
                .set("Full Name", "Grace")
                .set("Full Name", "Ada")
                .set("Email", "z@y.io"),
        ]);
        assert!(
            matches!(outcomes[0].effect, Effect::Unchanged),
            "{:?}",
            outcomes[0]
        );
        match &outcomes[1].effect {
            Effect::SetCells(cells) => {
                assert_eq!(cells.len(), 1);
                assert_eq!(cells[0].field_id, "f_0");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_row_gets_one_outcome_in_order_and_a_row_given_none_or_two_fails_alone() {
        let table = Batch::table_with_columns("Leads", &["Email"]);
        let rows = ["r_1", "r_2", "r_3"]
            .iter()
            .map(|id| Batch::row_with_text(&table, id, &[("Email", "a@b.io")]))
            .collect();
        let batch = Batch::new(table, rows);
        let r: Vec<_> = batch.rows().collect();
        // Out of order; r_2 twice; r_3 never.
        let outcomes = batch.resolve(vec![r[1].delete(), r[0].unchanged(), r[1].unchanged()]);
        let ids: Vec<_> = outcomes.iter().map(|o| o.row_id.as_str()).collect();
        assert_eq!(ids, ["r_1", "r_2", "r_3"]);
        assert_eq!(outcomes[0].effect, Effect::Unchanged);
        assert!(matches!(&outcomes[1].effect, Effect::Error(m) if m.contains("more than one")));
        assert!(matches!(&outcomes[2].effect, Effect::Error(m) if m.contains("no outcome")));
    }

    #[test]
    fn an_outcome_kept_from_an_earlier_batch_of_the_same_table_answers_for_no_row() {
        let table = Batch::table_with_columns("Leads", &["Email"]);
        let row = |id: &str| Batch::row_with_text(&table, id, &[("Email", "a@b.io")]);
        let first = Batch::new(table.clone(), vec![row("r_1")]);
        let kept = first.rows().next().unwrap().set("Email", "kept@b.io");
        // Same columns, so the second batch reuses the first one's column index.
        let second = Batch::new(table.clone(), vec![row("r_2")]);
        let out = second.resolve(vec![kept]);
        assert!(matches!(&out[0].effect, Effect::Error(m) if m.contains("no outcome")));
        // And the reused index still finds names in any case.
        let r = second.rows().next().unwrap();
        assert_eq!(r.str("EMAIL"), Some("a@b.io"));
        let out = second.resolve(vec![r.set("email", "b@b.io")]);
        assert!(matches!(&out[0].effect, Effect::SetCells(c) if c[0].field_id == "f_0"));
    }

    #[test]
    fn the_buffer_the_host_reads_says_what_resolve_says() {
        let table = Batch::table_with_columns("Leads", &["Email", "Name"]);
        let rows = ["r_1", "r_2", "r_3", "r_4"]
            .iter()
            .map(|id| Batch::row_with_text(&table, id, &[("Email", "a@b.io")]))
            .collect();
        let batch = Batch::new(table, rows);
        let r: Vec<_> = batch.rows().collect();
        let buf = batch.encode_outcomes(vec![
            r[0].unchanged(),
            r[1].set("name", "Ada").set("Email", "a@b.io"),
            r[2].delete(),
            r[3].error("no"),
        ]);
        let read = kiln_batch::read_outcomes(&buf, 4).expect("reads");
        assert_eq!(
            read,
            vec![
                kiln_batch::Outcome::Unchanged,
                kiln_batch::Outcome::SetCells(vec![(1, Value::Text("Ada"))]),
                kiln_batch::Outcome::Delete,
                kiln_batch::Outcome::Error("no"),
            ]
        );
    }

    #[test]
    fn a_row_keeps_its_statuses_stamps_and_values_of_every_kind() {
        let mut table = Batch::table_with_columns("Leads", &["Score", "Ok", "Data"]);
        table.fields.truncate(3);
        let row = Row {
            id: "r_1".into(),
            cells: vec![
                Cell {
                    field_id: "f_0".into(),
                    value: CellValue::Number(7.5),
                    status: Some(CellStatus::Error("ERROR_X".into())),
                },
                Cell {
                    field_id: "f_1".into(),
                    value: CellValue::Boolean(true),
                    status: None,
                },
                Cell {
                    field_id: "f_2".into(),
                    value: CellValue::Json("{}".into()),
                    status: Some(CellStatus::Success),
                },
            ],
            created_at: Some(1),
            updated_at: None,
        };
        let batch = Batch::new(table, vec![row.clone()]);
        let r = batch.rows().next().expect("a row");
        assert_eq!(r.to_row(), row);
        assert_eq!(r.number("score"), Some(7.5));
        assert_eq!(r.text("Ok").as_deref(), Some("true"));
        assert_eq!(r.status("Score"), Some(CellStatus::Error("ERROR_X".into())));
        assert_eq!(r.created_at(), Some(1));
    }
}
