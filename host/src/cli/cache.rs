//! `kiln cache list|prune`: the compiled-code cache, which `kiln build` fills and every
//! load reads, bounded by least-recently-used pruning.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use kiln_host::runtime::{cache, default_cache_dir, default_cache_max_bytes};

use super::output;

#[derive(Subcommand, Debug)]
pub(crate) enum CacheCommand {
    /// List the compiled components, most recently used first.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove least recently used entries until the cache fits a size.
    Prune {
        /// The size to fit, in MiB (default: the cap, $KILN_CACHE_MAX_MB or 2048).
        #[arg(long, value_name = "MIB", conflicts_with = "all")]
        max_mb: Option<u64>,
        /// Remove every entry.
        #[arg(long)]
        all: bool,
    },
}

pub(crate) fn cache(ctx: &super::Context, cmd: CacheCommand) -> anyhow::Result<ExitCode> {
    let dir: PathBuf = ctx
        .cache_dir
        .clone()
        .or_else(default_cache_dir)
        .context("no cache directory: pass --cache-dir or set KILN_CACHE_DIR")?;
    match cmd {
        CacheCommand::List { json } => {
            let entries = cache::list(&dir)
                .with_context(|| format!("reading the cache at {}", dir.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(ExitCode::SUCCESS);
            }
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            let mut table = output::table(&["code (sha-256)", "engine", "size", "last used"]);
            for e in &entries {
                table.add_row(vec![
                    e.code_sha256.chars().take(16).collect::<String>(),
                    e.engine.clone(),
                    output::bytes(e.bytes),
                    humantime::format_rfc3339_seconds(e.last_used).to_string(),
                ]);
            }
            println!("{table}");
            println!(
                "{} entries, {} of {} allowed, in {}",
                entries.len(),
                output::bytes(total),
                output::bytes(default_cache_max_bytes()),
                dir.display()
            );
        }
        CacheCommand::Prune { max_mb, all } => {
            let max = if all {
                0
            } else {
                max_mb.map_or_else(default_cache_max_bytes, |mb| mb.saturating_mul(1 << 20))
            };
            let pruned = cache::prune(&dir, max)
                .with_context(|| format!("pruning the cache at {}", dir.display()))?;
            println!(
                "removed {} entries ({}); kept {} ({})",
                pruned.removed,
                output::bytes(pruned.freed_bytes),
                pruned.kept,
                output::bytes(pruned.kept_bytes)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
