//! `kiln worker`: runs batches that `kiln serve --nats` queued (see `kiln_host::serve::cluster`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use kiln_host::serve::{ClusterConfig, ServeConfig, Worker};

#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    /// The NATS server (JetStream enabled), e.g. nats://127.0.0.1:4222.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// The server's serve.toml: the tenants, their backends and policies.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Batches this worker runs at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
}

pub(crate) async fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let Some(path) = args.config else {
        bail!(
            "pass --config serve.toml: the same file `kiln serve` runs with (its tenants' backends and policies)"
        );
    };
    let config = ServeConfig::load(&path)?;
    let cluster = match (args.nats, config.nats.clone()) {
        (Some(url), Some(nats)) => ClusterConfig { url, ..nats },
        (Some(url), None) => ClusterConfig::new(&url),
        (None, Some(nats)) => nats,
        (None, None) => bail!("pass --nats nats://HOST:4222 (or set [nats] url in serve.toml)"),
    };
    let url = cluster.url.clone();
    let worker = Worker::start(&config, cluster).await?;
    // A line of its own, for whoever waits for the worker to be ready.
    println!("worker ready on {url}");
    eprintln!(
        "kiln worker: {} tenants, {} at a time; SIGTERM or Ctrl-C finishes the batch in hand and stops",
        config.tenants.len(),
        args.concurrency.max(1)
    );
    worker
        .clone()
        .run(args.concurrency, super::serve::shutdown_signal())
        .await?;
    eprintln!("kiln worker: stopped after {}", worker.summary());
    Ok(ExitCode::SUCCESS)
}
