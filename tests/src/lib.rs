//! Shared fixtures for kiln's end-to-end tests: real components built from source, real
//! SQLite workspaces in temporary directories, and the real `kiln` binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kiln_host::backend::local::LocalBackend;
use kiln_host::build::build_plugin;
use kiln_host::{Clay, Runtime, RuntimeConfig};

pub mod bombs;
pub mod fixture_server;
pub mod nats;

/// A fixed "now" for seeded data, so findings and dates are reproducible.
pub const NOW: i64 = 1_795_000_000_000;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the repository")
        .to_path_buf()
}

/// Where the suite keeps the tools it installs once per checkout (nats-server, pytest, and
/// kiln's own componentize-py and componentize-js): `target/tools`.
pub fn tools_dir() -> PathBuf {
    repo_root().join("target").join("tools")
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

/// A transformer whose outcomes misbehave on request (see `tests/guests/hostile-outcomes`).
pub fn hostile_outcomes() -> PathBuf {
    component("tests/guests/hostile-outcomes")
}

/// A transformer whose row errors and log lines attack the terminal (see `tests/guests/hostile-text`).
pub fn hostile_text() -> PathBuf {
    component("tests/guests/hostile-text")
}

/// An auditor whose summary and findings attack the terminal (see `tests/guests/hostile-findings`).
pub fn hostile_findings() -> PathBuf {
    component("tests/guests/hostile-findings")
}

/// An auditor that runs an enrichment column (see `tests/guests/spender`).
pub fn spender() -> PathBuf {
    component("tests/guests/spender")
}

/// A transformer that adds one to a counter cell: not idempotent (see `tests/guests/counter`).
pub fn counter() -> PathBuf {
    component("tests/guests/counter")
}

/// A transformer that also imports `clay:api/folders` (see `tests/guests/wrong-imports`).
pub fn wrong_imports() -> PathBuf {
    component("tests/guests/wrong-imports")
}

/// An auditor that attempts writes and listings past its grant (see `tests/guests/hostile-writes`).
pub fn hostile_writes() -> PathBuf {
    component("tests/guests/hostile-writes")
}

/// An auditor that passes huge arguments to host calls (see `tests/guests/hostile-trail`).
pub fn hostile_trail() -> PathBuf {
    component("tests/guests/hostile-trail")
}

/// A transformer that runs an enrichment column behind its effects (see `tests/guests/column-runner`).
pub fn column_runner() -> PathBuf {
    component("tests/guests/column-runner")
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

/// Credits in a workspace file's own (Clay) ledger: what was really charged.
pub fn charged(ws: &Path) -> f64 {
    rusqlite::Connection::open(ws)
        .expect("the workspace opens")
        .query_row("SELECT COALESCE(SUM(credits), 0) FROM ledger", [], |r| {
            r.get(0)
        })
        .expect("its ledger")
}

/// The `kiln` binary of this profile, if it is built (a bench's profile is `release`, which
/// `cargo bench` does not build binaries for).
pub fn kiln_bin_checked() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join(format!("kiln{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

/// Adds a `Counts` table of `rows` rows (a name, an empty counter) to the workspace, for
/// the counter guest (see [`counter`]).
pub fn add_counts_table(dir: &Path, local: &LocalBackend, rows: usize) {
    let csv = dir.join("counts.csv");
    let mut text = String::from("Name,Count\n");
    for i in 0..rows {
        text.push_str(&format!("person {i},\n"));
    }
    std::fs::write(&csv, text).expect("write counts.csv");
    local.import_csv(&csv, "Counts").expect("import counts.csv");
}

/// Every row of `Counts` in the workspace file, with its counter.
pub async fn counters(path: &Path) -> Vec<(String, Option<f64>)> {
    use kiln_host::backend::model::CellValue;
    let local = LocalBackend::open(path).expect("workspace opens");
    let table = local.resolve_table("Counts").await.expect("Counts table");
    let count = table
        .field_by_name("Count")
        .expect("Count column")
        .id
        .clone();
    let ids = local
        .record_ids(&table.id, &table.views[0].id)
        .await
        .expect("record ids");
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        for row in local.read_records(&table.id, chunk).await.expect("rows") {
            let value = row.cell(&count).and_then(|c| match &c.value {
                CellValue::Text(s) => s.parse().ok(),
                CellValue::Number(n) => Some(*n),
                _ => None,
            });
            out.push((row.id.clone(), value));
        }
    }
    out
}

/// The `kiln` binary with everything it could read or write kept under `home`: its own HOME,
/// data, config and cache directories, no `KILN_WORKSPACE`, `KILN_STATE` or `KILN_BACKEND`
/// from the caller, and warnings only in its log.
pub fn kiln_in(home: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(kiln_bin());
    cmd.env_remove("KILN_WORKSPACE")
        .env_remove("KILN_STATE")
        .env_remove("KILN_BACKEND")
        .env("HOME", home.join("home"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("KILN_CONFIG_DIR", home.join("kiln-config"))
        .env("KILN_CACHE_DIR", home.join("cache"))
        .env("KILN_LOG", "warn");
    cmd
}

// ---- Clay over HTTP: the simulator and the HTTP backend ----

use kiln_host::backend::http::{HttpBackend, HttpConfig};
use kiln_host::sim::{Faults, SimConfig, Simulator};

/// The password every member of a test simulator logs in with.
pub const SIM_PASSWORD: &str = "sim-pass-7f3a9c";

/// Serves `local` over Clay's v3 API on 127.0.0.1 (a free port), log-in with [`SIM_PASSWORD`].
pub async fn start_sim(local: &LocalBackend, faults: Faults) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    Simulator::start(
        listener,
        local.clone(),
        SimConfig {
            password: Some(secrecy::SecretString::from(SIM_PASSWORD.to_string())),
            faults,
            ..SimConfig::default()
        },
    )
    .expect("simulator starts")
}

/// An HTTP config for tests: the simulator's URL, short backoffs, a generous rate limit.
pub fn test_http_config(url: &str) -> HttpConfig {
    HttpConfig {
        base_url: url.to_string(),
        backoff_base: std::time::Duration::from_millis(2),
        backoff_max: std::time::Duration::from_millis(40),
        requests_per_second: 2000,
        max_retries: 12,
        ..HttpConfig::default()
    }
}

/// The email of the member a `LocalBackend` acts as (the first admin unless told otherwise).
pub async fn actor_email(local: &LocalBackend) -> String {
    let actor = local.actor().expect("an acting member").to_string();
    let ws = local.list_workspaces().await.expect("workspaces")[0].id;
    local
        .permissions(ws)
        .await
        .expect("members")
        .into_iter()
        .find(|m| m.user_id.as_deref() == Some(actor.as_str()))
        .expect("the actor is a member")
        .email
}

/// Logs in (at `config.base_url`, a simulator) as the local backend's acting member and returns an HTTP backend.
pub async fn http_backend(local: &LocalBackend, config: HttpConfig) -> Arc<HttpBackend> {
    let email = actor_email(local).await;
    let password = secrecy::SecretString::from(SIM_PASSWORD.to_string());
    let creds = kiln_host::backend::http::login(&config, &email, &password)
        .await
        .expect("log-in to the simulator");
    Arc::new(HttpBackend::new(config, creds).expect("http backend"))
}

/// What a `kiln` child did: its exit, output, wall time and peak resident memory.
pub struct Ran {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub peak_rss_mib: u64,
}

/// Runs `kiln` with `args` against `ws` (and `cache` as its compiled-code cache) and reads
/// its peak RSS from `wait4`'s rusage.
// The child is reaped by `wait4` (for its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn kiln_measured(ws: &Path, cache: Option<&Path>, args: &[&str]) -> Ran {
    let started = Instant::now();
    let mut command = Command::new(kiln_bin());
    if let Some(cache) = cache {
        command.env("KILN_CACHE_DIR", cache);
    }
    let child = command
        .env_remove("KILN_WORKSPACE")
        .env_remove("KILN_POLICY")
        .env("KILN_LOG", "error")
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.unwrap();
    let mut err = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut out, &mut stdout).ok();
    let stderr = reader.join().unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by the kernel; pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    Ran {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout,
        stderr,
        elapsed: started.elapsed(),
        // ru_maxrss is in KiB on Linux.
        peak_rss_mib: usage.ru_maxrss as u64 / 1024,
    }
}

/// A figure of this process's `/proc/self/status` (`"VmHWM:"`, `"VmRSS:"`) in bytes.
pub fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// A transformer built for clay:api 0.1.0 (see `tests/guests/old-contract`).
pub fn old_contract() -> PathBuf {
    component("tests/guests/old-contract")
}

/// A `kiln` child process (a server or a worker), killed with the test, and the first line
/// it printed (`listening on …`, `worker ready on …`): it is ready once it has said it.
pub struct KilnProcess {
    pub child: std::process::Child,
    pub first_line: String,
}

impl KilnProcess {
    /// `kiln <args>` with its HOME under `home`, `envs` set and its log to `stderr`.
    pub fn spawn(home: &Path, args: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(kiln_bin())
            .env("HOME", home.join("home"))
            .env("KILN_LOG", "warn")
            .envs(envs.iter().copied())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("kiln starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut first_line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("kiln's first line");
        Self {
            child,
            first_line: first_line.trim().to_string(),
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: a plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0);
    }
}

impl Drop for KilnProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `kiln serve`'s `GET /v1/runs/{id}` as `token` until `until` holds of the run or it
/// has ended, for at most five minutes; answers the run as last seen.
pub async fn poll_run(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    id: &str,
    until: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let r = http
            .get(format!("{url}/v1/runs/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET the run");
        let status = r.status();
        let job: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
        assert_eq!(status, 200, "{job}");
        if until(&job) || job["state"] != "running" {
            return job;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
