//! `kiln inspect`.

use std::process::ExitCode;

use clap::Args;

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
    let plugin = plugins::load(&runtime, &args.plugin).await?;
    let info = plugin.info();
    if args.common.json {
        output::json(info)?;
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
    let limits = plugin.limits();
    t.add_row(vec![
        "limits".to_string(),
        format!(
            "memory {}\ndeadline {} ms per call\nhost calls {}\nfuel {}\ncredits per run {}",
            output::bytes(limits.memory_bytes),
            limits.deadline.as_millis(),
            limits
                .max_host_calls
                .map_or("unlimited".to_string(), |n| n.to_string()),
            limits.fuel.map_or("off".to_string(), |n| n.to_string()),
            plugin.credits_per_run()
        ),
    ]);
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
