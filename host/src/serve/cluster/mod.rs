//! Past one machine: a run's batches on NATS JetStream, taken by any number of `kiln worker`
//! processes.
//!
//! - A run is planned by the server (`kiln serve --nats`): its batches' row ids go into the
//!   JetStream KV journal, then one message per batch into a work-queue stream (the message
//!   id makes a re-publish harmless). Workers pull with explicit ack and send in-progress
//!   acks while a batch runs; a batch whose worker dies is redelivered after the ack wait, up
//!   to `max_deliver` times, then reported failed — never lost.
//! - Exactly once: a worker writes a batch's computed effects to the KV journal (compare and
//!   set, so one computation wins) before applying them, and marks the batch applied after.
//!   A redelivered batch whose effects are journaled is applied again from the journal,
//!   never recomputed: its writes are absolute values, so applying them twice is applying
//!   them once — a worker that dies after applying and before acking loses nothing.
//! - Plugins travel through the JetStream object store by SHA-256; a worker compiles each
//!   once (and keeps the compiled code in its cache directory).

mod budgets;
mod dispatch;
mod journal;
mod trail;
pub mod worker;

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use serde::{Deserialize, Serialize};

pub(crate) use dispatch::{dispatch, follow};
pub(crate) use journal::{BatchDoc, BatchState, Journal, RunDoc};

/// Row calls: `kiln.row.<tenant>`, request–reply, answered by one worker of the queue group.
const ROW_SUBJECT_PREFIX: &str = "kiln.row";
const ROW_QUEUE: &str = "kiln-rows";
/// How long a row call waits for a worker's answer (Clay's column waits about 100 s).
const ROW_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The work-queue stream of batch jobs.
const STREAM: &str = "KILN_BATCHES";
/// Subjects `kiln.batch.<tenant>.<run>.<batch>`.
const SUBJECT_PREFIX: &str = "kiln.batch";
/// The workers' shared pull consumer.
const CONSUMER: &str = "kiln-workers";
const RUNS_BUCKET: &str = "kiln_runs";
const PLUGINS_BUCKET: &str = "kiln_plugins";
const BUDGETS_BUCKET: &str = "kiln_budgets";

/// Where the cluster is and how it redelivers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// How long a worker may hold a batch without a sign of life before it goes to another
    /// (workers heartbeat long batches), seconds.
    #[serde(default = "default_ack_wait")]
    pub ack_wait_secs: u64,
    /// Deliveries of one batch before it is reported failed.
    #[serde(default = "default_max_deliver")]
    pub max_deliver: i64,
}

fn default_ack_wait() -> u64 {
    30
}
fn default_max_deliver() -> i64 {
    5
}

impl ClusterConfig {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            ack_wait_secs: default_ack_wait(),
            max_deliver: default_max_deliver(),
        }
    }

    fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_secs.max(1))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url}: {message} (is `nats-server -js` running there?)")]
    Connect { url: String, message: String },
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("the run journal in JetStream: {0}")]
    Journal(String),
}

fn js_error(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::JetStream(e.to_string())
}

/// A KV bucket of the latest value per key, on file storage, made on first use.
async fn bucket(js: &jetstream::Context, name: &str) -> Result<kv::Store, ClusterError> {
    match js.get_key_value(name).await {
        Ok(kv) => Ok(kv),
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: name.to_string(),
                history: 1,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(js_error),
    }
}

/// A row call as it travels to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RowRequest {
    pub plugin: String,
    pub sha256: String,
    pub row: serde_json::Map<String, serde_json::Value>,
}

/// A worker's answer to a row call.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RowReply {
    Set(serde_json::Map<String, serde_json::Value>),
    Failed(String),
    /// The worker could not take it (too many row calls waiting there, the plugin not
    /// loadable): another try may land on another worker.
    Busy(String),
}

/// A batch job: which tenant's run, which batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchJob {
    pub tenant: String,
    pub run: String,
    pub batch: u32,
}

impl BatchJob {
    fn subject(&self) -> String {
        format!(
            "{SUBJECT_PREFIX}.{}.{}.{}",
            self.tenant, self.run, self.batch
        )
    }

    /// The job a message's subject names.
    fn from_subject(subject: &str) -> Option<Self> {
        let rest = subject.strip_prefix(SUBJECT_PREFIX)?.strip_prefix('.')?;
        let mut parts = rest.split('.');
        let (tenant, run, batch) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            tenant: tenant.to_string(),
            run: run.to_string(),
            batch: batch.parse().ok()?,
        })
    }
}

/// A connection to the cluster: the batch stream, the run journal and the plugin store,
/// created on first use with the settings of `config`.
#[derive(Clone)]
pub struct Cluster {
    config: ClusterConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    stream: stream::Stream,
    journal: Journal,
    plugins: object_store::ObjectStore,
    budgets: kv::Store,
    trail: stream::Stream,
}

impl Cluster {
    pub async fn connect(config: ClusterConfig) -> Result<Self, ClusterError> {
        let client = async_nats::ConnectOptions::new()
            .name("kiln")
            // A NATS restart is waited out, not fatal.
            .retry_on_initial_connect()
            .connect(config.url.as_str())
            .await
            .map_err(|e| ClusterError::Connect {
                url: config.url.clone(),
                message: e.to_string(),
            })?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_or_create_stream(stream::Config {
                name: STREAM.to_string(),
                subjects: vec![format!("{SUBJECT_PREFIX}.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                // A batch re-published within this window is dropped by its message id.
                duplicate_window: Duration::from_secs(600),
                ..Default::default()
            })
            .await
            .map_err(js_error)?;
        let runs = bucket(&js, RUNS_BUCKET).await?;
        let budgets = bucket(&js, BUDGETS_BUCKET).await?;
        let trail = trail::stream(&js).await?;
        let plugins = match js.get_object_store(PLUGINS_BUCKET).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: PLUGINS_BUCKET.to_string(),
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(js_error)?,
        };
        Ok(Self {
            config,
            client,
            js,
            stream,
            journal: Journal::new(runs),
            plugins,
            budgets,
            trail,
        })
    }

    /// A tenant's audit trail, one chain for the server and every worker.
    pub fn trail(&self, tenant: &str) -> crate::trail::Trail {
        crate::trail::Trail::with_store(std::sync::Arc::new(trail::JsTrail::new(
            self.js.clone(),
            self.trail.clone(),
            tenant,
            tokio::runtime::Handle::current(),
        )))
    }

    /// A tenant's credit ledger, shared by the server and every worker.
    pub fn ledger(&self, tenant: &str) -> crate::budget::Ledger {
        crate::budget::Ledger::with_store(std::sync::Arc::new(budgets::KvLedger::new(
            self.budgets.clone(),
            tenant,
            tokio::runtime::Handle::current(),
        )))
    }

    pub(crate) fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The workers' pull consumer: explicit acks, redelivery after the ack wait, at most
    /// `max_deliver` deliveries.
    async fn consumer(&self) -> Result<consumer::Consumer<consumer::pull::Config>, ClusterError> {
        self.stream
            .get_or_create_consumer(
                CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(CONSUMER.to_string()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait(),
                    max_deliver: self.config.max_deliver.max(1),
                    filter_subject: format!("{SUBJECT_PREFIX}.>"),
                    ..Default::default()
                },
            )
            .await
            .map_err(js_error)
    }

    /// Publishes a batch job; publishing it again is harmless (its message id).
    async fn publish(&self, job: &BatchJob) -> Result<(), ClusterError> {
        let body = serde_json::to_vec(job).map_err(js_error)?;
        self.js
            .send_publish(
                job.subject(),
                jetstream::message::PublishMessage::build()
                    .payload(body.into())
                    .message_id(format!("{}.{}", job.run, job.batch)),
            )
            .await
            .map_err(js_error)?
            .await
            .map_err(js_error)?;
        Ok(())
    }

    /// Sends a row call to whichever worker of the queue group takes it.
    pub(crate) async fn row_call(
        &self,
        tenant: &str,
        request: &RowRequest,
    ) -> Result<RowReply, ClusterError> {
        let body = serde_json::to_vec(request).map_err(js_error)?;
        let asked = self
            .client
            .request(format!("{ROW_SUBJECT_PREFIX}.{tenant}"), body.into());
        let answer = tokio::time::timeout(ROW_TIMEOUT, asked)
            .await
            .map_err(|_| {
                ClusterError::JetStream(format!(
                    "no worker answered the row call within {} s",
                    ROW_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| match e.kind() {
                async_nats::RequestErrorKind::NoResponders => ClusterError::JetStream(
                    "no `kiln worker` is running to answer row calls".to_string(),
                ),
                _ => js_error(e),
            })?;
        serde_json::from_slice(&answer.payload).map_err(js_error)
    }

    /// Puts a plugin's component in the object store under its SHA-256 (once).
    pub(crate) async fn put_plugin(&self, sha256: &str, wasm: &[u8]) -> Result<(), ClusterError> {
        if self.has_plugin(sha256).await {
            return Ok(());
        }
        let mut reader = wasm;
        self.plugins
            .put(sha256, &mut reader)
            .await
            .map_err(js_error)?;
        Ok(())
    }

    pub(crate) async fn has_plugin(&self, sha256: &str) -> bool {
        self.plugins.info(sha256).await.is_ok()
    }

    /// A plugin's component by SHA-256; `None` when the store has none.
    pub(crate) async fn get_plugin(&self, sha256: &str) -> Result<Option<Vec<u8>>, ClusterError> {
        use tokio::io::AsyncReadExt as _;
        let mut object = match self.plugins.get(sha256).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(js_error(e)),
        };
        let mut wasm = Vec::new();
        object.read_to_end(&mut wasm).await.map_err(js_error)?;
        Ok(Some(wasm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_through_its_subject() {
        let job = BatchJob {
            tenant: "acme".into(),
            run: "run_0123abcd".into(),
            batch: 17,
        };
        assert_eq!(BatchJob::from_subject(&job.subject()), Some(job));
        assert_eq!(BatchJob::from_subject("kiln.batch.acme.run_1"), None);
        assert_eq!(BatchJob::from_subject("kiln.batch.acme.run_1.x"), None);
        assert_eq!(BatchJob::from_subject("other.acme.run_1.2"), None);
    }
}
