//! The run journal (`kiln_runs`, `kiln_run_batches` in the state file): every `kiln run` gets
//! a run id, and the journal keeps what the run will visit — the record ids at its start,
//! batch by batch — and each batch's progress:
//!
//! - `planned`: its ids are known, nothing was computed;
//! - `computed`: the plugin's effects are written here, before any of them is applied;
//! - `applied`: the backend holds them.
//!
//! A batch is only ever applied from what the journal holds, so a run that dies between
//! `computed` and `applied` is finished by applying the journaled effects again — never by
//! asking the plugin a second time (a counter would count twice). On the embedded workspace
//! the journal lives in the workspace file itself and a batch's effects and its `applied` mark
//! commit in one transaction ([`mark_applied`]).
//!
//! Whether a `running` run is still alive is a lock: the process running it holds an
//! exclusive lock on `<state file>.runs/<run id>.lock`, which the OS lets go of when the
//! process dies, however it dies.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::state_db::{StateDb, now_ms};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kiln_runs (
    id            TEXT PRIMARY KEY,
    plugin        TEXT NOT NULL,
    plugin_sha256 TEXT NOT NULL,
    plugin_spec   TEXT NOT NULL,
    table_id      TEXT NOT NULL,
    table_name    TEXT NOT NULL,
    options       TEXT NOT NULL,
    state         TEXT NOT NULL,
    total_rows    INTEGER NOT NULL,
    batches       INTEGER NOT NULL,
    started_ms    INTEGER NOT NULL,
    ended_ms      INTEGER,
    error         TEXT,
    report        TEXT
);
CREATE INDEX IF NOT EXISTS kiln_runs_by_table ON kiln_runs(table_id, plugin, state);
CREATE TABLE IF NOT EXISTS kiln_run_batches (
    run_id  TEXT NOT NULL,
    batch   INTEGER NOT NULL,
    ids     TEXT NOT NULL,
    state   TEXT NOT NULL,
    effects TEXT,
    PRIMARY KEY (run_id, batch)
) WITHOUT ROWID;
";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("run journal in {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("run journal in {}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("no run `{0}` in this state file (`kiln runs` lists them)")]
    NoSuchRun(String),
    #[error(
        "run {id} is still running (in another kiln process); wait for it, or stop that process first"
    )]
    Live { id: String },
    #[error("run {id} is {state}: there is nothing to resume")]
    NotResumable { id: String, state: RunState },
    #[error(
        "run {id} was made by {plugin} with SHA-256 {journaled}, but this plugin's is {given}: a changed plugin cannot finish another's run (start a new run, with --force to leave {id} unfinished)"
    )]
    PluginChanged {
        id: String,
        plugin: String,
        journaled: String,
        given: String,
    },
    #[error(
        "table `{table}` has an unfinished run of {plugin}: {id} ({state}, {done} of {batches} batches applied). Finish it with `kiln runs resume {id}`, or pass --force to start anew and leave it unfinished"
    )]
    Unfinished {
        id: String,
        plugin: String,
        table: String,
        state: RunState,
        done: u64,
        batches: u64,
    },
    #[error(
        "run {id}, batch {batch}: the journal holds no effects it can read ({why}); the batch was not applied"
    )]
    Effects { id: String, batch: u32, why: String },
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// A process is running it.
    Running,
    /// Its process died (crash, kill, reboot) before it ended: `kiln runs resume` finishes it.
    Interrupted,
    /// Every batch was applied (or, for a dry run, checked).
    Finished,
    /// It stopped on an error (a plugin limit, the backend); resuming retries from there.
    Failed,
    /// Left unfinished on purpose: a later run of the same plugin on the table was forced.
    Abandoned,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Interrupted => "interrupted",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
            RunState::Abandoned => "abandoned",
        }
    }

    fn parse(s: &str) -> RunState {
        match s {
            "running" => RunState::Running,
            "finished" => RunState::Finished,
            "failed" => RunState::Failed,
            "abandoned" => RunState::Abandoned,
            // Only `running` is ever stored for a live run; anything else unknown is treated
            // as a run that did not end.
            _ => RunState::Interrupted,
        }
    }

    /// Whether `kiln runs resume` may pick it up.
    pub fn resumable(self) -> bool {
        matches!(self, RunState::Interrupted | RunState::Failed)
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A batch's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    Planned,
    Computed,
    Applied,
}

impl BatchState {
    fn as_str(self) -> &'static str {
        match self {
            BatchState::Planned => "planned",
            BatchState::Computed => "computed",
            BatchState::Applied => "applied",
        }
    }

    fn parse(s: &str) -> BatchState {
        match s {
            "computed" => BatchState::Computed,
            "applied" => BatchState::Applied,
            _ => BatchState::Planned,
        }
    }
}

/// What a run was started with, kept so a resume computes what the first process would have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    pub rows_per_batch: usize,
    pub dry_run: bool,
    /// The plugin's settings (`--config`); a resume uses the same.
    pub config: std::collections::BTreeMap<String, String>,
}

/// One run as `kiln runs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub plugin: String,
    pub plugin_sha256: String,
    /// How the plugin was named when the run started (a path, a crate, a bundled name).
    pub plugin_spec: String,
    pub table_id: String,
    pub table_name: String,
    pub options: RunOptions,
    pub state: RunState,
    pub total_rows: u64,
    pub batches: u64,
    pub batches_applied: u64,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub error: Option<String>,
}

/// One batch as the journal holds it.
#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub batch: u32,
    pub ids: Vec<String>,
    pub state: BatchState,
    /// The effects, as the run loop wrote them (JSON), once computed.
    pub effects: Option<String>,
}

/// What a new run is.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub plugin: &'a str,
    pub plugin_sha256: &'a str,
    pub plugin_spec: &'a str,
    pub table_id: &'a str,
    pub table_name: &'a str,
    pub options: RunOptions,
    pub total_rows: u64,
}

/// A handle to the run journal in one state file. Clones share one connection.
#[derive(Clone)]
pub struct Journal {
    db: Arc<StateDb>,
    locks: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.db.path)
            .finish()
    }
}

impl Journal {
    /// Opens the journal in `path` (the workspace file, or a state file of its own),
    /// creating its tables if needed.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let db = StateDb::open(path, SCHEMA).map_err(|source| JournalError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let mut locks = path.as_os_str().to_owned();
        locks.push(".runs");
        Ok(Self {
            db: Arc::new(db),
            locks: PathBuf::from(locks),
        })
    }

    /// The state file, as given to [`Journal::open`].
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    fn sql(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite {
            path: self.db.path.clone(),
            source,
        }
    }

    fn io(&self, what: &'static str, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.db.path.clone(),
            what,
            source,
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let mut conn = self.db.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| self.sql(e))
    }

    fn lock_path(&self, id: &str) -> PathBuf {
        self.locks.join(format!("{id}.lock"))
    }

    /// Takes the run's liveness lock; `None` when another process holds it.
    fn take_lock(&self, id: &str) -> Result<Option<RunLock>, JournalError> {
        std::fs::create_dir_all(&self.locks)
            .map_err(|e| self.io("creating the run-lock directory", e))?;
        let path = self.lock_path(id);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.io("opening a run lock", e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(self.io("locking a run", e)),
        }
    }

    /// Whether a process holds run `id`'s lock now.
    fn is_live(&self, id: &str) -> bool {
        let Ok(file) = File::options().write(true).open(self.lock_path(id)) else {
            return false;
        };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// Starts a run: records it and its batches (`ids` cut into batches), all `planned`.
    /// Refuses when `table` has an unfinished run of the same plugin, unless `force`, which
    /// marks those `abandoned`.
    pub fn begin(
        &self,
        run: NewRun<'_>,
        batches: &[&[String]],
        force: bool,
    ) -> Result<ActiveRun, JournalError> {
        let unfinished: Vec<RunInfo> = self
            .list()?
            .into_iter()
            .filter(|r| {
                r.table_id == run.table_id
                    && r.plugin == run.plugin
                    && matches!(
                        r.state,
                        RunState::Running | RunState::Interrupted | RunState::Failed
                    )
                    && !r.options.dry_run
            })
            .collect();
        if !run.options.dry_run
            && let Some(r) = unfinished.first()
        {
            if !force || r.state == RunState::Running {
                return Err(if r.state == RunState::Running {
                    JournalError::Live { id: r.id.clone() }
                } else {
                    JournalError::Unfinished {
                        id: r.id.clone(),
                        plugin: r.plugin.clone(),
                        table: run.table_name.to_string(),
                        state: r.state,
                        done: r.batches_applied,
                        batches: r.batches,
                    }
                });
            }
            for r in &unfinished {
                self.set_state(&r.id, RunState::Abandoned, None)?;
            }
        }
        let id = new_run_id();
        let Some(lock) = self.take_lock(&id)? else {
            return Err(JournalError::Live { id });
        };
        let options = serde_json::to_string(&run.options).unwrap_or_default();
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO kiln_runs(id, plugin, plugin_sha256, plugin_spec, table_id, table_name,
                   options, state, total_rows, batches, started_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9, ?10)",
                params![
                    id,
                    run.plugin,
                    run.plugin_sha256,
                    run.plugin_spec,
                    run.table_id,
                    run.table_name,
                    options,
                    run.total_rows as i64,
                    batches.len() as i64,
                    now_ms()
                ],
            )?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO kiln_run_batches(run_id, batch, ids, state) VALUES (?1, ?2, ?3, 'planned')",
                )?;
                for (i, ids) in batches.iter().enumerate() {
                    insert.execute(params![
                        id,
                        i as i64,
                        serde_json::to_string(ids).unwrap_or_default()
                    ])?;
                }
            }
            tx.commit()
        })?;
        Ok(ActiveRun {
            journal: self.clone(),
            id,
            _lock: lock,
        })
    }

    /// Takes up an interrupted or failed run: its record, its batches, and the handle that
    /// now owns it. `plugin_sha256` must be the one it was started with.
    pub fn resume(
        &self,
        id: &str,
        plugin_sha256: &str,
    ) -> Result<(RunInfo, Vec<BatchRecord>, ActiveRun), JournalError> {
        let info = self
            .get(id)?
            .ok_or_else(|| JournalError::NoSuchRun(id.to_string()))?;
        if info.state == RunState::Running {
            return Err(JournalError::Live { id: id.to_string() });
        }
        if !info.state.resumable() {
            return Err(JournalError::NotResumable {
                id: id.to_string(),
                state: info.state,
            });
        }
        if info.plugin_sha256 != plugin_sha256 {
            return Err(JournalError::PluginChanged {
                id: id.to_string(),
                plugin: info.plugin.clone(),
                journaled: info.plugin_sha256.clone(),
                given: plugin_sha256.to_string(),
            });
        }
        let Some(lock) = self.take_lock(id)? else {
            return Err(JournalError::Live { id: id.to_string() });
        };
        self.set_state(id, RunState::Running, None)?;
        let batches = self.batches(id)?;
        let info = RunInfo {
            state: RunState::Running,
            ..info
        };
        Ok((
            info,
            batches,
            ActiveRun {
                journal: self.clone(),
                id: id.to_string(),
                _lock: lock,
            },
        ))
    }

    /// Marks a run that is not running `abandoned`: it can no longer be resumed.
    pub fn abandon(&self, id: &str) -> Result<(), JournalError> {
        if self.is_live(id) {
            return Err(JournalError::Live { id: id.to_string() });
        }
        self.set_state(id, RunState::Abandoned, Some("cancelled"))
    }

    fn set_state(
        &self,
        id: &str,
        state: RunState,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.with(|conn| {
            conn.execute(
                "UPDATE kiln_runs SET state = ?2, error = ?3,
                   ended_ms = CASE WHEN ?2 = 'running' THEN NULL ELSE ?4 END
                 WHERE id = ?1",
                params![id, state.as_str(), error, now_ms()],
            )
        })?;
        Ok(())
    }

    /// Every run, newest first.
    pub fn list(&self) -> Result<Vec<RunInfo>, JournalError> {
        let runs = self.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "{SELECT_RUN} ORDER BY r.started_ms DESC, r.rowid DESC"
            ))?;
            stmt.query_map([], run_info)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(runs.into_iter().map(|r| self.live_state(r)).collect())
    }

    /// One run.
    pub fn get(&self, id: &str) -> Result<Option<RunInfo>, JournalError> {
        let run = self.with(|conn| {
            conn.query_row(&format!("{SELECT_RUN} WHERE r.id = ?1"), [id], run_info)
                .optional()
        })?;
        Ok(run.map(|r| self.live_state(r)))
    }

    /// A `running` run whose process is gone is `interrupted`.
    fn live_state(&self, mut run: RunInfo) -> RunInfo {
        if run.state == RunState::Running && !self.is_live(&run.id) {
            run.state = RunState::Interrupted;
        }
        run
    }

    /// A run's batches, in order.
    pub fn batches(&self, id: &str) -> Result<Vec<BatchRecord>, JournalError> {
        let rows = self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT batch, ids, state, effects FROM kiln_run_batches WHERE run_id = ?1 ORDER BY batch",
            )?;
            stmt.query_map([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(batch, ids, state, effects)| {
                let batch = u32::try_from(batch).unwrap_or(u32::MAX);
                let ids = serde_json::from_str(&ids).map_err(|e| JournalError::Effects {
                    id: id.to_string(),
                    batch,
                    why: format!("its record ids: {e}"),
                })?;
                Ok(BatchRecord {
                    batch,
                    ids,
                    state: BatchState::parse(&state),
                    effects,
                })
            })
            .collect()
    }

    /// Moves a batch of run `id` to `state`, storing its `effects` when given. For the run
    /// loop's writer task, which holds the journal but not the [`ActiveRun`].
    pub fn mark(
        &self,
        id: &str,
        batch: u32,
        state: BatchState,
        effects: Option<&str>,
    ) -> Result<(), JournalError> {
        let changed = self.with(|conn| {
            conn.execute(
                "UPDATE kiln_run_batches SET state = ?3, effects = coalesce(?4, effects)
                 WHERE run_id = ?1 AND batch = ?2",
                params![id, batch, state.as_str(), effects],
            )
        })?;
        if changed == 1 {
            Ok(())
        } else {
            Err(self.sql(rusqlite::Error::QueryReturnedNoRows))
        }
    }

    /// The report a finished (or failed) run stored, as JSON.
    pub fn report(&self, id: &str) -> Result<Option<String>, JournalError> {
        self.with(|conn| {
            conn.query_row("SELECT report FROM kiln_runs WHERE id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
        })
    }
}

const SELECT_RUN: &str = "SELECT r.id, r.plugin, r.plugin_sha256, r.plugin_spec, r.table_id,
    r.table_name, r.options, r.state, r.total_rows, r.batches, r.started_ms, r.ended_ms, r.error,
    (SELECT count(*) FROM kiln_run_batches b WHERE b.run_id = r.id AND b.state = 'applied')
  FROM kiln_runs r";

fn run_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunInfo> {
    let options: String = r.get(6)?;
    Ok(RunInfo {
        id: r.get(0)?,
        plugin: r.get(1)?,
        plugin_sha256: r.get(2)?,
        plugin_spec: r.get(3)?,
        table_id: r.get(4)?,
        table_name: r.get(5)?,
        options: serde_json::from_str(&options).unwrap_or_default(),
        state: RunState::parse(&r.get::<_, String>(7)?),
        total_rows: r.get::<_, i64>(8)?.max(0) as u64,
        batches: r.get::<_, i64>(9)?.max(0) as u64,
        started_ms: r.get(10)?,
        ended_ms: r.get(11)?,
        error: r.get(12)?,
        batches_applied: r.get::<_, i64>(13)?.max(0) as u64,
    })
}

/// A run this process owns: its batches' progress goes through here. Dropped without
/// [`ActiveRun::end`], the run stays `running` in the file and reads as `interrupted` once
/// the lock is gone — which is what a crash looks like too.
pub struct ActiveRun {
    journal: Journal,
    id: String,
    _lock: RunLock,
}

impl std::fmt::Debug for ActiveRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveRun").field("id", &self.id).finish()
    }
}

impl ActiveRun {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Writes a batch's effects ahead of applying them.
    pub fn computed(&self, batch: u32, effects: &str) -> Result<(), JournalError> {
        self.journal
            .mark(&self.id, batch, BatchState::Computed, Some(effects))
    }

    /// Marks a batch applied (and stores its effects, when it had to apply nothing).
    pub fn applied(&self, batch: u32, effects: Option<&str>) -> Result<(), JournalError> {
        self.journal
            .mark(&self.id, batch, BatchState::Applied, effects)
    }

    /// Ends the run: `finished` or `failed`, with its report (JSON) and what stopped it.
    pub fn end(
        self,
        state: RunState,
        report: &str,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.journal.with(|conn| {
            conn.execute(
                "UPDATE kiln_runs SET state = ?2, error = ?3, report = ?4, ended_ms = ?5 WHERE id = ?1",
                params![self.id, state.as_str(), error, report, now_ms()],
            )
        })?;
        let _ = std::fs::remove_file(self.journal.lock_path(&self.id));
        Ok(())
    }
}

/// The exclusive lock that says a run's process is alive.
struct RunLock {
    file: File,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Marks `batch` of `run_id` applied with its `effects`, inside the caller's transaction —
/// the embedded workspace's, which also holds the batch's changes, so both commit or neither.
/// An error (no such batch, no journal in this file) rolls the caller's transaction back.
pub(crate) fn mark_applied(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    batch: u32,
    effects: &str,
) -> rusqlite::Result<()> {
    let changed = tx.execute(
        "UPDATE kiln_run_batches SET state = 'applied', effects = ?3 WHERE run_id = ?1 AND batch = ?2",
        params![run_id, batch, effects],
    )?;
    if changed == 1 {
        Ok(())
    } else {
        Err(rusqlite::Error::QueryReturnedNoRows)
    }
}

fn new_run_id() -> String {
    crate::state_db::new_id("run")
}

#[cfg(test)]
mod tests;
