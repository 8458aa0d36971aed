//! The audit trail with real components: every host call a guest makes (denied ones too)
//! and how each invocation ended are recorded, `kiln trail show` lists them, and
//! `kiln trail verify` names an entry edited behind kiln's back.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use kiln_host::capabilities::{Access, Grants, Interface};
use kiln_host::invocation::{
    AuditOptions, AuditScope, AuditorInstance, InvocationOptions, Limits, TransformOptions,
    run_audit, run_transform,
};
use kiln_host::trail::{BreakKind, Entry, Filter, Trail};
use kiln_tests::{DemoWorkspace, NOW, hostile, integration_ownership, kiln_bin, runtime, spender};

fn kiln(ws: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(kiln_bin())
        .env_remove("KILN_WORKSPACE")
        .env("KILN_CACHE_DIR", cache)
        .env("KILN_LOG", "error")
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kiln failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn with_trail(ws: &DemoWorkspace) -> InvocationOptions {
    InvocationOptions {
        trail: Some(Trail::open(&ws.path).unwrap()),
        ..InvocationOptions::default()
    }
}

fn entries_of(ws: &DemoWorkspace, plugin: &str) -> Vec<Entry> {
    Trail::open(&ws.path)
        .unwrap()
        .entries(&Filter {
            plugin: Some(plugin.into()),
            ..Filter::default()
        })
        .unwrap()
}

#[tokio::test]
async fn every_host_call_of_an_audit_is_recorded_in_order() {
    let ws = DemoWorkspace::new();
    let rt = runtime();
    let plugin = rt.load_file(&integration_ownership()).await.unwrap();
    let mut instance = AuditorInstance::new(&plugin, ws.backend(), with_trail(&ws))
        .await
        .unwrap();
    let scope = AuditScope {
        workspace_id: 1,
        period: kiln_host::backend::model::TimeRange {
            start: NOW - 90 * 86_400_000,
            end: NOW,
        },
        now: NOW,
    };
    instance.audit(&scope).await.unwrap();
    let host_calls = instance.host_calls();
    let id = instance.invocation_id().to_string();
    drop(instance);

    let entries = entries_of(&ws, "integration-ownership");
    assert!(
        host_calls > 5,
        "integration-ownership makes many calls ({host_calls})"
    );
    assert_eq!(
        entries.len() as u64,
        host_calls + 2,
        "start, every call, end"
    );
    assert_eq!(entries[0].call, "invocation.start");
    let last = entries.last().unwrap();
    assert_eq!(
        (last.call.as_str(), last.outcome.as_str()),
        ("invocation.end", "ok")
    );
    for e in &entries {
        assert_eq!(e.invocation_id, id);
        assert_eq!(e.plugin_sha256, plugin.info().sha256);
    }
    let calls: Vec<&str> = entries.iter().map(|e| e.call.as_str()).collect();
    assert!(calls.contains(&"credits.permissions"), "{calls:?}");
    assert!(calls.contains(&"credits.integrations"), "{calls:?}");
    let permissions = entries
        .iter()
        .find(|e| e.call == "credits.permissions")
        .unwrap();
    assert_eq!(permissions.targets, ["workspace:1"]);
    assert_eq!(permissions.outcome, "ok");
    assert!(Trail::open(&ws.path).unwrap().verify().unwrap().intact());
}

#[tokio::test]
async fn a_denied_call_is_recorded_with_what_it_named() {
    let ws = DemoWorkspace::new();
    let table = ws.local.export_rows("Leads").unwrap().0;
    let rt = runtime();
    let plugin = rt.load_file(&spender()).await.unwrap();
    // Granted read access only (its manifest asks for write): running a column is a write.
    let mut options = with_trail(&ws);
    options.grants = Some(Grants::new().with(Interface::Tables, Access::Read));
    options.config = [("table_id".to_string(), table.id.clone())].into();
    let err = run_audit(
        &plugin,
        ws.backend(),
        AuditOptions {
            invocation: options,
            ..AuditOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("denied"), "{err}");
    let entries = entries_of(&ws, "spender");
    let denied = entries
        .iter()
        .find(|e| e.call == "tables.run-column")
        .expect("the denied call is in the trail");
    assert_eq!(denied.outcome, "error:denied");
    assert!(denied.message.as_deref().unwrap().contains("write access"));
    assert_eq!(denied.targets[0], table.id);
    assert_eq!(
        denied.targets[1],
        table.field_by_name("Company Size").unwrap().id
    );
    assert_eq!(denied.credits, 0.0);
    assert_eq!(entries.last().unwrap().outcome, "error:denied");
}

#[tokio::test]
async fn a_limit_that_ends_an_invocation_is_recorded() {
    let ws = DemoWorkspace::new();
    let rt = runtime();
    let plugin = rt.load_file(&hostile()).await.unwrap();
    let mut invocation = with_trail(&ws);
    invocation.config = [("mode".to_string(), "loop".to_string())].into();
    invocation.limits = Some(Limits {
        deadline: Duration::from_millis(300),
        ..Limits::default()
    });
    let report = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation,
            ..TransformOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.failure.unwrap().limit.as_deref(), Some("deadline"));
    let entries = entries_of(&ws, "hostile");
    let end = entries.last().unwrap();
    assert_eq!(end.call, "invocation.end");
    assert_eq!(end.outcome, "limit:deadline");
    assert!(end.message.as_deref().unwrap().contains("deadline"));
    // The guest read its config before looping: that call is there too.
    assert!(
        entries
            .iter()
            .any(|e| e.call == "config.get" && e.targets == ["mode"])
    );
}

#[tokio::test]
async fn a_flood_of_host_calls_is_recorded_with_its_limit() {
    let ws = DemoWorkspace::new();
    let rt = runtime();
    let plugin = rt.load_file(&hostile()).await.unwrap();
    let mut invocation = with_trail(&ws);
    invocation.config = [("mode".to_string(), "host-calls".to_string())].into();
    invocation.limits = Some(Limits {
        max_host_calls: Some(1000),
        ..Limits::default()
    });
    let report = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation,
            ..TransformOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.failure.unwrap().limit.as_deref(), Some("host-calls"));
    let entries = entries_of(&ws, "hostile");
    // start + 1000 admitted calls + the refused one + end
    assert_eq!(entries.len(), 1003);
    let refused = &entries[entries.len() - 2];
    assert_eq!(refused.outcome, "limit:host-calls");
    assert_eq!(entries.last().unwrap().outcome, "limit:host-calls");
    assert!(Trail::open(&ws.path).unwrap().verify().unwrap().intact());
}

#[test]
fn cli_runs_are_in_trail_show_and_an_edit_fails_verify() {
    let ws = DemoWorkspace::new();
    let cache = tempfile::tempdir().unwrap();
    ok(kiln(
        &ws.path,
        cache.path(),
        &["audit", "seat-audit", "--json"],
    ));
    ok(kiln(
        &ws.path,
        cache.path(),
        &["run", "normalize-contacts", "--table", "Leads", "--json"],
    ));

    let shown = ok(kiln(&ws.path, cache.path(), &["trail", "show", "--json"]));
    let entries: Vec<serde_json::Value> = serde_json::from_str(&shown).unwrap();
    let of = |plugin: &str| -> Vec<&serde_json::Value> {
        entries.iter().filter(|e| e["plugin"] == plugin).collect()
    };
    let audit = of("seat-audit");
    assert!(audit.len() > 5);
    assert_eq!(audit[0]["call"], "invocation.start");
    assert!(audit.iter().any(|e| e["call"] == "credits.member-usage"));
    assert_eq!(audit.last().unwrap()["call"], "invocation.end");
    let run = of("normalize-contacts");
    assert!(run.iter().any(|e| e["call"] == "config.all"), "{run:?}");
    assert_eq!(run.last().unwrap()["outcome"], "ok");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    }

    // Filters.
    let only = ok(kiln(
        &ws.path,
        cache.path(),
        &[
            "trail",
            "show",
            "--json",
            "--plugin",
            "normalize-contacts",
            "--since",
            "1h",
        ],
    ));
    let only: Vec<serde_json::Value> = serde_json::from_str(&only).unwrap();
    assert_eq!(only.len(), run.len());
    let future = ok(kiln(
        &ws.path,
        cache.path(),
        &["trail", "show", "--json", "--since", "2999-01-01T00:00:00Z"],
    ));
    assert_eq!(future.trim(), "[]");
    let table = ok(kiln(
        &ws.path,
        cache.path(),
        &["trail", "show", "--limit", "3"],
    ));
    assert!(table.contains("invocation.end"), "{table}");

    let verified = ok(kiln(&ws.path, cache.path(), &["trail", "verify"]));
    assert!(verified.contains("intact"), "{verified}");

    // Someone quietly turns a recorded call into something else.
    let conn = rusqlite::Connection::open(&ws.path).unwrap();
    conn.execute(
        "UPDATE kiln_trail SET call = 'credits.permissions' WHERE seq = 3",
        [],
    )
    .unwrap();
    let out = kiln(&ws.path, cache.path(), &["trail", "verify"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry #3") && err.contains("edited"), "{err}");

    // JSON says the same.
    let out = kiln(&ws.path, cache.path(), &["trail", "verify", "--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["broken"]["seq"], 3);
    assert_eq!(v["broken"]["kind"], "edited");

    // The library agrees.
    let trail = Trail::open(&ws.path).unwrap();
    assert_eq!(
        trail.verify().unwrap().broken.unwrap().kind,
        BreakKind::Edited
    );
}

#[test]
fn trail_commands_need_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.sqlite");
    let out = kiln(&missing, dir.path(), &["trail", "show"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no kiln workspace"));
    assert!(!missing.exists(), "nothing is created by looking");
    let out = kiln(
        &missing,
        dir.path(),
        &["trail", "show", "--since", "yesterday-ish"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("duration like 2h"));
}

#[test]
fn a_plugin_refused_at_load_is_recorded() {
    let ws = DemoWorkspace::new();
    let garbage = ws.dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").unwrap();
    let out = kiln(
        &ws.path,
        ws.dir.path(),
        &["audit", garbage.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let shown = ok(kiln(&ws.path, ws.dir.path(), &["trail", "show", "--json"]));
    let entries: Vec<serde_json::Value> = serde_json::from_str(&shown).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["plugin"], "garbage");
    assert_eq!(entries[0]["call"], "plugin.load");
    assert_eq!(entries[0]["outcome"], "error:refused");
    assert!(
        entries[0]["message"]
            .as_str()
            .unwrap()
            .contains("not WebAssembly")
    );
    assert_eq!(entries[0]["plugin_sha256"].as_str().unwrap().len(), 64);
}

/// Runs hostile `mark` (sets `Email Status` on every row) over Leads, in batches of 10.
async fn mark_leads(ws: &DemoWorkspace, dry_run: bool) -> Result<(String, u64), String> {
    let rt = runtime();
    let plugin = rt.load_file(&hostile()).await.unwrap();
    let mut invocation = with_trail(ws);
    invocation.config = [("mode".to_string(), "mark".to_string())].into();
    run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation,
            dry_run,
            rows_per_batch: 10,
            ..TransformOptions::default()
        },
    )
    .await
    .map(|r| (r.table_id, r.rows_changed))
    .map_err(|e| e.to_string())
}

/// `rows-set:N` and the like among an entry's targets.
fn count(e: &Entry, key: &str) -> u64 {
    e.targets
        .iter()
        .find_map(|t| t.strip_prefix(key)?.strip_prefix(':')?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {:?}", e.targets))
}

#[tokio::test]
async fn applied_effects_are_in_the_trail_and_a_failed_apply_ends_in_error() {
    let ws = DemoWorkspace::new();
    // A dry run applies nothing, so it records nothing applied.
    mark_leads(&ws, true).await.unwrap();
    assert!(
        !entries_of(&ws, "hostile")
            .iter()
            .any(|e| e.call == "effects.apply")
    );

    let (table_id, changed) = mark_leads(&ws, false).await.unwrap();
    assert!(changed > 10, "Leads spans several batches ({changed} rows)");
    let entries = entries_of(&ws, "hostile");
    let applied: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.call == "effects.apply")
        .collect();
    assert_eq!(applied.len() as u64, changed.div_ceil(10), "one per batch");
    assert_eq!(
        applied.iter().map(|e| count(e, "rows-set")).sum::<u64>(),
        changed
    );
    assert_eq!(
        applied
            .iter()
            .map(|e| count(e, "rows-deleted"))
            .sum::<u64>(),
        0
    );
    for e in &applied {
        assert_eq!(e.outcome, "ok");
        assert_eq!(e.targets[0], table_id);
        assert!(e.targets.len() <= 6, "no row ids listed: {:?}", e.targets);
        let digest = e
            .targets
            .iter()
            .find_map(|t| t.strip_prefix("sha256:"))
            .unwrap();
        assert!(digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    let invocation = applied[0].invocation_id.clone();
    assert_eq!(entries.last().unwrap().outcome, "ok");

    // `trail show --invocation` shows what that run changed.
    let cache = tempfile::tempdir().unwrap();
    let shown = ok(kiln(
        &ws.path,
        cache.path(),
        &["trail", "show", "--invocation", &invocation],
    ));
    assert_eq!(
        shown.matches("effects.apply").count(),
        applied.len(),
        "{shown}"
    );
    assert!(
        shown.contains("rows-set:10") && shown.contains("sha256:"),
        "{shown}"
    );

    // The backend refuses the write: the batch's entry and the invocation both end in error.
    // (A fresh workspace: in this one every row is marked already.)
    let ws = DemoWorkspace::new();
    let conn = rusqlite::Connection::open(&ws.path).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse_updates BEFORE UPDATE ON records
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
    let before = ws.local.export_rows("Leads").unwrap().1;
    let err = mark_leads(&ws, false).await.unwrap_err();
    assert!(err.contains("refused by the test"), "{err}");
    assert_eq!(
        ws.local.export_rows("Leads").unwrap().1,
        before,
        "nothing changed"
    );
    let entries = entries_of(&ws, "hostile");
    let last_run: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.invocation_id == entries.last().unwrap().invocation_id)
        .collect();
    let failed: Vec<&&Entry> = last_run
        .iter()
        .filter(|e| e.call == "effects.apply")
        .collect();
    assert_eq!(failed.len(), 1, "the run stops at the batch that failed");
    assert_eq!(failed[0].outcome, "error:unavailable");
    assert_eq!(count(failed[0], "rows-set"), 10, "what it tried to apply");
    let end = last_run.last().unwrap();
    assert_eq!(
        (end.call.as_str(), end.outcome.as_str()),
        ("invocation.end", "error:unavailable")
    );
    assert!(
        end.message
            .as_deref()
            .unwrap()
            .contains("refused by the test")
    );
    assert!(Trail::open(&ws.path).unwrap().verify().unwrap().intact());
}

/// A plugin that cannot read the table itself (normalize-contacts imports no `tables`) has
/// each batch's write run on while it works on the next. The writes still land in batch
/// order, each in the trail, and a refused write ends the run with nothing of it applied.
#[tokio::test]
async fn overlapped_writes_land_in_order_and_a_refused_one_ends_the_run() {
    let run = |ws: &DemoWorkspace| {
        let invocation = with_trail(ws);
        let backend = ws.backend();
        async move {
            let plugin = runtime()
                .load_file(&kiln_tests::normalize_contacts())
                .await
                .unwrap();
            assert!(
                !plugin.info().imports.iter().any(|i| i.contains("tables")),
                "the overlapped path needs a plugin without the tables interface"
            );
            run_transform(
                &plugin,
                backend,
                "Leads",
                TransformOptions {
                    invocation,
                    rows_per_batch: 250,
                    ..TransformOptions::default()
                },
            )
            .await
            .map_err(|e| e.to_string())
        }
    };

    let ws = DemoWorkspace::new();
    let report = run(&ws).await.unwrap();
    assert_eq!(
        report.rows_changed, report.rows_seen,
        "every demo lead changes"
    );
    let after = ws.local.export_rows("Leads").unwrap().1;
    for change in &report.changes {
        let row = after.iter().find(|r| r.id == change.row_id).unwrap();
        for c in &change.cells {
            let held = row.cell(&c.field_id).map(|h| &h.value);
            assert!(
                held.map_or(c.after.is_null(), |v| *v == c.after),
                "{} {}: {held:?} is not {:?}",
                row.id,
                c.field,
                c.after
            );
        }
    }
    let applied: Vec<Entry> = entries_of(&ws, "normalize-contacts")
        .into_iter()
        .filter(|e| e.call == "effects.apply")
        .collect();
    let batches: Vec<String> = applied.iter().map(|e| e.targets[1].clone()).collect();
    let expected: Vec<String> = (0..report.batches).map(|i| format!("batch:{i}")).collect();
    assert_eq!(batches, expected, "one entry per batch, in order");
    assert!(applied.iter().all(|e| e.outcome == "ok"));

    let ws = DemoWorkspace::new();
    rusqlite::Connection::open(&ws.path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_updates BEFORE UPDATE ON records
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
    let before = ws.local.export_rows("Leads").unwrap().1;
    let err = run(&ws).await.unwrap_err();
    assert!(err.contains("refused by the test"), "{err}");
    assert_eq!(
        ws.local.export_rows("Leads").unwrap().1,
        before,
        "nothing changed"
    );
    let entries = entries_of(&ws, "normalize-contacts");
    let failed: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.call == "effects.apply")
        .collect();
    assert_eq!(failed.len(), 1, "no write starts after one failed");
    assert_eq!(failed[0].outcome, "error:unavailable");
    assert_eq!(
        entries
            .last()
            .map(|e| (e.call.as_str(), e.outcome.as_str())),
        Some(("invocation.end", "error:unavailable"))
    );
    assert!(Trail::open(&ws.path).unwrap().verify().unwrap().intact());
}
