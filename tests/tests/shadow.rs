//! Shadow runs through the `kiln` binary: a plugin against itself differs nowhere; against a
//! changed version, exactly the rows the change touches differ (checked against two separate
//! dry runs); the candidate never writes; auditors compare findings.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use kiln_host::Clay as _;
use kiln_tests::{DemoWorkspace, normalize_contacts, seat_audit};
use serde_json::Value;

fn kiln(ws: &DemoWorkspace) -> Command {
    let mut cmd = kiln_tests::kiln_in(ws.dir.path());
    cmd.arg("--workspace").arg(&ws.path);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Row id → the cells a dry run of normalize-contacts would set, with `country` as its
/// default country code.
fn dry_run(ws: &DemoWorkspace, wasm: &Path, country: &str) -> BTreeMap<String, Value> {
    let out = kiln(ws)
        .arg("run")
        .arg(wasm)
        .args(["--table", "Leads", "--dry-run", "--json", "-c"])
        .arg(format!("default_country_code={country}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    json(&out)["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut cells: Vec<(String, Value)> = c["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|cell| {
                    (
                        cell["field"].as_str().unwrap().to_string(),
                        cell["after"].clone(),
                    )
                })
                .collect();
            cells.sort_by(|a, b| a.0.cmp(&b.0));
            (
                c["row_id"].as_str().unwrap().to_string(),
                serde_json::to_value(cells).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_plugin_shadowed_by_itself_differs_nowhere() {
    let ws = DemoWorkspace::new();
    let wasm = normalize_contacts();
    let out = kiln(&ws)
        .arg("shadow")
        .arg("--baseline")
        .arg(&wasm)
        .arg("--candidate")
        .arg(&wasm)
        .args(["--table", "Leads", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["rows"], 2000, "{report:#}");
    assert_eq!(report["rows_same"], 2000);
    assert!(report["differences"].as_array().unwrap().is_empty());
    let changed = report["baseline"]["changed"].as_u64().unwrap();
    assert!(changed > 500, "the demo table is messy: {report:#}");
    assert_eq!(report["candidate"]["changed"], changed);
    assert_eq!(report["baseline"]["applied"], false);
}

#[test]
fn a_changed_candidate_differs_on_exactly_the_rows_it_changes_and_never_writes() {
    let ws = DemoWorkspace::new();
    let wasm = normalize_contacts();
    // What each version would do, from two runs of their own.
    let (us, uk) = (dry_run(&ws, &wasm, "1"), dry_run(&ws, &wasm, "44"));
    let expected: Vec<&String> = us
        .keys()
        .chain(uk.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|id| us.get(*id) != uk.get(*id))
        .collect();
    assert!(!expected.is_empty(), "the country code changes some phones");

    // The comparison as a page, before anything is applied.
    let html = ws.dir.path().join("shadow.html");
    let out = kiln(&ws)
        .arg("shadow")
        .arg("--baseline")
        .arg(&wasm)
        .arg("--candidate")
        .arg(&wasm)
        .args(["--candidate-config", "default_country_code=44"])
        .args(["--table", "Leads", "--dry-run", "--format", "html", "--out"])
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>") && page.contains("Rows that differ"));

    // The baseline runs for real; the candidate alongside it.
    let out = kiln(&ws)
        .arg("shadow")
        .arg("--baseline")
        .arg(&wasm)
        .arg("--candidate")
        .arg(&wasm)
        .args(["--candidate-config", "default_country_code=44"])
        .args(["--table", "Leads", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "differences exit 1: {}",
        text(&out)
    );
    let report = json(&out);
    let found: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["row_id"].as_str().unwrap())
        .collect();
    let mut found_sorted = found.clone();
    found_sorted.sort();
    let expected: Vec<&str> = expected.iter().map(|s| s.as_str()).collect();
    assert_eq!(found_sorted, expected, "{report:#}");
    let first = &report["differences"][0];
    assert_ne!(
        first["baseline"], first["candidate"],
        "both values are shown"
    );
    assert_eq!(report["baseline"]["applied"], true);
    assert_eq!(report["candidate"]["applied"], false);

    // The table holds the baseline's values, not the candidate's, in every differing row.
    assert!(dry_run(&ws, &wasm, "1").is_empty(), "the baseline applied");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let table = rt.block_on(ws.local.resolve_table("Leads")).unwrap();
    let phone = table.field_by_name("Phone").unwrap().id.clone();
    for d in report["differences"].as_array().unwrap().iter().take(25) {
        let id = d["row_id"].as_str().unwrap().to_string();
        let row = rt
            .block_on(ws.local.read_records(&table.id, std::slice::from_ref(&id)))
            .unwrap()
            .remove(0);
        let held = serde_json::to_value(&row.cell(&phone).unwrap().value).unwrap();
        let set = |side: &str| {
            d[side]["detail"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c[0] == "Phone")
                .map(|c| c[1].clone())
        };
        assert_eq!(Some(held.clone()), set("baseline"), "{id}: {d:#}");
        assert_ne!(Some(held), set("candidate"), "{id}: {d:#}");
    }
}

#[test]
fn auditors_are_shadowed_finding_by_finding() {
    let ws = DemoWorkspace::new();
    let wasm = seat_audit();
    let out = kiln(&ws)
        .arg("shadow")
        .arg("--baseline")
        .arg(&wasm)
        .arg("--candidate")
        .arg(&wasm)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert!(report["findings_same"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["only_baseline"].as_array().unwrap().is_empty());
    assert!(report["only_candidate"].as_array().unwrap().is_empty());
}
