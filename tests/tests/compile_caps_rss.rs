//! The host's resident memory while refusing compile bombs, in its own test binary so no
//! other test's allocations count. Today's code compiled these, peaking at gigabytes.

use kiln_host::{LoadError, RuntimeConfig};
use kiln_tests::{bombs, status_bytes};

#[tokio::test]
async fn refusing_compile_bombs_keeps_host_memory_bounded() {
    let rt = kiln_host::Runtime::new(RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts");
    for bytes in [
        bombs::many_functions(999_000),
        bombs::nested_blocks(2_500_000),
    ] {
        match rt.load_bytes("bomb", bytes).await {
            Err(LoadError::OverCap(_)) => {}
            Err(e) => panic!("expected a load cap to refuse it, got: {e}"),
            Ok(_) => panic!("the bomb loaded"),
        }
    }
    // The bombs themselves are ~8 MB each; compiling them took 2 to 5.4 GB.
    const BOUND: u64 = 256 << 20;
    let peak = status_bytes("VmHWM:").expect("VmHWM in /proc/self/status");
    eprintln!("peak RSS after refusing both bombs: {} MiB", peak >> 20);
    assert!(
        peak < BOUND,
        "peak RSS {} MiB, bound {} MiB",
        peak >> 20,
        BOUND >> 20
    );
}
