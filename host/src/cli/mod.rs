//! `kiln`: argument parsing and dispatch. Everything here is presentation; the work is done
//! by the `kiln_host` library.

mod budget;
mod cache;
mod demo;
mod golden;
mod inspect;
mod new;
mod output;
mod plugins;
mod remote;
mod replay;
mod report;
mod run;
mod runs;
mod serve;
mod shadow;
mod sim;
mod trail;
mod worker;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kiln_host::plugin::policy::Policy;

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Run sandboxed WebAssembly plugins against Clay"
)]
struct Cli {
    /// The embedded workspace (SQLite file) to use.
    #[arg(long, global = true, env = "KILN_WORKSPACE", value_name = "FILE")]
    workspace: Option<PathBuf>,

    /// Where compiled plugins are cached.
    #[arg(long, global = true, env = "KILN_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// The operator's policy file (TOML): what any plugin may be granted.
    #[arg(long, global = true, env = "KILN_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,

    /// Let plugins have INTERFACE up to LEVEL (read, write or none), e.g. `tables:write`.
    #[arg(long = "grant", global = true, value_name = "INTERFACE:LEVEL")]
    grants: Vec<String>,

    /// Never grant INTERFACE to any plugin, e.g. `credits`.
    #[arg(long = "deny", global = true, value_name = "INTERFACE")]
    denies: Vec<String>,

    /// Log filter, e.g. `info` or `kiln=debug` (also KILN_LOG).
    #[arg(
        long,
        global = true,
        env = "KILN_LOG",
        default_value = "warn,kiln::guest=info"
    )]
    log: String,

    /// Log lines as text or as JSON objects, one per line (for log collectors; `kiln serve`).
    #[arg(
        long,
        global = true,
        env = "KILN_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,

    /// Where Clay's data comes from: the embedded workspace or Clay's v3 API
    /// (default: `backend` in <config dir>/kiln/config.toml, else local).
    #[arg(long, global = true, env = "KILN_BACKEND", value_enum)]
    backend: Option<remote::BackendKind>,

    /// Clay's base URL for `--backend http` (default https://api.clay.com, or `clay_url`
    /// in the config file); point it at `kiln clay-sim` to work locally.
    #[arg(long, global = true, env = "KILN_CLAY_URL", value_name = "URL")]
    clay_url: Option<String>,

    /// kiln's own state (audit trail, credit budgets) for `--backend http`; default
    /// <data dir>/kiln/state.sqlite. (Local runs keep it in the workspace file.)
    #[arg(long, global = true, env = "KILN_STATE", value_name = "FILE")]
    state: Option<PathBuf>,

    /// Record every request to Clay and every answer, secrets removed, as JSON lines in
    /// FILE (`--backend http`): the file to send when Clay answers something kiln misreads.
    #[arg(long, global = true, value_name = "FILE")]
    trace_http: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed a demo workspace, build the bundled plugins, run them and show the results.
    Demo(demo::DemoArgs),
    /// Build a plugin (Rust, Python or JavaScript/TypeScript) into a WebAssembly component,
    /// embed its kiln.toml and compile it for this machine.
    Build(plugins::BuildArgs),
    /// Embed a kiln.toml in a component built some other way.
    #[command(subcommand)]
    Manifest(plugins::ManifestCommand),
    /// List or prune the compiled-code cache.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Run a transformer plugin over a table.
    Run(run::RunArgs),
    /// Run an auditor plugin over the workspace.
    Audit(run::AuditArgs),
    /// List journaled runs, show one's report, or resume an interrupted one.
    Runs(runs::RunsArgs),
    /// Run a recording (`run|audit --record FILE`) again, offline, and compare.
    Replay(replay::ReplayArgs),
    /// Run a candidate plugin beside a baseline over the same batches and compare.
    Shadow(shadow::ShadowArgs),
    /// Serve tenants' plugins over HTTP: uploads, versions, row calls (a Clay HTTP API
    /// column), metrics.
    Serve(serve::ServeArgs),
    /// Take run batches from NATS JetStream (`kiln serve --nats`) and do each exactly once;
    /// start as many as you like, on any machine.
    Worker(worker::WorkerArgs),
    /// Show a plugin's world, imports, exports, size and hash.
    Inspect(inspect::InspectArgs),
    /// Scaffold a plugin (Rust, Python or JavaScript) that builds and passes its tests as it
    /// stands.
    New(new::NewArgs),
    /// Run a built plugin against a workspace snapshot and compare its effects with a golden file.
    Test(golden::TestArgs),
    /// Create, seed, import into, export from and show the embedded workspace.
    #[command(subcommand)]
    Workspace(workspace::WorkspaceCommand),
    /// Show or verify the audit trail of every host call plugins made.
    #[command(subcommand)]
    Trail(trail::TrailCommand),
    /// Show or set credit budgets per member and per plugin.
    #[command(subcommand)]
    Budget(budget::BudgetCommand),
    /// Log in to Clay (email and password) and store the session cookie.
    Login(remote::LoginArgs),
    /// Forget the stored Clay session.
    Logout,
    /// Serve the embedded workspace over Clay's v3 API, with optional injected faults.
    ClaySim(sim::SimArgs),
}

/// Options shared by commands that load plugins.
#[derive(Args, Clone, Debug)]
pub(crate) struct Common {
    /// Emit JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Build a plugin crate directory given as <plugin>. Building runs the crate's build
    /// scripts and proc macros natively, as you, so kiln never does it unasked (the bundled
    /// plugins excepted).
    #[arg(long)]
    pub build: bool,
}

pub(crate) struct Context {
    workspace: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    policy: Option<PathBuf>,
    grants: Vec<String>,
    denies: Vec<String>,
    backend: remote::Selection,
    state: Option<PathBuf>,
}

impl Context {
    /// The workspace file: `--workspace`, else one under the user's data directory.
    pub(crate) fn workspace_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.workspace {
            return Ok(p.clone());
        }
        let base = dirs::data_dir().context(
            "cannot find a data directory for the default workspace; pass --workspace <file>",
        )?;
        Ok(base.join("kiln").join("workspace.sqlite"))
    }

    /// A runtime under the operator's policy; `fuel` turns on fuel counting (slower).
    pub(crate) fn runtime(&self, fuel: bool) -> anyhow::Result<kiln_host::Runtime> {
        let mut config = kiln_host::RuntimeConfig {
            fuel,
            ..kiln_host::RuntimeConfig::default()
        };
        if let Some(dir) = &self.cache_dir {
            config.cache_dir = Some(dir.clone());
        }
        config.policy = self.policy()?;
        Ok(kiln_host::Runtime::new(config)?)
    }

    /// The policy file (if any) with `--grant` and `--deny` applied on top, in that order.
    fn policy(&self) -> anyhow::Result<Policy> {
        let mut policy = match &self.policy {
            Some(path) => Policy::load(path)?,
            None => Policy::default(),
        };
        for spec in &self.grants {
            policy
                .set(spec)
                .map_err(|e| anyhow::anyhow!("--grant {spec}: {e}"))?;
        }
        for name in &self.denies {
            policy
                .deny(name)
                .map_err(|e| anyhow::anyhow!("--deny {name}: {e}"))?;
        }
        Ok(policy)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    let backend = match remote::select(cli.backend, cli.clay_url) {
        Ok(mut b) => {
            b.http.trace_file = cli.trace_http;
            b
        }
        Err(e) => {
            eprintln!("error: {}", output::error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let ctx = Context {
        workspace: cli.workspace,
        cache_dir: cli.cache_dir,
        policy: cli.policy,
        grants: cli.grants,
        denies: cli.denies,
        backend,
        state: cli.state,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::demo(&ctx, args).await,
            Command::Build(args) => plugins::build_command(&ctx, args).await,
            Command::Manifest(cmd) => plugins::manifest_command(cmd),
            Command::Cache(cmd) => cache::cache(&ctx, cmd),
            Command::Run(args) => run::run(&ctx, args).await,
            Command::Audit(args) => run::audit(&ctx, args).await,
            Command::Runs(args) => runs::runs(&ctx, args).await,
            Command::Replay(args) => replay::replay_command(&ctx, args).await,
            Command::Shadow(args) => shadow::shadow(&ctx, args).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Worker(args) => worker::worker(args).await,
            Command::Inspect(args) => inspect::inspect(&ctx, args).await,
            Command::Workspace(cmd) => workspace::workspace(&ctx, cmd).await,
            Command::New(args) => new::new(args),
            Command::Test(args) => golden::test(&ctx, args).await,
            Command::Trail(cmd) => trail::trail(&ctx, cmd).await,
            Command::Budget(cmd) => budget::budget(&ctx, cmd).await,
            Command::Login(args) => remote::login(&ctx, args).await,
            Command::Logout => remote::logout(),
            Command::ClaySim(args) => sim::clay_sim(&ctx, args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // Errors carry guest text (trap messages, plugin names, row ids).
            eprintln!(
                "error: {}",
                output::sanitize_multiline(&output::error_chain(&e))
            );
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| GuestSafeStderr)
        // The writer shows every ESC escaped, colours included: without this, each log line
        // came out wrapped in `\x1b[2m…` text.
        .with_ansi(false)
        .with_target(false);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
}

/// Stderr for log lines, which carry plugin-chosen text (`log` calls, guest stdout).
/// tracing escapes ESC, BEL and C1 controls itself but passes `\r` and `\n`, with which a
/// plugin could overwrite a line or forge whole log lines of its own; each event arrives
/// here as one write, so every control byte but the final newline is shown escaped.
struct GuestSafeStderr;

impl std::io::Write for GuestSafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, newline) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, true),
            None => (buf, false),
        };
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.push(b'\t'),
                b if b < 0x20 || b == 0x7f => {
                    out.extend_from_slice(format!("\\x{b:02x}").as_bytes())
                }
                b => out.push(b),
            }
        }
        if newline {
            out.push(b'\n');
        }
        std::io::stderr().lock().write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
