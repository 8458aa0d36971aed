//! `kiln workspace …`: the embedded SQLite workspace.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use kiln_host::backend::local::LocalBackend;
use kiln_host::invocation::now_ms;

use super::{Context, output};

#[derive(Subcommand, Debug)]
pub(crate) enum WorkspaceCommand {
    /// Create an empty workspace (one workspace, one admin member).
    Init,
    /// Fill a new workspace with demo data.
    Seed {
        /// The realistic demo: members, integrations, a messy Leads table, 90 days of credits.
        #[arg(long)]
        demo: bool,
        /// Replace an existing workspace file.
        #[arg(long)]
        force: bool,
    },
    /// Import a CSV file into a table (created if missing; columns matched by name).
    Import {
        file: PathBuf,
        #[arg(long)]
        table: String,
    },
    /// Export a table's rows.
    Export {
        /// The table, by id or name.
        #[arg(long)]
        table: String,
        /// CSV instead of a readable table.
        #[arg(long)]
        csv: bool,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Summarize the workspace: members, tables, integrations, credits.
    Show {
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn workspace(ctx: &Context, cmd: WorkspaceCommand) -> anyhow::Result<ExitCode> {
    if ctx.backend.kind == super::remote::BackendKind::Http {
        return match cmd {
            WorkspaceCommand::Show { json } => super::remote::show(ctx, json).await,
            _ => bail!(
                "this `kiln workspace` command works on the embedded workspace only; run it with --backend local"
            ),
        };
    }
    let path = ctx.workspace_path()?;
    match cmd {
        WorkspaceCommand::Init => {
            create_parent(&path)?;
            LocalBackend::create(&path)?;
            println!("created an empty workspace at {}", path.display());
        }
        WorkspaceCommand::Seed { demo, force } => {
            if !demo {
                bail!("say what to seed: `kiln workspace seed --demo`");
            }
            create_parent(&path)?;
            if path.exists() {
                if !force {
                    bail!(
                        "{} already exists; pass --force to replace it with the demo workspace",
                        path.display()
                    );
                }
                remove_workspace(&path)?;
            }
            let backend = LocalBackend::create(&path)?;
            let summary = backend.seed_demo(now_ms())?;
            println!("seeded the demo workspace at {}", path.display());
            println!("{summary}");
        }
        WorkspaceCommand::Import { file, table } => {
            let backend = LocalBackend::open(&path)?;
            let summary = backend
                .import_csv(&file, &table)
                .with_context(|| format!("importing {}", file.display()))?;
            println!("{summary}");
        }
        WorkspaceCommand::Export { table, csv, out } => {
            let backend = LocalBackend::open(&path)?;
            if csv {
                match out {
                    Some(file) => {
                        let f = std::fs::File::create(&file)
                            .with_context(|| format!("creating {}", file.display()))?;
                        backend.write_csv(&table, f)?;
                        eprintln!("wrote {}", file.display());
                    }
                    None => backend.write_csv(&table, std::io::stdout().lock())?,
                }
            } else {
                let (info, rows) = backend.export_rows(&table)?;
                let names: Vec<&str> = info.fields.iter().map(|f| f.name.as_str()).collect();
                let mut t = output::table(&[&["id"], names.as_slice()].concat());
                for row in &rows {
                    let mut cells = vec![row.id.clone()];
                    for f in &info.fields {
                        cells.push(
                            row.cell(&f.id)
                                .map(|c| output::cell(&c.value))
                                .unwrap_or_default(),
                        );
                    }
                    t.add_row(cells);
                }
                let text = format!("{t}\n{} rows in {} ({})", rows.len(), info.name, info.id);
                match out {
                    Some(file) => std::fs::write(&file, text)
                        .with_context(|| format!("writing {}", file.display()))?,
                    None => println!("{text}"),
                }
            }
        }
        WorkspaceCommand::Show { json } => {
            let backend = LocalBackend::open(&path)?;
            let summary = backend.summary()?;
            if json {
                output::json(&summary)?;
            } else {
                println!("workspace file: {}", path.display());
                println!("{summary}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn create_parent(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

/// Removes a workspace file and SQLite's side files.
pub(crate) fn remove_workspace(path: &std::path::Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}
