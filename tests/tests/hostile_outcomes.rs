//! A transformer's outcomes are untrusted: a cell past the batch's columns, a row left
//! without an outcome, a number JSON cannot hold, a write to a source column — each fails
//! its row with a clear reason and changes nothing; an answer that breaks the buffer layout
//! fails its batch. The table reads back exactly as it was (including columns the plugin was
//! never granted).
//!
//! The mention bomb (one cell named hundreds of times) is in `hostile_outcomes_memory.rs`,
//! its own test binary, so its resident-memory bound measures that test alone.

use kiln_host::backend::model::{CellInput, CellValue, FieldKind, Row, RowUpdate};
use kiln_host::capabilities::{Access, Grants, Interface, TableScope};
use kiln_host::invocation::{InvocationOptions, TransformOptions, TransformReport, run_transform};
use kiln_host::trail::{Filter, Trail};
use kiln_host::{ClayError, Plugin};
use kiln_tests::{DemoWorkspace, hostile_outcomes, runtime};

const PLUGIN: &str = "hostile-outcomes";

async fn plugin() -> Plugin {
    runtime()
        .load_file(&hostile_outcomes())
        .await
        .expect("the guest loads")
}

/// Runs the guest over Leads with `config`, recording the trail in the workspace file.
async fn run(
    ws: &DemoWorkspace,
    config: &[(&str, &str)],
    grants: Option<Grants>,
    rows_per_batch: usize,
) -> TransformReport {
    run_transform(
        &plugin().await,
        ws.backend(),
        "Leads",
        TransformOptions {
            rows_per_batch,
            invocation: InvocationOptions {
                config: config
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                grants,
                trail: Some(Trail::open(&ws.path).expect("trail opens")),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await
    .expect("the run completes and reports its row errors")
}

fn leads(ws: &DemoWorkspace) -> Vec<Row> {
    ws.local
        .export_rows("Leads")
        .expect("every row of Leads reads back")
        .1
}

/// Nothing was applied, and the plugin's one invocation ended normally in the trail.
fn nothing_changed(ws: &DemoWorkspace, before: &[Row], report: &TransformReport) {
    assert_eq!(report.rows_changed, 0, "{:?}", report.changes.first());
    assert_eq!(report.rows_deleted, 0, "{:?}", report.deleted.first());
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(leads(ws), before, "the table is as it was");
    let trail = Trail::open(&ws.path).unwrap();
    assert!(trail.verify().unwrap().intact());
    let entries = trail
        .entries(&Filter {
            plugin: Some(PLUGIN.into()),
            ..Filter::default()
        })
        .unwrap();
    let ends: Vec<_> = entries
        .iter()
        .filter(|e| e.call == "invocation.end")
        .collect();
    assert_eq!(ends.len(), 1, "one invocation, one end: {ends:?}");
    assert_eq!(ends[0].outcome, "ok", "{:?}", ends[0]);
}

/// Every row of the run failed with a message containing `needle`.
fn every_row_fails_with(report: &TransformReport, needle: &str) {
    assert_eq!(report.rows_seen, 2000);
    assert_eq!(report.rows_failed, 2000, "{:?}", report.errors.first());
    assert_eq!(report.errors.len(), 2000);
    for e in &report.errors {
        assert!(e.message.contains(needle), "{}: {}", e.row_id, e.message);
    }
}

#[tokio::test]
async fn a_cell_past_the_batch_s_fields_fails_its_row_and_changes_nothing() {
    // Positions are all a plugin can name: the first past the end, and the last a u32 holds.
    for past in [0, u32::MAX as usize] {
        let ws = DemoWorkspace::new();
        let before = leads(&ws);
        let (accounts, accounts_before) = ws.local.export_rows("Accounts").unwrap();
        let width = ws.local.export_rows("Leads").unwrap().0.fields.len();
        let at = width.max(past).to_string();
        let report = run(
            &ws,
            &[("mode", "cell-past-the-end"), ("at", &at)],
            None,
            1024,
        )
        .await;
        every_row_fails_with(
            &report,
            &format!(
                "refused: the plugin set cell #{at}, but the batch has {width} columns; nothing was changed for this row"
            ),
        );
        nothing_changed(&ws, &before, &report);
        assert_eq!(accounts.name, "Accounts");
        assert_eq!(ws.local.export_rows("Accounts").unwrap().1, accounts_before);
    }
}

#[tokio::test]
async fn rows_left_without_an_outcome_fail_alone() {
    let ws = DemoWorkspace::new();
    let before = leads(&ws);
    let report = run(&ws, &[("mode", "short")], None, 1000).await;
    // Each of the two batches answered for its first row only.
    assert_eq!(report.rows_unchanged, 2);
    assert_eq!(report.rows_failed, 1998);
    assert!(
        report
            .errors
            .iter()
            .all(|e| e.message == "the plugin returned no outcome for this row")
    );
    assert!(
        !report
            .errors
            .iter()
            .any(|e| e.row_id == before[0].id || e.row_id == before[1000].id)
    );
    nothing_changed(&ws, &before, &report);
}

#[tokio::test]
async fn an_answer_that_breaks_the_layout_fails_its_batch_with_where_and_applies_nothing() {
    for (how, what) in [
        ("tag", "unknown tag 127 at byte 1"),
        ("truncated", "the buffer ends inside a value"),
        ("utf8", "a string is not UTF-8 at byte 2"),
        ("count", "the buffer ends inside a value"),
    ] {
        let ws = DemoWorkspace::new();
        let before = leads(&ws);
        let report = run(&ws, &[("mode", "malformed"), ("how", how)], None, 1024).await;
        let failure = report.failure.as_ref().expect("the batch failed");
        assert_eq!(failure.batch_index, 0);
        assert!(
            failure.error.contains("returned outcomes kiln cannot read"),
            "{how}: {}",
            failure.error
        );
        assert!(failure.error.contains(what), "{how}: {}", failure.error);
        assert!(
            failure.error.contains("nothing of the batch was applied"),
            "{}",
            failure.error
        );
        assert_eq!(report.rows_changed, 0);
        assert_eq!(
            report.rows_unchanged, 0,
            "not even the well-formed first outcome counts"
        );
        assert_eq!(leads(&ws), before, "{how}: the table is as it was");
        let trail = Trail::open(&ws.path).unwrap();
        assert!(trail.verify().unwrap().intact());
    }
}

/// Write access to Leads, but `Full Name` is denied (the policy's `deny_columns`).
fn without_full_name() -> Grants {
    Grants::new()
        .with(Interface::Tables, Access::Write)
        .with_tables(TableScope {
            denied_columns: vec!["Full Name".into()],
            ..TableScope::default()
        })
}

/// Non-finite numbers: each row fails, and every row still reads with all of its cells,
/// including the column the plugin was never granted; the next write keeps them too.
async fn non_finite(mode: &str, shown: &str) {
    let ws = DemoWorkspace::new();
    let before = leads(&ws);
    let (table, _) = ws.local.export_rows("Leads").unwrap();
    let full_name = table.field_by_name("Full Name").unwrap().id.clone();
    assert!(
        before.iter().all(|r| r.cell(&full_name).is_some()),
        "the demo rows have names"
    );
    let report = run(
        &ws,
        &[("mode", mode), ("field", "Employees")],
        Some(without_full_name()),
        1024,
    )
    .await;
    every_row_fails_with(&report, &format!("{shown}, which is not a finite number"));
    assert!(
        report.errors[0]
            .message
            .contains("the plugin set column `Employees` to"),
        "{}",
        report.errors[0].message
    );
    nothing_changed(&ws, &before, &report);

    // A later write to the row leaves its other cells, the ungranted one included.
    let status = table.field_by_name("Email Status").unwrap().id.clone();
    ws.backend()
        .update_rows(
            &table.id,
            &[RowUpdate {
                id: before[0].id.clone(),
                cells: vec![CellInput {
                    field_id: status.clone(),
                    value: CellValue::Text("checked".into()),
                }],
            }],
        )
        .await
        .unwrap();
    let after = leads(&ws);
    for cell in before[0].cells.iter().filter(|c| c.field_id != status) {
        assert_eq!(after[0].cell(&cell.field_id), Some(cell), "a cell survives");
    }
    assert_eq!(
        after[0].cell(&status).map(|c| &c.value),
        Some(&CellValue::Text("checked".into()))
    );

    // The backend refuses the value itself too, whoever writes it.
    let employees = table.field_by_name("Employees").unwrap().id.clone();
    let err = ws
        .backend()
        .update_rows(
            &table.id,
            &[RowUpdate {
                id: before[1].id.clone(),
                cells: vec![CellInput {
                    field_id: employees,
                    value: CellValue::Number(f64::NAN),
                }],
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClayError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("must be finite"), "{err}");
    assert_eq!(leads(&ws)[1], before[1]);
}

#[tokio::test]
async fn nan_fails_the_row_and_the_row_keeps_every_cell() {
    non_finite("nan", "NaN").await;
}

#[tokio::test]
async fn infinity_fails_the_row_and_the_row_keeps_every_cell() {
    non_finite("infinity", "inf").await;
}

#[tokio::test]
async fn a_source_column_cannot_be_written() {
    let ws = DemoWorkspace::new();
    ws.local
        .add_field("Leads", "Origin", FieldKind::Source)
        .unwrap();
    let before = leads(&ws);
    let report = run(
        &ws,
        &[("mode", "source-column"), ("field", "Origin")],
        None,
        1024,
    )
    .await;
    every_row_fails_with(
        &report,
        "the plugin set column `Origin`, which is filled by its source and cannot be written",
    );
    nothing_changed(&ws, &before, &report);
}
