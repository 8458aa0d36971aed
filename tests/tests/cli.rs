//! The `kiln` binary end to end: demo, run, audit, inspect, workspace.

use std::path::Path;
use std::process::{Command, Output};

use kiln_tests::kiln_bin;

fn kiln(cache: &Path) -> Command {
    let mut cmd = Command::new(kiln_bin());
    cmd.env_remove("KILN_WORKSPACE")
        .env("KILN_CACHE_DIR", cache)
        .env("KILN_LOG", "error");
    cmd
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

#[test]
fn demo_shows_transformed_rows_and_audit_findings() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(kiln(dir.path())
        .arg("demo")
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap());
    assert!(out.contains("normalize-contacts on table Leads"), "{out}");
    assert!(out.contains("Changes (first 8 of"), "{out}");
    assert!(out.contains("\"valid\""), "{out}");
    assert!(out.contains("integration.removed-owner"), "{out}");
    assert!(out.contains("seat.single-admin"), "{out}");
    assert!(dir.path().join("workspace.sqlite").is_file());
}

#[test]
fn workspace_run_audit_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.sqlite");
    let with_ws = |args: &[&str]| {
        let mut cmd = kiln(dir.path());
        cmd.arg("--workspace").arg(&ws).args(args);
        cmd.output().unwrap()
    };
    ok(with_ws(&["workspace", "seed", "--demo"]));
    let shown = ok(with_ws(&["workspace", "show"]));
    assert!(shown.contains("1 active admins"), "{shown}");
    assert!(shown.contains("Leads"), "{shown}");

    // Dry run as JSON: a full report, nothing written.
    let before = ok(with_ws(&[
        "workspace",
        "export",
        "--table",
        "Leads",
        "--csv",
    ]));
    let json = ok(with_ws(&[
        "run",
        "normalize-contacts",
        "--table",
        "Leads",
        "--dry-run",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["rows_seen"], 2000);
    assert_eq!(report["dry_run"], true);
    assert!(report["rows_changed"].as_u64().unwrap() > 1900);
    assert_eq!(
        before,
        ok(with_ws(&[
            "workspace",
            "export",
            "--table",
            "Leads",
            "--csv"
        ]))
    );

    // For real, with the summary a person reads.
    let run = ok(with_ws(&["run", "normalize-contacts", "--table", "Leads"]));
    assert!(run.contains("rows seen"), "{run}");
    let after = ok(with_ws(&[
        "workspace",
        "export",
        "--table",
        "Leads",
        "--csv",
    ]));
    assert_ne!(before, after);

    let audit = ok(with_ws(&["audit", "integration-ownership", "--json"]));
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let codes: Vec<&str> = audit["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"integration.removed-owner"), "{codes:?}");

    let inspect = ok(with_ws(&["inspect", "seat-audit", "--json"]));
    let info: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(info["world"], "auditor");
    assert_eq!(info["exports"], serde_json::json!(["audit"]));
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn a_ragged_csv_is_refused_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.sqlite");
    ok(kiln(dir.path())
        .arg("--workspace")
        .arg(&ws)
        .args(["workspace", "init"])
        .output()
        .unwrap());
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "name,email\nAda,ada@example.com\nGrace\nAlan,alan@example.com\n",
    )
    .unwrap();
    let out = kiln(dir.path())
        .arg("--workspace")
        .arg(&ws)
        .args(["workspace", "import"])
        .arg(&csv)
        .args(["--table", "People"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3 has 1 fields but the header has 2"),
        "{err}"
    );
    let shown = ok(kiln(dir.path())
        .arg("--workspace")
        .arg(&ws)
        .args(["workspace", "show"])
        .output()
        .unwrap());
    assert!(!shown.contains("People"), "nothing imported: {shown}");

    std::fs::write(
        &csv,
        "name,email\nAda,ada@example.com\nAlan,alan@example.com\n",
    )
    .unwrap();
    let imported = ok(kiln(dir.path())
        .arg("--workspace")
        .arg(&ws)
        .args(["workspace", "import"])
        .arg(&csv)
        .args(["--table", "People"])
        .output()
        .unwrap());
    assert!(imported.contains("imported 2 rows"), "{imported}");
}

#[test]
fn a_refused_run_says_why_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.sqlite");
    let with_ws = |args: &[&str]| {
        let mut cmd = kiln(dir.path());
        cmd.arg("--workspace").arg(&ws).args(args);
        cmd.output().unwrap()
    };
    ok(with_ws(&["workspace", "seed", "--demo"]));
    for (args, why) in [
        (
            &[
                "run",
                "normalize-contacts",
                "--table",
                "Leads",
                "--deny",
                "tables",
            ][..],
            "may not read table `Leads`",
        ),
        (
            &["run", "normalize-contacts", "--table", "No Such Table"][..],
            "no table `No Such Table`",
        ),
    ] {
        let out = with_ws(args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.matches(why).count(), 1, "said once: {err}");
        let line = err.lines().find(|l| l.starts_with("error: ")).unwrap();
        assert_eq!(
            line.matches("denied: ").count() + line.matches("not found: ").count(),
            1,
            "{line}"
        );
    }
}
