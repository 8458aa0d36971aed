//! Reports as documents: an audit as Markdown or a self-contained HTML page with charts
//! (`kiln audit --format`, and `kiln serve`'s report pages), and a transform run as an HTML
//! page. Gathering (credit data from the backend) is separate from rendering, so the
//! renderers are pure functions of their document and easy to test.

mod chart;
mod html;
mod markdown;
mod run;
pub mod text;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::backend::model::{TimeRange, Timestamp};
use crate::backend::{Clay, ClayResult};
use crate::invocation::{AuditReport, AuditScope, Finding, Severity};

pub use chart::esc;
pub use html::render as audit_html;
pub use markdown::render as audit_markdown;
pub use run::render as run_html;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct AuditDocument {
    pub plugin: String,
    pub workspace: String,
    pub scope: AuditScope,
    pub report: AuditReport,
    pub credits: Option<CreditPicture>,
}

/// Where the pool's credits went over the audit's period.
#[derive(Debug, Clone, Serialize)]
pub struct CreditPicture {
    /// The start of each day of the period.
    pub days: Vec<Timestamp>,
    /// The chart's series: the top spenders, largest first, each with one value per day,
    /// then everyone else (and spending no member answers for) as one.
    pub members: Vec<MemberBurn>,
    /// Every member who spent, with their period total, largest first.
    pub member_totals: Vec<(String, f64)>,
    /// Integration types by spend, largest first.
    pub integrations: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberBurn {
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
pub fn by_severity(report: &AuditReport) -> Vec<(Severity, Vec<&Finding>)> {
    let mut groups: BTreeMap<std::cmp::Reverse<Severity>, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        groups
            .entry(std::cmp::Reverse(f.severity))
            .or_default()
            .push(f);
    }
    groups.into_iter().map(|(s, f)| (s.0, f)).collect()
}

/// Reads the period's credit use from the backend. Clay's workspace report is by folder and
/// workbook, so what members spent comes from per-member reports: one for the period for
/// every member (the totals), then one a day for the few members the chart shows on their
/// own; one workspace report a day gives the pool's daily total, and the rest of it is
/// everyone else's. Calls: members + (shown + 1) × days, bounded whatever the workspace.
pub async fn credit_picture(
    backend: &Arc<dyn Clay>,
    scope: &AuditScope,
) -> ClayResult<CreditPicture> {
    let ws = scope.workspace_id;
    let mut days = Vec::new();
    let mut start = scope.period.start;
    while start < scope.period.end {
        days.push(start);
        start += DAY_MS;
    }
    let members = backend.permissions(ws).await?;
    let named: Vec<(String, String)> = members
        .iter()
        .filter_map(|m| Some((m.user_id.clone()?, m.name.clone())))
        .collect();
    let ids: Vec<String> = named.iter().map(|(id, _)| id.clone()).collect();
    let mut totals: Vec<(String, String, f64)> = Vec::new();
    for chunk in ids.chunks(crate::capabilities::args::MAX_MEMBER_USAGE_IDS) {
        for u in backend.member_usage(ws, scope.period, chunk).await? {
            let name = named
                .iter()
                .find(|(id, _)| *id == u.user_id)
                .map_or_else(|| u.user_id.clone(), |(_, n)| n.clone());
            totals.push((u.user_id, name, u.credits));
        }
    }
    totals.retain(|t| t.2 > 0.0);
    totals.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    let shown = totals.len().min(chart::SHOWN);

    let mut series: Vec<MemberBurn> = totals[..shown]
        .iter()
        .map(|(_, name, _)| MemberBurn {
            name: name.clone(),
            daily: vec![0.0; days.len()],
        })
        .collect();
    let mut rest = vec![0.0; days.len()];
    for (i, day) in days.iter().enumerate() {
        let range = TimeRange {
            start: *day,
            end: (*day + DAY_MS).min(scope.period.end),
        };
        let all = backend.workspace_report(ws, range).await?;
        let mut left =
            all.entities.iter().map(|e| e.credits).sum::<f64>() + all.unattributed_credits;
        for (burn, (id, _, _)) in series.iter_mut().zip(&totals) {
            let theirs = backend
                .member_usage(ws, range, std::slice::from_ref(id))
                .await?
                .first()
                .map_or(0.0, |u| u.credits);
            burn.daily[i] = theirs;
            left -= theirs;
        }
        rest[i] = left.max(0.0);
    }
    if rest.iter().any(|v| *v > 0.0) {
        let others = totals.len() - shown;
        series.push(MemberBurn {
            name: if others == 0 {
                "no member (unattributed)".to_string()
            } else {
                format!("{others} other members and unattributed")
            },
            daily: rest,
        });
    }
    let member_totals = totals.into_iter().map(|(_, name, c)| (name, c)).collect();

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
        members: series,
        member_totals,
        integrations,
    })
}

/// A day as `YYYY-MM-DD` (UTC).
pub fn date(ms: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::{Subject, SubjectKind};

    pub fn document(message: &str) -> AuditDocument {
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
                member_totals: vec![("Jonas <Berg>".into(), 40.0), ("Maya".into(), 6.0)],
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
