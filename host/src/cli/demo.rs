//! `kiln demo`: the whole loop on the embedded workspace, with no Clay account.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use kiln_host::Clay;
use kiln_host::backend::local::LocalBackend;
use kiln_host::invocation::{
    AuditOptions, InvocationOptions, TransformOptions, now_ms, run_audit, run_transform,
};

use super::workspace::{create_parent, remove_workspace};
use super::{Context, output, plugins, run::progress_bar};

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Where to put the demo workspace; a fresh temporary directory when omitted.
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub(crate) async fn demo(ctx: &Context, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("kiln-demo-")
            .tempdir()
            .context("creating a temporary directory")?
            .keep(),
    };
    let path = dir.join("workspace.sqlite");
    create_parent(&path)?;
    remove_workspace(&path)?;

    println!("== 1. Seeding a demo Clay workspace at {}", path.display());
    let local = LocalBackend::create(&path)?;
    let summary = local.seed_demo(now_ms())?;
    println!("{summary}\n");
    let mut invocation = InvocationOptions::default();
    super::budget::attach(&path, &mut invocation, local.actor_email()?)?;
    let backend: Arc<dyn Clay> = Arc::new(local);

    println!("== 2. Building the bundled plugins to WebAssembly components");
    let runtime = ctx.runtime(false)?;
    let normalize = plugins::load(&runtime, "normalize-contacts", false).await?;
    let audit = plugins::load(&runtime, "seat-audit", false).await?;
    let ownership = plugins::load(&runtime, "integration-ownership", false).await?;
    for p in [&normalize, &audit, &ownership] {
        let info = p.info();
        let grants: Vec<String> = info
            .grants
            .iter()
            .filter(|(i, _)| !i.always_granted())
            .map(|(i, a)| format!("{} {a}", i.name()))
            .collect();
        println!(
            "   {} ({}, {}, sha256 {}…): granted {}",
            info.name,
            info.world,
            output::bytes(info.size_bytes as u64),
            info.sha256.get(..12).unwrap_or(&info.sha256),
            grants.join(", ")
        );
    }

    println!("\n== 3. normalize-contacts over the Leads table (sandboxed, in batches of 1024)");
    let bar = progress_bar(false);
    let progress = bar.clone();
    let report = run_transform(
        &normalize,
        backend.clone(),
        "Leads",
        TransformOptions {
            progress: Some(Box::new(move |done, total| {
                progress.set_length(total);
                progress.set_position(done);
            })),
            invocation: invocation.clone(),
            ..TransformOptions::default()
        },
    )
    .await?;
    bar.finish_and_clear();
    output::print_transform(&report, output::Written::Applied, 8);

    println!("\n== 4. seat-audit over the workspace (read access, as its manifest requests)");
    let (_, findings) = run_audit(
        &audit,
        backend.clone(),
        AuditOptions {
            invocation: invocation.clone(),
            ..AuditOptions::default()
        },
    )
    .await?;
    output::print_audit(audit.name(), &findings);

    println!("\n== 5. integration-ownership: whose credentials each enrichment column runs on");
    let (_, findings) = run_audit(
        &ownership,
        backend,
        AuditOptions {
            invocation,
            ..AuditOptions::default()
        },
    )
    .await?;
    output::print_audit(ownership.name(), &findings);

    println!("\nNext: explore the workspace with");
    println!("  kiln --workspace {} workspace show", path.display());
    println!(
        "  kiln --workspace {} workspace export --table Leads",
        path.display()
    );
    println!(
        "  kiln --workspace {} audit seat-audit --json",
        path.display()
    );
    println!(
        "  kiln --workspace {} trail show --limit 20",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
