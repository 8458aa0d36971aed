//! offboarding-impact: given a member's email, everything that breaks or lingers when they
//! are removed from the workspace, as an ordered checklist an admin can follow.
//!
//! Config keys: `email` (required, the member to offboard).
//!
//! Finding codes (this auditor owns `offboarding.*`): `offboarding.last-admin`,
//! `offboarding.integration`, `offboarding.resource`, `offboarding.credit-use`,
//! `offboarding.checklist` (the steps, in order, as evidence `step 1`, `step 2`, …).

use kiln_guest::clay::credits;
use kiln_guest::types::{
    AuditScope, CreditReport, Integration, Member, MemberCredits, MemberStatus, Resource,
    ResourceKind, Role, Severity, Subject, SubjectKind, TableInfo, TimeRange,
};
use kiln_guest::walk::{all_tables, columns_using};
use kiln_guest::{Auditor, Config, Error, Report, finding};

/// Everything the audit looks at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub members: Vec<Member>,
    pub integrations: Vec<Integration>,
    pub tables: Vec<TableInfo>,
    /// What the member created.
    pub resources: Vec<Resource>,
    /// Everything the member spent over the audit period (Clay's per-member report).
    pub spent: MemberCredits,
    /// Where they spent it: the workspace report filtered to them, by folder and workbook.
    pub usage: CreditReport,
    pub period_days: i64,
}

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Folder => "folder",
        ResourceKind::Workbook => "workbook",
        ResourceKind::Table => "table",
    }
}

/// The member's record, or an error listing who can be named.
pub fn find_member<'a>(members: &'a [Member], email: &str) -> Result<&'a Member, Error> {
    members
        .iter()
        .find(|m| m.email.eq_ignore_ascii_case(email.trim()))
        .ok_or_else(|| Error::Config {
            key: "email".into(),
            value: email.into(),
            reason: format!(
                "no member has this email; members: {}",
                members
                    .iter()
                    .map(|m| m.email.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// The decisions, over plain data: unit-tested natively.
pub fn audit(facts: &Facts, email: &str) -> Result<Report, Error> {
    let member = find_member(&facts.members, email)?;
    let mut report = Report::new();
    let mut steps: Vec<String> = Vec::new();
    // A pending invitation has no user id: it owns nothing and spent nothing.
    let user_id = member.user_id.as_deref();
    let who = Subject::member(
        user_id.unwrap_or(&member.email).to_string(),
        member.name.clone(),
    );
    let already = member.status == MemberStatus::Removed;

    let other_admins = facts
        .members
        .iter()
        .filter(|m| {
            m.email != member.email && m.role == Role::Admin && m.status == MemberStatus::Active
        })
        .count();
    if member.role == Role::Admin && member.status == MemberStatus::Active && other_admins == 0 {
        let step = format!(
            "Promote another member to Admin before removing {}: Clay needs at least one admin, and nobody else could manage seats, billing or integrations.",
            member.name
        );
        report.push(
            finding(Severity::Critical, "offboarding.last-admin", who.clone())
                .message(step.clone())
                .evidence("other active admins", 0),
        );
        steps.push(step);
    }

    for integration in facts
        .integrations
        .iter()
        .filter(|i| !i.shared && user_id.is_some() && i.owner_id.as_deref() == user_id)
    {
        let columns = columns_using(&facts.tables, &integration.id);
        let mut tables: Vec<&str> = columns.iter().map(|c| c.table_name.as_str()).collect();
        tables.dedup();
        let breaks = if columns.is_empty() {
            "no column uses it; disconnect it".to_string()
        } else {
            format!(
                "otherwise {} stop{}: {}",
                if columns.len() == 1 {
                    "this column"
                } else {
                    "these columns"
                },
                if columns.len() == 1 { "s" } else { "" },
                columns
                    .iter()
                    .map(|c| format!("{} / {}", c.table_name, c.field_name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let step = format!(
            "{} {} ({}) with another member's credentials — {breaks}.",
            if already {
                "Reconnect (it is already broken)"
            } else {
                "Reconnect"
            },
            integration.name,
            integration.type_id
        );
        let mut f = finding(
            if columns.is_empty() {
                Severity::Low
            } else {
                Severity::High
            },
            "offboarding.integration",
            Subject::integration(integration.id.clone(), integration.name.clone()),
        )
        .message(step.clone())
        .evidence("owner", &member.email);
        for c in &columns {
            f = f.evidence("used by", c);
        }
        if !tables.is_empty() {
            f = f.evidence("tables", tables.join(", "));
        }
        report.push(f);
        steps.push(step);
    }

    let mut owned: Vec<&Resource> = facts.resources.iter().filter(|r| !r.deleted).collect();
    owned.sort_by_key(|r| (r.kind as u8, r.name.clone()));
    for r in owned {
        let step = format!(
            "Hand over the {} `{}` they created: decide who owns it from now on.",
            kind_name(r.kind),
            r.name
        );
        report.push(
            finding(
                Severity::Medium,
                "offboarding.resource",
                Subject::new(SubjectKind::Resource, r.id.clone(), r.name.clone()),
            )
            .message(step.clone())
            .evidence("kind", kind_name(r.kind))
            .evidence("created by", &member.email),
        );
        steps.push(step);
    }

    let spent = facts.spent.credits;
    let mut f = finding(Severity::Info, "offboarding.credit-use", who.clone())
        .message(format!(
            "{} spent {spent:.0} credits in the last {} days; their scheduled or auto-run enrichment stops with them.",
            member.name, facts.period_days
        ))
        .evidence("credits", format!("{spent:.0}"))
        .evidence("executions", facts.spent.action_executions);
    for e in &facts.usage.entities {
        f = f.evidence("in", format!("{} {}: {:.0}", e.kind, e.name, e.credits));
    }
    if facts.usage.unattributed_credits > 0.0 {
        f = f.evidence(
            "in",
            format!(
                "no folder or workbook: {:.0}",
                facts.usage.unattributed_credits
            ),
        );
    }
    report.push(f);
    if spent > 0.0 {
        steps.push(format!(
            "Check the enrichment {} ran ({spent:.0} credits in {} days) with whoever takes over their work.",
            member.name, facts.period_days
        ));
    }
    steps.push(if already {
        format!(
            "{} is already removed from the workspace: finish the steps above.",
            member.name
        )
    } else {
        format!("Remove {} in Settings → Team.", member.name)
    });

    let mut checklist = finding(Severity::Info, "offboarding.checklist", who).message(format!(
        "Offboarding {} ({}): {} steps, in this order",
        member.name,
        member.email,
        steps.len()
    ));
    for (i, step) in steps.iter().enumerate() {
        checklist = checklist.evidence(&format!("step {}", i + 1), step);
    }
    report.push(checklist);
    report.set_summary(format!(
        "Offboarding {}: {} integration(s) to reconnect, {} resource(s) to hand over, {spent:.0} credits in {} days",
        member.email,
        report.with_code("offboarding.integration").count(),
        report.with_code("offboarding.resource").count(),
        facts.period_days
    ));
    Ok(report)
}

fn nothing_spent(user_id: &str) -> MemberCredits {
    MemberCredits {
        user_id: user_id.to_string(),
        credits: 0.0,
        action_executions: 0,
    }
}

fn empty_report(range: TimeRange) -> CreditReport {
    CreditReport {
        range,
        entities: Vec::new(),
        unattributed_credits: 0.0,
        unattributed_action_executions: 0,
    }
}

pub struct OffboardingImpact {
    email: String,
}

impl Auditor for OffboardingImpact {
    fn new(config: Config) -> Result<Self, Error> {
        let email = config.get("email").map(str::trim).unwrap_or("");
        if email.is_empty() {
            return Err(Error::Config {
                key: "email".into(),
                value: String::new(),
                reason: "set it to the email of the member to offboard (--config email=…)".into(),
            });
        }
        Ok(Self {
            email: email.to_string(),
        })
    }

    fn audit(&mut self, scope: &AuditScope) -> Result<Report, Error> {
        let ws = scope.workspace_id;
        let members = credits::permissions(ws)?;
        let member = find_member(&members, &self.email)?.clone();
        let (resources, spent, usage) = match &member.user_id {
            Some(id) => {
                let owner = [id.clone()];
                let spent = credits::member_usage(ws, scope.period, &owner)?
                    .pop()
                    .unwrap_or_else(|| nothing_spent(id));
                (
                    credits::user_resources(ws, &owner)?,
                    spent,
                    credits::user_report(ws, scope.period, &owner)?,
                )
            }
            None => (Vec::new(), nothing_spent(""), empty_report(scope.period)),
        };
        let facts = Facts {
            integrations: credits::integrations(ws)?,
            tables: all_tables(ws)?,
            resources,
            spent,
            usage,
            period_days: kiln_guest::time::days_between(scope.period.start, scope.period.end),
            members,
        };
        audit(&facts, &self.email)
    }
}

kiln_guest::export_auditor!(OffboardingImpact);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::types::{ActionConfig, CreditEntity, Field, FieldKind, TableKind};

    fn member(id: &str, name: &str, role: Role) -> Member {
        Member {
            user_id: Some(id.into()),
            email: format!("{}@x.io", name.to_lowercase()),
            name: name.into(),
            role,
            role_name: String::new(),
            status: MemberStatus::Active,
        }
    }

    fn facts() -> Facts {
        Facts {
            members: vec![
                member("1", "Maya", Role::Admin),
                member("2", "Jonas", Role::Member),
            ],
            integrations: vec![Integration {
                id: "aa_o".into(),
                name: "OpenAI".into(),
                type_id: "openai".into(),
                owner_id: Some("2".into()),
                shared: false,
                created_at: None,
            }],
            tables: vec![TableInfo {
                id: "t_a".into(),
                name: "Accounts".into(),
                kind: TableKind::Company,
                workspace_id: 1,
                workbook_id: None,
                first_view_id: None,
                views: vec![],
                fields: vec![Field {
                    id: "f_s".into(),
                    name: "Summary".into(),
                    kind: FieldKind::Action,
                    action: Some(ActionConfig {
                        action_key: "summarize".into(),
                        package_id: "openai".into(),
                        auth_account_id: Some("aa_o".into()),
                        credit_cost: Some(1.0),
                        input_field_ids: vec![],
                    }),
                }],
            }],
            resources: vec![Resource {
                id: "t_l".into(),
                name: "Leads".into(),
                kind: ResourceKind::Table,
                parent_id: None,
                created_by: Some("2".into()),
                created_at: None,
                updated_at: None,
                deleted: false,
            }],
            spent: MemberCredits {
                user_id: "2".into(),
                credits: 120.0,
                action_executions: 60,
            },
            usage: CreditReport {
                range: TimeRange { start: 0, end: 1 },
                entities: vec![CreditEntity {
                    id: "fol_s".into(),
                    name: "Sales".into(),
                    kind: "folder".into(),
                    is_deleted: false,
                    credits: 100.0,
                    action_executions: 50,
                    subentities: vec![],
                }],
                unattributed_credits: 20.0,
                unattributed_action_executions: 10,
            },
            period_days: 90,
        }
    }

    #[test]
    fn the_checklist_orders_integrations_before_resources_and_removal_last() {
        let r = audit(&facts(), "JONAS@x.io").unwrap();
        let integration = r.with_code("offboarding.integration").next().unwrap();
        assert_eq!(integration.severity, Severity::High);
        assert!(
            integration.message.contains("Accounts / Summary"),
            "{}",
            integration.message
        );
        let steps = &r
            .with_code("offboarding.checklist")
            .next()
            .unwrap()
            .evidence;
        assert_eq!(steps.len(), 4, "{steps:#?}");
        assert!(steps[0].1.starts_with("Reconnect OpenAI"));
        assert!(steps[1].1.contains("`Leads`"));
        assert!(steps[2].1.contains("120 credits"));
        assert!(steps[3].1.starts_with("Remove Jonas"));
        assert_eq!(r.with_code("offboarding.last-admin").count(), 0);
    }

    #[test]
    fn the_last_admin_comes_first() {
        let r = audit(&facts(), "maya@x.io").unwrap();
        let steps = &r
            .with_code("offboarding.checklist")
            .next()
            .unwrap()
            .evidence;
        assert!(steps[0].1.starts_with("Promote another member"));
        assert_eq!(
            r.with_code("offboarding.last-admin")
                .next()
                .unwrap()
                .severity,
            Severity::Critical
        );
    }

    #[test]
    fn an_unknown_email_lists_the_members() {
        let err = audit(&facts(), "nobody@x.io").unwrap_err().to_string();
        assert!(err.contains("maya@x.io, jonas@x.io"), "{err}");
        assert!(OffboardingImpact::new(Config::default()).is_err());
    }
}
