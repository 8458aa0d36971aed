//! `kiln serve`: the multi-tenant server (see `kiln_host::serve`).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use kiln_host::serve::{ClusterConfig, ServeConfig, Server, hash_token};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(subcommand)]
    command: Option<ServeCommand>,
    /// The server's configuration: where to listen, its limits, its tenants.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    drain_secs: u64,
    /// Send runs' batches to `kiln worker`s through NATS JetStream at this URL (overrides
    /// serve.toml's `[nats] url`).
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ServeCommand {
    /// Print the SHA-256 of an API token read from standard input, for `tokens_sha256`.
    HashToken,
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(ServeCommand::HashToken) = args.command {
        let mut token = String::new();
        std::io::stdin()
            .read_to_string(&mut token)
            .context("reading the token from standard input")?;
        let token = token.trim();
        if token.is_empty() {
            bail!(
                "give the token on standard input: `printf %s \"$TOKEN\" | kiln serve hash-token`"
            );
        }
        println!("{}", hash_token(token));
        return Ok(ExitCode::SUCCESS);
    }
    let Some(path) = args.config else {
        bail!("pass --config serve.toml (see the README's `kiln serve` section)");
    };
    let mut config = ServeConfig::load(&path)?;
    if let Some(url) = args.nats {
        config.nats = Some(match config.nats.take() {
            Some(nats) => ClusterConfig { url, ..nats },
            None => ClusterConfig::new(&url),
        });
    }
    let tenants = config.tenants.len();
    let mut server = Server::start(config).await?;
    // The address on a line of its own: with `listen = "127.0.0.1:0"` it is how a caller
    // learns the port.
    println!("listening on {}", server.url());
    eprintln!("kiln serve: {tenants} tenants; SIGTERM or Ctrl-C drains and stops");
    tokio::select! {
        () = shutdown_signal() => {
            eprintln!("kiln serve: draining (up to {} s)", args.drain_secs);
            server.stop(Duration::from_secs(args.drain_secs)).await;
        }
        () = server.wait() => {}
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
