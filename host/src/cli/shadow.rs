//! `kiln shadow`: a candidate plugin beside a baseline over the same batches (or the same
//! audit scope); the candidate never writes. What differs decides whether to roll it out.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use kiln_host::World;
use kiln_host::invocation::{
    AuditOptions, AuditShadowReport, RowEffect, Shadow, ShadowReport, TransformOptions,
    run_transform, shadow_audit,
};

use super::run::InvokeArgs;
use super::{Common, Context, budget, output, plugins};
use kiln_host::report::esc;

#[derive(Args, Debug)]
pub(crate) struct ShadowArgs {
    /// The plugin in use (a `.wasm`, a crate directory or a bundled plugin's name).
    #[arg(long)]
    baseline: String,
    /// The plugin to compare with it; it never writes.
    #[arg(long)]
    candidate: String,
    /// The table, for transformers.
    #[arg(long)]
    table: Option<String>,
    /// Keep the baseline from writing too (by default it runs as `kiln run` would).
    #[arg(long)]
    dry_run: bool,
    /// Rows per call into the plugins.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// How many days back an audit looks.
    #[arg(long, default_value_t = 90)]
    period_days: u64,
    /// How to present the comparison (`--json` is short for `--format json`).
    #[arg(long, value_enum)]
    format: Option<ShadowFormat>,
    /// Write the comparison to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A setting for the candidate only, `key=value` (repeatable); by default it gets the
    /// baseline's (`--config`).
    #[arg(long = "candidate-config", value_name = "KEY=VALUE")]
    candidate_config: Vec<String>,
    #[command(flatten)]
    invoke: InvokeArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ShadowFormat {
    Table,
    Json,
    Html,
}

pub(crate) async fn shadow(ctx: &Context, args: ShadowArgs) -> anyhow::Result<ExitCode> {
    let format = match (args.format, args.common.json) {
        (None, true) | (Some(ShadowFormat::Json), _) => ShadowFormat::Json,
        (Some(f), false) => f,
        (None, false) => ShadowFormat::Table,
        (Some(f), true) => bail!("--json asks for JSON but --format asks for {f:?}; pass one"),
    };
    let opened = super::remote::open(ctx, args.invoke.acting_as.as_deref())?;
    let runtime = ctx.runtime(args.invoke.fuel.is_some())?;
    let mut invocation = kiln_host::invocation::InvocationOptions::default();
    budget::attach(&opened.state, &mut invocation, opened.member.clone())?;
    let baseline = plugins::load_recorded(
        &runtime,
        &args.baseline,
        args.common.build,
        invocation.trail.as_ref(),
    )
    .await?;
    let candidate = plugins::load_recorded(
        &runtime,
        &args.candidate,
        args.common.build,
        invocation.trail.as_ref(),
    )
    .await?;
    if baseline.world() != candidate.world() {
        bail!(
            "the baseline {} is a {} and the candidate {} a {}: compare plugins of one kind",
            baseline.name(),
            baseline.world(),
            candidate.name(),
            candidate.world()
        );
    }
    let mut candidate_invocation = invocation.clone();
    args.invoke.apply(&baseline, &mut invocation);
    args.invoke.apply(&candidate, &mut candidate_invocation);
    for kv in &args.candidate_config {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--candidate-config `{kv}` is not KEY=VALUE"))?;
        candidate_invocation
            .config
            .insert(k.trim().to_string(), v.to_string());
    }
    let backend = opened.clay.clone();
    let (rendered, identical) = match baseline.world() {
        World::Transformer => {
            let Some(table) = &args.table else {
                bail!("name the table both transformers run on (--table)");
            };
            let options = TransformOptions {
                rows_per_batch: args.batch_size,
                dry_run: args.dry_run,
                invocation,
                shadow: Some(Shadow {
                    plugin: candidate.clone(),
                    invocation: candidate_invocation,
                }),
                ..TransformOptions::default()
            };
            let run = run_transform(&baseline, backend, table, options)
                .await
                .with_context(|| {
                    format!("shadowing {} with {}", baseline.name(), candidate.name())
                })?;
            let report = ShadowReport::of(&run).context("the run kept no shadow report")?;
            let identical = report.identical();
            (
                match format {
                    ShadowFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
                    ShadowFormat::Html => html(&report),
                    ShadowFormat::Table => text(&report),
                },
                identical,
            )
        }
        World::Auditor => {
            let options = AuditOptions {
                period: Duration::from_secs(args.period_days.max(1) * 24 * 3600),
                invocation,
                ..AuditOptions::default()
            };
            let report = shadow_audit(
                &baseline,
                &candidate,
                backend,
                options,
                candidate_invocation,
            )
            .await?;
            let identical = report.identical();
            (
                match format {
                    ShadowFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
                    ShadowFormat::Html => audit_html(&report),
                    ShadowFormat::Table => audit_text(&report),
                },
                identical,
            )
        }
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, rendered).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{rendered}"),
    }
    // Differences are the answer, not a failure: exit 0 when they agree, 1 when not.
    Ok(if identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn effect(e: &RowEffect) -> String {
    match e {
        RowEffect::Unchanged => "unchanged".into(),
        RowEffect::Deleted => "deleted".into(),
        RowEffect::Failed(m) => format!("failed: {m}"),
        RowEffect::Changed(cells) => cells
            .iter()
            .map(|(field, v)| format!("{field} = {}", output::cell(v)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn text(r: &ShadowReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "shadow on table {} ({}): {} rows, {} treated the same, {} differently",
        output::sanitize(&r.table_name),
        r.table_id,
        r.rows,
        r.rows_same,
        r.differences.len()
    );
    let mut t = output::table(&[
        "",
        "plugin",
        "changed",
        "deleted",
        "failed",
        "limits hit",
        "plugin ms",
        "host calls",
        "credits",
        "applied",
    ]);
    for (role, s) in [("baseline", &r.baseline), ("candidate", &r.candidate)] {
        t.add_row(vec![
            role.to_string(),
            output::sanitize(&s.plugin),
            s.changed.to_string(),
            s.deleted.to_string(),
            s.failed.to_string(),
            output::sanitize(&s.limits_hit.join(", ")),
            format!("{:.0}", s.plugin_ms),
            s.host_calls.to_string(),
            format!("{}", s.credits_spent),
            if s.applied { "yes" } else { "no" }.to_string(),
        ]);
    }
    let _ = writeln!(out, "{t}");
    if !r.differences.is_empty() {
        let mut t = output::table(&["row", "difference", "baseline", "candidate"]);
        for d in r.differences.iter().take(50) {
            t.add_row(vec![
                output::sanitize(&d.row_id),
                format!("{:?}", d.difference),
                output::sanitize(&effect(&d.baseline)),
                output::sanitize(&effect(&d.candidate)),
            ]);
        }
        let _ = writeln!(out, "{t}");
        if r.differences.len() > 50 {
            let _ = writeln!(
                out,
                "… and {} more (use --json for all)",
                r.differences.len() - 50
            );
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}th{{background:#f4f4f4}}\
.same{{color:#2a7}}.diff{{color:#c33}}</style></head><body><h1>{t}</h1>{body}</body></html>\n",
        t = esc(title)
    )
}

fn html(r: &ShadowReport) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>Table <b>{}</b> ({}): {} rows, <span class=\"same\">{} treated the same</span>, \
         <span class=\"diff\">{} differently</span>.</p>",
        esc(&r.table_name),
        esc(&r.table_id),
        r.rows,
        r.rows_same,
        r.differences.len()
    );
    b.push_str("<table><tr><th></th><th>plugin</th><th>changed</th><th>deleted</th><th>failed</th><th>limits hit</th><th>plugin ms</th><th>host calls</th><th>credits</th><th>applied</th></tr>");
    for (role, s) in [("baseline", &r.baseline), ("candidate", &r.candidate)] {
        let _ = write!(
            b,
            "<tr><td>{role}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.plugin),
            s.changed,
            s.deleted,
            s.failed,
            esc(&s.limits_hit.join(", ")),
            s.plugin_ms,
            s.host_calls,
            s.credits_spent,
            if s.applied { "yes" } else { "no" }
        );
    }
    b.push_str("</table>");
    if !r.differences.is_empty() {
        b.push_str("<h2>Rows that differ</h2><table><tr><th>row</th><th>difference</th><th>baseline</th><th>candidate</th></tr>");
        for d in &r.differences {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.row_id),
                d.difference,
                esc(&effect(&d.baseline)),
                esc(&effect(&d.candidate))
            );
        }
        b.push_str("</table>");
    }
    page(
        &format!(
            "Shadow: {} against {}",
            r.candidate.plugin, r.baseline.plugin
        ),
        &b,
    )
}

fn finding(f: &kiln_host::invocation::Finding) -> String {
    format!("{:?} {}: {}", f.severity, f.code, f.message)
}

fn audit_text(r: &AuditShadowReport) -> String {
    let mut out = String::new();
    for (role, s) in [("baseline", &r.baseline), ("candidate", &r.candidate)] {
        let _ = writeln!(
            out,
            "{role} {}: {} findings in {:.0} ms{}",
            output::sanitize(&s.plugin),
            s.findings,
            s.elapsed_ms,
            s.error
                .as_ref()
                .map(|e| format!(", failed: {}", output::sanitize(e)))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "{} findings in both", r.findings_same);
    for (label, findings) in [
        ("only the baseline", &r.only_baseline),
        ("only the candidate", &r.only_candidate),
    ] {
        for f in findings {
            let _ = writeln!(out, "{label}: {}", output::sanitize(&finding(f)));
        }
    }
    out
}

fn audit_html(r: &AuditShadowReport) -> String {
    let mut b = String::new();
    for (role, s) in [("baseline", &r.baseline), ("candidate", &r.candidate)] {
        let _ = write!(
            b,
            "<p>{role} <b>{}</b>: {} findings in {:.0} ms{}</p>",
            esc(&s.plugin),
            s.findings,
            s.elapsed_ms,
            s.error
                .as_ref()
                .map(|e| format!(", failed: {}", esc(e)))
                .unwrap_or_default()
        );
    }
    let _ = write!(b, "<p>{} findings in both.</p>", r.findings_same);
    b.push_str("<table><tr><th>reported by</th><th>finding</th></tr>");
    for (label, findings) in [
        ("only the baseline", &r.only_baseline),
        ("only the candidate", &r.only_candidate),
    ] {
        for f in findings {
            let _ = write!(b, "<tr><td>{label}</td><td>{}</td></tr>", esc(&finding(f)));
        }
    }
    b.push_str("</table>");
    page(
        &format!(
            "Shadow audit: {} against {}",
            r.candidate.plugin, r.baseline.plugin
        ),
        &b,
    )
}
