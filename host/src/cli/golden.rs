//! `kiln test`: a golden test of a built plugin. The plugin runs against a copy of a
//! workspace snapshot (the fixture is never written) and its effects — a transformer's row
//! changes, deletions and errors, an auditor's findings — are compared with an expected JSON
//! file the author commits. `--update` (re)writes that file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use kiln_host::Clay;
use kiln_host::backend::local::LocalBackend;
use kiln_host::invocation::{AuditOptions, TransformOptions, now_ms, run_audit, run_transform};
use kiln_host::plugin::World;
use serde_json::{Value, json};

use super::run::InvokeArgs;
use super::{Context, plugins};

const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Args, Debug)]
pub(crate) struct TestArgs {
    /// A `.wasm` component, a plugin crate directory, or a bundled plugin's name.
    plugin: String,
    /// The workspace snapshot (a SQLite file) to run against; it is copied, never modified.
    #[arg(long, value_name = "FILE")]
    fixture: PathBuf,
    /// The table a transformer runs over (id or name).
    #[arg(long)]
    table: Option<String>,
    /// The expected effects; by default `<fixture stem>.<plugin>[.<table>].expected.json`
    /// next to the fixture.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Write the plugin's effects as the expected file instead of comparing.
    #[arg(long)]
    update: bool,
    /// How many days back an audit looks.
    #[arg(long, default_value_t = 90)]
    period_days: u64,
    /// An audit's "now" (ms since the epoch). By default the expected file's, so the test
    /// gives the same answer tomorrow; the clock when writing a new file.
    #[arg(long, value_name = "MS")]
    now: Option<i64>,
    /// Build a plugin crate directory given as <plugin> (its build scripts run natively, as
    /// you; kiln never builds one unasked, the bundled plugins excepted).
    #[arg(long)]
    build: bool,
    #[command(flatten)]
    invoke: InvokeArgs,
}

fn default_expect(fixture: &Path, plugin: &str, table: Option<&str>) -> PathBuf {
    let stem = fixture
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fixture".into());
    let plugin = Path::new(plugin)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| plugin.to_string());
    let mut name = format!("{stem}.{plugin}");
    if let Some(t) = table {
        name.push('.');
        name.push_str(&t.replace(['/', '\\', ' '], "_"));
    }
    name.push_str(".expected.json");
    fixture.with_file_name(name)
}

/// Copies the fixture (and its WAL, if a writer left one) into `dir`.
fn copy_fixture(fixture: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    if !fixture.is_file() {
        bail!(
            "the fixture {} does not exist; make one with `kiln --workspace <file> workspace seed --demo` or copy a workspace file",
            fixture.display()
        );
    }
    let copy = dir.join("workspace.sqlite");
    std::fs::copy(fixture, &copy)
        .with_context(|| format!("copying the fixture {}", fixture.display()))?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", fixture.display()));
        if side.is_file() {
            std::fs::copy(&side, dir.join(format!("workspace.sqlite{suffix}")))?;
        }
    }
    Ok(copy)
}

/// A transformer's effects, in row order and without timings, so the file only changes when
/// the plugin's behaviour does.
fn transform_effects(plugin: &str, report: &kiln_host::invocation::TransformReport) -> Value {
    let mut changed: Vec<Value> = report
        .changes
        .iter()
        .map(|c| {
            json!({
                "row": c.row_id,
                "cells": c.cells.iter().map(|cell| json!({
                    "column": cell.field,
                    "before": cell.before,
                    "after": cell.after,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    changed.sort_by(|a, b| a["row"].as_str().cmp(&b["row"].as_str()));
    let mut deleted = report.deleted.clone();
    deleted.sort();
    let mut errors: Vec<Value> = report
        .errors
        .iter()
        .map(|e| json!({"row": e.row_id, "message": e.message}))
        .collect();
    errors.sort_by(|a, b| a["row"].as_str().cmp(&b["row"].as_str()));
    json!({
        "plugin": plugin,
        "world": "transformer",
        "table": report.table_name,
        "rows_seen": report.rows_seen,
        "changed": changed,
        "deleted": deleted,
        "errors": errors,
        "failure": report.failure.as_ref().map(|f| f.error.clone()),
    })
}

fn read_expected(path: &Path) -> anyhow::Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "{} is not valid JSON; fix it or rewrite it with --update",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub(crate) async fn test(ctx: &Context, args: TestArgs) -> anyhow::Result<ExitCode> {
    let runtime = ctx.runtime(args.invoke.fuel.is_some())?;
    let plugin = plugins::load(&runtime, &args.plugin, args.build).await?;
    let expect_path = args
        .expect
        .clone()
        .unwrap_or_else(|| default_expect(&args.fixture, &args.plugin, args.table.as_deref()));
    let expected = if args.update {
        None
    } else {
        read_expected(&expect_path)?
    };
    if !args.update && expected.is_none() {
        bail!(
            "there is no expected file at {}; run the same command with --update to record the plugin's current effects",
            expect_path.display()
        );
    }

    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let copy = copy_fixture(&args.fixture, scratch.path())?;
    let mut local = LocalBackend::open(&copy)
        .with_context(|| format!("opening the fixture {}", args.fixture.display()))?;
    if let Some(member) = args.invoke.acting_as.as_deref() {
        local = local.acting_as(member)?;
    }
    let backend: Arc<dyn Clay> = Arc::new(local);

    let actual = match plugin.world() {
        World::Transformer => {
            let Some(table) = args.table.as_deref() else {
                bail!(
                    "{} is a transformer: name the table it runs over with --table",
                    plugin.name()
                );
            };
            let report = run_transform(
                &plugin,
                backend,
                table,
                TransformOptions {
                    invocation: args.invoke.invocation(&plugin),
                    ..TransformOptions::default()
                },
            )
            .await
            .with_context(|| format!("running {} on table {table}", plugin.name()))?;
            transform_effects(plugin.name(), &report)
        }
        World::Auditor => {
            let now = args
                .now
                .or_else(|| expected.as_ref().and_then(|e| e["now"].as_i64()))
                .unwrap_or_else(now_ms);
            let period_days = args.period_days.max(1);
            let (_, report) = run_audit(
                &plugin,
                backend,
                AuditOptions {
                    period: Duration::from_millis(period_days * DAY_MS as u64),
                    now: Some(now),
                    invocation: args.invoke.invocation(&plugin),
                    ..AuditOptions::default()
                },
            )
            .await
            .with_context(|| format!("auditing with {}", plugin.name()))?;
            json!({
                "plugin": plugin.name(),
                "world": "auditor",
                "now": now,
                "period_days": period_days,
                "summary": report.summary,
                "findings": report.findings,
            })
        }
    };
    let actual_text = super::output::json_text(&actual)? + "\n";

    if args.update {
        if let Some(parent) = expect_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&expect_path, &actual_text)
            .with_context(|| format!("writing {}", expect_path.display()))?;
        println!("updated {}", expect_path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let expected = expected.unwrap_or(Value::Null);
    if expected == actual {
        println!(
            "ok: {} matches {}",
            super::output::sanitize(plugin.name()),
            expect_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let expected_text = super::output::json_text(&expected)? + "\n";
    println!(
        "FAILED: {}'s effects differ from {} (- expected, + actual):\n",
        super::output::sanitize(plugin.name()),
        expect_path.display()
    );
    let diff = similar::TextDiff::from_lines(&expected_text, &actual_text);
    print!(
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header("expected", "actual")
    );
    println!("\nIf the new behaviour is right, record it with --update.");
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_expected_file_sits_next_to_the_fixture() {
        let p = default_expect(
            Path::new("fixtures/demo.sqlite"),
            "plugins/lead-score",
            Some("My Leads"),
        );
        assert_eq!(
            p,
            Path::new("fixtures/demo.lead-score.My_Leads.expected.json")
        );
        let p = default_expect(Path::new("demo.sqlite"), "seat-audit", None);
        assert_eq!(p, Path::new("demo.seat-audit.expected.json"));
    }
}
