//! idp-reconcile: compares the workspace's members with an identity-provider export — the
//! CSV Okta or Entra ID gives you — and reports who should not have access.
//!
//! The sandbox has no filesystem, so the CSV's text comes in a config value:
//! `kiln audit idp-reconcile --config idp_csv=@okta-users.csv`.
//!
//! Recognised headers (case, spaces, dots and underscores ignored): the email in `email`,
//! `Primary email`, `mail`, `userPrincipalName`, `login`, `Username` or `profile.email`;
//! the state in `status` (Okta: ACTIVE, DEPROVISIONED, SUSPENDED, …) or `accountEnabled`
//! (Entra: True/False); optionally a role in `role`/`roles` or groups in `group`/`groups`.
//!
//! Config keys (defaults): `idp_csv` (required), `admin_groups` (`Admin, Clay Admins,
//! clay-admins`: the role or group names that make someone an admin in the IdP).
//!
//! Finding codes (this auditor owns `idp.*`): `idp.deprovisioned-active`,
//! `idp.deprovisioned-pending`, `idp.suspended-active`, `idp.no-identity`,
//! `idp.unexpected-admin`.

use std::collections::HashMap;

use kiln_guest::clay::credits;
use kiln_guest::types::{AuditScope, Member, MemberStatus, Role, Severity, Subject};
use kiln_guest::{Auditor, Config, Error, Report, finding};

/// What the IdP says about an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdpState {
    Active,
    /// Invited or staged, not yet activated.
    Staged,
    /// Locked or suspended: it exists, but the person cannot sign in.
    Suspended,
    /// Deprovisioned, deleted or disabled: the person has left.
    Deprovisioned,
}

impl IdpState {
    fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        Some(match s.as_str() {
            "active" | "true" | "enabled" | "yes" | "provisioned" | "recovery"
            | "password_expired" | "password_reset" => Self::Active,
            "staged" | "pending" | "invited" => Self::Staged,
            "suspended" | "locked_out" | "locked" => Self::Suspended,
            "deprovisioned" | "deactivated" | "deleted" | "false" | "disabled" | "no"
            | "inactive" => Self::Deprovisioned,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub email: String,
    pub state: IdpState,
    pub raw_state: String,
    /// Roles and groups, when the export has such a column.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub identities: Vec<Identity>,
    /// Whether the export says anything about roles or groups.
    pub has_groups: bool,
}

fn norm_header(h: &str) -> String {
    h.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

const EMAIL_HEADERS: &[&str] = &[
    "email",
    "primaryemail",
    "mail",
    "profileemail",
    "userprincipalname",
    "login",
    "profilelogin",
    "username",
];
const STATUS_HEADERS: &[&str] = &["status", "accountenabled", "enabled", "profilestatus"];
const GROUP_HEADERS: &[&str] = &["role", "roles", "group", "groups", "groupname", "memberof"];

fn csv_error(reason: String) -> Error {
    Error::Config {
        key: "idp_csv".into(),
        value: "(the IdP export)".into(),
        reason,
    }
}

/// Parses an Okta- or Entra-style export.
pub fn parse_export(text: &str) -> Result<Export, Error> {
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(format!("cannot read the header line: {e}")))?
        .iter()
        .map(norm_header)
        .collect();
    let find = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| headers.iter().position(|h| h == n))
    };
    let email_col = find(EMAIL_HEADERS).ok_or_else(|| {
        csv_error(
            "no email column: expected a header such as email, mail, userPrincipalName or login"
                .into(),
        )
    })?;
    let status_col = find(STATUS_HEADERS).ok_or_else(|| {
        csv_error(
            "no status column: expected a header such as status (Okta) or accountEnabled (Entra)"
                .into(),
        )
    })?;
    let group_col = find(GROUP_HEADERS);
    let mut identities = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| csv_error(format!("line {line}: {e}")))?;
        let email = record.get(email_col).unwrap_or("").trim().to_lowercase();
        if email.is_empty() {
            continue;
        }
        let raw_state = record.get(status_col).unwrap_or("").trim().to_string();
        let state = IdpState::parse(&raw_state).ok_or_else(|| {
            csv_error(format!(
                "line {line}: status `{raw_state}` for {email} is not one kiln knows (ACTIVE, STAGED, SUSPENDED, DEPROVISIONED, True, False…)"
            ))
        })?;
        let groups = group_col
            .and_then(|c| record.get(c))
            .unwrap_or("")
            .split([';', ',', '|'])
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect();
        identities.push(Identity {
            email,
            state,
            raw_state,
            groups,
        });
    }
    Ok(Export {
        identities,
        has_groups: group_col.is_some(),
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub export: Export,
    pub admin_groups: Vec<String>,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let csv = config.get("idp_csv").unwrap_or("");
        if csv.trim().is_empty() {
            return Err(Error::Config {
                key: "idp_csv".into(),
                value: String::new(),
                reason: "pass the IdP export's text, e.g. --config idp_csv=@users.csv".into(),
            });
        }
        Ok(Self {
            export: parse_export(csv)?,
            admin_groups: config
                .get_or("admin_groups", "Admin, Clay Admins, clay-admins")
                .split(',')
                .map(|g| g.trim().to_lowercase())
                .filter(|g| !g.is_empty())
                .collect(),
        })
    }
}

/// The decisions, over plain data: unit-tested natively.
pub fn audit(members: &[Member], settings: &Settings) -> Report {
    let mut report = Report::new();
    let idp: HashMap<&str, &Identity> = settings
        .export
        .identities
        .iter()
        .map(|i| (i.email.as_str(), i))
        .collect();
    for m in members {
        if m.status == MemberStatus::Removed {
            continue;
        }
        // A pending invitation has no user id yet: its email names it.
        let subject = Subject::member(
            m.user_id.clone().unwrap_or_else(|| m.email.clone()),
            m.name.clone(),
        );
        let role = match m.role {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
            Role::SalesRep => "sales rep",
        };
        let Some(identity) = idp.get(m.email.to_lowercase().as_str()) else {
            let (severity, what) = match m.status {
                MemberStatus::Pending => (Severity::Low, "has a pending invitation"),
                _ => (Severity::Medium, "is an active member"),
            };
            report.push(
                finding(severity, "idp.no-identity", subject)
                    .message(format!(
                        "{} ({}) {what} but has no account in the identity provider: nobody will offboard them when they leave. Confirm who they are or remove them.",
                        m.name, m.email
                    ))
                    .evidence("email", &m.email)
                    .evidence("role", role),
            );
            continue;
        };
        let evidence = |f: kiln_guest::FindingBuilder| {
            f.evidence("email", &m.email)
                .evidence("idp status", &identity.raw_state)
                .evidence("role", role)
        };
        match (identity.state, m.status) {
            (IdpState::Deprovisioned, MemberStatus::Active) => report.push(evidence(
                finding(Severity::High, "idp.deprovisioned-active", subject.clone()).message(format!(
                    "{} ({}) is deprovisioned in the identity provider but still an active {role} in Clay: they keep access to the workspace's data and credits. Remove them now (run offboarding-impact first).",
                    m.name, m.email
                )),
            )),
            (IdpState::Deprovisioned, _) => report.push(evidence(
                finding(Severity::Medium, "idp.deprovisioned-pending", subject.clone()).message(format!(
                    "{} ({}) is deprovisioned in the identity provider but still has a pending Clay invitation they could accept. Revoke it.",
                    m.name, m.email
                )),
            )),
            (IdpState::Suspended, MemberStatus::Active) => report.push(evidence(
                finding(Severity::Medium, "idp.suspended-active", subject.clone()).message(format!(
                    "{} ({}) is suspended in the identity provider but active in Clay: a Clay session or password still works. Check why and suspend their access.",
                    m.name, m.email
                )),
            )),
            _ => {}
        }
        if m.role == Role::Admin
            && m.status == MemberStatus::Active
            && settings.export.has_groups
            && !identity
                .groups
                .iter()
                .any(|g| settings.admin_groups.contains(&g.to_lowercase()))
        {
            report.push(
                finding(Severity::Medium, "idp.unexpected-admin", subject)
                    .message(format!(
                        "{} ({}) is a Clay admin, but the identity provider does not put them in an admin role or group ({}). Demote them, or add them to an admin group so the IdP is the record.",
                        m.name,
                        m.email,
                        settings.admin_groups.join(", ")
                    ))
                    .evidence("idp groups", if identity.groups.is_empty() { "none".into() } else { identity.groups.join(", ") }),
            );
        }
    }
    let count = |code: &str| report.with_code(code).count();
    report.set_summary(format!(
        "{} members against {} IdP identities: {} deprovisioned but active, {} suspended but active, {} without an identity, {} unexpected admins{}",
        members.iter().filter(|m| m.status != MemberStatus::Removed).count(),
        settings.export.identities.len(),
        count("idp.deprovisioned-active"),
        count("idp.suspended-active"),
        count("idp.no-identity"),
        count("idp.unexpected-admin"),
        if settings.export.has_groups { "" } else { " (the export has no role or group column: admins not checked)" }
    ));
    report
}

pub struct IdpReconcile {
    settings: Settings,
}

impl Auditor for IdpReconcile {
    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            settings: Settings::from_config(&config)?,
        })
    }

    fn audit(&mut self, scope: &AuditScope) -> Result<Report, Error> {
        let members = credits::permissions(scope.workspace_id)?;
        Ok(audit(&members, &self.settings))
    }
}

kiln_guest::export_auditor!(IdpReconcile);

#[cfg(test)]
mod tests {
    use super::*;

    const OKTA: &str = "\
Username,First name,Last name,Primary email,Status,Group
maya@x.io,Maya,Chen,maya@x.io,ACTIVE,Engineering
leo@x.io,Leo,M,LEO@x.io,DEPROVISIONED,Sales
ava@x.io,Ava,N,ava@x.io,DEPROVISIONED,
ines@x.io,Ines,D,ines@x.io,SUSPENDED,Sales
";

    const ENTRA: &str = "\
displayName,userPrincipalName,mail,accountEnabled
Maya Chen,maya@x.io,maya@x.io,True
Leo Martins,leo@x.io,leo@x.io,False
";

    fn member(id: &str, email: &str, role: Role, status: MemberStatus) -> Member {
        Member {
            user_id: (status != MemberStatus::Pending).then(|| id.into()),
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            role,
            role_name: String::new(),
            status,
        }
    }

    fn members() -> Vec<Member> {
        vec![
            member("1", "maya@x.io", Role::Admin, MemberStatus::Active),
            member("2", "leo@x.io", Role::Member, MemberStatus::Active),
            member("3", "ava@x.io", Role::Member, MemberStatus::Pending),
            member("4", "ines@x.io", Role::Member, MemberStatus::Active),
            member("5", "tom@x.io", Role::Member, MemberStatus::Active),
            member("6", "sam@x.io", Role::Member, MemberStatus::Removed),
        ]
    }

    fn codes(r: &Report, code: &str) -> Vec<String> {
        r.with_code(code).map(|f| f.subject.id.clone()).collect()
    }

    #[test]
    fn okta_export() {
        let s = Settings::from_config(&Config::from_pairs([("idp_csv", OKTA)])).unwrap();
        let r = audit(&members(), &s);
        assert_eq!(codes(&r, "idp.deprovisioned-active"), ["2"]);
        assert_eq!(
            r.with_code("idp.deprovisioned-active")
                .next()
                .unwrap()
                .severity,
            Severity::High
        );
        // The pending invitation has no user id: its email names it.
        assert_eq!(codes(&r, "idp.deprovisioned-pending"), ["ava@x.io"]);
        assert_eq!(codes(&r, "idp.suspended-active"), ["4"]);
        assert_eq!(codes(&r, "idp.no-identity"), ["5"]);
        assert_eq!(codes(&r, "idp.unexpected-admin"), ["1"]);
        let s = Settings::from_config(&Config::from_pairs([
            ("idp_csv", OKTA),
            ("admin_groups", "Engineering"),
        ]))
        .unwrap();
        assert!(codes(&audit(&members(), &s), "idp.unexpected-admin").is_empty());
    }

    #[test]
    fn entra_export_without_groups_skips_the_admin_check() {
        let s = Settings::from_config(&Config::from_pairs([("idp_csv", ENTRA)])).unwrap();
        let r = audit(&members(), &s);
        assert_eq!(codes(&r, "idp.deprovisioned-active"), ["2"]);
        assert!(codes(&r, "idp.unexpected-admin").is_empty());
        assert!(r.summary().contains("admins not checked"));
        let mut no_identity = codes(&r, "idp.no-identity");
        no_identity.sort();
        assert_eq!(no_identity, ["4", "5", "ava@x.io"]);
    }

    #[test]
    fn bad_exports_say_what_is_wrong() {
        let err = parse_export("name,status\nMaya,ACTIVE\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no email column"), "{err}");
        let err = parse_export("email,status\nmaya@x.io,ON_HOLIDAY\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("ON_HOLIDAY"),
            "{err}"
        );
        let err = parse_export("email,status\nmaya@x.io,ACTIVE,extra\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(
            Settings::from_config(&Config::default())
                .unwrap_err()
                .to_string()
                .contains("idp_csv=@")
        );
    }
}
