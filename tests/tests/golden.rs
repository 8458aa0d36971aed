//! `kiln test`: golden tests of built plugins against a workspace snapshot.

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

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn golden_tests_record_compare_and_show_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("demo.sqlite");
    let seeded = kiln(dir.path())
        .arg("--workspace")
        .arg(&fixture)
        .args(["workspace", "seed", "--demo"])
        .output()
        .unwrap();
    assert!(seeded.status.success(), "{}", text(&seeded));
    let pristine = std::fs::read(&fixture).unwrap();

    let test = |args: &[&str]| {
        kiln(dir.path())
            .arg("test")
            .args(args)
            .arg("--fixture")
            .arg(&fixture)
            .output()
            .unwrap()
    };

    // No expected file yet: a clear error that says how to make one.
    let missing = test(&["normalize-contacts", "--table", "Leads"]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("--update"), "{}", text(&missing));

    // Record, then compare: the same effects pass.
    let recorded = test(&["normalize-contacts", "--table", "Leads", "--update"]);
    assert!(recorded.status.success(), "{}", text(&recorded));
    let expected = dir
        .path()
        .join("demo.normalize-contacts.Leads.expected.json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
    assert_eq!(golden["world"], "transformer");
    assert_eq!(golden["rows_seen"], 2000);
    assert!(golden["changed"].as_array().unwrap().len() > 1900);
    let passed = test(&["normalize-contacts", "--table", "Leads"]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(text(&passed).contains("ok: normalize-contacts matches"));

    // The fixture was run against a copy: it is byte for byte what was seeded.
    assert!(
        std::fs::read(&fixture).unwrap() == pristine,
        "the fixture was modified"
    );

    // A different expectation fails with a readable diff.
    let mut edited = golden.clone();
    let first = &mut edited["changed"][0]["cells"][0]["after"];
    let original = first.clone();
    *first = serde_json::json!({"type": "text", "value": "something else"});
    std::fs::write(&expected, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let failed = test(&["normalize-contacts", "--table", "Leads"]);
    assert!(!failed.status.success());
    let out = text(&failed);
    assert!(out.contains("FAILED"), "{out}");
    let line = |sign: char, needle: &str| {
        out.lines()
            .any(|l| l.starts_with(sign) && l.trim_start_matches(sign).trim() == needle)
    };
    assert!(line('-', r#""value": "something else""#), "{out}");
    assert!(
        line('+', &format!(r#""value": {}"#, original["value"])),
        "{out}"
    );

    // An auditor's findings, pinned to the recorded clock so the test passes tomorrow too.
    let recorded = test(&["seat-audit", "--update"]);
    assert!(recorded.status.success(), "{}", text(&recorded));
    let audit_file = dir.path().join("demo.seat-audit.expected.json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&audit_file).unwrap()).unwrap();
    assert!(golden["now"].is_i64());
    assert!(
        golden["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "seat.single-admin")
    );
    let passed = test(&["seat-audit"]);
    assert!(passed.status.success(), "{}", text(&passed));
    // A transformer without a table is told what is missing.
    let no_table = test(&["normalize-contacts", "--expect", "x.json", "--update"]);
    assert!(!no_table.status.success());
    assert!(text(&no_table).contains("--table"), "{}", text(&no_table));
    assert!(
        std::fs::read(&fixture).unwrap() == pristine,
        "the fixture was modified"
    );
}
