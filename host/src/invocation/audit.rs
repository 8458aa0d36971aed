//! An auditor run over a workspace.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::backend::model::{TimeRange, Timestamp};
use crate::backend::{Clay, ClayError};
use crate::plugin::Plugin;

use super::{AuditReport, AuditScope, AuditorInstance, InvocationError, InvocationOptions};

pub struct AuditOptions {
    /// The workspace to audit; the backend's first workspace when none.
    pub workspace_id: Option<u64>,
    /// How far back the audit looks.
    pub period: Duration,
    /// The audit's notion of "now" (ms since epoch); the clock when none.
    pub now: Option<Timestamp>,
    pub invocation: InvocationOptions,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            workspace_id: None,
            period: Duration::from_secs(90 * 24 * 3600),
            now: None,
            invocation: InvocationOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Backend(#[from] ClayError),
    #[error("{0}")]
    Invocation(#[from] InvocationError),
}

pub fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

pub async fn run_audit(
    plugin: &Plugin,
    backend: Arc<dyn Clay>,
    options: AuditOptions,
) -> Result<(AuditScope, AuditReport), AuditError> {
    let workspace_id = match options.workspace_id {
        Some(id) => id,
        None => backend
            .list_workspaces()
            .await?
            .first()
            .map(|w| w.id)
            .ok_or_else(|| ClayError::NotFound("the account has no workspace".into()))?,
    };
    let now = options.now.unwrap_or_else(now_ms);
    let scope = AuditScope {
        workspace_id,
        period: TimeRange {
            start: now - options.period.as_millis() as Timestamp,
            end: now,
        },
        now,
    };
    let recorder = options.invocation.record.clone();
    let mut instance = AuditorInstance::new(plugin, backend, options.invocation).await?;
    let report = instance.audit(&scope).await;
    if let Some(recorder) = recorder {
        let (recorded, error) = match &report {
            Ok(r) => (Some(serde_json::to_value(r).unwrap_or_default()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        recorder.entry(&crate::recording::Entry::Audit {
            scope: serde_json::to_value(scope).unwrap_or_default(),
            report: recorded,
            error,
        });
    }
    let report = report?;
    instance.end_trail()?;
    Ok((scope, report))
}
