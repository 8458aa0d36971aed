//! Embeds what an installed kiln needs without its source tree: the bundled Rust plugins,
//! built to components here (so `cargo install --path host` then `kiln run
//! normalize-contacts` works with no cargo at run time), the Python and JavaScript guest
//! SDKs, the Rust SDK's sources, the `kiln new` templates, and the shim `kiln build` composes into
//! JavaScript plugins (`shims/no-filesystem`).
//!
//! Each file is named to cargo on its own (a directory would be rescanned whole, caches and
//! installed packages included); a file added to a listed directory needs this script to run
//! again, which touching it does.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Directories whose files are embedded, and the table each becomes.
const TREES: &[(&str, &str)] = &[
    ("PYTHON_SDK", "../guest-sdk-python/kiln_sdk"),
    ("JS_SDK", "../guest-sdk-js"),
    ("PYTHON_TEMPLATES", "src/cli/scaffold/python"),
    ("JS_TEMPLATES", "src/cli/scaffold/js"),
    // The Rust SDK and what it builds on, for `kiln new --lang rust` away from this tree.
    ("RUST_SDK", "../guest-sdk"),
    ("RUST_BATCH", "../batch"),
    ("WIT", "../wit"),
];

/// Never embedded: tests, caches and installed dependencies.
const SKIP: &[&str] = &[
    "node_modules",
    "__pycache__",
    "test",
    "tests",
    ".pytest_cache",
];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut out = String::new();
    for (table, dir) in TREES {
        let mut files = Vec::new();
        collect(&root.join(dir), Path::new(""), &mut files);
        files.sort();
        let _ = writeln!(out, "pub static {table}: &[(&str, &[u8])] = &[");
        for (rel, abs) in files {
            println!("cargo:rerun-if-changed={}", abs.display());
            let _ = writeln!(
                out,
                "    ({rel:?}, include_bytes!({:?})),",
                abs.display().to_string()
            );
        }
        let _ = writeln!(out, "];");
    }
    let wasm = WasmBuilder::new(&root);
    out.push_str(&bundled(&root, &wasm));
    out.push_str(&shims(&root, &wasm));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KILN_NO_BUNDLED");
    let dest = out_dir().join("embedded.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("writing {}: {e}", dest.display());
    }
}

fn collect(dir: &Path, rel: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if SKIP.contains(&name_str.as_ref())
            || name_str.starts_with('.')
            || name_str.ends_with(".pyc")
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(&path, &rel.join(&name), files);
        } else {
            files.push((rel.join(&name).to_string_lossy().into_owned(), path));
        }
    }
}

/// The bundled Rust plugins as components, built exactly as `kiln build` builds them (one
/// `cargo build` per crate, into the workspace's `target/kiln-plugins`), so the test suite's
/// builds of the same crates find them fresh. Anything that goes wrong leaves the table
/// empty with a warning: kiln then builds a bundled plugin from this source tree when run.
fn bundled(root: &Path, wasm: &WasmBuilder) -> String {
    let plugins = root.join("../plugins");
    let mut crates: Vec<String> = std::fs::read_dir(&plugins)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    for dir in [&plugins, &root.join("../guest-sdk"), &root.join("../batch")] {
        watch(dir);
    }
    let empty = "pub static BUNDLED: &[(&str, &[u8], &str)] = &[];\n".to_string();
    if std::env::var_os("KILN_NO_BUNDLED").is_some() {
        return empty;
    }
    let mut table = String::from("pub static BUNDLED: &[(&str, &[u8], &str)] = &[\n");
    for name in &crates {
        let dir = plugins.join(name);
        let kiln_toml = dir.join("kiln.toml");
        match wasm.build(&dir, name) {
            Some(copy) if kiln_toml.is_file() => {
                let _ = writeln!(
                    table,
                    "    ({name:?}, include_bytes!({:?}), include_str!({:?})),",
                    copy.display().to_string(),
                    kiln_toml.display().to_string()
                );
            }
            _ => {
                println!(
                    "cargo:warning=kiln: could not build the bundled plugin {name} for wasm32-wasip2{}; `kiln run {name}` will build it from this source tree",
                    wasm.why()
                );
            }
        }
    }
    table.push_str("];\n");
    table
}

/// The component `kiln build` composes into JavaScript plugins so they import no
/// `wasi:filesystem` (`shims/no-filesystem`). Without it kiln refuses to build JavaScript
/// and says why.
fn shims(root: &Path, wasm: &WasmBuilder) -> String {
    let dir = root.join("../shims/no-filesystem");
    watch(&dir);
    match wasm.build(&dir, "kiln-shim-no-filesystem") {
        Some(copy) => format!(
            "pub static NO_FILESYSTEM: Option<&[u8]> = Some(include_bytes!({:?}));\n",
            copy.display().to_string()
        ),
        None => {
            println!(
                "cargo:warning=kiln: could not build shims/no-filesystem for wasm32-wasip2{}; this kiln cannot build JavaScript plugins",
                wasm.why()
            );
            "pub static NO_FILESYSTEM: Option<&[u8]> = None;\n".to_string()
        }
    }
}

/// Builds crates of this workspace to wasm32-wasip2 components, as `kiln build` does.
struct WasmBuilder {
    /// `target/kiln-plugins`, where `kiln build` puts the same crates.
    target: Option<PathBuf>,
    /// A HOME of our own for cargo, removed on drop.
    home: PathBuf,
    rustup_ok: bool,
}

impl WasmBuilder {
    fn new(root: &Path) -> Self {
        watch(&root.join("../wit"));
        println!(
            "cargo:rerun-if-changed={}",
            root.join("../Cargo.lock").display()
        );
        let target = workspace_target_dir().map(|t| t.join("kiln-plugins"));
        if target.is_none() {
            println!(
                "cargo:warning=kiln: cannot tell the target directory; bundled components are not embedded"
            );
        }
        let home =
            std::env::temp_dir().join(format!("kiln-build-script-home-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&home);
        let rustup_ok = ensure_wasm_target(&home);
        WasmBuilder {
            target,
            home,
            rustup_ok,
        }
    }

    /// Builds the crate in `dir` (package `name`) in release and returns a copy of its
    /// component in `OUT_DIR`, or `None` when that fails.
    fn build(&self, dir: &Path, name: &str) -> Option<PathBuf> {
        let target = self.target.as_ref()?;
        let mut cmd = std::process::Command::new("cargo");
        scrub(&mut cmd, &self.home);
        let status = cmd
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target)
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let wasm = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        if !status.is_ok_and(|s| s.success()) || !wasm.is_file() {
            return None;
        }
        // A copy of our own: a later build of the same crate rewriting cargo's artifact
        // must not make this crate look stale.
        let copy = out_dir().join(format!("bundled-{name}.wasm"));
        if std::fs::copy(&wasm, &copy).is_err() {
            println!("cargo:warning=kiln: could not copy {}", wasm.display());
            return None;
        }
        Some(copy)
    }

    /// Why a build may have failed, for the warning.
    fn why(&self) -> &'static str {
        if self.rustup_ok {
            ""
        } else {
            " (the wasm32-wasip2 target is missing)"
        }
    }
}

impl Drop for WasmBuilder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// `<target>` from `OUT_DIR` (`<target>/[<triple>/]<profile>/build/<pkg>/out`), or
/// `CARGO_TARGET_DIR`.
fn workspace_target_dir() -> Option<PathBuf> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR")?);
    let profile_dir = out.ancestors().nth(3)?;
    let above = profile_dir.parent()?;
    let triple = std::env::var("TARGET").ok();
    if triple.is_some() && above.file_name().and_then(|n| n.to_str()) == triple.as_deref() {
        return above.parent().map(Path::to_path_buf);
    }
    Some(above.to_path_buf())
}

/// Adds the wasm32-wasip2 target when rustup lacks it (rustup does not add targets named in
/// rust-toolchain.toml to an installed toolchain). Returns whether it is there.
fn ensure_wasm_target(home: &Path) -> bool {
    let mut list = std::process::Command::new("rustup");
    scrub(&mut list, home);
    let Ok(out) = list.args(["target", "list", "--installed"]).output() else {
        // No rustup: the toolchain is managed some other way.
        return true;
    };
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip2")
    {
        return true;
    }
    let mut add = std::process::Command::new("rustup");
    scrub(&mut add, home);
    add.args(["target", "add", "wasm32-wasip2"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The environment `kiln build` gives cargo: nothing of this build's (cargo's variables for
/// build scripts, RUSTFLAGS, jobserver) and no secrets, with the real toolchain locations.
fn scrub(cmd: &mut std::process::Command, home: &Path) {
    let real_home = std::env::var_os("HOME").map(PathBuf::from);
    let located = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| real_home.as_ref().map(|h| h.join(default)))
    };
    let cargo_home = located("CARGO_HOME", ".cargo");
    let rustup_home = located("RUSTUP_HOME", ".rustup").filter(|p| p.is_dir());
    cmd.env_clear();
    for var in ["PATH", "RUSTUP_TOOLCHAIN", "TERM", "LANG"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.env("HOME", home);
    if let Some(dir) = cargo_home {
        cmd.env("CARGO_HOME", dir);
    }
    if let Some(dir) = rustup_home {
        cmd.env("RUSTUP_HOME", dir);
    }
}

/// Names every file under `dir` (but caches and build output) to cargo.
fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if SKIP.contains(&name.as_ref())
            || name.starts_with('.')
            || name == "target"
            || name == "dist"
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn out_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default())
}
