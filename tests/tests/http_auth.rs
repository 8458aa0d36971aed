//! Logging in, expired and wrong sessions, API keys — and the `kiln` binary against the real
//! `kiln clay-sim` binary: log in, run, audit, show, with a trace-level log that must never
//! contain the password or the session cookie.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use kiln_host::Clay;
use kiln_host::backend::ClayError;
use kiln_host::backend::http::{Credentials, HttpBackend, login};
use kiln_host::sim::{Faults, SimConfig, Simulator};
use kiln_tests::{
    DemoWorkspace, SIM_PASSWORD, actor_email, http_backend, integration_ownership, kiln_bin,
    normalize_contacts, start_sim, test_http_config,
};
use secrecy::SecretString;

const EXPIRED: &str = "your Clay session has expired, run `kiln login`";

/// Everything at trace level (kiln, reqwest, hyper, the simulator) except the compiler,
/// whose trace output of a plugin compile is gigantic and says nothing about secrets.
const TRACE: &str = "trace,cranelift_codegen=warn,cranelift_frontend=warn,wasmtime_cranelift=warn,regalloc2=warn,wasmtime=info";

#[tokio::test]
async fn a_wrong_or_expired_cookie_asks_to_log_in_again() {
    let ws = DemoWorkspace::new();
    let sim = start_sim(&ws.local, Faults::default()).await;
    let config = test_http_config(&sim.url());

    let wrong = HttpBackend::new(
        config.clone(),
        Credentials::session("claysession=not-a-session"),
    )
    .unwrap();
    let err = wrong.list_workspaces().await.unwrap_err();
    assert!(matches!(err, ClayError::Denied(_)));
    assert!(err.to_string().contains(EXPIRED), "{err}");

    let http = http_backend(&ws.local, config.clone()).await;
    assert!(http.list_workspaces().await.is_ok());
    sim.expire_sessions();
    let err = http.list_workspaces().await.unwrap_err();
    assert!(err.to_string().contains(EXPIRED), "{err}");

    let email = actor_email(&ws.local).await;
    let bad = login(&config, &email, &SecretString::from("wrong".to_string()))
        .await
        .unwrap_err();
    assert!(
        bad.to_string()
            .contains("did not accept that email and password"),
        "{bad}"
    );
    let nobody = login(
        &config,
        "nobody@example.com",
        &SecretString::from(SIM_PASSWORD.to_string()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        nobody, bad,
        "no way to tell a wrong email from a wrong password"
    );
}

#[tokio::test]
async fn an_api_key_works_and_a_wrong_one_says_so() {
    let ws = DemoWorkspace::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        listener,
        ws.local.clone(),
        SimConfig {
            api_key: Some(SecretString::from("key-5ecret".to_string())),
            ..SimConfig::default()
        },
    )
    .unwrap();
    let config = test_http_config(&sim.url());
    let good = HttpBackend::new(config.clone(), Credentials::api_key("key-5ecret")).unwrap();
    assert_eq!(
        good.list_workspaces().await.unwrap(),
        ws.local.list_workspaces().await.unwrap()
    );
    let bad = HttpBackend::new(config, Credentials::api_key("key-wrong")).unwrap();
    let err = bad.list_workspaces().await.unwrap_err();
    assert!(err.to_string().contains("CLAY_API_KEY"), "{err}");
    assert!(!format!("{bad:?}").contains("key-wrong"));
}

/// `kiln clay-sim` as a child process; its output is collected until it is stopped.
struct SimProcess {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl SimProcess {
    fn start(workspace: &Path) -> Self {
        let mut child = Command::new(kiln_bin())
            .args(["clay-sim", "--port", "0", "--workspace"])
            .arg(workspace)
            .env("KILN_SIM_PASSWORD", SIM_PASSWORD)
            .env("KILN_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        let log = Arc::new(Mutex::new(first));
        let mut stderr = child.stderr.take().unwrap();
        let (l1, l2) = (log.clone(), log.clone());
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            l1.lock().unwrap().push_str(&s);
        });
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            l2.lock().unwrap().push_str(&s);
        });
        Self { child, url, log }
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(std::time::Duration::from_millis(200));
        self.log.lock().unwrap().clone()
    }
}

fn kiln(config_dir: &Path, url: &str) -> Command {
    let mut cmd = Command::new(kiln_bin());
    cmd.env_remove("KILN_WORKSPACE")
        .env_remove("CLAY_SESSION_COOKIE")
        .env_remove("CLAY_API_KEY")
        .env("KILN_CONFIG_DIR", config_dir)
        .env("KILN_CACHE_DIR", config_dir.join("cache"))
        .env("KILN_LOG", TRACE)
        .args(["--backend", "http", "--clay-url", url]);
    isolate(&mut cmd, config_dir);
    cmd
}

/// Keeps a child's state (trail, budgets) and any default directory out of the real user's
/// home: an HTTP run writes kiln's state file, by default in the data directory.
fn isolate(cmd: &mut Command, dir: &Path) {
    cmd.env("KILN_STATE", dir.join("state.sqlite"))
        .env("HOME", dir.join("home"))
        .env("XDG_DATA_HOME", dir.join("home/data"))
        .env("XDG_CONFIG_HOME", dir.join("home/config"));
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_logs_in_runs_and_audits_over_http_without_leaking_secrets() {
    let ws = DemoWorkspace::new();
    let email = actor_email(&ws.local).await;
    let config = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(&ws.path);
    let mut everything = String::new();

    // log in, password on stdin
    let mut child = kiln(config.path(), &sim.url)
        .args(["login", "--email", &email, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{SIM_PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("logged in to"), "{t}");
    everything.push_str(&t);
    let session = config.path().join("session");
    let cookie = std::fs::read_to_string(&session).unwrap();
    assert!(cookie.len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&session).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // a whole transform run over HTTP, traced
    let out = kiln(config.path(), &sim.url)
        .arg("run")
        .arg(normalize_contacts())
        .args(["--table", "Leads", "--json"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("Clay: ") && t.contains(" retries"),
        "the run reports its retries: {t}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows_seen"], 2000);
    everything.push_str(&t);

    // an audit, and the live workspace summary
    let out = kiln(config.path(), &sim.url)
        .arg("audit")
        .arg(integration_ownership())
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("integration.removed-owner"), "{t}");
    everything.push_str(&t);
    let out = kiln(config.path(), &sim.url)
        .args(["workspace", "show"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("table Leads"), "{t}");
    everything.push_str(&t);

    // local-only commands say so
    let out = kiln(config.path(), &sim.url)
        .args(["workspace", "seed", "--demo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--backend local"), "{}", text(&out));

    // a wrong cookie from the environment: the log-in message, no parse error
    let out = kiln(config.path(), &sim.url)
        .env("CLAY_SESSION_COOKIE", "claysession=stale-cookie-value")
        .args(["workspace", "show"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains(EXPIRED), "{}", text(&out));
    everything.push_str(&text(&out));

    // the config file picks the backend and URL when no flag does
    std::fs::write(
        config.path().join("config.toml"),
        format!("backend = \"http\"\nclay_url = \"{}\"\n", sim.url),
    )
    .unwrap();
    let mut cmd = Command::new(kiln_bin());
    isolate(&mut cmd, config.path());
    let out = cmd
        .env_remove("KILN_BACKEND")
        .env_remove("KILN_CLAY_URL")
        .env("KILN_CONFIG_DIR", config.path())
        .env("KILN_LOG", TRACE)
        .args(["workspace", "show", "--json"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("maya@northwind.io"), "{t}");
    everything.push_str(&t);

    let sim_log = sim.stop();
    assert!(
        sim_log.contains("request"),
        "the simulator traced its requests: {sim_log}"
    );
    everything.push_str(&sim_log);
    assert!(
        everything.contains("retrying") || everything.contains("GET /v3"),
        "trace logs were captured"
    );
    for secret in [SIM_PASSWORD, cookie.trim(), "stale-cookie-value"] {
        assert!(!everything.contains(secret), "a secret reached the logs");
    }
}
