//! `kiln serve` on 127.0.0.1 with a real HTTP client: tenants see only their own plugins,
//! bad requests get the right status and a clear message, row calls answer what the plugin
//! set, concurrent calls are coalesced, a new version is activated under load with no failed
//! call, and a full queue answers 429 with `Retry-After`.

use std::time::Duration;

use kiln_host::serve::{ServeConfig, Server, TenantConfig, hash_token};
use kiln_tests::{counter, hostile, normalize_contacts};
use serde_json::{Value, json};

const ACME: &str = "acme-token-1b7e";
const GLOBEX: &str = "globex-token-93fa";

fn tenant(id: &str, token: &str, plugins: Option<&std::path::Path>) -> TenantConfig {
    TenantConfig {
        id: id.into(),
        tokens_sha256: vec![hash_token(token)],
        workspace: None,
        clay: None,
        state: None,
        policy: None,
        plugins_dir: plugins.map(|p| p.to_path_buf()),
        max_concurrent: 4,
        max_queued: 512,
        memory_mib: 128,
        max_plugins: 64,
        max_versions: 8,
        max_jobs: 16,
        credits_per_period: None,
        credit_period_days: 30,
        settings: Default::default(),
    }
}

fn config(tenants: Vec<TenantConfig>, cache: &std::path::Path) -> ServeConfig {
    let mut config: ServeConfig = toml_config();
    config.cache_dir = Some(cache.to_path_buf());
    config.tenants = tenants;
    config
}

/// The defaults, as an empty `serve.toml` gives them, on a free port.
fn toml_config() -> ServeConfig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:0\"\n").unwrap();
    ServeConfig::load(&path).unwrap()
}

struct Running {
    server: Server,
    url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start(tenants: impl FnOnce(&std::path::Path) -> Vec<TenantConfig>) -> Self {
        Self::start_with(tenants, |_| {}).await
    }

    async fn start_with(
        tenants: impl FnOnce(&std::path::Path) -> Vec<TenantConfig>,
        tune: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::copy(
            normalize_contacts(),
            plugins.join("normalize-contacts.wasm"),
        )
        .unwrap();
        let mut config = config(tenants(&plugins), &dir.path().join("cache"));
        tune(&mut config);
        let server = Server::start(config).await.unwrap();
        let url = format!("http://{}", server.addr());
        Self {
            server,
            url,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn call(&self, token: &str, plugin: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/plugins/{plugin}/row", self.url))
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `/metrics`, as text.
    async fn metrics(&self) -> String {
        let r = self.http.get(format!("{}/metrics", self.url)).send().await;
        r.unwrap().text().await.unwrap()
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

const CONTACT: &str = r#"{"Email":" Ada.Lovelace@Analytical.ENGINE.com ","Email Status":null,
  "Company Domain":null,"Full Name":"ada lovelace","First Name":null,"Last Name":null,
  "Phone":"415 555 0134"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_row_call_answers_what_the_plugin_set_and_tenants_see_only_their_own() {
    let s = Running::start(|plugins| {
        vec![
            tenant("acme", ACME, Some(plugins)),
            tenant("globex", GLOBEX, None),
        ]
    })
    .await;

    let (status, body) = s.call(ACME, "normalize-contacts", CONTACT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "Email": "ada.lovelace@analytical.engine.com",
            "Email Status": "valid",
            "Company Domain": "analytical.engine.com",
            "First Name": "Ada",
            "Last Name": "Lovelace",
            "Phone": "+14155550134",
        })
    );

    // Another tenant cannot see or call it, and is told nothing about it.
    let (status, list) = s.get(GLOBEX, "/v1/plugins").await;
    assert_eq!((status, list), (200, json!([])));
    let (status, body) = s.call(GLOBEX, "normalize-contacts", CONTACT).await;
    assert_eq!(status, 404, "{body}");
    let (status, list) = s.get(ACME, "/v1/plugins").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["name"], "normalize-contacts");

    // Tokens.
    let r = s
        .http
        .post(format!("{}/v1/plugins/normalize-contacts/row", s.url))
        .body(CONTACT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("Authorization: Bearer"));
    let (status, body) = s.call("not-a-token", "normalize-contacts", CONTACT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("this API token is not valid"))
    );
    let r = s
        .http
        .post(format!("{}/v1/plugins/normalize-contacts/row", s.url))
        .header("X-Api-Key", ACME)
        .body(CONTACT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "X-Api-Key works too");

    // Bad requests: each its status and a message that says what to send.
    let (status, body) = s.call(ACME, "normalize-contacts", "{\"Email\": ").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("not JSON"),
        "{body}"
    );
    let wide: serde_json::Map<String, Value> =
        (0..300).map(|i| (format!("c{i}"), Value::Null)).collect();
    let (status, body) = s
        .call(ACME, "normalize-contacts", &Value::Object(wide).to_string())
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("at most 256"),
        "{body}"
    );
    let (status, body) = s.call(ACME, "normalize-contacts", "[1, 2]").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("not an array"),
        "{body}"
    );
    let (status, body) = s.call(ACME, "no-such-plugin", CONTACT).await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("GET /v1/plugins"),
        "{body}"
    );
    let huge = format!("{{\"Email\": \"{}\"}}", "x".repeat(2 << 20));
    let (status, body) = s.call(ACME, "normalize-contacts", &huge).await;
    assert_eq!(status, 413);
    assert!(
        body["error"].as_str().unwrap().contains("at most 1048576"),
        "{body}"
    );
    // A row the plugin fails (columns it writes were not sent) is the row's error, 422.
    let (status, body) = s
        .call(ACME, "normalize-contacts", r#"{"Email":"a@b.io"}"#)
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"].as_str().unwrap().contains("no column"),
        "{body}"
    );

    let metrics = s.metrics().await;
    assert!(
        metrics.contains(
            r#"kiln_row_calls_total{tenant="acme",plugin="normalize-contacts",outcome="set"} 2"#
        ),
        "{metrics}"
    );
    s.server.stop(Duration::from_secs(5)).await;
}

/// The component with a custom section appended: another SHA-256, the same plugin.
fn another_build(wasm: &[u8]) -> Vec<u8> {
    build_number(wasm, b'2')
}

fn build_number(wasm: &[u8], n: u8) -> Vec<u8> {
    let mut bytes = wasm.to_vec();
    let name = b"kiln-test-build";
    let payload = [n];
    let size = 1 + name.len() + payload.len();
    bytes.push(0); // custom section
    bytes.push(size as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_are_checked_and_a_new_version_goes_live_under_load_with_no_failed_call() {
    let s = Running::start(|plugins| vec![tenant("acme", ACME, Some(plugins))]).await;
    let put = |name: &str, bytes: Vec<u8>| {
        s.http
            .put(format!("{}/v1/plugins/{name}", s.url))
            .bearer_auth(ACME)
            .body(bytes)
            .send()
    };
    // Not a component, and a component under another name.
    let r = put("counter", b"\0asm\x01\0\0\0".to_vec()).await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("component"));
    let counter_wasm = std::fs::read(counter()).unwrap();
    let r = put("tally", counter_wasm.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("/v1/plugins/counter"));

    let r = put("counter", counter_wasm.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["active"], true, "the first version is live");
    let r = put("counter", another_build(&counter_wasm)).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let second: Value = r.json().await.unwrap();
    assert_eq!(
        second["active"], false,
        "a new version waits to be activated"
    );
    assert_ne!(first["sha256"], second["sha256"]);

    // 300 calls in flight while the new version is activated: every one answers.
    let calls: Vec<_> = (0..300)
        .map(|i| {
            let (http, url) = (s.http.clone(), s.url.clone());
            tokio::spawn(async move {
                let r = http
                    .post(format!("{url}/v1/plugins/counter/row"))
                    .bearer_auth(ACME)
                    .body(format!(r#"{{"Count": {i}}}"#))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (i, status, body)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = s
        .http
        .post(format!("{}/v1/plugins/counter/activate", s.url))
        .bearer_auth(ACME)
        .json(&json!({ "sha256": second["sha256"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for call in calls {
        let (i, status, body) = call.await.unwrap();
        assert_eq!(status, 200, "call {i}: {body}");
        assert_eq!(body, json!({ "Count": (i + 1).to_string() }), "call {i}");
    }
    let (_, shown) = s.get(ACME, "/v1/plugins/counter").await;
    assert_eq!(shown["active"], second["sha256"]);

    // Concurrent calls went in batches, not one instance each.
    let metrics = s.metrics().await;
    let batches: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("kiln_batches_total{") && l.contains("counter"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        batches > 0 && batches < 300,
        "{batches} batches for 300 calls"
    );

    let r = s
        .http
        .delete(format!("{}/v1/plugins/counter", s.url))
        .bearer_auth(ACME)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (status, _) = s.call(ACME, "counter", r#"{"Count": 1}"#).await;
    assert_eq!(status, 404);
    s.server.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_past_its_queue_gets_429_with_retry_after() {
    let s = Running::start_with(
        |plugins| {
            std::fs::copy(hostile(), plugins.join("hostile.wasm")).unwrap();
            // Slow calls (90,000 host calls each) keep the first ones queued while the
            // rest arrive.
            let settings = [(
                "hostile".to_string(),
                [("mode", "ping"), ("n", "90000")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )]
            .into();
            vec![TenantConfig {
                max_queued: 3,
                max_concurrent: 1,
                settings,
                ..tenant("acme", ACME, Some(plugins))
            }]
        },
        |_| {},
    )
    .await;
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let (http, url) = (s.http.clone(), s.url.clone());
            tokio::spawn(async move {
                let r = http
                    .post(format!("{url}/v1/plugins/hostile/row"))
                    .bearer_auth(ACME)
                    .body(r#"{"Email": "a@b.io"}"#)
                    .send()
                    .await
                    .unwrap();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                (status, retry, body)
            })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for c in calls {
        match c.await.unwrap() {
            (200, _, _) => ok += 1,
            (429, Some(retry), body) => {
                assert_eq!(retry, "1");
                assert!(body["error"].as_str().unwrap().contains("quota"), "{body}");
                refused += 1
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (3, 9));
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(r#"kiln_refused_total{tenant="acme",status="429"} 9"#),
        "{metrics}"
    );
    s.server.stop(Duration::from_secs(5)).await;
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_row_calls_at_200_at_once_all_answer_their_own_row() {
    let s = Running::start_with(
        |plugins| {
            std::fs::copy(counter(), plugins.join("counter.wasm")).unwrap();
            vec![TenantConfig {
                max_queued: 1000,
                ..tenant("acme", ACME, Some(plugins))
            }]
        },
        |_| {},
    )
    .await;
    const CALLS: usize = 20_000;
    const AT_ONCE: usize = 200;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut rss = Vec::new();
    let workers: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let (http, url, next) = (s.http.clone(), s.url.clone(), next.clone());
            tokio::spawn(async move {
                let mut wrong = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= CALLS {
                        return wrong;
                    }
                    let r = http
                        .post(format!("{url}/v1/plugins/counter/row"))
                        .bearer_auth(ACME)
                        .body(format!(r#"{{"Count": {i}}}"#))
                        .send()
                        .await;
                    let answer = match r {
                        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                        _ => None,
                    };
                    // Each call gets its own row back, one more: nothing lost, mixed or doubled.
                    if answer != Some(json!({ "Count": (i + 1).to_string() })) {
                        wrong.push((i, answer));
                    }
                }
            })
        })
        .collect();
    // Memory while the load runs, sampled.
    while next.load(std::sync::atomic::Ordering::Relaxed) < CALLS {
        rss.push(rss_kib());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut wrong = Vec::new();
    for w in workers {
        wrong.extend(w.await.unwrap());
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
    // Flat: the last samples are not far above the ones taken once the load was under way.
    if rss.len() >= 6 {
        let early = rss[2];
        let late = *rss.iter().rev().take(3).max().unwrap();
        assert!(
            late < early + 256 * 1024,
            "memory grew from {early} KiB to {late} KiB under steady load"
        );
    }
    s.server.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_tenant_hits_its_own_limits_and_another_tenant_is_served_throughout() {
    let s = Running::start(|plugins| {
        let evil = plugins.join("evil");
        std::fs::create_dir(&evil).unwrap();
        std::fs::copy(hostile(), evil.join("hostile.wasm")).unwrap();
        let settings = [(
            "hostile".to_string(),
            [("mode".to_string(), "host-calls".to_string())].into(),
        )]
        .into();
        vec![
            tenant("acme", ACME, Some(plugins)),
            TenantConfig {
                max_concurrent: 2,
                settings,
                ..tenant("evil", GLOBEX, Some(&evil))
            },
        ]
    })
    .await;
    // The hostile tenant floods its plugin, which calls the host until its limit ends it.
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let (http, url) = (s.http.clone(), s.url.clone());
            tokio::spawn(async move {
                let r = http
                    .post(format!("{url}/v1/plugins/hostile/row"))
                    .bearer_auth(GLOBEX)
                    .body(r#"{"Email": "x"}"#)
                    .send()
                    .await
                    .unwrap();
                (
                    r.status().as_u16(),
                    r.json::<Value>().await.unwrap_or(Value::Null),
                )
            })
        })
        .collect();
    // Meanwhile the other tenant's calls are answered, and answered right.
    for _ in 0..20 {
        let (status, body) = s.call(ACME, "normalize-contacts", CONTACT).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Email"], "ada.lovelace@analytical.engine.com");
    }
    for f in flood {
        let (status, body) = f.await.unwrap();
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("host calls"),
            "{body}"
        );
    }
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(
            r#"kiln_limits_hit_total{tenant="evil",plugin="hostile",limit="host-calls"}"#
        ),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"kiln_limits_hit_total{tenant="acme""#));
    s.server.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_on_clay_over_http_runs_against_it_and_its_key_stays_out_of_its_state() {
    use kiln_host::serve::config::ClayConfig;
    use kiln_host::sim::{SimConfig, Simulator};
    const KEY: &str = "clay-api-key-77f0e2";
    let ws = kiln_tests::DemoWorkspace::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        listener,
        ws.local.clone(),
        SimConfig {
            api_key: Some(secrecy::SecretString::from(KEY.to_string())),
            ..SimConfig::default()
        },
    )
    .unwrap();
    let key_file = ws.dir.path().join("acme.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let state = ws.dir.path().join("acme-state.sqlite");
    let (sim_url, state_file) = (sim.url(), state.clone());
    let s = Running::start(move |plugins| {
        vec![TenantConfig {
            clay: Some(ClayConfig {
                url: Some(sim_url),
                api_key_env: None,
                api_key_file: Some(key_file),
                requests_per_second: Some(1000),
            }),
            state: Some(state_file),
            ..tenant("acme", ACME, Some(plugins))
        }]
    })
    .await;
    let r = s
        .http
        .post(format!("{}/v1/runs", s.url))
        .bearer_auth(ACME)
        .json(&json!({"plugin": "normalize-contacts", "table": "Leads", "dry_run": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = loop {
        let (_, job) = s.get(ACME, &format!("/v1/runs/{id}")).await;
        if job["state"] != "running" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(job["report"]["rows_seen"], 2000);
    s.server.stop(Duration::from_secs(5)).await;
    // The run's journal and trail are in the tenant's state file; its key is not.
    for file in [state.clone(), state.with_extension("sqlite-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{}",
            file.display()
        );
    }
    let journal = kiln_host::journal::Journal::open(&state).unwrap();
    assert_eq!(journal.list().unwrap()[0].id, id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_keeps_a_bounded_number_of_plugins_and_versions() {
    let s = Running::start(|_| {
        vec![TenantConfig {
            max_plugins: 1,
            max_versions: 2,
            ..tenant("acme", ACME, None)
        }]
    })
    .await;
    let put = |name: &str, bytes: Vec<u8>| {
        s.http
            .put(format!("{}/v1/plugins/{name}", s.url))
            .bearer_auth(ACME)
            .body(bytes)
            .send()
    };
    let wasm = std::fs::read(counter()).unwrap();
    let mut shas = Vec::new();
    for n in [b'1', b'2', b'3'] {
        let r = put("counter", build_number(&wasm, n)).await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        shas.push(r.json::<Value>().await.unwrap()["sha256"].clone());
    }
    // The live (first) version stays; the oldest of the others went.
    let (_, shown) = s.get(ACME, "/v1/plugins/counter").await;
    let kept: Vec<&Value> = shown["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["sha256"])
        .collect();
    assert_eq!(kept.len(), 2, "{shown}");
    assert!(
        kept.contains(&&shas[0]) && kept.contains(&&shas[2]),
        "{shown}"
    );
    assert_eq!(shown["active"], shas[0]);
    // A second plugin is past the quota.
    let r = put(
        "normalize-contacts",
        std::fs::read(normalize_contacts()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert!(r.text().await.unwrap().contains("quota"));
    s.server.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_certificate_it_serves_https_and_only_https() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        normalize_contacts(),
        plugins.join("normalize-contacts.wasm"),
    )
    .unwrap();
    let issued =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let mut config = config(
        vec![tenant("acme", ACME, Some(&plugins))],
        &dir.path().join("cache"),
    );

    // A key that is not one is refused before the server starts, naming the file.
    std::fs::write(dir.path().join("bad.pem"), "not a key").unwrap();
    config.tls = Some(kiln_host::serve::TlsConfig {
        cert: cert.clone(),
        key: dir.path().join("bad.pem"),
    });
    let err = Server::start(config.clone())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tls.key") && err.contains("bad.pem"), "{err}");

    config.tls = Some(kiln_host::serve::TlsConfig { cert, key });
    let server = Server::start(config).await.unwrap();
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(issued.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = https
        .post(format!("{url}/v1/plugins/normalize-contacts/row"))
        .bearer_auth(ACME)
        .body(CONTACT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Email"], "ada.lovelace@analytical.engine.com");
    // Plain HTTP to the same port gets no answer, and neither does a client that does not
    // trust the certificate.
    let plain = url.replace("https://", "http://");
    let answered = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    assert!(!answered);
    assert!(
        reqwest::Client::new()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_err()
    );
    server.stop(Duration::from_secs(5)).await;
}

#[test]
fn tenants_sharing_a_ledger_or_a_credit_quota_without_one_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared.sqlite");
    let mut a = tenant("acme", ACME, None);
    let mut b = tenant("globex", GLOBEX, None);
    a.workspace = Some(shared.clone());
    b.clay = Some(toml::from_str("api_key_env = \"K\"").unwrap());
    b.state = Some(shared);
    let err = config(vec![a.clone(), b], dir.path()).check().unwrap_err();
    assert!(err.contains("name the same file"), "{err}");

    let mut c = tenant("initech", GLOBEX, None);
    c.credits_per_period = Some(100.0);
    let err = config(vec![a, c], dir.path()).check().unwrap_err();
    assert!(err.contains("credits_per_period needs a ledger"), "{err}");
}
