//! seat-audit: who holds a seat, who administers the workspace, and what breaks when people
//! leave — the questions Clay's Settings → Team page cannot answer.
//!
//! Config keys (defaults): `inactive_days` (60), `max_pool_share` (0.5, the share of the
//! period's credits one member may spend before it is a finding), `min_admins` (2).
//!
//! Finding codes: `seat.roles`, `seat.single-admin`, `seat.inactive`,
//! `integration.removed-owner`, `credits.heavy-spender`.

use std::collections::{HashMap, HashSet};

use kiln_guest::clay::{credits, resources, tables, workspaces};
use kiln_guest::time::DAY_MS;
use kiln_guest::types::{
    AuditScope, CreditReport, FieldKind, Integration, Member, MemberStatus, Resource, ResourceKind,
    ResourceRef, Role, Severity, Subject, TableInfo, TimeRange, Timestamp,
};
use kiln_guest::{Auditor, Config, Error, Report, finding};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub inactive_days: i64,
    pub max_pool_share: f64,
    pub min_admins: usize,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let settings = Self {
            inactive_days: config.parse("inactive_days", 60)?,
            max_pool_share: config.parse("max_pool_share", 0.5)?,
            min_admins: config.parse("min_admins", 2)?,
        };
        if settings.inactive_days < 1 {
            return Err(Error::Config {
                key: "inactive_days".into(),
                value: settings.inactive_days.to_string(),
                reason: "must be at least 1".into(),
            });
        }
        if !(0.0..=1.0).contains(&settings.max_pool_share) {
            return Err(Error::Config {
                key: "max_pool_share".into(),
                value: settings.max_pool_share.to_string(),
                reason: "must be a fraction between 0 and 1".into(),
            });
        }
        Ok(settings)
    }
}

/// Everything the audit looks at, gathered from the host.
#[derive(Debug, Clone)]
pub struct Facts {
    pub workspace_id: u64,
    pub workspace_name: String,
    pub now: Timestamp,
    pub members: Vec<Member>,
    /// Credits over the audit's period.
    pub period_report: CreditReport,
    /// Credits over the inactivity window.
    pub recent_report: CreditReport,
    /// Resources created by members.
    pub resources: Vec<Resource>,
    pub integrations: Vec<Integration>,
    pub tables: Vec<TableInfo>,
}

fn credits_by_user(report: &CreditReport) -> HashMap<&str, f64> {
    report
        .entities
        .iter()
        .map(|e| (e.id.as_str(), e.credits))
        .collect()
}

/// The decisions, over plain data: unit-tested natively.
pub fn audit(facts: &Facts, settings: &Settings) -> Report {
    let mut report = Report::new();
    let active: Vec<&Member> = facts
        .members
        .iter()
        .filter(|m| m.status == MemberStatus::Active)
        .collect();
    let admins: Vec<&Member> = active
        .iter()
        .copied()
        .filter(|m| m.role == Role::Admin)
        .collect();
    let count = |status: MemberStatus| facts.members.iter().filter(|m| m.status == status).count();
    let workspace = Subject::workspace(facts.workspace_id, facts.workspace_name.clone());

    report.push(
        finding(Severity::Info, "seat.roles", workspace.clone())
            .message(format!(
                "{} members: {} active ({} admin, {} member), {} pending, {} removed",
                facts.members.len(),
                active.len(),
                admins.len(),
                active.len() - admins.len(),
                count(MemberStatus::Pending),
                count(MemberStatus::Removed)
            ))
            .evidence("admins", names(&admins)),
    );

    if admins.len() < settings.min_admins {
        let message = match admins.as_slice() {
            [] => "No active admin: nobody can manage seats, billing or integrations.".to_string(),
            [one] => format!(
                "{} is the only active admin. If they leave or lose access, nobody can manage seats, billing or integrations; promote a second admin.",
                one.name
            ),
            _ => format!(
                "Only {} active admins; the policy asks for {}.",
                admins.len(),
                settings.min_admins
            ),
        };
        report.push(
            finding(Severity::High, "seat.single-admin", workspace.clone())
                .message(message)
                .evidence("active admins", admins.len())
                .evidence("minimum", settings.min_admins),
        );
    }

    // Inactive seats: nothing spent and nothing created in the window.
    let window_start = facts.now - settings.inactive_days * DAY_MS;
    let recent = credits_by_user(&facts.recent_report);
    for m in &active {
        let spent = recent.get(m.user_id.as_str()).copied().unwrap_or(0.0);
        let created: Vec<&Resource> = facts
            .resources
            .iter()
            .filter(|r| r.created_by.as_deref() == Some(m.user_id.as_str()))
            .collect();
        let created_recently = created.iter().any(|r| r.created_at >= window_start);
        if spent > 0.0 || created_recently {
            continue;
        }
        let last_created = created.iter().map(|r| r.created_at).max();
        let mut f = finding(Severity::Medium, "seat.inactive", Subject::member(m.user_id.clone(), m.name.clone()))
            .message(format!(
                "{} ({}) has spent no credits and created nothing in {} days: a seat that may not be needed.",
                m.name, m.email, settings.inactive_days
            ))
            .evidence("credits spent", 0)
            .evidence("window days", settings.inactive_days);
        f = match last_created {
            Some(t) => f.evidence(
                "last created something",
                format!("{} days ago", (facts.now - t) / DAY_MS),
            ),
            None => f.evidence("last created something", "never"),
        };
        report.push(f);
    }

    // Integrations whose owner was removed, and the columns that depend on them.
    let by_id: HashMap<&str, &Member> = facts
        .members
        .iter()
        .map(|m| (m.user_id.as_str(), m))
        .collect();
    for integration in &facts.integrations {
        let Some(owner) = integration.owner_id.as_deref().and_then(|o| by_id.get(o)) else {
            continue;
        };
        if owner.status != MemberStatus::Removed {
            continue;
        }
        let dependents = dependent_columns(&facts.tables, &integration.id);
        let mut f = finding(
            Severity::Critical,
            "integration.removed-owner",
            Subject::integration(integration.id.clone(), integration.name.clone()),
        )
        .message(format!(
            "{} ({}) was authenticated by {}, who has been removed: it has stopped working{}. Reconnect it with an active member's credentials.",
            integration.name,
            integration.type_id,
            owner.name,
            match dependents.len() {
                0 => String::new(),
                1 => " and 1 enrichment column depends on it".to_string(),
                n => format!(" and {n} enrichment columns depend on it"),
            }
        ))
        .evidence("owner", format!("{} ({})", owner.name, owner.email));
        for column in &dependents {
            f = f.evidence("used by", column);
        }
        report.push(f);
    }

    // Members who spend more than their share of the shared pool.
    let total: f64 = facts
        .period_report
        .entities
        .iter()
        .map(|e| e.credits)
        .sum::<f64>()
        + facts.period_report.unattributed_credits;
    if total > 0.0 {
        for entity in &facts.period_report.entities {
            let share = entity.credits / total;
            if share <= settings.max_pool_share {
                continue;
            }
            report.push(
                finding(Severity::Medium, "credits.heavy-spender", Subject::member(entity.id.clone(), entity.name.clone()))
                    .message(format!(
                        "{} spent {:.0}% of the workspace's credits in the period ({:.0} of {:.0}); Clay has no per-member cap.",
                        entity.name,
                        share * 100.0,
                        entity.credits,
                        total
                    ))
                    .evidence("credits", format!("{:.0}", entity.credits))
                    .evidence("share", format!("{:.1}%", share * 100.0))
                    .evidence("limit", format!("{:.0}%", settings.max_pool_share * 100.0)),
            );
        }
    }

    let flagged = report
        .findings()
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .count();
    report.set_summary(format!(
        "{} members ({} active, {} admin), {} integrations, {} findings",
        facts.members.len(),
        active.len(),
        admins.len(),
        facts.integrations.len(),
        flagged
    ));
    report
}

fn names(members: &[&Member]) -> String {
    if members.is_empty() {
        return "none".into();
    }
    members
        .iter()
        .map(|m| format!("{} ({})", m.name, m.email))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "table / column (t_…/f_…)" for every action column running on `integration_id`.
pub fn dependent_columns(tables: &[TableInfo], integration_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        for f in &t.fields {
            let uses = f.kind == FieldKind::Action
                && f.action.as_ref().and_then(|a| a.auth_account_id.as_deref())
                    == Some(integration_id);
            if uses {
                out.push(format!("{} / {} ({}/{})", t.name, f.name, t.id, f.id));
            }
        }
    }
    out
}

/// Every table in the workspace, walking the resource tree level by level.
fn all_tables(workspace_id: u64) -> Result<Vec<TableInfo>, Error> {
    let mut tables = Vec::new();
    let mut seen = HashSet::new();
    let mut frontier: Vec<Option<ResourceRef>> = vec![None];
    while let Some(parent) = frontier.pop() {
        for r in resources::list(workspace_id, parent.as_ref(), &[])? {
            if !seen.insert(r.id.clone()) {
                continue;
            }
            match r.kind {
                ResourceKind::Table => tables.push(tables::get(&r.id)?),
                kind => frontier.push(Some(ResourceRef { id: r.id, kind })),
            }
        }
    }
    Ok(tables)
}

pub struct SeatAudit {
    settings: Settings,
}

impl Auditor for SeatAudit {
    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            settings: Settings::from_config(&config)?,
        })
    }

    fn audit(&mut self, scope: &AuditScope) -> Result<Report, Error> {
        let ws = scope.workspace_id;
        let workspace_name = workspaces::list()?
            .into_iter()
            .find(|w| w.id == ws)
            .map(|w| w.name)
            .unwrap_or_else(|| format!("workspace {ws}"));
        let members = credits::permissions(ws)?;
        let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        let window = TimeRange {
            start: scope.now - self.settings.inactive_days * DAY_MS,
            end: scope.now,
        };
        let facts = Facts {
            workspace_id: ws,
            workspace_name,
            now: scope.now,
            period_report: credits::workspace_report(ws, scope.period)?,
            recent_report: credits::user_report(ws, window, &ids)?,
            resources: credits::user_resources(ws, &ids)?,
            integrations: credits::integrations(ws)?,
            tables: all_tables(ws)?,
            members,
        };
        Ok(audit(&facts, &self.settings))
    }
}

kiln_guest::export_auditor!(SeatAudit);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::types::{ActionConfig, CreditEntity, Field, TableKind};

    const NOW: i64 = 1_800_000_000_000;

    fn member(id: &str, name: &str, role: Role, status: MemberStatus) -> Member {
        Member {
            user_id: id.into(),
            email: format!("{}@example.com", name.to_lowercase()),
            name: name.into(),
            role,
            status,
        }
    }

    fn report(spend: &[(&str, f64)]) -> CreditReport {
        CreditReport {
            range: TimeRange { start: 0, end: NOW },
            entities: spend
                .iter()
                .map(|(id, credits)| CreditEntity {
                    id: id.to_string(),
                    name: format!("user {id}"),
                    kind: "user".into(),
                    is_deleted: false,
                    credits: *credits,
                    action_executions: 1,
                    subentities: vec![],
                })
                .collect(),
            unattributed_credits: 0.0,
            unattributed_action_executions: 0,
        }
    }

    fn facts() -> Facts {
        Facts {
            workspace_id: 1,
            workspace_name: "Acme".into(),
            now: NOW,
            members: vec![
                member("1", "Maya", Role::Admin, MemberStatus::Active),
                member("2", "Jonas", Role::Member, MemberStatus::Active),
                member("3", "Sam", Role::Member, MemberStatus::Removed),
                member("4", "Ines", Role::Member, MemberStatus::Active),
            ],
            period_report: report(&[("1", 10.0), ("2", 80.0), ("4", 10.0)]),
            recent_report: report(&[("1", 5.0), ("2", 40.0)]),
            resources: vec![Resource {
                id: "wb_1".into(),
                name: "Old".into(),
                kind: ResourceKind::Workbook,
                parent_id: None,
                created_by: Some("4".into()),
                created_at: NOW - 100 * DAY_MS,
                updated_at: NOW - 100 * DAY_MS,
                deleted: false,
            }],
            integrations: vec![Integration {
                id: "aa_1".into(),
                name: "Hunter".into(),
                type_id: "hunter".into(),
                owner_id: Some("3".into()),
                created_at: 0,
            }],
            tables: vec![TableInfo {
                id: "t_1".into(),
                name: "Leads".into(),
                kind: TableKind::Spreadsheet,
                workspace_id: 1,
                workbook_id: None,
                first_view_id: None,
                views: vec![],
                fields: vec![Field {
                    id: "f_1".into(),
                    name: "Work Email".into(),
                    kind: FieldKind::Action,
                    action: Some(ActionConfig {
                        action_key: "find-work-email".into(),
                        package_id: "hunter".into(),
                        auth_account_id: Some("aa_1".into()),
                        credit_cost: Some(2.0),
                        input_field_ids: vec![],
                    }),
                }],
            }],
        }
    }

    fn settings() -> Settings {
        Settings::from_config(&Config::default()).unwrap()
    }

    #[test]
    fn a_single_admin_is_a_high_finding() {
        let r = audit(&facts(), &settings());
        let f: Vec<_> = r.with_code("seat.single-admin").collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].message.contains("Maya"));
    }

    #[test]
    fn two_admins_are_fine() {
        let mut facts = facts();
        facts.members[1].role = Role::Admin;
        assert_eq!(
            audit(&facts, &settings())
                .with_code("seat.single-admin")
                .count(),
            0
        );
    }

    #[test]
    fn inactive_means_no_spend_and_nothing_created_in_the_window() {
        let r = audit(&facts(), &settings());
        let inactive: Vec<_> = r
            .with_code("seat.inactive")
            .map(|f| f.subject.id.clone())
            .collect();
        assert_eq!(inactive, vec!["4".to_string()]);
        // Creating something recently makes a member active again.
        let mut facts = facts();
        facts.resources[0].created_at = NOW - DAY_MS;
        assert_eq!(
            audit(&facts, &settings())
                .with_code("seat.inactive")
                .count(),
            0
        );
    }

    /// The whole plugin, host calls included, against the SDK's in-memory workspace.
    #[test]
    fn removed_owner_integrations_list_their_dependent_columns() {
        use kiln_guest::testing::MockWorkspace;

        let ws = MockWorkspace::new("Acme");
        ws.set_now(NOW);
        let maya = ws.add_member(
            "maya@example.com",
            "Maya",
            Role::Admin,
            MemberStatus::Active,
        );
        let sam = ws.add_member(
            "sam@example.com",
            "Sam",
            Role::Member,
            MemberStatus::Removed,
        );
        let hunter = ws.add_integration("Hunter", "hunter", Some(&sam));
        ws.act_as(&maya);
        let folder = ws.add_folder("Outbound", None);
        let workbook = ws.add_workbook("Q3", Some(&folder));
        let leads = ws.add_table("Leads", Some(&workbook), &["Name", "Company"]);
        ws.add_action_column(
            &leads,
            "Work Email",
            "find-work-email",
            "hunter",
            Some(&hunter),
            2.0,
            &["Name", "Company"],
        );
        ws.record_usage(Some(&maya), "hunter", 40.0, NOW - DAY_MS);
        let _installed = ws.install();

        let scope = AuditScope {
            workspace_id: ws.workspace_id(),
            period: TimeRange {
                start: NOW - 90 * DAY_MS,
                end: NOW,
            },
            now: NOW,
        };
        let r = SeatAudit::new(Config::default())
            .unwrap()
            .audit(&scope)
            .unwrap();

        let f: Vec<_> = r.with_code("integration.removed-owner").collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("Sam"), "{}", f[0].message);
        assert!(
            f[0].evidence
                .iter()
                .any(|(k, v)| k == "used by" && v.contains("Leads / Work Email")),
            "{:?}",
            f[0].evidence
        );
        // The table was found by walking folder → workbook → table, and an audit spends nothing.
        assert!(ws.calls().contains(&"tables::get".to_string()));
        assert_eq!(ws.credits_spent(), 0.0);
    }

    #[test]
    fn heavy_spenders_are_measured_against_the_configured_share() {
        let r = audit(&facts(), &settings());
        let heavy: Vec<_> = r
            .with_code("credits.heavy-spender")
            .map(|f| f.subject.id.clone())
            .collect();
        assert_eq!(heavy, vec!["2".to_string()]);
        let lenient = Settings {
            max_pool_share: 0.9,
            ..settings()
        };
        assert_eq!(
            audit(&facts(), &lenient)
                .with_code("credits.heavy-spender")
                .count(),
            0
        );
    }

    #[test]
    fn bad_settings_name_their_key() {
        let err =
            Settings::from_config(&Config::from_pairs([("max_pool_share", "lots")])).unwrap_err();
        assert!(err.to_string().contains("max_pool_share"));
        let err =
            Settings::from_config(&Config::from_pairs([("max_pool_share", "1.5")])).unwrap_err();
        assert!(err.to_string().contains("between 0 and 1"));
    }
}
