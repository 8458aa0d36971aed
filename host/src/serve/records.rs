//! What a tenant can read of its own records: its audit trail and its credit budgets. Both
//! live in the tenant's own workspace or state file (`ServeConfig::check` refuses two tenants
//! sharing one), so a tenant's token reaches nothing of another's.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, Tenant};
use crate::trail::Filter;

/// Most trail entries one request returns.
const MAX_TRAIL_ENTRIES: usize = 1000;
const DEFAULT_TRAIL_ENTRIES: usize = 100;

/// `GET /v1/trail`'s query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrailQuery {
    /// The latest this many entries (default 100, at most 1,000).
    limit: Option<usize>,
    /// Entries at or after this time, ms since the epoch.
    since_ms: Option<i64>,
    /// By the plugin's name.
    plugin: Option<String>,
    /// By the component's SHA-256.
    plugin_sha256: Option<String>,
    /// One invocation's entries (a run's or a row batch's id).
    invocation: Option<String>,
}

fn no_records(tenant: &Tenant, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "tenant `{}` keeps no {what}: it needs a workspace, or a state file beside clay, in serve.toml",
            tenant.config.id
        ),
    )
}

/// SQLite reads off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reading the records failed",
        )),
    }
}

/// The tenant's audit trail, latest entries last.
pub(super) async fn trail(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<TrailQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let Query(query) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{}; the trail takes limit, since_ms, plugin, plugin_sha256 and invocation",
                e.body_text()
            ),
        )
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_TRAIL_ENTRIES);
    if limit == 0 || limit > MAX_TRAIL_ENTRIES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1 to {MAX_TRAIL_ENTRIES}"),
        ));
    }
    let trail = tenant
        .trail
        .clone()
        .ok_or_else(|| no_records(&tenant, "audit trail"))?;
    let filter = Filter {
        plugin: query.plugin,
        plugin_sha256: query.plugin_sha256.map(|s| s.to_ascii_lowercase()),
        invocation_id: query.invocation,
        since_ms: query.since_ms,
        limit: Some(limit),
    };
    let entries = blocking(move || trail.entries(&filter).map_err(|e| e.to_string())).await?;
    Ok(axum::Json(json!({ "entries": entries })).into_response())
}

/// The tenant's budgets (its credits per period first among them, as `pool`) with what each
/// period has used, and what it spent in the last 30 days.
pub(super) async fn budgets(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let ledger = tenant
        .ledger
        .clone()
        .ok_or_else(|| no_records(&tenant, "credit ledger"))?;
    let now = crate::invocation::now_ms();
    let (budgets, totals) = blocking(move || {
        let budgets = ledger.budgets(now).map_err(|e| e.to_string())?;
        let totals = ledger
            .totals(now - 30 * 24 * 3600 * 1000)
            .map_err(|e| e.to_string())?;
        Ok((budgets, totals))
    })
    .await?;
    Ok(axum::Json(json!({ "budgets": budgets, "last_30_days": totals })).into_response())
}
