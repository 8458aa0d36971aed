//! Diff amplification: a row holds an 8 MiB cell and one set-cells names that cell a few
//! hundred times. Validating and reporting it must cost O(cells changed), not O(mentions ×
//! cell size) — before the fix the host copied the 8 MiB value once per mention (~2 GiB for
//! 256 mentions).
//!
//! Its own test binary (one test), so the process's peak resident memory is this test's.

use kiln_host::backend::model::{CellInput, CellValue, RowUpdate};
use kiln_host::invocation::{InvocationOptions, TransformOptions, run_transform};
use kiln_host::trail::{Filter, Trail};
use kiln_tests::{DemoWorkspace, hostile_outcomes, runtime, status_bytes};

const CELL_BYTES: usize = 8 << 20;
const MENTIONS: usize = 256;
/// What the run may add to the host's resident memory: a few copies of the batch (the rows,
/// the plugin's view of them, the guest's memory) fit; one copy per mention does not.
const BOUND_BYTES: u64 = 400 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_a_huge_cell_hundreds_of_times_costs_one_cell() {
    let ws = DemoWorkspace::new();
    let (table, rows) = ws.local.export_rows("Leads").unwrap();
    let reason = table.field_by_name("Score Reason").unwrap().id.clone();
    let big = rows[0].id.clone();
    ws.backend()
        .update_rows(
            &table.id,
            &[RowUpdate {
                id: big.clone(),
                cells: vec![CellInput {
                    field_id: reason,
                    value: CellValue::Text("r".repeat(CELL_BYTES)),
                }],
            }],
        )
        .await
        .unwrap();
    let before = ws.local.export_rows("Leads").unwrap().1;
    let plugin = runtime().load_file(&hostile_outcomes()).await.unwrap();

    // From here on, the peak is the run's: reset the high-water mark to the current RSS.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let baseline = if reset {
        status_bytes("VmRSS:").expect("/proc/self/status")
    } else {
        status_bytes("VmHWM:").expect("/proc/self/status")
    };
    let report = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation: InvocationOptions {
                config: [
                    ("mode", "mention-bomb"),
                    ("field", "Score Reason"),
                    ("n", &MENTIONS.to_string()),
                    ("row", &big),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                trail: Some(Trail::open(&ws.path).unwrap()),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await
    .expect("the run completes");
    let peak = status_bytes("VmHWM:").expect("/proc/self/status");
    let grew = peak.saturating_sub(baseline);
    eprintln!(
        "mention bomb: baseline {} MiB, peak {} MiB, grew {} MiB (reset: {reset})",
        baseline >> 20,
        peak >> 20,
        grew >> 20
    );
    assert!(
        grew < BOUND_BYTES,
        "the host grew {} MiB for {MENTIONS} mentions of an 8 MiB cell (bound {} MiB)",
        grew >> 20,
        BOUND_BYTES >> 20
    );

    // The row is refused (one effect per cell: naming it twice is an error), the rest unchanged.
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(report.rows_changed, 0);
    assert_eq!(report.rows_failed, 1);
    assert_eq!(report.errors[0].row_id, big);
    assert!(
        report.errors[0]
            .message
            .contains("set column `Score Reason` more than once in one outcome"),
        "{}",
        report.errors[0].message
    );
    assert_eq!(ws.local.export_rows("Leads").unwrap().1, before);
    let ends: Vec<String> = Trail::open(&ws.path)
        .unwrap()
        .entries(&Filter {
            plugin: Some("hostile-outcomes".into()),
            ..Filter::default()
        })
        .unwrap()
        .into_iter()
        .filter(|e| e.call == "invocation.end")
        .map(|e| e.outcome)
        .collect();
    assert_eq!(ends, ["ok"]);
}
