use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::backend::model::RunMode;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 24 * 3600 * 1000;
const SHA_P: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SHA_Q: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("state.sqlite")).unwrap();
    (dir, ledger)
}

fn spender<'a>(plugin: &'a str, member: Option<&'a str>) -> Spender<'a> {
    Spender {
        plugin,
        plugin_sha256: plugin,
        member,
        invocation_id: "inv_t",
    }
}

fn status(ledger: &Ledger, scope: &Scope, now: i64) -> BudgetStatus {
    ledger
        .budgets(now)
        .unwrap()
        .into_iter()
        .find(|b| &b.budget.scope == scope)
        .unwrap()
}

fn ran(credits: f64) -> RunResult {
    RunResult {
        mode: RunMode::Individual,
        record_count: 1,
        credits_spent: credits,
        credits_unreported: false,
    }
}

#[test]
fn reserve_commit_refund_arithmetic() {
    let (_d, ledger) = ledger();
    let alice = Scope::member("Alice@Example.com");
    ledger
        .set_budget(&Budget {
            scope: alice.clone(),
            credits: 100.0,
            period_days: 30,
        })
        .unwrap();
    let s = spender("p", Some("alice@example.com"));

    let a = ledger.reserve(&s, 40.0, NOW).unwrap().unwrap();
    let st = status(&ledger, &alice, NOW);
    assert_eq!((st.spent, st.reserved, st.remaining), (0.0, 40.0, 60.0));

    // The call spent less than it reserved: the rest comes back.
    ledger.commit(a, 25.0).unwrap();
    let st = status(&ledger, &alice, NOW);
    assert_eq!((st.spent, st.reserved, st.remaining), (25.0, 0.0, 75.0));

    // A failed call gives everything back.
    let b = ledger.reserve(&s, 75.0, NOW).unwrap().unwrap();
    ledger.refund(b).unwrap();
    let st = status(&ledger, &alice, NOW);
    assert_eq!((st.spent, st.reserved, st.remaining), (25.0, 0.0, 75.0));

    // Exactly what is left fits; a hair more does not, and names the budget.
    let c = ledger.reserve(&s, 75.0, NOW).unwrap().unwrap();
    let err = ledger.reserve(&s, 0.5, NOW).unwrap().unwrap_err();
    match &err {
        ClayError::BudgetExhausted(m) => {
            assert!(m.contains("member `alice@example.com`"), "{m}");
            assert!(m.contains("100 credits per 30 days"), "{m}");
        }
        other => panic!("expected budget-exhausted, got {other:?}"),
    }
    // Settling twice changes nothing.
    ledger.commit(c, 75.0).unwrap();
    ledger.refund(c).unwrap();
    let totals = ledger.totals(0).unwrap();
    assert_eq!(totals.spent, 100.0);
    assert_eq!(totals.open_reservations, 0);
}

#[test]
fn the_period_rolls() {
    let (_d, ledger) = ledger();
    let p = Scope::plugin("enricher");
    ledger
        .set_budget(&Budget {
            scope: p.clone(),
            credits: 10.0,
            period_days: 7,
        })
        .unwrap();
    let s = spender("enricher", None);
    let id = ledger.reserve(&s, 10.0, NOW - 8 * DAY).unwrap().unwrap();
    ledger.commit(id, 10.0).unwrap();
    // Eight days later the old spending is out of the window.
    assert_eq!(status(&ledger, &p, NOW).remaining, 10.0);
    assert!(ledger.reserve(&s, 10.0, NOW).unwrap().is_ok());
    assert!(ledger.reserve(&s, 1.0, NOW).unwrap().is_err());
}

#[test]
fn member_and_plugin_budgets_both_apply_and_others_do_not() {
    let (_d, ledger) = ledger();
    for (scope, credits) in [
        (Scope::member("bob@example.com"), 50.0),
        (Scope::plugin("cheap"), 5.0),
    ] {
        ledger
            .set_budget(&Budget {
                scope,
                credits,
                period_days: 30,
            })
            .unwrap();
    }
    let err = ledger
        .reserve(&spender("cheap", Some("bob@example.com")), 6.0, NOW)
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("plugin `cheap`"), "{err}");
    let err = ledger
        .reserve(&spender("other", Some("bob@example.com")), 51.0, NOW)
        .unwrap()
        .unwrap_err();
    assert!(
        err.to_string().contains("member `bob@example.com`"),
        "{err}"
    );
    // Nobody caps carol running `other`.
    assert!(
        ledger
            .reserve(&spender("other", Some("carol@example.com")), 1e6, NOW)
            .unwrap()
            .is_ok()
    );
    assert!(
        !ledger
            .has_budget_for(&spender("other", Some("carol@example.com")))
            .unwrap()
    );
}

#[test]
fn invalid_budgets_are_refused() {
    let (_d, ledger) = ledger();
    for (credits, period_days) in [(-1.0, 30), (f64::NAN, 30), (10.0, 0)] {
        let err = ledger
            .set_budget(&Budget {
                scope: Scope::plugin("p"),
                credits,
                period_days,
            })
            .unwrap_err();
        assert!(matches!(err, LedgerError::InvalidBudget { .. }));
    }
}

#[test]
fn concurrent_reservations_never_overspend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    Ledger::open(&path)
        .unwrap()
        .set_budget(&Budget {
            scope: Scope::plugin("racer"),
            credits: 30.0,
            period_days: 30,
        })
        .unwrap();
    let granted = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            let path = path.clone();
            let granted = &granted;
            s.spawn(move || {
                // Its own connection per thread, as separate processes would have.
                let ledger = Ledger::open(&path).unwrap();
                for _ in 0..10 {
                    if let Ok(id) = ledger.reserve(&spender("racer", None), 2.0, NOW).unwrap() {
                        granted.fetch_add(1, Ordering::SeqCst);
                        ledger.commit(id, 2.0).unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(granted.load(Ordering::SeqCst), 15);
    let totals = Ledger::open(&path).unwrap().totals(0).unwrap();
    assert_eq!(totals.spent, 30.0);
    assert_eq!(totals.open_reservations, 0);
}

#[tokio::test]
async fn the_meter_refuses_past_the_per_run_budget_before_running() {
    let (_d, ledger) = ledger();
    let mut meter = Meter::new(
        "p",
        SHA_P,
        None,
        "inv_m".into(),
        Some(10.0),
        Some(ledger.clone()),
    );
    let r = meter.spend(async { Ok(6.0) }, async { Ok(ran(4.0)) }).await;
    assert_eq!(r.unwrap().credits_spent, 4.0);
    // 6 left; an 7-credit estimate is refused and the call never runs.
    let r = meter
        .spend(async { Ok(7.0) }, async {
            panic!("must not run past the budget")
        })
        .await;
    match r {
        Err(ClayError::BudgetExhausted(m)) => {
            assert!(m.contains("per-run budget of 10 credits"), "{m}");
            assert!(m.contains("6 are left"), "{m}");
        }
        other => panic!("expected budget-exhausted, got {other:?}"),
    }
    assert_eq!(meter.spent(), 4.0);
    let totals = ledger.totals(0).unwrap();
    assert_eq!(
        (totals.spent, totals.calls, totals.open_reservations),
        (4.0, 1, 0)
    );
}

#[tokio::test]
async fn the_meter_refunds_a_failed_call() {
    let (_d, ledger) = ledger();
    ledger
        .set_budget(&Budget {
            scope: Scope::member("a@b.c"),
            credits: 20.0,
            period_days: 30,
        })
        .unwrap();
    let mut meter = Meter::new(
        "p",
        SHA_P,
        Some("a@b.c".into()),
        "inv_m".into(),
        None,
        Some(ledger.clone()),
    );
    let r = meter
        .spend(async { Ok(15.0) }, async {
            Err(ClayError::Upstream("integration broken".into()))
        })
        .await;
    assert!(matches!(r, Err(ClayError::Upstream(_))));
    let st = status(&ledger, &Scope::member("a@b.c"), now_ms());
    assert_eq!((st.spent, st.reserved, st.remaining), (0.0, 0.0, 20.0));
    // The budget then still admits a 20-credit call.
    let r = meter
        .spend(async { Ok(20.0) }, async { Ok(ran(20.0)) })
        .await;
    assert!(r.is_ok());
    assert_eq!(
        status(&ledger, &Scope::member("a@b.c"), now_ms()).remaining,
        0.0
    );
}

#[tokio::test]
async fn an_unbudgeted_spender_without_an_estimate_still_runs_and_is_recorded() {
    let (_d, ledger) = ledger();
    let mut meter = Meter::new("p", SHA_P, None, "inv_m".into(), None, Some(ledger.clone()));
    let r = meter
        .spend(
            async { Err(ClayError::Unavailable("cannot estimate".into())) },
            async { Ok(ran(3.0)) },
        )
        .await;
    assert_eq!(r.unwrap().credits_spent, 3.0);
    assert_eq!(ledger.totals(0).unwrap().spent, 3.0);
}

#[tokio::test]
async fn an_abandoned_call_keeps_its_estimate_charged() {
    let (_d, ledger) = ledger();
    let mut meter = Meter::new(
        "p",
        SHA_P,
        None,
        "inv_m".into(),
        Some(50.0),
        Some(ledger.clone()),
    );
    let call = meter.spend(async { Ok(9.0) }, std::future::pending());
    // The invocation's deadline drops the call mid-flight.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(50), call).await;
    let totals = ledger.totals(0).unwrap();
    assert_eq!((totals.spent, totals.open_reservations), (9.0, 0));
}

fn unreported() -> RunResult {
    RunResult {
        credits_unreported: true,
        ..ran(0.0)
    }
}

#[tokio::test]
async fn a_run_that_does_not_say_what_it_spent_is_charged_its_estimate() {
    let (_d, ledger) = ledger();
    // Under a per-run budget…
    let mut meter = Meter::new(
        "p",
        SHA_P,
        None,
        "inv_m".into(),
        Some(50.0),
        Some(ledger.clone()),
    );
    let r = meter
        .spend(async { Ok(7.0) }, async { Ok(unreported()) })
        .await
        .unwrap();
    assert_eq!(r.credits_spent, 7.0, "the guest is told the estimate");
    assert_eq!(meter.spent(), 7.0);
    assert_eq!(ledger.totals(0).unwrap().spent, 7.0);
    // …and with no budget at all: still charged, never 0.
    let mut free = Meter::new("p", SHA_P, None, "inv_n".into(), None, Some(ledger.clone()));
    let r = free
        .spend(async { Ok(4.0) }, async { Ok(unreported()) })
        .await
        .unwrap();
    assert_eq!(r.credits_spent, 4.0);
    assert_eq!(ledger.totals(0).unwrap().spent, 11.0);
}

#[tokio::test]
async fn an_unknown_cost_per_row_is_refused_under_a_budget() {
    let (_d, ledger) = ledger();
    let mut meter = Meter::new(
        "p",
        SHA_P,
        None,
        "inv_m".into(),
        Some(50.0),
        Some(ledger.clone()),
    );
    let r = meter
        .spend(
            async {
                Err(ClayError::Unavailable(
                    "Clay does not say what column `X` costs per row".into(),
                ))
            },
            async { panic!("must not run with an unknown cost under a budget") },
        )
        .await;
    match r {
        Err(ClayError::Unavailable(m)) => assert!(m.contains("costs per row"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(ledger.totals(0).unwrap().calls, 0);
}

#[test]
fn plugin_budgets_key_on_the_component_hash_not_the_name() {
    let (_d, ledger) = ledger();
    ledger
        .set_budget_labeled(
            &Budget {
                scope: Scope::plugin(SHA_P),
                credits: 10.0,
                period_days: 30,
            },
            Some("enricher"),
        )
        .unwrap();
    let named = |name, sha| Spender {
        plugin: name,
        plugin_sha256: sha,
        member: None,
        invocation_id: "inv_t",
    };
    // Renamed, the same component still spends its own budget.
    let id = ledger
        .reserve(&named("enricher-v2", SHA_P), 10.0, NOW)
        .unwrap()
        .unwrap();
    ledger.commit(id, 10.0).unwrap();
    let err = ledger
        .reserve(&named("anything-else", SHA_P), 1.0, NOW)
        .unwrap()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("plugin `anything-else` (sha256 111111111111)"),
        "{err}"
    );
    // Another component calling itself `enricher` neither spends nor is capped by it.
    assert!(!ledger.has_budget_for(&named("enricher", SHA_Q)).unwrap());
    assert!(
        ledger
            .reserve(&named("enricher", SHA_Q), 100.0, NOW)
            .unwrap()
            .is_ok()
    );
    let st = status(&ledger, &Scope::plugin(SHA_P), NOW);
    assert_eq!((st.spent, st.remaining), (10.0, 0.0));
    assert_eq!(st.label.as_deref(), Some("enricher"));
}

#[test]
fn a_ledger_from_before_hash_keys_is_upgraded_and_its_name_budgets_still_apply() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE kiln_budgets (scope TEXT NOT NULL, name TEXT NOT NULL, credits REAL NOT NULL,
                 period_days INTEGER NOT NULL, PRIMARY KEY (scope, name));
             CREATE TABLE kiln_spend (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, plugin TEXT NOT NULL,
                 member TEXT, invocation_id TEXT NOT NULL, reserved REAL NOT NULL,
                 spent REAL NOT NULL DEFAULT 0, state TEXT NOT NULL);
             INSERT INTO kiln_budgets VALUES ('plugin', 'enricher', 5, 30);",
        )
        .unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    let spender = Spender {
        plugin: "enricher",
        plugin_sha256: SHA_Q,
        member: None,
        invocation_id: "inv_t",
    };
    assert!(ledger.reserve(&spender, 6.0, NOW).unwrap().is_err());
    let id = ledger.reserve(&spender, 5.0, NOW).unwrap().unwrap();
    ledger.commit(id, 5.0).unwrap();
    let budgets = ledger.budgets(NOW).unwrap();
    assert!(budgets[0].budget.scope.is_legacy_plugin_name());
    assert_eq!(budgets[0].spent, 5.0);
}

#[test]
fn a_pool_budget_caps_every_plugin_and_member_together() {
    let (_d, ledger) = ledger();
    ledger
        .set_budget(&Budget {
            scope: Scope::Pool,
            credits: 10.0,
            period_days: 30,
        })
        .unwrap();
    assert!(ledger.has_budget_for(&spender(SHA_P, None)).unwrap());
    let a = ledger
        .reserve(&spender(SHA_P, Some("a@b.c")), 6.0, NOW)
        .unwrap()
        .unwrap();
    ledger.commit(a, 6.0).unwrap();
    let err = ledger
        .reserve(&spender(SHA_Q, Some("d@e.f")), 5.0, NOW)
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the pool's budget of 10 credits per 30 days"),
        "{err}"
    );
    assert!(err.contains("4 are left (6 spent"), "{err}");
    assert!(
        ledger
            .reserve(&spender(SHA_Q, None), 4.0, NOW)
            .unwrap()
            .is_ok()
    );
    // Spending older than the period no longer counts.
    let st = status(&ledger, &Scope::Pool, NOW + 31 * DAY);
    assert_eq!((st.spent, st.reserved, st.remaining), (0.0, 0.0, 10.0));
}

#[test]
fn a_ledger_whose_check_predates_pool_budgets_is_rebuilt_keeping_its_budgets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE kiln_budgets (
                 scope TEXT NOT NULL CHECK (scope IN ('member', 'plugin')),
                 name TEXT NOT NULL,
                 credits REAL NOT NULL CHECK (credits >= 0),
                 period_days INTEGER NOT NULL CHECK (period_days > 0),
                 label TEXT,
                 PRIMARY KEY (scope, name));
             INSERT INTO kiln_budgets VALUES ('member', 'a@b.c', 7, 30, NULL);",
        )
        .unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    ledger
        .set_budget(&Budget {
            scope: Scope::Pool,
            credits: 3.0,
            period_days: 1,
        })
        .unwrap();
    let budgets = ledger.budgets(NOW).unwrap();
    let scopes: Vec<&Scope> = budgets.iter().map(|b| &b.budget.scope).collect();
    assert_eq!(scopes, vec![&Scope::member("a@b.c"), &Scope::Pool]);
    // Opening it again leaves it as it is.
    drop(ledger);
    assert_eq!(Ledger::open(&path).unwrap().budgets(NOW).unwrap().len(), 2);
}
