//! An auditor that passes huge arguments to host calls on request (config `mode`), to prove
//! the host bounds what it keeps of them — in memory, in the trail and in time. Written
//! against the raw WIT bindings so the tests depend on nothing but the contract.
//!
//! - `config-key-bomb`: 64 `config.get` with a 32 MiB key (`mib` sets the size);
//! - `table-id-bomb`: 32 `tables.get` with a 16 MiB table id (`mib` sets the size);
//! - `read-records-bomb`: 100 `read-records` on `table`, each with 1,000,000 ids;
//!
//! `n` sets how many calls a bomb makes.
//! - `slow-host-call`: one `credits.user-report` over 2,000,000 owner ids (`owners`);
//! - `log-bomb`: `log` messages of 256 KiB until the host stops it;
//! - `spin`: loops forever (the deadline must end it).
//!
//! A host call's error is counted, not returned: the summary says how many were refused and
//! the last error, so the test can read what the guest saw.

wit_bindgen::generate!({
    world: "clay:api/auditor",
    path: "../../../wit",
});

use clay::api::types::TimeRange;
use clay::api::{config, credits, log, tables};

struct HostileTrail;

/// The bomb string's size: config `mib`, or the mode's own default.
fn mib(default: usize) -> usize {
    config::get("mib")
        .and_then(|m| m.parse().ok())
        .unwrap_or(default)
}

/// How many calls a bomb makes: config `n`, or the mode's own default.
fn calls(default: usize) -> usize {
    config::get("n")
        .and_then(|m| m.parse().ok())
        .unwrap_or(default)
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r_{i:08}")).collect()
}

fn describe(e: &ClayError) -> String {
    match e {
        ClayError::NotFound(m) => format!("not-found: {m}"),
        ClayError::Denied(m) => format!("denied: {m}"),
        ClayError::Invalid(m) => format!("invalid: {m}"),
        ClayError::RateLimited(m) => format!("rate-limited: {m}"),
        ClayError::BudgetExhausted(m) => format!("budget-exhausted: {m}"),
        ClayError::Conflict(m) => format!("conflict: {m}"),
        ClayError::Upstream(m) => format!("upstream: {m}"),
        ClayError::Unavailable(m) => format!("unavailable: {m}"),
    }
}

fn tally<T>(results: impl Iterator<Item = Result<T, ClayError>>) -> String {
    let (mut ok, mut refused, mut last) = (0, 0, String::new());
    for r in results {
        match r {
            Ok(_) => ok += 1,
            Err(e) => {
                refused += 1;
                last = describe(&e);
            }
        }
    }
    format!("ok={ok} refused={refused} last={last}")
}

impl Guest for HostileTrail {
    fn audit(scope: AuditScope) -> Result<AuditReport, ClayError> {
        let mode = config::get("mode").unwrap_or_default();
        let summary = match mode.as_str() {
            "config-key-bomb" => {
                let key = "k".repeat(mib(32) << 20);
                let found = (0..calls(64))
                    .filter(|_| config::get(&key).is_some())
                    .count();
                format!("found={found}")
            }
            "table-id-bomb" => {
                let id = "t".repeat(mib(16) << 20);
                tally((0..calls(32)).map(|_| tables::get(&id)))
            }
            "read-records-bomb" => {
                let table = config::get("table").unwrap_or_default();
                let ids = ids(1_000_000);
                tally((0..calls(100)).map(|_| tables::read_records(&table, &ids)))
            }
            "slow-host-call" => {
                // Short ids, so two million of them fit in one call's transfer limit and
                // reach the host.
                let n: usize = config::get("owners")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(2_000_000);
                let owners: Vec<String> = (0..n).map(|i| format!("{i:x}")).collect();
                let range = TimeRange {
                    start: 0,
                    end: scope.now,
                };
                tally(std::iter::once(credits::user_report(
                    scope.workspace_id,
                    range,
                    &owners,
                )))
            }
            "log-bomb" => {
                let message = "m".repeat(256 << 10);
                for _ in 0..1_000 {
                    log::log(log::Level::Info, &message);
                }
                "logged".to_string()
            }
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            other => format!("unknown mode `{other}`"),
        };
        Ok(AuditReport {
            summary,
            findings: Vec::new(),
        })
    }
}

export!(HostileTrail);
