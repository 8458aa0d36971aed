//! seat-audit: who holds a seat and who administers the workspace — the questions Clay's
//! Settings → Team page cannot answer.
//!
//! Config keys (defaults): `inactive_days` (60), `min_admins` (2).
//!
//! Finding codes: `seat.roles`, `seat.single-admin`, `seat.inactive`. Integrations are
//! integration-ownership's (`integration.*`), credit use is credit-governance's (`credits.*`),
//! so the bundled auditors never report the same thing twice.

use std::collections::HashMap;

use kiln_guest::clay::{credits, workspaces};
use kiln_guest::time::DAY_MS;
use kiln_guest::types::{
    AuditScope, Member, MemberCredits, MemberStatus, Resource, Role, Severity, Subject, TimeRange,
    Timestamp,
};
use kiln_guest::{Auditor, Config, Error, Report, finding};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub inactive_days: i64,
    pub min_admins: usize,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let settings = Self {
            inactive_days: config.parse("inactive_days", 60)?,
            min_admins: config.parse("min_admins", 2)?,
        };
        if settings.inactive_days < 1 {
            return Err(Error::Config {
                key: "inactive_days".into(),
                value: settings.inactive_days.to_string(),
                reason: "must be at least 1".into(),
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
    /// What each member spent over the inactivity window, by user id.
    pub recent_spend: HashMap<String, MemberCredits>,
    /// Resources created by members.
    pub resources: Vec<Resource>,
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
    let with_role = |role: Role| active.iter().filter(|m| m.role == role).count();
    // Clay's member list leaves out those who left; they hold no seat either way.
    let seats = facts.members.len() - count(MemberStatus::Removed);
    let workspace = Subject::workspace(facts.workspace_id, facts.workspace_name.clone());

    report.push(
        finding(Severity::Info, "seat.roles", workspace.clone())
            .message(format!(
                "{} seats: {} active ({} admin, {} member, {} viewer, {} sales rep), {} pending",
                seats,
                active.len(),
                admins.len(),
                with_role(Role::Member),
                with_role(Role::Viewer),
                with_role(Role::SalesRep),
                count(MemberStatus::Pending),
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
    for m in &active {
        // An active member without a user id is not something Clay sends; nothing to match.
        let Some(user_id) = m.user_id.as_deref() else {
            continue;
        };
        let spent = facts.recent_spend.get(user_id).map_or(0.0, |u| u.credits);
        let created: Vec<&Resource> = facts
            .resources
            .iter()
            .filter(|r| r.created_by.as_deref() == Some(user_id))
            .collect();
        // An unknown creation time is no evidence of activity, nor of its absence.
        let created_recently = created
            .iter()
            .any(|r| r.created_at.is_none_or(|t| t >= window_start));
        if spent > 0.0 || created_recently {
            continue;
        }
        let last_created = created.iter().filter_map(|r| r.created_at).max();
        let mut f = finding(Severity::Medium, "seat.inactive", Subject::member(user_id.to_string(), m.name.clone()))
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

    let flagged = report
        .findings()
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .count();
    report.set_summary(format!(
        "{} seats ({} active, {} admin), {} findings",
        seats,
        active.len(),
        admins.len(),
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
        let ids: Vec<String> = members.iter().filter_map(|m| m.user_id.clone()).collect();
        let window = TimeRange {
            start: scope.now - self.settings.inactive_days * DAY_MS,
            end: scope.now,
        };
        let facts = Facts {
            workspace_id: ws,
            workspace_name,
            now: scope.now,
            recent_spend: credits::spend_by_member(ws, window, &members)?,
            resources: credits::user_resources(ws, &ids)?,
            members,
        };
        Ok(audit(&facts, &self.settings))
    }
}

kiln_guest::export_auditor!(SeatAudit);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::types::ResourceKind;

    const NOW: i64 = 1_800_000_000_000;

    fn member(id: &str, name: &str, role: Role, status: MemberStatus) -> Member {
        Member {
            user_id: Some(id.into()),
            email: format!("{}@example.com", name.to_lowercase()),
            name: name.into(),
            role,
            role_name: String::new(),
            status,
        }
    }

    fn spend(spend: &[(&str, f64)]) -> HashMap<String, MemberCredits> {
        spend
            .iter()
            .map(|(id, credits)| {
                let usage = MemberCredits {
                    user_id: id.to_string(),
                    credits: *credits,
                    action_executions: 1,
                };
                (id.to_string(), usage)
            })
            .collect()
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
            recent_spend: spend(&[("1", 5.0), ("2", 40.0)]),
            resources: vec![Resource {
                id: "wb_1".into(),
                name: "Old".into(),
                kind: ResourceKind::Workbook,
                parent_id: None,
                created_by: Some("4".into()),
                created_at: Some(NOW - 100 * DAY_MS),
                updated_at: Some(NOW - 100 * DAY_MS),
                deleted: false,
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
        facts.resources[0].created_at = Some(NOW - DAY_MS);
        assert_eq!(
            audit(&facts, &settings())
                .with_code("seat.inactive")
                .count(),
            0
        );
    }

    /// The whole plugin, host calls included, against the SDK's in-memory workspace.
    #[test]
    fn the_whole_plugin_against_the_mock_workspace() {
        use kiln_guest::testing::MockWorkspace;

        let ws = MockWorkspace::new("Acme");
        ws.set_now(NOW);
        let maya = ws.add_member(
            "maya@example.com",
            "Maya",
            Role::Admin,
            MemberStatus::Active,
        );
        ws.add_member("sam@example.com", "Sam", Role::Member, MemberStatus::Active);
        let leo = ws.add_member("leo@example.com", "Leo", Role::Viewer, MemberStatus::Active);
        ws.act_as(&maya);
        let outbound = ws.add_folder("Outbound", None);
        // Leo's spend sits on a workbook's table: the workspace report shows the folder,
        // and only the per-member report says it was Leo's.
        let wb = ws.add_workbook("Q3", Some(&outbound));
        let table = ws.add_table("Leads", Some(&wb), &["Email"]);
        ws.record_table_usage(Some(&leo), "hunter", Some(&table), 2000.0, NOW - DAY_MS);
        let _installed = ws.install();

        let scope = AuditScope {
            workspace_id: ws.workspace_id(),
            period: TimeRange {
                start: NOW - 90 * DAY_MS,
                end: NOW,
            },
            now: NOW,
        };
        let r = <SeatAudit as Auditor>::new(Config::default())
            .unwrap()
            .audit(&scope)
            .unwrap();

        assert_eq!(r.with_code("seat.single-admin").count(), 1);
        // Maya created a folder just now; Sam did nothing at all.
        let inactive: Vec<_> = r
            .with_code("seat.inactive")
            .map(|f| f.subject.name.clone())
            .collect();
        assert_eq!(inactive, vec!["Sam".to_string()]);
        assert!(ws.calls().contains(&"credits::permissions".to_string()));
        assert_eq!(ws.credits_spent(), 0.0, "an audit spends nothing");
    }

    #[test]
    fn only_seat_codes_so_other_auditors_are_not_repeated() {
        let r = audit(&facts(), &settings());
        assert!(r.findings().iter().all(|f| f.code.starts_with("seat.")));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let err =
            Settings::from_config(&Config::from_pairs([("inactive_days", "soon")])).unwrap_err();
        assert!(err.to_string().contains("inactive_days"));
        let err = Settings::from_config(&Config::from_pairs([("inactive_days", "0")])).unwrap_err();
        assert!(err.to_string().contains("at least 1"));
    }
}
