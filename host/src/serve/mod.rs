//! `kiln serve`: plugins of many tenants behind one HTTP server — uploaded, versioned and
//! activated per tenant, called row by row as a Clay HTTP API column, with admission limits
//! and Prometheus metrics. Usable as a library: [`Server::start`].
//!
//! A tenant is reached only through its own tokens; every plugin, version and lane lives in
//! its tenant's registry, so no request of one tenant can name another's plugins.

pub mod cluster;
pub mod config;
mod jobs;
pub(crate) mod metrics;
mod pages;
mod records;
pub(crate) mod rows;
mod tls;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::{RwLock, Semaphore};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

pub use cluster::ClusterConfig;
pub use cluster::worker::Worker;
pub use config::{ServeConfig, TenantConfig, TlsConfig, hash_token};
use metrics::Metrics;
use rows::{Coalescer, Lane, RowAnswer};

use crate::backend::Clay;
use crate::backend::local::LocalBackend;
use crate::budget::{Budget, Ledger, Scope};
use crate::invocation::{
    AuditOptions, InvocationOptions, Journaling, TransformOptions, run_audit, run_transform,
};
use crate::journal::{Journal, RunState};
use crate::plugin::policy::Policy;
use crate::plugin::{Plugin, World};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::trail::Trail;
use jobs::{Job, JobRequest, JobState, Jobs};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("tenant `{tenant}`: {message}")]
    Tenant { tenant: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Cluster(String),
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    https: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Loads every tenant (runtime, workspace, policy, plugins) and starts listening.
    pub async fn start(config: ServeConfig) -> Result<Self, ServeError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
        let config_addr = config.listen;
        // A bad certificate is said before anything else loads.
        let tls = match &config.tls {
            Some(tls) => Some(tls::server_config(tls).map_err(ServeError::Tls)?),
            None => None,
        };
        let state = Arc::new(AppState::new(config).await?);
        // Runs a killed server left unfinished are finished now.
        for tenant in state.tenants.values() {
            tenant.resume_runs().await;
        }
        let app = router(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let https = tls.is_some();
        let task = match tls {
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            }),
            Some(tls) => {
                let listener = listener.into_std().map_err(|source| ServeError::Listen {
                    addr: config_addr,
                    source,
                })?;
                let handle = axum_server::Handle::new();
                let server = axum_server::from_tcp_rustls(
                    listener,
                    axum_server::tls_rustls::RustlsConfig::from_config(tls),
                )
                .map_err(|source| ServeError::Listen {
                    addr: config_addr,
                    source,
                })?
                .handle(handle.clone());
                tokio::spawn(async move {
                    tokio::spawn(async move {
                        let _ = stopped.await;
                        // Stop accepting; connections in flight finish (Server::stop bounds it).
                        handle.graceful_shutdown(None);
                    });
                    let _ = server.serve(app.into_make_service()).await;
                })
            }
        };
        tracing::info!(%addr, tenants = state.tenants.len(), "kiln serve listening");
        Ok(Self {
            addr,
            https,
            stop: Some(stop),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` or `https://` and the address it listens on.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting connections and waits, up to `drain`, for requests in flight.
    pub async fn stop(mut self, drain: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(drain, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }

    /// Runs until the task ends (the server is stopped).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

struct AppState {
    tenants: HashMap<String, Arc<Tenant>>,
    /// Token SHA-256 → tenant id.
    tokens: HashMap<String, String>,
    metrics: Arc<Metrics>,
    queued: AtomicUsize,
    config: ServeConfig,
}

struct Tenant {
    config: TenantConfig,
    runtime: Runtime,
    backend: Arc<dyn Clay>,
    /// Its run journal, audit trail and credit ledger, in its workspace or state file (none
    /// without one).
    journal: Option<Journal>,
    trail: Option<Trail>,
    ledger: Option<Ledger>,
    /// Where its uploads are kept.
    store: Option<std::path::PathBuf>,
    /// With `--nats`: where its runs' batches go, to `kiln worker`s.
    cluster: Option<cluster::Cluster>,
    plugins: RwLock<HashMap<String, Slot>>,
    jobs: Jobs,
    running: Arc<Semaphore>,
    queued: AtomicUsize,
}

/// One plugin name's versions, by SHA-256, and the one calls go to.
struct Slot {
    versions: BTreeMap<String, Version>,
    active: String,
}

struct Version {
    plugin: Plugin,
    /// Row calls of this version, coalesced (transformers only).
    lane: Option<Coalescer>,
    uploaded_ms: i64,
}

impl AppState {
    async fn new(config: ServeConfig) -> Result<Self, ServeError> {
        let metrics = Arc::new(Metrics::new());
        let cluster = match &config.nats {
            Some(nats) => Some(
                cluster::Cluster::connect(nats.clone())
                    .await
                    .map_err(|e| ServeError::Cluster(e.to_string()))?,
            ),
            None => None,
        };
        let mut tenants = HashMap::new();
        let mut tokens = HashMap::new();
        for t in &config.tenants {
            let tenant = Tenant::load(t, &config, &metrics, cluster.clone()).await?;
            for h in &t.tokens_sha256 {
                tokens.insert(h.to_ascii_lowercase(), t.id.clone());
            }
            tenants.insert(t.id.clone(), Arc::new(tenant));
        }
        Ok(Self {
            tenants,
            tokens,
            metrics,
            queued: AtomicUsize::new(0),
            config,
        })
    }

    /// The tenant a request's token names: `Authorization: Bearer <token>` or
    /// `X-Api-Key: <token>` (Clay's HTTP API column sends whatever headers you set).
    fn tenant(&self, headers: &HeaderMap) -> Result<Arc<Tenant>, ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "no API token: send `Authorization: Bearer <token>` or `X-Api-Key: <token>`",
                )
            })?;
        self.tokens
            .get(&hash_token(token))
            .and_then(|id| self.tenants.get(id))
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "this API token is not valid"))
    }
}

/// What a tenant runs with wherever it runs (a server or a worker): its runtime under its
/// policy, its backend, and the journal, trail and ledger in its workspace or state file.
pub(crate) struct TenantBase {
    pub runtime: Runtime,
    pub backend: Arc<dyn Clay>,
    pub journal: Option<Journal>,
    pub trail: Option<Trail>,
    pub ledger: Option<Ledger>,
}

impl TenantBase {
    /// With a cluster, the tenant's credit ledger and audit trail are the cluster's (shared
    /// by every worker); its local run journal stays in its own file.
    pub(crate) fn open(
        t: &TenantConfig,
        config: &ServeConfig,
        cluster: Option<&cluster::Cluster>,
    ) -> Result<Self, ServeError> {
        let fail = |message: String| ServeError::Tenant {
            tenant: t.id.clone(),
            message,
        };
        let policy = match &t.policy {
            Some(p) => Policy::load(p).map_err(|e| fail(e.to_string()))?,
            None => Policy::default(),
        };
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: config.cache_dir.clone(),
            max_concurrency: t.max_concurrent.max(1) * 2,
            max_memory_bytes: t.memory_mib << 20,
            policy,
            ..RuntimeConfig::default()
        })
        .map_err(|e| fail(e.to_string()))?;
        let backend: Arc<dyn Clay> = match (&t.workspace, &t.clay) {
            (Some(path), _) => Arc::new(
                LocalBackend::open(path)
                    .map_err(|e| fail(format!("workspace {}: {e}", path.display())))?,
            ),
            (None, Some(clay)) => Arc::new(http_backend(clay).map_err(fail)?),
            (None, None) => Arc::new(LocalBackend::in_memory().map_err(|e| fail(e.to_string()))?),
        };
        let (journal, trail, ledger) = match t.workspace.as_ref().or(t.state.as_ref()) {
            Some(path) => (
                Some(Journal::open(path).map_err(|e| fail(e.to_string()))?),
                Some(Trail::open(path).map_err(|e| fail(e.to_string()))?),
                Some(Ledger::open(path).map_err(|e| fail(e.to_string()))?),
            ),
            None => (None, None, None),
        };
        // On a cluster the tenant's budgets and trail are the cluster's, one for the server
        // and every worker.
        let (ledger, trail) = match cluster {
            Some(cluster) => (Some(cluster.ledger(&t.id)), Some(cluster.trail(&t.id))),
            None => (ledger, trail),
        };
        if let Some(ledger) = &ledger {
            // serve.toml decides the tenant's credits; what it no longer sets is lifted.
            match t.credits_per_period {
                Some(credits) => ledger
                    .set_budget(&Budget {
                        scope: Scope::Pool,
                        credits,
                        period_days: t.credit_period_days,
                    })
                    .map_err(|e| fail(e.to_string()))?,
                None => {
                    if ledger
                        .remove_budget(&Scope::Pool)
                        .map_err(|e| fail(e.to_string()))?
                    {
                        tracing::info!(tenant = %t.id, "serve.toml sets no credits_per_period: the tenant's pool budget is lifted");
                    }
                }
            }
        }
        Ok(Self {
            runtime,
            backend,
            journal,
            trail,
            ledger,
        })
    }
}

impl Tenant {
    async fn load(
        t: &TenantConfig,
        config: &ServeConfig,
        metrics: &Arc<Metrics>,
        cluster: Option<cluster::Cluster>,
    ) -> Result<Self, ServeError> {
        let fail = |message: String| ServeError::Tenant {
            tenant: t.id.clone(),
            message,
        };
        let TenantBase {
            runtime,
            backend,
            journal,
            trail,
            ledger,
        } = TenantBase::open(t, config, cluster.as_ref())?;
        let store = match &config.data_dir {
            Some(dir) => {
                let store = dir.join(&t.id).join("plugins");
                std::fs::create_dir_all(&store)
                    .map_err(|e| fail(format!("{}: {e}", store.display())))?;
                Some(store)
            }
            None => None,
        };
        let tenant = Self {
            config: t.clone(),
            runtime,
            backend,
            journal,
            trail,
            ledger,
            store,
            cluster,
            plugins: RwLock::new(HashMap::new()),
            jobs: Jobs::default(),
            running: Arc::new(Semaphore::new(t.max_concurrent.max(1) as usize)),
            queued: AtomicUsize::new(0),
        };
        if let Some(dir) = &t.plugins_dir {
            let paths =
                wasm_files(dir).map_err(|e| fail(format!("plugins_dir {}: {e}", dir.display())))?;
            for path in paths {
                let plugin = tenant
                    .runtime
                    .load_file(&path)
                    .await
                    .map_err(|e| fail(format!("{}: {e}", path.display())))?;
                tenant.share(&plugin, std::fs::read(&path).ok()).await;
                tenant.add(plugin, config, metrics, true).await;
            }
        }
        // Uploads kept from an earlier start, then which of their versions was live.
        if let Some(store) = &tenant.store {
            let paths = wasm_files(store).map_err(|e| fail(format!("{}: {e}", store.display())))?;
            for path in paths {
                match tenant.runtime.load_file(&path).await {
                    Ok(plugin) => {
                        tenant.share(&plugin, std::fs::read(&path).ok()).await;
                        tenant.add(plugin, config, metrics, false).await;
                    }
                    Err(e) => {
                        tracing::warn!(tenant = %t.id, path = %path.display(), "a kept upload does not load: {e}")
                    }
                }
            }
            let active: HashMap<String, String> = std::fs::read(store.join("active.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let mut plugins = tenant.plugins.write().await;
            for (name, sha) in active {
                if let Some(slot) = plugins.get_mut(&name)
                    && slot.versions.contains_key(&sha)
                {
                    slot.active = sha;
                }
            }
        }
        Ok(tenant)
    }

    /// Puts a plugin's component where the cluster's workers find it (with `--nats`).
    async fn share(&self, plugin: &Plugin, wasm: Option<Vec<u8>>) {
        if let (Some(cluster), Some(wasm)) = (&self.cluster, wasm)
            && let Err(e) = cluster.put_plugin(&plugin.info().sha256, &wasm).await
        {
            tracing::warn!(tenant = %self.config.id, plugin = %plugin.name(), "cannot share the plugin with the workers: {e}");
        }
    }

    /// Writes which version of each plugin is live, for the next start.
    async fn save_active(&self) {
        let Some(store) = &self.store else {
            return;
        };
        let active: HashMap<String, String> = self
            .plugins
            .read()
            .await
            .iter()
            .map(|(n, s)| (n.clone(), s.active.clone()))
            .collect();
        let path = store.join("active.json");
        let tmp = store.join("active.json.tmp");
        let written = serde_json::to_vec(&active)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(tenant = %self.config.id, "cannot keep the live versions: {e}");
        }
    }

    /// A call's options: the tenant's settings for `plugin`, `config` over them, its trail.
    fn invocation(
        &self,
        plugin: &str,
        config: std::collections::BTreeMap<String, String>,
    ) -> InvocationOptions {
        InvocationOptions {
            config: settings_for(&self.config, plugin, config),
            trail: self.trail.clone(),
            ledger: self.ledger.clone(),
            ..InvocationOptions::default()
        }
    }

    /// Resumes every interrupted run of a plugin version this tenant has, and follows its
    /// cluster runs still going.
    async fn resume_runs(self: &Arc<Self>) {
        if let Some(cluster) = &self.cluster {
            match cluster.journal().runs().await {
                Ok(runs) => {
                    for run in runs
                        .into_iter()
                        .filter(|r| r.tenant == self.config.id && r.state == RunState::Running)
                    {
                        tracing::info!(tenant = %self.config.id, run = %run.id, "following a cluster run");
                        follow_cluster_run(self, cluster.clone(), run);
                    }
                }
                Err(e) => {
                    tracing::warn!(tenant = %self.config.id, "cannot read the cluster's runs: {e}")
                }
            }
        }
        let Some(journal) = &self.journal else {
            return;
        };
        let runs = match journal.list() {
            Ok(runs) => runs,
            Err(e) => {
                tracing::warn!(tenant = %self.config.id, "cannot read the run journal: {e}");
                return;
            }
        };
        for run in runs
            .into_iter()
            .filter(|r| r.state == RunState::Interrupted)
        {
            let plugin = self
                .plugins
                .read()
                .await
                .values()
                .find_map(|slot| slot.versions.get(&run.plugin_sha256))
                .map(|v| v.plugin.clone());
            let Some(plugin) = plugin else {
                tracing::warn!(tenant = %self.config.id, run = %run.id, "an interrupted run's plugin version is not here; it stays interrupted");
                continue;
            };
            let request = JobRequest {
                plugin: run.plugin.clone(),
                table: Some(run.table_id.clone()),
                dry_run: run.options.dry_run,
                batch_size: Some(run.options.rows_per_batch),
                config: run.options.config.clone(),
                force: false,
                period_days: None,
            };
            match start_transform(self, plugin, request, Some(run.id.clone())).await {
                Ok(job) => {
                    tracing::info!(tenant = %self.config.id, run = %job.id, "resuming an interrupted run")
                }
                Err(e) => {
                    tracing::warn!(tenant = %self.config.id, run = %run.id, "cannot resume: {}", e.message)
                }
            }
        }
    }

    /// Adds a version (the active one when `activate` or when it is the first).
    async fn add(
        &self,
        plugin: Plugin,
        config: &ServeConfig,
        metrics: &Arc<Metrics>,
        activate: bool,
    ) -> (String, bool) {
        let sha = plugin.info().sha256.clone();
        let name = plugin.name().to_string();
        let lane = (plugin.world() == World::Transformer).then(|| {
            Coalescer::start(
                Lane {
                    plugin: plugin.clone(),
                    backend: self.backend.clone(),
                    invocation: self.invocation(&name, Default::default()),
                    running: self.running.clone(),
                    window: config.coalesce_window(),
                    max_rows: config.max_batch_rows,
                    tenant: self.config.id.clone(),
                    metrics: metrics.clone(),
                },
                self.config.max_queued,
            )
        });
        let version = Version {
            plugin,
            lane,
            uploaded_ms: crate::invocation::now_ms(),
        };
        let mut plugins = self.plugins.write().await;
        let slot = plugins.entry(name).or_insert_with(|| Slot {
            versions: BTreeMap::new(),
            active: sha.clone(),
        });
        slot.versions.insert(sha.clone(), version);
        if activate {
            slot.active = sha.clone();
        }
        // Past the quota the oldest version that is not live goes, with its kept file.
        while slot.versions.len() > self.config.max_versions {
            let Some(oldest) = slot
                .versions
                .iter()
                .filter(|(s, _)| **s != slot.active && **s != sha)
                .min_by_key(|(_, v)| v.uploaded_ms)
                .map(|(s, _)| s.clone())
            else {
                break;
            };
            slot.versions.remove(&oldest);
            if let Some(store) = &self.store {
                let _ = std::fs::remove_file(store.join(format!("{oldest}.wasm")));
            }
        }
        let active = slot.active == sha;
        (sha, active)
    }
}

/// A plugin's settings for a tenant: serve.toml's for it, with `config` (a run's) over them.
pub(crate) fn settings_for(
    t: &TenantConfig,
    plugin: &str,
    config: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut settings = t.settings.get(plugin).cloned().unwrap_or_default();
    settings.extend(config);
    settings
}

/// A tenant's Clay over HTTP, its key read from where the config says.
fn http_backend(clay: &config::ClayConfig) -> Result<crate::backend::http::HttpBackend, String> {
    use crate::backend::http::{Credentials, HttpBackend, HttpConfig};
    let key = match (&clay.api_key_env, &clay.api_key_file) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| format!("clay.api_key_env: the environment has no `{var}`"))?,
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| format!("clay.api_key_file {}: {e}", file.display()))?,
        (None, None) => return Err("clay: give api_key_env or api_key_file".into()),
    };
    if key.trim().is_empty() {
        return Err("clay: the API key is empty".into());
    }
    let mut config = HttpConfig::default();
    if let Some(url) = &clay.url {
        config.base_url = url.trim_end_matches('/').to_string();
    }
    if let Some(rps) = clay.requests_per_second {
        config.requests_per_second = rps.max(1);
    }
    HttpBackend::new(config, Credentials::api_key(&key)).map_err(|e| e.to_string())
}

/// The `.wasm` files in `dir`, in name order.
fn wasm_files(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    paths.sort();
    Ok(paths)
}

fn router(state: Arc<AppState>) -> Router {
    let body = state.config.max_body_bytes;
    let upload = state.config.max_plugin_bytes;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/metrics", get(metrics_text))
        .route("/v1/plugins", get(list_plugins))
        .route(
            "/v1/plugins/{name}",
            get(show_plugin)
                .put(upload_plugin)
                .delete(delete_plugin)
                .layer(DefaultBodyLimit::max(upload)),
        )
        .route(
            "/v1/plugins/{name}/activate",
            post(activate_plugin).layer(DefaultBodyLimit::max(body)),
        )
        .route(
            "/v1/plugins/{name}/row",
            post(row_call).layer(DefaultBodyLimit::max(body)),
        )
        .route(
            "/v1/runs",
            post(start_job)
                .get(list_jobs)
                .layer(DefaultBodyLimit::max(body)),
        )
        .route("/v1/runs/{id}", get(show_job).delete(cancel_job))
        .route("/v1/runs/{id}/events", get(job_events))
        .route("/v1/runs/{id}/report.html", get(pages::run_page))
        .route("/v1/trail", get(records::trail))
        .route("/v1/budgets", get(records::budgets))
        .with_state(state)
        // Every request gets an id (the caller's `x-request-id` when it sent a sane one),
        // returned in `x-request-id` and carried by the request's log lines.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                })
                .on_response(
                    |response: &Response, latency: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            latency_us = latency.as_micros() as u64,
                            "answered"
                        );
                    },
                ),
        )
        .layer(axum::middleware::from_fn_with_state(
            (body, upload),
            refuse_oversized,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Outermost: the id is set before anything else sees the request.
        .layer(SetRequestIdLayer::x_request_id(RequestIds))
}

/// Bodies past this are answered 413 without being read to the end (the connection closes).
const DRAIN_AT_MOST: u64 = 64 << 20;

/// A request whose `Content-Length` is past its route's cap is answered 413 with a JSON
/// error — after its body is read and dropped (up to [`DRAIN_AT_MOST`], a chunk at a time),
/// because a server that closes a connection on an unread body makes the client see a reset,
/// not the answer.
async fn refuse_oversized(
    State((body, upload)): State<(usize, usize)>,
    request: axum::http::Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let cap = if request.method() == axum::http::Method::PUT {
        upload
    } else {
        body
    } as u64;
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(length) if length > cap => {
            if length <= DRAIN_AT_MOST {
                use futures_util::StreamExt as _;
                let mut stream = request.into_body().into_data_stream();
                while let Some(Ok(_)) = stream.next().await {}
            }
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is {length} bytes; this endpoint takes at most {cap}"),
            )
            .into_response()
        }
        _ => next.run(request).await,
    }
}

/// Request ids: `req_<16 hex>`, unless the caller sent one of at most 64 visible ASCII
/// characters (a proxy's, to follow one request across services).
#[derive(Clone, Copy)]
struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, request: &axum::http::Request<B>) -> Option<RequestId> {
        let theirs = request
            .headers()
            .get("x-request-id")
            .filter(|v| {
                !v.is_empty() && v.len() <= 64 && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
            })
            .cloned();
        let id = theirs.or_else(|| HeaderValue::from_str(&crate::state_db::new_id("req")).ok())?;
        Some(RequestId::new(id))
    }
}

/// An error answer: a status and `{"error": "…"}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).unwrap_or(HeaderValue::from_static("1")),
            );
        }
        response
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let tenants: Vec<_> = state.tenants.values().cloned().collect();
    let now = crate::invocation::now_ms();
    let gauges = tokio::task::spawn_blocking(move || {
        tenants
            .iter()
            .map(|t| {
                let slots = t.config.max_concurrent.max(1) as i64;
                let credits = t.ledger.as_ref().and_then(|ledger| {
                    let period_ms = t.config.credit_period_days.max(1) as i64 * 24 * 3600 * 1000;
                    let totals = ledger.totals(now - period_ms).ok()?;
                    let left = ledger
                        .budgets(now)
                        .ok()?
                        .into_iter()
                        .find_map(|b| (b.budget.scope == Scope::Pool).then_some(b.remaining));
                    Some((totals.spent + totals.reserved, left))
                });
                (
                    t.config.id.clone(),
                    metrics::TenantNow {
                        in_use: slots - t.running.available_permits() as i64,
                        slots,
                        jobs: t.jobs.running() as i64,
                        credits,
                    },
                )
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (tenant, now) in &gauges {
        state.metrics.tenant_now(tenant, now);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[derive(Serialize)]
struct PluginView {
    name: String,
    world: World,
    active: String,
    versions: Vec<VersionView>,
}

#[derive(Serialize)]
struct VersionView {
    sha256: String,
    uploaded_ms: i64,
    active: bool,
}

fn view(name: &str, slot: &Slot) -> PluginView {
    let world = slot
        .versions
        .get(&slot.active)
        .map_or(World::Transformer, |v| v.plugin.world());
    PluginView {
        name: name.to_string(),
        world,
        active: slot.active.clone(),
        versions: slot
            .versions
            .iter()
            .map(|(sha, v)| VersionView {
                sha256: sha.clone(),
                uploaded_ms: v.uploaded_ms,
                active: *sha == slot.active,
            })
            .collect(),
    }
}

async fn list_plugins(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let plugins = tenant.plugins.read().await;
    let mut list: Vec<PluginView> = plugins.iter().map(|(n, s)| view(n, s)).collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(axum::Json(list).into_response())
}

fn no_plugin(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no plugin `{name}` here (GET /v1/plugins lists yours)"),
    )
}

async fn show_plugin(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let plugins = tenant.plugins.read().await;
    let slot = plugins.get(&name).ok_or_else(|| no_plugin(&name))?;
    Ok(axum::Json(view(&name, slot)).into_response())
}

async fn upload_plugin(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    {
        let plugins = tenant.plugins.read().await;
        if !plugins.contains_key(&name) && plugins.len() >= tenant.config.max_plugins {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "tenant `{}` has {} plugins, its quota: delete one first",
                    tenant.config.id, tenant.config.max_plugins
                ),
            ));
        }
    }
    let plugin = tenant
        .runtime
        .load_bytes(&name, body.to_vec())
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    if plugin.name() != name {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the component's manifest names it `{}`; upload it to /v1/plugins/{}",
                plugin.name(),
                plugin.name()
            ),
        ));
    }
    let world = plugin.world();
    // What the tenant's policy left of what the manifest asked for.
    let grants = serde_json::to_value(plugin.grants()).unwrap_or_default();
    if let Some(store) = &tenant.store {
        let path = store.join(format!("{}.wasm", plugin.info().sha256));
        if let Err(e) = std::fs::write(&path, &body) {
            return Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("the upload could not be kept: {e}"),
            ));
        }
    }
    tenant.share(&plugin, Some(body.to_vec())).await;
    let (sha256, active) = tenant
        .add(plugin, &state.config, &state.metrics, false)
        .await;
    tenant.save_active().await;
    Ok((
        StatusCode::CREATED,
        axum::Json(
            json!({ "name": name, "sha256": sha256, "world": world, "active": active, "grants": grants }),
        ),
    )
        .into_response())
}

async fn activate_plugin(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let sha = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("sha256").and_then(Value::as_str).map(str::to_string))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                r#"send {"sha256": "<the version to activate>"}"#,
            )
        })?;
    let mut plugins = tenant.plugins.write().await;
    let slot = plugins.get_mut(&name).ok_or_else(|| no_plugin(&name))?;
    if !slot.versions.contains_key(&sha) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("plugin `{name}` has no version {sha}"),
        ));
    }
    // Calls already handed to the old version's lane finish on it.
    slot.active = sha;
    let shown = view(&name, slot);
    drop(plugins);
    tenant.save_active().await;
    Ok(axum::Json(shown).into_response())
}

async fn delete_plugin(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let removed = tenant.plugins.write().await.remove(&name);
    match removed {
        Some(slot) => {
            if let Some(store) = &tenant.store {
                for sha in slot.versions.keys() {
                    let _ = std::fs::remove_file(store.join(format!("{sha}.wasm")));
                }
            }
            tenant.save_active().await;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(no_plugin(&name)),
    }
}

/// Counts a row call in its tenant's and the server's queues while it lives.
struct Admitted<'a> {
    tenant: &'a Tenant,
    state: &'a AppState,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.tenant.queued.fetch_sub(1, Ordering::AcqRel);
        self.state.queued.fetch_sub(1, Ordering::AcqRel);
        self.state.metrics.queued(&self.tenant.config.id, -1);
    }
}

fn admit<'a>(state: &'a AppState, tenant: &'a Tenant) -> Result<Admitted<'a>, ApiError> {
    let id = &tenant.config.id;
    if tenant.queued.fetch_add(1, Ordering::AcqRel) >= tenant.config.max_queued {
        tenant.queued.fetch_sub(1, Ordering::AcqRel);
        state.metrics.refused(id, 429);
        return Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "tenant `{id}` has {} row calls waiting or running, its quota; retry after a second",
                    tenant.config.max_queued
                ),
            )
        });
    }
    if state.queued.fetch_add(1, Ordering::AcqRel) >= state.config.max_queued {
        state.queued.fetch_sub(1, Ordering::AcqRel);
        tenant.queued.fetch_sub(1, Ordering::AcqRel);
        state.metrics.refused(id, 503);
        return Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is at capacity; retry after a second",
            )
        });
    }
    state.metrics.queued(id, 1);
    Ok(Admitted { tenant, state })
}

async fn row_call(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let row: Map<String, Value> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(row)) if row.len() > rows::MAX_ROW_COLUMNS => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the row has {} columns; a row call takes at most {}",
                    row.len(),
                    rows::MAX_ROW_COLUMNS
                ),
            ));
        }
        Ok(Value::Object(row)) => row,
        Ok(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be one JSON object of column name → value, not {}",
                    kind(&other)
                ),
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            ));
        }
    };
    let lane = {
        let plugins = tenant.plugins.read().await;
        let slot = plugins.get(&name).ok_or_else(|| no_plugin(&name))?;
        let version = slot
            .versions
            .get(&slot.active)
            .ok_or_else(|| no_plugin(&name))?;
        version.lane.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!("plugin `{name}` is an auditor: only transformers answer row calls"),
            )
        })?
    };
    let _admitted = admit(&state, &tenant)?;
    // On a cluster the workers answer row calls: the lane here stays idle.
    if let Some(cluster) = &tenant.cluster {
        return cluster_row_call(cluster, &tenant, &name, row).await;
    }
    match lane.call(row).await {
        Some(RowAnswer::Set(cells)) => Ok(axum::Json(Value::Object(cells)).into_response()),
        Some(RowAnswer::Failed(message) | RowAnswer::BatchFailed(message)) => {
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message))
        }
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("plugin `{name}` was removed while the call waited"),
        )),
    }
}

/// A row call answered by one of the cluster's workers.
async fn cluster_row_call(
    cluster: &cluster::Cluster,
    tenant: &Tenant,
    name: &str,
    row: Map<String, Value>,
) -> Result<Response, ApiError> {
    let sha256 = {
        let plugins = tenant.plugins.read().await;
        plugins
            .get(name)
            .map(|slot| slot.active.clone())
            .ok_or_else(|| no_plugin(name))?
    };
    let request = cluster::RowRequest {
        plugin: name.to_string(),
        sha256,
        row,
    };
    match cluster.row_call(&tenant.config.id, &request).await {
        Ok(cluster::RowReply::Set(cells)) => Ok(axum::Json(Value::Object(cells)).into_response()),
        Ok(cluster::RowReply::Failed(message)) => {
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message))
        }
        Ok(cluster::RowReply::Busy(message)) => Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }),
        Err(e) => Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The active version of `name`, or 404.
async fn active_plugin(tenant: &Tenant, name: &str) -> Result<Plugin, ApiError> {
    let plugins = tenant.plugins.read().await;
    let slot = plugins.get(name).ok_or_else(|| no_plugin(name))?;
    slot.versions
        .get(&slot.active)
        .map(|v| v.plugin.clone())
        .ok_or_else(|| no_plugin(name))
}

async fn start_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let request: JobRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                r#"the body must be {{"plugin": "<name>", "table": "<table>", "dry_run": false, "config": {{}}}} (an auditor takes "period_days" instead of "table"): {e}"#
            ),
        )
    })?;
    let plugin = active_plugin(&tenant, &request.plugin).await?;
    if tenant.jobs.running() >= tenant.config.max_jobs {
        state.metrics.refused(&tenant.config.id, 429);
        return Err(ApiError {
            retry_after: Some(5),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "tenant `{}` has {} runs going, its quota; retry when one ends",
                    tenant.config.id, tenant.config.max_jobs
                ),
            )
        });
    }
    let job = match plugin.world() {
        World::Transformer => start_transform(&tenant, plugin, request, None).await?,
        World::Auditor => start_audit(&tenant, plugin, request),
    };
    Ok((StatusCode::ACCEPTED, axum::Json(job.view())).into_response())
}

type Begun = Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<Result<Arc<Job>, String>>>>>;

/// Starts (or, with `resume`, finishes) a journaled transform run of `plugin`; answers once
/// the journal holds it, with its run id as the job's.
async fn start_transform(
    tenant: &Arc<Tenant>,
    plugin: Plugin,
    request: JobRequest,
    resume: Option<String>,
) -> Result<Arc<Job>, ApiError> {
    if let (Some(cluster), None) = (&tenant.cluster, &resume) {
        return start_cluster_run(tenant, cluster.clone(), plugin, request).await;
    }
    let Some(journal) = tenant.journal.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "tenant `{}` has no workspace: runs need one (set `workspace` in serve.toml)",
                tenant.config.id
            ),
        ));
    };
    let table = match (&request.table, &resume) {
        (Some(t), _) => t.clone(),
        (None, Some(_)) => String::new(),
        (None, None) => {
            return Err(no_table(&plugin));
        }
    };
    let (begun_tx, begun_rx) = tokio::sync::oneshot::channel();
    let begun: Begun = Arc::new(std::sync::Mutex::new(Some(begun_tx)));
    let cell: Arc<std::sync::OnceLock<Arc<Job>>> = Arc::new(std::sync::OnceLock::new());
    let on_begin = {
        let (tenant, cell, begun, name) = (
            tenant.clone(),
            cell.clone(),
            begun.clone(),
            plugin.name().to_string(),
        );
        Box::new(move |id: &str| {
            let job = Job::new(id.to_string(), "transform", name);
            tenant.jobs.insert(job.clone());
            let _ = cell.set(job.clone());
            if let Some(tx) = begun.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(Ok(job));
            }
        }) as Box<dyn FnOnce(&str) + Send + Sync>
    };
    let progress = {
        let cell = cell.clone();
        Box::new(move |done, total| {
            if let Some(job) = cell.get() {
                job.progress(done, total);
            }
        }) as Box<dyn Fn(u64, u64) + Send + Sync>
    };
    let options = TransformOptions {
        rows_per_batch: request.batch_size.unwrap_or(1024).clamp(1, 10_000),
        dry_run: request.dry_run,
        invocation: tenant.invocation(plugin.name(), request.config.clone()),
        progress: Some(progress),
        journal: Some(Journaling {
            journal,
            plugin_spec: format!("serve:{}@{}", plugin.name(), plugin.info().sha256),
            resume,
            force: request.force,
            on_begin: Some(on_begin),
        }),
        ..TransformOptions::default()
    };
    let backend = tenant.backend.clone();
    let running = tenant.running.clone();
    let task = tokio::spawn(async move {
        // A run holds one of the tenant's plugin slots while it runs.
        let _permit = running.acquire_owned().await;
        let result = run_transform(&plugin, backend, &table, options).await;
        match (cell.get(), result) {
            (Some(job), Ok(report)) => {
                job.finish_run(&report);
            }
            (Some(job), Err(e)) => job.finish(JobState::Failed, None, Some(e.to_string())),
            (None, result) => {
                let message = match result {
                    Ok(_) => "the run ended before it was journaled".to_string(),
                    Err(e) => e.to_string(),
                };
                if let Some(tx) = begun.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = tx.send(Err(message));
                }
            }
        }
    });
    match begun_rx.await {
        Ok(Ok(job)) => {
            job.set_task(task.abort_handle());
            Ok(job)
        }
        Ok(Err(message)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the run's task ended without a word",
        )),
    }
}

/// A run whose batches go to `kiln worker`s: planned into the cluster's journal and queue,
/// then followed to its report.
async fn start_cluster_run(
    tenant: &Arc<Tenant>,
    cluster: cluster::Cluster,
    plugin: Plugin,
    request: JobRequest,
) -> Result<Arc<Job>, ApiError> {
    let Some(table) = request.table.clone() else {
        return Err(no_table(&plugin));
    };
    let options = crate::journal::RunOptions {
        rows_per_batch: request.batch_size.unwrap_or(256).clamp(1, 10_000),
        dry_run: request.dry_run,
        config: request.config.clone(),
    };
    let invocation = tenant.invocation(plugin.name(), request.config);
    let run = cluster::dispatch(
        &cluster,
        &tenant.config.id,
        &plugin,
        &tenant.backend,
        &table,
        options,
        &invocation,
    )
    .await
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok(follow_cluster_run(tenant, cluster, run))
}

/// A job that follows a cluster run's batches until they have all ended.
fn follow_cluster_run(
    tenant: &Arc<Tenant>,
    cluster: cluster::Cluster,
    run: cluster::RunDoc,
) -> Arc<Job> {
    let job = Job::new(run.id.clone(), "transform", run.plugin.clone());
    tenant.jobs.insert(job.clone());
    job.progress(0, run.total_rows);
    let done = job.clone();
    let task = tokio::spawn(async move {
        let progress = {
            let job = done.clone();
            move |rows: u64, total: u64| job.progress(rows, total)
        };
        match cluster::follow(&cluster, &run, &progress).await {
            Ok(report) => {
                done.finish_run(&report);
            }
            Err(e) => done.finish(JobState::Failed, None, Some(e.to_string())),
        }
    });
    job.set_task(task.abort_handle());
    job
}

fn start_audit(tenant: &Arc<Tenant>, plugin: Plugin, request: JobRequest) -> Arc<Job> {
    let id = crate::state_db::new_id("audit");
    let job = Job::new(id, "audit", plugin.name().to_string());
    tenant.jobs.insert(job.clone());
    job.progress(0, 1);
    let options = AuditOptions {
        period: Duration::from_secs(request.period_days.unwrap_or(90).clamp(1, 3650) * 24 * 3600),
        invocation: tenant.invocation(plugin.name(), request.config),
        ..AuditOptions::default()
    };
    let (backend, running, done) = (tenant.backend.clone(), tenant.running.clone(), job.clone());
    let task = tokio::spawn(async move {
        let Ok(_permit) = running.acquire_owned().await else {
            return;
        };
        match run_audit(&plugin, backend, options).await {
            Ok((scope, report)) => {
                done.progress(1, 1);
                done.finish(
                    JobState::Finished,
                    Some(json!({ "scope": scope, "report": report })),
                    None,
                );
            }
            Err(e) => done.finish(JobState::Failed, None, Some(e.to_string())),
        }
    });
    job.set_task(task.abort_handle());
    job
}

fn no_table(plugin: &Plugin) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!(
            "`{}` is a transformer: say which table it runs on (\"table\")",
            plugin.name()
        ),
    )
}

fn no_job(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no run `{id}` here (GET /v1/runs lists yours)"),
    )
}

async fn list_jobs(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let mut views: Vec<_> = tenant
        .jobs
        .all()
        .iter()
        .map(|j| {
            let mut v = j.view();
            v.report = None;
            v
        })
        .collect();
    views.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(axum::Json(views).into_response())
}

async fn show_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    Ok(axum::Json(job_view(&tenant, &id).await?).into_response())
}

/// A job of this tenant: one this server started, or a transform run its journal holds
/// (one that ended before a restart, or has left the list of ended jobs).
async fn job_view(tenant: &Arc<Tenant>, id: &str) -> Result<jobs::JobView, ApiError> {
    if let Some(job) = tenant.jobs.get(id) {
        return Ok(job.view());
    }
    let journal = tenant.journal.clone().ok_or_else(|| no_job(id))?;
    let run_id = id.to_string();
    let found = tokio::task::spawn_blocking(move || {
        let info = journal.get(&run_id).ok()??;
        let report = crate::invocation::TransformReport::from_journal(&journal, &run_id)
            .ok()
            .flatten();
        Some((info, report))
    })
    .await
    .ok()
    .flatten();
    let (info, report) = found.ok_or_else(|| no_job(id))?;
    let done = report.as_ref().map_or(0, |r| r.rows_seen);
    Ok(jobs::JobView {
        id: info.id,
        kind: "transform",
        plugin: info.plugin,
        state: JobState::of_run(info.state),
        progress: jobs::Progress {
            done,
            total: info.total_rows,
        },
        report: report.and_then(|r| serde_json::to_value(r).ok()),
        error: info.error,
    })
}

async fn job_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let job = tenant.jobs.get(&id).ok_or_else(|| no_job(&id))?;
    Ok(axum::response::sse::Sse::new(jobs::events(job)).into_response())
}

async fn cancel_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let job = tenant.jobs.get(&id).ok_or_else(|| no_job(&id))?;
    if !job.cancel() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("run `{id}` has already ended ({:?})", job.state()),
        ));
    }
    // A cancelled cluster run's batches still queued are dropped by the workers.
    if let Some(cluster) = &tenant.cluster
        && let Ok(Some(mut run)) = cluster.journal().run(&id).await
    {
        run.state = RunState::Abandoned;
        if let Err(e) = cluster.journal().put_run(&run).await {
            tracing::warn!(run = %id, "cannot mark the cluster run cancelled: {e}");
        }
        return Ok(axum::Json(job.view()).into_response());
    }
    // A cancelled run is not resumed on the next start: once its task has let go of the
    // run's lock, the journal marks it abandoned.
    if job.kind == "transform"
        && let Some(journal) = tenant.journal.clone()
    {
        for _ in 0..100 {
            match journal.abandon(&id) {
                Err(crate::journal::JournalError::Live { .. }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => break,
            }
        }
    }
    Ok(axum::Json(job.view()).into_response())
}
