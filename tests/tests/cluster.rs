//! kiln past one machine: `kiln serve --nats` and `kiln worker`s on a real `nats-server -js`.
//! A 50,000-row run of a plugin that is not idempotent (it adds one to a counter) goes
//! across three workers; one dies between applying a batch and acking it, another is
//! SIGKILLed mid-run, and NATS itself is killed and restarted mid-run — every counter ends
//! at exactly 1.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kiln_host::backend::local::LocalBackend;
use kiln_host::serve::hash_token;
use kiln_tests::nats::Nats;
use kiln_tests::{KilnProcess, add_counts_table, counter, counters};
use serde_json::{Value, json};

const TOKEN: &str = "acme-cluster-token-41c9";
const ROWS: usize = 50_000;

/// A workspace with the `Counts` table, a serve.toml naming it, and the counter plugin.
fn setup(dir: &Path, nats: &Nats) -> (PathBuf, PathBuf) {
    setup_rows(dir, nats, ROWS)
}

fn setup_rows(dir: &Path, nats: &Nats, rows: usize) -> (PathBuf, PathBuf) {
    let ws = dir.join("workspace.sqlite");
    let local = LocalBackend::create(&ws).unwrap();
    add_counts_table(dir, &local, rows);
    drop(local);
    let config = serve_toml(dir, nats, &ws, &counter(), "");
    (config, ws)
}

/// A serve.toml with one tenant, `acme`, on workspace `ws` with `plugin` (and `extra` lines in
/// its table), its batches redelivered after 3 s.
fn serve_toml(dir: &Path, nats: &Nats, ws: &Path, plugin: &Path, extra: &str) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(plugin, plugins.join(plugin.file_name().unwrap())).unwrap();
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
cache_dir = "cache"

[nats]
url = "{}"
ack_wait_secs = 3
max_deliver = 20

[[tenant]]
id = "acme"
tokens_sha256 = ["{}"]
workspace = "{}"
plugins_dir = "{}"
{extra}
"#,
            nats.url,
            hash_token(TOKEN),
            ws.display(),
            plugins.display()
        ),
    )
    .unwrap();
    config
}

fn serve(dir: &Path, config: &Path) -> (KilnProcess, String) {
    let p = KilnProcess::spawn(
        dir,
        &["serve", "--config", config.to_str().unwrap()],
        &[],
        Stdio::inherit(),
    );
    let url = p
        .first_line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("kiln serve said {:?}", p.first_line))
        .to_string();
    (p, url)
}

fn worker(dir: &Path, config: &Path, envs: &[(&str, &str)]) -> KilnProcess {
    let p = KilnProcess::spawn(
        dir,
        &["worker", "--config", config.to_str().unwrap()],
        envs,
        Stdio::inherit(),
    );
    assert!(p.first_line.starts_with("worker ready"), "{}", p.first_line);
    p
}

async fn start_run(http: &reqwest::Client, url: &str) -> String {
    let r = http
        .post(format!("{url}/v1/runs"))
        .bearer_auth(TOKEN)
        .json(&json!({"plugin": "counter", "table": "Counts", "batch_size": 250}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Polls the run until `until` holds of it (or it ends).
async fn wait(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    until: impl Fn(&Value) -> bool,
) -> Value {
    kiln_tests::poll_run(http, url, TOKEN, id, until).await
}

async fn assert_every_counter_is_one(ws: &Path) {
    let counters = counters(ws).await;
    assert_eq!(counters.len(), ROWS);
    let wrong: Vec<_> = counters.iter().filter(|(_, c)| *c != Some(1.0)).collect();
    assert!(
        wrong.is_empty(),
        "{} rows are not 1, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_apply_every_batch_once_though_two_of_them_die() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let nats = Nats::start(&dir.join("nats"));
    let (config, ws) = setup(dir, &nats);
    let (_server, url) = serve(dir, &config);
    // One dies right after applying its third batch, before marking it or acking it.
    let mut dies = worker(dir, &config, &[("KILN_FAULT_DIE_AFTER_APPLY", "3")]);
    let steady = worker(dir, &config, &[]);
    let killed = worker(dir, &config, &[]);
    let http = reqwest::Client::new();
    let id = start_run(&http, &url).await;

    // Another is SIGKILLed once a fifth of the rows are done, most likely mid-batch.
    wait(&http, &url, &id, |j| {
        j["progress"]["done"].as_u64() >= Some(10_000)
    })
    .await;
    killed.signal(libc::SIGKILL);
    let job = wait(&http, &url, &id, |_| false).await;
    assert_eq!(job["state"], "finished", "{job}");
    let report = &job["report"];
    assert_eq!(report["rows_seen"], ROWS as u64, "{report}");
    assert_eq!(report["rows_changed"], ROWS as u64, "{report}");
    assert_eq!(report["rows_failed"], 0, "{report}");
    // At least the batch the first one died holding came back.
    assert!(
        report["batches_redelivered"].as_u64() >= Some(1),
        "{report}"
    );
    let died = dies.child.try_wait().unwrap();
    assert!(died.is_some_and(|s| !s.success()), "{died:?}");
    assert_every_counter_is_one(&ws).await;
    drop(steady);

    // Three workers and a server wrote one trail in JetStream, and it verifies.
    let kiln = |args: &[&str]| {
        kiln_tests::kiln_in(dir)
            .args(args)
            .args(["--nats", &nats.url, "--tenant", "acme"])
            .output()
            .unwrap()
    };
    let verified = kiln(&["trail", "verify", "--json"]);
    let verdict: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert!(verified.status.success(), "{verdict}");
    assert!(verdict["entries"].as_u64() > Some(200), "{verdict}");
    // Every batch's write is in it.
    let shown = kiln(&["trail", "show", "--json"]);
    let entries: Vec<Value> = serde_json::from_slice(&shown.stdout).unwrap();
    let applies = entries
        .iter()
        .filter(|e| e["call"] == "effects.apply")
        .count();
    let written: std::collections::HashSet<String> = entries
        .iter()
        .filter(|e| e["call"] == "effects.apply")
        .filter_map(|e| e["targets"][1].as_str().map(str::to_string))
        .collect();
    let unrecorded: Vec<usize> = (0..ROWS / 250)
        .filter(|b| !written.contains(&format!("batch:{b}")))
        .collect();
    assert!(
        unrecorded.is_empty(),
        "{applies} writes recorded; none for batches {unrecorded:?}; the run: {report}"
    );
    // Someone publishes an altered copy of entry #5 onto the trail: verify names it.
    let mut forged = entries[4].clone();
    forged["outcome"] = json!("error:denied");
    let client = async_nats::connect(&nats.url).await.unwrap();
    async_nats::jetstream::new(client)
        .publish("kiln.trail.acme", forged.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let broken = kiln(&["trail", "verify"]);
    assert!(!broken.status.success());
    let said = String::from_utf8_lossy(&broken.stderr);
    assert!(said.contains("entry #5 was edited"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_survives_nats_being_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut nats = Nats::start(&dir.join("nats"));
    let (config, ws) = setup(dir, &nats);
    let (_server, url) = serve(dir, &config);
    let _workers = [worker(dir, &config, &[]), worker(dir, &config, &[])];
    let http = reqwest::Client::new();
    let id = start_run(&http, &url).await;

    wait(&http, &url, &id, |j| {
        j["progress"]["done"].as_u64() >= Some(5_000)
    })
    .await;
    nats.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    nats.restart();
    let job = wait(&http, &url, &id, |_| false).await;
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(
        job["report"]["rows_changed"], ROWS as u64,
        "{}",
        job["report"]
    );
    assert_every_counter_is_one(&ws).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_audits_on_two_servers_spend_exactly_the_tenants_credits() {
    let demo = kiln_tests::DemoWorkspace::new();
    let dir = demo.dir.path();
    let nats = Nats::start(&dir.join("nats"));
    let config = serve_toml(
        dir,
        &nats,
        &demo.path,
        &kiln_tests::spender(),
        "credits_per_period = 100",
    );
    let charged = || kiln_tests::charged(&demo.path);
    let before = charged();
    // A plugin budget beside the tenant's pool, set on the cluster from the command line.
    let budget_cli = |args: &[&str]| {
        kiln_tests::kiln_in(dir)
            .args(["budget"])
            .args(args)
            .args(["--nats", &nats.url, "--tenant", "acme"])
            .output()
            .unwrap()
    };
    let spender = kiln_tests::spender();
    let set = budget_cli(&[
        "set",
        "--plugin",
        spender.to_str().unwrap(),
        "--credits",
        "1000",
    ]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    // Two front ends, one budget: the tenant's credits are in JetStream KV, not in either.
    let servers = [serve(dir, &config), serve(dir, &config)];
    let table = demo.backend().resolve_table("Leads").await.unwrap();
    let http = reqwest::Client::new();
    // Ten audits at once, five on each server, each on rows of its own: 40 enrichment runs
    // of 5 rows (5 credits) apiece, 2,000 credits asked of a budget of 100.
    let mut started = Vec::new();
    for i in 0..10 {
        let url = &servers[i % 2].1;
        let r = http
            .post(format!("{url}/v1/runs"))
            .bearer_auth(TOKEN)
            .json(&json!({"plugin": "spender", "config": {
                "table_id": table.id, "rows": "5", "calls": "40", "offset": (i * 200).to_string()}}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        let id = body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_string();
        started.push((url.clone(), id));
    }
    for (url, id) in &started {
        let job = wait(&http, url, id, |_| false).await;
        // Each ran until the budget refused one of its calls.
        assert_eq!(job["state"], "failed", "{job}");
        assert!(job["error"].as_str().unwrap().contains("budget"), "{job}");
    }
    // Exactly what fits: twenty calls of 5 credits, however the two servers raced.
    assert_eq!(charged() - before, 100.0);
    // And the holds were in JetStream, not in the workspace file's own ledger.
    let local_holds: i64 = rusqlite::Connection::open(&demo.path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM kiln_spend", [], |r| r.get(0))
        .unwrap();
    assert_eq!(local_holds, 0);
    let budgets: Value = http
        .get(format!("{}/v1/budgets", servers[1].1))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pool = &budgets["budgets"][1];
    assert_eq!(pool["scope"], "pool", "{budgets}");
    assert_eq!(
        (&pool["spent"], &pool["reserved"], &pool["remaining"]),
        (&json!(100.0), &json!(0.0), &json!(0.0)),
        "{budgets}"
    );
    // The plugin's budget counted the same spending, and the CLI reads it from the cluster.
    let shown = budget_cli(&["show", "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let plugin = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["scope"] == "plugin")
        .cloned()
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(
        (&plugin["spent"], &plugin["remaining"]),
        (&json!(100.0), &json!(900.0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn row_calls_are_answered_by_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let nats = Nats::start(&dir.join("nats"));
    let (config, _) = setup_rows(dir, &nats, 10);
    let (_server, url) = serve(dir, &config);
    let workers = [worker(dir, &config, &[]), worker(dir, &config, &[])];
    let http = reqwest::Client::new();
    let call = |n: u32| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(format!("{url}/v1/plugins/counter/row"))
                .bearer_auth(TOKEN)
                .json(&json!({"Name": format!("p{n}"), "Count": n}))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let answers = futures_util::future::join_all((0..200).map(call)).await;
    for (n, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(
            body["Count"],
            json!((n + 1).to_string()),
            "call {n}: {body}"
        );
    }
    // With no worker left, the server says so rather than answering itself.
    drop(workers);
    let (status, body) = call(7).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("kiln worker"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_no_worker_can_finish_is_reported_failed_after_its_last_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let nats = Nats::start(&dir.join("nats"));
    let (config, _) = setup_rows(dir, &nats, 10);
    let toml = std::fs::read_to_string(&config).unwrap();
    // The server as usual; its workers with too little memory for any instance, so every
    // delivery of the batch fails and is put back.
    std::fs::write(&config, toml.replace("max_deliver = 20", "max_deliver = 3")).unwrap();
    let starved = dir.join("starved.toml");
    std::fs::write(
        &starved,
        toml.replace("max_deliver = 20", "max_deliver = 3") + "memory_mib = 1\n",
    )
    .unwrap();
    let (_server, url) = serve(dir, &config);
    let _worker = worker(dir, &starved, &[]);
    let http = reqwest::Client::new();
    let id = start_run(&http, &url).await;
    let job = wait(&http, &url, &id, |_| false).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("delivered 3 times"), "{error}");
    assert_eq!(job["report"]["rows_failed"], 10, "{job}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_too_big_for_one_nats_message_fails_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let nats = Nats::start(&dir.join("nats"));
    let (config, ws) = setup_rows(dir, &nats, 6_000);
    let (_server, url) = serve(dir, &config);
    let _worker = worker(dir, &config, &[]);
    let http = reqwest::Client::new();
    // 6,000 changed rows are about 1.4 MB of effects; NATS takes 1 MB a message.
    let r = http
        .post(format!("{url}/v1/runs"))
        .bearer_auth(TOKEN)
        .json(&json!({"plugin": "counter", "table": "Counts", "batch_size": 6000}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let id = body["id"].as_str().unwrap_or_else(|| panic!("{body}"));
    let job = wait(&http, &url, id, |_| false).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("smaller batch_size"), "{error}");
    // Nothing of it was applied.
    let counters = counters(&ws).await;
    assert!(counters.iter().all(|(_, c)| c.is_none()));
}
