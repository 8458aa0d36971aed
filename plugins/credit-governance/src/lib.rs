//! credit-governance: the budget controls Clay's shared credit pool lacks — per-member caps,
//! each member's share, when the pool runs out at the current burn rate, what expires unused
//! at the period's end (Clay has no rollover), spend by integration and the costliest
//! enrichment columns.
//!
//! Config keys (defaults): `default_cap` (0 = no cap; credits per member per billing period),
//! `caps` (per-member overrides, `email=credits,email=credits`), `max_pool_share` (0.5),
//! `monthly_credits` (unset: the pool's remaining balance as Clay reports it), `billing_day`
//! (1, the day of the month a period starts, 1–28), `burn_window_days` (14), `top_columns` (5).
//!
//! Finding codes (this auditor owns `credits.*`): `credits.cap-exceeded`, `credits.cap-near`,
//! `credits.member-share`, `credits.heavy-spender`, `credits.unattributed`, `credits.forecast`,
//! `credits.pool-runs-out`, `credits.expiring-unused`, `credits.by-integration`,
//! `credits.by-resource`, `credits.costly-column`.
//!
//! Clay's workspace report is by folder and workbook, never by member: what each member
//! spent comes from one per-member report each (`credits::member_usage`).

use std::collections::{BTreeMap, HashMap};

use kiln_guest::clay::{credits, tables, workspaces};
use kiln_guest::time::DAY_MS;
use kiln_guest::types::{
    AuditScope, CreditReport, FieldKind, Member, MemberCredits, Severity, Subject, SubjectKind,
    TableInfo, TimeRange, Timestamp,
};
use kiln_guest::walk::all_tables;
use kiln_guest::{Auditor, Config, Error, Report, finding};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub default_cap: f64,
    /// Lower-cased email → cap.
    pub caps: BTreeMap<String, f64>,
    pub max_pool_share: f64,
    pub monthly_credits: Option<f64>,
    pub billing_day: u32,
    pub burn_window_days: i64,
    pub top_columns: usize,
}

fn bad(key: &str, value: impl ToString, reason: &str) -> Error {
    Error::Config {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let mut caps = BTreeMap::new();
        for pair in config.get("caps").unwrap_or("").split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (email, cap) = pair.split_once('=').ok_or_else(|| {
                bad(
                    "caps",
                    pair,
                    "write each cap as email=credits, separated by commas",
                )
            })?;
            let cap: f64 = cap.trim().parse().map_err(|_| {
                bad(
                    "caps",
                    pair,
                    "the cap after `=` must be a number of credits",
                )
            })?;
            caps.insert(email.trim().to_lowercase(), cap);
        }
        let monthly_credits = match config.get("monthly_credits") {
            None => None,
            Some(_) => Some(config.parse("monthly_credits", 0.0)?),
        };
        let settings = Self {
            default_cap: config.parse("default_cap", 0.0)?,
            caps,
            max_pool_share: config.parse("max_pool_share", 0.5)?,
            monthly_credits,
            billing_day: config.parse("billing_day", 1)?,
            burn_window_days: config.parse("burn_window_days", 14)?,
            top_columns: config.parse("top_columns", 5)?,
        };
        if settings.default_cap < 0.0 {
            return Err(bad(
                "default_cap",
                settings.default_cap,
                "must be 0 (no cap) or more",
            ));
        }
        if !(0.0..=1.0).contains(&settings.max_pool_share) {
            return Err(bad(
                "max_pool_share",
                settings.max_pool_share,
                "must be a fraction between 0 and 1",
            ));
        }
        if !(1..=28).contains(&settings.billing_day) {
            return Err(bad(
                "billing_day",
                settings.billing_day,
                "must be a day between 1 and 28",
            ));
        }
        if settings.burn_window_days < 1 {
            return Err(bad(
                "burn_window_days",
                settings.burn_window_days,
                "must be at least 1",
            ));
        }
        Ok(settings)
    }

    fn cap_for(&self, email: &str) -> Option<f64> {
        let cap = self
            .caps
            .get(&email.to_lowercase())
            .copied()
            .unwrap_or(self.default_cap);
        (cap > 0.0).then_some(cap)
    }
}

// ---- calendar dates, UTC (Howard Hinnant's civil-from-days) ----

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "YYYY-MM-DD" of a timestamp.
pub fn date(t: Timestamp) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The billing period around `now`: from the last `billing_day` (00:00 UTC) to the next.
pub fn billing_period(now: Timestamp, billing_day: u32) -> TimeRange {
    let (y, m, d) = civil_from_days(now.div_euclid(DAY_MS));
    let (sy, sm) = if d >= billing_day {
        (y, m)
    } else if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    };
    let (ey, em) = if sm == 12 { (sy + 1, 1) } else { (sy, sm + 1) };
    TimeRange {
        start: days_from_civil(sy, sm, billing_day) * DAY_MS,
        end: days_from_civil(ey, em, billing_day) * DAY_MS,
    }
}

/// An action column and what one full run over its table costs.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnCost {
    pub table: String,
    pub table_id: String,
    pub column: String,
    pub field_id: String,
    pub package_id: String,
    pub cost_per_row: f64,
    pub rows: u64,
}

/// Everything the audit looks at, gathered from the host.
#[derive(Debug, Clone)]
pub struct Facts {
    pub workspace_id: u64,
    pub workspace_name: String,
    pub now: Timestamp,
    pub credit_balance: f64,
    pub members: Vec<Member>,
    pub period: TimeRange,
    /// By folder and workbook, over the billing period so far.
    pub period_report: CreditReport,
    /// Per member (by user id), over the billing period so far.
    pub member_spend: HashMap<String, MemberCredits>,
    /// Per integration type, over the billing period so far.
    pub integration_report: CreditReport,
    /// Over the burn window.
    pub recent_report: CreditReport,
    pub columns: Vec<ColumnCost>,
}

fn total(report: &CreditReport) -> f64 {
    report.entities.iter().map(|e| e.credits).sum::<f64>() + report.unattributed_credits
}

/// The decisions, over plain data: unit-tested natively.
pub fn audit(facts: &Facts, settings: &Settings) -> Report {
    let mut report = Report::new();
    let workspace = Subject::workspace(facts.workspace_id, facts.workspace_name.clone());
    let spent = total(&facts.period_report);
    let members: HashMap<&str, &Member> = facts
        .members
        .iter()
        .filter_map(|m| Some((m.user_id.as_deref()?, m)))
        .collect();
    let period = format!("{} – {}", date(facts.period.start), date(facts.period.end));

    // Per member: share of the pool and the cap.
    struct Spender<'a> {
        id: &'a str,
        name: &'a str,
        credits: f64,
    }
    let mut spenders: Vec<Spender<'_>> = facts
        .member_spend
        .values()
        .filter(|u| u.credits > 0.0)
        .map(|u| Spender {
            id: &u.user_id,
            name: members
                .get(u.user_id.as_str())
                .map_or(&u.user_id, |m| &m.name),
            credits: u.credits,
        })
        .collect();
    spenders.sort_by(|a, b| b.credits.total_cmp(&a.credits).then(a.id.cmp(b.id)));
    for e in &spenders {
        let member = members.get(e.id);
        let email = member.map(|m| m.email.as_str()).unwrap_or("");
        let subject = Subject::member(e.id.to_string(), e.name.to_string());
        let share = if spent > 0.0 { e.credits / spent } else { 0.0 };
        let cap = settings.cap_for(email);
        report.push(
            finding(Severity::Info, "credits.member-share", subject.clone())
                .message(format!(
                    "{} spent {:.0} credits ({:.1}% of the pool's use) this period",
                    e.name,
                    e.credits,
                    share * 100.0
                ))
                .evidence("credits", format!("{:.0}", e.credits))
                .evidence("share", format!("{:.1}%", share * 100.0))
                .evidence("cap", cap.map_or("none".into(), |c| format!("{c:.0}")))
                .evidence("period", &period),
        );
        if share > settings.max_pool_share && spent > 0.0 {
            report.push(
                finding(Severity::Medium, "credits.heavy-spender", subject.clone())
                    .message(format!(
                        "{} spent {:.0}% of the workspace's credits this period ({:.0} of {:.0}); Clay has no per-member cap.",
                        e.name,
                        share * 100.0,
                        e.credits,
                        spent
                    ))
                    .evidence("credits", format!("{:.0}", e.credits))
                    .evidence("share", format!("{:.1}%", share * 100.0))
                    .evidence("limit", format!("{:.0}%", settings.max_pool_share * 100.0)),
            );
        }
        if let Some(cap) = cap {
            let used = e.credits / cap;
            let (severity, code, verb) = if e.credits > cap {
                (Severity::High, "credits.cap-exceeded", "is over")
            } else if used >= 0.8 {
                (Severity::Low, "credits.cap-near", "is close to")
            } else {
                continue;
            };
            report.push(
                finding(severity, code, subject)
                    .message(format!(
                        "{} {verb} their cap: {:.0} of {cap:.0} credits ({:.0}%) this period. Clay will not stop them; talk to them or pause their enrichment columns.",
                        e.name,
                        e.credits,
                        used * 100.0
                    ))
                    .evidence("credits", format!("{:.0}", e.credits))
                    .evidence("cap", format!("{cap:.0}"))
                    .evidence("email", email)
                    .evidence("period", &period),
            );
        }
    }

    // What no listed member's report accounts for: automations, members who left.
    let by_members: f64 = spenders.iter().map(|s| s.credits).sum();
    let nobody = spent - by_members;
    if nobody >= 0.5 {
        report.push(
            finding(Severity::Low, "credits.unattributed", workspace.clone())
                .message(format!(
                    "{nobody:.0} credits this period were spent by no current member (e.g. an automation or a member who left): nobody answers for them."
                ))
                .evidence("credits", format!("{nobody:.0}"))
                .evidence("spent by members", format!("{by_members:.0}")),
        );
    }

    // Where the credits went: Clay's report by folder and workbook.
    let mut resources: Vec<_> = facts.period_report.entities.iter().collect();
    resources.sort_by(|a, b| b.credits.total_cmp(&a.credits));
    for e in resources.into_iter().filter(|e| e.credits > 0.0) {
        let share = if spent > 0.0 { e.credits / spent } else { 0.0 };
        let mut f = finding(
            Severity::Info,
            "credits.by-resource",
            Subject::new(SubjectKind::Resource, e.id.clone(), e.name.clone()),
        )
        .message(format!(
            "{} {}: {:.0} credits ({:.1}%) this period",
            e.kind,
            e.name,
            e.credits,
            share * 100.0
        ))
        .evidence("kind", &e.kind)
        .evidence("credits", format!("{:.0}", e.credits))
        .evidence("share", format!("{:.1}%", share * 100.0));
        for s in &e.subentities {
            f = f.evidence("in", format!("{} {}: {:.0}", s.kind, s.name, s.credits));
        }
        report.push(f);
    }

    // The forecast: when the pool runs out at the current burn rate, versus the period's end.
    let burn = total(&facts.recent_report) / settings.burn_window_days as f64;
    let remaining = match settings.monthly_credits {
        Some(grant) => grant - spent,
        None => facts.credit_balance,
    }
    .max(0.0);
    let days_left = (facts.period.end - facts.now) as f64 / DAY_MS as f64;
    let mut forecast = finding(Severity::Info, "credits.forecast", workspace.clone())
        .evidence("remaining", format!("{remaining:.0}"))
        .evidence("burn per day", format!("{burn:.1}"))
        .evidence("burn window days", settings.burn_window_days)
        .evidence("period ends", date(facts.period.end))
        .evidence("days left in period", format!("{days_left:.1}"))
        .evidence("spent this period", format!("{spent:.0}"));
    if burn > 0.0 {
        let runs_out_at = facts.now + (remaining / burn * DAY_MS as f64) as i64;
        forecast = forecast
            .evidence("runs out", date(runs_out_at))
            .message(format!(
                "{remaining:.0} credits left, burning {burn:.1} a day: the pool lasts until {} (the period ends {}).",
                date(runs_out_at),
                date(facts.period.end)
            ));
        if runs_out_at < facts.period.end {
            report.push(
                finding(Severity::High, "credits.pool-runs-out", workspace.clone())
                    .message(format!(
                        "At {burn:.1} credits a day the pool runs dry on {}, {:.0} days before the period ends on {}: every enrichment column stops until then.",
                        date(runs_out_at),
                        (facts.period.end - runs_out_at) as f64 / DAY_MS as f64,
                        date(facts.period.end)
                    ))
                    .evidence("remaining", format!("{remaining:.0}"))
                    .evidence("burn per day", format!("{burn:.1}"))
                    .evidence("runs out", date(runs_out_at))
                    .evidence("period ends", date(facts.period.end)),
            );
        }
    } else {
        forecast = forecast.message(format!(
            "{remaining:.0} credits left and nothing spent in the last {} days.",
            settings.burn_window_days
        ));
    }
    report.push(forecast);
    let expiring = remaining - burn * days_left.max(0.0);
    if expiring >= 1.0 {
        report.push(
            finding(Severity::Medium, "credits.expiring-unused", workspace.clone())
                .message(format!(
                    "About {expiring:.0} credits will expire unused on {} at the current burn rate: Clay does not roll them over. Spend them on planned enrichment or buy a smaller plan.",
                    date(facts.period.end)
                ))
                .evidence("expiring", format!("{expiring:.0}"))
                .evidence("remaining", format!("{remaining:.0}"))
                .evidence("burn per day", format!("{burn:.1}"))
                .evidence("period ends", date(facts.period.end)),
        );
    }

    let mut by_integration: Vec<_> = facts.integration_report.entities.iter().collect();
    by_integration.sort_by(|a, b| b.credits.total_cmp(&a.credits));
    for e in by_integration {
        let share = if spent > 0.0 { e.credits / spent } else { 0.0 };
        let mut f = finding(
            Severity::Info,
            "credits.by-integration",
            Subject::new(SubjectKind::Integration, e.id.clone(), e.name.clone()),
        )
        .message(format!(
            "{}: {:.0} credits ({:.1}%) in {} runs this period",
            e.name,
            e.credits,
            share * 100.0,
            e.action_executions
        ))
        .evidence("credits", format!("{:.0}", e.credits))
        .evidence("share", format!("{:.1}%", share * 100.0))
        .evidence("executions", e.action_executions);
        for s in &e.subentities {
            f = f.evidence("by", format!("{}: {:.0}", s.name, s.credits));
        }
        report.push(f);
    }

    let spend_by_package: HashMap<&str, f64> = facts
        .integration_report
        .entities
        .iter()
        .map(|e| (e.id.as_str(), e.credits))
        .collect();
    let mut columns: Vec<&ColumnCost> = facts.columns.iter().collect();
    columns.sort_by(|a, b| {
        (b.cost_per_row * b.rows as f64).total_cmp(&(a.cost_per_row * a.rows as f64))
    });
    for c in columns.into_iter().take(settings.top_columns) {
        let full = c.cost_per_row * c.rows as f64;
        report.push(
            finding(
                Severity::Info,
                "credits.costly-column",
                Subject::new(
                    SubjectKind::Field,
                    c.field_id.clone(),
                    format!("{} / {}", c.table, c.column),
                ),
            )
            .message(format!(
                "{} / {} costs {} credits a row: {:.0} credits to run over all {} rows of {}",
                c.table, c.column, c.cost_per_row, full, c.rows, c.table
            ))
            .evidence("cost per row", c.cost_per_row)
            .evidence("rows", c.rows)
            .evidence("full run", format!("{full:.0}"))
            .evidence("integration", &c.package_id)
            .evidence(
                "integration spend this period",
                format!(
                    "{:.0}",
                    spend_by_package
                        .get(c.package_id.as_str())
                        .copied()
                        .unwrap_or(0.0)
                ),
            )
            .evidence("table id", &c.table_id),
        );
    }

    let over = report.with_code("credits.cap-exceeded").count();
    report.set_summary(format!(
        "{spent:.0} credits spent in {period}; {remaining:.0} left, burning {burn:.1}/day; {over} member(s) over their cap"
    ));
    report
}

fn column_costs(tables_: &[TableInfo]) -> Result<Vec<ColumnCost>, Error> {
    let mut out = Vec::new();
    for t in tables_ {
        let actions: Vec<_> = t
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::Action)
            .filter_map(|f| Some((f, f.action.as_ref()?)))
            .collect();
        if actions.is_empty() {
            continue;
        }
        let rows = tables::count_rows(&t.id)?;
        for (f, a) in actions {
            // Clay may not say what a column costs: unknown is not free, so it is not ranked.
            let Some(cost_per_row) = a.credit_cost else {
                continue;
            };
            out.push(ColumnCost {
                table: t.name.clone(),
                table_id: t.id.clone(),
                column: f.name.clone(),
                field_id: f.id.clone(),
                package_id: a.package_id.clone(),
                cost_per_row,
                rows,
            });
        }
    }
    Ok(out)
}

pub struct CreditGovernance {
    settings: Settings,
}

impl Auditor for CreditGovernance {
    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            settings: Settings::from_config(&config)?,
        })
    }

    fn audit(&mut self, scope: &AuditScope) -> Result<Report, Error> {
        let ws = scope.workspace_id;
        let workspace = workspaces::list()?.into_iter().find(|w| w.id == ws);
        let period = billing_period(scope.now, self.settings.billing_day);
        let so_far = TimeRange {
            start: period.start,
            end: scope.now,
        };
        let window = TimeRange {
            start: scope.now - self.settings.burn_window_days * DAY_MS,
            end: scope.now,
        };
        let members = credits::permissions(ws)?;
        let facts = Facts {
            member_spend: credits::spend_by_member(ws, so_far, &members)?,
            members,
            workspace_id: ws,
            workspace_name: workspace
                .as_ref()
                .map_or_else(|| format!("workspace {ws}"), |w| w.name.clone()),
            credit_balance: workspace.map_or(0.0, |w| w.credit_balance),
            now: scope.now,
            period,
            period_report: credits::workspace_report(ws, so_far)?,
            integration_report: credits::integration_report(ws, so_far)?,
            recent_report: credits::workspace_report(ws, window)?,
            columns: column_costs(&all_tables(ws)?)?,
        };
        Ok(audit(&facts, &self.settings))
    }
}

kiln_guest::export_auditor!(CreditGovernance);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::types::{CreditEntity, MemberStatus, Role};

    /// 2026-11-18 07:06 UTC.
    const NOW: i64 = 1_795_000_000_000;

    fn entity(id: &str, name: &str, credits: f64) -> CreditEntity {
        CreditEntity {
            id: id.into(),
            name: name.into(),
            kind: "user".into(),
            is_deleted: false,
            credits,
            action_executions: 3,
            subentities: vec![],
        }
    }

    fn report(entities: Vec<CreditEntity>, unattributed: f64) -> CreditReport {
        CreditReport {
            range: TimeRange { start: 0, end: NOW },
            entities,
            unattributed_credits: unattributed,
            unattributed_action_executions: 1,
        }
    }

    fn facts() -> Facts {
        let member = |id: &str, email: &str| Member {
            user_id: Some(id.into()),
            email: email.into(),
            name: email.into(),
            role: Role::Member,
            role_name: String::new(),
            status: MemberStatus::Active,
        };
        let spend = |id: &str, credits: f64| {
            let usage = MemberCredits {
                user_id: id.into(),
                credits,
                action_executions: 3,
            };
            (id.to_string(), usage)
        };
        Facts {
            workspace_id: 1,
            workspace_name: "Acme".into(),
            now: NOW,
            credit_balance: 500.0,
            members: vec![member("1", "maya@x.io"), member("2", "jonas@x.io")],
            period: billing_period(NOW, 1),
            // By resource, as Clay reports it: the Sales folder is no member.
            period_report: report(
                vec![entity("fol_s", "Sales", 850.0), entity("wb_o", "Ops", 50.0)],
                100.0,
            ),
            member_spend: [spend("1", 100.0), spend("2", 800.0)].into(),
            integration_report: report(vec![entity("hunter", "Hunter", 700.0)], 0.0),
            recent_report: report(vec![entity("2", "Jonas", 700.0)], 0.0),
            columns: vec![
                ColumnCost {
                    table: "Leads".into(),
                    table_id: "t_1".into(),
                    column: "Mobile".into(),
                    field_id: "f_m".into(),
                    package_id: "lusha".into(),
                    cost_per_row: 10.0,
                    rows: 100,
                },
                ColumnCost {
                    table: "Leads".into(),
                    table_id: "t_1".into(),
                    column: "Email".into(),
                    field_id: "f_e".into(),
                    package_id: "hunter".into(),
                    cost_per_row: 2.0,
                    rows: 100,
                },
            ],
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_config(&Config::from_pairs(pairs.iter().copied())).unwrap()
    }

    #[test]
    fn calendar_math() {
        assert_eq!(date(NOW), "2026-11-18");
        let p = billing_period(NOW, 1);
        assert_eq!(
            (date(p.start), date(p.end)),
            ("2026-11-01".into(), "2026-12-01".into())
        );
        let p = billing_period(NOW, 20);
        assert_eq!(
            (date(p.start), date(p.end)),
            ("2026-10-20".into(), "2026-11-20".into())
        );
        let jan = days_from_civil(2027, 1, 5) * DAY_MS;
        let p = billing_period(jan, 10);
        assert_eq!(
            (date(p.start), date(p.end)),
            ("2026-12-10".into(), "2027-01-10".into())
        );
    }

    #[test]
    fn caps_per_member_with_overrides() {
        let r = audit(
            &facts(),
            &settings(&[("default_cap", "500"), ("caps", "maya@x.io=110")]),
        );
        let over: Vec<_> = r
            .with_code("credits.cap-exceeded")
            .map(|f| f.subject.id.clone())
            .collect();
        assert_eq!(over, ["2"]);
        let near: Vec<_> = r
            .with_code("credits.cap-near")
            .map(|f| f.subject.id.clone())
            .collect();
        assert_eq!(near, ["1"]);
        assert_eq!(
            audit(&facts(), &settings(&[]))
                .with_code("credits.cap-exceeded")
                .count(),
            0
        );
    }

    #[test]
    fn shares_count_unattributed_credits_in_the_pool() {
        let r = audit(&facts(), &settings(&[]));
        let heavy: Vec<_> = r.with_code("credits.heavy-spender").collect();
        assert_eq!(heavy.len(), 1);
        assert!(heavy[0].message.contains("80%"), "{}", heavy[0].message);
        assert_eq!(r.with_code("credits.member-share").count(), 2);
        assert_eq!(r.with_code("credits.unattributed").count(), 1);
        // The top spender is a member, never a folder of the resource report.
        let shares: Vec<_> = r
            .with_code("credits.member-share")
            .map(|f| f.subject.id.clone())
            .collect();
        assert_eq!(shares, ["2", "1"]);
        let by_resource: Vec<_> = r
            .with_code("credits.by-resource")
            .map(|f| f.subject.id.clone())
            .collect();
        assert_eq!(by_resource, ["fol_s", "wb_o"]);
    }

    #[test]
    fn runs_out_before_the_period_ends_or_leaves_credits_to_expire() {
        // 50/day, 500 left on the 18th: dry on the 28th, before December 1st.
        let r = audit(&facts(), &settings(&[]));
        let out = r
            .with_code("credits.pool-runs-out")
            .next()
            .expect("runs out");
        assert!(
            out.evidence
                .contains(&("runs out".into(), "2026-11-28".into()))
        );
        assert_eq!(r.with_code("credits.expiring-unused").count(), 0);
        // A 5,000-credit grant minus 1,000 spent lasts; what is left at the end expires.
        let r = audit(&facts(), &settings(&[("monthly_credits", "5000")]));
        assert_eq!(r.with_code("credits.pool-runs-out").count(), 0);
        let expiring = r
            .with_code("credits.expiring-unused")
            .next()
            .expect("expiring");
        let value: f64 = expiring
            .evidence
            .iter()
            .find(|(k, _)| k == "expiring")
            .unwrap()
            .1
            .parse()
            .unwrap();
        assert!((3300.0..3400.0).contains(&value), "{value}");
    }

    #[test]
    fn costliest_columns_first() {
        let r = audit(&facts(), &settings(&[("top_columns", "1")]));
        let cols: Vec<_> = r.with_code("credits.costly-column").collect();
        assert_eq!(cols.len(), 1);
        assert_eq!(cols[0].subject.name, "Leads / Mobile");
    }

    #[test]
    fn bad_settings_say_what_to_write() {
        let err = Settings::from_config(&Config::from_pairs([("caps", "maya")])).unwrap_err();
        assert!(err.to_string().contains("email=credits"), "{err}");
        let err = Settings::from_config(&Config::from_pairs([("billing_day", "31")])).unwrap_err();
        assert!(err.to_string().contains("billing_day"), "{err}");
    }
}
