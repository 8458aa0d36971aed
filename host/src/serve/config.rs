//! `serve.toml`: where to listen, the server's limits, and its tenants.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// `host:port`; port 0 picks a free one.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where compiled plugins are cached (shared by every tenant: code is keyed by hash).
    pub cache_dir: Option<PathBuf>,
    /// Where uploaded plugins are kept (`<data_dir>/<tenant>/plugins/`), so a restarted
    /// server has them and can finish their runs; without it uploads live in memory only.
    pub data_dir: Option<PathBuf>,
    /// Largest request body, bytes (row calls, JSON).
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// Largest plugin upload, bytes.
    #[serde(default = "default_plugin")]
    pub max_plugin_bytes: usize,
    /// How long the first row call of a batch waits for others to join it, ms.
    #[serde(default = "default_window")]
    pub coalesce_ms: u64,
    /// Most rows one coalesced batch carries.
    #[serde(default = "default_batch")]
    pub max_batch_rows: usize,
    /// Row calls waiting or running across all tenants before the server answers 503.
    #[serde(default = "default_global_queue")]
    pub max_queued: usize,
    /// Serve HTTPS with this certificate (otherwise plain HTTP, for a reverse proxy or
    /// loopback).
    pub tls: Option<TlsConfig>,
    /// `[nats]`: runs go to `kiln worker`s through NATS JetStream (`kiln serve --nats URL`
    /// sets the URL).
    pub nats: Option<super::ClusterConfig>,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
}

/// `[tls]`: PEM files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// One tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    /// SHA-256 (hex) of each API token that acts as this tenant; the tokens themselves are
    /// never stored (`kiln serve hash-token` prints one's hash).
    pub tokens_sha256: Vec<String>,
    /// The embedded workspace its plugins' Clay calls go to (its run journal and audit
    /// trail live in it too).
    pub workspace: Option<PathBuf>,
    /// Or Clay itself, over HTTP.
    pub clay: Option<ClayConfig>,
    /// With `clay`: the state file its run journal and audit trail live in (runs need one).
    pub state: Option<PathBuf>,
    /// The operator's policy for its plugins (a policy file, as for `kiln --policy`).
    pub policy: Option<PathBuf>,
    /// Plugins (`*.wasm`) loaded at start.
    pub plugins_dir: Option<PathBuf>,
    /// Plugin calls running at once.
    #[serde(default = "default_concurrent")]
    pub max_concurrent: u32,
    /// Row calls waiting or running before its calls are answered 429.
    #[serde(default = "default_tenant_queue")]
    pub max_queued: usize,
    /// Memory one plugin instance may grow to, MiB.
    #[serde(default = "default_memory")]
    pub memory_mib: u64,
    /// Plugins it may have; an upload past it is refused.
    #[serde(default = "default_plugins")]
    pub max_plugins: usize,
    /// Versions kept per plugin; an upload past it drops the oldest one not live.
    #[serde(default = "default_versions")]
    pub max_versions: usize,
    /// Runs and audits running at once; one more is answered 429.
    #[serde(default = "default_jobs")]
    pub max_jobs: usize,
    /// Credits its plugins may spend together per period (`credit_period_days`), across
    /// row calls and runs: the pool budget of its workspace or state file. Without it, a
    /// pool budget there is removed (this file decides).
    pub credits_per_period: Option<f64>,
    /// The period `credits_per_period` counts over, days.
    #[serde(default = "default_credit_period")]
    pub credit_period_days: u32,
    /// Plugin settings by plugin name (`[tenant.settings.normalize-contacts]`,
    /// `default_country_code = "44"`): what `--config` is to `kiln run`, for row calls (a
    /// Clay column sends no settings) and under a run's own.
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// A tenant's Clay over HTTP. The credential comes from the environment or a file, never
/// from this file, and never reaches a plugin, a log line or an error message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClayConfig {
    /// Clay's base URL (default `https://api.clay.com`).
    pub url: Option<String>,
    /// The environment variable holding its API key.
    pub api_key_env: Option<String>,
    /// A file holding its API key (e.g. a mounted secret).
    pub api_key_file: Option<PathBuf>,
    /// Requests per second this tenant may send to Clay (default 10, Clay's own limit).
    pub requests_per_second: Option<u32>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_body() -> usize {
    1 << 20
}
fn default_plugin() -> usize {
    32 << 20
}
fn default_window() -> u64 {
    2
}
fn default_batch() -> usize {
    256
}
fn default_global_queue() -> usize {
    4096
}
fn default_concurrent() -> u32 {
    8
}
fn default_tenant_queue() -> usize {
    512
}
fn default_memory() -> u64 {
    128
}
fn default_plugins() -> usize {
    64
}
fn default_versions() -> usize {
    8
}
fn default_jobs() -> usize {
    16
}
fn default_credit_period() -> u32 {
    30
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl ServeConfig {
    /// Reads and checks `path`; relative paths in it are taken from its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut config: ServeConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        rebase(&mut config.cache_dir);
        rebase(&mut config.data_dir);
        if let Some(tls) = &mut config.tls {
            for p in [&mut tls.cert, &mut tls.key] {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        for t in &mut config.tenants {
            rebase(&mut t.workspace);
            rebase(&mut t.state);
            if let Some(clay) = &mut t.clay {
                rebase(&mut clay.api_key_file);
            }
            rebase(&mut t.policy);
            rebase(&mut t.plugins_dir);
        }
        config.check().map_err(invalid)?;
        Ok(config)
    }

    /// Tenant ids unique, token hashes well-formed and each naming one tenant.
    pub fn check(&self) -> Result<(), String> {
        let mut ids = std::collections::HashSet::new();
        let mut tokens = std::collections::HashMap::new();
        let mut files = std::collections::HashMap::new();
        for t in &self.tenants {
            if t.id.is_empty()
                || !t
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "tenant id `{}`: use letters, digits, - and _",
                    t.id
                ));
            }
            if !ids.insert(t.id.as_str()) {
                return Err(format!("tenant `{}` is defined twice", t.id));
            }
            if t.tokens_sha256.is_empty() {
                return Err(format!(
                    "tenant `{}` has no tokens_sha256: nobody could call it",
                    t.id
                ));
            }
            for h in &t.tokens_sha256 {
                if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!(
                        "tenant `{}`: `{h}` is not a SHA-256 in hex (64 characters); `kiln serve hash-token` prints one",
                        t.id
                    ));
                }
                if let Some(other) = tokens.insert(h.to_ascii_lowercase(), t.id.as_str()) {
                    return Err(format!(
                        "one token hash is given to tenants `{other}` and `{}`: a token acts as one tenant",
                        t.id
                    ));
                }
            }
            match (&t.workspace, &t.clay) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "tenant `{}` has both a workspace and clay: pick one backend",
                        t.id
                    ));
                }
                (None, Some(clay)) if clay.api_key_env.is_some() == clay.api_key_file.is_some() => {
                    return Err(format!(
                        "tenant `{}`: give clay one of api_key_env or api_key_file",
                        t.id
                    ));
                }
                _ => {}
            }
            // A workspace or state file holds a tenant's runs, trail and budgets: shared,
            // one tenant would see and spend another's.
            if let Some(file) = t.workspace.as_ref().or(t.state.as_ref()) {
                let key = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
                if let Some(other) = files.insert(key, t.id.as_str()) {
                    return Err(format!(
                        "tenants `{other}` and `{}` name the same file {}: each tenant needs its own workspace or state file",
                        t.id,
                        file.display()
                    ));
                }
            }
            if let Some(credits) = t.credits_per_period {
                if !(credits.is_finite() && credits >= 0.0) || t.credit_period_days == 0 {
                    return Err(format!(
                        "tenant `{}`: credits_per_period must be a number ≥ 0 and credit_period_days at least 1",
                        t.id
                    ));
                }
                if t.workspace.is_none() && t.state.is_none() {
                    return Err(format!(
                        "tenant `{}`: credits_per_period needs a ledger: set `workspace`, or `state` beside `clay`",
                        t.id
                    ));
                }
            }
            if t.max_concurrent == 0
                || t.max_queued == 0
                || t.max_plugins == 0
                || t.max_versions == 0
                || t.max_jobs == 0
            {
                return Err(format!(
                    "tenant `{}`: max_concurrent, max_queued, max_plugins, max_versions and max_jobs must be at least 1",
                    t.id
                ));
            }
        }
        if self.max_batch_rows == 0 {
            return Err("max_batch_rows must be at least 1".into());
        }
        Ok(())
    }

    pub fn coalesce_window(&self) -> Duration {
        Duration::from_millis(self.coalesce_ms)
    }
}

/// The hex SHA-256 a token is stored as.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
