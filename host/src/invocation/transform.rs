//! A transformer run over a whole table: read rows in batches, hand each batch to one
//! instance, validate the declared effects, and apply them a batch at a time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::backend::model::{
    CellInput, CellValue, Field, FieldKind, JournalMark, Row, RowUpdate, TableInfo,
};
use crate::backend::{Clay, ClayError};
use crate::capabilities::{Access, Grants, Interface};
use crate::journal::{ActiveRun, BatchState, Journal, JournalError, NewRun, RunOptions, RunState};
use crate::plugin::{Plugin, World};

use super::{
    Effect, InvocationError, InvocationErrorKind, InvocationOptions, TransformContext,
    TransformerInstance,
};

pub struct TransformOptions {
    pub rows_per_batch: usize,
    /// Validate and report effects but change nothing.
    pub dry_run: bool,
    pub invocation: InvocationOptions,
    /// Called after each batch with (rows done, rows total).
    pub progress: Option<Box<dyn Fn(u64, u64) + Send + Sync>>,
    /// Instances to run batches on at once, when the plugin's manifest declares its batches
    /// independent (`[transform] independent_batches = true`) and it imports no `tables`
    /// interface; otherwise one.
    pub parallel: usize,
    /// Keep the run in a journal (see [`crate::journal`]), so it can be resumed.
    pub journal: Option<Journaling>,
    /// A second plugin to run on the side (`kiln shadow`): it gets every batch this run's
    /// plugin gets, and nothing it declares is applied. Its report is
    /// [`TransformReport::shadow`]. Batches then go to one instance at a time.
    pub shadow: Option<Shadow>,
}

/// The candidate of a shadow run.
pub struct Shadow {
    pub plugin: Plugin,
    /// Its own settings and limits; it runs as a dry run whatever they say.
    pub invocation: InvocationOptions,
}

/// How a run is journaled.
pub struct Journaling {
    pub journal: Journal,
    /// How the plugin was named (a path, a crate, a bundled name), kept so that
    /// `kiln runs resume` can load it again.
    pub plugin_spec: String,
    /// Finish this run (interrupted or failed) instead of starting one. The table, the
    /// batches, `dry_run` and the plugin's config come from the journal.
    pub resume: Option<String>,
    /// Start even though the table has an unfinished run of this plugin; that one is
    /// marked abandoned.
    pub force: bool,
    /// Told the run's id as soon as the journal holds the run (a server answers with it).
    pub on_begin: Option<OnBegin>,
}

/// See [`Journaling::on_begin`].
pub type OnBegin = Box<dyn FnOnce(&str) + Send + Sync>;

impl TransformOptions {
    /// `kiln run`'s default for [`TransformOptions::parallel`]: a core for each instance, less
    /// one for the host's own work on the batches (reading, checking, writing). On two cores
    /// that is one: a second instance there made a 50,000-row dry run slower, not faster.
    pub fn default_parallel() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
    }
}

impl Default for TransformOptions {
    fn default() -> Self {
        Self {
            rows_per_batch: 1024,
            dry_run: false,
            invocation: InvocationOptions::default(),
            progress: None,
            parallel: 1,
            journal: None,
            shadow: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellChange {
    pub field_id: String,
    pub field: String,
    pub before: CellValue,
    pub after: CellValue,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowChange {
    pub row_id: String,
    pub cells: Vec<CellChange>,
}

impl RowChange {
    /// The write that makes this change: each cell's new value.
    pub fn update(&self) -> RowUpdate {
        RowUpdate {
            id: self.row_id.clone(),
            cells: self
                .cells
                .iter()
                .map(|c| CellInput {
                    field_id: c.field_id.clone(),
                    value: c.after.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowError {
    pub row_id: String,
    pub message: String,
}

/// A batch whose effects were not applied because the invocation failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchFailure {
    pub batch_index: u32,
    pub rows: usize,
    pub error: String,
    /// The limit it hit, if it was one (`deadline`, `memory`…).
    pub limit: Option<String>,
}

/// A run's time by stage, in milliseconds: waiting for rows from the backend (the next
/// batch is read while the plugin works, so this is what reading did not hide), the
/// plugin's calls (conversion into and out of the sandbox included), checking the outcomes
/// against the grants and the rows, and waiting for writes (which overlap the next batch's
/// plugin call when the plugin cannot read the table itself).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Timings {
    pub read_ms: f64,
    pub guest_ms: f64,
    pub plan_ms: f64,
    pub write_ms: f64,
}

/// What a run did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TransformReport {
    /// The run's id in the journal, when it was journaled.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Batches an earlier process of this run had applied (a resumed run).
    #[serde(default)]
    pub batches_resumed: u32,
    /// Batches whose effects were journaled but not known applied when the run resumed:
    /// applied again from the journal, without calling the plugin.
    #[serde(default)]
    pub batches_reapplied: u32,
    /// On kiln workers: batches delivered more than once (a worker died or stalled with
    /// them), each applied once all the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub batches_redelivered: u32,
    pub plugin: String,
    pub table_id: String,
    pub table_name: String,
    pub dry_run: bool,
    pub rows_seen: u64,
    pub rows_changed: u64,
    pub rows_deleted: u64,
    pub rows_unchanged: u64,
    pub rows_failed: u64,
    pub batches: u32,
    /// Plugin instances the batches ran on (more than one with `parallel`).
    pub instances: usize,
    pub host_calls: u64,
    /// Credits the plugin spent (enrichment columns it ran).
    #[serde(default)]
    pub credits_spent: f64,
    pub elapsed_ms: u64,
    /// Where the time went.
    pub timings: Timings,
    pub changes: Vec<RowChange>,
    pub deleted: Vec<String>,
    pub errors: Vec<RowError>,
    /// Set when the run stopped early: the batch that failed; later batches did not run.
    pub failure: Option<BatchFailure>,
    /// A shadow run's candidate: what it would have done with the same batches. Its
    /// `failure` is the first batch it failed; it went on with the next (each failed batch's
    /// rows are in its `errors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Box<TransformReport>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{0}")]
    Backend(#[from] ClayError),
    #[error("{0}")]
    Invocation(#[from] InvocationError),
    #[error("{0}")]
    Journal(#[from] JournalError),
}

/// Runs `plugin` over every row of `table` (an id or a name). With
/// [`TransformOptions::journal`], the run is journaled and `resume` finishes an earlier one
/// (then `table` is ignored: the run's own table and batches are used).
pub async fn run_transform(
    plugin: &Plugin,
    backend: Arc<dyn Clay>,
    table: &str,
    mut options: TransformOptions,
) -> Result<TransformReport, TransformError> {
    let started = Instant::now();
    // The wrong kind of plugin is the first thing to say, before any grant or table.
    require_transformer(plugin)?;
    let mut journaling = options.journal.take();
    let on_begin = journaling.as_mut().and_then(|j| j.on_begin.take());
    // A resumed run's table, batches and options are the journal's.
    let resumed = match &journaling {
        Some(Journaling {
            journal,
            resume: Some(id),
            ..
        }) => {
            let (info, batches, active) = journal.resume(id, &plugin.info().sha256)?;
            if info.options.config != options.invocation.config {
                return Err(ClayError::Invalid(format!(
                    "run {id} was started with other plugin settings ({}); resume it with the same",
                    describe_config(&info.options.config)
                ))
                .into());
            }
            options.dry_run = info.options.dry_run;
            Some((info, batches, active))
        }
        _ => None,
    };
    let table_ref = match &resumed {
        Some((info, ..)) => info.table_id.as_str(),
        None => table,
    };
    let ReadableTable {
        table,
        visible,
        grants,
    } = readable_table(plugin, &backend, table_ref, &options.invocation).await?;
    let batch_size = options.rows_per_batch.max(1);
    let mut report = TransformReport {
        run_id: None,
        batches_resumed: 0,
        batches_reapplied: 0,
        batches_redelivered: 0,
        plugin: plugin.name().to_string(),
        table_id: table.id.clone(),
        table_name: table.name.clone(),
        dry_run: options.dry_run,
        rows_seen: 0,
        rows_changed: 0,
        rows_deleted: 0,
        rows_unchanged: 0,
        rows_failed: 0,
        batches: 0,
        instances: 1,
        host_calls: 0,
        credits_spent: 0.0,
        elapsed_ms: 0,
        timings: Timings::default(),
        changes: Vec::new(),
        deleted: Vec::new(),
        errors: Vec::new(),
        failure: None,
        shadow: None,
    };
    // The batches still to compute, each with its index in the run; for a resumed run, what
    // an earlier process finished goes straight into the report.
    let (total, todo, journaled, active) = match resumed {
        Some((info, batches, active)) => {
            report.run_id = Some(active.id().to_string());
            let mut todo = Vec::new();
            let mut journaled = Vec::new();
            for b in batches {
                match (b.state, b.effects) {
                    (BatchState::Applied, Some(effects)) => {
                        report.batches_resumed += 1;
                        BatchPlan::read(active.id(), b.batch, &effects, true)?
                            .add_resumed_to(&mut report);
                    }
                    (BatchState::Computed, Some(effects)) => {
                        journaled.push((
                            b.batch,
                            BatchPlan::read(active.id(), b.batch, &effects, options.dry_run)?,
                        ));
                    }
                    _ => todo.push((b.batch as usize, b.ids)),
                }
            }
            (info.total_rows, todo, journaled, Some(active))
        }
        None => {
            let view = table
                .first_view_id
                .clone()
                .or_else(|| table.views.first().map(|v| v.id.clone()))
                .ok_or_else(|| ClayError::Invalid(format!("table {} has no view", table.id)))?;
            let ids = backend.record_ids(&table.id, &view).await?;
            let chunks: Vec<&[String]> = ids.chunks(batch_size).collect();
            let active = match &journaling {
                Some(j) => {
                    let run = NewRun {
                        plugin: plugin.name(),
                        plugin_sha256: &plugin.info().sha256,
                        plugin_spec: &j.plugin_spec,
                        table_id: &table.id,
                        table_name: &table.name,
                        options: RunOptions {
                            rows_per_batch: batch_size,
                            dry_run: options.dry_run,
                            config: options.invocation.config.clone(),
                        },
                        total_rows: ids.len() as u64,
                    };
                    let active = j.journal.begin(run, &chunks, j.force)?;
                    report.run_id = Some(active.id().to_string());
                    Some(active)
                }
                None => None,
            };
            let todo = chunks
                .iter()
                .enumerate()
                .map(|(i, c)| (i, c.to_vec()))
                .collect();
            (ids.len() as u64, todo, Vec::new(), active)
        }
    };

    if let (Some(tell), Some(active)) = (on_begin, &active) {
        tell(active.id());
    }
    let mut shadow = match options.shadow.take() {
        Some(s) => Some(ShadowLane::new(s, &backend, &table, &report)?),
        None => None,
    };
    let result = run_batches(
        plugin,
        &backend,
        &table,
        &visible,
        &grants,
        &options,
        Batches {
            total,
            todo,
            journaled,
            run: active.as_ref(),
        },
        shadow.as_mut(),
        &mut report,
    )
    .await;
    if let Some(lane) = shadow {
        report.shadow = Some(Box::new(lane.report));
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    if let Some(active) = active {
        // The rows' changes, deletes and errors are in the batches' effects already; the run
        // keeps the rest (see `TransformReport::from_journal`).
        let summary = TransformReport {
            changes: Vec::new(),
            deleted: Vec::new(),
            errors: Vec::new(),
            shadow: None,
            ..report.clone()
        };
        match &result {
            Ok(()) => {
                let json = serde_json::to_string(&summary).unwrap_or_default();
                let (state, error) = match &report.failure {
                    Some(f) => (RunState::Failed, Some(f.error.as_str())),
                    None => (RunState::Finished, None),
                };
                active.end(state, &json, error)?;
            }
            Err(e) => {
                let json = serde_json::to_string(&summary).unwrap_or_default();
                active.end(RunState::Failed, &json, Some(&e.to_string()))?;
            }
        }
    }
    result.map(|()| report)
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TransformReport {
    /// The report of journaled run `id`, once it ended: the run's summary with every
    /// applied batch's changes, deletes and errors. `None` while it has not ended.
    pub fn from_journal(journal: &Journal, id: &str) -> Result<Option<Self>, JournalError> {
        let Some(text) = journal.report(id)? else {
            return Ok(None);
        };
        let mut report: TransformReport =
            serde_json::from_str(&text).map_err(|e| JournalError::Effects {
                id: id.to_string(),
                batch: 0,
                why: format!("its stored report: {e}"),
            })?;
        report.changes.clear();
        report.deleted.clear();
        report.errors.clear();
        for b in journal.batches(id)? {
            if let (BatchState::Applied, Some(effects)) = (b.state, b.effects) {
                let e = BatchPlan::read(id, b.batch, &effects, true)?;
                report.changes.extend(e.changes);
                report.deleted.extend(e.deletes);
                report.errors.extend(e.errors);
            }
        }
        Ok(Some(report))
    }
}

/// A run's table as its plugin may see it: resolved, and checked against its grants.
pub struct ReadableTable {
    pub table: TableInfo,
    /// The table as the plugin sees it: only the columns it was granted.
    pub visible: TableInfo,
    pub grants: Grants,
}

/// Resolves `table` (an id or a name) and checks that `plugin` may read it.
pub async fn readable_table(
    plugin: &Plugin,
    backend: &Arc<dyn Clay>,
    table: &str,
    invocation: &InvocationOptions,
) -> Result<ReadableTable, TransformError> {
    require_transformer(plugin)?;
    let table = backend.resolve_table(table).await?;
    let grants = invocation
        .grants
        .clone()
        .unwrap_or_else(|| plugin.grants().clone());
    if !grants.allows(Interface::Tables, Access::Read) || !grants.tables.allows_table(&table) {
        return Err(ClayError::Denied(format!(
            "plugin `{}` may not read table `{}`: its grant covers {}",
            plugin.name(),
            table.name,
            match grants.get(Interface::Tables) {
                Some(_) => grants.tables.describe_tables(),
                None => "no tables (its manifest requests no `tables` capability)".to_string(),
            }
        ))
        .into());
    }
    let visible = grants.tables.visible(&table);
    Ok(ReadableTable {
        table,
        visible,
        grants,
    })
}

/// One batch of a run on its own, for a worker that took it from a queue: the same steps as
/// [`run_transform`]'s (read the rows, one call on `instance`, check the outcomes against the
/// grants), giving the batch's effects, or the failure that ended it (a limit, a trap).
pub async fn compute_batch(
    instance: &mut TransformerInstance,
    plugin: &Plugin,
    backend: &Arc<dyn Clay>,
    readable: &ReadableTable,
    ids: &[String],
    context: &TransformContext,
) -> Result<Result<BatchEffects, BatchFailure>, TransformError> {
    let mut rows = Vec::with_capacity(ids.len());
    for part in ids.chunks(crate::backend::BULK_READ_IDS) {
        rows.extend(backend.read_records(&readable.table.id, part).await?);
    }
    match instance.transform(&rows, context).await {
        Ok(outcomes) => Ok(Ok(BatchEffects(plan_batch(
            plugin.name(),
            &readable.grants,
            &readable.table,
            &rows,
            outcomes,
            context.dry_run,
        )))),
        Err(e) => Ok(Err(BatchFailure {
            batch_index: context.batch_index,
            rows: rows.len(),
            limit: e.limit().map(|l| l.name().to_string()),
            error: e.to_string(),
        })),
    }
}

/// A batch's checked effects, as a worker journals and applies them. As JSON (`to_json`,
/// `from_json`) it is what a journal keeps of a batch.
pub struct BatchEffects(BatchPlan);

impl BatchEffects {
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// Effects a journal kept; in a dry run nothing is written.
    pub fn from_json(
        run: &str,
        batch: u32,
        json: &str,
        dry_run: bool,
    ) -> Result<Self, JournalError> {
        BatchPlan::read(run, batch, json, dry_run).map(Self)
    }

    /// Writes the batch: its cells set, then its rows deleted. Applied again it does the same
    /// (every write is an absolute value; a row deleted already is not an error), which is
    /// what lets a redelivered batch be applied from its journal.
    pub async fn apply(&self, backend: &Arc<dyn Clay>, table_id: &str) -> Result<(), ClayError> {
        if !self.0.updates.is_empty() {
            backend.update_rows(table_id, &self.0.updates).await?;
        }
        if !self.0.deletes.is_empty() {
            match backend.delete_rows(table_id, &self.0.deletes).await {
                Err(ClayError::NotFound(_)) => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Whether applying it writes anything.
    pub fn writes(&self) -> bool {
        !self.0.updates.is_empty() || !self.0.deletes.is_empty()
    }

    /// How the trail records the write.
    pub fn trail_targets(&self, table_id: &str, batch_index: u32) -> Vec<String> {
        applied_targets(table_id, batch_index, &self.0.updates, &self.0.deletes)
    }

    /// Counts it as one batch of `report`.
    pub fn add_to(self, report: &mut TransformReport) {
        self.0.add_resumed_to(report);
    }
}

impl TransformReport {
    /// An empty report of `plugin` on `table`, to which batches are added.
    pub fn begin(plugin: &str, table: &TableInfo, dry_run: bool) -> Self {
        Self {
            plugin: plugin.to_string(),
            table_id: table.id.clone(),
            table_name: table.name.clone(),
            dry_run,
            instances: 1,
            ..Self::default()
        }
    }
}

fn require_transformer(plugin: &Plugin) -> Result<(), InvocationError> {
    if plugin.world() == World::Transformer {
        return Ok(());
    }
    Err(InvocationError {
        plugin: plugin.name().to_string(),
        kind: InvocationErrorKind::WrongWorld {
            expected: World::Transformer,
            actual: plugin.world(),
        },
    })
}

fn describe_config(config: &std::collections::BTreeMap<String, String>) -> String {
    if config.is_empty() {
        return "none".to_string();
    }
    config
        .keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What is left of a run: the batches to compute, those whose effects the journal already
/// holds (to apply again, never to recompute), and the journal entry, if any.
struct Batches<'a> {
    total: u64,
    todo: Vec<(usize, Vec<String>)>,
    journaled: Vec<(u32, BatchPlan)>,
    run: Option<&'a ActiveRun>,
}

impl BatchPlan {
    /// A batch's effects as the journal kept them (JSON). Its writes are derived from the
    /// changes' `after` values, unless `dry_run`.
    fn read(run: &str, batch: u32, json: &str, dry_run: bool) -> Result<Self, JournalError> {
        let mut plan: BatchPlan =
            serde_json::from_str(json).map_err(|e| JournalError::Effects {
                id: run.to_string(),
                batch,
                why: e.to_string(),
            })?;
        if !dry_run {
            plan.updates = plan.changes.iter().map(RowChange::update).collect();
        }
        Ok(plan)
    }

    /// A batch an earlier process finished: counted as a batch of this run's report.
    fn add_resumed_to(self, report: &mut TransformReport) {
        report.batches += 1;
        report.rows_seen += self.rows;
        self.add_to(report);
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_batches(
    plugin: &Plugin,
    backend: &Arc<dyn Clay>,
    table: &TableInfo,
    visible: &TableInfo,
    grants: &Grants,
    options: &TransformOptions,
    batches: Batches<'_>,
    mut shadow: Option<&mut ShadowLane>,
    report: &mut TransformReport,
) -> Result<(), TransformError> {
    let Batches {
        total,
        todo,
        journaled,
        run,
    } = batches;
    let mut invocation = options.invocation.clone();
    invocation.dry_run |= options.dry_run;
    // A plugin that imports no `tables` interface cannot look at the table from inside (nor
    // spend credits). Only then may a batch's write run on while the plugin works on the next
    // batch (one that can would see the previous batch's rows before their write), and only
    // then may batches it declares independent go to several instances at once (each
    // instance would otherwise hold a credit budget of its own).
    let sealed = !plugin
        .info()
        .imports
        .iter()
        .any(|i| i.starts_with("clay:api/tables"));
    let lanes = if sealed && shadow.is_none() && plugin.manifest().transform.independent_batches {
        options.parallel.min(plugin.pool_free()).max(1)
    } else {
        1
    };
    report.instances = lanes;
    let mut instances = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        instances
            .push(TransformerInstance::new(plugin, backend.clone(), invocation.clone()).await?);
    }
    let sink = Sink {
        backend,
        table_id: &table.id,
        dry_run: options.dry_run,
        sealed,
        progress: options.progress.as_deref(),
        total,
        run,
    };
    // Batches whose effects the journal holds but that may not have landed: applied again,
    // from the journal, before anything new (set-cells and deletes applied twice are the
    // same as once).
    let mut writing: Option<(usize, Write)> = None;
    for (batch_index, plan) in journaled {
        report.batches_reapplied += 1;
        report.batches += 1;
        report.rows_seen += plan.rows;
        apply(
            (batch_index, 0, plan),
            report,
            &mut instances,
            &mut writing,
            &sink,
        )
        .await?;
    }
    let chunks = &todo;
    // The next wave's rows are read while the plugin works on this one. A batch's writes
    // touch only its own rows, so reading ahead never sees a row half-written.
    let mut ahead: VecDeque<ReadAhead> = chunks
        .iter()
        .take(lanes)
        .map(|(_, chunk)| ReadAhead::start(backend, &table.id, chunk))
        .collect();
    let mut next = 0;
    'waves: while next < chunks.len() {
        let wave = next..(next + lanes).min(chunks.len());
        next = wave.end;
        let stage = Instant::now();
        let mut batches = Vec::with_capacity(wave.len());
        for at in wave.clone() {
            let Some(reading) = ahead.pop_front() else {
                break 'waves;
            };
            batches.push((chunks[at].0, reading.rows().await?));
        }
        ahead.extend(
            chunks[wave.end..]
                .iter()
                .take(lanes)
                .map(|(_, chunk)| ReadAhead::start(backend, &table.id, chunk)),
        );
        report.timings.read_ms += ms_since(stage);

        let context = |index: usize| TransformContext {
            workspace_id: table.workspace_id,
            // The plugin sees only the columns it was granted; the rows stay whole for the diff.
            table: visible.clone(),
            batch_index: index as u32,
            total_rows: total,
            dry_run: options.dry_run,
        };
        let stage = Instant::now();
        let called: Vec<Called> = if lanes == 1 {
            let mut called = Vec::with_capacity(1);
            for (index, rows) in batches {
                let ctx = context(index);
                record_batch(&options.invocation, &ctx, &rows);
                let outcomes = instances[0].transform(&rows, &ctx).await;
                record_outcomes(&options.invocation, index, &outcomes);
                if let Some(shadow) = shadow.as_deref_mut() {
                    shadow.batch(&ctx, &rows).await;
                }
                called.push((index, rows, outcomes));
            }
            called
        } else {
            // Each instance on its own task, so the batches run on separate cores. A
            // short last wave leaves the instances it does not need where they are.
            let idle = instances.split_off(batches.len().min(instances.len()));
            let tasks: Vec<_> = batches
                .into_iter()
                .zip(std::mem::take(&mut instances))
                .map(|((index, rows), mut instance)| {
                    let ctx = context(index);
                    record_batch(&options.invocation, &ctx, &rows);
                    tokio::spawn(async move {
                        let outcomes = instance.transform(&rows, &ctx).await;
                        (instance, index, rows, outcomes)
                    })
                })
                .collect();
            let mut called = Vec::with_capacity(tasks.len());
            for task in tasks {
                let (instance, index, rows, outcomes) = task.await.map_err(|e| {
                    ClayError::Unavailable(format!("a plugin instance's task failed: {e}"))
                })?;
                instances.push(instance);
                record_outcomes(&options.invocation, index, &outcomes);
                called.push((index, rows, outcomes));
            }
            instances.extend(idle);
            called
        };
        report.timings.guest_ms += ms_since(stage);

        // A failed batch ends the run; the batches after it in its wave are dropped
        // unapplied, the ones before it are applied.
        for (lane, (index, rows, called)) in called.into_iter().enumerate() {
            let batch_index = index as u32;
            report.batches += 1;
            report.rows_seen += rows.len() as u64;
            let outcomes = match called {
                Ok(outcomes) => outcomes,
                Err(e) => {
                    // Nothing of this batch is applied: no row is half-changed.
                    report.rows_failed += rows.len() as u64;
                    report.failure = Some(BatchFailure {
                        batch_index,
                        rows: rows.len(),
                        limit: e.limit().map(|l| l.name().to_string()),
                        error: e.to_string(),
                    });
                    break 'waves;
                }
            };
            // Checked here, not on another thread while the plugin runs: on two cores that
            // took a 50,000-row dry run from 0.55 s to 0.86 s (reads, the plugin and the
            // checks fought over the cores).
            let stage = Instant::now();
            let plan = plan_batch(plugin.name(), grants, table, &rows, outcomes, sink.dry_run);
            report.timings.plan_ms += ms_since(stage);
            apply(
                (batch_index, lane, plan),
                report,
                &mut instances,
                &mut writing,
                &sink,
            )
            .await?;
        }
    }
    // The last write, or the one before a batch that failed, lands (or fails) before the
    // run reports anything.
    if let Some((by, last)) = writing.take() {
        last.settle(&mut instances[by], report).await?;
    }
    report.host_calls = instances.iter().map(|i| i.host_calls()).sum();
    report.credits_spent = instances.iter().map(|i| i.credits_spent()).sum();
    if let Some(shadow) = shadow {
        shadow.finish();
    }
    // A run whose changes are not all in the trail is not a success.
    for instance in &mut instances {
        instance.end_trail()?;
    }
    Ok(())
}

fn record_batch(options: &super::InvocationOptions, ctx: &TransformContext, rows: &[Row]) {
    if let Some(recorder) = &options.record {
        recorder.entry(&crate::recording::Entry::Batch {
            index: ctx.batch_index,
            context: serde_json::to_value(ctx).unwrap_or_default(),
            rows: serde_json::to_value(rows).unwrap_or_default(),
        });
    }
}

fn record_outcomes(
    options: &super::InvocationOptions,
    index: usize,
    outcomes: &Result<Vec<super::RowOutcome>, InvocationError>,
) {
    if let Some(recorder) = &options.record {
        let (outcomes, error) = match outcomes {
            Ok(o) => (Some(serde_json::to_value(o).unwrap_or_default()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        recorder.entry(&crate::recording::Entry::Outcomes {
            index: index as u32,
            outcomes,
            error,
        });
    }
}

/// The candidate of a shadow run, batch by batch: the same rows and context as the run's
/// plugin (with the columns its own grant lets it see), checked the same way, never applied.
struct ShadowLane {
    plugin: Plugin,
    invocation: InvocationOptions,
    backend: Arc<dyn Clay>,
    grants: Grants,
    table: TableInfo,
    visible: TableInfo,
    instance: Option<TransformerInstance>,
    /// Spent and calls made by instances that failed and were replaced.
    retired: (u64, f64),
    report: TransformReport,
}

impl ShadowLane {
    fn new(
        shadow: Shadow,
        backend: &Arc<dyn Clay>,
        table: &TableInfo,
        run: &TransformReport,
    ) -> Result<Self, TransformError> {
        let Shadow {
            plugin,
            mut invocation,
        } = shadow;
        require_transformer(&plugin)?;
        invocation.dry_run = true;
        let grants = invocation
            .grants
            .clone()
            .unwrap_or_else(|| plugin.grants().clone());
        if !grants.allows(Interface::Tables, Access::Read) || !grants.tables.allows_table(table) {
            return Err(ClayError::Denied(format!(
                "shadow candidate `{}` may not read table `{}`",
                plugin.name(),
                table.name
            ))
            .into());
        }
        let visible = grants.tables.visible(table);
        let mut report = run.clone();
        report.plugin = plugin.name().to_string();
        report.dry_run = true;
        report.run_id = None;
        Ok(Self {
            plugin,
            invocation,
            backend: backend.clone(),
            grants,
            table: table.clone(),
            visible,
            instance: None,
            retired: (0, 0.0),
            report,
        })
    }

    async fn batch(&mut self, ctx: &TransformContext, rows: &[Row]) {
        let report = &mut self.report;
        report.batches += 1;
        report.rows_seen += rows.len() as u64;
        let stage = Instant::now();
        let mut instance = match self.instance.take() {
            Some(i) => i,
            None => match TransformerInstance::new(
                &self.plugin,
                self.backend.clone(),
                self.invocation.clone(),
            )
            .await
            {
                Ok(i) => i,
                Err(e) => return self.failed(ctx.batch_index, rows, &e),
            },
        };
        let ctx = TransformContext {
            table: self.visible.clone(),
            dry_run: true,
            ..ctx.clone()
        };
        let called = instance.transform(rows, &ctx).await;
        self.report.timings.guest_ms += ms_since(stage);
        match called {
            Ok(outcomes) => {
                let stage = Instant::now();
                let plan = plan_batch(
                    self.plugin.name(),
                    &self.grants,
                    &self.table,
                    rows,
                    outcomes,
                    true,
                );
                self.report.timings.plan_ms += ms_since(stage);
                plan.add_to(&mut self.report);
                self.instance = Some(instance);
            }
            Err(e) => {
                self.retired.0 += instance.host_calls();
                self.retired.1 += instance.credits_spent();
                self.failed(ctx.batch_index, rows, &e);
            }
        }
    }

    /// A batch the candidate failed: every row of it failed, and the run goes on.
    fn failed(&mut self, batch_index: u32, rows: &[Row], e: &InvocationError) {
        let report = &mut self.report;
        report.rows_failed += rows.len() as u64;
        let error = e.to_string();
        report.errors.extend(rows.iter().map(|r| RowError {
            row_id: r.id.clone(),
            message: format!("the batch failed: {error}"),
        }));
        report.failure.get_or_insert(BatchFailure {
            batch_index,
            rows: rows.len(),
            limit: e.limit().map(|l| l.name().to_string()),
            error,
        });
    }

    fn finish(&mut self) {
        let (calls, credits) = self.retired;
        let live = self.instance.as_ref();
        self.report.host_calls = calls + live.map_or(0, |i| i.host_calls());
        self.report.credits_spent = credits + live.map_or(0.0, |i| i.credits_spent());
        if let Some(instance) = self.instance.as_mut() {
            let _ = instance.end_trail();
        }
    }
}

/// A batch after its call: its index, its rows and what the plugin answered.
type Called = (
    usize,
    Vec<Row>,
    Result<Vec<super::RowOutcome>, InvocationError>,
);

/// Where a checked batch goes.
struct Sink<'a> {
    backend: &'a Arc<dyn Clay>,
    table_id: &'a str,
    dry_run: bool,
    /// Writes may run on while the plugin works (see `run_transform`).
    sealed: bool,
    progress: Option<&'a (dyn Fn(u64, u64) + Send + Sync)>,
    total: u64,
    /// The run's journal entry: every batch's effects go through it.
    run: Option<&'a ActiveRun>,
}

/// Starts a checked batch's write (after the previous write settles: writes land in batch
/// order) and adds it to the report. `lane` is the instance that ran the batch, whose trail
/// records its write. A journaled batch is written from its journaled effects; one with
/// nothing to write (or in a dry run) is marked done in the journal at once.
async fn apply(
    (batch_index, lane, mut plan): (u32, usize, BatchPlan),
    report: &mut TransformReport,
    instances: &mut [TransformerInstance],
    writing: &mut Option<(usize, Write)>,
    sink: &Sink<'_>,
) -> Result<(), TransformError> {
    let effects = sink
        .run
        .map(|_| serde_json::to_string(&plan).unwrap_or_default());
    if !sink.dry_run && (!plan.updates.is_empty() || !plan.deletes.is_empty()) {
        if let Some((by, previous)) = writing.take() {
            previous.settle(&mut instances[by], report).await?;
        }
        let instance = &mut instances[lane];
        // Nothing is changed that the trail could not record.
        instance.flush_trail()?;
        let journaled = sink.run.zip(effects).map(|(run, effects)| JournalMark {
            journal: run.journal().path().to_path_buf(),
            run_id: run.id().to_string(),
            batch: batch_index,
            effects,
        });
        let write = Write::start(
            sink.backend,
            sink.table_id,
            batch_index,
            std::mem::take(&mut plan.updates),
            plan.deletes.clone(),
            sink.run.map(|r| r.journal().clone()).zip(journaled),
        );
        if sink.sealed {
            *writing = Some((lane, write));
        } else {
            write.settle(instance, report).await?;
        }
    } else if let (Some(run), Some(effects)) = (sink.run, effects) {
        let run = run.journal().clone();
        let id = sink.run.map(|r| r.id().to_string()).unwrap_or_default();
        blocking(move || run.mark(&id, batch_index, BatchState::Applied, Some(&effects))).await?;
    }
    plan.add_to(report);
    if let Some(progress) = sink.progress {
        progress(report.rows_seen, sink.total);
    }
    Ok(())
}

/// Runs a journal write on the blocking pool.
async fn blocking(
    f: impl FnOnce() -> Result<(), JournalError> + Send + 'static,
) -> Result<(), JournalError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(JournalError::Io {
            path: std::path::PathBuf::new(),
            what: "a journal write's task failed",
            source: std::io::Error::other(e.to_string()),
        })
    })
}

/// One batch's effects being applied on their own task; dropping it stops the write (the
/// embedded workspace then rolls the batch back).
struct Write {
    task: tokio::task::JoinHandle<Result<(), ClayError>>,
    /// The batch as the trail records it once the write has settled.
    targets: Vec<String>,
}

impl Write {
    fn start(
        backend: &Arc<dyn Clay>,
        table_id: &str,
        batch_index: u32,
        updates: Vec<RowUpdate>,
        deletes: Vec<String>,
        journaled: Option<(Journal, JournalMark)>,
    ) -> Self {
        let targets = applied_targets(table_id, batch_index, &updates, &deletes);
        let (backend, table_id) = (backend.clone(), table_id.to_string());
        let task = tokio::spawn(async move {
            let journal_error = |e: JournalError| ClayError::Unavailable(e.to_string());
            // The workspace that keeps the journal commits changes and mark at once.
            if let Some((_, mark)) = &journaled
                && backend
                    .apply_journaled(&table_id, &updates, &deletes, mark)
                    .await?
            {
                return Ok(());
            }
            // Elsewhere: the effects are journaled before anything is applied, and marked
            // applied after. A death in between leaves them `computed`, and a resume applies
            // them again from the journal.
            if let Some((journal, mark)) = &journaled {
                let (journal, mark) = (journal.clone(), mark.clone());
                blocking(move || {
                    journal.mark(
                        &mark.run_id,
                        mark.batch,
                        BatchState::Computed,
                        Some(&mark.effects),
                    )
                })
                .await
                .map_err(journal_error)?;
            }
            if !updates.is_empty() {
                backend.update_rows(&table_id, &updates).await?;
            }
            if !deletes.is_empty() {
                match backend.delete_rows(&table_id, &deletes).await {
                    // Already gone: a delete applied again from the journal.
                    Err(ClayError::NotFound(_)) if journaled.is_some() => {}
                    other => other?,
                }
            }
            if let Some((journal, mark)) = journaled {
                blocking(move || journal.mark(&mark.run_id, mark.batch, BatchState::Applied, None))
                    .await
                    .map_err(journal_error)?;
            }
            Ok(())
        });
        Self { task, targets }
    }

    /// Waits for the write and records it in the trail like any call the host made on the
    /// plugin's behalf; a failed write ends the invocation.
    async fn settle(
        mut self,
        instance: &mut TransformerInstance,
        report: &mut TransformReport,
    ) -> Result<(), TransformError> {
        let stage = Instant::now();
        let applied = match (&mut self.task).await {
            Ok(applied) => applied,
            Err(e) => Err(ClayError::Unavailable(format!("writing rows: {e}"))),
        };
        report.timings.write_ms += ms_since(stage);
        let targets = std::mem::take(&mut self.targets);
        match applied {
            Ok(()) => {
                instance.record(
                    crate::trail::EFFECTS_APPLY,
                    targets,
                    crate::trail::Outcome::Ok,
                );
                Ok(())
            }
            Err(e) => {
                let outcome = crate::trail::Outcome::from_clay(&e);
                instance.record(crate::trail::EFFECTS_APPLY, targets, outcome.clone());
                instance.ended_by(outcome);
                instance.end_trail()?;
                Err(e.into())
            }
        }
    }
}

impl Drop for Write {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One batch's rows being read on their own task; dropping it stops the read.
struct ReadAhead(tokio::task::JoinHandle<Result<Vec<Row>, ClayError>>);

impl ReadAhead {
    fn start(backend: &Arc<dyn Clay>, table_id: &str, ids: &[String]) -> Self {
        let (backend, table_id, ids) = (backend.clone(), table_id.to_string(), ids.to_vec());
        Self(tokio::spawn(async move {
            let mut rows = Vec::with_capacity(ids.len());
            for part in ids.chunks(crate::backend::BULK_READ_IDS) {
                rows.extend(backend.read_records(&table_id, part).await?);
            }
            Ok(rows)
        }))
    }

    async fn rows(mut self) -> Result<Vec<Row>, ClayError> {
        match (&mut self.0).await {
            Ok(read) => read,
            Err(e) => Err(ClayError::Unavailable(format!("reading rows: {e}"))),
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// An applied batch as the trail records it: counts, and a SHA-256 over every change
/// (row id, field id, new value; then deleted ids), so the entry pins what was written
/// without storing it.
fn applied_targets(
    table_id: &str,
    batch_index: u32,
    updates: &[RowUpdate],
    deletes: &[String],
) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    let mut put = |s: &[u8]| {
        digest.update((s.len() as u64).to_be_bytes());
        digest.update(s);
    };
    for u in updates {
        put(b"set");
        put(u.id.as_bytes());
        for c in &u.cells {
            put(c.field_id.as_bytes());
            put(&serde_json::to_vec(&c.value).unwrap_or_default());
        }
    }
    for id in deletes {
        put(b"delete");
        put(id.as_bytes());
    }
    vec![
        crate::trail::bounded(table_id, crate::capabilities::args::TRAIL_TARGET_BYTES),
        format!("batch:{batch_index}"),
        format!("rows-set:{}", updates.len()),
        format!("rows-deleted:{}", deletes.len()),
        format!("sha256:{}", hex::encode(digest.finalize())),
    ]
}

/// The validated effects of one batch. As JSON it is what the journal keeps of a batch
/// (everything but the writes, which its changes give).
#[derive(Serialize, Deserialize)]
struct BatchPlan {
    /// Rows in the batch.
    rows: u64,
    #[serde(skip)]
    updates: Vec<RowUpdate>,
    deletes: Vec<String>,
    changes: Vec<RowChange>,
    /// Row errors.
    errors: Vec<RowError>,
    /// Rows of the batch that failed.
    failed: u64,
    unchanged: u64,
}

/// How much of a guest-chosen id a message quotes: a guest may name a row or a field with
/// megabytes of text, and a row error is printed, logged and kept in the report.
impl BatchPlan {
    /// Counts the batch's rows in `report` and adds what changed, was deleted or failed.
    fn add_to(self, report: &mut TransformReport) {
        report.rows_changed += self.changes.len() as u64;
        report.rows_deleted += self.deletes.len() as u64;
        report.rows_failed += self.failed;
        report.rows_unchanged += self.unchanged;
        report.changes.extend(self.changes);
        report.deleted.extend(self.deletes);
        report.errors.extend(self.errors);
    }
}

const QUOTE_CHARS: usize = 128;

/// `text` cut to [`QUOTE_CHARS`] characters, marked when cut.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
    }
}

/// Checks the plugin's outcomes (one per row, in row order, as `transform` decodes them)
/// against the batch and its grants: only known, writable, granted fields. Anything wrong
/// with one row becomes that row's error; the rest of the batch goes on.
fn plan_batch(
    plugin: &str,
    grants: &Grants,
    table: &TableInfo,
    rows: &[Row],
    outcomes: Vec<super::RowOutcome>,
    dry_run: bool,
) -> BatchPlan {
    let may_write = grants.allows(Interface::Tables, Access::Write);
    let hidden: Vec<&str> = table
        .fields
        .iter()
        .filter(|f| !grants.tables.allows_field(f))
        .map(|f| f.name.as_str())
        .collect();
    // Outcomes are checked per cell; a guest may name many, so look fields up by id once.
    let fields: FxHashMap<&str, &Field> = table.fields.iter().map(|f| (f.id.as_str(), f)).collect();
    let mut plan = BatchPlan {
        rows: rows.len() as u64,
        updates: Vec::new(),
        deletes: Vec::new(),
        changes: Vec::new(),
        errors: Vec::new(),
        failed: 0,
        unchanged: 0,
    };
    // `transform` answers positionally: the i-th outcome is the i-th row's, and a row past
    // the last outcome has none.
    let mut outcomes = outcomes.into_iter();
    for row in rows {
        let error = |message: String| RowError {
            row_id: row.id.clone(),
            message,
        };
        let before = plan.errors.len();
        let effect = outcomes
            .next()
            .filter(|o| o.row_id == row.id)
            .map(|o| o.effect);
        match effect {
            None => plan
                .errors
                .push(error("the plugin returned no outcome for this row".into())),
            Some(Effect::Unchanged) => plan.unchanged += 1,
            Some(Effect::Delete | Effect::SetCells(_)) if !may_write => plan.errors.push(error(format!(
                "denied: plugin `{plugin}` may not change rows of `{}`: it was granted read access to tables only (request `access = \"write\"` under [capabilities.tables] in kiln.toml)",
                table.name
            ))),
            Some(Effect::Delete) if !hidden.is_empty() => plan.errors.push(error(format!(
                "denied: plugin `{plugin}` may not delete rows of `{}`: a row includes columns not granted to it ({})",
                table.name,
                hidden.join(", ")
            ))),
            Some(Effect::Delete) => plan.deletes.push(row.id.clone()),
            Some(Effect::Error(message)) => plan.errors.push(error(message)),
            Some(Effect::SetCells(cells)) => {
                match diff_cells(plugin, grants, table, &fields, row, cells) {
                    Ok(changed) if changed.is_empty() => plan.unchanged += 1,
                    Ok(changed) => {
                        let change = RowChange {
                            row_id: row.id.clone(),
                            cells: changed,
                        };
                        // A dry run writes nothing: no updates to build.
                        if !dry_run {
                            plan.updates.push(change.update());
                        }
                        plan.changes.push(change);
                    }
                    Err(message) => plan.errors.push(error(message)),
                }
            }
        }
        plan.failed += (plan.errors.len() - before) as u64;
    }
    plan
}

/// The cells that really change. An unknown, hidden or non-writable field, a field named
/// twice, or a number that is not finite fails the row (nothing of it is applied).
///
/// A set-cells naming one cell many times is refused rather than resolved (say, last one
/// wins): it is either a bug or an attempt to make the host work per mention. Validation
/// is O(mentions) with no copy of any value; only cells that really change are copied into
/// the report, once each.
fn diff_cells(
    plugin: &str,
    grants: &Grants,
    table: &TableInfo,
    fields: &FxHashMap<&str, &Field>,
    row: &Row,
    cells: Vec<CellInput>,
) -> Result<Vec<CellChange>, String> {
    for (i, cell) in cells.iter().enumerate() {
        let field = fields.get(cell.field_id.as_str()).ok_or_else(|| {
            format!(
                "the plugin set field {}, which table `{}` does not have",
                quote(&cell.field_id),
                table.name
            )
        })?;
        if !grants.tables.allows_field(field) {
            return Err(format!(
                "denied: plugin `{plugin}` may not write column `{}`: the column is not granted to it",
                field.name
            ));
        }
        match field.kind {
            FieldKind::Action | FieldKind::Formula | FieldKind::Date => {
                return Err(format!(
                    "the plugin set column `{}`, which is a computed column and cannot be written",
                    field.name
                ));
            }
            FieldKind::Source => {
                return Err(format!(
                    "the plugin set column `{}`, which is filled by its source and cannot be written",
                    field.name
                ));
            }
            FieldKind::Text | FieldKind::Number | FieldKind::Url => {}
        }
        // Outcomes name a handful of cells: a scan beats a set.
        if cells[..i].iter().any(|c| c.field_id == cell.field_id) {
            return Err(format!(
                "the plugin set column `{}` more than once in one outcome; the row was not changed",
                field.name
            ));
        }
        // JSON has no NaN or infinity: stored, the row would no longer read back.
        if let CellValue::Number(n) = cell.value
            && !n.is_finite()
        {
            return Err(format!(
                "the plugin set column `{}` to {n}, which is not a finite number; the row was not changed",
                field.name
            ));
        }
    }
    let mut changes = Vec::new();
    for cell in cells {
        let before = row.cell(&cell.field_id).map(|c| &c.value);
        let unchanged = match before {
            Some(value) => *value == cell.value,
            None => cell.value.is_null(),
        };
        if unchanged {
            continue;
        }
        // Checked above: every field is known.
        let Some(field) = fields.get(cell.field_id.as_str()) else {
            continue;
        };
        changes.push(CellChange {
            field_id: field.id.clone(),
            field: field.name.clone(),
            before: before.cloned().unwrap_or(CellValue::Null),
            after: cell.value,
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_chosen_ids_are_quoted_short_on_a_character_boundary() {
        assert_eq!(quote("r_short"), "r_short");
        let long = "é".repeat(10_000);
        let quoted = quote(&long);
        assert!(quoted.starts_with(&"é".repeat(QUOTE_CHARS)), "{quoted}");
        assert!(quoted.ends_with("… (20000 bytes)"), "{quoted}");
        assert!(quoted.len() < 300);
    }
}
