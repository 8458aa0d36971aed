//! `kiln inspect`.

use std::process::ExitCode;

use clap::Args;
use kiln_host::Plugin;

use super::{Common, Context, output, plugins};

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// A `.wasm` component, a plugin crate directory, or a bundled plugin's name.
    plugin: String,
    #[command(flatten)]
    common: Common,
}

pub(crate) async fn inspect(ctx: &Context, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let runtime = ctx.runtime(false)?;
    let plugin = plugins::load(&runtime, &args.plugin, args.common.build).await?;
    let info = plugin.info();
    if args.common.json {
        let mut value = serde_json::to_value(info)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("limits".into(), limits_json(&plugin));
        }
        output::json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = output::table(&["property", "value"]);
    t.add_row(vec!["name".to_string(), info.name.clone()]);
    t.add_row(vec!["world".to_string(), info.world.to_string()]);
    t.add_row(vec![
        "size".to_string(),
        format!(
            "{} ({} bytes)",
            output::bytes(info.size_bytes as u64),
            info.size_bytes
        ),
    ]);
    t.add_row(vec!["sha256".to_string(), info.sha256.clone()]);
    t.add_row(vec!["exports".to_string(), info.exports.join("\n")]);
    t.add_row(vec!["imports".to_string(), info.imports.join("\n")]);
    let m = &info.manifest;
    t.add_row(vec![
        "manifest".to_string(),
        if info.manifest_embedded {
            format!(
                "{} {} (embedded kiln.toml)\n{}",
                m.name, m.version, m.description
            )
        } else {
            "none embedded: read-only defaults of its world".to_string()
        },
    ]);
    let requested: Vec<String> = m
        .capabilities
        .iter()
        .map(|(i, r)| {
            let mut line = format!("{}: {}", i.name(), r.access);
            if let Some(tables) = &r.tables {
                line.push_str(&format!(" tables [{}]", tables.join(", ")));
            }
            if let Some(columns) = &r.columns {
                line.push_str(&format!(" columns [{}]", columns.join(", ")));
            }
            line
        })
        .collect();
    t.add_row(vec!["requests".to_string(), requested.join("\n")]);
    let granted: Vec<String> = info
        .grants
        .iter()
        .map(|(i, a)| format!("{}: {a}", i.name()))
        .collect();
    let scope = &info.grants.tables;
    let mut granted = granted.join("\n");
    if !scope.is_unrestricted() {
        granted.push_str(&format!("\ntables scope: {}", scope.describe_tables()));
        if let Some(columns) = &scope.columns {
            granted.push_str(&format!("\ncolumns: {}", columns.join(", ")));
        }
        if !scope.denied_columns.is_empty() {
            granted.push_str(&format!(
                "\ncolumns denied: {}",
                scope.denied_columns.join(", ")
            ));
        }
    }
    t.add_row(vec!["granted".to_string(), granted]);
    t.add_row(vec!["limits".to_string(), limits_text(&plugin)]);
    if !m.config.is_empty() {
        let settings: Vec<String> = m
            .config
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k} = {}  {}",
                    v.default.as_deref().unwrap_or("(unset)"),
                    v.description
                )
            })
            .collect();
        t.add_row(vec!["settings".to_string(), settings.join("\n")]);
    }
    println!("{}", output::sanitize_multiline(&t.to_string()));
    Ok(ExitCode::SUCCESS)
}

/// One line per limit: what the manifest asked, and what the plugin gets (the request
/// capped by the policy, or by the runtime's default when the policy sets no ceiling).
fn limits_text(plugin: &Plugin) -> String {
    let asked = &plugin.manifest().limits;
    let got = plugin.limits();
    let count = |n: Option<u64>| n.map_or("unlimited".to_string(), |n| n.to_string());
    let line = |what: &str, requested: Option<String>, effective: String| match requested {
        Some(r) if r != effective => format!("{what} {effective} (requested {r})"),
        Some(_) => format!("{what} {effective} (as requested)"),
        None => format!("{what} {effective}"),
    };
    [
        line(
            "memory",
            asked
                .memory_mib
                .map(|m| output::bytes(m.saturating_mul(1 << 20))),
            output::bytes(got.memory_bytes),
        ),
        line(
            "deadline",
            asked.batch_ms.map(|ms| format!("{ms} ms per call")),
            format!("{} ms per call", got.deadline.as_millis()),
        ),
        line(
            "host calls",
            asked.host_calls.map(|n| n.to_string()),
            count(got.max_host_calls),
        ),
        line(
            "fuel",
            asked.fuel.map(|n| n.to_string()),
            got.fuel.map_or("off".to_string(), |n| n.to_string()),
        ),
        line(
            "output",
            asked.output_bytes.map(output::bytes),
            output::bytes(got.output_bytes as u64),
        ),
        line(
            "log",
            asked.log_bytes.map(output::bytes),
            output::bytes(got.log_bytes as u64),
        ),
        line(
            "credits per run",
            plugin
                .manifest()
                .budget
                .credits_per_run
                .map(|c| c.to_string()),
            plugin.credits_per_run().to_string(),
        ),
    ]
    .join("\n")
}

/// `--json`: the manifest's requests next to the effective limits.
fn limits_json(plugin: &Plugin) -> serde_json::Value {
    let got = plugin.limits();
    serde_json::json!({
        "requested": plugin.manifest().limits,
        "effective": {
            "memory_bytes": got.memory_bytes,
            "deadline_ms": u64::try_from(got.deadline.as_millis()).unwrap_or(u64::MAX),
            "host_calls": got.max_host_calls,
            "fuel": got.fuel,
            "output_bytes": got.output_bytes,
            "log_bytes": got.log_bytes,
            "credits_per_run": plugin.credits_per_run(),
        },
    })
}
