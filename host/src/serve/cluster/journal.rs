//! The run journal in JetStream KV: one key per run (`run.<id>`) and one per batch
//! (`batch.<id>.<n>`: its row ids, its state, its computed effects). Batch keys change only by
//! compare-and-set on their revision, so of two workers holding the same batch (one thought
//! dead, one its replacement) exactly one computation is journaled, and every apply applies
//! that one.

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use super::ClusterError;
use crate::journal::{RunOptions, RunState};

/// A run as the cluster journals it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunDoc {
    pub id: String,
    pub tenant: String,
    pub plugin: String,
    pub plugin_sha256: String,
    pub table_id: String,
    pub table_name: String,
    pub options: RunOptions,
    pub total_rows: u64,
    pub batches: u32,
    pub started_ms: i64,
    pub state: RunState,
    #[serde(default)]
    pub error: Option<String>,
}

/// Where a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BatchState {
    /// Published, not computed.
    Pending,
    /// Its effects are journaled; they may or may not have landed.
    Computed,
    /// Its effects landed (or, in a dry run, were checked).
    Applied,
    /// The plugin failed it (a limit, a trap), or every delivery's worker died.
    Failed,
}

impl BatchState {
    pub fn ended(self) -> bool {
        matches!(self, BatchState::Applied | BatchState::Failed)
    }
}

/// One batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BatchDoc {
    pub ids: Vec<String>,
    pub state: BatchState,
    /// The computed effects (JSON, see `BatchEffects`).
    #[serde(default)]
    pub effects: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
    /// The most deliveries of it any worker saw.
    #[serde(default)]
    pub deliveries: u32,
}

#[derive(Clone)]
pub(crate) struct Journal {
    kv: kv::Store,
}

fn run_key(id: &str) -> String {
    format!("run.{id}")
}

fn batch_key(id: &str, batch: u32) -> String {
    format!("batch.{id}.{batch}")
}

fn err(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Journal(e.to_string())
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, ClusterError> {
    serde_json::from_slice(bytes).map_err(|e| ClusterError::Journal(format!("{key}: {e}")))
}

impl Journal {
    pub fn new(kv: kv::Store) -> Self {
        Self { kv }
    }

    pub async fn put_run(&self, run: &RunDoc) -> Result<(), ClusterError> {
        let body = serde_json::to_vec(run).map_err(err)?;
        self.kv
            .put(run_key(&run.id), body.into())
            .await
            .map_err(err)?;
        Ok(())
    }

    pub async fn run(&self, id: &str) -> Result<Option<RunDoc>, ClusterError> {
        let key = run_key(id);
        match self.kv.get(&key).await.map_err(err)? {
            Some(bytes) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every run the journal holds.
    pub async fn runs(&self) -> Result<Vec<RunDoc>, ClusterError> {
        use futures_util::StreamExt as _;
        let mut keys = self.kv.keys().await.map_err(err)?;
        let mut runs = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(err)?;
            if let Some(id) = key.strip_prefix("run.")
                && let Some(run) = self.run(id).await?
            {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// Writes a batch's first version; one already there is left as it is (a re-planned
    /// run must not undo a batch a worker has done).
    pub async fn create_batch(
        &self,
        run: &str,
        batch: u32,
        doc: &BatchDoc,
    ) -> Result<(), ClusterError> {
        let body = serde_json::to_vec(doc).map_err(err)?;
        match self.kv.create(batch_key(run, batch), body.into()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// A batch and its revision.
    pub async fn batch(
        &self,
        run: &str,
        batch: u32,
    ) -> Result<Option<(BatchDoc, u64)>, ClusterError> {
        let key = batch_key(run, batch);
        match self.kv.entry(&key).await.map_err(err)? {
            Some(entry) if entry.operation == kv::Operation::Put => {
                Ok(Some((decode(&key, &entry.value)?, entry.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Replaces a batch if it is still at `revision`: `Some(new revision)`, or `None` when
    /// another writer changed it first.
    pub async fn update_batch(
        &self,
        run: &str,
        batch: u32,
        doc: &BatchDoc,
        revision: u64,
    ) -> Result<Option<u64>, ClusterError> {
        let body = serde_json::to_vec(doc).map_err(err)?;
        match self
            .kv
            .update(batch_key(run, batch), body.into(), revision)
            .await
        {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    /// Watches every batch of `run` (each one's latest version first).
    pub async fn watch_batches(&self, run: &str) -> Result<kv::Watch, ClusterError> {
        self.kv
            .watch_with_history(format!("batch.{run}.>"))
            .await
            .map_err(err)
    }
}
