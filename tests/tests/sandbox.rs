//! The sandbox holds: a guest that loops, hoards memory, recurses, panics or floods the host
//! gets a typed error naming what it hit, nothing of its batch is applied, and the same
//! runtime serves the next invocation.

use std::time::Duration;

use kiln_host::invocation::{
    InvocationOptions, Limits, TransformOptions, TransformReport, run_transform,
};
use kiln_host::{LoadError, Plugin, Runtime};
use kiln_tests::{DemoWorkspace, hostile, runtime, seat_audit};

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
        deadline: Duration::from_millis(500),
        memory_bytes: 64 << 20,
        ..Limits::default()
    }
}

async fn run(plugin: &Plugin, ws: &DemoWorkspace, mode: &str, limits: Limits) -> TransformReport {
    run_transform(plugin, ws.backend(), "Leads", options(mode, limits))
        .await
        .expect("the run itself completes and reports the failure")
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

async fn fails_with(mode: &str, limits: Limits) -> (String, Option<&'static str>) {
    let ws = DemoWorkspace::new();
    let (_, before) = ws.local.export_rows("Leads").unwrap();
    let rt = runtime();
    let plugin = rt.load_file(&hostile()).await.unwrap();
    let report = run(&plugin, &ws, mode, limits).await;
    let failure = report.failure.clone().expect("the batch fails");
    assert_eq!(report.rows_changed, 0);
    still_serving(&rt, &plugin, &ws, &before).await;
    (failure.error, failure.limit)
}

#[tokio::test]
async fn an_infinite_loop_hits_the_deadline() {
    let (error, limit) = fails_with("loop", tight()).await;
    assert_eq!(limit, Some("deadline"), "{error}");
    assert!(error.contains("deadline of 500 ms"), "{error}");
    assert!(error.contains("`hostile`"), "names the plugin: {error}");
}

#[tokio::test]
async fn unbounded_memory_growth_hits_the_memory_cap() {
    let (error, limit) = fails_with("alloc", tight()).await;
    assert_eq!(limit, Some("memory"), "{error}");
    assert!(error.contains("67108864"), "names the limit: {error}");
}

#[tokio::test]
async fn deep_recursion_overflows_the_stack_cleanly() {
    let (error, limit) = fails_with("recurse", tight()).await;
    assert_eq!(limit, Some("stack"), "{error}");
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
    assert_eq!(limit, Some("host-calls"), "{error}");
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
