//! `GET /v1/runs/{id}/report.html`: a run's report as the page `kiln audit --format html`
//! writes (an audit, with its period's credit charts) or a transform run's page.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiError, AppState, job_view};
use crate::invocation::{AuditReport, AuditScope, TransformReport};
use crate::report;

/// What an audit job keeps as its report.
#[derive(Deserialize)]
struct AuditResult {
    scope: AuditScope,
    report: AuditReport,
}

pub(super) async fn run_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let view = job_view(&tenant, &id).await?;
    let Some(result) = view.report else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            match view.error {
                Some(error) => format!(
                    "run `{id}` has no report: it {}: {error}",
                    view.state.as_str()
                ),
                None => format!(
                    "run `{id}` has no report yet ({}); GET /v1/runs/{id}/events says when it ends",
                    view.state.as_str()
                ),
            },
        ));
    };
    let unreadable = |e: serde_json::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("run `{id}`'s report cannot be read back: {e}"),
        )
    };
    let page = if view.kind == "audit" {
        let AuditResult { scope, report } = serde_json::from_value(result).map_err(unreadable)?;
        let backend = &tenant.backend;
        let workspace = match backend.list_workspaces().await {
            Ok(list) => list
                .into_iter()
                .find(|w| w.id == scope.workspace_id)
                .map(|w| w.name),
            Err(_) => None,
        }
        .unwrap_or_else(|| format!("workspace {}", scope.workspace_id));
        // The charts are a view of the period; without them the findings still stand.
        let credits = match report::credit_picture(backend, &scope).await {
            Ok(credits) => Some(credits),
            Err(e) => {
                tracing::warn!(tenant = %tenant.config.id, run = %id, "the report page goes without its credit charts: {e}");
                None
            }
        };
        report::audit_html(&report::AuditDocument {
            plugin: view.plugin,
            workspace,
            scope,
            report,
            credits,
        })
    } else {
        let report: TransformReport = serde_json::from_value(result).map_err(unreadable)?;
        report::run_html(&report, view.state.as_str())
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            // The page is all inline; nothing a plugin wrote into it may load or run.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            ),
        ],
        page,
    )
        .into_response())
}
