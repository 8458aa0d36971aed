//! `kiln runs`: the run journal — list runs, show one's report, resume an interrupted one.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use kiln_host::invocation::TransformReport;
use kiln_host::journal::{Journal, RunInfo};

use super::run::{InvokeArgs, RunArgs};
use super::{Common, Context, output};

#[derive(Args, Debug)]
pub(crate) struct RunsArgs {
    #[command(subcommand)]
    command: Option<RunsCommand>,
    /// Emit JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum RunsCommand {
    /// List runs, newest first (the default).
    List {
        /// Emit JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A run's record and, once it ended, its report.
    Show {
        /// The run's id (`run_…`).
        id: String,
        /// Emit JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Finish an interrupted or failed run: the same as `kiln run --resume ID`.
    Resume {
        /// The run's id (`run_…`).
        id: String,
        /// The plugin, when it is not where the run found it (it must be the same build).
        #[arg(long)]
        plugin: Option<String>,
        /// Plugin instances running batches at once (see `kiln run --parallel`).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        parallel: Option<u16>,
        #[command(flatten)]
        invoke: InvokeArgs,
        #[command(flatten)]
        common: Common,
    },
}

/// The journal in the state file: the workspace file when local, `--state` over HTTP.
pub(crate) fn open_journal(ctx: &Context) -> anyhow::Result<Journal> {
    if ctx.backend.kind == super::remote::BackendKind::Http {
        let path = super::remote::http_state_path(ctx)?;
        return Journal::open(&path).context("opening the run journal");
    }
    let path = ctx.workspace_path()?;
    if !path.is_file() {
        bail!(
            "no kiln workspace at {}: its runs are kept in the workspace file (pass --workspace <file>)",
            path.display()
        );
    }
    Journal::open(&path).context("opening the run journal")
}

pub(crate) async fn runs(ctx: &Context, args: RunsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        None => list(ctx, args.json),
        Some(RunsCommand::List { json }) => list(ctx, json || args.json),
        Some(RunsCommand::Show { id, json }) => show(ctx, &id, json || args.json),
        Some(RunsCommand::Resume {
            id,
            plugin,
            parallel,
            invoke,
            common,
        }) => {
            let args = RunArgs {
                plugin,
                table: None,
                resume: Some(id),
                force: false,
                dry_run: false,
                batch_size: 1024,
                parallel,
                verify: false,
                verify_wait_secs: 30,
                invoke,
                common,
            };
            super::run::run(ctx, args).await
        }
    }
}

fn progress(r: &RunInfo) -> String {
    format!("{}/{} batches", r.batches_applied, r.batches)
}

fn list(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let runs = open_journal(ctx)?.list()?;
    if json {
        output::json(&runs)?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs yet: `kiln run <plugin> --table <table>` starts one");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = output::table(&[
        "run", "plugin", "table", "state", "progress", "rows", "started", "ended",
    ]);
    for r in &runs {
        t.add_row(vec![
            r.id.clone(),
            output::sanitize(&r.plugin),
            output::sanitize(&r.table_name),
            format!(
                "{}{}",
                r.state,
                if r.options.dry_run { " (dry run)" } else { "" }
            ),
            progress(r),
            r.total_rows.to_string(),
            super::trail::time(r.started_ms),
            r.ended_ms.map(super::trail::time).unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

fn show(ctx: &Context, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let journal = open_journal(ctx)?;
    let info = journal
        .get(id)?
        .ok_or_else(|| kiln_host::journal::JournalError::NoSuchRun(id.to_string()))?;
    let report = TransformReport::from_journal(&journal, id)
        .with_context(|| format!("reading run {id}'s report"))?;
    if json {
        #[derive(serde::Serialize)]
        struct Shown<'a> {
            run: &'a RunInfo,
            report: Option<&'a TransformReport>,
        }
        output::json(&Shown {
            run: &info,
            report: report.as_ref(),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "run {} of {} on {} ({}): {}, {}",
        info.id,
        output::sanitize(&info.plugin),
        output::sanitize(&info.table_name),
        info.table_id,
        info.state,
        progress(&info)
    );
    println!(
        "plugin sha256 {}; started {}{}",
        info.plugin_sha256,
        super::trail::time(info.started_ms),
        info.ended_ms
            .map(|t| format!(", ended {}", super::trail::time(t)))
            .unwrap_or_default()
    );
    if let Some(error) = &info.error {
        println!("stopped by: {}", output::sanitize(error));
    }
    match &report {
        Some(report) => output::print_transform(report, output::Written::Applied, 10),
        None if info.state.resumable() => {
            println!(
                "no report yet: finish it with `kiln runs resume {}`",
                info.id
            )
        }
        None => println!("no report"),
    }
    Ok(ExitCode::SUCCESS)
}
