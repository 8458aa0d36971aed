//! integration-ownership: whose credentials each integration (auth account) runs on, and what
//! breaks when that person goes.
//!
//! Clay runs an enrichment column with the credentials of the member who connected its
//! integration; when that member is removed the integration stops working and every column
//! on it fails. Clay does not warn about it.
//!
//! Config keys (defaults): `report_unused` (true).
//!
//! Finding codes (this auditor owns `integration.*`): `integration.removed-owner`,
//! `integration.unknown-owner`, `integration.single-owner`, `integration.unused`.

use std::collections::{BTreeMap, HashMap};

use kiln_guest::clay::credits;
use kiln_guest::types::{
    AuditScope, Integration, Member, MemberStatus, Severity, Subject, TableInfo,
};
use kiln_guest::walk::{ColumnRef, all_tables, columns_using};
use kiln_guest::{Auditor, Config, Error, FindingBuilder, Report, finding};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub report_unused: bool,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        Ok(Self {
            report_unused: config.parse("report_unused", true)?,
        })
    }
}

/// Everything the audit looks at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub members: Vec<Member>,
    pub integrations: Vec<Integration>,
    pub tables: Vec<TableInfo>,
}

fn with_dependents(mut f: FindingBuilder, columns: &[ColumnRef]) -> FindingBuilder {
    for c in columns {
        f = f.evidence("used by", c);
    }
    let mut tables: Vec<&str> = columns.iter().map(|c| c.table_name.as_str()).collect();
    tables.dedup();
    if !tables.is_empty() {
        f = f.evidence("tables", tables.join(", "));
    }
    f
}

fn depend_phrase(columns: &[ColumnRef]) -> String {
    match columns.len() {
        0 => "no enrichment column uses it".to_string(),
        1 => "1 enrichment column depends on it".to_string(),
        n => format!("{n} enrichment columns depend on it"),
    }
}

/// The decisions, over plain data: unit-tested natively.
pub fn audit(facts: &Facts, settings: &Settings) -> Report {
    let mut report = Report::new();
    let by_id: HashMap<&str, &Member> = facts
        .members
        .iter()
        .filter_map(|m| Some((m.user_id.as_deref()?, m)))
        .collect();
    // Integration type → the accounts of that type that columns actually run on.
    let mut in_use_by_type: BTreeMap<&str, Vec<(&Integration, Vec<ColumnRef>)>> = BTreeMap::new();

    for integration in &facts.integrations {
        // Clay-managed shared accounts belong to nobody and never break when a member
        // leaves; a fresh workspace lists dozens of them.
        if integration.shared {
            continue;
        }
        let columns = columns_using(&facts.tables, &integration.id);
        let subject = Subject::integration(integration.id.clone(), integration.name.clone());
        let owner = integration.owner_id.as_deref().and_then(|o| by_id.get(o));
        match (integration.owner_id.as_deref(), owner) {
            // Clay drops members who left from its permissions list, so an owner id that
            // matches no member is a removed member too.
            (Some(owner_id), owner) if owner.is_none_or(|o| o.status == MemberStatus::Removed) => {
                let who = owner.map_or_else(|| format!("user {owner_id}"), |o| o.name.clone());
                let f = finding(Severity::Critical, "integration.removed-owner", subject)
                    .message(format!(
                        "{} ({}) was authenticated by {who}, who is no longer a member: it has stopped working and {}. Reconnect it with an active member's credentials.",
                        integration.name,
                        integration.type_id,
                        depend_phrase(&columns)
                    ))
                    .evidence(
                        "owner",
                        owner.map_or_else(
                            || format!("user {owner_id}, not among the members"),
                            |o| format!("{} ({})", o.name, o.email),
                        ),
                    );
                report.push(with_dependents(f, &columns));
                continue;
            }
            (None, _) => {
                let f = finding(Severity::High, "integration.unknown-owner", subject)
                    .message(format!(
                        "{} ({}) is a personal account with no owner on record; {}. Reconnect it with a member's credentials.",
                        integration.name,
                        integration.type_id,
                        depend_phrase(&columns)
                    ))
                    .evidence("owner id", "none");
                report.push(with_dependents(f, &columns));
                continue;
            }
            _ => {}
        }
        if columns.is_empty() {
            if settings.report_unused {
                report.push(
                    finding(Severity::Low, "integration.unused", subject)
                        .message(format!(
                            "{} ({}) powers no enrichment column: disconnect it, or it keeps a member's credentials in the workspace for nothing.",
                            integration.name, integration.type_id
                        ))
                        .evidence(
                            "owner",
                            owner.map(|m| m.email.as_str()).unwrap_or("unknown"),
                        ),
                );
            }
            continue;
        }
        in_use_by_type
            .entry(integration.type_id.as_str())
            .or_default()
            .push((integration, columns));
    }

    // A type whose columns all rest on one member's credentials breaks when that member goes.
    for (type_id, accounts) in &in_use_by_type {
        let owners: Vec<&str> = {
            let mut o: Vec<&str> = accounts
                .iter()
                .filter_map(|(i, _)| i.owner_id.as_deref())
                .collect();
            o.sort();
            o.dedup();
            o
        };
        let [owner_id] = owners.as_slice() else {
            continue;
        };
        let Some(owner) = by_id.get(owner_id) else {
            continue;
        };
        for (integration, columns) in accounts {
            let f = finding(
                Severity::Medium,
                "integration.single-owner",
                Subject::integration(integration.id.clone(), integration.name.clone()),
            )
            .message(format!(
                "Every {type_id} column runs on {}'s credentials ({}); {}. If {} leaves or loses access they all stop: connect a second account or move it to a shared service login.",
                owner.name,
                integration.name,
                depend_phrase(columns),
                owner.name
            ))
            .evidence("owner", format!("{} ({})", owner.name, owner.email));
            report.push(with_dependents(f, columns));
        }
    }

    let count = |code: &str| report.with_code(code).count();
    let summary = format!(
        "{} integrations ({} Clay-managed and shared, owned by nobody): {} with a removed owner, {} with an unknown owner, {} resting on a single member, {} unused",
        facts.integrations.len(),
        facts.integrations.iter().filter(|i| i.shared).count(),
        count("integration.removed-owner"),
        count("integration.unknown-owner"),
        count("integration.single-owner"),
        count("integration.unused"),
    );
    report.set_summary(summary);
    report
}

pub struct IntegrationOwnership {
    settings: Settings,
}

impl Auditor for IntegrationOwnership {
    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            settings: Settings::from_config(&config)?,
        })
    }

    fn audit(&mut self, scope: &AuditScope) -> Result<Report, Error> {
        let ws = scope.workspace_id;
        let facts = Facts {
            members: credits::permissions(ws)?,
            integrations: credits::integrations(ws)?,
            tables: all_tables(ws)?,
        };
        Ok(audit(&facts, &self.settings))
    }
}

kiln_guest::export_auditor!(IntegrationOwnership);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::types::{ActionConfig, Field, FieldKind, Role, TableKind};

    fn member(id: &str, name: &str, status: MemberStatus) -> Member {
        Member {
            user_id: Some(id.into()),
            email: format!("{}@example.com", name.to_lowercase()),
            name: name.into(),
            role: Role::Member,
            role_name: "workspace-member".into(),
            status,
        }
    }

    fn integration(id: &str, ty: &str, owner: Option<&str>) -> Integration {
        Integration {
            id: id.into(),
            name: format!("{ty} account"),
            type_id: ty.into(),
            owner_id: owner.map(Into::into),
            shared: false,
            created_at: None,
        }
    }

    fn shared(id: &str, ty: &str) -> Integration {
        Integration {
            shared: true,
            ..integration(id, ty, None)
        }
    }

    fn action_field(id: &str, name: &str, account: &str) -> Field {
        Field {
            id: id.into(),
            name: name.into(),
            kind: FieldKind::Action,
            action: Some(ActionConfig {
                action_key: "k".into(),
                package_id: "p".into(),
                auth_account_id: Some(account.into()),
                credit_cost: Some(1.0),
                input_field_ids: vec![],
            }),
        }
    }

    fn facts() -> Facts {
        Facts {
            members: vec![
                member("1", "Maya", MemberStatus::Active),
                member("2", "Sam", MemberStatus::Removed),
                member("3", "Leo", MemberStatus::Active),
            ],
            integrations: vec![
                integration("aa_h", "hunter", Some("2")),
                integration("aa_c", "clearbit", Some("1")),
                integration("aa_o1", "openai", Some("1")),
                integration("aa_o2", "openai", Some("3")),
                integration("aa_x", "lusha", Some("99")),
                integration("aa_u", "zerobounce", Some("3")),
                integration("aa_n", "apollo", None),
                shared("aa_s1", "openai"),
                shared("aa_s2", "hunter"),
            ],
            tables: vec![TableInfo {
                id: "t_1".into(),
                name: "Leads".into(),
                kind: TableKind::Spreadsheet,
                workspace_id: 1,
                workbook_id: None,
                first_view_id: None,
                views: vec![],
                fields: vec![
                    action_field("f_1", "Work Email", "aa_h"),
                    action_field("f_2", "Size", "aa_c"),
                    action_field("f_3", "Summary", "aa_o1"),
                    action_field("f_4", "Intro", "aa_o2"),
                ],
            }],
        }
    }

    fn codes(r: &Report, code: &str) -> Vec<String> {
        r.with_code(code).map(|f| f.subject.id.clone()).collect()
    }

    #[test]
    fn each_integration_gets_the_finding_that_fits_it() {
        let r = audit(
            &facts(),
            &Settings::from_config(&Config::default()).unwrap(),
        );
        // Sam was removed; user 99 is on no member list, which is how Clay shows one who left.
        assert_eq!(codes(&r, "integration.removed-owner"), ["aa_h", "aa_x"]);
        assert_eq!(codes(&r, "integration.unknown-owner"), ["aa_n"]);
        // Clay-managed shared accounts are nobody's: no finding names them.
        assert!(
            r.findings()
                .iter()
                .all(|f| !f.subject.id.starts_with("aa_s"))
        );
        // openai has two owners, so only clearbit rests on one member.
        assert_eq!(codes(&r, "integration.single-owner"), ["aa_c"]);
        assert_eq!(codes(&r, "integration.unused"), ["aa_u"]);
        let removed = r.with_code("integration.removed-owner").next().unwrap();
        assert_eq!(removed.severity, Severity::Critical);
        assert!(
            removed
                .evidence
                .iter()
                .any(|(k, v)| k == "used by" && v.starts_with("Leads / Work Email"))
        );
    }

    #[test]
    fn unused_can_be_silenced() {
        let settings =
            Settings::from_config(&Config::from_pairs([("report_unused", "false")])).unwrap();
        assert_eq!(
            audit(&facts(), &settings)
                .with_code("integration.unused")
                .count(),
            0
        );
        assert!(Settings::from_config(&Config::from_pairs([("report_unused", "maybe")])).is_err());
    }
}
