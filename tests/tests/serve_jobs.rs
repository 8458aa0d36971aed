//! `kiln serve` jobs and process life: runs and audits started over HTTP and followed to
//! their report (polling and server-sent events), tenants kept apart, a server killed with
//! SIGKILL mid-run that finishes the run when it starts again (every row counted once), and
//! SIGTERM letting a call in flight finish.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kiln_host::serve::hash_token;
use kiln_tests::{
    DemoWorkspace, KilnProcess, charged, counter, hostile, normalize_contacts, seat_audit, spender,
};
use serde_json::{Value, json};

const ACME: &str = "acme-token-5d21";
const GLOBEX: &str = "globex-token-0c44";

/// A `kiln serve` child process and its URL.
struct ServeProcess {
    process: KilnProcess,
    url: String,
}

impl ServeProcess {
    fn start(config: &Path, home: &Path) -> Self {
        Self::start_logging(config, home, &[], Stdio::inherit())
    }

    /// With `args` before `serve` (e.g. log options) and its log lines to `stderr`.
    fn start_logging(config: &Path, home: &Path, args: &[&str], stderr: Stdio) -> Self {
        let config = config.to_str().unwrap();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["serve", "--config", config, "--drain-secs", "10"]);
        let process = KilnProcess::spawn(home, &all, &[], stderr);
        let url = process
            .first_line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("kiln serve said {:?}", process.first_line))
            .to_string();
        Self { process, url }
    }

    fn signal(&self, signal: i32) {
        self.process.signal(signal);
    }
}

/// `extra` goes at the top, `acme_extra` at the end of tenant `acme`'s table.
fn write_config(
    dir: &Path,
    workspace: &Path,
    plugins: &Path,
    extra: &str,
    acme_extra: &str,
) -> PathBuf {
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
cache_dir = "cache"
data_dir = "data"
{extra}

[[tenant]]
id = "acme"
tokens_sha256 = ["{}"]
workspace = "{}"
plugins_dir = "{}"
{acme_extra}

[[tenant]]
id = "globex"
tokens_sha256 = ["{}"]
"#,
            hash_token(ACME),
            workspace.display(),
            plugins.display(),
            hash_token(GLOBEX),
        ),
    )
    .unwrap();
    config
}

fn plugins_dir(dir: &Path, plugins: &[PathBuf]) -> PathBuf {
    let d = dir.join("plugins");
    std::fs::create_dir_all(&d).unwrap();
    for p in plugins {
        std::fs::copy(p, d.join(p.file_name().unwrap())).unwrap();
    }
    d
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn wait_for_end(http: &reqwest::Client, url: &str, id: &str) -> Value {
    kiln_tests::poll_run(http, url, ACME, id, |_| false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_and_audits_go_from_202_to_a_report_and_stay_with_their_tenant() {
    let ws = DemoWorkspace::new();
    let dir = ws.dir.path();
    let plugins = plugins_dir(dir, &[normalize_contacts(), seat_audit()]);
    let config = write_config(dir, &ws.path, &plugins, "", "");
    let server = ServeProcess::start(&config, dir);
    let http = reqwest::Client::new();
    let url = server.url.clone();

    let (status, job) = json_of(
        http.post(format!("{url}/v1/runs"))
            .bearer_auth(ACME)
            .json(&json!({"plugin": "normalize-contacts", "table": "Leads", "dry_run": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("run_"), "the journal's run id: {id}");

    // Its events end with an `end` event.
    let events = http
        .get(format!("{url}/v1/runs/{id}/events"))
        .bearer_auth(ACME)
        .send()
        .await
        .unwrap();
    assert!(
        events
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = events.text().await.unwrap();
    assert!(text.contains("event: end"), "{text}");
    assert!(text.contains("\"finished\""), "{text}");

    let job = wait_for_end(&http, &url, &id).await;
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(job["report"]["rows_seen"], 2000);
    assert_eq!(job["progress"]["done"], 2000);

    // Another tenant cannot see it.
    let (status, _) = json_of(
        http.get(format!("{url}/v1/runs/{id}"))
            .bearer_auth(GLOBEX)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    // Nor start a run with a plugin it does not have; and it has no workspace for runs.
    let (status, body) = json_of(
        http.post(format!("{url}/v1/runs"))
            .bearer_auth(GLOBEX)
            .json(&json!({"plugin": "normalize-contacts", "table": "Leads"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // An audit.
    let (status, job) = json_of(
        http.post(format!("{url}/v1/runs"))
            .bearer_auth(ACME)
            .json(&json!({"plugin": "seat-audit", "period_days": 30}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let audit_id = job["id"].as_str().unwrap().to_string();
    let job = wait_for_end(&http, &url, &audit_id).await;
    assert_eq!(job["state"], "finished", "{job}");
    assert!(
        !job["report"]["report"]["findings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A malformed request says what to send.
    let (status, body) = json_of(
        http.post(format!("{url}/v1/runs"))
            .bearer_auth(ACME)
            .json(&json!({"plugin": "normalize-contacts", "tabel": "Leads"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("tabel"), "{body}");

    // Both reports as pages: the audit's with its credit charts, the run's with its counts.
    let page = |url: String, id: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("{url}/v1/runs/{id}/report.html"))
                .bearer_auth(ACME)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
            r.text().await.unwrap()
        }
    };
    let audit_page = page(url.clone(), audit_id.clone()).await;
    assert!(
        audit_page.contains("Credit burn per member"),
        "{audit_page}"
    );
    assert!(audit_page.contains("<svg"), "{audit_page}");
    let run_page = page(url.clone(), id.clone()).await;
    assert!(run_page.contains("2000 rows seen"), "{run_page}");
    assert!(run_page.contains("dry run"), "{run_page}");
    let (status, body) = json_of(
        http.get(format!("{url}/v1/runs/{id}/report.html"))
            .bearer_auth(GLOBEX)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // A restarted server still answers for the run, from its journal.
    drop(server);
    let server = ServeProcess::start(&config, dir);
    let url = server.url.clone();
    let (status, job) = json_of(
        http.get(format!("{url}/v1/runs/{id}"))
            .bearer_auth(ACME)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(job["report"]["rows_seen"], 2000, "{job}");
    assert!(page(url, id).await.contains("2000 rows seen"));
}

fn applied(workspace: &Path, id: &str) -> u64 {
    let conn = rusqlite::Connection::open_with_flags(
        workspace,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT count(*) FROM kiln_run_batches WHERE run_id = ?1 AND state = 'applied'",
        [id],
        |r| r.get::<_, i64>(0),
    )
    .unwrap_or(0) as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_mid_run_finishes_the_run_when_it_starts_again() {
    let ws = DemoWorkspace::new();
    let dir = ws.dir.path();
    kiln_tests::add_counts_table(dir, &ws.local, 20_000);
    let plugins = plugins_dir(dir, &[]);
    let config = write_config(dir, &ws.path, &plugins, "", "");
    let http = reqwest::Client::new();

    let server = ServeProcess::start(&config, dir);
    // Uploaded, not from the plugins directory: the restarted server must have kept it.
    let r = http
        .put(format!("{}/v1/plugins/counter", server.url))
        .bearer_auth(ACME)
        .body(std::fs::read(counter()).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (status, job) = json_of(
        http.post(format!("{}/v1/runs", server.url))
            .bearer_auth(ACME)
            .json(&json!({"plugin": "counter", "table": "Counts", "batch_size": 250}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    while applied(&ws.path, &id) < 10 {
        assert!(started.elapsed() < Duration::from_secs(120));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal(libc::SIGKILL);
    drop(server);
    let before = applied(&ws.path, &id);
    assert!(
        before < 80,
        "killed mid-run ({before} of 80 batches applied)"
    );

    let server = ServeProcess::start(&config, dir);
    let job = wait_for_end(&http, &server.url, &id).await;
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(job["report"]["rows_changed"], 20_000);
    assert!(job["report"]["batches_resumed"].as_u64().unwrap() >= 10);
    let counts = kiln_tests::counters(&ws.path).await;
    assert_eq!(counts.len(), 20_000);
    assert!(
        counts.iter().all(|(_, c)| *c == Some(1.0)),
        "every row counted exactly once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_call_in_flight_finish_and_then_stops() {
    let ws = DemoWorkspace::new();
    let dir = ws.dir.path();
    let plugins = plugins_dir(dir, &[hostile()]);
    // A slow call: 90,000 host calls before it answers (over a second in a debug build).
    let config = write_config(
        dir,
        &ws.path,
        &plugins,
        "",
        "[tenant.settings.hostile]\nmode = \"ping\"\nn = \"90000\"",
    );
    let server = ServeProcess::start(&config, dir);
    let http = reqwest::Client::new();
    let call = {
        let (http, url) = (http.clone(), server.url.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let r = http
                .post(format!("{url}/v1/plugins/hostile/row"))
                .bearer_auth(ACME)
                .body(r#"{"Email":"a@b.io"}"#)
                .send()
                .await;
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal(libc::SIGTERM);
    let (response, took) = call.await.unwrap();
    let response = response.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    assert!(
        took > Duration::from_millis(300),
        "the call was still running when the signal came ({took:?})"
    );
    let url = server.url.clone();
    let status = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.process.child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
    // And it no longer accepts calls.
    assert!(http.get(format!("{url}/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_has_an_id_in_its_answer_and_its_json_log_line() {
    let ws = DemoWorkspace::new();
    let dir = ws.dir.path();
    let plugins = plugins_dir(dir, &[normalize_contacts()]);
    let config = write_config(dir, &ws.path, &plugins, "", "");
    let log = dir.join("serve.log");
    let server = ServeProcess::start_logging(
        &config,
        dir,
        &["--log", "warn,kiln_host=info", "--log-format", "json"],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let http = reqwest::Client::new();
    let url = format!("{}/v1/plugins/normalize-contacts/row", server.url);
    let body = r#"{"Email":"a@b.io","Email Status":null,"Company Domain":null,"Full Name":null,"First Name":null,"Last Name":null,"Phone":null}"#;
    let theirs = http
        .post(&url)
        .bearer_auth(ACME)
        .header("x-request-id", "upstream-7f3a")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status().as_u16(), 200);
    assert_eq!(theirs.headers()["x-request-id"], "upstream-7f3a");
    let ours = http
        .post(&url)
        .bearer_auth("wrong")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status().as_u16(), 401);
    let ours_id = ours.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(ours_id.starts_with("req_"), "{ours_id}");
    server.signal(libc::SIGTERM);
    drop(server);

    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let answered = |id: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == "answered" && l["span"]["request_id"] == id)
    };
    let line = answered("upstream-7f3a").unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(line["fields"]["status"], 200);
    assert_eq!(line["span"]["path"], "/v1/plugins/normalize-contacts/row");
    assert_eq!(answered(&ours_id).unwrap()["fields"]["status"], 401);
    // No token in any line.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(ACME) && !text.contains("wrong"), "{text}");
}

/// Starts the spender auditor as `token`'s tenant: `calls` enrichment runs of 5 rows each
/// (1 credit a row), and waits for it to end.
async fn spend(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    ws: &DemoWorkspace,
    calls: u32,
) -> Value {
    let table = ws.backend().resolve_table("Leads").await.unwrap();
    let (status, job) = json_of(
        http.post(format!("{url}/v1/runs"))
            .bearer_auth(token)
            .json(&json!({"plugin": "spender", "config": {
                "table_id": table.id, "rows": "5", "calls": calls.to_string()}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    kiln_tests::poll_run(http, url, token, id, |_| false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_credits_per_period_cap_its_plugins_and_its_trail_and_budgets_are_its_own() {
    let acme_ws = DemoWorkspace::new();
    let globex_ws = DemoWorkspace::new();
    let dir = acme_ws.dir.path();
    let plugins = plugins_dir(dir, &[spender()]);
    let config = write_config(
        dir,
        &acme_ws.path,
        &plugins,
        "",
        "credits_per_period = 12\ncredit_period_days = 30",
    );
    // Globex's table is the file's last: these lines give it a workspace and the plugins.
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str(&format!(
        "workspace = \"{}\"\nplugins_dir = \"{}\"\n",
        globex_ws.path.display(),
        plugins.display()
    ));
    std::fs::write(&config, toml).unwrap();
    let server = ServeProcess::start(&config, dir);
    let http = reqwest::Client::new();
    let url = server.url.clone();
    // The demo workspaces come with a history of spending.
    let (acme_before, globex_before) = (charged(&acme_ws.path), charged(&globex_ws.path));

    // 4 calls of 5 credits against 12: two run, the third is refused before it spends.
    let job = spend(&http, &url, ACME, &acme_ws, 4).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("budget"), "{error}");
    assert_eq!(charged(&acme_ws.path) - acme_before, 10.0);
    // Globex has no cap, and acme's spending is not in its pool.
    let job = spend(&http, &url, GLOBEX, &globex_ws, 3).await;
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(charged(&globex_ws.path) - globex_before, 15.0);

    let (status, acme) = json_of(
        http.get(format!("{url}/v1/budgets"))
            .bearer_auth(ACME)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{acme}");
    let pool = &acme["budgets"][0];
    assert_eq!(pool["scope"], "pool", "{acme}");
    assert_eq!(
        (&pool["credits"], &pool["spent"], &pool["remaining"]),
        (&json!(12.0), &json!(10.0), &json!(2.0)),
        "{acme}"
    );
    let (_, globex) = json_of(
        http.get(format!("{url}/v1/budgets"))
            .bearer_auth(GLOBEX)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(globex["budgets"], json!([]), "{globex}");
    assert_eq!(globex["last_30_days"]["spent"], 15.0, "{globex}");

    // Each trail holds its own tenant's calls only: acme's refusal is in acme's.
    let trail = |token: &'static str| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let (status, body) = json_of(
                http.get(format!("{url}/v1/trail?limit=1000"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["entries"].as_array().unwrap().clone()
        }
    };
    let (acme_trail, globex_trail) = (trail(ACME).await, trail(GLOBEX).await);
    let outcomes = |entries: &[Value]| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["call"] == "tables.run-column")
            .map(|e| e["outcome"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        outcomes(&acme_trail),
        ["ok", "ok", "error:budget-exhausted"]
    );
    assert_eq!(outcomes(&globex_trail), ["ok", "ok", "ok"]);
    let invocations = |entries: &[Value]| -> std::collections::HashSet<String> {
        entries
            .iter()
            .map(|e| e["invocation_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(invocations(&acme_trail).is_disjoint(&invocations(&globex_trail)));
    // A bad query is told what the trail takes; an unknown token sees nothing.
    let (status, body) = json_of(
        http.get(format!("{url}/v1/trail?limt=5"))
            .bearer_auth(ACME)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("limit, since_ms"),
        "{body}"
    );
    let status = http
        .get(format!("{url}/v1/budgets"))
        .bearer_auth("nobody")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);

    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kiln_credits_remaining{tenant=\"acme\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kiln_credits_spent_period{tenant=\"globex\"} 15"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kiln_instance_slots{tenant=\"acme\"} 8"),
        "{metrics}"
    );
}
