//! `kiln replay`: a recorded run or audit, run again against its recording alone — the
//! recorded plugin or another version of it — and compared with what was recorded.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::backend::model::Row;
use crate::plugin::Plugin;
use crate::recording::{Entry, Kind, Recorded, Replay};

use super::{
    AuditScope, AuditorInstance, InvocationError, InvocationOptions, Limits, TransformContext,
    TransformerInstance,
};

/// A row whose outcome the replay did not reproduce.
#[derive(Debug, Clone, Serialize)]
pub struct RowDifference {
    pub batch: u32,
    pub row_id: String,
    pub recorded: Value,
    pub replayed: Value,
}

/// A call into the plugin that failed in one and not the other, or failed differently.
#[derive(Debug, Clone, Serialize)]
pub struct CallDifference {
    /// The batch, or `None` for an audit.
    pub batch: Option<u32>,
    pub recorded: String,
    pub replayed: String,
}

/// What a replay found.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub kind: Kind,
    pub plugin: String,
    pub plugin_sha256: String,
    pub recorded_plugin_sha256: String,
    pub batches: u32,
    pub rows: u64,
    /// Rows whose outcome came out exactly as recorded.
    pub rows_same: u64,
    pub differences: Vec<RowDifference>,
    pub failures: Vec<CallDifference>,
    /// An audit's recorded and replayed reports, when they differ.
    pub audit: Option<(Value, Value)>,
    /// Calls the plugin made that the recording does not have (each answered with an error).
    pub missing_calls: Vec<String>,
    /// Recorded calls the replay did not make.
    pub unused_calls: usize,
    /// Whether the recording ended with its `end` line (a run that died leaves it out).
    pub complete: bool,
}

impl ReplayReport {
    /// Nothing differs and every call was in the recording.
    pub fn identical(&self) -> bool {
        self.differences.is_empty()
            && self.failures.is_empty()
            && self.audit.is_none()
            && self.missing_calls.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the recording is of a {recorded:?}, but {plugin} is a {world}")]
    WrongKind {
        recorded: Kind,
        plugin: String,
        world: crate::plugin::World,
    },
    #[error("the recording's entry for batch {batch} does not read: {why}")]
    Entry { batch: u32, why: String },
    #[error("{0}")]
    Invocation(#[from] InvocationError),
}

/// Runs `plugin` against `recorded` (no backend, no network): every call to Clay is answered
/// from the recording, every batch is handed over as recorded, and what comes out is
/// compared with what was recorded. `limits` overrides the plugin's own.
pub async fn replay(
    plugin: &Plugin,
    recorded: &Recorded,
    limits: Option<Limits>,
) -> Result<ReplayReport, ReplayError> {
    let header = &recorded.header;
    let expected = match header.kind {
        Kind::Transform => crate::plugin::World::Transformer,
        Kind::Audit => crate::plugin::World::Auditor,
    };
    if plugin.world() != expected {
        return Err(ReplayError::WrongKind {
            recorded: header.kind,
            plugin: plugin.name().to_string(),
            world: plugin.world(),
        });
    }
    let backend = Arc::new(Replay::new(recorded.calls()));
    let options = InvocationOptions {
        config: header.config.clone(),
        limits,
        dry_run: header.dry_run,
        credit_budget: header.credit_budget,
        ..InvocationOptions::default()
    };
    let mut report = ReplayReport {
        kind: header.kind,
        plugin: plugin.name().to_string(),
        plugin_sha256: plugin.info().sha256.clone(),
        recorded_plugin_sha256: header.plugin_sha256.clone(),
        batches: 0,
        rows: 0,
        rows_same: 0,
        differences: Vec::new(),
        failures: Vec::new(),
        audit: None,
        missing_calls: Vec::new(),
        unused_calls: 0,
        complete: recorded.complete,
    };
    match header.kind {
        Kind::Transform => {
            transform(plugin, backend.clone(), options, recorded, &mut report).await?
        }
        Kind::Audit => audit(plugin, backend.clone(), options, recorded, &mut report).await?,
    }
    report.missing_calls = backend.missing();
    report.unused_calls = backend.unused();
    Ok(report)
}

async fn transform(
    plugin: &Plugin,
    backend: Arc<Replay>,
    options: InvocationOptions,
    recorded: &Recorded,
    report: &mut ReplayReport,
) -> Result<(), ReplayError> {
    let mut instance: Option<TransformerInstance> = None;
    for (at, entry) in recorded.entries.iter().enumerate() {
        let Entry::Batch {
            index,
            context,
            rows,
        } = entry
        else {
            continue;
        };
        let batch = *index;
        let bad = |why: String| ReplayError::Entry { batch, why };
        let ctx: TransformContext =
            serde_json::from_value(context.clone()).map_err(|e| bad(e.to_string()))?;
        let rows: Vec<Row> =
            serde_json::from_value(rows.clone()).map_err(|e| bad(e.to_string()))?;
        // Its answer is the next `outcomes` entry for this batch (calls come in between).
        let answer = recorded.entries[at + 1..].iter().find_map(|e| match e {
            Entry::Outcomes {
                index,
                outcomes,
                error,
            } if *index == batch => Some((outcomes.clone(), error.clone())),
            _ => None,
        });
        report.batches += 1;
        report.rows += rows.len() as u64;
        // A failed call leaves an instance unusable: the next batch gets a new one.
        let mut current = match instance.take() {
            Some(i) => i,
            None => TransformerInstance::new(plugin, backend.clone(), options.clone()).await?,
        };
        let replayed = current.transform(&rows, &ctx).await;
        match (answer, replayed) {
            (None, _) => {
                // The run died before it recorded the answer: nothing to compare against.
            }
            (Some((Some(recorded), _)), Ok(outcomes)) => {
                let replayed = serde_json::to_value(&outcomes).unwrap_or_default();
                compare_rows(batch, &rows, &recorded, &replayed, report);
                instance = Some(current);
            }
            (Some((_, Some(recorded))), Err(e)) => {
                let replayed = e.to_string();
                if replayed != recorded {
                    report.failures.push(CallDifference {
                        batch: Some(batch),
                        recorded,
                        replayed,
                    });
                }
            }
            (Some((recorded, error)), replayed) => {
                let describe_recorded = match (recorded, error) {
                    (_, Some(e)) => format!("failed: {e}"),
                    (Some(v), None) => format!("answered {} outcomes", array_len(&v)),
                    (None, None) => "no answer".to_string(),
                };
                let describe_replayed = match &replayed {
                    Ok(o) => format!("answered {} outcomes", o.len()),
                    Err(e) => format!("failed: {e}"),
                };
                report.failures.push(CallDifference {
                    batch: Some(batch),
                    recorded: describe_recorded,
                    replayed: describe_replayed,
                });
                if replayed.is_ok() {
                    instance = Some(current);
                }
            }
        }
    }
    Ok(())
}

fn array_len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

/// Row by row: outcomes are positional, one per row.
fn compare_rows(
    batch: u32,
    rows: &[Row],
    recorded: &Value,
    replayed: &Value,
    report: &mut ReplayReport,
) {
    let empty = Vec::new();
    let (a, b) = (
        recorded.as_array().unwrap_or(&empty),
        replayed.as_array().unwrap_or(&empty),
    );
    for (i, row) in rows.iter().enumerate() {
        let (r, p) = (
            a.get(i).cloned().unwrap_or(Value::Null),
            b.get(i).cloned().unwrap_or(Value::Null),
        );
        if r == p {
            report.rows_same += 1;
        } else {
            report.differences.push(RowDifference {
                batch,
                row_id: row.id.clone(),
                recorded: r,
                replayed: p,
            });
        }
    }
}

async fn audit(
    plugin: &Plugin,
    backend: Arc<Replay>,
    options: InvocationOptions,
    recorded: &Recorded,
    report: &mut ReplayReport,
) -> Result<(), ReplayError> {
    for entry in &recorded.entries {
        let Entry::Audit {
            scope,
            report: recorded_report,
            error,
        } = entry
        else {
            continue;
        };
        let scope: AuditScope =
            serde_json::from_value(scope.clone()).map_err(|e| ReplayError::Entry {
                batch: 0,
                why: e.to_string(),
            })?;
        report.batches += 1;
        let replayed = match AuditorInstance::new(plugin, backend.clone(), options.clone()).await {
            Ok(mut instance) => instance.audit(&scope).await,
            Err(e) => Err(e),
        };
        match (recorded_report, error, replayed) {
            (Some(recorded), _, Ok(r)) => {
                let replayed = serde_json::to_value(&r).unwrap_or_default();
                if *recorded != replayed {
                    report.audit = Some((recorded.clone(), replayed));
                }
            }
            (_, Some(recorded), Err(e)) if *recorded == e.to_string() => {}
            (recorded, error, replayed) => report.failures.push(CallDifference {
                batch: None,
                recorded: match (recorded, error) {
                    (_, Some(e)) => format!("failed: {e}"),
                    _ => "answered a report".to_string(),
                },
                replayed: match replayed {
                    Ok(_) => "answered a report".to_string(),
                    Err(e) => format!("failed: {e}"),
                },
            }),
        }
    }
    Ok(())
}
