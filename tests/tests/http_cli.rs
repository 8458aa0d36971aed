//! The `kiln` binary over HTTP against an in-process `clay-sim`: where its state goes,
//! `--trace-http`, `kiln run --verify`. Every child gets its own HOME, data and config
//! directories and `KILN_STATE`, so no test touches the real user's files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_host::sim::{Faults, Simulator};
use kiln_tests::{DemoWorkspace, normalize_contacts, start_sim, test_http_config};
use secrecy::ExposeSecret as _;

/// A temporary home for one test's `kiln` children.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The default data directory a child would use without `--state`.
    fn data_dir(&self) -> PathBuf {
        self.path().join("home/data")
    }

    /// `kiln --backend http --clay-url <url>` with everything it could write kept in here.
    fn kiln(&self, url: &str, cookie: &str) -> Command {
        let mut cmd = Command::new(kiln_tests::kiln_bin());
        cmd.env_remove("KILN_WORKSPACE")
            .env_remove("KILN_STATE")
            .env_remove("KILN_BACKEND")
            .env_remove("CLAY_API_KEY")
            .env("CLAY_SESSION_COOKIE", cookie)
            .env("HOME", self.path().join("home"))
            .env("XDG_DATA_HOME", self.data_dir())
            .env("XDG_CONFIG_HOME", self.path().join("home/config"))
            .env("KILN_CONFIG_DIR", self.path().join("config"))
            .env("KILN_CACHE_DIR", self.path().join("cache"))
            .env("KILN_LOG", "warn")
            .args(["--backend", "http", "--clay-url", url]);
        cmd
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A simulator over a fresh demo workspace and a session cookie for its first admin.
async fn sim_with_session(faults: Faults) -> (DemoWorkspace, Simulator, String) {
    let ws = DemoWorkspace::new();
    let sim = start_sim(&ws.local, faults).await;
    let email = kiln_tests::actor_email(&ws.local).await;
    let creds = kiln_host::backend::http::login(
        &test_http_config(&sim.url()),
        &email,
        &secrecy::SecretString::from(kiln_tests::SIM_PASSWORD.to_string()),
    )
    .await
    .unwrap();
    let cookie = creds.session_value().unwrap().expose_secret().to_string();
    (ws, sim, cookie)
}

/// Runs a child without blocking the simulator's runtime.
async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_run_keeps_its_state_in_the_file_the_user_chose() {
    let (_ws, sim, cookie) = sim_with_session(Faults::default()).await;
    let home = Home::new();
    let state = home.path().join("chosen").join("kiln-state.sqlite");

    let mut run = home.kiln(&sim.url(), &cookie);
    run.arg("--state")
        .arg(&state)
        .arg("run")
        .arg(normalize_contacts())
        .args(["--table", "Leads", "--dry-run", "--json"]);
    let out = output(run).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(state.is_file(), "the state file was created where asked");
    assert!(
        !home.data_dir().join("kiln").exists(),
        "nothing went to the default data directory"
    );

    // The trail of that run is read back from the same file, named by the environment.
    let mut show = home.kiln(&sim.url(), &cookie);
    show.env("KILN_STATE", &state).args([
        "trail",
        "show",
        "--plugin",
        "normalize-contacts",
        "--json",
    ]);
    let out = output(show).await;
    assert!(out.status.success(), "{}", text(&out));
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !entries.as_array().unwrap().is_empty(),
        "the run's host calls are in the chosen state file: {entries}"
    );

    // A different state file has none of it.
    let mut other = home.kiln(&sim.url(), &cookie);
    other
        .arg("--state")
        .arg(home.path().join("other.sqlite"))
        .args(["trail", "show", "--plugin", "normalize-contacts", "--json"]);
    let out = output(other).await;
    assert!(out.status.success(), "{}", text(&out));
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(entries, serde_json::json!([]));
    assert!(!home.data_dir().join("kiln").exists());
}

/// `--trace-http`: the file a user sends when Clay answers in a shape kiln misreads. It
/// holds every request and answer of a real run, and none of the run's secrets.
#[tokio::test(flavor = "multi_thread")]
async fn a_trace_of_a_run_has_every_exchange_and_no_secret() {
    let (_ws, sim, cookie) = sim_with_session(Faults::default()).await;
    let home = Home::new();
    let trace = home.path().join("trace.jsonl");

    let mut run = home.kiln(&sim.url(), &cookie);
    run.arg("--state")
        .arg(home.path().join("state.sqlite"))
        .arg("--trace-http")
        .arg(&trace)
        .arg("run")
        .arg(normalize_contacts())
        .args(["--table", "Leads", "--json"]);
    let out = output(run).await;
    assert!(out.status.success(), "{}", text(&out));

    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        !text.contains(&cookie),
        "the session cookie is in the trace"
    );
    assert!(!text.contains(kiln_tests::SIM_PASSWORD));
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen = |method: &str, path: &str| {
        lines
            .iter()
            .any(|l| l["method"] == method && l["url"].as_str().is_some_and(|u| u.contains(path)))
    };
    assert!(seen("GET", "/v3/tables/"), "the table was read");
    assert!(seen("POST", "/bulk-fetch-records"), "records were read");
    assert!(
        seen("PATCH", "/records"),
        "the normalized cells were written"
    );
    let fetch = lines
        .iter()
        .find(|l| l["url"].as_str().is_some_and(|u| u.contains("bulk-fetch")))
        .unwrap();
    assert_eq!(fetch["status"], 200);
    assert!(
        fetch["response_body"]["results"].is_array(),
        "answers are kept as Clay wrote them: {fetch}"
    );
    assert_eq!(fetch["credential"], "Session");
}

/// Clay enqueues row updates: a run reports them as submitted, and `--verify` reads the
/// rows back — waiting for late updates to land, and naming rows whose values did not.
#[tokio::test(flavor = "multi_thread")]
async fn verify_reads_back_what_clay_holds_after_enqueued_updates() {
    let run = |sim: &Simulator, cookie: &str, home: &Home, extra: &[&str]| {
        let mut cmd = home.kiln(&sim.url(), cookie);
        cmd.arg("--state")
            .arg(home.path().join("state.sqlite"))
            .arg("run")
            .arg(normalize_contacts())
            .args(["--table", "Leads", "--json"])
            .args(extra);
        output(cmd)
    };
    let json = |out: &Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
    };

    // Updates land 1.5 s after Clay answered: --verify waits for them.
    let (_ws, sim, cookie) = sim_with_session(Faults {
        update_delay: std::time::Duration::from_millis(1500),
        ..Faults::default()
    })
    .await;
    let home = Home::new();
    let out = run(&sim, &cookie, &home, &["--verify"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    let changed = report["rows_changed"].as_u64().unwrap();
    assert!(changed > 1000, "{report}");
    let verified = &report["verified"]["changed"];
    assert_eq!(verified["verified"].as_u64(), Some(changed), "{verified}");
    assert_eq!(verified["differing"], serde_json::json!([]));
    assert!(
        verified["reads"].as_u64().unwrap() >= 2,
        "the first read came before the late updates: {verified}"
    );
    assert_eq!(report["written"], "applied");

    // Without --verify, a run says its writes were only submitted.
    let (_ws, sim, cookie) = sim_with_session(Faults {
        update_delay: std::time::Duration::from_secs(120),
        ..Faults::default()
    })
    .await;
    let home = Home::new();
    let out = run(&sim, &cookie, &home, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["written"], "submitted");
    assert!(report.get("verified").is_none());

    // Updates that have not landed when --verify stops waiting: the run fails and names
    // the rows and fields, never their values.
    let (_ws, sim, cookie) = sim_with_session(Faults {
        update_delay: std::time::Duration::from_secs(120),
        ..Faults::default()
    })
    .await;
    let home = Home::new();
    let out = run(
        &sim,
        &cookie,
        &home,
        &["--verify", "--verify-wait-secs", "0"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = json(&out);
    let differing = report["verified"]["changed"]["differing"]
        .as_array()
        .unwrap();
    assert_eq!(
        differing.len() as u64,
        report["rows_changed"].as_u64().unwrap()
    );
    let first = &differing[0];
    assert!(
        first["row_id"].as_str().unwrap().starts_with("r_"),
        "{first}"
    );
    assert!(
        !first["field_ids"].as_array().unwrap().is_empty(),
        "{first}"
    );

    // In the table shown to a person, too.
    let mut cmd = home.kiln(&sim.url(), &cookie);
    cmd.arg("--state")
        .arg(home.path().join("state.sqlite"))
        .arg("run")
        .arg(normalize_contacts())
        .args(["--table", "Leads", "--verify", "--verify-wait-secs", "0"]);
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("Read back: 0 of"), "{shown}");
    assert!(shown.contains("other values in f_"), "{shown}");

    // --verify has nothing to read back after a dry run.
    let mut cmd = home.kiln(&sim.url(), &cookie);
    cmd.arg("run")
        .arg(normalize_contacts())
        .args(["--table", "Leads", "--dry-run", "--verify"]);
    let out = output(cmd).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("--dry-run"), "{}", text(&out));
}
