//! The bundled auditors and transformers, each built to a real component and run through
//! the library against a seeded temporary workspace.

use std::collections::HashSet;
use std::path::Path;

use kiln_host::backend::model::{CellValue, Row, TableInfo};
use kiln_host::invocation::{
    AuditOptions, AuditReport, Finding, Severity, TransformOptions, TransformReport, run_audit,
    run_transform,
};
use kiln_tests::{
    DemoWorkspace, NOW, credit_governance, dedupe_contacts, fixture, idp_reconcile,
    integration_ownership, lead_score, offboarding_impact, redact_pii, runtime,
};

async fn audit(plugin: &Path, ws: &DemoWorkspace, config: &[(&str, &str)]) -> AuditReport {
    let plugin = runtime().load_file(plugin).await.unwrap();
    let mut options = AuditOptions {
        now: Some(NOW),
        ..AuditOptions::default()
    };
    for (k, v) in config {
        options
            .invocation
            .config
            .insert(k.to_string(), v.to_string());
    }
    run_audit(&plugin, ws.backend(), options).await.unwrap().1
}

async fn transform(
    plugin: &Path,
    ws: &DemoWorkspace,
    table: &str,
    batch: usize,
    config: &[(&str, &str)],
) -> TransformReport {
    let plugin = runtime().load_file(plugin).await.unwrap();
    let mut options = TransformOptions {
        rows_per_batch: batch,
        ..TransformOptions::default()
    };
    for (k, v) in config {
        options
            .invocation
            .config
            .insert(k.to_string(), v.to_string());
    }
    let report = run_transform(&plugin, ws.backend(), table, options)
        .await
        .unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(report.rows_failed, 0, "{:?}", report.errors.first());
    report
}

fn with_code<'a>(report: &'a AuditReport, code: &str) -> Vec<&'a Finding> {
    report.findings.iter().filter(|f| f.code == code).collect()
}

fn names(report: &AuditReport, code: &str) -> Vec<String> {
    let mut n: Vec<String> = with_code(report, code)
        .iter()
        .map(|f| f.subject.name.clone())
        .collect();
    n.sort();
    n
}

fn evidence<'a>(f: &'a Finding, key: &str) -> Vec<&'a str> {
    f.evidence
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn cell(row: &Row, table: &TableInfo, column: &str) -> Option<CellValue> {
    let field = table.field_by_name(column)?;
    Some(row.cell(&field.id)?.value.clone()).filter(|v| *v != CellValue::Null)
}

fn text(row: &Row, table: &TableInfo, column: &str) -> Option<String> {
    match cell(row, table, column)? {
        CellValue::Text(s) => Some(s),
        _ => None,
    }
}

// ---- auditors ----

#[tokio::test]
async fn credit_governance_caps_forecast_and_costs() {
    let ws = DemoWorkspace::new();
    let report = audit(
        &credit_governance(),
        &ws,
        &[
            ("default_cap", "500"),
            ("caps", "priya@northwind.io=100"),
            ("monthly_credits", "2000"),
        ],
    )
    .await;
    assert_eq!(
        names(&report, "credits.cap-exceeded"),
        ["Jonas Berg", "Priya Raman"]
    );
    assert!(
        with_code(&report, "credits.cap-exceeded")
            .iter()
            .all(|f| f.severity == Severity::High)
    );
    assert_eq!(names(&report, "credits.heavy-spender"), ["Jonas Berg"]);
    assert!(names(&report, "credits.member-share").contains(&"Maya Chen".to_string()));
    // The billing period is November 2026; at ~70 credits a day 2,000 run out before it ends.
    let out = with_code(&report, "credits.pool-runs-out");
    assert_eq!(out.len(), 1, "{:#?}", report.findings);
    assert_eq!(evidence(out[0], "period ends"), ["2026-12-01"]);
    assert!(evidence(out[0], "runs out")[0] < "2026-12-01");
    assert!(with_code(&report, "credits.expiring-unused").is_empty());
    // zerobounce runs attributed to nobody.
    assert_eq!(with_code(&report, "credits.unattributed").len(), 1);
    let integrations = names(&report, "credits.by-integration");
    for i in ["Clearbit", "Hunter", "Lusha", "OpenAI"] {
        assert!(integrations.iter().any(|n| n == i), "{integrations:?}");
    }
    let columns = with_code(&report, "credits.costly-column");
    assert_eq!(columns[0].subject.name, "Leads / Mobile");
    assert_eq!(evidence(columns[0], "full run"), ["20000"]);

    // A bigger grant lasts the period, and what is left expires unused.
    let report = audit(&credit_governance(), &ws, &[("monthly_credits", "6000")]).await;
    assert!(with_code(&report, "credits.pool-runs-out").is_empty());
    let expiring = with_code(&report, "credits.expiring-unused");
    assert_eq!(expiring.len(), 1);
    assert_eq!(expiring[0].severity, Severity::Medium);
    assert!(
        with_code(&report, "credits.cap-exceeded").is_empty(),
        "no caps by default"
    );
}

#[tokio::test]
async fn offboarding_impact_lists_what_breaks_in_order() {
    let ws = DemoWorkspace::new();
    let report = audit(
        &offboarding_impact(),
        &ws,
        &[("email", "Jonas@Northwind.io")],
    )
    .await;
    let integration = with_code(&report, "offboarding.integration");
    assert_eq!(integration.len(), 1);
    assert_eq!(integration[0].subject.name, "OpenAI");
    assert_eq!(integration[0].severity, Severity::High);
    assert!(evidence(integration[0], "used by")[0].starts_with("Accounts / Summary"));
    assert_eq!(names(&report, "offboarding.resource"), ["Leads"]);
    let checklist = with_code(&report, "offboarding.checklist");
    let steps: Vec<&str> = checklist[0]
        .evidence
        .iter()
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(steps.len(), 4, "{steps:#?}");
    assert!(steps[0].starts_with("Reconnect OpenAI") && steps[0].contains("Accounts / Summary"));
    assert!(steps[1].contains("table `Leads`"));
    assert!(steps[2].contains("credits"));
    assert_eq!(steps[3], "Remove Jonas Berg in Settings → Team.");
    assert!(with_code(&report, "offboarding.last-admin").is_empty());

    // The only admin: promoting someone else comes first.
    let report = audit(
        &offboarding_impact(),
        &ws,
        &[("email", "maya@northwind.io")],
    )
    .await;
    let steps = &with_code(&report, "offboarding.checklist")[0].evidence;
    assert!(steps[0].1.starts_with("Promote another member to Admin"));
    assert!(steps[1].1.contains("Leads / Company Size"), "{steps:#?}");

    // A typo names the members instead of auditing nobody.
    let plugin = runtime().load_file(&offboarding_impact()).await.unwrap();
    let mut options = AuditOptions::default();
    options
        .invocation
        .config
        .insert("email".into(), "jonas@northwind.com".into());
    let err = run_audit(&plugin, ws.backend(), options)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("jonas@northwind.io"), "{err}");
}

#[tokio::test]
async fn integration_ownership_finds_removed_and_single_owners() {
    let ws = DemoWorkspace::new();
    let report = audit(&integration_ownership(), &ws, &[]).await;
    let removed = with_code(&report, "integration.removed-owner");
    assert_eq!(removed.len(), 2, "Sam's two integrations: {removed:#?}");
    assert!(removed.iter().all(|f| f.severity == Severity::Critical));
    let used_by: Vec<&str> = removed
        .iter()
        .flat_map(|f| evidence(f, "used by"))
        .collect();
    assert!(
        used_by.iter().any(|v| v.starts_with("Leads / Work Email")),
        "{used_by:?}"
    );
    assert!(
        used_by.iter().any(|v| v.starts_with("Leads / Mobile")),
        "{used_by:?}"
    );
    assert_eq!(
        names(&report, "integration.single-owner"),
        ["Clearbit", "OpenAI"]
    );
    assert!(with_code(&report, "integration.unknown-owner").is_empty());
    assert!(with_code(&report, "integration.unused").is_empty());
}

#[tokio::test]
async fn idp_reconcile_okta_and_entra_exports() {
    let ws = DemoWorkspace::new();
    let okta = std::fs::read_to_string(fixture("okta-users.csv")).unwrap();
    let report = audit(&idp_reconcile(), &ws, &[("idp_csv", &okta)]).await;
    let deprovisioned = with_code(&report, "idp.deprovisioned-active");
    assert_eq!(deprovisioned.len(), 1);
    assert_eq!(deprovisioned[0].subject.name, "Leo Martins");
    assert_eq!(deprovisioned[0].severity, Severity::High);
    assert_eq!(names(&report, "idp.suspended-active"), ["Ines Duarte"]);
    assert_eq!(names(&report, "idp.no-identity"), ["Tom Becker"]);
    assert!(
        with_code(&report, "idp.unexpected-admin").is_empty(),
        "Maya is in Clay Admins"
    );
    // Sam is removed in Clay and deprovisioned in Okta: nothing to do.
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.subject.name == "Sam Okafor")
    );

    let report = audit(
        &idp_reconcile(),
        &ws,
        &[("idp_csv", &okta), ("admin_groups", "Okta Admins")],
    )
    .await;
    assert_eq!(names(&report, "idp.unexpected-admin"), ["Maya Chen"]);

    let entra = std::fs::read_to_string(fixture("entra-users.csv")).unwrap();
    let report = audit(&idp_reconcile(), &ws, &[("idp_csv", &entra)]).await;
    assert_eq!(names(&report, "idp.deprovisioned-active"), ["Jonas Berg"]);
    let missing = with_code(&report, "idp.no-identity");
    assert_eq!(missing.len(), 1);
    // Clay knows an invitation by its email alone.
    assert_eq!(missing[0].subject.name, "ava@northwind.io");
    assert_eq!(missing[0].severity, Severity::Low, "a pending invitation");
    assert!(
        report.summary.contains("admins not checked"),
        "{}",
        report.summary
    );
}

#[test]
fn idp_reconcile_reads_the_export_from_a_file_on_the_command_line() {
    let ws = DemoWorkspace::new();
    let out = std::process::Command::new(kiln_tests::kiln_bin())
        .env_remove("KILN_WORKSPACE")
        .env("KILN_CACHE_DIR", ws.dir.path().join("cache"))
        .env("KILN_LOG", "error")
        .arg("--workspace")
        .arg(&ws.path)
        .args(["audit", "idp-reconcile", "--json", "--config"])
        .arg(format!("idp_csv=@{}", fixture("okta-users.csv").display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let hits: Vec<&str> = json["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "idp.deprovisioned-active")
        .map(|f| f["subject"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(hits, ["Leo Martins"]);

    let missing = std::process::Command::new(kiln_tests::kiln_bin())
        .env_remove("KILN_WORKSPACE")
        .arg("--workspace")
        .arg(&ws.path)
        .args([
            "audit",
            "idp-reconcile",
            "--config",
            "idp_csv=@/no/such/export.csv",
        ])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/no/such/export.csv"), "{err}");
}

// ---- transformers ----

#[tokio::test]
async fn lead_score_writes_a_score_and_its_reasons() {
    let ws = DemoWorkspace::new();
    let report = transform(
        &lead_score(),
        &ws,
        "Leads",
        1024,
        &[("target_domains", "acme.com")],
    )
    .await;
    assert_eq!(report.rows_seen, 2000);
    let (table, rows) = ws.local.export_rows("Leads").unwrap();
    let mut perfect = 0;
    let mut free = 0;
    for row in &rows {
        let Some(CellValue::Number(score)) = cell(row, &table, "Lead Score") else {
            panic!("every row is scored: {row:?}");
        };
        assert!((0.0..=100.0).contains(&score));
        let reason = text(row, &table, "Score Reason").expect("every row gets a reason");
        let email = text(row, &table, "Email")
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        let title = text(row, &table, "Title").unwrap_or_default();
        let country = text(row, &table, "Country").unwrap_or_default();
        if email.ends_with("@acme.com") && title == "VP Sales" && country == "US" {
            // Acme has 1,200 employees: every rule matches.
            assert_eq!(score, 100.0, "{reason}");
            perfect += 1;
        }
        if email.ends_with("@gmail.com") {
            assert!(reason.contains("free email gmail.com (-20)"), "{reason}");
            free += 1;
        }
    }
    assert!(perfect > 0 && free > 0, "{perfect} {free}");
    // Scores are a pure function of the row: a second run changes nothing.
    let again = transform(
        &lead_score(),
        &ws,
        "Leads",
        1024,
        &[("target_domains", "acme.com")],
    )
    .await;
    assert_eq!(again.rows_changed, 0);
}

#[tokio::test]
async fn redact_pii_masks_emails_keeping_the_domain_and_phones_keeping_last_digits() {
    let ws = DemoWorkspace::new();
    let (table, before) = ws.local.export_rows("Contacts").unwrap();
    let report = transform(&redact_pii(), &ws, "Contacts", 1024, &[]).await;
    assert_eq!(report.rows_changed, before.len() as u64);
    let (_, after) = ws.local.export_rows("Contacts").unwrap();
    for (b, a) in before.iter().zip(&after) {
        let email = text(b, &table, "Email").unwrap();
        let domain = email.trim().rsplit_once('@').unwrap().1;
        assert_eq!(text(a, &table, "Email").unwrap(), format!("***@{domain}"));
        match text(b, &table, "Phone") {
            Some(phone) => {
                let masked = text(a, &table, "Phone").unwrap();
                assert_eq!(masked.len(), phone.len());
                assert_eq!(&masked[masked.len() - 4..], &phone[phone.len() - 4..]);
                assert_eq!(
                    masked.chars().filter(char::is_ascii_digit).count(),
                    4,
                    "{masked}"
                );
            }
            None => assert_eq!(text(a, &table, "Phone"), None),
        }
        assert_eq!(
            text(a, &table, "Full Name"),
            text(b, &table, "Full Name"),
            "only named columns"
        );
    }
    assert_eq!(text(&after[0], &table, "Email").unwrap(), "***@acme.com");
    assert_eq!(text(&after[0], &table, "Phone").unwrap(), "+* *** *** 0101");
    let again = transform(&redact_pii(), &ws, "Contacts", 1024, &[]).await;
    assert_eq!(again.rows_changed, 0, "masking is idempotent");
}

#[tokio::test]
async fn dedupe_contacts_deletes_exactly_the_duplicates_across_batches() {
    let ws = DemoWorkspace::new();
    let (table, before) = ws.local.export_rows("Contacts").unwrap();
    let copies: HashSet<String> = before
        .iter()
        .filter(|r| text(r, &table, "Source").as_deref() == Some("re-import"))
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(copies.len(), 5);
    // Batches of 4: every copy sits in a later batch than the row it repeats.
    let report = transform(
        &dedupe_contacts(),
        &ws,
        "Contacts",
        4,
        &[("action", "delete")],
    )
    .await;
    assert_eq!(report.rows_deleted, 5);
    let (_, after) = ws.local.export_rows("Contacts").unwrap();
    let kept: HashSet<String> = after.iter().map(|r| r.id.clone()).collect();
    let deleted: HashSet<String> = before
        .iter()
        .map(|r| r.id.clone())
        .filter(|id| !kept.contains(id))
        .collect();
    assert_eq!(deleted, copies, "look-alikes survive, copies go");
}

#[tokio::test]
async fn dedupe_contacts_marks_copies_with_the_row_they_repeat() {
    let ws = DemoWorkspace::new();
    let (table, before) = ws.local.export_rows("Contacts").unwrap();
    let report = transform(&dedupe_contacts(), &ws, "Contacts", 7, &[]).await;
    assert_eq!(report.rows_changed, 5);
    assert_eq!(report.rows_deleted, 0);
    let (_, after) = ws.local.export_rows("Contacts").unwrap();
    let by_id = |id: &str| before.iter().find(|r| r.id == id).unwrap();
    for row in &after {
        let mark = text(row, &table, "Duplicate Of");
        if text(row, &table, "Source").as_deref() == Some("re-import") {
            let original = by_id(mark.as_deref().expect("copies are marked"));
            assert_ne!(
                text(original, &table, "Source").as_deref(),
                Some("re-import")
            );
        } else {
            assert_eq!(mark, None);
        }
    }
    let ada = after
        .iter()
        .find(|r| text(r, &table, "Full Name").as_deref() == Some("ADA LOVELACE"))
        .unwrap();
    assert_eq!(
        text(ada, &table, "Duplicate Of").as_deref(),
        Some(after[0].id.as_str())
    );
}

#[tokio::test]
async fn dedupe_contacts_leaves_one_row_per_email_in_leads() {
    let ws = DemoWorkspace::new();
    let report = transform(
        &dedupe_contacts(),
        &ws,
        "Leads",
        1024,
        &[("action", "delete"), ("match_on", "email")],
    )
    .await;
    assert!(
        report.rows_deleted > 20,
        "the seed re-types about 3% of Leads: {}",
        report.rows_deleted
    );
    let (table, after) = ws.local.export_rows("Leads").unwrap();
    let mut seen = HashSet::new();
    for row in &after {
        let Some(email) = text(row, &table, "Email") else {
            continue;
        };
        let key = email.trim().to_lowercase();
        let valid = key.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
        if valid && !key.contains(' ') {
            assert!(seen.insert(key.clone()), "{key} is still there twice");
        }
    }
    assert_eq!(after.len() as u64, 2000 - report.rows_deleted);
}
