//! What plugins hand back, in host terms (serializable for `--json` and reports).

use serde::{Deserialize, Serialize};

use crate::backend::model::{CellInput, TableInfo, TimeRange, Timestamp};
use crate::capabilities::bindings::types as w;
use crate::capabilities::convert;

/// What a transformer is told about the batch it gets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransformContext {
    pub workspace_id: u64,
    /// The table, as the plugin may see it.
    pub table: TableInfo,
    pub batch_index: u32,
    pub total_rows: u64,
    pub dry_run: bool,
}

/// The effect a transformer declared for one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", content = "detail", rename_all = "snake_case")]
pub enum Effect {
    Unchanged,
    SetCells(Vec<CellInput>),
    Delete,
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowOutcome {
    pub row_id: String,
    pub effect: Effect,
}

/// About how many bytes a report occupies.
pub(crate) fn report_size(r: &w::AuditReport) -> usize {
    r.summary.len()
        + r.findings
            .iter()
            .map(|f| {
                32 + f.code.len()
                    + f.subject.id.len()
                    + f.subject.name.len()
                    + f.message.len()
                    + f.evidence
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>()
            })
            .sum::<usize>()
}

pub(crate) fn context_to_wit(ctx: &TransformContext) -> w::TransformContext {
    w::TransformContext {
        workspace_id: ctx.workspace_id,
        table: convert::table_to_wit(ctx.table.clone()),
        batch_index: ctx.batch_index,
        total_rows: ctx.total_rows,
        dry_run: ctx.dry_run,
    }
}

/// What an auditor is asked to look at.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AuditScope {
    pub workspace_id: u64,
    pub period: TimeRange,
    pub now: Timestamp,
}

pub(crate) fn scope_to_wit(s: &AuditScope) -> w::AuditScope {
    w::AuditScope {
        workspace_id: s.workspace_id,
        period: w::TimeRange {
            start: s.period.start,
            end: s.period.end,
        },
        now: s.now,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Workspace,
    Member,
    Integration,
    Table,
    Field,
    Resource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: String,
    pub subject: Subject,
    pub message: String,
    pub evidence: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    pub summary: String,
    pub findings: Vec<Finding>,
}

pub(crate) fn report_from_wit(r: w::AuditReport) -> AuditReport {
    AuditReport {
        summary: r.summary,
        findings: r
            .findings
            .into_iter()
            .map(|f| Finding {
                severity: match f.severity {
                    w::Severity::Info => Severity::Info,
                    w::Severity::Low => Severity::Low,
                    w::Severity::Medium => Severity::Medium,
                    w::Severity::High => Severity::High,
                    w::Severity::Critical => Severity::Critical,
                },
                code: f.code,
                subject: Subject {
                    kind: match f.subject.kind {
                        w::SubjectKind::Workspace => SubjectKind::Workspace,
                        w::SubjectKind::Member => SubjectKind::Member,
                        w::SubjectKind::Integration => SubjectKind::Integration,
                        w::SubjectKind::Table => SubjectKind::Table,
                        w::SubjectKind::Field => SubjectKind::Field,
                        w::SubjectKind::Resource => SubjectKind::Resource,
                    },
                    id: f.subject.id,
                    name: f.subject.name,
                },
                message: f.message,
                evidence: f.evidence,
            })
            .collect(),
    }
}
