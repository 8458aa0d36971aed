//! The sandbox holds: a guest that loops, hoards memory, recurses, panics or floods the host
//! gets a typed error naming what it hit, nothing of its batch is applied, and the same
//! runtime serves the next invocation.

use std::time::Duration;

use kiln_host::invocation::{
    InvocationOptions, Limits, TransformOptions, TransformReport, run_transform,
};
use kiln_host::trail::{Filter, Trail};
use kiln_host::{LoadError, Plugin, Runtime};
use kiln_tests::{DemoWorkspace, hostile, old_contract, runtime, seat_audit};

fn options(mode: &str, limits: Limits) -> TransformOptions {
    TransformOptions {
        invocation: InvocationOptions {
            config: [("mode".to_string(), mode.to_string())].into(),
            limits: Some(limits),
            ..InvocationOptions::default()
        },
        ..TransformOptions::default()
    }
}

fn tight() -> Limits {
    Limits {
        deadline: Duration::from_millis(2000),
        memory_bytes: 64 << 20,
        ..Limits::default()
    }
}

async fn run(plugin: &Plugin, ws: &DemoWorkspace, mode: &str, limits: Limits) -> TransformReport {
    let mut options = options(mode, limits);
    options.invocation.trail = Some(Trail::open(&ws.path).unwrap());
    run_transform(plugin, ws.backend(), "Leads", options)
        .await
        .expect("the run itself completes and reports the failure")
}

/// How the trail recorded the end of the plugin's last invocation.
fn last_end(ws: &DemoWorkspace) -> String {
    let trail = Trail::open(&ws.path).unwrap();
    assert!(trail.verify().unwrap().intact());
    let filter = Filter {
        plugin: Some("hostile".into()),
        ..Filter::default()
    };
    trail
        .entries(&filter)
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.call == "invocation.end")
        .expect("the trail recorded the invocation's end")
        .outcome
}

/// After a failure: the table is as it was, and a normal invocation in the same runtime works.
async fn still_serving(
    rt: &Runtime,
    plugin: &Plugin,
    ws: &DemoWorkspace,
    before: &[kiln_host::backend::model::Row],
) {
    let (_, after) = ws.local.export_rows("Leads").unwrap();
    assert_eq!(before, after.as_slice(), "a failed batch changes nothing");
    let again = rt.load_file(&hostile()).await.unwrap();
    let ok = run(&again, ws, "mark", Limits::default()).await;
    assert!(ok.failure.is_none(), "{:?}", ok.failure);
    assert_eq!(ok.rows_changed, 2000);
    let _ = plugin;
}

async fn fails_with(mode: &str, limits: Limits) -> (String, Option<String>) {
    let ws = DemoWorkspace::new();
    let (_, before) = ws.local.export_rows("Leads").unwrap();
    let credits = ws.credits_spent().await;
    let rt = runtime();
    let plugin = rt.load_file(&hostile()).await.unwrap();
    let report = run(&plugin, &ws, mode, limits).await;
    let failure = report.failure.clone().expect("the batch fails");
    assert_eq!(report.rows_changed, 0);
    assert_eq!(
        ws.credits_spent().await,
        credits,
        "no credits spent or lost"
    );
    let recorded = match &failure.limit {
        Some(limit) => format!("limit:{limit}"),
        None => "trap".to_string(),
    };
    assert_eq!(last_end(&ws), recorded, "the trail recorded what ended it");
    still_serving(&rt, &plugin, &ws, &before).await;
    (failure.error, failure.limit)
}

/// A probe mode: the guest reports what it saw as every row's error; nothing changes.
async fn probe(mode: &str, config: &[(&str, &str)]) -> String {
    let ws = DemoWorkspace::new();
    let (_, before) = ws.local.export_rows("Leads").unwrap();
    let plugin = runtime().load_file(&hostile()).await.unwrap();
    let mut opts = options(mode, Limits::default());
    for (k, v) in config {
        opts.invocation.config.insert(k.to_string(), v.to_string());
    }
    let report = run_transform(&plugin, ws.backend(), "Leads", opts)
        .await
        .unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(ws.local.export_rows("Leads").unwrap().1, before);
    report.errors[0].message.clone()
}

#[tokio::test]
async fn an_infinite_loop_hits_the_deadline() {
    let (error, limit) = fails_with("loop", tight()).await;
    assert_eq!(limit.as_deref(), Some("deadline"), "{error}");
    assert!(error.contains("deadline of 2000 ms"), "{error}");
    assert!(error.contains("`hostile`"), "names the plugin: {error}");
}

#[tokio::test]
async fn unbounded_memory_growth_hits_the_memory_cap() {
    // A generous deadline: on a loaded machine the memory cap must still be what stops it.
    let limits = Limits {
        deadline: Duration::from_secs(30),
        ..tight()
    };
    let (error, limit) = fails_with("alloc", limits).await;
    assert_eq!(limit.as_deref(), Some("memory"), "{error}");
    assert!(error.contains("67108864"), "names the limit: {error}");
}

#[tokio::test]
async fn deep_recursion_overflows_the_stack_cleanly() {
    let (error, limit) = fails_with("recurse", tight()).await;
    assert_eq!(limit.as_deref(), Some("stack"), "{error}");
}

#[tokio::test]
async fn a_panic_is_a_trap_that_quotes_the_message() {
    let (error, limit) = fails_with("panic", tight()).await;
    assert_eq!(limit, None);
    assert!(
        error.contains("hostile plugin panicked on purpose"),
        "{error}"
    );
}

#[tokio::test]
async fn a_flood_of_host_calls_hits_the_host_call_limit() {
    let limits = Limits {
        max_host_calls: Some(10_000),
        ..tight()
    };
    let (error, limit) = fails_with("host-calls", limits).await;
    assert_eq!(limit.as_deref(), Some("host-calls"), "{error}");
    assert!(error.contains("10000"), "{error}");
}

#[tokio::test]
async fn batches_before_a_failure_are_applied_and_the_failing_one_is_not() {
    let ws = DemoWorkspace::new();
    let plugin = runtime().load_file(&hostile()).await.unwrap();
    let mut opts = options("mark-then-panic", tight());
    opts.rows_per_batch = 500;
    let report = run_transform(&plugin, ws.backend(), "Leads", opts)
        .await
        .unwrap();
    let failure = report.failure.expect("batch 1 panics");
    assert_eq!(failure.batch_index, 1);
    assert_eq!(report.rows_changed, 500);
    let (table, rows) = ws.local.export_rows("Leads").unwrap();
    let status = table.field_by_name("Email Status").unwrap().id.clone();
    let marked = rows
        .iter()
        .filter(|r| r.cell(&status).is_some_and(|c| c.value.as_text() == "seen"))
        .count();
    assert_eq!(marked, 500, "exactly the first batch was applied");
    assert!(rows[..500].iter().all(|r| r.cell(&status).is_some()));
}

#[tokio::test]
async fn a_core_module_garbage_and_a_non_plugin_component_are_refused() {
    let rt = runtime();
    let core = rt
        .load_bytes("core", b"\0asm\x01\0\0\0".to_vec())
        .await
        .err()
        .unwrap();
    assert!(matches!(core, LoadError::CoreModule), "{core}");
    assert!(core.to_string().contains("not a component"));

    let garbage = rt
        .load_bytes("junk", b"MZ\x90\0garbage".to_vec())
        .await
        .err()
        .unwrap();
    assert!(matches!(garbage, LoadError::NotWasm { .. }), "{garbage}");

    let empty = rt.load_bytes("empty", Vec::new()).await.err().unwrap();
    assert!(matches!(empty, LoadError::Empty));

    // A valid component that exports nothing: not of either world.
    let nothing = rt
        .load_bytes("nothing", b"\0asm\x0d\0\x01\0".to_vec())
        .await
        .err()
        .unwrap();
    assert!(matches!(nothing, LoadError::NotAPlugin { .. }), "{nothing}");
    assert!(nothing.to_string().contains("`transform`"), "{nothing}");
}

#[tokio::test]
async fn an_auditor_cannot_be_run_as_a_transformer() {
    let ws = DemoWorkspace::new();
    let plugin = runtime().load_file(&seat_audit()).await.unwrap();
    let err = run_transform(&plugin, ws.backend(), "Leads", TransformOptions::default())
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("is a clay:api/auditor plugin, not a clay:api/transformer"),
        "{err}"
    );
}

#[tokio::test]
async fn a_transformer_cannot_write_through_the_api() {
    // Transformers get read access to tables; writes happen only through declared effects.
    let ws = DemoWorkspace::new();
    let plugin = runtime().load_file(&hostile()).await.unwrap();
    let report = run(&plugin, &ws, "write", Limits::default()).await;
    assert_eq!(report.rows_failed, 2000);
    let said = &report.errors[0].message;
    assert!(said.contains("Denied"), "{said}");
    assert!(
        said.contains("tables.delete-all-rows"),
        "names the call: {said}"
    );
    assert_eq!(
        ws.local.export_rows("Leads").unwrap().1.len(),
        2000,
        "nothing was deleted"
    );
}

#[tokio::test]
async fn unreachable_is_a_trap_that_names_it() {
    let (error, limit) = fails_with("unreachable", tight()).await;
    assert_eq!(limit, None);
    assert!(error.contains("unreachable"), "{error}");
}

#[tokio::test]
async fn millions_of_outcomes_hit_the_output_limit_before_they_are_decoded() {
    let limits = Limits {
        memory_bytes: 512 << 20,
        deadline: Duration::from_secs(20),
        output_bytes: 16 << 20,
        ..Limits::default()
    };
    let (error, limit) = fails_with("huge-output", limits).await;
    assert_eq!(limit.as_deref(), Some("output-bytes"), "{error}");
    assert!(error.contains("16777216 bytes"), "{error}");
}

#[tokio::test]
async fn more_outcomes_than_rows_hit_the_effects_limit() {
    let (error, limit) = fails_with("extra-outcomes", tight()).await;
    assert_eq!(limit.as_deref(), Some("effects"), "{error}");
    assert!(
        error.contains("more outcomes than the 1024 rows of its batch"),
        "{error}"
    );
}

#[tokio::test]
async fn stdout_spam_hits_the_log_volume_limit() {
    let limits = Limits {
        log_bytes: 64 << 10,
        ..tight()
    };
    let (error, limit) = fails_with("print-spam", limits).await;
    assert_eq!(limit.as_deref(), Some("log-volume"), "{error}");
    assert!(error.contains("65536"), "{error}");
}

#[tokio::test]
async fn log_interface_spam_hits_the_same_log_volume_limit() {
    let limits = Limits {
        log_bytes: 64 << 10,
        ..tight()
    };
    let (error, limit) = fails_with("log-spam", limits).await;
    assert_eq!(limit.as_deref(), Some("log-volume"), "{error}");
}

#[tokio::test]
async fn a_guest_sees_no_files() {
    let said = probe("files", &[]).await;
    assert_eq!(
        said.matches("Err(").count(),
        4,
        "every probe failed: {said}"
    );
    assert!(!said.contains("root:"), "{said}");
}

#[tokio::test]
async fn a_guest_sees_no_environment_and_no_arguments() {
    // The host's own environment is full of variables; none may reach the guest.
    let said = probe("env", &[]).await;
    assert_eq!(said, "env=[] args=[]");
}

#[tokio::test]
async fn a_guest_cannot_open_a_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let said = probe("socket", &[("addr", &addr)]).await;
    assert!(said.starts_with("refused"), "{said}");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing connected to the listener"
    );
}

#[tokio::test]
async fn with_fuel_on_a_loop_runs_out_of_fuel_deterministically() {
    let ws = DemoWorkspace::new();
    let rt = Runtime::new(kiln_host::RuntimeConfig {
        cache_dir: None,
        fuel: true,
        ..kiln_host::RuntimeConfig::default()
    })
    .unwrap();
    let plugin = rt.load_file(&hostile()).await.unwrap();
    let limits = Limits {
        fuel: Some(50_000_000),
        deadline: Duration::from_secs(60),
        ..Limits::default()
    };
    let report = run(&plugin, &ws, "loop", limits.clone()).await;
    let failure = report.failure.expect("out of fuel");
    assert_eq!(failure.limit.as_deref(), Some("fuel"), "{}", failure.error);
    assert!(failure.error.contains("50000000"), "{}", failure.error);
    // Fuel counts work, not time: a run within it completes the same way each time.
    let ok = run(&plugin, &ws, "ok", limits).await;
    assert!(ok.failure.is_none(), "{:?}", ok.failure);
}

#[tokio::test]
async fn a_plugin_built_for_the_old_contract_is_refused_naming_both_versions() {
    let err = runtime()
        .load_file(&old_contract())
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(matches!(err, LoadError::ContractVersion { .. }), "{text}");
    assert!(text.contains("built for clay:api 0.1.0"), "{text}");
    assert!(text.contains("implements clay:api 0.2.0"), "{text}");
    assert!(text.contains("kiln build"), "says what to do: {text}");
}
