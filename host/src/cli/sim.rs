//! `kiln clay-sim`: serve the embedded workspace over Clay's v3 API.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use kiln_host::backend::local::LocalBackend;
use kiln_host::sim::{Faults, SimConfig, Simulator};
use secrecy::SecretString;

use super::Context;

// No `Debug`: it would print the password and API key.
#[derive(Args)]
pub(crate) struct SimArgs {
    /// Port to listen on; 0 picks a free one (the address is printed).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The password every member logs in with (never logged). Without it log-in is off.
    #[arg(long, env = "KILN_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// An API key accepted as `Authorization: <key>` (acts as the first admin).
    #[arg(long, env = "KILN_SIM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// How long a session cookie lasts, in seconds.
    #[arg(long, default_value_t = 86_400)]
    session_ttl_secs: u64,
    /// Share of requests answered 429 with Retry-After (0–1).
    #[arg(long, default_value_t = 0.0)]
    fail_429: f64,
    /// Share of requests answered 500 (after applying them) or 503 (before).
    #[arg(long, default_value_t = 0.0)]
    fail_5xx: f64,
    /// Share of requests whose connection is dropped without an answer.
    #[arg(long, default_value_t = 0.0)]
    drop_connections: f64,
    /// Latency added to every answer, in ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Retry-After sent with an injected 429, in seconds.
    #[arg(long, default_value_t = 1)]
    retry_after_secs: u64,
    /// The simulator's own rate limit, requests per second (429 beyond it).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Seed of the fault injector: the same seed gives the same faults.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Answer column runs without `creditsSpent` (as some Clay deployments do).
    #[arg(long)]
    omit_run_credits: bool,
    /// Answer every resources_v2 search with no matches (clients must walk the tree).
    #[arg(long)]
    blind_search: bool,
    /// Drop the cell values of created records (POST …/records), as one client reports Clay does.
    #[arg(long)]
    drop_created_cells: bool,
    /// Apply row updates (PATCH …/records) this many ms after answering, as Clay enqueues them.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    update_delay_ms: u64,
}

pub(crate) async fn clay_sim(ctx: &Context, args: SimArgs) -> anyhow::Result<ExitCode> {
    for (name, share) in [
        ("--fail-429", args.fail_429),
        ("--fail-5xx", args.fail_5xx),
        ("--drop-connections", args.drop_connections),
    ] {
        if !(0.0..=1.0).contains(&share) {
            bail!("{name} is a share between 0 and 1, not {share}");
        }
    }
    if args.fail_429 + args.fail_5xx + args.drop_connections > 1.0 {
        bail!("--fail-429, --fail-5xx and --drop-connections add up to more than 1");
    }
    let path = ctx.workspace_path()?;
    let backend = LocalBackend::open(&path)?;
    let config = SimConfig {
        password: args.password.map(SecretString::from),
        api_key: args.api_key.map(SecretString::from),
        session_ttl: Duration::from_secs(args.session_ttl_secs),
        faults: Faults {
            rate_limited: args.fail_429,
            server_errors: args.fail_5xx,
            dropped: args.drop_connections,
            latency: Duration::from_millis(args.latency_ms),
            retry_after_secs: args.retry_after_secs,
            rate_limit: args.rate_limit,
            seed: args.seed,
            omit_run_credits: args.omit_run_credits,
            blind_search: args.blind_search,
            drop_created_cells: args.drop_created_cells,
            update_delay: Duration::from_millis(args.update_delay_ms),
        },
    };
    let login = config.password.is_some();
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    let sim = Simulator::start(listener, backend, config)?;
    println!("clay-sim serving {} at {}", path.display(), sim.url());
    if !login {
        println!("log-in is off: pass --password (or set KILN_SIM_PASSWORD) to let members log in");
    }
    use std::io::Write as _;
    std::io::stdout().flush().ok();
    tokio::select! {
        _ = sim.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}
