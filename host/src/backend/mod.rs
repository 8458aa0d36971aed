//! Backends: where Clay's data lives. One async trait, implemented by the embedded SQLite
//! workspace (`local`) and Clay's v3 HTTP API (`http`).

pub mod http;
pub mod local;
pub mod model;
pub mod readback;

use async_trait::async_trait;
use model::*;

/// Errors every backend speaks; they map one-to-one onto the WIT `clay-error` variant.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ClayError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("rate limited: retry after {0} ms")]
    RateLimited(u64),
    #[error("credit budget exhausted: {0}")]
    BudgetExhausted(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("Clay error: {0}")]
    Upstream(String),
    #[error("backend unavailable: {0}")]
    Unavailable(String),
}

pub type ClayResult<T> = Result<T, ClayError>;

/// Record ids Clay's bulk fetch takes per request; every reader of rows batches by it.
pub const BULK_READ_IDS: usize = 200;

/// Per-member reports in flight at once for `member_usage`.
pub const MEMBER_USAGE_CONCURRENCY: usize = 4;

/// Everything the WIT contract exposes, plus the few host-only operations kiln needs to
/// apply transformer effects. Implementations are shared across concurrent invocations.
///
/// The backend acts as one member (the session's user for HTTP, a chosen member for the
/// local workspace); credit spending is attributed to them.
#[async_trait]
pub trait Clay: Send + Sync + 'static {
    // workspaces
    async fn list_workspaces(&self) -> ClayResult<Vec<Workspace>>;

    // folders
    async fn create_folder(
        &self,
        workspace_id: u64,
        name: &str,
        parent_folder_id: Option<&str>,
    ) -> ClayResult<Folder>;
    /// Soft delete unless `permanent`.
    async fn delete_folders(
        &self,
        workspace_id: u64,
        folder_ids: &[String],
        permanent: bool,
    ) -> ClayResult<()>;

    // resources
    async fn list_resources(
        &self,
        workspace_id: u64,
        parent: Option<&ResourceRef>,
        kinds: &[ResourceKind],
    ) -> ClayResult<Vec<Resource>>;
    async fn search_resources(&self, workspace_id: u64, query: &str) -> ClayResult<Vec<Resource>>;

    // workbooks
    async fn create_workbook(
        &self,
        workspace_id: u64,
        name: &str,
        auto_run: bool,
        parent_folder_id: Option<&str>,
    ) -> ClayResult<Workbook>;
    async fn delete_workbook(&self, workbook_id: &str) -> ClayResult<()>;

    // tables
    async fn get_table(&self, table_id: &str) -> ClayResult<TableInfo>;
    async fn record_ids(&self, table_id: &str, view_id: &str) -> ClayResult<Vec<String>>;
    async fn read_records(&self, table_id: &str, record_ids: &[String]) -> ClayResult<Vec<Row>>;
    async fn add_rows(&self, table_id: &str, rows: &[NewRow]) -> ClayResult<Vec<Row>>;
    async fn delete_rows(&self, table_id: &str, record_ids: &[String]) -> ClayResult<()>;
    async fn delete_all_rows(&self, table_id: &str, view_id: Option<&str>) -> ClayResult<()>;
    async fn run_column(
        &self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
        force: bool,
    ) -> ClayResult<RunResult>;
    /// The most `run_column` with these arguments could spend: credits per row of every
    /// named enrichment column × rows targeted. Budgets reserve this before the run. A
    /// backend that cannot tell says `Unavailable`, and a budgeted plugin's run is refused.
    async fn estimate_run_cost(
        &self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
    ) -> ClayResult<f64> {
        // From what every backend exposes: each column's credits per row × the rows targeted.
        let table = self.get_table(table_id).await?;
        let mut per_row = 0.0;
        for id in field_ids {
            let field = table
                .field(id)
                .ok_or_else(|| ClayError::NotFound(format!("field {id} in table {table_id}")))?;
            let cost = field.action.as_ref().and_then(|a| a.credit_cost).ok_or_else(|| {
                ClayError::Unavailable(format!(
                    "Clay does not say what column `{}` costs per row, so a credit budget cannot be enforced on it",
                    field.name
                ))
            })?;
            per_row += cost;
        }
        let rows = match target {
            RunTarget::Records(ids) => ids.len() as u64,
            RunTarget::ViewTop {
                view_id,
                num_records,
            } => {
                let all = self.record_ids(table_id, view_id).await?.len() as u64;
                num_records.map_or(all, |n| all.min(u64::from(n)))
            }
        };
        Ok(per_row * rows as f64)
    }
    async fn count_rows(&self, table_id: &str) -> ClayResult<u64>;
    async fn list_sources(&self, table_id: &str) -> ClayResult<Vec<Source>>;
    async fn add_webhook_source(&self, table_id: &str, name: &str) -> ClayResult<Source>;
    async fn delete_source(&self, source_id: &str, delete_records: bool) -> ClayResult<()>;

    // credits
    async fn permissions(&self, workspace_id: u64) -> ClayResult<Vec<Member>>;
    async fn workspace_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
    ) -> ClayResult<CreditReport>;
    async fn user_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
        owner_ids: &[String],
    ) -> ClayResult<CreditReport>;
    /// What each member spent, one entry per id in order. Clay's workspace report is by
    /// resource, so this is one `ownerIds`-filtered report per member (a few at a time, so
    /// the backend's rate limiter paces them), every credit counted: attributed to a
    /// resource or not.
    async fn member_usage(
        &self,
        workspace_id: u64,
        range: TimeRange,
        user_ids: &[String],
    ) -> ClayResult<Vec<MemberUsage>> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        // Owned ids: a closure over borrowed ones is not `Send` for every lifetime.
        stream::iter(user_ids.iter().cloned())
            .map(move |id| async move {
                let report = self
                    .user_report(workspace_id, range, std::slice::from_ref(&id))
                    .await?;
                Ok::<_, ClayError>(MemberUsage {
                    user_id: id,
                    credits: report.entities.iter().map(|e| e.credits).sum::<f64>()
                        + report.unattributed_credits,
                    action_executions: report
                        .entities
                        .iter()
                        .map(|e| e.action_executions)
                        .sum::<u64>()
                        + report.unattributed_action_executions,
                })
            })
            .buffered(MEMBER_USAGE_CONCURRENCY)
            .try_collect()
            .await
    }
    async fn integration_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
    ) -> ClayResult<CreditReport>;
    async fn integration_specific_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
        integration_ids: &[String],
    ) -> ClayResult<CreditReport>;
    async fn user_resources(
        &self,
        workspace_id: u64,
        owner_ids: &[String],
    ) -> ClayResult<Vec<Resource>>;
    async fn integrations(&self, workspace_id: u64) -> ClayResult<Vec<Integration>>;
    async fn integration_type(&self, type_id: &str) -> ClayResult<IntegrationType>;
    async fn integration_types(&self) -> ClayResult<Vec<IntegrationType>>;

    // host-only: applying transformer effects
    /// Sets cells on existing rows; cells not named keep their values.
    async fn update_rows(&self, table_id: &str, updates: &[RowUpdate]) -> ClayResult<()>;
    /// Applies one batch of a journaled run together with its journal mark, when this
    /// backend keeps the journal (`mark.journal`) in its own database: changes and mark
    /// commit in one transaction, and the answer is `true`. Otherwise it does nothing and
    /// answers `false`; the caller then journals the effects, applies them, and marks them.
    async fn apply_journaled(
        &self,
        _table_id: &str,
        _updates: &[RowUpdate],
        _deletes: &[String],
        _mark: &JournalMark,
    ) -> ClayResult<bool> {
        Ok(false)
    }
    /// Finds a table by id (`t_…`) or, failing that, by exact name.
    async fn resolve_table(&self, id_or_name: &str) -> ClayResult<TableInfo>;
}
