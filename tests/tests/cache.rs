//! Compiled code is cached on disk: the second start of a plugin does not compile.

use kiln_host::runtime::CodeSource;
use kiln_tests::{normalize_contacts, runtime_with_cache};

#[tokio::test]
async fn the_second_start_loads_compiled_code_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = normalize_contacts();

    let first = runtime_with_cache(cache.path())
        .load_file(&wasm)
        .await
        .unwrap();
    assert_eq!(first.code_source(), CodeSource::Compiled);
    let entries = std::fs::read_dir(cache.path()).unwrap().count();
    assert_eq!(entries, 1, "one compiled artifact written");

    // A new runtime, as in a new process: nothing is compiled.
    let second = runtime_with_cache(cache.path())
        .load_file(&wasm)
        .await
        .unwrap();
    assert_eq!(second.code_source(), CodeSource::Cache);
    assert_eq!(first.info().sha256, second.info().sha256);
    assert_eq!(second.world(), kiln_host::World::Transformer);

    // A corrupt entry is not trusted: it is recompiled and replaced.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not a compiled module").unwrap();
    }
    let third = runtime_with_cache(cache.path())
        .load_file(&wasm)
        .await
        .unwrap();
    assert_eq!(third.code_source(), CodeSource::Compiled);
}
