//! Runs across `kiln worker`s on this machine: rows per second of one 20,000-row run of the
//! counter plugin with 1, 2 and 4 workers, beside the same run in one process without NATS.
//!
//! ```sh
//! cargo build --release -p kiln-host          # the workers are the release `kiln` binary
//! cargo bench -p kiln-tests --bench cluster
//! ```
//!
//! A bench, not a timed test: this machine is noisy; compare figures from one run.

use std::process::Stdio;
use std::time::{Duration, Instant};

use kiln_host::backend::local::LocalBackend;
use kiln_host::invocation::{TransformOptions, run_transform};
use kiln_host::serve::hash_token;
use kiln_tests::nats::Nats;
use kiln_tests::{KilnProcess, add_counts_table, counter, runtime};
use serde_json::{Value, json};

const TOKEN: &str = "bench-cluster-token";
const ROWS: usize = 20_000;
const BATCH: usize = 250;
const RUNS: usize = 3;

fn main() {
    let kiln = kiln_tests::kiln_bin_checked();
    let Some(kiln) = kiln else {
        eprintln!("build the release binary first: cargo build --release -p kiln-host");
        return;
    };
    eprintln!("workers: {}", kiln.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let nats = Nats::start(&dir.join("nats"));
    let ws = dir.join("workspace.sqlite");
    let local = LocalBackend::create(&ws).expect("workspace");
    add_counts_table(dir, &local, ROWS);
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    std::fs::copy(counter(), plugins.join("counter.wasm")).expect("counter plugin");

    // The same run in one process, no NATS: the baseline.
    let plugin = runtime()
        .load_file(&counter())
        .await
        .expect("counter loads");
    let mut single = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let report = run_transform(
            &plugin,
            std::sync::Arc::new(local.clone()),
            "Counts",
            TransformOptions {
                rows_per_batch: BATCH,
                ..TransformOptions::default()
            },
        )
        .await
        .expect("the in-process run");
        assert_eq!(report.rows_changed, ROWS as u64);
        single.push(started.elapsed());
    }
    let single = median(single);
    eprintln!(
        "one process, no NATS:  {:>7.0} rows/s  ({:.1} ms a batch of {BATCH})",
        ROWS as f64 / single.as_secs_f64(),
        single.as_secs_f64() * 1000.0 / (ROWS / BATCH) as f64
    );

    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ncache_dir = \"cache\"\n\n[nats]\nurl = \"{}\"\n\n[[tenant]]\nid = \"bench\"\ntokens_sha256 = [\"{}\"]\nworkspace = \"{}\"\nplugins_dir = \"{}\"\n",
            nats.url,
            hash_token(TOKEN),
            ws.display(),
            plugins.display()
        ),
    )
    .expect("serve.toml");
    let server = KilnProcess::spawn(
        dir,
        &["serve", "--config", config.to_str().unwrap_or_default()],
        &[],
        Stdio::inherit(),
    );
    let url = server
        .first_line
        .strip_prefix("listening on ")
        .expect("kiln serve's address")
        .to_string();
    let http = reqwest::Client::new();
    for workers in [1, 2, 4] {
        let procs: Vec<KilnProcess> = (0..workers)
            .map(|_| {
                KilnProcess::spawn(
                    dir,
                    &["worker", "--config", config.to_str().unwrap_or_default()],
                    &[],
                    Stdio::inherit(),
                )
            })
            .collect();
        let mut took = Vec::new();
        for _ in 0..RUNS {
            took.push(run(&http, &url).await);
        }
        let took = median(took);
        eprintln!(
            "{workers} worker{}:            {:>7.0} rows/s  ({:.2}x one process; {:.1} ms of worker time a batch)",
            if workers == 1 { " " } else { "s" },
            ROWS as f64 / took.as_secs_f64(),
            single.as_secs_f64() / took.as_secs_f64(),
            took.as_secs_f64() * 1000.0 * workers as f64 / (ROWS / BATCH) as f64
        );
        // SIGTERM: each worker finishes and says where its time went.
        for p in &procs {
            p.signal(libc::SIGTERM);
        }
        for mut p in procs {
            let _ = p.child.wait();
        }
    }
    drop(server);
}

/// One run through the server and the workers, start to report.
async fn run(http: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    let job: Value = http
        .post(format!("{url}/v1/runs"))
        .bearer_auth(TOKEN)
        .json(&json!({"plugin": "counter", "table": "Counts", "batch_size": BATCH}))
        .send()
        .await
        .expect("POST /v1/runs")
        .json()
        .await
        .expect("its answer");
    let id = job["id"].as_str().expect("a run id").to_string();
    loop {
        let job: Value = http
            .get(format!("{url}/v1/runs/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET the run")
            .json()
            .await
            .expect("the run");
        if job["state"] != "running" {
            assert_eq!(job["state"], "finished", "{job}");
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}
