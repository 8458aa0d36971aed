//! Compile bombs: components shaped to make Cranelift take minutes and gigabytes are refused
//! by the load caps before anything is compiled, and every real plugin still fits them.

use std::time::{Duration, Instant};

use kiln_host::plugin::validate::{Cap, CapExceeded, LoadCaps};
use kiln_host::{LoadError, Runtime, RuntimeConfig};
use kiln_tests::bombs;

fn runtime_with(caps: LoadCaps) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: None,
        load_caps: caps,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts")
}

/// Loads `bytes` and expects a refusal naming `cap`. Not a timing test: the guard only
/// catches a load that compiled (today's code spends minutes on these).
async fn refused(rt: &Runtime, bytes: Vec<u8>, cap: Cap, limit: u64) -> String {
    let started = Instant::now();
    let err = match rt.load_bytes("bomb", bytes).await {
        Ok(_) => panic!("the bomb loaded"),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "refusing took {:?}",
        started.elapsed()
    );
    match &err {
        LoadError::OverCap(CapExceeded {
            cap: c, limit: l, ..
        }) => {
            assert_eq!((*c, *l), (cap, limit), "{err}")
        }
        other => panic!("expected {cap} to refuse it, got: {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!("{} = {limit}", cap.name())),
        "{message}"
    );
    message
}

#[tokio::test]
async fn a_million_tiny_functions_are_refused_before_compiling() {
    let rt = runtime_with(LoadCaps::default());
    let limit = LoadCaps::default().max_functions;
    let message = refused(&rt, bombs::many_functions(999_000), Cap::Functions, limit).await;
    assert!(message.contains("found 999000"), "{message}");
}

#[tokio::test]
async fn millions_of_nested_blocks_are_refused_before_compiling() {
    let defaults = LoadCaps::default();
    // 2.5 M blocks make a 7.5 MB body: the body-size cap is the first one it meets.
    let rt = runtime_with(defaults.clone());
    refused(
        &rt,
        bombs::nested_blocks(2_500_000),
        Cap::FunctionBodyBytes,
        defaults.max_function_body_bytes as u64,
    )
    .await;
    // With that cap out of the way, nesting refuses it on its own.
    let rt = runtime_with(LoadCaps {
        max_function_body_bytes: 64 << 20,
        max_component_bytes: 64 << 20,
        ..defaults.clone()
    });
    refused(
        &rt,
        bombs::nested_blocks(2_500_000),
        Cap::NestingDepth,
        defaults.max_nesting_depth.into(),
    )
    .await;
    // And a body well under the size cap that nests too deep.
    let rt = runtime_with(defaults.clone());
    refused(
        &rt,
        bombs::nested_blocks(100_000),
        Cap::NestingDepth,
        defaults.max_nesting_depth.into(),
    )
    .await;
}

#[tokio::test]
async fn an_oversized_component_is_refused_by_its_size() {
    let defaults = LoadCaps::default();
    let rt = runtime_with(defaults.clone());
    refused(
        &rt,
        bombs::oversized(defaults.max_component_bytes + 1),
        Cap::ComponentBytes,
        defaults.max_component_bytes as u64,
    )
    .await;
}

#[tokio::test]
async fn an_embedder_sets_the_caps() {
    // Under the caps, a generated component is compiled and then refused for what it is.
    let rt = runtime_with(LoadCaps::default());
    match rt.load_bytes("small", bombs::many_functions(1_000)).await {
        Err(LoadError::NotAPlugin { .. }) => {}
        Err(e) => panic!("expected NotAPlugin, got: {e}"),
        Ok(_) => panic!("a component without exports loaded"),
    }
    let rt = runtime_with(LoadCaps {
        max_functions: 500,
        ..LoadCaps::default()
    });
    refused(&rt, bombs::many_functions(1_000), Cap::Functions, 500).await;
}

#[tokio::test]
async fn a_compile_over_the_timeout_is_abandoned_with_a_typed_error() {
    let rt = Runtime::new(RuntimeConfig {
        cache_dir: None,
        // Nothing compiles in no time: deterministic without being a timing test.
        compile_timeout: Duration::ZERO,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts");
    let bytes = std::fs::read(kiln_tests::seat_audit()).expect("component");
    match rt.load_bytes("seat-audit", bytes).await {
        Err(LoadError::CompileTimeout(d)) => assert_eq!(d, Duration::ZERO),
        Err(e) => panic!("expected CompileTimeout, got: {e}"),
        Ok(_) => panic!("compiled in no time"),
    }
}

#[tokio::test]
async fn every_bundled_plugin_and_test_guest_fits_the_default_caps() {
    // The caps are checked on every load, cached or not; the cache only spares recompiling
    // what other tests compile too.
    let rt = kiln_tests::runtime_with_cache(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-caps-cache"),
    );
    let components = [
        kiln_tests::normalize_contacts(),
        kiln_tests::seat_audit(),
        kiln_tests::credit_governance(),
        kiln_tests::offboarding_impact(),
        kiln_tests::integration_ownership(),
        kiln_tests::idp_reconcile(),
        kiln_tests::lead_score(),
        kiln_tests::redact_pii(),
        kiln_tests::dedupe_contacts(),
        kiln_tests::hostile(),
        kiln_tests::spender(),
        kiln_tests::hostile_text(),
        kiln_tests::hostile_findings(),
    ];
    for path in components {
        if let Err(e) = rt.load_file(&path).await {
            panic!("{} no longer loads: {e}", path.display());
        }
    }
    // The Rust ones: the Python and JavaScript ports are loaded by the polyglot tests.
    let plugins = std::fs::read_dir(kiln_tests::repo_root().join("plugins"))
        .expect("plugins/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().join("Cargo.toml").is_file())
        })
        .count();
    assert_eq!(plugins, 9, "a Rust plugin was added: list it above");
}
