//! The embedded workspace: Clay's data model and semantics in one SQLite file, so plugins
//! can be written and tested with no Clay account and no network.
//!
//! Every trait method runs its SQL on tokio's blocking pool: a guest waiting on the
//! workspace holds no async worker thread.

mod csv_io;
mod enrich;
mod ids;
mod schema;
mod seed;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::Connection;

use super::model::*;
use super::{Clay, ClayError, ClayResult};

pub use csv_io::ImportSummary;
pub(crate) use ids::new_id;
pub use seed::SeedSummary;
pub(crate) use store::Db;
pub use store::WorkspaceSummary;

/// Clay's default cap on rows per table.
pub const DEFAULT_ROW_LIMIT: u64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("no kiln workspace at {}: run `kiln workspace init` (empty) or `kiln workspace seed --demo`", .0.display())]
    Missing(PathBuf),
    #[error("{} is not a kiln workspace ({reason})", path.display())]
    NotAWorkspace { path: PathBuf, reason: String },
    #[error("{} already holds a workspace; remove it first or pick another file", .0.display())]
    Exists(PathBuf),
    #[error("workspace database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Clay(#[from] ClayError),
    #[error("CSV {}: {message}", path.display())]
    Csv { path: PathBuf, message: String },
    #[error("no member `{0}` in this workspace (use an email or a user id)")]
    NoSuchMember(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A handle to one workspace file; clones share the connection.
#[derive(Clone)]
pub struct LocalBackend {
    conn: Arc<Mutex<Connection>>,
    /// The member whose actions are attributed (credits, created resources).
    actor: Option<String>,
    row_limit: u64,
}

impl fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBackend")
            .field("actor", &self.actor)
            .field("row_limit", &self.row_limit)
            .finish()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

impl LocalBackend {
    /// Creates a new workspace file: one workspace and one admin member.
    pub fn create(path: &Path) -> Result<Self, LocalError> {
        if path.exists() && std::fs::metadata(path)?.len() > 0 {
            return Err(LocalError::Exists(path.to_path_buf()));
        }
        let conn = Connection::open(path)?;
        configure(&conn)?;
        Self::init(conn)
    }

    /// An in-memory workspace (tests, scratch runs).
    pub fn in_memory() -> Result<Self, LocalError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, LocalError> {
        let tx = conn.transaction()?;
        tx.execute_batch(schema::SCHEMA)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)",
            [schema::VERSION.to_string()],
        )?;
        tx.execute(
            "INSERT INTO workspaces(id, name, credit_pool) VALUES (1, 'My workspace', 50000)",
            [],
        )?;
        tx.execute(
            "INSERT INTO members(user_id, workspace_id, email, name, role, status)
             VALUES ('1000', 1, 'owner@example.com', 'Workspace Owner', 'admin', 'active')",
            [],
        )?;
        tx.commit()?;
        Self::from_conn(conn)
    }

    /// Opens an existing workspace file, bringing an older one up to this version (in one
    /// transaction: a failed step leaves the file as it was).
    pub fn open(path: &Path) -> Result<Self, LocalError> {
        if !path.is_file() {
            return Err(LocalError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let version: Result<String, _> = conn.query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        );
        let version = match version.map(|v| v.parse::<i64>()) {
            Ok(Ok(v)) if (1..=schema::VERSION).contains(&v) => v,
            Ok(_) => {
                return Err(LocalError::NotAWorkspace {
                    path: path.to_path_buf(),
                    reason: format!(
                        "an unknown schema version; this kiln reads versions 1 to {}",
                        schema::VERSION
                    ),
                });
            }
            Err(e) => {
                return Err(LocalError::NotAWorkspace {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        configure(&conn)?;
        let mut conn = conn;
        migrate(&mut conn, version)?;
        Self::from_conn(conn)
    }

    fn from_conn(conn: Connection) -> Result<Self, LocalError> {
        let actor: Option<String> = conn
            .query_row(
                "SELECT user_id FROM members WHERE role = 'admin' AND status = 'active'
                 ORDER BY CAST(user_id AS INTEGER) LIMIT 1",
                [],
                |r| r.get(0),
            )
            .ok();
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            actor,
            row_limit: DEFAULT_ROW_LIMIT,
        })
    }

    /// Acts as another member (by email or user id) from now on.
    pub fn acting_as(mut self, member: &str) -> Result<Self, LocalError> {
        let found: Option<String> = self.blocking(|db| {
            Ok(db
                .conn
                .query_row(
                    "SELECT user_id FROM members WHERE user_id = ?1 OR lower(email) = lower(?1)",
                    [member],
                    |r| r.get(0),
                )
                .ok())
        })?;
        self.actor = Some(found.ok_or_else(|| LocalError::NoSuchMember(member.to_string()))?);
        Ok(self)
    }

    /// Whether this workspace is the file at `path`.
    fn is_file(&self, path: &Path) -> bool {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(ours), Ok(theirs)) = (conn.path(), path.canonicalize()) else {
            return false;
        };
        Path::new(ours)
            .canonicalize()
            .is_ok_and(|ours| ours == theirs)
    }

    /// The acting member's user id.
    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    /// The acting member's email, which member budgets are keyed by.
    pub fn actor_email(&self) -> Result<Option<String>, LocalError> {
        let Some(actor) = self.actor.clone() else {
            return Ok(None);
        };
        self.blocking(move |db| {
            Ok(db
                .conn
                .query_row(
                    "SELECT email FROM members WHERE user_id = ?1",
                    [actor],
                    |r| r.get(0),
                )
                .ok())
        })
    }

    /// Caps rows per table (Clay's default is 50,000; the Free plan's 200).
    pub fn with_row_limit(mut self, limit: u64) -> Self {
        self.row_limit = limit;
        self
    }

    /// Runs `f` on this thread. For the CLI's one-off commands, not for the hot path.
    pub(crate) fn blocking<T>(
        &self,
        f: impl FnOnce(&mut Db<'_>) -> Result<T, LocalError>,
    ) -> Result<T, LocalError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut db = Db {
            conn: &mut conn,
            actor: self.actor.as_deref(),
            row_limit: self.row_limit,
        };
        f(&mut db)
    }

    /// Runs `f` on the blocking pool, so async callers never stall a worker thread.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db<'_>) -> ClayResult<T> + Send + 'static,
    ) -> ClayResult<T> {
        let conn = self.conn.clone();
        let actor = self.actor.clone();
        let row_limit = self.row_limit;
        let guard = CancelOnDrop::default();
        let call = guard.state.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            if call.cancelled.load(Ordering::Acquire) {
                return Err(ClayError::Unavailable("the call was cancelled".into()));
            }
            *call.interrupt.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(conn.get_interrupt_handle());
            let mut db = Db {
                conn: &mut conn,
                actor: actor.as_deref(),
                row_limit,
            };
            let result = f(&mut db);
            call.interrupt
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            result
        })
        .await
        .map_err(|e| ClayError::Unavailable(format!("workspace task failed: {e}")))?;
        guard.disarm();
        result
    }

    /// Every row of a table (by id or name), in insertion order.
    pub fn export_rows(&self, table: &str) -> Result<(TableInfo, Vec<Row>), LocalError> {
        self.blocking(|db| {
            let info = db.resolve_table(table)?;
            let rows = db.all_rows(&info.id)?;
            Ok((info, rows))
        })
    }

    /// Adds a plain column (no action) of `kind` to a table (by id or name); returns its id.
    /// Clay's API cannot add columns; this is for setting up workspaces and tests.
    pub fn add_field(
        &self,
        table: &str,
        name: &str,
        kind: FieldKind,
    ) -> Result<String, LocalError> {
        self.blocking(|db| {
            let info = db.resolve_table(table)?;
            Ok(db.add_field(&info.id, name, kind, None)?)
        })
    }

    pub fn summary(&self) -> Result<WorkspaceSummary, LocalError> {
        self.blocking(|db| Ok(db.summary()?))
    }
}

fn owned(ids: &[String]) -> Vec<String> {
    ids.to_vec()
}

#[async_trait]
impl Clay for LocalBackend {
    async fn list_workspaces(&self) -> ClayResult<Vec<Workspace>> {
        self.call(|db| db.list_workspaces()).await
    }

    async fn create_folder(
        &self,
        workspace_id: u64,
        name: &str,
        parent_folder_id: Option<&str>,
    ) -> ClayResult<Folder> {
        let (name, parent) = (name.to_string(), parent_folder_id.map(str::to_string));
        self.call(move |db| db.create_folder(workspace_id, &name, parent.as_deref()))
            .await
    }

    async fn delete_folders(
        &self,
        workspace_id: u64,
        folder_ids: &[String],
        permanent: bool,
    ) -> ClayResult<()> {
        let ids = owned(folder_ids);
        self.call(move |db| db.delete_folders(workspace_id, &ids, permanent))
            .await
    }

    async fn list_resources(
        &self,
        workspace_id: u64,
        parent: Option<&ResourceRef>,
        kinds: &[ResourceKind],
    ) -> ClayResult<Vec<Resource>> {
        let (parent, kinds) = (parent.cloned(), kinds.to_vec());
        self.call(move |db| db.list_resources(workspace_id, parent.as_ref(), &kinds))
            .await
    }

    async fn search_resources(&self, workspace_id: u64, query: &str) -> ClayResult<Vec<Resource>> {
        let query = query.to_string();
        self.call(move |db| db.search_resources(workspace_id, &query))
            .await
    }

    async fn create_workbook(
        &self,
        workspace_id: u64,
        name: &str,
        auto_run: bool,
        parent_folder_id: Option<&str>,
    ) -> ClayResult<Workbook> {
        let (name, parent) = (name.to_string(), parent_folder_id.map(str::to_string));
        self.call(move |db| db.create_workbook(workspace_id, &name, auto_run, parent.as_deref()))
            .await
    }

    async fn delete_workbook(&self, workbook_id: &str) -> ClayResult<()> {
        let id = workbook_id.to_string();
        self.call(move |db| db.delete_workbook(&id)).await
    }

    async fn get_table(&self, table_id: &str) -> ClayResult<TableInfo> {
        let id = table_id.to_string();
        self.call(move |db| db.get_table(&id)).await
    }

    async fn record_ids(&self, table_id: &str, view_id: &str) -> ClayResult<Vec<String>> {
        let (t, v) = (table_id.to_string(), view_id.to_string());
        self.call(move |db| db.record_ids(&t, &v)).await
    }

    async fn read_records(&self, table_id: &str, record_ids: &[String]) -> ClayResult<Vec<Row>> {
        let (t, ids) = (table_id.to_string(), owned(record_ids));
        self.call(move |db| db.read_records(&t, &ids)).await
    }

    async fn add_rows(&self, table_id: &str, rows: &[NewRow]) -> ClayResult<Vec<Row>> {
        let (t, rows) = (table_id.to_string(), rows.to_vec());
        self.call(move |db| db.add_rows(&t, &rows, store::MAX_ADD_PER_CALL))
            .await
    }

    async fn delete_rows(&self, table_id: &str, record_ids: &[String]) -> ClayResult<()> {
        let (t, ids) = (table_id.to_string(), owned(record_ids));
        self.call(move |db| db.delete_rows(&t, &ids)).await
    }

    async fn delete_all_rows(&self, table_id: &str, view_id: Option<&str>) -> ClayResult<()> {
        let (t, v) = (table_id.to_string(), view_id.map(str::to_string));
        self.call(move |db| db.delete_all_rows(&t, v.as_deref()))
            .await
    }

    async fn run_column(
        &self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
        force: bool,
    ) -> ClayResult<RunResult> {
        let (t, f, target) = (table_id.to_string(), owned(field_ids), target.clone());
        self.call(move |db| db.run_column(&t, &f, &target, force, store::now_ms()))
            .await
    }

    async fn estimate_run_cost(
        &self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
    ) -> ClayResult<f64> {
        let (t, f, target) = (table_id.to_string(), owned(field_ids), target.clone());
        self.call(move |db| db.estimate_run_cost(&t, &f, &target))
            .await
    }

    async fn count_rows(&self, table_id: &str) -> ClayResult<u64> {
        let t = table_id.to_string();
        self.call(move |db| db.count_rows(&t)).await
    }

    async fn list_sources(&self, table_id: &str) -> ClayResult<Vec<Source>> {
        let t = table_id.to_string();
        self.call(move |db| db.list_sources(&t)).await
    }

    async fn add_webhook_source(&self, table_id: &str, name: &str) -> ClayResult<Source> {
        let (t, n) = (table_id.to_string(), name.to_string());
        self.call(move |db| db.add_webhook_source(&t, &n)).await
    }

    async fn delete_source(&self, source_id: &str, delete_records: bool) -> ClayResult<()> {
        let s = source_id.to_string();
        self.call(move |db| db.delete_source(&s, delete_records))
            .await
    }

    async fn permissions(&self, workspace_id: u64) -> ClayResult<Vec<Member>> {
        self.call(move |db| db.members(workspace_id)).await
    }

    async fn workspace_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
    ) -> ClayResult<CreditReport> {
        self.call(move |db| db.resource_report(workspace_id, range, None, None))
            .await
    }

    async fn user_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
        owner_ids: &[String],
    ) -> ClayResult<CreditReport> {
        let owners = owned(owner_ids);
        self.call(move |db| db.resource_report(workspace_id, range, Some(&owners), None))
            .await
    }

    async fn integration_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
    ) -> ClayResult<CreditReport> {
        self.call(move |db| db.integration_report(workspace_id, range))
            .await
    }

    async fn integration_specific_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
        integration_ids: &[String],
    ) -> ClayResult<CreditReport> {
        let packages = owned(integration_ids);
        self.call(move |db| db.resource_report(workspace_id, range, None, Some(&packages)))
            .await
    }

    async fn user_resources(
        &self,
        workspace_id: u64,
        owner_ids: &[String],
    ) -> ClayResult<Vec<Resource>> {
        let owners = owned(owner_ids);
        self.call(move |db| db.user_resources(workspace_id, &owners))
            .await
    }

    async fn integrations(&self, workspace_id: u64) -> ClayResult<Vec<Integration>> {
        self.call(move |db| db.integrations(workspace_id)).await
    }

    async fn integration_type(&self, type_id: &str) -> ClayResult<IntegrationType> {
        let id = type_id.to_string();
        self.call(move |db| db.integration_type(&id)).await
    }

    async fn integration_types(&self) -> ClayResult<Vec<IntegrationType>> {
        self.call(|db| db.integration_types()).await
    }

    async fn update_rows(&self, table_id: &str, updates: &[RowUpdate]) -> ClayResult<()> {
        let (t, updates) = (table_id.to_string(), updates.to_vec());
        self.call(move |db| db.update_rows(&t, &updates)).await
    }

    async fn resolve_table(&self, id_or_name: &str) -> ClayResult<TableInfo> {
        let key = id_or_name.to_string();
        self.call(move |db| db.resolve_table(&key)).await
    }

    async fn apply_journaled(
        &self,
        table_id: &str,
        updates: &[RowUpdate],
        deletes: &[String],
        mark: &JournalMark,
    ) -> ClayResult<bool> {
        if !self.is_file(&mark.journal) {
            return Ok(false);
        }
        let (t, updates, deletes, mark) = (
            table_id.to_string(),
            updates.to_vec(),
            deletes.to_vec(),
            mark.clone(),
        );
        self.call(move |db| db.apply_journaled(&t, &updates, &deletes, &mark))
            .await?;
        Ok(true)
    }
}

/// Stops a workspace call's SQL when the future awaiting it is dropped — an invocation past
/// its deadline, say — so the work does not run on (holding the workspace) for nobody.
#[derive(Default)]
struct CancelOnDrop {
    state: Arc<CallState>,
    done: bool,
}

#[derive(Default)]
struct CallState {
    cancelled: AtomicBool,
    interrupt: Mutex<Option<rusqlite::InterruptHandle>>,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.done = true;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.state.cancelled.store(true, Ordering::Release);
        if let Some(handle) = self
            .state
            .interrupt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            handle.interrupt();
        }
    }
}

fn migrate(conn: &mut Connection, from: i64) -> Result<(), LocalError> {
    if from == schema::VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for (step, sql) in schema::MIGRATIONS {
        if *step >= from {
            tx.execute_batch(sql)?;
        }
    }
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [schema::VERSION.to_string()],
    )?;
    tx.commit()?;
    Ok(())
}
