//! `kiln replay FILE`: a recorded run or audit, again, offline — no workspace, no network.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kiln_host::invocation::{ReplayReport, replay};
use kiln_host::recording::Recorded;

use super::{Common, Context, output, plugins};

#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    /// A recording made with `kiln run|audit --record FILE`.
    file: PathBuf,
    /// Replay this plugin (another version, say) instead of the recorded one.
    #[arg(long)]
    plugin: Option<String>,
    /// Wall-clock budget of one call into the plugin, in ms.
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,
    #[command(flatten)]
    common: Common,
}

pub(crate) async fn replay_command(ctx: &Context, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let recorded = Recorded::read(&args.file)?;
    let spec = args
        .plugin
        .clone()
        .unwrap_or_else(|| recorded.header.plugin_spec.clone());
    let runtime = ctx.runtime(false)?;
    let plugin = plugins::load(&runtime, &spec, args.common.build)
        .await
        .map_err(|e| match &args.plugin {
            Some(_) => e,
            None => e.context(format!(
                "the recording names plugin `{spec}`; pass --plugin <wasm|crate|name> to replay another copy"
            )),
        })?;
    let limits = args.deadline_ms.map(|ms| {
        let mut limits = plugin.limits().clone();
        limits.deadline = std::time::Duration::from_millis(ms);
        limits
    });
    let report = replay(&plugin, &recorded, limits).await?;
    if args.common.json {
        output::json(&report)?;
    } else {
        print(&report);
    }
    Ok(if report.identical() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print(r: &ReplayReport) {
    let same_plugin = if r.plugin_sha256 == r.recorded_plugin_sha256 {
        "the recorded build".to_string()
    } else {
        format!(
            "sha256 {}…, recorded with {}…",
            &r.plugin_sha256[..12.min(r.plugin_sha256.len())],
            &r.recorded_plugin_sha256[..12.min(r.recorded_plugin_sha256.len())]
        )
    };
    match r.kind {
        kiln_host::recording::Kind::Transform => println!(
            "replayed {} ({same_plugin}): {} batches, {} rows, {} as recorded",
            output::sanitize(&r.plugin),
            r.batches,
            r.rows,
            r.rows_same
        ),
        kiln_host::recording::Kind::Audit => println!(
            "replayed {} ({same_plugin}): {} audit",
            output::sanitize(&r.plugin),
            r.batches
        ),
    }
    if !r.complete {
        println!("the recording has no end line: the recorded run stopped before it finished");
    }
    if !r.differences.is_empty() {
        println!("\n{} rows came out differently:", r.differences.len());
        let mut t = output::table(&["batch", "row", "recorded", "replayed"]);
        for d in r.differences.iter().take(20) {
            t.add_row(vec![
                d.batch.to_string(),
                output::sanitize(&d.row_id),
                output::sanitize(&d.recorded.to_string()),
                output::sanitize(&d.replayed.to_string()),
            ]);
        }
        println!("{t}");
    }
    for f in &r.failures {
        println!(
            "{}: recorded {}; replayed {}",
            f.batch
                .map_or("the audit".to_string(), |b| format!("batch {b}")),
            output::sanitize(&f.recorded),
            output::sanitize(&f.replayed)
        );
    }
    if let Some((recorded, replayed)) = &r.audit {
        println!("the audit's report differs:");
        let findings =
            |v: &serde_json::Value| v["findings"].as_array().cloned().unwrap_or_default();
        let (before, after) = (findings(recorded), findings(replayed));
        let line = |f: &serde_json::Value| {
            format!(
                "{} {}: {}",
                f["severity"].as_str().unwrap_or("?"),
                f["code"].as_str().unwrap_or("?"),
                f["message"].as_str().unwrap_or("")
            )
        };
        for f in before.iter().filter(|f| !after.contains(f)) {
            println!("  - recorded only: {}", output::sanitize(&line(f)));
        }
        for f in after.iter().filter(|f| !before.contains(f)) {
            println!("  + replayed only: {}", output::sanitize(&line(f)));
        }
        if recorded["summary"] != replayed["summary"] {
            println!(
                "  summary: {} → {}",
                output::sanitize(recorded["summary"].as_str().unwrap_or("")),
                output::sanitize(replayed["summary"].as_str().unwrap_or(""))
            );
        }
    }
    for call in &r.missing_calls {
        println!(
            "not in the recording (answered with an error): {}",
            output::sanitize(call)
        );
    }
    if r.unused_calls > 0 {
        println!("{} recorded calls were not made again", r.unused_calls);
    }
    if r.identical() {
        println!("identical: every outcome as recorded");
    }
}
