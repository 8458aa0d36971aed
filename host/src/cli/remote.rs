//! Choosing a backend (`--backend local|http`, `--clay-url`, the config file, env), Clay
//! credentials, `kiln login` / `kiln logout`, and the live workspace summary.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use kiln_host::Clay;
use kiln_host::backend::http::{self, Credentials, HttpBackend, HttpConfig};
use kiln_host::backend::local::LocalBackend;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Context, output};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BackendKind {
    /// The embedded SQLite workspace (`--workspace`).
    Local,
    /// Clay's v3 API at `--clay-url`.
    Http,
}

/// `<config dir>/kiln/config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    backend: Option<BackendKind>,
    clay_url: Option<String>,
    /// Client-side rate limit, requests per second.
    requests_per_second: Option<u32>,
}

/// kiln's configuration directory: `KILN_CONFIG_DIR`, else `<config dir>/kiln`.
pub(crate) fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KILN_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    Ok(dirs::config_dir()
        .context("cannot find the user's config directory; set KILN_CONFIG_DIR")?
        .join("kiln"))
}

fn session_path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("session"))
}

fn read_config() -> anyhow::Result<ConfigFile> {
    // No config directory (no HOME): nothing configured, which must not stop local commands.
    let Ok(dir) = config_dir() else {
        return Ok(ConfigFile::default());
    };
    let path = dir.join("config.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| {
            format!(
                "reading {} (known keys: backend = \"local\"|\"http\", clay_url, requests_per_second)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Backend choice: flag or env (clap), else the config file, else local.
pub(crate) struct Selection {
    pub kind: BackendKind,
    pub http: HttpConfig,
}

pub(crate) fn select(flag: Option<BackendKind>, url: Option<String>) -> anyhow::Result<Selection> {
    let file = read_config()?;
    let mut http = HttpConfig::default();
    if let Some(u) = url.or(file.clay_url) {
        http.base_url = u;
    }
    if let Some(rps) = file.requests_per_second {
        http.requests_per_second = rps;
    }
    Ok(Selection {
        kind: flag.or(file.backend).unwrap_or(BackendKind::Local),
        http,
    })
}

/// Credentials from the environment, else the stored session.
fn credentials() -> anyhow::Result<Credentials> {
    if let Ok(cookie) = std::env::var("CLAY_SESSION_COOKIE")
        && !cookie.trim().is_empty()
    {
        return Ok(Credentials::session(&cookie));
    }
    if let Ok(key) = std::env::var("CLAY_API_KEY")
        && !key.trim().is_empty()
    {
        return Ok(Credentials::api_key(&key));
    }
    let path = session_path()?;
    http::auth::load_session(&path)?.ok_or_else(|| {
        anyhow::anyhow!(
            "not logged in to Clay: run `kiln login` (or set CLAY_SESSION_COOKIE or CLAY_API_KEY)"
        )
    })
}

/// An open backend; for HTTP, also the handle whose stats `kiln run` reports.
pub(crate) struct Opened {
    pub clay: Arc<dyn Clay>,
    pub http: Option<Arc<HttpBackend>>,
    /// Where kiln keeps its own state (the audit trail, credit budgets): the workspace
    /// file itself when local, a state file of its own for a remote Clay.
    pub state: PathBuf,
    /// The acting member's email, for per-member budgets (unknown over HTTP).
    pub member: Option<String>,
}

impl Opened {
    /// One line on stderr about the HTTP traffic, when there was any; with the rows a run
    /// went through, the requests it took per 1,000 of them.
    pub(crate) fn report_traffic(&self, rows: Option<u64>) {
        if let Some(h) = &self.http {
            let s = h.stats();
            let per_thousand = match rows {
                Some(n) if n > 0 => format!(
                    " for {n} rows, {:.1} per 1,000 rows",
                    s.requests as f64 * 1000.0 / n as f64
                ),
                _ => String::new(),
            };
            eprintln!(
                "Clay: {} requests{per_thousand}, {} retries ({} rate-limited, {} server errors, {} connection errors)",
                s.requests, s.retries, s.rate_limited, s.server_errors, s.connection_errors
            );
        }
    }
}

/// The state file (trail, budgets) of a remote Clay — `--state` / `KILN_STATE`, else one
/// in the user's data directory — created with its directory if needed.
pub(crate) fn http_state_path(ctx: &Context) -> anyhow::Result<PathBuf> {
    let state = match &ctx.state {
        Some(p) => p.clone(),
        None => dirs::data_dir()
            .context("cannot find a data directory for kiln's state (trail, budgets); pass --state <file>")?
            .join("kiln")
            .join("state.sqlite"),
    };
    if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(state)
}

pub(crate) fn open(ctx: &Context, acting_as: Option<&str>) -> anyhow::Result<Opened> {
    match ctx.backend.kind {
        BackendKind::Local => {
            let path = ctx.workspace_path()?;
            let mut backend = LocalBackend::open(&path)?;
            if let Some(member) = acting_as {
                backend = backend.acting_as(member)?;
            }
            Ok(Opened {
                member: backend.actor_email()?,
                clay: Arc::new(backend),
                http: None,
                state: path,
            })
        }
        BackendKind::Http => {
            if acting_as.is_some() {
                bail!(
                    "--as works with the local backend only; over HTTP kiln acts as the logged-in Clay user"
                );
            }
            let backend = Arc::new(HttpBackend::new(ctx.backend.http.clone(), credentials()?)?);
            let state = http_state_path(ctx)?;
            Ok(Opened {
                clay: backend.clone(),
                http: Some(backend),
                state,
                member: None,
            })
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct LoginArgs {
    /// The Clay account's email (asked for when missing).
    #[arg(long)]
    email: Option<String>,
    /// Read the password from standard input instead of asking (for scripts).
    #[arg(long)]
    password_stdin: bool,
}

pub(crate) async fn login(ctx: &Context, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let email = match args.email {
        Some(e) => e,
        None => {
            eprint!("Clay email: ");
            std::io::stderr().flush().ok();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_string()
        }
    };
    if email.is_empty() {
        bail!("an email is needed to log in to Clay");
    }
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        rpassword::prompt_password("Clay password: ")
            .context("reading the password (no terminal? use --password-stdin)")?
    };
    let password = SecretString::from(password);
    let config = &ctx.backend.http;
    let creds = http::login(config, &email, &password).await?;
    let path = session_path()?;
    if let Some(cookie) = creds.session_value() {
        http::auth::save_session(&path, cookie)?;
    }
    let backend = HttpBackend::new(config.clone(), creds)?;
    let workspaces = backend
        .list_workspaces()
        .await
        .context("logged in, but listing your workspaces failed")?;
    println!(
        "logged in to {} as {email}; session stored in {}",
        config.base_url,
        path.display()
    );
    for w in workspaces {
        println!(
            "  workspace {} ({}): {} credits",
            w.name, w.id, w.credit_balance
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn logout() -> anyhow::Result<ExitCode> {
    let path = session_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => println!("removed the Clay session at {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("no stored Clay session"),
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    Ok(ExitCode::SUCCESS)
}

/// `kiln workspace show` against Clay: each workspace's members, tables and integrations.
pub(crate) async fn show(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let opened = open(ctx, None)?;
    let clay = opened.clay;
    let mut out = Vec::new();
    for w in clay.list_workspaces().await? {
        let members = clay.permissions(w.id).await?;
        let integrations = clay.integrations(w.id).await?;
        let tables: Vec<_> = clay
            .search_resources(w.id, "")
            .await?
            .into_iter()
            .filter(|r| r.kind == kiln_host::backend::model::ResourceKind::Table)
            .collect();
        out.push(serde_json::json!({
            "workspace": w, "members": members, "integrations": integrations, "tables": tables,
        }));
    }
    if json {
        output::json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Clay at {}", ctx.backend.http.base_url);
    for w in &out {
        println!(
            "workspace {} ({}): {} credits",
            w["workspace"]["name"].as_str().unwrap_or(""),
            w["workspace"]["id"],
            w["workspace"]["credit_balance"].as_f64().unwrap_or(0.0)
        );
        let count = |k: &str| w[k].as_array().map_or(0, Vec::len);
        println!(
            "  {} members, {} tables, {} integrations",
            count("members"),
            count("tables"),
            count("integrations")
        );
        for t in w["tables"].as_array().into_iter().flatten() {
            println!(
                "  table {} ({})",
                t["name"].as_str().unwrap_or(""),
                t["id"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
