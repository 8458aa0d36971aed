//! Trail bombs: a guest that passes megabyte ids and keys, or millions of ids, in call after
//! call. The trail stores a bounded form of each (the first ids cut short, the count, a hash
//! of the whole list), the per-call caps refuse what would make the host work for minutes,
//! and the host's memory and the workspace file stay small. Its own test binary, so the
//! process's peak memory is this test's alone.

use std::time::{Duration, Instant};

use kiln_host::invocation::{AuditOptions, InvocationOptions, run_audit};
use kiln_host::trail::{Filter, Trail};
use kiln_tests::{DemoWorkspace, NOW, hostile_trail, memory_kib, runtime};

/// Host memory an attack may add on top of the baseline: the guest's own copy of what it
/// passes plus the host's one transient copy of the call's arguments, with room to spare.
/// Before the trail was bounded, 64 calls with a 32 MiB key held 4.2 GB.
const PEAK_BOUND_KIB: u64 = 768 << 10;
/// What a whole attack may add to the workspace file (it added 2.5 GB before).
const FILE_GROWTH_BOUND: u64 = 2 << 20;
/// What one entry may store of the ids and messages a guest chose.
const ENTRY_BOUND: usize = 8 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_ids_and_keys_leave_the_trail_and_the_host_bounded() {
    let ws = DemoWorkspace::new();
    let rt = runtime();
    let plugin = rt.load_file(&hostile_trail()).await.unwrap();
    let (_, before_rows) = ws.local.export_rows("Leads").unwrap();
    let (baseline_peak, _) = memory_kib();

    for (mode, guest_saw) in [
        ("config-key-bomb", "none"),
        ("table-id-bomb", "invalid"),
        ("read-records-bomb", "invalid"),
        ("owner-bomb", "invalid"),
    ] {
        let file_before = std::fs::metadata(&ws.path).unwrap().len()
            + std::fs::metadata(ws.path.with_extension("sqlite-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        let started = Instant::now();
        let (_, report) = run_audit(
            &plugin,
            ws.backend(),
            AuditOptions {
                now: Some(NOW),
                invocation: InvocationOptions {
                    config: [("mode".to_string(), mode.to_string())].into(),
                    trail: Some(Trail::open(&ws.path).unwrap()),
                    ..InvocationOptions::default()
                },
                ..AuditOptions::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
        // The caps answer at once: a credit report over two million owners ran 41.8 s before.
        assert_eq!(report.summary, guest_saw, "{mode}: what the guest was told");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{mode} took {:?}",
            started.elapsed()
        );

        let trail = Trail::open(&ws.path).unwrap();
        let entries = trail.entries(&Filter::default()).unwrap();
        let calls: Vec<_> = entries
            .iter()
            .filter(|e| e.call != "invocation.start" && e.call != "invocation.end")
            .collect();
        assert!(!calls.is_empty(), "{mode}: the calls are in the trail");
        for e in &calls {
            let stored: usize = e.targets.iter().map(String::len).sum::<usize>()
                + e.message.as_deref().map_or(0, str::len);
            assert!(
                stored <= ENTRY_BOUND,
                "{mode}: {} stored {stored} bytes of targets",
                e.call
            );
        }
        if mode == "read-records-bomb" {
            let e = calls.last().unwrap();
            assert_eq!(e.outcome, "error:invalid", "{mode}: {e:?}");
            assert!(
                e.targets.iter().any(|t| t.contains("1000001 in all")),
                "the entry keeps the count of what was named (the table and the ids): {:?}",
                e.targets
            );
        }
        let file_after = std::fs::metadata(&ws.path).unwrap().len()
            + std::fs::metadata(ws.path.with_extension("sqlite-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        assert!(
            file_after.saturating_sub(file_before) < FILE_GROWTH_BOUND,
            "{mode}: the workspace file grew by {} bytes",
            file_after.saturating_sub(file_before)
        );
        assert!(trail.verify().unwrap().intact());
    }

    let (peak, _) = memory_kib();
    eprintln!(
        "peak memory: {} MiB before the attacks, {} MiB after",
        baseline_peak >> 10,
        peak >> 10
    );
    assert!(
        peak.saturating_sub(baseline_peak) < PEAK_BOUND_KIB,
        "the host's peak memory grew by {} MiB (bound {} MiB)",
        peak.saturating_sub(baseline_peak) >> 10,
        PEAK_BOUND_KIB >> 10
    );
    assert_eq!(
        ws.local.export_rows("Leads").unwrap().1,
        before_rows,
        "nothing changed"
    );
}
