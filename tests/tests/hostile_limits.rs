//! Identity, limits and budgets a plugin cannot choose for itself, builds that are not runs,
//! and a compiled-code cache nobody else can write to.
//!
//! - A manifest asking for a day, a gibibyte and a trillion host calls gets the runtime's
//!   defaults unless the operator's policy raises the ceiling.
//! - Plugin budgets and the trail key on the component's SHA-256, not its self-given name.
//! - Over HTTP, a run whose answer does not say what it spent is charged its estimate.
//! - A crate directory is built only with `--build`, and its build scripts see no `CLAY_*`
//!   or `KILN_*` variable and not the user's `HOME`.
//! - A cache directory other users can write to is refused, saying why.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_host::budget::{Budget, Ledger, Scope};
use kiln_host::invocation::{
    AuditError, AuditOptions, InvocationOptions, Limits, TransformOptions, TransformReport,
    run_audit, run_transform,
};
use kiln_host::plugin::manifest;
use kiln_host::plugin::policy::Policy;
use kiln_host::sim::Faults;
use kiln_host::trail::{Filter, Trail};
use kiln_host::{Clay, LoadError, Plugin, Runtime, RuntimeConfig};
use kiln_tests::{
    DemoWorkspace, charged, hostile, http_backend, kiln_bin, repo_root, runtime,
    runtime_with_cache, spender, start_sim, test_http_config,
};

// ---- limits ----

/// What a greedy manifest asks for: a one-day deadline, 1 GiB and 10^12 host calls.
const GREEDY: &str =
    "[limits]\nbatch_ms = 86400000\nmemory_mib = 1024\nhost_calls = 1000000000000\n";

/// The hostile guest carrying a manifest with `limits` (TOML) in it.
fn hostile_asking(limits: &str) -> Vec<u8> {
    let text = format!(
        "name = \"hostile\"\nversion = \"0.1.0\"\nworld = \"transformer\"\n\n\
         [capabilities.tables]\naccess = \"write\"\n\n\
         [config.mode]\n[config.addr]\n[config.table]\n[config.n]\n\n{limits}\n"
    );
    manifest::embed(&std::fs::read(hostile()).unwrap(), &text).unwrap()
}

/// The runtime's own defaults, small so the test is quick: a 2 s deadline, 64 MiB, 1,000
/// host calls.
fn small_defaults() -> Limits {
    Limits {
        deadline: Duration::from_secs(2),
        memory_bytes: 64 << 20,
        max_host_calls: Some(1000),
        ..Limits::default()
    }
}

fn runtime_with(policy: Policy, default_limits: Limits) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: None,
        policy,
        default_limits,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// Runs the hostile guest in `mode` with the plugin's own limits (no override).
async fn run_mode(plugin: &Plugin, ws: &DemoWorkspace, mode: &str) -> TransformReport {
    run_transform(
        plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation: InvocationOptions {
                config: [("mode".to_string(), mode.to_string())].into(),
                trail: Some(Trail::open(&ws.path).unwrap()),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await
    .expect("the run completes and reports the failure")
}

/// How the trail recorded the end of the last invocation of the component `sha256`.
fn last_end(ws: &DemoWorkspace, sha256: &str) -> String {
    Trail::open(&ws.path)
        .unwrap()
        .entries(&Filter {
            plugin_sha256: Some(sha256.to_string()),
            ..Filter::default()
        })
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.call == "invocation.end")
        .expect("the trail recorded the invocation's end")
        .outcome
}

/// Runs `mode`, expects it to end on `limit`, with nothing changed; returns the error.
async fn ends_on(plugin: &Plugin, mode: &str, limit: &str) -> (String, Duration) {
    let ws = DemoWorkspace::new();
    let (_, before) = ws.local.export_rows("Leads").unwrap();
    let started = Instant::now();
    let report = run_mode(plugin, &ws, mode).await;
    let took = started.elapsed();
    let failure = report.failure.clone().expect("the batch fails");
    assert_eq!(failure.limit.as_deref(), Some(limit), "{}", failure.error);
    assert_eq!(report.rows_changed, 0);
    assert_eq!(ws.local.export_rows("Leads").unwrap().1, before);
    assert_eq!(
        last_end(&ws, &plugin.info().sha256),
        format!("limit:{limit}")
    );
    (failure.error, took)
}

#[tokio::test]
async fn without_a_policy_a_manifest_gets_the_defaults_not_what_it_asks_for() {
    let plugin = runtime_with(Policy::default(), small_defaults())
        .load_bytes("hostile", hostile_asking(GREEDY))
        .await
        .unwrap();
    assert_eq!(plugin.manifest().limits.batch_ms, Some(86_400_000));
    let limits = plugin.limits();
    assert_eq!(limits.deadline, Duration::from_secs(2));
    assert_eq!(limits.memory_bytes, 64 << 20);
    assert_eq!(limits.max_host_calls, Some(1000));

    // A spin ends at the default deadline, not a day later.
    let (error, took) = ends_on(&plugin, "loop", "deadline").await;
    assert!(error.contains("deadline of 2000 ms"), "{error}");
    assert!(took < Duration::from_secs(10), "ran {took:?}");
    // Memory and host calls are held at the defaults too.
    let (error, _) = ends_on(&plugin, "alloc", "memory").await;
    assert!(
        error.contains(&format!("limit of {} bytes", 64 << 20)),
        "{error}"
    );
    let (error, _) = ends_on(&plugin, "host-calls", "host-calls").await;
    assert!(error.contains("more than 1000 host calls"), "{error}");

    // A manifest may still ask for less.
    let modest = runtime_with(Policy::default(), small_defaults())
        .load_bytes("hostile", hostile_asking("[limits]\nbatch_ms = 300\n"))
        .await
        .unwrap();
    let (error, _) = ends_on(&modest, "loop", "deadline").await;
    assert!(error.contains("deadline of 300 ms"), "{error}");
}

#[tokio::test]
async fn a_policy_may_raise_the_ceiling_and_the_manifest_then_gets_what_it_asks() {
    // Never past what the engine's pool can give an instance, whatever the policy says.
    let beyond = Policy::parse("[limits]\nmemory_mib = 4096\n", "policy.toml").unwrap();
    let plugin = Runtime::new(RuntimeConfig {
        cache_dir: None,
        policy: beyond,
        max_memory_bytes: 512 << 20,
        ..RuntimeConfig::default()
    })
    .unwrap()
    .load_bytes("hostile", hostile_asking("[limits]\nmemory_mib = 4096\n"))
    .await
    .unwrap();
    assert_eq!(plugin.limits().memory_bytes, 512 << 20);

    // The operator allows everything the greedy manifest asks for.
    let generous = Policy::parse(GREEDY, "policy.toml").unwrap();
    let plugin = runtime_with(generous, small_defaults())
        .load_bytes("hostile", hostile_asking(GREEDY))
        .await
        .unwrap();
    assert_eq!(plugin.limits().deadline, Duration::from_secs(86_400));
    assert_eq!(plugin.limits().memory_bytes, 1 << 30);
    assert_eq!(plugin.limits().max_host_calls, Some(1_000_000_000_000));

    // A ceiling above the default but below the request: the ceiling, enforced.
    let some = Policy::parse("[limits]\nbatch_ms = 3000\n", "policy.toml").unwrap();
    let plugin = runtime_with(some, small_defaults())
        .load_bytes("hostile", hostile_asking(GREEDY))
        .await
        .unwrap();
    assert_eq!(plugin.limits().deadline, Duration::from_secs(3));
    let (error, took) = ends_on(&plugin, "loop", "deadline").await;
    assert!(error.contains("deadline of 3000 ms"), "{error}");
    assert!(took >= Duration::from_millis(2900), "ran only {took:?}");
}

#[test]
fn kiln_inspect_shows_requested_and_effective_limits() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("greedy.wasm");
    std::fs::write(&wasm, hostile_asking(GREEDY)).unwrap();
    let inspect = |json: bool| {
        let mut cmd = Command::new(kiln_bin());
        cmd.env("KILN_CACHE_DIR", dir.path().join("cache"))
            .env("KILN_LOG", "error")
            .env_remove("KILN_POLICY")
            .arg("inspect")
            .arg(&wasm);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = inspect(false);
    assert!(
        text.contains("deadline 30000 ms per call (requested 86400000 ms per call)"),
        "{text}"
    );
    assert!(
        text.contains("memory 256.0 MiB (requested 1024.0 MiB)"),
        "{text}"
    );
    assert!(
        text.contains("host calls 100000 (requested 1000000000000)"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&inspect(true)).unwrap();
    assert_eq!(json["limits"]["requested"]["batch_ms"], 86_400_000);
    assert_eq!(json["limits"]["effective"]["deadline_ms"], 30_000);
    assert_eq!(json["limits"]["effective"]["host_calls"], 100_000);
}

// ---- budgets keyed on the component ----

/// The spender guest under a manifest of its own: `name`, and a description that makes
/// the bytes (and so the SHA-256) differ.
fn spender_as(name: &str, description: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(repo_root().join("tests/guests/spender/kiln.toml"))
        .unwrap()
        .replace("name = \"spender\"", &format!("name = \"{name}\""))
        .replace(
            "description = \"A test guest that spends credits by running an enrichment column.\"",
            &format!("description = \"{description}\""),
        );
    manifest::embed(&std::fs::read(spender()).unwrap(), &text).unwrap()
}

/// Runs the spender: `rows` records of `Company Size` (1 credit each) after `offset`.
async fn spend(
    plugin: &Plugin,
    clay: Arc<dyn Clay>,
    state: &Path,
    offset: usize,
    rows: usize,
) -> Result<String, AuditError> {
    let table = clay.resolve_table("Leads").await.unwrap();
    let options = AuditOptions {
        invocation: InvocationOptions {
            config: [
                ("table_id".to_string(), table.id),
                ("rows".to_string(), rows.to_string()),
                ("offset".to_string(), offset.to_string()),
            ]
            .into(),
            trail: Some(Trail::open(state).unwrap()),
            ledger: Some(Ledger::open(state).unwrap()),
            ..InvocationOptions::default()
        },
        ..AuditOptions::default()
    };
    run_audit(plugin, clay, options)
        .await
        .map(|(_, report)| report.summary)
}

fn exhausted(result: Result<String, AuditError>) -> String {
    match result {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("credit budget exhausted"), "{msg}");
            msg
        }
        Ok(summary) => panic!("the run should have been refused, but it {summary}"),
    }
}

fn plugin_budget(ledger: &Ledger, sha256: &str) -> kiln_host::budget::BudgetStatus {
    ledger
        .budgets(kiln_host::invocation::now_ms())
        .unwrap()
        .into_iter()
        .find(|b| b.budget.scope == Scope::plugin(sha256))
        .unwrap()
}

#[tokio::test]
async fn a_plugin_budget_follows_the_component_not_the_name_it_gives_itself() {
    let ws = DemoWorkspace::new();
    let rt = runtime();
    let real = rt.load_file(&spender()).await.unwrap();
    let impostor = rt
        .load_bytes("spender", spender_as("spender", "not the reviewed one"))
        .await
        .unwrap();
    assert_eq!(impostor.name(), real.name(), "same self-given name");
    let (real_sha, impostor_sha) = (real.info().sha256.clone(), impostor.info().sha256.clone());
    assert_ne!(real_sha, impostor_sha);

    let ledger = Ledger::open(&ws.path).unwrap();
    ledger
        .set_budget_labeled(
            &Budget {
                scope: Scope::plugin(&real_sha),
                credits: 5.0,
                period_days: 1,
            },
            Some("spender"),
        )
        .unwrap();

    // The impostor is neither capped by the real plugin's budget nor spends it.
    assert_eq!(
        spend(&impostor, ws.backend(), &ws.path, 0, 8)
            .await
            .unwrap(),
        "spent 8 credits"
    );
    assert_eq!(plugin_budget(&ledger, &real_sha).remaining, 5.0);

    // The real one spends its own 5, then is refused, before anything is spent.
    assert_eq!(
        spend(&real, ws.backend(), &ws.path, 8, 5).await.unwrap(),
        "spent 5 credits"
    );
    let msg = exhausted(spend(&real, ws.backend(), &ws.path, 13, 1).await);
    assert!(msg.contains("plugin `spender` (sha256 "), "{msg}");
    // Loaded from a file of another name, under another name, it is the same component.
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("innocent-helper.wasm");
    std::fs::copy(spender(), &renamed).unwrap();
    let again = rt.load_file(&renamed).await.unwrap();
    exhausted(spend(&again, ws.backend(), &ws.path, 13, 1).await);
    let status = plugin_budget(&ledger, &real_sha);
    assert_eq!((status.spent, status.reserved), (5.0, 0.0));
    assert_eq!(status.label.as_deref(), Some("spender"));

    // The trail tells the two apart by hash, though they share a name.
    let trail = Trail::open(&ws.path).unwrap();
    let runs = |filter: Filter| {
        trail
            .entries(&filter)
            .unwrap()
            .into_iter()
            .filter(|e| e.call == "tables.run-column" && e.outcome == "ok")
            .count()
    };
    let by_name = runs(Filter {
        plugin: Some("spender".into()),
        ..Filter::default()
    });
    let by_sha = runs(Filter {
        plugin_sha256: Some(real_sha.clone()),
        ..Filter::default()
    });
    assert_eq!((by_name, by_sha), (2, 1));
}

#[test]
fn budget_set_takes_a_component_and_trail_show_filters_by_it() {
    let ws = DemoWorkspace::new();
    let kiln = |args: &[&str]| {
        Command::new(kiln_bin())
            .env_remove("KILN_WORKSPACE")
            .env("KILN_LOG", "error")
            .arg("--workspace")
            .arg(&ws.path)
            .args(args)
            .output()
            .unwrap()
    };
    let wasm = spender();
    let wasm = wasm.to_str().unwrap();
    let out = kiln(&["budget", "set", "--plugin", wasm, "--credits", "9"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("plugin spender (sha256 "), "{said}");
    let out = kiln(&["budget", "show", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sha = shown[0]["name"].as_str().unwrap().to_string();
    assert!(kiln_host::budget::is_sha256(&sha), "{shown}");

    // A bare name is refused: any plugin can call itself that.
    let out = kiln(&["budget", "set", "--plugin", "spender", "--credits", "9"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SHA-256"), "{err}");

    // trail show --plugin <file.wasm> means exactly that component.
    Trail::open(&ws.path)
        .unwrap()
        .record_refused_load("spender", "0000", "an impostor's refusal")
        .unwrap();
    Trail::open(&ws.path)
        .unwrap()
        .record_refused_load("spender", &sha, "the real one's refusal")
        .unwrap();
    let out = kiln(&["trail", "show", "--plugin", wasm, "--json"]);
    assert!(out.status.success());
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["plugin_sha256"], sha.as_str());
    let out = kiln(&["trail", "show", "--plugin", "spender", "--json"]);
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 different components"));
}

// ---- credits over HTTP ----

#[test]
fn a_member_budget_over_http_warns_that_it_does_not_apply() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(kiln_bin())
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("KILN_CONFIG_DIR", home.path().join("config"))
        .env("KILN_LOG", "error")
        .args(["--backend", "http", "--clay-url", "http://127.0.0.1:9"])
        .args([
            "budget",
            "set",
            "--member",
            "maya@northwind.io",
            "--credits",
            "5",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("member budgets are not applied to runs over HTTP"),
        "{err}"
    );
    // It went where HTTP runs keep their ledger, not into some workspace file.
    let state = home.path().join("data/kiln/state.sqlite");
    let budgets = Ledger::open(&state).unwrap().budgets(0).unwrap();
    assert_eq!(budgets.len(), 1);
}

#[tokio::test]
async fn over_http_a_run_whose_answer_omits_what_it_spent_is_charged_its_estimate() {
    let ws = DemoWorkspace::new();
    let sim = start_sim(
        &ws.local,
        Faults {
            omit_run_credits: true,
            ..Faults::default()
        },
    )
    .await;
    let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("state.sqlite");
    let plugin = runtime().load_file(&spender()).await.unwrap();
    let ledger = Ledger::open(&state).unwrap();
    ledger
        .set_budget(&Budget {
            scope: Scope::plugin(&plugin.info().sha256),
            credits: 7.0,
            period_days: 1,
        })
        .unwrap();
    let before = charged(&ws.path);

    // Clay charged 5 and did not say so: kiln commits its estimate of 5, not 0.
    let summary = spend(&plugin, http.clone() as Arc<dyn Clay>, &state, 0, 5)
        .await
        .unwrap();
    assert_eq!(summary, "spent 5 credits", "the guest is told the estimate");
    assert_eq!(charged(&ws.path) - before, 5.0);
    let totals = ledger.totals(0).unwrap();
    assert_eq!((totals.spent, totals.open_reservations), (5.0, 0));
    let entry = Trail::open(&state)
        .unwrap()
        .entries(&Filter::default())
        .unwrap()
        .into_iter()
        .find(|e| e.call == "tables.run-column")
        .unwrap();
    assert_eq!((entry.outcome.as_str(), entry.credits), ("ok", 5.0));

    // So the budget holds: 2 are left, and a 5-credit run is refused before it spends.
    let msg = exhausted(spend(&plugin, http.clone() as Arc<dyn Clay>, &state, 5, 5).await);
    assert!(msg.contains("2 are left"), "{msg}");
    assert_eq!(charged(&ws.path) - before, 5.0);
}

// ---- building is not running ----

/// A crate whose build script records every `CLAY_*`/`KILN_*` variable it sees and whether
/// the user's session file is readable through `HOME`, then fails if it saw a secret.
fn snooping_crate(dir: &Path) -> PathBuf {
    let root = dir.join("snoop");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"snoop\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("rust-toolchain.toml"),
        root.join("rust-toolchain.toml"),
    )
    .unwrap();
    std::fs::write(
        root.join("src/lib.rs"),
        "#[no_mangle]\npub extern \"C\" fn snoop() {}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("build.rs"),
        r#"
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let mut seen = String::new();
    for (k, v) in std::env::vars() {
        if k.starts_with("CLAY_") || k.starts_with("KILN_") {
            seen.push_str(&format!("secret {k}={v}\n"));
        }
    }
    let home = std::env::var("HOME").unwrap_or_default();
    seen.push_str(&format!("home {home}\n"));
    if let Ok(s) = std::fs::read_to_string(format!("{home}/.config/kiln/session")) {
        seen.push_str(&format!("session {s}\n"));
    }
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(format!("{out}/seen.txt"), &seen).unwrap();
    if seen.contains("secret ") || seen.contains("session ") {
        panic!("the build saw:\n{seen}");
    }
}
"#,
    )
    .unwrap();
    root
}

/// What the snooping build script recorded.
fn seen(root: &Path) -> String {
    let build = root.join("target/kiln-plugins/wasm32-wasip2/release/build");
    std::fs::read_dir(&build)
        .unwrap_or_else(|e| panic!("{}: {e}", build.display()))
        .flatten()
        .map(|e| e.path().join("out/seen.txt"))
        .find(|p| p.is_file())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .expect("the build script ran")
}

#[test]
fn a_crate_directory_is_built_only_when_asked_and_never_sees_secrets() {
    let ws = DemoWorkspace::new();
    let dir = tempfile::tempdir().unwrap();
    let root = snooping_crate(dir.path());
    // A HOME holding a Clay session, as the user's does.
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".config/kiln")).unwrap();
    std::fs::write(home.join(".config/kiln/session"), "claysession=s3cr3t").unwrap();
    let real_home = PathBuf::from(std::env::var_os("HOME").unwrap());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".rustup"));
    let kiln = |args: &[&str]| {
        Command::new(kiln_bin())
            .env("HOME", &home)
            .env("CARGO_HOME", &cargo_home)
            .env("RUSTUP_HOME", &rustup_home)
            .env("CLAY_API_KEY", "ck_live_s3cr3t")
            .env("CLAY_SESSION_COOKIE", "claysession=s3cr3t")
            .env("KILN_SIM_PASSWORD", "s3cr3t")
            .env("KILN_WORKSPACE", &ws.path)
            .env("KILN_CACHE_DIR", dir.path().join("cache"))
            .env("KILN_LOG", "error")
            .args(args)
            .output()
            .unwrap()
    };

    // Without --build, a crate directory is refused before anything runs.
    for command in ["run", "inspect", "audit"] {
        let mut args = vec![command, root.to_str().unwrap()];
        if command == "run" {
            args.extend(["--table", "Leads"]);
        }
        let out = kiln(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {err}");
        assert!(err.contains("--build"), "{command}: {err}");
        assert!(err.contains("build scripts"), "{command}: {err}");
    }
    assert!(
        !root.join("target").exists(),
        "nothing was built without --build"
    );

    // An explicit build runs the build script, in a scrubbed environment. (The crate is no
    // plugin, so it is not precompiled: that would refuse it after the build.)
    let out = kiln(&["build", "--no-precompile", root.to_str().unwrap()]);
    let seen = seen(&root);
    assert!(
        out.status.success(),
        "{}\nthe build script saw:\n{seen}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!seen.contains("secret "), "{seen}");
    assert!(!seen.contains("s3cr3t"), "{seen}");
    assert!(!seen.contains("session "), "{seen}");
    assert!(
        !seen.contains(&format!("home {}\n", home.display())),
        "{seen}"
    );
}

// ---- the compiled-code cache ----

#[tokio::test]
async fn a_cache_directory_others_can_write_to_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let cache = parent.path().join("compiled");
    let wasm = hostile();

    // First load: compiled, and stored in a directory kiln makes private.
    let first = runtime_with_cache(&cache).load_file(&wasm).await.unwrap();
    assert_eq!(
        first.code_source(),
        kiln_host::runtime::CodeSource::Compiled
    );
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);

    // Someone opens it up: native code from it is no longer trusted.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = match runtime_with_cache(&cache).load_file(&wasm).await {
        Err(e) => e,
        Ok(_) => panic!("an open cache directory was trusted"),
    };
    assert!(matches!(err, LoadError::UnsafeCache { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("writable by every user"), "{msg}");
    assert!(msg.contains(&cache.display().to_string()), "{msg}");
    assert!(msg.contains("chmod 700"), "{msg}");

    // Group-writable is refused too; private again, it is used.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o770)).unwrap();
    let err = runtime_with_cache(&cache)
        .load_file(&wasm)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("writable by its group"), "{err}");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    let again = runtime_with_cache(&cache).load_file(&wasm).await.unwrap();
    assert_eq!(again.code_source(), kiln_host::runtime::CodeSource::Cache);

    // A tampered-with entry (writable by others) is refused as well.
    for entry in std::fs::read_dir(&cache).unwrap() {
        std::fs::set_permissions(
            entry.unwrap().path(),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
    }
    let err = runtime_with_cache(&cache)
        .load_file(&wasm)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("writable by every user"), "{err}");
}
