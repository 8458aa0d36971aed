//! 64 invocations of mixed plugins at once in one runtime whose instance pool holds 8: the
//! rest wait their turn (back-pressure), nothing deadlocks, every run ends with its own
//! result or its own error, and memory stays bounded. Alone in its test binary so the
//! process's peak memory is this test's.

use std::sync::Arc;
use std::time::Duration;

use kiln_host::invocation::{
    AuditOptions, InvocationOptions, Limits, TransformOptions, run_audit, run_transform,
};
use kiln_host::{Plugin, Runtime, RuntimeConfig};
use kiln_tests::{DemoWorkspace, hostile, normalize_contacts, seat_audit, status_bytes};

const RUNS: usize = 64;
const POOL: u32 = 8;

#[derive(Debug, PartialEq)]
enum Outcome {
    Normalized { rows_seen: u64, changed: u64 },
    Audited { single_admin: bool },
    Limit(String),
}

fn limits(deadline_ms: u64, memory_mib: u64) -> Limits {
    Limits {
        deadline: Duration::from_millis(deadline_ms),
        memory_bytes: memory_mib << 20,
        ..Limits::default()
    }
}

async fn hostile_run(plugin: &Plugin, ws: &DemoWorkspace, mode: &str, limits: Limits) -> Outcome {
    let report = run_transform(
        plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation: InvocationOptions {
                config: [("mode".to_string(), mode.to_string())].into(),
                limits: Some(limits),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await
    .expect("the run reports its failure");
    Outcome::Limit(
        report
            .failure
            .and_then(|f| f.limit)
            .unwrap_or_else(|| "none".into()),
    )
}

async fn one(i: usize, plugins: Arc<[Plugin; 3]>, ws: Arc<Vec<DemoWorkspace>>) -> Outcome {
    let [normalize, audit, hostile] = &*plugins;
    let ws = &ws[i % ws.len()];
    match i % 4 {
        0 => {
            let report = run_transform(
                normalize,
                ws.backend(),
                "Leads",
                TransformOptions {
                    dry_run: true,
                    ..TransformOptions::default()
                },
            )
            .await
            .expect("normalize runs");
            assert!(report.failure.is_none(), "{:?}", report.failure);
            Outcome::Normalized {
                rows_seen: report.rows_seen,
                changed: report.rows_changed,
            }
        }
        1 => {
            let (_, report) = run_audit(audit, ws.backend(), AuditOptions::default())
                .await
                .expect("the audit runs");
            Outcome::Audited {
                single_admin: report
                    .findings
                    .iter()
                    .any(|f| f.code == "seat.single-admin"),
            }
        }
        2 => hostile_run(hostile, ws, "loop", limits(300, 64)).await,
        _ => hostile_run(hostile, ws, "alloc", limits(10_000, 32)).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_mixed_runs_share_a_pool_of_eight() {
    let rt = Runtime::new(RuntimeConfig {
        cache_dir: None,
        max_concurrency: POOL,
        max_memory_bytes: 128 << 20,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let plugins: Arc<[Plugin; 3]> = Arc::new([
        rt.load_file(&normalize_contacts()).await.unwrap(),
        rt.load_file(&seat_audit()).await.unwrap(),
        rt.load_file(&hostile()).await.unwrap(),
    ]);
    let workspaces = Arc::new((0..4).map(|_| DemoWorkspace::new()).collect::<Vec<_>>());

    let tasks: Vec<_> = (0..RUNS)
        .map(|i| tokio::spawn(one(i, plugins.clone(), workspaces.clone())))
        .collect();
    let all = async {
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.expect("no run panicked"));
        }
        outcomes
    };
    // A deadlock would hang here; fail instead.
    let outcomes = tokio::time::timeout(Duration::from_secs(600), all)
        .await
        .expect("all 64 runs finished: no deadlock");

    for (i, outcome) in outcomes.iter().enumerate() {
        let expected = match i % 4 {
            0 => Outcome::Normalized {
                rows_seen: 2000,
                changed: match outcome {
                    Outcome::Normalized { changed, .. } => (*changed).max(1),
                    _ => 1,
                },
            },
            1 => Outcome::Audited { single_admin: true },
            2 => Outcome::Limit("deadline".into()),
            _ => Outcome::Limit("memory".into()),
        };
        assert_eq!(outcome, &expected, "run {i}");
    }
    // Eight live instances of at most 128 MiB each, plus four workspaces and the compiled
    // code: far below what 64 unbounded instances would take.
    let peak = status_bytes("VmHWM:").unwrap_or(0);
    eprintln!(
        "peak RSS with {RUNS} runs over a pool of {POOL}: {} MiB",
        peak >> 20
    );
    assert!(peak > 0, "no /proc/self/status");
    assert!(
        peak < 2 << 30,
        "peak memory {} MiB: the pool did not bound it",
        peak >> 20
    );
}
