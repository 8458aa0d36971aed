//! Credit budgets with a real guest spending real (local) credits: a call past a budget gets
//! `budget-exhausted` before anything is spent, the ledger keeps nothing reserved, and the
//! trail records the refusal.

use std::process::Command;

use kiln_host::Plugin;
use kiln_host::budget::{Budget, Ledger, Scope};
use kiln_host::invocation::{AuditError, AuditOptions, InvocationOptions, run_audit};
use kiln_host::trail::{Filter, Trail};
use kiln_tests::{DemoWorkspace, charged, kiln_bin, runtime, spender};

/// Runs the spender (`rows` records per call of `Company Size`, 1 credit a row, `calls`
/// times) with write access to tables, the ledger and trail in the workspace file.
async fn spend(
    ws: &DemoWorkspace,
    rows: usize,
    calls: usize,
    credit_budget: Option<f64>,
) -> Result<String, AuditError> {
    spend_from(ws, 0, rows, calls, credit_budget).await
}

/// [`spend`] on the records after the first `offset` (already enriched rows cost nothing).
async fn spend_from(
    ws: &DemoWorkspace,
    offset: usize,
    rows: usize,
    calls: usize,
    credit_budget: Option<f64>,
) -> Result<String, AuditError> {
    let rt = runtime();
    let plugin = rt.load_file(&spender()).await.unwrap();
    spend_with(&plugin, ws, offset, rows, calls, credit_budget).await
}

async fn spend_with(
    plugin: &Plugin,
    ws: &DemoWorkspace,
    offset: usize,
    rows: usize,
    calls: usize,
    credit_budget: Option<f64>,
) -> Result<String, AuditError> {
    let table = ws.backend().resolve_table("Leads").await.unwrap();
    let options = AuditOptions {
        invocation: InvocationOptions {
            config: [
                ("table_id".to_string(), table.id),
                ("rows".to_string(), rows.to_string()),
                ("calls".to_string(), calls.to_string()),
                ("offset".to_string(), offset.to_string()),
            ]
            .into(),
            trail: Some(Trail::open(&ws.path).unwrap()),
            ledger: Some(Ledger::open(&ws.path).unwrap()),
            member: Some("maya@northwind.io".into()),
            credit_budget,
            ..InvocationOptions::default()
        },
        ..AuditOptions::default()
    };
    run_audit(plugin, ws.backend(), options)
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
        Ok(summary) => panic!("the guest should have been refused, but it {summary}"),
    }
}

#[tokio::test]
async fn spending_past_the_per_run_budget_is_refused_before_anything_is_spent() {
    let ws = DemoWorkspace::new();
    let before = charged(&ws.path);
    // Three calls of 5 credits against 12: the third would exceed it.
    let msg = exhausted(spend(&ws, 5, 3, Some(12.0)).await);
    assert!(msg.contains("per-run budget of 12 credits"), "{msg}");
    assert!(msg.contains("2 are left"), "{msg}");

    // Exactly the two admitted calls were charged, nothing of the third.
    assert_eq!(charged(&ws.path) - before, 10.0);
    let ledger = Ledger::open(&ws.path).unwrap();
    let totals = ledger.totals(0).unwrap();
    assert_eq!(totals.spent, 10.0);
    assert_eq!(totals.reserved, 0.0);
    assert_eq!(totals.open_reservations, 0);
    assert_eq!(totals.calls, 2);

    // The third call's records were not enriched.
    let (info, rows) = ws.local.export_rows("Leads").unwrap();
    let size = info.field_by_name("Company Size").unwrap().id.clone();
    let filled: Vec<bool> = rows[..15]
        .iter()
        .map(|r| r.cell(&size).is_some_and(|c| !c.value.is_null()))
        .collect();
    assert!(filled[..10].iter().all(|f| *f), "{filled:?}");
    assert!(filled[10..].iter().all(|f| !*f), "{filled:?}");

    // The trail has both spends and the refusal, and how the invocation ended.
    let entries = Trail::open(&ws.path)
        .unwrap()
        .entries(&Filter {
            plugin: Some("spender".into()),
            ..Filter::default()
        })
        .unwrap();
    let runs: Vec<(&str, f64)> = entries
        .iter()
        .filter(|e| e.call == "tables.run-column")
        .map(|e| (e.outcome.as_str(), e.credits))
        .collect();
    assert_eq!(
        runs,
        [("ok", 5.0), ("ok", 5.0), ("error:budget-exhausted", 0.0)]
    );
    let denied = entries
        .iter()
        .find(|e| e.outcome == "error:budget-exhausted" && e.call == "tables.run-column")
        .unwrap();
    assert!(denied.targets.contains(&info.id), "{:?}", denied.targets);
    assert!(denied.targets.contains(&size), "{:?}", denied.targets);
    assert_eq!(
        denied.targets.len(),
        2 + 5,
        "table, field and the 5 records"
    );
    let end = entries.last().unwrap();
    assert_eq!(
        (end.call.as_str(), end.outcome.as_str()),
        ("invocation.end", "error:budget-exhausted")
    );
    assert!(Trail::open(&ws.path).unwrap().verify().unwrap().intact());
}

#[tokio::test]
async fn a_zero_budget_forbids_any_spending() {
    let ws = DemoWorkspace::new();
    let before = charged(&ws.path);
    exhausted(spend(&ws, 1, 1, Some(0.0)).await);
    assert_eq!(charged(&ws.path), before);
    let totals = Ledger::open(&ws.path).unwrap().totals(0).unwrap();
    assert_eq!((totals.spent, totals.open_reservations), (0.0, 0));
}

#[tokio::test]
async fn a_member_budget_holds_across_runs_and_a_plugin_budget_across_members() {
    let ws = DemoWorkspace::new();
    let ledger = Ledger::open(&ws.path).unwrap();
    ledger
        .set_budget(&Budget {
            scope: Scope::member("Maya@Northwind.io"),
            credits: 7.0,
            period_days: 30,
        })
        .unwrap();
    let before = charged(&ws.path);
    let summary = spend(&ws, 5, 1, None).await.unwrap();
    assert_eq!(summary, "spent 5 credits");
    // The second run may not take the 5 it would need: 2 are left for the period.
    let msg = exhausted(spend_from(&ws, 5, 5, 1, None).await);
    assert!(msg.contains("member `maya@northwind.io`"), "{msg}");
    assert_eq!(charged(&ws.path) - before, 5.0);
    let status = &ledger.budgets(kiln_host::invocation::now_ms()).unwrap()[0];
    assert_eq!(
        (status.spent, status.reserved, status.remaining),
        (5.0, 0.0, 2.0)
    );

    // Within what is left, it still runs.
    assert_eq!(
        spend_from(&ws, 5, 2, 1, None).await.unwrap(),
        "spent 2 credits"
    );
    ledger
        .remove_budget(&Scope::member("maya@northwind.io"))
        .unwrap();
    // Plugin budgets key on the component's hash.
    let sha = runtime()
        .load_file(&spender())
        .await
        .unwrap()
        .info()
        .sha256
        .clone();
    ledger
        .set_budget(&Budget {
            scope: Scope::plugin(&sha),
            credits: 3.0,
            period_days: 1,
        })
        .unwrap();
    // The plugin has spent 7 today already.
    let msg = exhausted(spend_from(&ws, 7, 1, 1, None).await);
    assert!(msg.contains("plugin `spender`"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_never_overspend_a_shared_budget() {
    let ws = std::sync::Arc::new(DemoWorkspace::new());
    Ledger::open(&ws.path)
        .unwrap()
        .set_budget(&Budget {
            scope: Scope::member("maya@northwind.io"),
            credits: 20.0,
            period_days: 30,
        })
        .unwrap();
    let before = charged(&ws.path);
    let rt = runtime();
    let plugin = rt.load_file(&spender()).await.unwrap();
    // Ten runs of 5 credits each, on disjoint rows, all at once, against 20 credits.
    let runs: Vec<_> = (0..10)
        .map(|i| {
            let (ws, plugin) = (ws.clone(), plugin.clone());
            tokio::spawn(async move { spend_with(&plugin, &ws, i * 5, 5, 1, None).await })
        })
        .collect();
    let mut admitted = 0;
    for run in runs {
        match run.await.unwrap() {
            Ok(summary) => {
                assert_eq!(summary, "spent 5 credits");
                admitted += 1;
            }
            Err(e) => assert!(e.to_string().contains("credit budget exhausted"), "{e}"),
        }
    }
    assert_eq!(admitted, 4);
    assert_eq!(charged(&ws.path) - before, 20.0);
    let totals = Ledger::open(&ws.path).unwrap().totals(0).unwrap();
    assert_eq!((totals.spent, totals.open_reservations), (20.0, 0));
    assert!(Trail::open(&ws.path).unwrap().verify().unwrap().intact());
}

#[tokio::test]
async fn without_a_budget_spending_is_recorded_but_not_capped() {
    let ws = DemoWorkspace::new();
    assert_eq!(spend(&ws, 5, 2, None).await.unwrap(), "spent 10 credits");
    let totals = Ledger::open(&ws.path).unwrap().totals(0).unwrap();
    assert_eq!(
        (totals.spent, totals.calls, totals.open_reservations),
        (10.0, 2, 0)
    );
}

#[test]
fn budget_set_and_show_on_the_command_line() {
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
    let out = kiln(&["budget", "show"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no budgets"));

    let wasm = spender();
    for args in [
        &[
            "budget",
            "set",
            "--member",
            "jonas@northwind.io",
            "--credits",
            "500",
        ][..],
        &[
            "budget",
            "set",
            "--plugin",
            wasm.to_str().unwrap(),
            "--credits",
            "20",
            "--period-days",
            "7",
        ],
        &["budget", "set", "--pool", "--credits", "2000"],
    ] {
        let out = kiln(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = kiln(&["budget", "show", "--json"]);
    assert!(out.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), 3);
    // The pool's budget caps everything spent through kiln here.
    assert_eq!(shown[2]["scope"], "pool", "{}", shown[2]);
    assert_eq!(shown[2]["remaining"], 2000.0);
    assert_eq!(shown[0]["scope"], "member");
    assert_eq!(shown[0]["name"], "jonas@northwind.io");
    assert_eq!(shown[0]["credits"], 500.0);
    assert_eq!(shown[0]["period_days"], 30);
    // Keyed on the component's SHA-256, shown with its manifest name.
    let sha = kiln_host::budget::is_sha256(shown[1]["name"].as_str().unwrap());
    assert!(sha, "{}", shown[1]);
    assert_eq!(shown[1]["label"], "spender");
    assert_eq!(shown[1]["remaining"], 20.0);

    // Bad input is refused with what to do, and changes nothing.
    for args in [
        &["budget", "set", "--member", "jonas", "--credits", "5"][..],
        &["budget", "set", "--plugin", "p", "--credits", "-5"],
        &[
            "budget",
            "set",
            "--plugin",
            "p",
            "--credits",
            "5",
            "--period-days",
            "0",
        ],
        &["budget", "set", "--credits", "5"],
        // A bare name is no identity: any plugin can call itself that.
        &["budget", "set", "--plugin", "spender", "--credits", "5"],
    ] {
        let out = kiln(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!out.stderr.is_empty());
    }
    let out = kiln(&["budget", "show", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 3);

    // --max-credits is validated too.
    let out = kiln(&["audit", "seat-audit", "--max-credits", "lots"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number of credits"));
}
