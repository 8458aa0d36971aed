//! The Clay column endpoint's rows: a flat JSON object in, a flat JSON object of what the
//! plugin set out, and concurrent calls to one plugin coalesced into batches.
//!
//! Clay's HTTP API column sends one request per row with a body the user writes from the
//! row's columns. The endpoint turns that object into a one-table batch whose columns are
//! the object's keys (every row of a batch gets the union of its rows' keys): a plugin
//! reads them by name as it would in a table, and may write any of them. A column the plugin
//! writes that the request did not send must be sent too, as `null`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::backend::Clay;
use crate::backend::model::{Cell, CellValue, Field, FieldKind, Row, TableInfo, TableKind, View};
use crate::capabilities::{Access, Interface};
use crate::invocation::{Effect, InvocationOptions, TransformContext, TransformerInstance};
use crate::plugin::Plugin;

use super::metrics::Metrics;

/// What a row call comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum RowAnswer {
    /// The cells the plugin set, by column name (an unchanged row sets none).
    Set(Map<String, Value>),
    /// The row's own error (the plugin's, or a refused write).
    Failed(String),
    /// The batch failed: a limit, a trap (every row of it gets this).
    BatchFailed(String),
}

struct Pending {
    row: Map<String, Value>,
    reply: oneshot::Sender<RowAnswer>,
}

/// Coalesces one plugin version's row calls into batches of at most `max_rows`, each run on
/// one fresh instance. While a batch of the lane runs, the next one gathers calls for up to
/// `window`; when none runs, a call goes at once.
#[derive(Clone)]
pub struct Coalescer {
    tx: mpsc::Sender<Pending>,
}

pub(crate) struct Lane {
    pub plugin: Plugin,
    pub backend: Arc<dyn Clay>,
    pub invocation: InvocationOptions,
    /// The tenant's plugin calls running at once.
    pub running: Arc<Semaphore>,
    pub window: Duration,
    pub max_rows: usize,
    pub tenant: String,
    pub metrics: Arc<Metrics>,
}

impl Coalescer {
    /// Starts the lane's batching task; it ends when every handle is dropped.
    pub(crate) fn start(lane: Lane, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(batcher(Arc::new(lane), rx));
        Self { tx }
    }

    /// Runs one row; `None` when the lane is gone (the plugin was deleted meanwhile).
    pub async fn call(&self, row: Map<String, Value>) -> Option<RowAnswer> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Pending { row, reply }).await.ok()?;
        answer.await.ok()
    }
}

/// Columns one row call may send.
pub const MAX_ROW_COLUMNS: usize = 256;

/// Columns of one batch (the union of its rows'): a batch is a rows × columns matrix, so
/// rows that each name other columns start a new batch rather than widen this one.
const MAX_BATCH_COLUMNS: usize = 1024;

/// A batch being gathered, and the union of its rows' columns.
struct Gathering {
    rows: Vec<Pending>,
    columns: std::collections::HashSet<String>,
}

impl Gathering {
    fn new(first: Pending) -> Self {
        let mut g = Self {
            rows: Vec::new(),
            columns: std::collections::HashSet::new(),
        };
        g.columns.extend(first.row.keys().cloned());
        g.rows.push(first);
        g
    }

    /// Takes `p` in, or hands it back when it would widen the batch past its columns.
    fn take(&mut self, p: Pending) -> Option<Pending> {
        let new = p.row.keys().filter(|k| !self.columns.contains(*k)).count();
        if self.columns.len() + new > MAX_BATCH_COLUMNS {
            return Some(p);
        }
        self.columns.extend(p.row.keys().cloned());
        self.rows.push(p);
        None
    }
}

async fn batcher(lane: Arc<Lane>, mut rx: mpsc::Receiver<Pending>) {
    // Batches of this lane running now: a call that finds none goes at once with whatever
    // else is already waiting, so a quiet column pays no window; under load the window
    // gathers calls while earlier batches run.
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut batch = Gathering::new(first);
        if in_flight.load(std::sync::atomic::Ordering::Acquire) == 0 {
            while batch.rows.len() < lane.max_rows {
                match rx.try_recv() {
                    Ok(p) => {
                        carried = batch.take(p);
                        if carried.is_some() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        } else {
            let deadline = tokio::time::Instant::now() + lane.window;
            while batch.rows.len() < lane.max_rows {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(p)) => {
                        carried = batch.take(p);
                        if carried.is_some() {
                            break;
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        // The batch waits for a slot of the tenant's concurrency, then runs on its own task
        // so the next batch can gather meanwhile.
        let Ok(permit) = lane.running.clone().acquire_owned().await else {
            return;
        };
        let (lane, in_flight) = (lane.clone(), in_flight.clone());
        in_flight.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        tokio::spawn(async move {
            run_batch(&lane, batch.rows).await;
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            drop(permit);
        });
    }
}

async fn run_batch(lane: &Lane, batch: Vec<Pending>) {
    let started = Instant::now();
    let (table, rows) = to_batch(batch.iter().map(|p| &p.row));
    lane.metrics
        .batch_rows(&lane.tenant, lane.plugin.name(), rows.len());
    let ctx = TransformContext {
        workspace_id: 0,
        table: table.clone(),
        batch_index: 0,
        total_rows: rows.len() as u64,
        dry_run: false,
    };
    let answers: Vec<RowAnswer> = match TransformerInstance::new(
        &lane.plugin,
        lane.backend.clone(),
        lane.invocation.clone(),
    )
    .await
    {
        Err(e) => vec![RowAnswer::BatchFailed(e.to_string()); rows.len()],
        Ok(mut instance) => match instance.transform(&rows, &ctx).await {
            Err(e) => {
                if let Some(limit) = e.limit() {
                    lane.metrics
                        .limit_hit(&lane.tenant, lane.plugin.name(), limit.name());
                }
                vec![RowAnswer::BatchFailed(e.to_string()); rows.len()]
            }
            Ok(outcomes) => {
                let _ = instance.end_trail();
                let may_write = lane
                    .plugin
                    .grants()
                    .allows(Interface::Tables, Access::Write);
                let mut outcomes = outcomes.into_iter();
                rows.iter()
                        .map(|row| {
                            let effect = outcomes
                                .next()
                                .filter(|o| o.row_id == row.id)
                                .map(|o| o.effect);
                            match effect {
                                Some(Effect::SetCells(_)) if !may_write => RowAnswer::Failed(format!(
                                    "denied: plugin `{}` may not set cells: it was granted read access to tables only (request `access = \"write\"` under [capabilities.tables] in kiln.toml)",
                                    lane.plugin.name()
                                )),
                                effect => answer(&table, effect),
                            }
                        })
                        .collect()
            }
        },
    };
    let took = started.elapsed();
    for (p, a) in batch.into_iter().zip(answers) {
        lane.metrics
            .row_done(&lane.tenant, lane.plugin.name(), outcome_label(&a), took);
        let _ = p.reply.send(a);
    }
}

fn outcome_label(a: &RowAnswer) -> &'static str {
    match a {
        RowAnswer::Set(m) if m.is_empty() => "unchanged",
        RowAnswer::Set(_) => "set",
        RowAnswer::Failed(_) => "row_error",
        RowAnswer::BatchFailed(_) => "failed",
    }
}

/// The batch's table (the union of its rows' keys, in first-seen order) and its rows.
fn to_batch<'a>(
    objects: impl Iterator<Item = &'a Map<String, Value>> + Clone,
) -> (TableInfo, Vec<Row>) {
    // Caller-sized (up to 1,024 columns of 256 rows): a set, not a scan per key.
    let mut names: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for o in objects.clone() {
        for k in o.keys() {
            if seen.insert(k.as_str()) {
                names.push(k);
            }
        }
    }
    let fields: Vec<Field> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Field {
            id: format!("f_{i}"),
            name: (*n).to_string(),
            kind: FieldKind::Text,
            action: None,
        })
        .collect();
    let rows = objects
        .enumerate()
        .map(|(i, o)| Row {
            id: format!("r_{i}"),
            cells: names
                .iter()
                .enumerate()
                .filter_map(|(f, n)| {
                    o.get(*n).map(|v| Cell {
                        field_id: format!("f_{f}"),
                        value: cell(v),
                        status: None,
                    })
                })
                .collect(),
            created_at: None,
            updated_at: None,
        })
        .collect();
    let table = TableInfo {
        id: "t_row".into(),
        name: "row".into(),
        kind: TableKind::Spreadsheet,
        workspace_id: 0,
        workbook_id: None,
        first_view_id: Some("v_row".into()),
        views: vec![View {
            id: "v_row".into(),
            name: "row".into(),
        }],
        fields,
    };
    (table, rows)
}

fn cell(v: &Value) -> CellValue {
    match v {
        Value::Null => CellValue::Null,
        Value::Bool(b) => CellValue::Boolean(*b),
        Value::Number(n) => n.as_f64().map_or(CellValue::Null, CellValue::Number),
        Value::String(s) => CellValue::Text(s.clone()),
        other => CellValue::Json(other.to_string()),
    }
}

fn json(v: &CellValue) -> Value {
    match v {
        CellValue::Null => Value::Null,
        CellValue::Boolean(b) => Value::Bool(*b),
        CellValue::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        CellValue::Text(s) => Value::String(s.clone()),
        CellValue::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
    }
}

fn answer(table: &TableInfo, effect: Option<Effect>) -> RowAnswer {
    match effect {
        None => RowAnswer::Failed("the plugin returned no outcome for this row".into()),
        Some(Effect::Unchanged) => RowAnswer::Set(Map::new()),
        Some(Effect::Delete) => {
            RowAnswer::Failed("the plugin deleted the row; a column cannot delete its row".into())
        }
        Some(Effect::Error(m)) => RowAnswer::Failed(m),
        Some(Effect::SetCells(cells)) => {
            let mut set = Map::new();
            for c in cells {
                let Some(field) = table.field(&c.field_id) else {
                    return RowAnswer::Failed(format!(
                        "the plugin set field {}, which the request did not send",
                        c.field_id
                    ));
                };
                set.insert(field.name.clone(), json(&c.value));
            }
            RowAnswer::Set(set)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(keys: impl Iterator<Item = String>) -> Pending {
        let (reply, _) = oneshot::channel();
        Pending {
            row: keys.map(|k| (k, Value::Null)).collect(),
            reply,
        }
    }

    #[test]
    fn rows_that_would_widen_a_batch_past_its_columns_start_the_next() {
        let wide = |from: usize| pending((from..from + MAX_ROW_COLUMNS).map(|i| format!("c{i}")));
        let mut batch = Gathering::new(wide(0));
        // The same columns again cost nothing.
        assert!(batch.take(wide(0)).is_none());
        for i in 1..MAX_BATCH_COLUMNS / MAX_ROW_COLUMNS {
            assert!(batch.take(wide(i * MAX_ROW_COLUMNS)).is_none());
        }
        assert_eq!(batch.columns.len(), MAX_BATCH_COLUMNS);
        let refused = batch.take(wide(MAX_BATCH_COLUMNS));
        assert!(
            refused.is_some(),
            "a row of new columns waits for the next batch"
        );
        assert!(batch.take(wide(0)).is_none(), "known columns still fit");
        assert_eq!(
            batch.rows.len(),
            1 + MAX_BATCH_COLUMNS / MAX_ROW_COLUMNS + 1
        );
    }

    #[test]
    fn rows_become_one_table_with_the_union_of_their_keys() {
        let a: Map<String, Value> =
            serde_json::from_str(r#"{"Email":" A@B.io ","Score":3,"Tags":["x"]}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"Email":null,"Name":"Ada"}"#).unwrap();
        let (table, rows) = to_batch([&a, &b].into_iter());
        let names: Vec<_> = table.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Email", "Score", "Tags", "Name"]);
        assert_eq!(rows[0].cells[1].value, CellValue::Number(3.0));
        assert_eq!(rows[0].cells[2].value, CellValue::Json(r#"["x"]"#.into()));
        assert_eq!(rows[1].cells.len(), 2, "a key a row lacks is no cell");
        assert_eq!(rows[1].cells[0].value, CellValue::Null);

        let set = answer(
            &table,
            Some(Effect::SetCells(vec![crate::backend::model::CellInput {
                field_id: "f_0".into(),
                value: CellValue::Text("a@b.io".into()),
            }])),
        );
        assert_eq!(
            set,
            RowAnswer::Set(serde_json::from_str(r#"{"Email":"a@b.io"}"#).unwrap())
        );
    }
}
