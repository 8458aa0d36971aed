//! `kiln serve`: plugins of many tenants behind one HTTP server — uploaded, versioned and
//! activated per tenant, called row by row as a Clay HTTP API column, with admission limits
//! and Prometheus metrics. Usable as a library: [`Server::start`].
//!
//! A tenant is reached only through its own tokens; every plugin, version and lane lives in
//! its tenant's registry, so no request of one tenant can name another's plugins.

pub mod config;
mod metrics;
mod rows;

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

pub use config::{ServeConfig, TenantConfig, hash_token};
use metrics::Metrics;
use rows::{Coalescer, Lane, RowAnswer};

use crate::backend::Clay;
use crate::backend::local::LocalBackend;
use crate::invocation::InvocationOptions;
use crate::plugin::policy::Policy;
use crate::plugin::{Plugin, World};
use crate::runtime::{Runtime, RuntimeConfig};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("tenant `{tenant}`: {message}")]
    Tenant { tenant: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
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
        let state = Arc::new(AppState::new(config).await?);
        let app = router(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        tracing::info!(%addr, tenants = state.tenants.len(), "kiln serve listening");
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
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
    plugins: RwLock<HashMap<String, Slot>>,
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
        let mut tenants = HashMap::new();
        let mut tokens = HashMap::new();
        for t in &config.tenants {
            let tenant = Tenant::load(t, &config, &metrics).await?;
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

impl Tenant {
    async fn load(
        t: &TenantConfig,
        config: &ServeConfig,
        metrics: &Arc<Metrics>,
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
        let backend: Arc<dyn Clay> = match &t.workspace {
            Some(path) => Arc::new(
                LocalBackend::open(path)
                    .map_err(|e| fail(format!("workspace {}: {e}", path.display())))?,
            ),
            None => Arc::new(LocalBackend::in_memory().map_err(|e| fail(e.to_string()))?),
        };
        let tenant = Self {
            config: t.clone(),
            runtime,
            backend,
            plugins: RwLock::new(HashMap::new()),
            running: Arc::new(Semaphore::new(t.max_concurrent.max(1) as usize)),
            queued: AtomicUsize::new(0),
        };
        if let Some(dir) = &t.plugins_dir {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| fail(format!("plugins_dir {}: {e}", dir.display())))?;
            let mut paths: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect();
            paths.sort();
            for path in paths {
                let plugin = tenant
                    .runtime
                    .load_file(&path)
                    .await
                    .map_err(|e| fail(format!("{}: {e}", path.display())))?;
                tenant.add(plugin, config, metrics, true).await;
            }
        }
        Ok(tenant)
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
                    invocation: InvocationOptions::default(),
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
        let active = slot.active == sha;
        (sha, active)
    }
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
        .with_state(state)
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
    let (sha256, active) = tenant
        .add(plugin, &state.config, &state.metrics, false)
        .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "name": name, "sha256": sha256, "world": world, "active": active })),
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
    Ok(axum::Json(view(&name, slot)).into_response())
}

async fn delete_plugin(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let removed = tenant.plugins.write().await.remove(&name);
    match removed {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
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
