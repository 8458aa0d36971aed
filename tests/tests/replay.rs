//! Record and replay through the `kiln` binary: a recorded run or audit replays to the same
//! outcomes with no workspace and no network; an edited recording, a call it does not have,
//! or another plugin shows up as a difference.

use std::path::Path;
use std::process::{Command, Output};

use kiln_tests::{DemoWorkspace, normalize_contacts, redact_pii, seat_audit};
use serde_json::Value;

fn kiln(home: &Path) -> Command {
    kiln_tests::kiln_in(home)
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `kiln replay`, where neither a workspace nor Clay can be reached: a workspace path that
/// does not exist and a Clay URL nothing listens on.
fn replay(home: &Path, file: &Path, extra: &[&str]) -> (Output, Value) {
    let out = kiln(home)
        .args(["--workspace", "/nonexistent/ws.sqlite"])
        .args(["--clay-url", "http://127.0.0.1:9"])
        .arg("replay")
        .arg(file)
        .args(extra)
        .arg("--json")
        .output()
        .unwrap();
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out, report)
}

fn lines(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_lines(file: &Path, lines: &[Value]) {
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(file, text.join("\n") + "\n").unwrap();
}

#[test]
fn a_recorded_run_replays_to_the_same_outcomes_offline_and_another_plugin_does_not() {
    let ws = DemoWorkspace::new();
    let home = ws.dir.path();
    let file = home.join("run.jsonl");
    let out = kiln(home)
        .arg("--workspace")
        .arg(&ws.path)
        .arg("run")
        .arg(normalize_contacts())
        .args(["--table", "Leads", "--batch-size", "500", "--record"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let recorded = lines(&file);
    assert_eq!(recorded[0]["kiln_recording"], 1);
    assert_eq!(recorded[0]["kind"], "transform");
    assert!(recorded.last().unwrap()["end"].is_object());
    let batches = recorded.iter().filter(|l| l.get("batch").is_some()).count();
    assert_eq!(batches, 4, "2,000 rows in batches of 500");

    let (out, report) = replay(home, &file, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["rows"], 2000, "{report:#}");
    assert_eq!(report["rows_same"], 2000);
    assert_eq!(report["complete"], true);
    assert!(report["differences"].as_array().unwrap().is_empty());

    // Another plugin against the same recording: every row it treats differently is named
    // with both outcomes, and the replay fails.
    let (out, report) = replay(home, &file, &["--plugin", redact_pii().to_str().unwrap()]);
    assert!(!out.status.success());
    let differences = report["differences"].as_array().unwrap();
    assert!(!differences.is_empty(), "{report:#}");
    let first = &differences[0];
    assert!(first["row_id"].as_str().unwrap().starts_with("r_"));
    assert_ne!(first["recorded"], first["replayed"]);
}

#[test]
fn an_edited_answer_or_a_call_the_recording_lacks_shows_up_in_the_replay() {
    let ws = DemoWorkspace::new();
    let home = ws.dir.path();
    let file = home.join("audit.jsonl");
    let out = kiln(home)
        .arg("--workspace")
        .arg(&ws.path)
        .arg("audit")
        .arg(seat_audit())
        .arg("--record")
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let recorded = lines(&file);
    let (out, report) = replay(home, &file, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(report["audit"].is_null(), "{report:#}");

    // One host answer changed: an active member is now pending. The audit sees it.
    let mut edited = recorded.clone();
    let permissions = edited
        .iter_mut()
        .find(|l| l["call"]["fn"] == "permissions")
        .expect("seat-audit reads the members");
    let members = permissions["call"]["result"]["ok"].as_array_mut().unwrap();
    let member = members
        .iter_mut()
        .find(|m| m["status"] == "active" && m["role"] == "member")
        .unwrap();
    member["status"] = Value::String("pending".into());
    let edited_file = home.join("edited.jsonl");
    write_lines(&edited_file, &edited);
    let (out, report) = replay(home, &edited_file, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let (before, after) = (&report["audit"][0], &report["audit"][1]);
    assert!(before.is_object() && after.is_object(), "{report:#}");
    assert_ne!(before, after);

    // A call the recording does not have is answered with an error, and named.
    let mut lacking = recorded.clone();
    let permissions = lacking
        .iter_mut()
        .find(|l| l["call"]["fn"] == "permissions")
        .unwrap();
    permissions["call"]["args"]["workspace_id"] = Value::from(999);
    let lacking_file = home.join("lacking.jsonl");
    write_lines(&lacking_file, &lacking);
    let (out, report) = replay(home, &lacking_file, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let missing = report["missing_calls"].as_array().unwrap();
    assert!(
        missing
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("permissions(")),
        "{report:#}"
    );
    // The recorded permissions call (and what the audit did after it) went unused.
    assert!(report["unused_calls"].as_u64().unwrap() >= 1, "{report:#}");
}

#[test]
fn a_file_that_is_not_a_recording_of_this_version_is_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let file = home.join("future.jsonl");
    std::fs::write(&file, "{\"kiln_recording\":9,\"kind\":\"transform\"}\n").unwrap();
    let out = kiln(home).arg("replay").arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("format version 9; this kiln reads version 1"),
        "{}",
        text(&out)
    );
    std::fs::write(&file, "id,name\n1,x\n").unwrap();
    let out = kiln(home).arg("replay").arg(&file).output().unwrap();
    assert!(
        text(&out).contains("not a kiln recording"),
        "{}",
        text(&out)
    );
}
