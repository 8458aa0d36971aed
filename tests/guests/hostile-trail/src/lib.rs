//! An auditor that attacks the host through the size of what it passes, written against the
//! raw WIT bindings. `mode` (config) picks the attack; the summary lists how each call ended
//! (`ok` or the `clay-error` case), so tests see what the guest saw.
//!
//! - `config-key-bomb`: 64 `config.get` calls with a 32 MiB key;
//! - `table-id-bomb`: 32 `tables.get` calls with a 16 MiB id;
//! - `read-records-bomb`: 10 `read-records` calls with 1,000,000 ids each (enough to hold
//!   gigabytes in a trail that stored them whole; few enough for a debug-build test);
//! - `owner-bomb`: one credit report over 2,000,000 owner ids;
//! - `owner-loop`: credit reports over 10,000 owners, forever (ends at the deadline).

wit_bindgen::generate!({
    world: "clay:api/auditor",
    path: "../../../wit",
});

use clay::api::{config, credits, tables};

struct HostileTrail;

fn label<T>(r: &Result<T, ClayError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(ClayError::NotFound(_)) => "not-found",
        Err(ClayError::Invalid(_)) => "invalid",
        Err(ClayError::Denied(_)) => "denied",
        Err(_) => "error",
    }
}

impl Guest for HostileTrail {
    fn audit(scope: AuditScope) -> Result<AuditReport, ClayError> {
        let mode = config::get("mode").unwrap_or_default();
        let mut seen: Vec<&'static str> = Vec::new();
        match mode.as_str() {
            "config-key-bomb" => {
                let key = "k".repeat(32 << 20);
                for _ in 0..64 {
                    let got = config::get(&key);
                    seen.push(if got.is_some() { "some" } else { "none" });
                }
            }
            "table-id-bomb" => {
                let id = "t".repeat(16 << 20);
                for _ in 0..32 {
                    seen.push(label(&tables::get(&id)));
                }
            }
            "read-records-bomb" => {
                let ids: Vec<String> = (0..1_000_000).map(|i| format!("r_{i:07}")).collect();
                for _ in 0..10 {
                    seen.push(label(&tables::read_records("Leads", &ids)));
                }
            }
            "owner-bomb" => {
                let owners: Vec<String> = (0..2_000_000).map(|i| format!("u_{i:07}")).collect();
                seen.push(label(&credits::user_report(
                    scope.workspace_id,
                    scope.period,
                    &owners,
                )));
            }
            "owner-loop" => {
                let owners: Vec<String> = (0..10_000).map(|i| format!("u_{i:07}")).collect();
                loop {
                    let r = credits::user_report(scope.workspace_id, scope.period, &owners);
                    std::hint::black_box(&r);
                }
            }
            other => seen.push(if other.is_empty() {
                "no-mode"
            } else {
                "unknown-mode"
            }),
        }
        seen.dedup();
        Ok(AuditReport {
            summary: seen.join(","),
            findings: Vec::new(),
        })
    }
}

export!(HostileTrail);
