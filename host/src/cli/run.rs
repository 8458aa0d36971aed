//! `kiln run` and `kiln audit`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use kiln_host::Clay;
use kiln_host::invocation::{
    AuditOptions, InvocationOptions, Limits, TransformOptions, run_audit, run_transform,
};

use super::{Common, Context, output, plugins};

/// Options that shape one invocation.
#[derive(Args, Clone, Debug)]
pub(crate) struct InvokeArgs {
    /// A plugin setting, `key=value` (repeatable).
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub config: Vec<(String, String)>,
    /// Wall-clock budget of one call into the plugin (a batch or an audit), in ms.
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<u64>,
    /// Memory the plugin may grow to, in MiB.
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,
    /// The member the plugin acts as (email or user id); the first admin by default.
    #[arg(long = "as", value_name = "MEMBER")]
    pub acting_as: Option<String>,
}

impl InvokeArgs {
    pub(crate) fn invocation(&self) -> InvocationOptions {
        let mut limits = Limits::default();
        if let Some(ms) = self.deadline_ms {
            limits.deadline = Duration::from_millis(ms);
        }
        if let Some(mib) = self.memory_mib {
            limits.memory_bytes = mib << 20;
        }
        InvocationOptions {
            config: self.config.iter().cloned().collect::<BTreeMap<_, _>>(),
            limits: Some(limits),
            grants: None,
        }
    }
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("`{s}` has an empty key"));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// A `.wasm` component, a plugin crate directory, or a bundled plugin's name.
    plugin: String,
    /// The table, by id (`t_…`) or name.
    #[arg(long)]
    table: String,
    /// Show what would change without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Rows per call into the plugin.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    #[command(flatten)]
    invoke: InvokeArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// A `.wasm` component, a plugin crate directory, or a bundled plugin's name.
    plugin: String,
    /// How many days back the audit looks.
    #[arg(long, default_value_t = 90)]
    period_days: u64,
    #[command(flatten)]
    invoke: InvokeArgs,
    #[command(flatten)]
    common: Common,
}

pub(crate) fn open_backend(
    ctx: &Context,
    acting_as: Option<&str>,
) -> anyhow::Result<Arc<dyn Clay>> {
    Ok(super::remote::open(ctx, acting_as)?.clay)
}

pub(crate) fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {wide_bar} {pos}/{len} rows ({per_sec}, {eta})")
    {
        bar.set_style(style);
    }
    bar
}

pub(crate) async fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<ExitCode> {
    let opened = super::remote::open(ctx, args.invoke.acting_as.as_deref())?;
    let backend = opened.clay.clone();
    let runtime = ctx.runtime()?;
    let plugin = plugins::load(&runtime, &args.plugin).await?;
    let bar = progress_bar(args.common.json);
    let progress_bar = bar.clone();
    let options = TransformOptions {
        rows_per_batch: args.batch_size,
        dry_run: args.dry_run,
        invocation: args.invoke.invocation(),
        progress: Some(Box::new(move |done, total| {
            progress_bar.set_length(total);
            progress_bar.set_position(done);
        })),
    };
    let report = run_transform(&plugin, backend, &args.table, options)
        .await
        .with_context(|| format!("running {} on table {}", plugin.name(), args.table))?;
    bar.finish_and_clear();
    opened.report_traffic();
    if args.common.json {
        output::json(&report)?;
    } else {
        output::print_transform(&report, 10);
    }
    Ok(if report.failure.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) async fn audit(ctx: &Context, args: AuditArgs) -> anyhow::Result<ExitCode> {
    if args.period_days == 0 {
        bail!("--period-days must be at least 1");
    }
    let backend = open_backend(ctx, args.invoke.acting_as.as_deref())?;
    let runtime = ctx.runtime()?;
    let plugin = plugins::load(&runtime, &args.plugin).await?;
    let options = AuditOptions {
        period: Duration::from_secs(args.period_days * 24 * 3600),
        invocation: args.invoke.invocation(),
        ..AuditOptions::default()
    };
    let (scope, report) = run_audit(&plugin, backend, options)
        .await
        .with_context(|| format!("auditing with {}", plugin.name()))?;
    if args.common.json {
        output::json(&serde_json::json!({
            "plugin": plugin.name(),
            "scope": scope,
            "report": report,
        }))?;
    } else {
        output::print_audit(plugin.name(), &report);
    }
    Ok(ExitCode::SUCCESS)
}
