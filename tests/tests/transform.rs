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

/// Batches on several instances at once write exactly what one instance writes, each
/// instance's invocation in the trail, and a plugin that does not declare its batches
/// independent (dedupe-contacts keeps an index across batches) stays on one.
#[tokio::test]
async fn parallel_batches_write_what_one_instance_writes_and_only_when_declared_independent() {
    use kiln_host::trail::{Filter, Trail};
    let plugin = runtime().load_file(&normalize_contacts()).await.unwrap();
    assert!(plugin.manifest().transform.independent_batches);
    let run = |parallel: usize| {
        let plugin = plugin.clone();
        async move {
            let ws = DemoWorkspace::new();
            let report = run_transform(
                &plugin,
                ws.backend(),
                "Leads",
                TransformOptions {
                    rows_per_batch: 300,
                    parallel,
                    invocation: kiln_host::invocation::InvocationOptions {
                        trail: Some(Trail::open(&ws.path).unwrap()),
                        ..Default::default()
                    },
                    ..TransformOptions::default()
                },
            )
            .await
            .unwrap();
            // Each workspace has its own ids and clock: compare values by column name.
            let (table, rows) = ws.local.export_rows("Leads").unwrap();
            let rows: Vec<Vec<(String, CellValue)>> = rows
                .iter()
                .map(|r| {
                    r.cells
                        .iter()
                        .map(|c| {
                            let name = table.field(&c.field_id).map(|f| f.name.clone());
                            (name.unwrap_or_default(), c.value.clone())
                        })
                        .collect()
                })
                .collect();
            let trail = Trail::open(&ws.path).unwrap();
            assert!(trail.verify().unwrap().intact());
            let ends = trail
                .entries(&Filter::default())
                .unwrap()
                .into_iter()
                .filter(|e| e.call == "invocation.end" && e.outcome == "ok")
                .count();
            let applied = trail
                .entries(&Filter::default())
                .unwrap()
                .into_iter()
                .filter(|e| e.call == kiln_host::trail::EFFECTS_APPLY)
                .count();
            (report, rows, ends, applied)
        }
    };
    let (one, one_rows, one_ends, one_applied) = run(1).await;
    // Three instances over seven batches: the last wave is short.
    let (three, three_rows, three_ends, three_applied) = run(3).await;
    assert_eq!((one.instances, three.instances), (1, 3));
    assert_eq!((one.batches, three.batches), (7, 7));
    assert_eq!(one.rows_changed, three.rows_changed);
    assert!(three.rows_changed > 1900);
    assert!(one_rows == three_rows, "the same table either way");
    assert_eq!(
        (one_ends, three_ends),
        (1, 3),
        "one invocation per instance"
    );
    assert_eq!(
        (one_applied, three_applied),
        (7, 7),
        "every batch's write in the trail"
    );

    let dedupe = runtime()
        .load_file(&kiln_tests::dedupe_contacts())
        .await
        .unwrap();
    let ws = DemoWorkspace::new();
    let report = run_transform(
        &dedupe,
        ws.backend(),
        "Leads",
        TransformOptions {
            parallel: 4,
            dry_run: true,
            ..TransformOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.instances, 1, "not declared independent");
}
