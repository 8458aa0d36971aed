//! Guest text on the operator's terminal, through the real `kiln` binary: a plugin's row
//! errors and log lines cannot drive the terminal or forge kiln's output, a huge row error is
//! cut for the table (whole in `--json`), and a closed stdout ends kiln quietly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::{hostile_findings, hostile_text, kiln_bin};

/// What the guest's `inject` mode sends (`tests/guests/hostile-text`), byte for byte.
const INJECTION: &str = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[31m\r all rows OK\n\u{9b}2Jfake: 0 failed\x7f\x08\x1bc";

struct Setup {
    dir: tempfile::TempDir,
    ws: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws.sqlite");
        let s = Self { dir, ws };
        ok(s.kiln()
            .args(["workspace", "seed", "--demo"])
            .output()
            .unwrap());
        s
    }

    fn kiln(&self) -> Command {
        let mut cmd = Command::new(kiln_bin());
        cmd.env_remove("KILN_WORKSPACE")
            .env("KILN_CACHE_DIR", self.dir.path().join("cache"))
            .env("KILN_LOG", "warn,kiln::guest=info")
            .arg("--workspace")
            .arg(&self.ws);
        cmd
    }

    fn run(&self, plugin: &Path, mode: &str, json: bool) -> Output {
        let mut cmd = self.kiln();
        cmd.arg("run")
            .arg(plugin)
            .args(["--table", "Leads", "--dry-run", "-c"])
            .arg(format!("mode={mode}"));
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    }
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "kiln failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Bytes a terminal obeys: ESC, BEL, CR, BS, DEL and the 8-bit CSI (U+009B, C2 9B in UTF-8).
fn assert_inert(what: &str, bytes: &[u8]) {
    for bad in [0x1b, 0x07, b'\r', 0x08, 0x7f] {
        assert!(
            !bytes.contains(&bad),
            "{what} has byte {bad:#04x}:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert!(
        !bytes.windows(2).any(|w| w == [0xc2, 0x9b]),
        "{what} has an 8-bit CSI"
    );
}

#[test]
fn escape_sequences_in_row_errors_and_logs_do_not_reach_the_terminal() {
    let setup = Setup::new();
    let plugin = hostile_text();

    let out = setup.run(&plugin, "inject", false);
    // A dry run whose rows all fail still completes.
    let out = ok(out);
    assert_inert("the table", &out.stdout);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("Row errors (2000)"), "{table}");
    // What is left is plain text on one line of its cell, the newline marked.
    assert!(table.contains(" all rows OK⏎fake: 0 failed "), "{table}");
    // No line of kiln's output is the plugin's forgery.
    assert!(
        !table
            .lines()
            .any(|l| l.trim_start().starts_with("fake: 0 failed")),
        "{table}"
    );

    // The log capability and guest stdout go to stderr through tracing.
    assert_inert("the log", &out.stderr);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("all rows OK"),
        "the guest's log line is missing:\n{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.trim_start().starts_with("fake: 0 failed")),
        "a forged log line:\n{log}"
    );

    // JSON keeps the exact text, escaped as JSON escapes it.
    let out = ok(setup.run(&plugin, "inject", true));
    assert_inert("the JSON", &out.stdout);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2000);
    assert_eq!(errors[0]["message"], INJECTION);
    assert_eq!(report["rows_changed"], 0);
}

#[test]
fn escape_sequences_in_an_audit_report_do_not_reach_the_terminal() {
    let setup = Setup::new();
    let plugin = hostile_findings();
    let audit = |format: &str| {
        ok(setup
            .kiln()
            .arg("audit")
            .arg(&plugin)
            .args(["--format", format])
            .output()
            .unwrap())
    };
    for format in ["table", "md"] {
        let out = audit(format);
        assert_inert(format, &out.stdout);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("message"), "{text}");
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("fake: all clear")),
            "{format}: a forged line:\n{text}"
        );
    }
    let out = audit("json");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary = doc["report"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("\x1b[2J\x1b]0;pwned\x07"),
        "{summary:?}"
    );
    assert!(
        summary.ends_with("\r No findings.\nfake: all clear"),
        "{summary:?}"
    );
}

#[test]
fn a_512_kib_row_error_is_cut_for_the_table_and_whole_in_json() {
    let setup = Setup::new();
    let plugin = hostile_text();
    let started = Instant::now();
    let out = ok(setup.run(&plugin, "huge", false));
    // Not a timing test: a guard against today's minutes-long layout.
    assert!(started.elapsed() < Duration::from_secs(30));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("… (524288 bytes, see --json)"), "{table}");
    assert!(table.contains("Row errors (2)"), "{table}");
    assert!(
        out.stdout.len() < 32 << 10,
        "{} bytes printed",
        out.stdout.len()
    );

    let out = ok(setup.run(&plugin, "huge", true));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert_eq!(message.len(), 512 << 10);
}

#[test]
fn a_closed_stdout_ends_kiln_quietly() {
    let setup = Setup::new();
    let mut child = setup
        .kiln()
        .args(["workspace", "show"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before kiln writes, as `| head -c 0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}
