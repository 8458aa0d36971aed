//! `kiln audit --format table|json|md|html`: the reports people read, end to end over the
//! real binary, a seeded workspace and the real integration-ownership component.

use std::path::Path;
use std::process::{Command, Output};

use kiln_tests::{kiln_bin, repo_root};

fn kiln(cache: &Path, ws: &Path) -> Command {
    let mut cmd = Command::new(kiln_bin());
    cmd.env_remove("KILN_WORKSPACE")
        .env("KILN_CACHE_DIR", cache)
        .env("KILN_LOG", "error")
        .arg("--workspace")
        .arg(ws);
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
fn audit_reports_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.sqlite");
    ok(kiln(dir.path(), &ws)
        .args(["workspace", "seed", "--demo"])
        .output()
        .unwrap());

    // --json stays an alias of --format json (the scope's clock aside).
    let strip_now = |s: String| {
        let mut v: serde_json::Value = serde_json::from_str(&s).unwrap();
        v["scope"] = serde_json::Value::Null;
        v
    };
    let alias = strip_now(ok(kiln(dir.path(), &ws)
        .args(["audit", "integration-ownership", "--json"])
        .output()
        .unwrap()));
    let explicit = strip_now(ok(kiln(dir.path(), &ws)
        .args(["audit", "integration-ownership", "--format", "json"])
        .output()
        .unwrap()));
    assert_eq!(alias, explicit);
    assert_eq!(alias["plugin"], "integration-ownership");

    let conflict = kiln(dir.path(), &ws)
        .args(["audit", "integration-ownership", "--json", "--format", "md"])
        .output()
        .unwrap();
    assert!(!conflict.status.success());
    assert!(String::from_utf8_lossy(&conflict.stderr).contains("pass one of them"));

    let table = ok(kiln(dir.path(), &ws)
        .args(["audit", "integration-ownership", "--format", "table"])
        .output()
        .unwrap());
    assert!(table.contains("CRITICAL"), "{table}");

    let md = ok(kiln(dir.path(), &ws)
        .args(["audit", "integration-ownership", "--format", "md"])
        .output()
        .unwrap());
    assert!(md.starts_with("# integration-ownership — "), "{md}");
    assert!(md.contains("## CRITICAL ("), "{md}");
    assert!(md.contains("## Credits by integration"), "{md}");

    let html_path = dir.path().join("report.html");
    ok(kiln(dir.path(), &ws)
        .args([
            "audit",
            "integration-ownership",
            "--format",
            "html",
            "--out",
        ])
        .arg(&html_path)
        .output()
        .unwrap());
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    for section in ["Credit burn per member", "Spend by integration", "Findings"] {
        assert!(html.contains(section), "missing {section}");
    }
    // A removed member's integration, the demo's most serious finding, appears.
    assert!(html.contains("integration.removed-owner"));
    assert!(
        html.matches("<rect").count() > 50,
        "the burn chart has bars"
    );
    for external in ["<link", "src=", "@import", "url(", "<script"] {
        assert!(!html.contains(external), "the page references {external}");
    }

    screenshot(&html_path, dir.path());
}

/// Renders the report in headless Chromium when it is installed; the PNG proves the page
/// loads and paints. Without Chromium this part is skipped, with the reason printed.
fn screenshot(html: &Path, dir: &Path) {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.is_file() {
        println!(
            "skipping the browser check: /usr/bin/chromium is not installed (apt-get install chromium)"
        );
        return;
    }
    let png = dir.join("report.png");
    let profile = dir.join("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // A blank page compresses to a few KiB; charts and text do not.
    assert!(
        bytes.len() > 40_000,
        "the screenshot looks blank ({} bytes)",
        bytes.len()
    );
    if std::env::var_os("KILN_KEEP_SCREENSHOT").is_some() {
        std::fs::copy(&png, repo_root().join("docs/audit-report.png")).unwrap();
    }
}
