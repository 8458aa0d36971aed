//! 1,000 concurrent invocations in one process, each holding a live instance that has run a
//! batch, and what they cost in resident memory (goal: within 2 GiB).
//!
//! `cargo bench -p kiln-host --bench concurrency` prints RSS before, while all are held, and
//! the peak.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use kiln_host::backend::local::LocalBackend;
use kiln_host::build::build_plugin;
use kiln_host::invocation::{InvocationOptions, TransformContext, TransformerInstance};
use kiln_host::{Clay, Runtime, RuntimeConfig};

const INSTANCES: usize = 1_000;
const ROWS_EACH: usize = 16;

/// A `/proc/self/status` figure (`VmRSS`, `VmHWM`) in MiB.
fn status_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours means skip.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with("--") && a != "concurrency")
    {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let dir = tempfile::tempdir().expect("temp dir");
    let local = LocalBackend::create(&dir.path().join("ws.sqlite")).expect("workspace");
    local.seed_demo(1_795_000_000_000).expect("seed");
    let (table, rows) = local.export_rows("Leads").expect("rows");
    let backend: Arc<dyn Clay> = Arc::new(local);

    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/normalize-contacts");
    let wasm = build_plugin(&crate_dir)
        .expect("normalize-contacts builds")
        .wasm;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: None,
        max_concurrency: INSTANCES as u32,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let plugin = rt.block_on(runtime.load_file(&wasm)).expect("loads");

    let before = status_mib("VmRSS");
    let started = Instant::now();
    let held = rt.block_on(async {
        let mut held = Vec::with_capacity(INSTANCES);
        for i in 0..INSTANCES {
            let mut instance =
                TransformerInstance::new(&plugin, backend.clone(), InvocationOptions::default())
                    .await
                    .expect("instantiates");
            let batch = rows[(i * ROWS_EACH) % (rows.len() - ROWS_EACH)..][..ROWS_EACH].to_vec();
            let ctx = TransformContext {
                workspace_id: table.workspace_id,
                table: table.clone(),
                batch_index: 0,
                total_rows: ROWS_EACH as u64,
                dry_run: true,
            };
            let outcomes = instance.transform(&batch, &ctx).await.expect("transforms");
            assert_eq!(outcomes.len(), ROWS_EACH);
            held.push(instance);
        }
        held
    });
    let elapsed = started.elapsed();
    let holding = status_mib("VmRSS");
    println!(
        "concurrency: {} live instances, each after a {ROWS_EACH}-row batch, in {:.2} s",
        held.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "concurrency: RSS {before:.0} MiB before, {holding:.0} MiB holding them ({:.0} KiB each), peak {:.0} MiB (goal ≤ 2048 MiB)",
        (holding - before) * 1024.0 / INSTANCES as f64,
        status_mib("VmHWM")
    );
    drop(held);
}
