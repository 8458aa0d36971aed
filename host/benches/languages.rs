//! Python and JavaScript against Rust on the same transform: the transformer `kiln new`
//! scaffolds in each language (trim and lower-case the Email column), over the demo's Leads
//! five times over (10,000 rows, batches of 1,024).
//!
//! One-shot figures, printed before criterion runs: build time (`kiln build
//! --no-precompile`), component size, cold compile, and the first load of a process with the
//! cache made at build. Criterion then measures warm instantiation and rows per second.
//! Ratios against Rust come from this one run (the machine is noisy).
//!
//! Needs the release `kiln` binary for scaffolding and building:
//! `cargo build --release -p kiln-host && cargo bench -p kiln-host --bench languages`.
//! Python and JavaScript tools are installed into `target/tools` on first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kiln_host::invocation::{InvocationOptions, TransformerInstance};
use kiln_host::{Plugin, Runtime, RuntimeConfig};

mod common;
use common::{ROWS, fixture, transform_all};

const LANGS: [&str; 3] = ["rust", "python", "js"];

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

fn kiln() -> Command {
    let bin = target_dir().join("release/kiln");
    assert!(
        bin.is_file(),
        "{} is missing: `cargo build --release -p kiln-host` first",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    cmd.env("KILN_TOOLS_DIR", target_dir().join("tools"))
        .env("KILN_LOG", "error");
    cmd
}

/// Runs `cmd`, which must succeed; returns its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Built {
    lang: &'static str,
    wasm: PathBuf,
    build: Duration,
}

/// Scaffolds and builds the template transformer in `lang` twice and times the second build:
/// an author's usual one, with the tools installed and (Rust) the dependencies compiled.
/// Python and JavaScript keep no other state between builds.
fn build(dir: &Path, lang: &'static str) -> Built {
    let name = format!("tidy-{lang}");
    run(kiln()
        .args([
            "new",
            &name,
            "--world",
            "transformer",
            "--lang",
            lang,
            "--dir",
        ])
        .arg(dir));
    let project = dir.join(&name);
    run(kiln().args(["build", "--no-precompile"]).arg(&project));
    if lang == "rust" {
        let lib = project.join("src/lib.rs");
        let text = std::fs::read_to_string(&lib).expect("lib.rs");
        std::fs::write(&lib, format!("{text}\n")).expect("touch lib.rs");
    }
    let started = Instant::now();
    let said = run(kiln().args(["build", "--no-precompile"]).arg(&project));
    let build = started.elapsed();
    // "built NAME (LANG) → PATH (SIZE) in …"
    let wasm = said
        .split(" → ")
        .nth(1)
        .and_then(|rest| rest.split(" (").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no component path in {said:?}"));
    assert!(wasm.is_file(), "{} missing", wasm.display());
    Built { lang, wasm, build }
}

fn runtime(cache: Option<&Path>) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: cache.map(Path::to_path_buf),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

fn benches(c: &mut Criterion) {
    let fx = fixture();
    let dir = tempfile::tempdir().expect("temp dir");
    let built: Vec<Built> = LANGS.iter().map(|l| build(dir.path(), l)).collect();

    let mut plugins: Vec<(&'static str, Plugin)> = Vec::new();
    eprintln!("\n| | build | size | cold compile | first load, cache made at build |");
    eprintln!("|---|---|---|---|---|");
    for b in &built {
        let size = std::fs::metadata(&b.wasm).map(|m| m.len()).unwrap_or(0);
        let cache = tempfile::tempdir().expect("cache dir");
        // What `kiln build` does after building: compile into the cache.
        let started = Instant::now();
        fx.rt
            .block_on(runtime(Some(cache.path())).load_file(&b.wasm))
            .expect("compiles");
        let compile = started.elapsed();
        // A new process's first load: a new engine, the entry read from disk.
        let started = Instant::now();
        let plugin = fx
            .rt
            .block_on(runtime(Some(cache.path())).load_file(&b.wasm))
            .expect("loads");
        let first_load = started.elapsed();
        eprintln!(
            "| {} | {:.1} s | {:.1} MB | {:.2} s | {:.0} ms |",
            b.lang,
            b.build.as_secs_f64(),
            size as f64 / 1e6,
            compile.as_secs_f64(),
            first_load.as_secs_f64() * 1e3
        );
        plugins.push((b.lang, plugin));
    }

    let mut group = c.benchmark_group("instantiate/warm");
    for (lang, plugin) in &plugins {
        group.bench_function(*lang, |b| {
            b.to_async(&fx.rt).iter(|| async {
                TransformerInstance::new(plugin, fx.backend.clone(), InvocationOptions::default())
                    .await
                    .expect("instantiates")
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("template transformer/10k rows in batches of 1024");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    for (lang, plugin) in &plugins {
        group.bench_function(*lang, |b| {
            b.to_async(&fx.rt).iter(|| transform_all(&fx, plugin))
        });
    }
    group.finish();
}

criterion_group!(languages, benches);
criterion_main!(languages);
