//! `kiln audit --format …`: the audit as a table, JSON, Markdown or a self-contained HTML
//! page with charts. Gathering (credit data from the backend) is separate from rendering, so
//! the renderers are pure functions of an [`AuditDocument`] and easy to test.

mod chart;
mod html;
mod markdown;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use clap::ValueEnum;
use kiln_host::Clay;
use kiln_host::backend::model::{TimeRange, Timestamp};
use kiln_host::invocation::{AuditReport, AuditScope, Finding, Severity};
use serde::Serialize;

pub(crate) use html::render as html;
pub(crate) use markdown::render as markdown;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// How `kiln audit` presents its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A readable table on the terminal.
    Table,
    /// The scope and report as JSON.
    Json,
    /// Markdown, for a ticket or a pull request.
    Md,
    /// One self-contained HTML file with charts (use with --out).
    Html,
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuditDocument {
    pub plugin: String,
    pub workspace: String,
    pub scope: AuditScope,
    pub report: AuditReport,
    pub credits: Option<CreditPicture>,
}

/// Where the pool's credits went over the audit's period.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CreditPicture {
    /// The start of each day of the period.
    pub days: Vec<Timestamp>,
    /// Members by total spend, largest first, each with one value per day.
    pub members: Vec<MemberBurn>,
    /// Integration types by spend, largest first.
    pub integrations: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MemberBurn {
    pub name: String,
    pub daily: Vec<f64>,
}

impl MemberBurn {
    pub fn total(&self) -> f64 {
        self.daily.iter().sum()
    }
}

impl CreditPicture {
    pub fn total(&self) -> f64 {
        self.members.iter().map(MemberBurn::total).sum()
    }
}

/// Findings grouped by severity, most severe first, in the plugin's order within a group.
pub(crate) fn by_severity(report: &AuditReport) -> Vec<(Severity, Vec<&Finding>)> {
    let mut groups: BTreeMap<std::cmp::Reverse<Severity>, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        groups
            .entry(std::cmp::Reverse(f.severity))
            .or_default()
            .push(f);
    }
    groups.into_iter().map(|(s, f)| (s.0, f)).collect()
}

/// Reads the period's credit use from the backend: one workspace report per day (Clay's
/// reports take any range, so a day is a range) and one integration report for the period.
pub(crate) async fn credit_picture(
    backend: &Arc<dyn Clay>,
    scope: &AuditScope,
) -> anyhow::Result<CreditPicture> {
    let ws = scope.workspace_id;
    let mut days = Vec::new();
    let mut start = scope.period.start;
    while start < scope.period.end {
        days.push(start);
        start += DAY_MS;
    }
    let mut per_member: BTreeMap<String, (String, Vec<f64>)> = BTreeMap::new();
    for (i, day) in days.iter().enumerate() {
        let range = TimeRange {
            start: *day,
            end: (*day + DAY_MS).min(scope.period.end),
        };
        let report = backend.workspace_report(ws, range).await?;
        for e in report.entities {
            let entry = per_member
                .entry(e.id.clone())
                .or_insert_with(|| (e.name.clone(), vec![0.0; days.len()]));
            entry.1[i] += e.credits;
        }
        if report.unattributed_credits > 0.0 {
            let entry = per_member
                .entry(String::new())
                .or_insert_with(|| ("unattributed".to_string(), vec![0.0; days.len()]));
            entry.1[i] += report.unattributed_credits;
        }
    }
    let mut members: Vec<MemberBurn> = per_member
        .into_values()
        .map(|(name, daily)| MemberBurn { name, daily })
        .collect();
    members.sort_by(|a, b| b.total().total_cmp(&a.total()));

    let mut integrations: Vec<(String, f64)> = backend
        .integration_report(ws, scope.period)
        .await?
        .entities
        .into_iter()
        .map(|e| (e.name, e.credits))
        .collect();
    integrations.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(CreditPicture {
        days,
        members,
        integrations,
    })
}

/// Prints (or writes to `out`) the audit in `format`. Credit data is read only for the
/// formats that show it.
pub(crate) async fn present(
    backend: &Arc<dyn Clay>,
    plugin: &str,
    scope: AuditScope,
    report: AuditReport,
    format: Format,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let text = match format {
        Format::Table => {
            if out.is_some() {
                anyhow::bail!(
                    "--out needs --format json, md or html; the table is for the terminal"
                );
            }
            super::output::print_audit(plugin, &report);
            return Ok(());
        }
        Format::Json => {
            let mut s = super::output::json_text(&serde_json::json!({
                "plugin": plugin,
                "scope": scope,
                "report": report,
            }))?;
            s.push('\n');
            s
        }
        Format::Md | Format::Html => {
            let workspace = backend
                .list_workspaces()
                .await?
                .into_iter()
                .find(|w| w.id == scope.workspace_id)
                .map(|w| w.name)
                .unwrap_or_else(|| format!("workspace {}", scope.workspace_id));
            let credits = credit_picture(backend, &scope)
                .await
                .context("reading the period's credit reports for the report")?;
            let doc = AuditDocument {
                plugin: plugin.to_string(),
                workspace,
                scope,
                report,
                credits: Some(credits),
            };
            if format == Format::Md {
                markdown(&doc)
            } else {
                html(&doc)
            }
        }
    };
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("writing the report to {}", path.display()))?;
            eprintln!("kiln: report written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// A day as `YYYY-MM-DD` (UTC).
pub(crate) fn date(ms: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| format!("{ms} ms"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kiln_host::invocation::{Subject, SubjectKind};

    pub(crate) fn document(message: &str) -> AuditDocument {
        let finding = |severity, code: &str, message: &str| Finding {
            severity,
            code: code.to_string(),
            subject: Subject {
                kind: SubjectKind::Member,
                id: "1001".into(),
                name: "Jonas <Berg>".into(),
            },
            message: message.to_string(),
            evidence: vec![("credits".into(), "1 < 2 & 3".into())],
        };
        let day0 = 1_795_000_000_000 - 3 * DAY_MS;
        AuditDocument {
            plugin: "seat-audit".into(),
            workspace: "Northwind & Co".into(),
            scope: AuditScope {
                workspace_id: 1,
                period: TimeRange {
                    start: day0,
                    end: day0 + 3 * DAY_MS,
                },
                now: day0 + 3 * DAY_MS,
            },
            report: AuditReport {
                summary: "3 findings".into(),
                findings: vec![
                    finding(Severity::Info, "seat.roles", "8 members"),
                    finding(Severity::Critical, "integration.removed-owner", message),
                    finding(Severity::Medium, "seat.inactive", "idle"),
                ],
            },
            credits: Some(CreditPicture {
                days: vec![day0, day0 + DAY_MS, day0 + 2 * DAY_MS],
                members: vec![
                    MemberBurn {
                        name: "Jonas <Berg>".into(),
                        daily: vec![10.0, 0.0, 30.0],
                    },
                    MemberBurn {
                        name: "Maya".into(),
                        daily: vec![1.0, 2.0, 3.0],
                    },
                ],
                integrations: vec![("Hunter <io>".into(), 40.0), ("Clearbit".into(), 6.0)],
            }),
        }
    }

    #[test]
    fn findings_are_grouped_most_severe_first() {
        let doc = document("x");
        let groups: Vec<Severity> = by_severity(&doc.report).iter().map(|g| g.0).collect();
        assert_eq!(
            groups,
            vec![Severity::Critical, Severity::Medium, Severity::Info]
        );
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_000_000_000), "2026-11-18");
        assert_eq!(date(951_782_400_000), "2000-02-29");
    }
}
