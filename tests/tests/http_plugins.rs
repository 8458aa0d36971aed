//! The same plugins, run on the embedded workspace directly and over HTTP through
//! `clay-sim` serving an identical workspace, give the same rows and the same findings.

use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_host::Clay;
use kiln_host::backend::model::{CellValue, Row, TableInfo};
use kiln_host::invocation::{AuditOptions, TransformOptions, run_audit, run_transform};
use kiln_host::sim::Faults;
use kiln_tests::{
    DemoWorkspace, NOW, http_backend, normalize_contacts, runtime, seat_audit, start_sim,
    test_http_config,
};

/// A row as field name → value: two seeded workspaces share names and data, not ids.
fn by_name(table: &TableInfo, row: &Row) -> BTreeMap<String, CellValue> {
    row.cells
        .iter()
        .map(|c| {
            let name = table
                .field(&c.field_id)
                .map(|f| f.name.clone())
                .unwrap_or_default();
            (name, c.value.clone())
        })
        .collect()
}

#[tokio::test]
async fn normalize_contacts_gives_the_same_rows_locally_and_over_http() {
    let plugin = runtime().load_file(&normalize_contacts()).await.unwrap();

    let direct = DemoWorkspace::new();
    let local_report = run_transform(
        &plugin,
        direct.backend(),
        "Leads",
        TransformOptions::default(),
    )
    .await
    .unwrap();

    let served = DemoWorkspace::new();
    let sim = start_sim(&served.local, Faults::default()).await;
    let http = http_backend(&served.local, test_http_config(&sim.url())).await;
    let http_report = run_transform(
        &plugin,
        http.clone() as Arc<dyn Clay>,
        "Leads",
        TransformOptions::default(),
    )
    .await
    .unwrap();

    assert!(http_report.failure.is_none());
    assert_eq!(http_report.rows_seen, 2000);
    assert_eq!(http_report.rows_seen, local_report.rows_seen);
    assert_eq!(http_report.rows_changed, local_report.rows_changed);
    assert_eq!(http_report.rows_failed, local_report.rows_failed);
    assert_eq!(http_report.rows_unchanged, local_report.rows_unchanged);
    assert!(http_report.rows_changed > 1900);

    let (t1, a) = direct.local.export_rows("Leads").unwrap();
    let (t2, b) = served.local.export_rows("Leads").unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(by_name(&t1, x), by_name(&t2, y));
    }
    // Updates went out in batches of at most 50: 2,000 rows changed need 40 or more.
    assert!(http.stats().requests >= 40 + 10, "{:?}", http.stats());
}

#[tokio::test]
async fn seat_audit_finds_the_same_locally_and_over_http() {
    let ws = DemoWorkspace::new();
    let plugin = runtime().load_file(&seat_audit()).await.unwrap();
    let options = || AuditOptions {
        now: Some(NOW),
        ..AuditOptions::default()
    };

    let (local_scope, local_report) = run_audit(&plugin, ws.backend(), options()).await.unwrap();

    let sim = start_sim(&ws.local, Faults::default()).await;
    let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
    let (http_scope, http_report) = run_audit(&plugin, http as Arc<dyn Clay>, options())
        .await
        .unwrap();

    assert!(!local_report.findings.is_empty());
    assert_eq!(http_report, local_report);
    assert_eq!(
        serde_json::to_value(http_scope).unwrap(),
        serde_json::to_value(local_scope).unwrap()
    );
}
