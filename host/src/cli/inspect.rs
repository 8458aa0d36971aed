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
    let runtime = ctx.runtime()?;
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
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}
