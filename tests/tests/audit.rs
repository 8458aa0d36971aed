//! seat-audit, built to a real component, over the demo workspace.

use kiln_host::invocation::{AuditOptions, Severity, run_audit};
use kiln_tests::{DemoWorkspace, NOW, runtime, seat_audit};

#[tokio::test]
async fn finds_the_removed_members_integrations_and_the_single_admin() {
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

    let removed = by_code("integration.removed-owner");
    assert_eq!(removed.len(), 2, "Sam's two integrations: {removed:#?}");
    let used_by: Vec<&str> = removed
        .iter()
        .flat_map(|f| f.evidence.iter())
        .filter(|(k, _)| k == "used by")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        used_by.iter().any(|v| v.starts_with("Leads / Work Email")),
        "{used_by:?}"
    );
    assert!(
        used_by.iter().any(|v| v.starts_with("Leads / Mobile")),
        "{used_by:?}"
    );
    assert!(removed.iter().all(|f| f.severity == Severity::Critical));

    let single = by_code("seat.single-admin");
    assert_eq!(single.len(), 1);
    assert!(single[0].message.contains("Maya Chen"));

    let mut inactive: Vec<&str> = by_code("seat.inactive")
        .iter()
        .map(|f| f.subject.name.as_str())
        .collect();
    inactive.sort();
    assert_eq!(inactive, ["Ines Duarte", "Tom Becker"]);

    let heavy = by_code("credits.heavy-spender");
    assert_eq!(heavy.len(), 1);
    assert_eq!(heavy[0].subject.name, "Jonas Berg");
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
        .insert("max_pool_share".into(), "0.8".into());
    options
        .invocation
        .config
        .insert("min_admins".into(), "1".into());
    let (_, report) = run_audit(&plugin, ws.backend(), options).await.unwrap();
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.code == "credits.heavy-spender")
    );
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
