//! seat-audit, built to a real component, over the demo workspace.

use kiln_host::invocation::{AuditOptions, run_audit};
use kiln_tests::{DemoWorkspace, NOW, runtime, seat_audit};

#[tokio::test]
async fn finds_the_single_admin_and_the_inactive_seats() {
    let ws = DemoWorkspace::new();
    let plugin = runtime().load_file(&seat_audit()).await.unwrap();
    let (scope, report) = run_audit(
        &plugin,
        ws.backend(),
        AuditOptions {
            now: Some(NOW),
            ..AuditOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(scope.workspace_id, 1);
    let by_code = |code: &str| {
        report
            .findings
            .iter()
            .filter(move |f| f.code == code)
            .collect::<Vec<_>>()
    };

    let single = by_code("seat.single-admin");
    assert_eq!(single.len(), 1);
    assert!(single[0].message.contains("Maya Chen"));

    let mut inactive: Vec<&str> = by_code("seat.inactive")
        .iter()
        .map(|f| f.subject.name.as_str())
        .collect();
    inactive.sort();
    assert_eq!(inactive, ["Ines Duarte", "Tom Becker"]);

    // Integrations and credits are other auditors' findings (integration-ownership,
    // credit-governance): seat-audit does not repeat them.
    assert!(report.findings.iter().all(|f| f.code.starts_with("seat.")));
}

#[tokio::test]
async fn config_changes_the_audit() {
    let ws = DemoWorkspace::new();
    let plugin = runtime().load_file(&seat_audit()).await.unwrap();
    let mut options = AuditOptions {
        now: Some(NOW),
        ..AuditOptions::default()
    };
    options
        .invocation
        .config
        .insert("min_admins".into(), "1".into());
    options
        .invocation
        .config
        .insert("inactive_days".into(), "100".into());
    let (_, report) = run_audit(&plugin, ws.backend(), options).await.unwrap();
    // Ines last spent 70 days ago: inside a 100-day window.
    let inactive: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.code == "seat.inactive")
        .map(|f| f.subject.name.as_str())
        .collect();
    assert_eq!(inactive, ["Tom Becker"]);
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.code == "seat.single-admin")
    );

    let mut bad = AuditOptions::default();
    bad.invocation
        .config
        .insert("inactive_days".into(), "soon".into());
    let err = run_audit(&plugin, ws.backend(), bad).await.unwrap_err();
    assert!(err.to_string().contains("inactive_days"), "{err}");
}
