//! `kiln run` and `kiln audit`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use kiln_host::Plugin;
use kiln_host::backend::model::RowUpdate;
use kiln_host::backend::readback::{ReadBack, read_back};
use kiln_host::invocation::{
    AuditOptions, InvocationOptions, Journaling, Limits, RowChange, TransformOptions,
    TransformReport, run_audit, run_transform,
};
use kiln_host::recording::{Header, Kind, Recorder};

use super::{Common, Context, budget, output, plugins, report};

/// Options that shape one invocation.
#[derive(Args, Clone, Debug)]
pub(crate) struct InvokeArgs {
    /// A plugin setting, `key=value` (repeatable); `key=@file` passes the file's contents.
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub config: Vec<(String, String)>,
    /// Wall-clock budget of one call into the plugin (a batch or an audit), in ms.
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<u64>,
    /// Memory the plugin may grow to, in MiB.
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,
    /// Count fuel and stop the plugin after this many units per call: a deterministic
    /// bound on work, where a deadline depends on the machine.
    #[arg(long, value_name = "UNITS")]
    pub fuel: Option<u64>,
    /// The member the plugin acts as (email or user id); the first admin by default.
    #[arg(long = "as", value_name = "MEMBER")]
    pub acting_as: Option<String>,
    /// Credits this run may spend (enrichment columns it runs); 0 forbids spending.
    #[arg(long, value_name = "N", value_parser = parse_credits)]
    pub max_credits: Option<f64>,
    /// Record every call the plugin makes to Clay, and every batch and outcome (or the
    /// audit's report), to FILE — JSON lines, no secrets — for `kiln replay FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
}

impl InvokeArgs {
    /// The plugin's own limits and credit budget (its manifest's, capped by the policy),
    /// with the command line's overrides on top.
    pub(crate) fn invocation(&self, plugin: &Plugin) -> InvocationOptions {
        let mut options = InvocationOptions::default();
        self.apply(plugin, &mut options);
        options
    }

    /// [`InvokeArgs::invocation`] into options that already carry the trail and ledger.
    pub(crate) fn apply(&self, plugin: &Plugin, options: &mut InvocationOptions) {
        let mut limits: Limits = plugin.limits().clone();
        if let Some(ms) = self.deadline_ms {
            limits.deadline = Duration::from_millis(ms);
        }
        if let Some(mib) = self.memory_mib {
            limits.memory_bytes = mib << 20;
        }
        if let Some(fuel) = self.fuel {
            limits.fuel = Some(fuel);
        }
        options.config = self.config.iter().cloned().collect::<BTreeMap<_, _>>();
        options.limits = Some(limits);
        // `--max-credits` can only lower what the manifest asks (and the policy allows).
        let allowed = plugin.credits_per_run();
        options.credit_budget = Some(self.max_credits.map_or(allowed, |m| m.min(allowed)));
    }
}

fn parse_credits(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("`{s}` is not a number of credits (0 or more)")),
    }
}

/// `key=value`, or `key=@path` for a file's contents: plugins have no filesystem, so a file
/// (an IdP export, a list) reaches them as a config value. `@@` escapes a literal `@`.
fn parse_kv(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("`{s}` has an empty key"));
    }
    let value = if let Some(literal) = v.strip_prefix("@@") {
        format!("@{literal}")
    } else if let Some(path) = v.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| {
            format!("cannot read `{path}` for config key `{}`: {e} (write @@ for a value that starts with @)", k.trim())
        })?
    } else {
        v.to_string()
    };
    Ok((k.trim().to_string(), value))
}

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// A `.wasm` component, a plugin crate directory, or a bundled plugin's name (with
    /// `--resume`, the one the run was started with by default).
    #[arg(required_unless_present = "resume")]
    pub(crate) plugin: Option<String>,
    /// The table, by id (`t_…`) or name.
    #[arg(long, required_unless_present = "resume")]
    pub(crate) table: Option<String>,
    /// Finish an interrupted or failed run (`kiln runs` lists them): batches an earlier
    /// process applied are kept, batches whose effects were journaled are applied from the
    /// journal, the rest are computed. Its table, batches and plugin settings are the run's.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["table", "dry_run", "force"])]
    pub(crate) resume: Option<String>,
    /// Start even though the table has an unfinished run of this plugin (which is then
    /// marked abandoned and can no longer be resumed).
    #[arg(long)]
    pub(crate) force: bool,
    /// Show what would change without writing anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Rows per call into the plugin.
    #[arg(long, default_value_t = 1024)]
    pub(crate) batch_size: usize,
    /// Plugin instances running batches at once (default: the CPU cores less one, which
    /// reads, checks and writes). Only a plugin whose manifest declares `[transform]
    /// independent_batches = true`, and that imports no `tables` interface, runs on more
    /// than one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) parallel: Option<u16>,
    /// After the run, read the changed and deleted rows back and report what the table
    /// holds. Clay applies row updates after it answers, so without this a run over HTTP
    /// only knows what it submitted. Exits 1 when values did not land.
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) verify: bool,
    /// How long `--verify` waits for Clay to apply updates it has enqueued.
    #[arg(long, value_name = "SECS", default_value_t = 30, requires = "verify")]
    pub(crate) verify_wait_secs: u64,
    #[command(flatten)]
    pub(crate) invoke: InvokeArgs,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// A `.wasm` component, a plugin crate directory, or a bundled plugin's name.
    plugin: String,
    /// How many days back the audit looks.
    #[arg(long, default_value_t = 90)]
    period_days: u64,
    /// How to present the report (`--json` is short for `--format json`).
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<report::Format>,
    /// Write the report to this file (json, md, html) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
    #[command(flatten)]
    invoke: InvokeArgs,
    #[command(flatten)]
    common: Common,
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

/// What `run` and `audit` start from: the backend (with its state file's trail and
/// budgets), the plugin (a refused load is recorded in the trail), and its invocation
/// options under the operator's flags.
async fn prepare(
    ctx: &Context,
    invoke: &InvokeArgs,
    spec: &str,
    build: bool,
) -> anyhow::Result<(super::remote::Opened, Plugin, InvocationOptions)> {
    let opened = super::remote::open(ctx, invoke.acting_as.as_deref())?;
    let runtime = ctx.runtime(invoke.fuel.is_some())?;
    let mut invocation = InvocationOptions::default();
    budget::attach(&opened.state, &mut invocation, opened.member.clone())?;
    let plugin = plugins::load_recorded(&runtime, spec, build, invocation.trail.as_ref()).await?;
    invoke.apply(&plugin, &mut invocation);
    Ok((opened, plugin, invocation))
}

/// Starts `--record FILE`, when asked: the recorder goes into `invocation`.
fn start_recording(
    invoke: &InvokeArgs,
    kind: Kind,
    plugin: &Plugin,
    spec: &str,
    dry_run: bool,
    invocation: &mut InvocationOptions,
) -> anyhow::Result<()> {
    let Some(path) = &invoke.record else {
        return Ok(());
    };
    let header = Header {
        kiln_recording: kiln_host::recording::VERSION,
        kind,
        plugin: plugin.name().to_string(),
        plugin_sha256: plugin.info().sha256.clone(),
        plugin_spec: journal_spec(spec),
        config: invocation.config.clone(),
        credit_budget: invocation.credit_budget,
        dry_run,
        started_ms: kiln_host::invocation::now_ms(),
    };
    invocation.record = Some(Recorder::create(path, &header)?);
    Ok(())
}

/// Writes the recording's last line, when there is one.
fn finish_recording(recorder: Option<Recorder>) -> anyhow::Result<()> {
    if let Some(recorder) = recorder {
        recorder.finish(kiln_host::invocation::now_ms())?;
    }
    Ok(())
}

pub(crate) async fn run(ctx: &Context, mut args: RunArgs) -> anyhow::Result<ExitCode> {
    // A resumed run names its plugin and settings in the journal.
    let resuming = match &args.resume {
        Some(id) => {
            let journal = super::runs::open_journal(ctx)?;
            let info = journal
                .get(id)?
                .ok_or_else(|| kiln_host::journal::JournalError::NoSuchRun(id.clone()))?;
            if args.invoke.config.is_empty() {
                args.invoke.config = info.options.config.clone().into_iter().collect();
            }
            Some(info)
        }
        None => None,
    };
    let spec = match (&args.plugin, &resuming) {
        (Some(spec), _) => spec.clone(),
        (None, Some(info)) => info.plugin_spec.clone(),
        (None, None) => bail!("name the plugin to run"),
    };
    let table = match (&args.table, &resuming) {
        (Some(table), _) => table.clone(),
        (None, Some(info)) => info.table_id.clone(),
        (None, None) => bail!("name the table to run on (--table)"),
    };
    let (opened, plugin, mut invocation) =
        prepare(ctx, &args.invoke, &spec, args.common.build).await?;
    let dry_run = resuming
        .as_ref()
        .map_or(args.dry_run, |info| info.options.dry_run);
    start_recording(
        &args.invoke,
        Kind::Transform,
        &plugin,
        &spec,
        dry_run,
        &mut invocation,
    )?;
    let recorder = invocation.record.clone();
    let journal =
        kiln_host::journal::Journal::open(&opened.state).context("opening the run journal")?;
    let backend = opened.clay.clone();
    let bar = progress_bar(args.common.json);
    let progress_bar = bar.clone();
    let parallel = args
        .parallel
        .map_or_else(TransformOptions::default_parallel, usize::from);
    let options = TransformOptions {
        rows_per_batch: args.batch_size,
        dry_run: args.dry_run,
        parallel,
        invocation,
        progress: Some(Box::new(move |done, total| {
            progress_bar.set_length(total);
            progress_bar.set_position(done);
        })),
        journal: Some(Journaling {
            journal,
            plugin_spec: journal_spec(&spec),
            resume: args.resume.clone(),
            force: args.force,
            on_begin: None,
        }),
        shadow: None,
    };
    let report = run_transform(&plugin, backend.clone(), &table, options)
        .await
        .with_context(|| match &args.resume {
            Some(id) => format!("resuming run {id} of {}", plugin.name()),
            None => format!("running {} on table {table}", plugin.name()),
        })?;
    finish_recording(recorder)?;
    bar.finish_and_clear();
    let verified = if args.verify {
        let wait = Duration::from_secs(args.verify_wait_secs);
        Some(
            verify(&*backend, &report, wait)
                .await
                .with_context(|| format!("reading table {} back", report.table_id))?,
        )
    } else {
        None
    };
    opened.report_traffic(Some(report.rows_seen));
    // Over HTTP a write's answer only says Clay took it: updates apply after it answers.
    let written = match (&opened.http, &verified) {
        (Some(_), None) => output::Written::Submitted,
        _ => output::Written::Applied,
    };
    if args.common.json {
        output::json(&RunOutput {
            report: &report,
            written,
            verified: verified.as_ref(),
        })?;
    } else {
        output::print_transform(&report, written, 10);
        if let Some(v) = &verified {
            output::print_verified(v);
        }
    }
    let landed = verified.as_ref().is_none_or(Verified::agrees);
    Ok(if report.failure.is_some() || !landed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// How the plugin is named in the journal, for `kiln runs resume`: a path made absolute, so
/// the resume works from another directory; a bundled plugin's name as it is.
fn journal_spec(spec: &str) -> String {
    let path = std::path::Path::new(spec);
    if path.exists() {
        path.canonicalize()
            .map_or_else(|_| spec.to_string(), |p| p.display().to_string())
    } else {
        spec.to_string()
    }
}

/// `kiln run --json`: the report, whether its writes are known to be applied, and what
/// `--verify` read back.
#[derive(serde::Serialize)]
struct RunOutput<'a> {
    #[serde(flatten)]
    report: &'a TransformReport,
    written: output::Written,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<&'a Verified>,
}

/// What `--verify` found: the changed rows' values as the table holds them, and whether
/// the deleted rows are gone.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Verified {
    pub changed: ReadBack,
    /// Deleted rows the table still has.
    pub still_present: Vec<String>,
}

impl Verified {
    fn agrees(&self) -> bool {
        self.changed.agrees() && self.still_present.is_empty()
    }
}

/// Reads back what `report` says was written: every changed row (waiting up to `wait` for
/// Clay to apply enqueued updates) and every deleted one.
async fn verify(
    clay: &dyn kiln_host::Clay,
    report: &TransformReport,
    wait: Duration,
) -> anyhow::Result<Verified> {
    let expected: Vec<RowUpdate> = report.changes.iter().map(RowChange::update).collect();
    let changed = read_back(clay, &report.table_id, &expected, wait).await?;
    let mut still_present = Vec::new();
    // Clay's bulk read silently leaves out ids it does not have, which is what a deleted
    // row's should be.
    for chunk in report.deleted.chunks(kiln_host::backend::BULK_READ_IDS) {
        still_present.extend(
            clay.read_records(&report.table_id, chunk)
                .await?
                .into_iter()
                .map(|r| r.id),
        );
    }
    Ok(Verified {
        changed,
        still_present,
    })
}

pub(crate) async fn audit(ctx: &Context, args: AuditArgs) -> anyhow::Result<ExitCode> {
    if args.period_days == 0 {
        bail!("--period-days must be at least 1");
    }
    let format = match (args.format, args.common.json) {
        (None, json) => {
            if json {
                report::Format::Json
            } else {
                report::Format::Table
            }
        }
        (Some(f), false) | (Some(f @ report::Format::Json), true) => f,
        (Some(f), true) => {
            bail!("--json asks for JSON but --format asks for {f:?}; pass one of them")
        }
    };
    let (opened, plugin, mut invocation) =
        prepare(ctx, &args.invoke, &args.plugin, args.common.build).await?;
    start_recording(
        &args.invoke,
        Kind::Audit,
        &plugin,
        &args.plugin,
        false,
        &mut invocation,
    )?;
    let recorder = invocation.record.clone();
    let backend = opened.clay.clone();
    let options = AuditOptions {
        period: Duration::from_secs(args.period_days * 24 * 3600),
        invocation,
        ..AuditOptions::default()
    };
    let (scope, report) = run_audit(&plugin, backend.clone(), options)
        .await
        .with_context(|| format!("auditing with {}", plugin.name()))?;
    finish_recording(recorder)?;
    opened.report_traffic(None);
    report::present(
        &backend,
        plugin.name(),
        scope,
        report,
        format,
        args.out.as_deref(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_kv;

    #[test]
    fn config_values_can_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("idp.csv");
        std::fs::write(&file, "email,status\nmaya@x.io,ACTIVE\n").unwrap();
        let (k, v) = parse_kv(&format!("idp_csv=@{}", file.display())).unwrap();
        assert_eq!(
            (k.as_str(), v.as_str()),
            ("idp_csv", "email,status\nmaya@x.io,ACTIVE\n")
        );
        assert_eq!(parse_kv("handle=@@maya").unwrap().1, "@maya");
        assert_eq!(parse_kv(" a = b=c").unwrap(), ("a".into(), " b=c".into()));
        let err = parse_kv("idp_csv=@/no/such/file.csv").unwrap_err();
        assert!(
            err.contains("/no/such/file.csv") && err.contains("idp_csv"),
            "{err}"
        );
        assert!(parse_kv("novalue").is_err());
    }
}
