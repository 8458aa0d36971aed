//! Shared fixtures for kiln's end-to-end tests: real components built from source, real
//! SQLite workspaces in temporary directories, and the real `kiln` binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use kiln_host::backend::local::LocalBackend;
use kiln_host::build::build_plugin;
use kiln_host::{Clay, Runtime, RuntimeConfig};

/// A fixed "now" for seeded data, so findings and dates are reproducible.
pub const NOW: i64 = 1_795_000_000_000;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the repository")
        .to_path_buf()
}

/// Builds a plugin crate (relative to the repository root) once per test binary and
/// returns the component's path.
pub fn component(crate_dir: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    // Hold the lock while building: cargo would serialize concurrent builds anyway.
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = built.get(crate_dir) {
        return path.clone();
    }
    let dir = repo_root().join(crate_dir);
    let out = build_plugin(&dir)
        .unwrap_or_else(|e| panic!("building {}: {e}", dir.display()))
        .wasm;
    built.insert(crate_dir.to_string(), out.clone());
    out
}

pub fn normalize_contacts() -> PathBuf {
    component("plugins/normalize-contacts")
}

pub fn seat_audit() -> PathBuf {
    component("plugins/seat-audit")
}

pub fn credit_governance() -> PathBuf {
    component("plugins/credit-governance")
}

pub fn offboarding_impact() -> PathBuf {
    component("plugins/offboarding-impact")
}

pub fn integration_ownership() -> PathBuf {
    component("plugins/integration-ownership")
}

pub fn idp_reconcile() -> PathBuf {
    component("plugins/idp-reconcile")
}

pub fn lead_score() -> PathBuf {
    component("plugins/lead-score")
}

pub fn redact_pii() -> PathBuf {
    component("plugins/redact-pii")
}

pub fn dedupe_contacts() -> PathBuf {
    component("plugins/dedupe-contacts")
}

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests").join("fixtures").join(name)
}

pub fn hostile() -> PathBuf {
    component("tests/guests/hostile")
}

/// An auditor that runs an enrichment column (see `tests/guests/spender`).
pub fn spender() -> PathBuf {
    component("tests/guests/spender")
}

/// A runtime with its compiled-code cache in `cache_dir`.
pub fn runtime_with_cache(cache_dir: &Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir.to_path_buf()),
        ..RuntimeConfig::default()
    })
    .expect("runtime starts")
}

/// A runtime that compiles without touching the disk cache.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts")
}

/// A seeded demo workspace in a temporary directory.
pub struct DemoWorkspace {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub local: LocalBackend,
}

impl DemoWorkspace {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("workspace.sqlite");
        let local = LocalBackend::create(&path).expect("workspace created");
        local.seed_demo(NOW).expect("demo seeded");
        Self { dir, path, local }
    }

    pub fn backend(&self) -> Arc<dyn Clay> {
        Arc::new(self.local.clone())
    }

    /// Every credit the ledger ever recorded, attributed or not.
    pub async fn credits_spent(&self) -> f64 {
        let backend = self.backend();
        let ws = backend.list_workspaces().await.expect("workspaces")[0].id;
        let range = kiln_host::backend::model::TimeRange {
            start: 0,
            end: i64::MAX,
        };
        let report = backend
            .workspace_report(ws, range)
            .await
            .expect("credit report");
        report.entities.iter().map(|e| e.credits).sum::<f64>() + report.unattributed_credits
    }
}

impl Default for DemoWorkspace {
    fn default() -> Self {
        Self::new()
    }
}

/// The `kiln` binary cargo built next to this test (it is built for kiln-host's own
/// integration tests, which `cargo test --workspace` always compiles first).
pub fn kiln_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join(format!("kiln{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run the suite with `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}
