//! normalize-contacts, built to a real component, over the demo workspace's Leads table.

use kiln_host::backend::model::{CellValue, Row, TableInfo};
use kiln_host::invocation::{TransformOptions, run_transform};
use kiln_tests::{DemoWorkspace, normalize_contacts, runtime};

fn text(row: &Row, table: &TableInfo, column: &str) -> Option<String> {
    let field = table.field_by_name(column)?;
    match &row.cell(&field.id)?.value {
        CellValue::Text(s) => Some(s.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn normalizes_messy_emails_and_flags_invalid_ones_without_touching_them() {
    let ws = DemoWorkspace::new();
    let (table, before) = ws.local.export_rows("Leads").unwrap();
    let plugin = runtime().load_file(&normalize_contacts()).await.unwrap();

    let report = run_transform(&plugin, ws.backend(), "Leads", TransformOptions::default())
        .await
        .unwrap();
    assert_eq!(report.rows_seen, 2000);
    assert_eq!(report.batches, 2, "1,024 rows per batch");
    assert!(report.failure.is_none());
    assert_eq!(report.rows_failed, 0, "{:?}", report.errors.first());
    assert!(report.rows_changed > 1900, "{}", report.rows_changed);

    let (_, after) = ws.local.export_rows("Leads").unwrap();
    let mut padded = 0;
    let mut invalid = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.id, a.id, "rows keep their order and ids");
        let Some(raw) = text(b, &table, "Email") else {
            assert_eq!(text(a, &table, "Email Status").as_deref(), Some("missing"));
            continue;
        };
        let status = text(a, &table, "Email Status").expect("every row gets a status");
        let now = text(a, &table, "Email").unwrap();
        if status == "valid" {
            assert_eq!(now, raw.trim().to_lowercase());
            if raw != now {
                padded += 1;
            }
        } else {
            assert!(status.starts_with("invalid: "), "{status}");
            assert_eq!(now, raw, "an invalid email is left exactly as typed");
            invalid += 1;
        }
    }
    assert!(
        padded > 500,
        "the seed has plenty of messy emails ({padded})"
    );
    assert!(invalid > 50, "the seed has invalid emails ({invalid})");

    // Names and phones too, for a known-shape row.
    let sample = after
        .iter()
        .find(|r| text(r, &table, "Phone").is_some_and(|p| p.starts_with("+1") && p.len() == 12))
        .expect("some phone normalized to E.164");
    assert!(text(sample, &table, "First Name").is_some());

    // A second run finds nothing left to do.
    let again = run_transform(&plugin, ws.backend(), "Leads", TransformOptions::default())
        .await
        .unwrap();
    assert_eq!(again.rows_changed, 0);
    assert_eq!(again.rows_unchanged, 2000);
}

#[tokio::test]
async fn dry_run_reports_changes_and_writes_nothing() {
    let ws = DemoWorkspace::new();
    let (_, before) = ws.local.export_rows("Leads").unwrap();
    let plugin = runtime().load_file(&normalize_contacts()).await.unwrap();
    let report = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            dry_run: true,
            ..TransformOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(report.dry_run);
    assert!(report.rows_changed > 1900);
    assert_eq!(report.changes.len() as u64, report.rows_changed);
    let (_, after) = ws.local.export_rows("Leads").unwrap();
    assert_eq!(before, after, "a dry run changes nothing");
}

#[tokio::test]
async fn a_missing_column_fails_each_row_and_the_run_goes_on() {
    let ws = DemoWorkspace::new();
    let plugin = runtime().load_file(&normalize_contacts()).await.unwrap();
    let mut options = TransformOptions::default();
    options
        .invocation
        .config
        .insert("phone_column".into(), "Telephone".into());
    let report = run_transform(&plugin, ws.backend(), "Accounts", options)
        .await
        .unwrap();
    assert_eq!(report.rows_failed, report.rows_seen);
    assert!(
        report.errors[0].message.contains("phone_column"),
        "{}",
        report.errors[0].message
    );
    assert!(report.failure.is_none(), "row errors do not fail the batch");
}
