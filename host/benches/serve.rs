//! The row endpoint of `kiln serve` on this machine: latency at low load (one call at a
//! time), and rows per second at saturation with and without coalescing, beside what one
//! core does running the same row function natively.
//!
//! `cargo bench -p kiln-host --bench serve` prints the figures (a bench, not a timed test:
//! this machine is noisy; compare figures from one run).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kiln_host::build::build_plugin;
use kiln_host::serve::{ServeConfig, Server, hash_token};

const TOKEN: &str = "bench-token";
const ROW: &str = r#"{"Email":" Ada.Lovelace@Analytical.ENGINE.com ","Email Status":null,"Company Domain":null,"Full Name":"ada lovelace","First Name":null,"Last Name":null,"Phone":"415 555 0134"}"#;

fn config(dir: &Path, plugins: &Path, extra: &str) -> ServeConfig {
    let path = dir.join("serve.toml");
    std::fs::write(
        &path,
        format!(
            r#"listen = "127.0.0.1:0"
max_queued = 100000
{extra}

[[tenant]]
id = "bench"
tokens_sha256 = ["{}"]
plugins_dir = "{}"
max_concurrent = {}
max_queued = 100000
"#,
            hash_token(TOKEN),
            plugins.display(),
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ),
    )
    .expect("write serve.toml");
    ServeConfig::load(&path).expect("serve.toml")
}

async fn call(http: &reqwest::Client, url: &str) {
    let r = http
        .post(url)
        .bearer_auth(TOKEN)
        .body(ROW)
        .send()
        .await
        .expect("answered");
    assert!(r.status().is_success(), "{}", r.status());
    let _ = r.bytes().await;
}

/// (p50, p99) in µs of one call at a time.
async fn latency(url: &str, n: usize) -> (f64, f64) {
    let http = reqwest::Client::new();
    for _ in 0..50 {
        call(&http, url).await;
    }
    let mut times: Vec<f64> = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        call(&http, url).await;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    (times[n / 2], times[n * 99 / 100])
}

/// Rows per second with `clients` calling as fast as they can for `secs`.
async fn saturation(url: &str, clients: usize, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, done, stop) =
                (http.clone(), url.to_string(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    call(&http, &url).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Rows per second on one core, the row function called natively on the same row.
fn native() -> f64 {
    use normalize_contacts::{company_domain, normalize_email, normalize_phone, split_name};
    let n = 200_000;
    let started = Instant::now();
    for _ in 0..n {
        let (email, problem) =
            normalize_email(std::hint::black_box(" Ada.Lovelace@Analytical.ENGINE.com "));
        std::hint::black_box((problem, company_domain(&email)));
        std::hint::black_box(split_name(std::hint::black_box("ada lovelace")));
        std::hint::black_box(normalize_phone(std::hint::black_box("415 555 0134"), "1"));
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with("--") && a != "serve")
    {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugins dir");
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/normalize-contacts");
    let wasm = build_plugin(&crate_dir)
        .expect("normalize-contacts builds")
        .wasm;
    std::fs::copy(&wasm, plugins.join("normalize-contacts.wasm")).expect("copy");

    let native = native();
    eprintln!("native, one core: {native:.0} rows/s");
    for (label, extra) in [
        (
            "coalescing (2 ms window, up to 256 rows a batch)",
            "coalesce_ms = 2\nmax_batch_rows = 256",
        ),
        ("no coalescing (one row a batch)", "max_batch_rows = 1"),
    ] {
        let server = rt
            .block_on(Server::start(config(dir.path(), &plugins, extra)))
            .expect("server");
        let url = format!("http://{}/v1/plugins/normalize-contacts/row", server.addr());
        let (p50, p99) = rt.block_on(latency(&url, 2_000));
        let rows = rt.block_on(saturation(&url, 64, 5));
        eprintln!(
            "{label}: one call at a time p50 {p50:.0} µs, p99 {p99:.0} µs; 64 clients {rows:.0} rows/s ({:.1}% of native on one core)",
            100.0 * rows / native
        );
        rt.block_on(server.stop(Duration::from_secs(5)));
    }
}
