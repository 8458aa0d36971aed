//! `kiln worker`: takes batch jobs from the work queue and does each exactly once.
//!
//! A job's batch is looked up in the journal first: applied or failed, it is only acked; its
//! effects journaled, they are applied again (never recomputed); pending, it is computed,
//! its effects journaled by compare-and-set, applied, and marked applied. Only then is the
//! message acked. Whatever stops a worker between two of those steps, the next delivery
//! takes the batch up from the journal.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt as _;

use super::{
    BatchDoc, BatchJob, BatchState, Cluster, ClusterConfig, ClusterError, ROW_QUEUE,
    ROW_SUBJECT_PREFIX, RowReply, RowRequest, RunDoc,
};
use crate::invocation::{
    BatchEffects, ReadableTable, TransformContext, TransformerInstance, compute_batch,
    readable_table,
};
use crate::plugin::Plugin;
use crate::serve::metrics::Metrics;
use crate::serve::rows::{Coalescer, Lane, RowAnswer};
use crate::serve::{ServeConfig, ServeError, TenantBase, TenantConfig, settings_for};

/// For fault tests: the process aborts right after applying this many batches, before it
/// marks the last one applied or acks it — the worst moment to die.
const DIE_AFTER_APPLY: &str = "KILN_FAULT_DIE_AFTER_APPLY";

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    Cluster(#[from] ClusterError),
    #[error("{0}")]
    Tenant(#[from] ServeError),
}

/// Where a worker's time went, summed over its batches: what `kiln worker` says when it
/// stops, and what the cluster benchmark explains its figures with.
#[derive(Default)]
struct Stages {
    batches: AtomicU64,
    /// Reading the run and the batch from the journal.
    lookup: AtomicU64,
    /// Reading the rows and calling the plugin.
    compute: AtomicU64,
    /// Compare-and-set writes of the batch (computed, applied).
    journal: AtomicU64,
    /// Writing the effects to the backend.
    apply: AtomicU64,
    /// Writing the audit trail.
    trail: AtomicU64,
}

impl Stages {
    fn add(stage: &AtomicU64, since: std::time::Instant) {
        stage.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    fn summary(&self) -> String {
        let batches = self.batches.load(Ordering::Relaxed).max(1) as f64;
        let ms = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1000.0 / batches;
        format!(
            "{} batches; per batch: journal reads {:.1} ms, rows and plugin {:.1} ms, journal writes {:.1} ms, backend writes {:.1} ms, trail {:.1} ms",
            self.batches.load(Ordering::Relaxed),
            ms(&self.lookup),
            ms(&self.compute),
            ms(&self.journal),
            ms(&self.apply),
            ms(&self.trail),
        )
    }
}

/// What became of one delivery.
enum Handled {
    /// Done (or done before): ack it.
    Done,
    /// Not now (NATS or the backend failed): it comes back.
    Retry(String),
    /// Nobody can do it (no such tenant or run here): stop its redelivery.
    Drop(String),
}

struct WorkerTenant {
    config: TenantConfig,
    base: TenantBase,
    /// Its plugin calls running at once here (row batches), and row calls waiting or running.
    running: Arc<tokio::sync::Semaphore>,
    queued: Arc<tokio::sync::Semaphore>,
    /// Its row calls' lanes, by plugin version.
    lanes: tokio::sync::Mutex<HashMap<String, Coalescer>>,
    plugins: tokio::sync::Mutex<HashMap<String, Plugin>>,
    /// Each run's table, checked once per run.
    tables: tokio::sync::Mutex<HashMap<String, Arc<ReadableTable>>>,
}

/// A worker: the tenants of a `serve.toml` (the same file the server runs with, so it
/// reaches the same backends under the same policies) and the cluster.
pub struct Worker {
    cluster: Cluster,
    tenants: HashMap<String, WorkerTenant>,
    window: Duration,
    max_rows: usize,
    metrics: Arc<Metrics>,
    applied: AtomicU64,
    die_after_apply: Option<u64>,
    stages: Stages,
}

impl Worker {
    pub async fn start(
        config: &ServeConfig,
        cluster: ClusterConfig,
    ) -> Result<Arc<Self>, WorkerError> {
        let cluster = Cluster::connect(cluster).await?;
        let mut tenants = HashMap::new();
        for t in &config.tenants {
            tenants.insert(
                t.id.clone(),
                WorkerTenant {
                    config: t.clone(),
                    base: TenantBase::open(t, config, Some(&cluster))?,
                    running: Arc::new(
                        tokio::sync::Semaphore::new(t.max_concurrent.max(1) as usize),
                    ),
                    queued: Arc::new(tokio::sync::Semaphore::new(t.max_queued.max(1))),
                    lanes: Default::default(),
                    plugins: Default::default(),
                    tables: Default::default(),
                },
            );
        }
        Ok(Arc::new(Self {
            cluster,
            tenants,
            window: config.coalesce_window(),
            max_rows: config.max_batch_rows,
            metrics: Arc::new(Metrics::new()),
            applied: AtomicU64::new(0),
            die_after_apply: std::env::var(DIE_AFTER_APPLY)
                .ok()
                .and_then(|n| n.parse().ok()),
            stages: Stages::default(),
        }))
    }

    /// Where this worker's time went so far, per batch.
    pub fn summary(&self) -> String {
        self.stages.summary()
    }

    /// Pulls and runs batches, `concurrency` at a time, until `stop` resolves; a batch in
    /// hand when it does is finished first.
    pub async fn run(
        self: Arc<Self>,
        concurrency: usize,
        stop: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), WorkerError> {
        let consumer = self.cluster.consumer().await?;
        let (quit, _) = tokio::sync::watch::channel(false);
        let mut lanes = Vec::new();
        let mut rows = self
            .cluster
            .client
            .queue_subscribe(format!("{ROW_SUBJECT_PREFIX}.*"), ROW_QUEUE.to_string())
            .await
            .map_err(super::js_error)?;
        {
            let (worker, mut quit) = (self.clone(), quit.subscribe());
            lanes.push(tokio::spawn(async move {
                loop {
                    let message = tokio::select! {
                        m = rows.next() => m,
                        _ = quit.changed() => break,
                    };
                    let Some(message) = message else { break };
                    let worker = worker.clone();
                    tokio::spawn(async move { worker.row_call(message).await });
                }
                let _ = rows.unsubscribe().await;
            }));
        }
        for _ in 0..concurrency.max(1) {
            let (worker, consumer, mut quit) = (self.clone(), consumer.clone(), quit.subscribe());
            lanes.push(tokio::spawn(async move {
                while !*quit.borrow() {
                    // One message at a time per lane, so the others stay for other workers.
                    let messages = consumer
                        .stream()
                        .max_messages_per_batch(1)
                        .heartbeat(Duration::from_secs(5))
                        .expires(Duration::from_secs(30))
                        .messages()
                        .await;
                    let mut messages = match messages {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!("cannot pull batches (retrying): {e}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    loop {
                        let next = tokio::select! {
                            next = messages.next() => next,
                            _ = quit.changed() => break,
                        };
                        match next {
                            Some(Ok(message)) => worker.take(message).await,
                            Some(Err(e)) => {
                                tracing::warn!("pulling batches: {e}");
                                tokio::time::sleep(Duration::from_millis(500)).await;
                                break;
                            }
                            None => break,
                        }
                    }
                }
            }));
        }
        stop.await;
        let _ = quit.send(true);
        for lane in lanes {
            let _ = lane.await;
        }
        Ok(())
    }

    /// One row call from the queue group, answered to its reply subject.
    async fn row_call(&self, message: async_nats::Message) {
        let Some(reply) = message.reply.clone() else {
            return;
        };
        let answer = self.answer_row(&message).await;
        let body = serde_json::to_vec(&answer).unwrap_or_default();
        if let Err(e) = self.cluster.client.publish(reply, body.into()).await {
            tracing::warn!("cannot answer a row call: {e}");
        }
    }

    async fn answer_row(&self, message: &async_nats::Message) -> RowReply {
        let tenant_id = message
            .subject
            .as_str()
            .strip_prefix(ROW_SUBJECT_PREFIX)
            .and_then(|s| s.strip_prefix('.'))
            .unwrap_or_default();
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return RowReply::Busy(format!(
                "this worker's serve.toml has no tenant `{tenant_id}`"
            ));
        };
        let request: RowRequest = match serde_json::from_slice(&message.payload) {
            Ok(r) => r,
            Err(e) => return RowReply::Failed(format!("a malformed row call: {e}")),
        };
        let Ok(_queued) = tenant.queued.clone().try_acquire_owned() else {
            return RowReply::Busy(format!(
                "{} row calls of tenant `{tenant_id}` are waiting here already",
                tenant.config.max_queued
            ));
        };
        let lane = match self.lane(tenant, &request).await {
            Ok(lane) => lane,
            Err(why) => return RowReply::Busy(why),
        };
        match lane.call(request.row).await {
            Some(RowAnswer::Set(cells)) => RowReply::Set(cells),
            Some(RowAnswer::Failed(m) | RowAnswer::BatchFailed(m)) => RowReply::Failed(m),
            None => RowReply::Busy("the plugin's lane closed".into()),
        }
    }

    /// The coalescing lane of a tenant's plugin version, made on its first row call.
    async fn lane(&self, tenant: &WorkerTenant, request: &RowRequest) -> Result<Coalescer, String> {
        let mut lanes = tenant.lanes.lock().await;
        if let Some(lane) = lanes.get(&request.sha256) {
            return Ok(lane.clone());
        }
        let plugin = tenant
            .plugin_by_sha(&self.cluster, &request.plugin, &request.sha256)
            .await?;
        if plugin.world() != crate::plugin::World::Transformer {
            return Err(format!("plugin `{}` is not a transformer", request.plugin));
        }
        let lane = Coalescer::start(
            Lane {
                plugin,
                backend: tenant.base.backend.clone(),
                invocation: crate::invocation::InvocationOptions {
                    config: settings_for(&tenant.config, &request.plugin, Default::default()),
                    trail: tenant.base.trail.clone(),
                    ledger: tenant.base.ledger.clone(),
                    ..Default::default()
                },
                running: tenant.running.clone(),
                window: self.window,
                max_rows: self.max_rows,
                tenant: tenant.config.id.clone(),
                metrics: self.metrics.clone(),
            },
            tenant.config.max_queued,
        );
        lanes.insert(request.sha256.clone(), lane.clone());
        Ok(lane)
    }

    /// One delivery, from its message to its ack.
    async fn take(&self, message: Message) {
        let Some(job) = BatchJob::from_subject(message.subject.as_str()) else {
            let _ = message.ack_with(AckKind::Term).await;
            return;
        };
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1).max(1) as u32;
        let message = Arc::new(message);
        // Signs of life while the batch runs, so a long one is not given to another worker.
        let beat = {
            let message = message.clone();
            let every = self.cluster.config.ack_wait() / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            })
        };
        let handled = self.handle(&job, delivered).await;
        beat.abort();
        match handled {
            Handled::Done => {
                let _ = message.ack().await;
            }
            Handled::Retry(why) => {
                tracing::warn!(run = %job.run, batch = job.batch, "batch put back for later: {why}");
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
            }
            Handled::Drop(why) => {
                tracing::warn!(run = %job.run, batch = job.batch, "batch dropped: {why}");
                let _ = message.ack_with(AckKind::Term).await;
            }
        }
    }

    async fn handle(&self, job: &BatchJob, delivered: u32) -> Handled {
        let Some(tenant) = self.tenants.get(&job.tenant) else {
            return Handled::Drop(format!(
                "this worker's serve.toml has no tenant `{}`",
                job.tenant
            ));
        };
        let journal = self.cluster.journal();
        let stages = &self.stages;
        let started = std::time::Instant::now();
        let run = match journal.run(&job.run).await {
            Ok(Some(run)) if run.state == crate::journal::RunState::Abandoned => {
                return Handled::Drop(format!("run {} was cancelled", job.run));
            }
            Ok(Some(run)) if run.tenant == job.tenant => run,
            Ok(_) => return Handled::Drop(format!("the journal has no run {}", job.run)),
            Err(e) => return Handled::Retry(e.to_string()),
        };
        Stages::add(&stages.lookup, started);
        let mut computed_here: Option<TransformerInstance> = None;
        loop {
            let started = std::time::Instant::now();
            let found = journal.batch(&run.id, job.batch).await;
            Stages::add(&stages.lookup, started);
            let (mut doc, revision) = match found {
                Ok(Some(found)) => found,
                Ok(None) => {
                    return Handled::Drop(format!("the journal has no batch {}", job.batch));
                }
                Err(e) => return Handled::Retry(e.to_string()),
            };
            doc.deliveries = doc.deliveries.max(delivered);
            match doc.state {
                BatchState::Applied | BatchState::Failed => {
                    if let Some(mut instance) = computed_here.take() {
                        let _ = instance.end_trail();
                    }
                    return Handled::Done;
                }
                BatchState::Computed => {
                    let Some(effects) = doc.effects.as_deref() else {
                        return Handled::Drop("a computed batch without effects".into());
                    };
                    let effects = match BatchEffects::from_json(
                        &run.id,
                        job.batch,
                        effects,
                        run.options.dry_run,
                    ) {
                        Ok(effects) => effects,
                        Err(e) => return Handled::Drop(e.to_string()),
                    };
                    if effects.writes() {
                        // Nothing is changed that the trail could not record.
                        let started = std::time::Instant::now();
                        if let Some(instance) = computed_here.as_mut()
                            && let Err(e) = instance.flush_trail()
                        {
                            return Handled::Retry(format!("the audit trail: {e}"));
                        }
                        Stages::add(&stages.trail, started);
                        let started = std::time::Instant::now();
                        let applied = effects.apply(&tenant.base.backend, &run.table_id).await;
                        Stages::add(&stages.apply, started);
                        let started = std::time::Instant::now();
                        match computed_here.as_mut() {
                            Some(instance) => {
                                record_apply(instance, &effects, &run, job.batch, &applied)
                            }
                            // Applied again from the journal: no invocation of ours ran it,
                            // so the write is recorded on its own.
                            None => {
                                if let Some(trail) = &tenant.base.trail
                                    && let Err(e) =
                                        trail.append(reapplied(&effects, &run, job.batch, &applied))
                                {
                                    tracing::warn!(run = %run.id, "the audit trail: {e}");
                                }
                            }
                        }
                        Stages::add(&stages.trail, started);
                        if let Err(e) = applied {
                            return Handled::Retry(format!("applying its effects: {e}"));
                        }
                        self.after_apply();
                    }
                    // The batch is not done until its trail is written: a trail that
                    // cannot be written puts it back (it is applied again, and recorded).
                    let started = std::time::Instant::now();
                    if let Some(mut instance) = computed_here.take()
                        && let Err(e) = instance.end_trail()
                    {
                        return Handled::Retry(format!("the audit trail: {e}"));
                    }
                    Stages::add(&stages.trail, started);
                    doc.state = BatchState::Applied;
                    let started = std::time::Instant::now();
                    let marked = journal
                        .update_batch(&run.id, job.batch, &doc, revision)
                        .await;
                    Stages::add(&stages.journal, started);
                    match marked {
                        Ok(_) => {
                            stages.batches.fetch_add(1, Ordering::Relaxed);
                            return Handled::Done;
                        }
                        Err(e) => return Handled::Retry(e.to_string()),
                    }
                }
                BatchState::Pending => {
                    let started = std::time::Instant::now();
                    let computed = self.compute(tenant, &run, job.batch, doc).await;
                    Stages::add(&stages.compute, started);
                    let (instance, mut next) = match computed {
                        Ok(computed) => computed,
                        Err(why) => return Handled::Retry(why),
                    };
                    self.fit(&mut next, job.batch);
                    let started = std::time::Instant::now();
                    let journaled = journal
                        .update_batch(&run.id, job.batch, &next, revision)
                        .await;
                    Stages::add(&stages.journal, started);
                    match journaled {
                        // Journaled: apply it (or, failed, we are done) on the next turn.
                        Ok(Some(_)) => computed_here = Some(instance),
                        // Another worker journaled its computation first: that one stands.
                        Ok(None) => {
                            let mut instance = instance;
                            let _ = instance.end_trail();
                        }
                        Err(e) => return Handled::Retry(e.to_string()),
                    }
                }
            }
        }
    }

    /// Computes a pending batch: the journal's next version of it (computed, or failed).
    async fn compute(
        &self,
        tenant: &WorkerTenant,
        run: &RunDoc,
        batch: u32,
        mut doc: BatchDoc,
    ) -> Result<(TransformerInstance, BatchDoc), String> {
        let plugin = tenant.plugin(&self.cluster, run).await?;
        let mut invocation = crate::invocation::InvocationOptions {
            config: settings_for(&tenant.config, &run.plugin, run.options.config.clone()),
            trail: tenant.base.trail.clone(),
            ledger: tenant.base.ledger.clone(),
            ..Default::default()
        };
        invocation.dry_run = run.options.dry_run;
        let readable = tenant.table(run, &plugin, &invocation).await?;
        let backend = &tenant.base.backend;
        let mut instance = TransformerInstance::new(&plugin, backend.clone(), invocation)
            .await
            .map_err(|e| e.to_string())?;
        let context = TransformContext {
            workspace_id: readable.table.workspace_id,
            table: readable.visible.clone(),
            batch_index: batch,
            total_rows: run.total_rows,
            dry_run: run.options.dry_run,
        };
        match compute_batch(
            &mut instance,
            &plugin,
            backend,
            &readable,
            &doc.ids,
            &context,
        )
        .await
        .map_err(|e| e.to_string())?
        {
            Ok(effects) => {
                doc.state = BatchState::Computed;
                doc.effects = Some(effects.to_json());
            }
            Err(failure) => {
                doc.state = BatchState::Failed;
                doc.error = Some(failure.error);
                doc.limit = failure.limit;
            }
        }
        Ok((instance, doc))
    }

    /// A batch whose effects NATS cannot carry in one message fails, saying what to do,
    /// instead of coming back until its deliveries run out.
    fn fit(&self, doc: &mut BatchDoc, batch: u32) {
        let max = self.cluster.client.server_info().max_payload;
        let size = serde_json::to_vec(doc).map_or(0, |b| b.len());
        if max > 0 && size + 4096 > max {
            doc.state = BatchState::Failed;
            doc.effects = None;
            doc.error = Some(format!(
                "batch {batch}'s effects are {size} bytes, more than the NATS server takes in one message ({max}): run it with a smaller batch_size, or raise max_payload on the server"
            ));
        }
    }

    fn after_apply(&self) {
        let applied = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
        if self.die_after_apply == Some(applied) {
            tracing::warn!("{DIE_AFTER_APPLY}={applied}: aborting between apply and ack");
            std::process::abort();
        }
    }
}

fn record_apply(
    instance: &mut TransformerInstance,
    effects: &BatchEffects,
    run: &RunDoc,
    batch: u32,
    applied: &Result<(), crate::backend::ClayError>,
) {
    let outcome = match applied {
        Ok(()) => crate::trail::Outcome::Ok,
        Err(e) => crate::trail::Outcome::from_clay(e),
    };
    instance.record(
        crate::trail::EFFECTS_APPLY,
        effects.trail_targets(&run.table_id, batch),
        outcome,
    );
}

/// The trail's record of a batch applied again from the journal.
fn reapplied(
    effects: &BatchEffects,
    run: &RunDoc,
    batch: u32,
    applied: &Result<(), crate::backend::ClayError>,
) -> crate::trail::Record {
    crate::trail::Record {
        at_ms: crate::invocation::now_ms(),
        plugin: run.plugin.clone(),
        plugin_sha256: run.plugin_sha256.clone(),
        invocation_id: format!("{}.reapply.{batch}", run.id),
        call: crate::trail::EFFECTS_APPLY.to_string(),
        targets: effects.trail_targets(&run.table_id, batch),
        outcome: match applied {
            Ok(()) => crate::trail::Outcome::Ok,
            Err(e) => crate::trail::Outcome::from_clay(e),
        },
        credits: 0.0,
    }
}

impl WorkerTenant {
    /// The run's plugin: fetched from the cluster's store by SHA-256 and compiled once.
    async fn plugin(&self, cluster: &Cluster, run: &RunDoc) -> Result<Plugin, String> {
        self.plugin_by_sha(cluster, &run.plugin, &run.plugin_sha256)
            .await
    }

    async fn plugin_by_sha(
        &self,
        cluster: &Cluster,
        name: &str,
        sha256: &str,
    ) -> Result<Plugin, String> {
        let mut plugins = self.plugins.lock().await;
        if let Some(plugin) = plugins.get(sha256) {
            return Ok(plugin.clone());
        }
        let wasm = cluster
            .get_plugin(sha256)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the cluster's store has no plugin {sha256}"))?;
        let plugin = self
            .base
            .runtime
            .load_bytes(name, wasm)
            .await
            .map_err(|e| e.to_string())?;
        if plugin.info().sha256 != sha256 {
            return Err(format!(
                "the store's plugin {sha256} hashes to {}",
                plugin.info().sha256
            ));
        }
        plugins.insert(sha256.to_string(), plugin.clone());
        Ok(plugin)
    }

    async fn table(
        &self,
        run: &RunDoc,
        plugin: &Plugin,
        invocation: &crate::invocation::InvocationOptions,
    ) -> Result<Arc<ReadableTable>, String> {
        let mut tables = self.tables.lock().await;
        if let Some(table) = tables.get(&run.id) {
            return Ok(table.clone());
        }
        let table = Arc::new(
            readable_table(plugin, &self.base.backend, &run.table_id, invocation)
                .await
                .map_err(|e| e.to_string())?,
        );
        // Runs end; their tables need not stay.
        if tables.len() > 64 {
            tables.clear();
        }
        tables.insert(run.id.clone(), table.clone());
        Ok(table)
    }
}
