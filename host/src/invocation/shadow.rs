//! Shadow runs: a candidate plugin run beside a baseline over the same batches (the
//! candidate never writes), and what differs between them, row by row or finding by finding.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::backend::Clay;
use crate::backend::model::CellValue;
use crate::plugin::Plugin;

use super::{
    AuditError, AuditOptions, AuditReport, CellChange, Finding, InvocationOptions, TransformReport,
    run_audit,
};

/// What one row came to under one plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "effect", content = "detail", rename_all = "snake_case")]
pub enum RowEffect {
    Unchanged,
    /// The cells it set, with their new values.
    Changed(Vec<(String, CellValue)>),
    Deleted,
    Failed(String),
}

/// How two effects on a row differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    /// Both changed (or deleted) the row, differently.
    Differently,
    OnlyBaselineChanged,
    OnlyCandidateChanged,
    OnlyBaselineFailed,
    OnlyCandidateFailed,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowDiff {
    pub row_id: String,
    pub difference: Difference,
    pub baseline: RowEffect,
    pub candidate: RowEffect,
}

/// One side of a shadow run.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub plugin: String,
    pub changed: u64,
    pub deleted: u64,
    pub failed: u64,
    pub unchanged: u64,
    /// The limit or error that failed a batch, if any (`deadline`, `memory`…).
    pub limits_hit: Vec<String>,
    /// Time in the plugin and checking its outcomes, in ms.
    pub plugin_ms: f64,
    pub host_calls: u64,
    pub credits_spent: f64,
    /// Whether its effects were applied (the candidate's never are).
    pub applied: bool,
}

impl Side {
    fn of(r: &TransformReport, applied: bool) -> Self {
        Self {
            plugin: r.plugin.clone(),
            changed: r.rows_changed,
            deleted: r.rows_deleted,
            failed: r.rows_failed,
            unchanged: r.rows_unchanged,
            limits_hit: r
                .failure
                .iter()
                .map(|f| f.limit.clone().unwrap_or_else(|| f.error.clone()))
                .collect(),
            plugin_ms: r.timings.guest_ms + r.timings.plan_ms,
            host_calls: r.host_calls,
            credits_spent: r.credits_spent,
            applied,
        }
    }
}

/// A transformer shadow run's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowReport {
    pub table_id: String,
    pub table_name: String,
    pub rows: u64,
    /// Rows both plugins treated the same way.
    pub rows_same: u64,
    pub baseline: Side,
    pub candidate: Side,
    pub differences: Vec<RowDiff>,
}

impl ShadowReport {
    /// Compares a run's report with its shadow's. `None` when the run had no shadow.
    pub fn of(run: &TransformReport) -> Option<Self> {
        let candidate = run.shadow.as_deref()?;
        Some(compare(run, candidate))
    }

    pub fn identical(&self) -> bool {
        self.differences.is_empty()
    }
}

fn effects(r: &TransformReport) -> HashMap<&str, RowEffect> {
    let mut by_row = HashMap::new();
    for c in &r.changes {
        by_row.insert(c.row_id.as_str(), RowEffect::Changed(cells(&c.cells)));
    }
    for id in &r.deleted {
        by_row.insert(id.as_str(), RowEffect::Deleted);
    }
    for e in &r.errors {
        by_row.insert(e.row_id.as_str(), RowEffect::Failed(e.message.clone()));
    }
    by_row
}

fn cells(changes: &[CellChange]) -> Vec<(String, CellValue)> {
    let mut cells: Vec<_> = changes
        .iter()
        .map(|c| (c.field.clone(), c.after.clone()))
        .collect();
    cells.sort_by(|a, b| a.0.cmp(&b.0));
    cells
}

fn compare(baseline: &TransformReport, candidate: &TransformReport) -> ShadowReport {
    let (a, b) = (effects(baseline), effects(candidate));
    // Rows in the order the baseline met them, then any only the candidate named.
    let mut order: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in baseline
        .changes
        .iter()
        .map(|c| c.row_id.as_str())
        .chain(baseline.deleted.iter().map(String::as_str))
        .chain(baseline.errors.iter().map(|e| e.row_id.as_str()))
        .chain(candidate.changes.iter().map(|c| c.row_id.as_str()))
        .chain(candidate.deleted.iter().map(String::as_str))
        .chain(candidate.errors.iter().map(|e| e.row_id.as_str()))
    {
        if seen.insert(id) {
            order.push(id);
        }
    }
    let mut differences = Vec::new();
    for id in order {
        let x = a.get(id).cloned().unwrap_or(RowEffect::Unchanged);
        let y = b.get(id).cloned().unwrap_or(RowEffect::Unchanged);
        if x == y {
            continue;
        }
        use RowEffect::*;
        let difference = match (&x, &y) {
            (Failed(_), Failed(_)) | (Changed(_) | Deleted, Changed(_) | Deleted) => {
                Difference::Differently
            }
            (Failed(_), _) => Difference::OnlyBaselineFailed,
            (_, Failed(_)) => Difference::OnlyCandidateFailed,
            (Unchanged, _) => Difference::OnlyCandidateChanged,
            (_, Unchanged) => Difference::OnlyBaselineChanged,
        };
        differences.push(RowDiff {
            row_id: id.to_string(),
            difference,
            baseline: x,
            candidate: y,
        });
    }
    ShadowReport {
        table_id: baseline.table_id.clone(),
        table_name: baseline.table_name.clone(),
        rows: baseline.rows_seen,
        rows_same: baseline.rows_seen.saturating_sub(differences.len() as u64),
        baseline: Side::of(baseline, !baseline.dry_run),
        candidate: Side::of(candidate, false),
        differences,
    }
}

/// One auditor's side of a shadow audit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditSide {
    pub plugin: String,
    pub summary: Option<String>,
    pub findings: usize,
    pub error: Option<String>,
    pub elapsed_ms: f64,
}

/// An auditor shadow run's comparison: findings only one of them reported.
#[derive(Debug, Clone, Serialize)]
pub struct AuditShadowReport {
    pub baseline: AuditSide,
    pub candidate: AuditSide,
    pub findings_same: usize,
    pub only_baseline: Vec<Finding>,
    pub only_candidate: Vec<Finding>,
}

impl AuditShadowReport {
    pub fn identical(&self) -> bool {
        self.only_baseline.is_empty()
            && self.only_candidate.is_empty()
            && self.baseline.error == self.candidate.error
    }
}

/// Runs two auditors over the same scope (the candidate as a dry run: it writes nothing and
/// spends nothing) and compares their findings.
pub async fn shadow_audit(
    baseline: &Plugin,
    candidate: &Plugin,
    backend: Arc<dyn Clay>,
    options: AuditOptions,
    candidate_invocation: InvocationOptions,
) -> Result<AuditShadowReport, AuditError> {
    let now = Some(options.now.unwrap_or_else(super::now_ms));
    let candidate_options = AuditOptions {
        invocation: InvocationOptions {
            dry_run: true,
            ..candidate_invocation
        },
        now,
        period: options.period,
        workspace_id: options.workspace_id,
    };
    let baseline_options = AuditOptions { now, ..options };
    let started = Instant::now();
    let a = run_audit(baseline, backend.clone(), baseline_options).await;
    let a_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let b = run_audit(candidate, backend, candidate_options).await;
    let b_ms = started.elapsed().as_secs_f64() * 1000.0;
    let side =
        |plugin: &Plugin, r: &Result<(super::AuditScope, AuditReport), AuditError>, ms| AuditSide {
            plugin: plugin.name().to_string(),
            summary: r.as_ref().ok().map(|(_, r)| r.summary.clone()),
            findings: r.as_ref().map_or(0, |(_, r)| r.findings.len()),
            error: r.as_ref().err().map(ToString::to_string),
            elapsed_ms: ms,
        };
    let empty = Vec::new();
    let fa = a.as_ref().map_or(&empty, |(_, r)| &r.findings);
    let fb = b.as_ref().map_or(&empty, |(_, r)| &r.findings);
    let only_baseline: Vec<Finding> = fa.iter().filter(|f| !fb.contains(f)).cloned().collect();
    let only_candidate: Vec<Finding> = fb.iter().filter(|f| !fa.contains(f)).cloned().collect();
    Ok(AuditShadowReport {
        baseline: side(baseline, &a, a_ms),
        candidate: side(candidate, &b, b_ms),
        findings_same: fa.len() - only_baseline.len(),
        only_baseline,
        only_candidate,
    })
}
