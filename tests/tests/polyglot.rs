//! Plugins in Python and JavaScript, end to end with the real tools: `kiln new --lang`
//! scaffolds a project whose own tests pass under pytest and node's test runner, `kiln build`
//! installs the pinned componentize-py / componentize-js, builds against the plugin's own
//! narrow world, embeds its kiln.toml and compiles it into the cache, and the component
//! changes rows (or reports findings) in a real workspace. The ports in `plugins/` give the
//! same effects and findings as the Rust originals.
//!
//! Every build here pays a pinned tool and a compile of a 10–20 MB component, so the tests
//! share one tools directory (under `target/tools`) and one compiled-code cache.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kiln_tests::{kiln_bin, repo_root};

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One cache and one tools directory for every test in this binary.
fn shared() -> &'static (tempfile::TempDir, PathBuf) {
    static SHARED: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let cache = tempfile::tempdir().unwrap();
        (cache, kiln_tests::tools_dir())
    })
}

fn kiln(ws: &Path) -> Command {
    let (cache, tools) = shared();
    let mut cmd = Command::new(kiln_bin());
    cmd.env_remove("KILN_WORKSPACE")
        .env("KILN_CACHE_DIR", cache.path())
        .env("KILN_TOOLS_DIR", tools)
        .env("KILN_LOG", "warn")
        .arg("--workspace")
        .arg(ws);
    cmd
}

/// Runs `cmd`, which must succeed, and returns its stdout.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A freshly seeded demo workspace in `dir`.
fn demo(dir: &Path, name: &str) -> PathBuf {
    let ws = dir.join(format!("{name}.sqlite"));
    ok(kiln(&ws).args(["workspace", "seed", "--demo"]));
    ws
}

fn leads_csv(ws: &Path) -> String {
    ok(kiln(ws).args(["workspace", "export", "--table", "Leads", "--csv"]))
}

/// The pytest the suite runs, pinned.
const PYTEST: &str = "8.3.4";

/// Where pytest is importable from: nowhere extra when the machine's python3 has it, else a
/// pinned copy pip installs once into `target/tools` (so a fresh machine needs no set-up).
fn pytest_path() -> Option<PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let has = Command::new("python3")
            .args(["-c", "import pytest"])
            .status()
            .is_ok_and(|s| s.success());
        if has {
            return None;
        }
        let dir = kiln_tests::tools_dir().join(format!("pytest-{PYTEST}"));
        if !dir.is_dir() {
            // Installed beside and renamed into place last, so an interrupted install is
            // never taken for a whole one.
            let staged = kiln_tests::tools_dir()
                .join(format!("pytest-{PYTEST}.partial-{}", std::process::id()));
            let out = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("--target")
                .arg(&staged)
                .arg(format!("pytest=={PYTEST}"))
                .output()
                .unwrap();
            assert!(out.status.success(), "installing pytest:\n{}", text(&out));
            // Another run may have put its copy there first; either is whole.
            if std::fs::rename(&staged, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&staged);
            }
        }
        Some(dir)
    })
    .clone()
}

/// A project's own tests, run the way its author would, with no bytecode left behind.
fn python_tests(dir: &Path, extra_path: Option<&Path>) {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let path: Vec<PathBuf> = extra_path
        .map(Path::to_path_buf)
        .into_iter()
        .chain(pytest_path())
        .collect();
    if !path.is_empty() {
        cmd.env("PYTHONPATH", std::env::join_paths(path).unwrap());
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "pytest failed in {} (is pytest installed? `python3 -m pip install pytest`):\n{}",
        dir.display(),
        text(&out)
    );
}

fn node_tests(dir: &Path) {
    let out = Command::new("node")
        .arg("--test")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node --test failed in {}:\n{}",
        dir.display(),
        text(&out)
    );
}

/// `npm install` of a project whose only dependency is a `file:` one: offline.
fn npm_install(dir: &Path) {
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--offline"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "npm install failed:\n{}", text(&out));
}

/// The interfaces a component imports, from `kiln inspect --json`.
fn imports(ws: &Path, wasm: &Path) -> Vec<String> {
    let out = ok(kiln(ws).arg("inspect").arg(wasm).arg("--json"));
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect --json: {e}\n{out}"));
    json["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Scaffolds `name` in `lang` and `world`, runs its own tests, builds it and returns the
/// project directory and the component.
fn scaffold(dir: &Path, ws: &Path, name: &str, lang: &str, world: &str) -> (PathBuf, PathBuf) {
    ok(kiln(ws)
        .args(["new", name, "--lang", lang, "--world", world, "--dir"])
        .arg(dir));
    let project = dir.join(name);
    match lang {
        "python" => python_tests(&project, None),
        _ => {
            npm_install(&project);
            node_tests(&project);
        }
    }
    let built = ok(kiln(ws).arg("build").arg(&project));
    // Built, and compiled into the cache at build time.
    assert!(built.contains("compiled for this machine"), "{built}");
    let wasm = project.join("dist").join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{built}");
    (project, wasm)
}

/// Emails in the export that are not yet trimmed and lower-case.
fn messy_emails(csv: &str) -> usize {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let email = header.iter().position(|h| *h == "Email").unwrap();
    lines
        .filter_map(|l| l.split(',').nth(email).map(str::to_string))
        // Blank ones are the template's error rows, left as they are.
        .filter(|e| !e.contains('"') && !e.trim().is_empty() && *e != e.trim().to_lowercase())
        .count()
}

/// Narrow: a component imports its Clay interfaces and nothing of WASI's network, HTTP or
/// filesystem. Python's WASI is stubbed out whole; JavaScript's engine needs streams,
/// clocks and random, and kiln composes a shim over its filesystem imports.
fn assert_no_system_access(lang: &str, imports: &[String]) {
    for import in imports {
        let refused = match lang {
            "python" => import.starts_with("wasi:"),
            _ => ["wasi:http", "wasi:sockets", "wasi:filesystem"]
                .iter()
                .any(|p| import.starts_with(p)),
        };
        assert!(!refused, "{import} in {imports:?}");
    }
}

fn transformer_template(lang: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ws = demo(dir.path(), "ws");
    let name = format!("tidy-{lang}");
    let (_, wasm) = scaffold(dir.path(), &ws, &name, lang, "transformer");

    let imports = imports(&ws, &wasm);
    assert_no_system_access(lang, &imports);
    assert!(
        imports.iter().any(|i| i.starts_with("clay:api/tables@")),
        "{imports:?}"
    );

    let before = messy_emails(&leads_csv(&ws));
    assert!(before > 0, "the demo's Leads have messy emails to clean");
    let ran = ok(kiln(&ws).arg("run").arg(&wasm).args(["--table", "Leads"]));
    assert_eq!(messy_emails(&leads_csv(&ws)), 0, "{ran}");
}

#[test]
fn a_python_transformer_from_the_template_tests_builds_and_cleans_rows() {
    transformer_template("python");
}

#[test]
fn a_js_transformer_from_the_template_tests_builds_and_cleans_rows() {
    transformer_template("js");
}

fn auditor_template(lang: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ws = demo(dir.path(), "ws");
    let name = format!("spend-{lang}");
    let (_, wasm) = scaffold(dir.path(), &ws, &name, lang, "auditor");
    // Its manifest asks for credits only, and so does the component.
    let imports = imports(&ws, &wasm);
    assert_no_system_access(lang, &imports);
    let clay: Vec<String> = imports
        .into_iter()
        .filter(|i| i.starts_with("clay:api/") && !i.starts_with("clay:api/types@"))
        .map(|i| {
            i["clay:api/".len()..]
                .split('@')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(clay, ["credits", "log", "config"], "{clay:?}");
    let out = ok(kiln(&ws).arg("audit").arg(&wasm).args(["--format", "json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        !report["report"]["findings"].as_array().unwrap().is_empty(),
        "{out}"
    );
}

#[test]
fn a_python_auditor_from_the_template_tests_builds_and_reports() {
    auditor_template("python");
}

#[test]
fn a_js_auditor_from_the_template_tests_builds_and_reports() {
    auditor_template("js");
}

#[test]
fn normalize_contacts_in_python_changes_the_same_cells_as_in_rust() {
    let dir = tempfile::tempdir().unwrap();
    let project = repo_root().join("plugins/normalize-contacts-py");
    python_tests(&project, Some(&repo_root().join("guest-sdk-python")));
    let rust_ws = demo(dir.path(), "rust");
    let py_ws = dir.path().join("python.sqlite");
    std::fs::copy(&rust_ws, &py_ws).unwrap();

    let built = ok(kiln(&py_ws).arg("build").arg(&project));
    assert!(built.contains("(Python)"), "{built}");
    let wasm = project.join("dist/normalize-contacts-py.wasm");
    ok(kiln(&rust_ws).args(["run", "normalize-contacts", "--table", "Leads"]));
    ok(kiln(&py_ws)
        .arg("run")
        .arg(&wasm)
        .args(["--table", "Leads"]));
    let (rust, python) = (leads_csv(&rust_ws), leads_csv(&py_ws));
    assert_ne!(
        rust,
        leads_csv(&demo(dir.path(), "untouched")),
        "Rust changed rows"
    );
    for (i, (r, p)) in rust.lines().zip(python.lines()).enumerate() {
        assert_eq!(r, p, "line {i} differs");
    }
    assert_eq!(rust.lines().count(), python.lines().count());
}

#[test]
fn seat_audit_in_javascript_finds_what_rust_finds() {
    let dir = tempfile::tempdir().unwrap();
    let project = repo_root().join("plugins/seat-audit-js");
    npm_install(&project);
    node_tests(&project);
    let ws = demo(dir.path(), "ws");
    let built = ok(kiln(&ws).arg("build").arg(&project));
    assert!(built.contains("(JavaScript)"), "{built}");
    let wasm = project.join("dist/seat-audit-js.wasm");
    assert_no_system_access("js", &imports(&ws, &wasm));
    let report = |plugin: &Path| -> serde_json::Value {
        let out = ok(kiln(&ws)
            .arg("audit")
            .arg(plugin)
            .args(["--format", "json"]));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        json["report"].clone()
    };
    let rust = report(Path::new("seat-audit"));
    let js = report(&wasm);
    assert!(!rust["findings"].as_array().unwrap().is_empty());
    assert_eq!(rust, js);
}

#[test]
fn the_sdks_pass_their_own_tests() {
    python_tests(&repo_root().join("guest-sdk-python"), None);
    node_tests(&repo_root().join("guest-sdk-js"));
}

/// A component importing `wasi:http` (as componentize-js's defaults make one) is refused by
/// name, with what to do, not as a mismatched world.
#[test]
fn a_missing_wasi_import_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("fetches.wasm");
    let bytes = wat::parse_str(
        r#"(component
            (import "wasi:http/outgoing-handler@0.2.3" (instance))
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $t (canon lift (core func $i "f")))
            (export "transform" (func $t)))"#,
    )
    .unwrap();
    std::fs::write(&wasm, bytes).unwrap();
    let out = kiln(&dir.path().join("ws.sqlite"))
        .arg("inspect")
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out);
    assert!(err.contains("`wasi:http/outgoing-handler@0.2.3`"), "{err}");
    assert!(err.contains("kiln does not provide"), "{err}");
    assert!(err.contains("-d http -d fetch-event"), "{err}");
    assert!(!err.contains("does not match world"), "{err}");
}

/// The bundled plugins ship inside the binary: with no cargo on the PATH, `kiln run
/// normalize-contacts` still runs.
#[test]
fn bundled_plugins_run_without_cargo() {
    let dir = tempfile::tempdir().unwrap();
    let ws = demo(dir.path(), "ws");
    let out = kiln(&ws)
        .env("PATH", "/nonexistent")
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .args(["run", "normalize-contacts", "--table", "Leads", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("building"), "{}", text(&out));
}

/// A new manifest in the same code does not recompile it: the cache is keyed by the code.
#[test]
fn a_manifest_change_reuses_the_compiled_code() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws.sqlite");
    let cache = dir.path().join("cache");
    let wasm = kiln_tests::seat_audit();
    let load = |path: &Path| {
        let out = kiln(&ws)
            .env("KILN_CACHE_DIR", &cache)
            .env("KILN_LOG", "kiln=debug")
            .arg("inspect")
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    assert!(load(&wasm).contains("Compiled"));
    let manifest = dir.path().join("kiln.toml");
    let original =
        std::fs::read_to_string(repo_root().join("plugins/seat-audit/kiln.toml")).unwrap();
    std::fs::write(
        &manifest,
        original.replace("memory_mib = 128", "memory_mib = 96"),
    )
    .unwrap();
    let other = dir.path().join("seat_audit.wasm");
    ok(kiln(&ws)
        .args(["manifest", "embed"])
        .arg(&wasm)
        .arg(&manifest)
        .arg("-o")
        .arg(&other));
    let second = load(&other);
    assert!(second.contains("Cache"), "{second}");
    assert!(second.contains("96.0 MiB"), "{second}");
    let listed = ok(kiln(&ws)
        .env("KILN_CACHE_DIR", &cache)
        .args(["cache", "list", "--json"]));
    let entries: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 1, "{listed}");
    let pruned = ok(kiln(&ws)
        .env("KILN_CACHE_DIR", &cache)
        .args(["cache", "prune", "--all"]));
    assert!(pruned.contains("removed 1"), "{pruned}");
}
