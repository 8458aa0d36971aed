//! A guest cannot use the audit trail, or a slow host call, to take the host down: huge
//! arguments are refused by caps and stored bounded, the host's memory and the workspace
//! file stay small, a deadline ends the invocation on time, what a transformer's effects
//! changed is in the trail, and a trail that cannot be written fails the run.

use std::path::Path;
use std::time::Duration;

use kiln_host::invocation::{
    InvocationErrorKind, InvocationOptions, TransformError, TransformOptions, run_transform,
};
use kiln_host::trail::{Entry, Filter, Trail};
use kiln_tests::{DemoWorkspace, hostile_trail, kiln_measured, normalize_contacts, runtime};

fn all_entries(path: &Path) -> Vec<Entry> {
    Trail::open(path)
        .unwrap()
        .entries(&Filter::default())
        .unwrap()
}

/// A stored target is a few KiB at most, whatever the guest passed.
const TARGET_BOUND: usize = 4 << 10;
/// The host's peak memory for a bomb run. Before the caps these took 2.2 GB, 4.2 GB and
/// over 6 GB; the bound leaves room for the engine, a debug build and the guest's own 256 MiB.
const RSS_BOUND_MIB: u64 = 1024;

#[test]
fn argument_bombs_are_refused_and_stay_bounded_in_memory_trail_and_file() {
    let ws = DemoWorkspace::new();
    let cache = tempfile::tempdir().unwrap();
    let wasm = hostile_trail();
    let wasm = wasm.to_str().unwrap();
    let (leads, rows_before) = ws.local.export_rows("Leads").unwrap();
    let leads = leads.id;
    // The bombs were 64 × 32 MiB keys, 32 × 16 MiB ids and 100 × 1,000,000 ids,
    // measured on a release build. A debug wasmtime lifts guest strings some fifty times
    // slower, so the sizes here are scaled to finish well inside the 30 s deadline; each
    // still stored tens of MB in the trail (and file) before the caps.
    let cases: [(&str, &str, &str, usize); 4] = [
        // mode, bomb size (MiB), what the guest must have been told, calls it made
        ("config-key-bomb", "1", "found=0", 64),
        ("table-id-bomb", "1", "refused=32 last=invalid", 32),
        ("read-records-bomb", "0", "refused=5 last=invalid", 5),
        ("slow-host-call", "0", "refused=1 last=invalid", 1),
    ];
    for (mode, mib, told, calls) in cases {
        let before_file = std::fs::metadata(&ws.path).unwrap().len();
        let before = all_entries(&ws.path).len();
        let mode_arg = format!("mode={mode}");
        let table_arg = format!("table={leads}");
        let mib_arg = format!("mib={mib}");
        let n_arg = format!("n={calls}");
        // Over the id cap, but under the output limit that ends a 2,000,000-id call first.
        let owners_arg = "owners=20000";
        let ran = kiln_measured(
            &ws.path,
            Some(cache.path()),
            &[
                "audit", wasm, "-c", &mode_arg, "-c", &table_arg, "-c", &mib_arg, "-c", &n_arg,
                "-c", owners_arg, "--json",
            ],
        );
        eprintln!(
            "{mode}: {:?}, peak RSS {} MiB",
            ran.elapsed, ran.peak_rss_mib
        );
        assert!(ran.success, "{mode}: {}\n{}", ran.stdout, ran.stderr);
        assert!(ran.stdout.contains(told), "{mode}: {}", ran.stdout);
        if mode != "config-key-bomb" {
            assert!(
                ran.stdout.contains("MAX_"),
                "{mode}: the error names the cap: {}",
                ran.stdout
            );
        }
        assert!(
            ran.peak_rss_mib < RSS_BOUND_MIB,
            "{mode}: peak RSS {} MiB",
            ran.peak_rss_mib
        );
        let entries = all_entries(&ws.path);
        let new = &entries[before..];
        let refused: Vec<&Entry> = new
            .iter()
            .filter(|e| !e.call.starts_with("invocation."))
            .filter(|e| e.call != "config.get" || e.targets.first().is_some_and(|t| t.len() > 100))
            .collect();
        assert_eq!(refused.len(), calls, "{mode}: {new:#?}");
        for e in &refused {
            if mode != "config-key-bomb" {
                assert_eq!(e.outcome, "error:invalid", "{mode}: {e:?}");
            }
            for t in &e.targets {
                assert!(t.len() <= TARGET_BOUND, "{mode}: a {}-byte target", t.len());
            }
            assert!(e.targets.len() <= 40, "{mode}: {} targets", e.targets.len());
            assert!(e.message.as_ref().is_none_or(|m| m.len() <= 8 << 10));
        }
        if mode == "read-records-bomb" {
            let summary = refused[0].targets.last().unwrap();
            assert!(summary.contains("1000001 targets, sha256"), "{summary}");
        }
        let growth = std::fs::metadata(&ws.path).unwrap().len() - before_file;
        assert!(
            growth < 8 << 20,
            "{mode}: the workspace file grew {growth} bytes"
        );
        assert!(Trail::open(&ws.path).unwrap().verify().unwrap().intact());
    }
    // Nothing was changed: the bombs only read.
    assert_eq!(ws.local.export_rows("Leads").unwrap().1, rows_before);
}

#[test]
fn a_deadline_ends_the_invocation_on_time_whatever_the_guest_waits_on() {
    let ws = DemoWorkspace::new();
    let cache = tempfile::tempdir().unwrap();
    let wasm = hostile_trail();
    let wasm = wasm.to_str().unwrap();
    // Compile once, so the timing below is the invocation's.
    kiln_measured(
        &ws.path,
        Some(cache.path()),
        &["audit", wasm, "-c", "mode=none"],
    );
    // 41.8 s before the fix. Lifting two million strings is synchronous host work that
    // no timer can interrupt, bounded by the transfer limit; a debug wasmtime does it
    // many times slower, and other tests share the cores.
    let on_time = Duration::from_secs(if cfg!(debug_assertions) { 12 } else { 5 });
    for mode in ["slow-host-call", "spin"] {
        let mode_arg = format!("mode={mode}");
        let ran = kiln_measured(
            &ws.path,
            Some(cache.path()),
            &["audit", wasm, "-c", &mode_arg, "--deadline-ms", "1000"],
        );
        assert!(
            ran.elapsed < on_time,
            "{mode}: took {:?}\n{}\n{}",
            ran.elapsed,
            ran.stdout,
            ran.stderr
        );
        if mode == "slow-host-call" {
            // Either the call reached the host and the id cap refused it at once, or (a
            // debug build lifts two million strings slowly) the deadline ended it: on time.
            assert!(
                (ran.success && ran.stdout.contains("MAX_IDS_PER_CALL"))
                    || (!ran.success && ran.stderr.contains("deadline of 1000 ms")),
                "{}\n{}",
                ran.stdout,
                ran.stderr
            );
        }
        if mode == "spin" {
            assert!(!ran.success);
            assert!(ran.stderr.contains("deadline"), "{}", ran.stderr);
            let end = all_entries(&ws.path).pop().unwrap();
            assert_eq!(end.call, "invocation.end");
            assert_eq!(end.outcome, "limit:deadline");
        }
    }
}

#[tokio::test]
async fn applied_batches_are_in_the_trail_with_their_counts() {
    let ws = DemoWorkspace::new();
    let rt = runtime();
    let plugin = rt.load_file(&normalize_contacts()).await.unwrap();
    let report = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            rows_per_batch: 50,
            invocation: InvocationOptions {
                trail: Some(Trail::open(&ws.path).unwrap()),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(report.rows_changed > 0, "{report:?}");
    let entries = all_entries(&ws.path);
    let applied: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.call == "effects.apply")
        .collect();
    assert!(!applied.is_empty());
    let count = |e: &Entry, key: &str| -> u64 {
        e.targets
            .iter()
            .find_map(|t| t.strip_prefix(key))
            .unwrap()
            .parse()
            .unwrap()
    };
    let set: u64 = applied.iter().map(|e| count(e, "rows-set:")).sum();
    assert_eq!(set, report.rows_changed);
    for e in &applied {
        assert_eq!(e.outcome, "ok");
        assert_eq!(e.targets[0], report.table_id);
        assert!(
            e.targets
                .iter()
                .any(|t| t.starts_with("sha256:") && t.len() == 71)
        );
    }
    // `trail show --invocation` shows what one invocation changed.
    let invocation = applied[0].invocation_id.clone();
    let one = Trail::open(&ws.path)
        .unwrap()
        .entries(&Filter {
            invocation_id: Some(invocation),
            ..Filter::default()
        })
        .unwrap();
    assert!(one.iter().any(|e| e.call == "effects.apply"));
    assert_eq!(one.last().unwrap().call, "invocation.end");
    assert_eq!(one.last().unwrap().outcome, "ok");
}

#[tokio::test]
async fn a_trail_that_cannot_be_written_fails_the_run_and_changes_nothing() {
    let ws = DemoWorkspace::new();
    let dir = tempfile::tempdir().unwrap();
    let trail_path = dir.path().join("trail.sqlite");
    let trail = Trail::open(&trail_path).unwrap();
    // Behind kiln's back, the trail's table goes away: every write to it fails.
    rusqlite::Connection::open(&trail_path)
        .unwrap()
        .execute_batch("DROP TABLE kiln_trail")
        .unwrap();
    let before = ws.local.export_rows("Leads").unwrap().1;
    let rt = runtime();
    let plugin = rt.load_file(&normalize_contacts()).await.unwrap();
    let result = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation: InvocationOptions {
                trail: Some(trail),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await;
    match result {
        Err(TransformError::Invocation(e)) => {
            assert!(matches!(e.kind, InvocationErrorKind::Trail(_)), "{e}");
            assert!(e.to_string().contains("audit trail"), "{e}");
        }
        Err(other) => panic!("not a trail error: {other}"),
        Ok(report) => panic!("reported success with an unwritable trail: {report:?}"),
    }
    assert_eq!(
        ws.local.export_rows("Leads").unwrap().1,
        before,
        "no row changed"
    );
}
