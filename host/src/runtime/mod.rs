//! The runtime: one wasmtime [`Engine`] per process, the shared linker, the compiled-code
//! cache and the admission control in front of the instance pool.

pub mod cache;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use crate::plugin::CodeSource;
use crate::plugin::manifest::{self, Manifest};
use crate::plugin::policy::Policy;
use crate::plugin::validate::LoadCaps;
use crate::plugin::{Artifact, InvokeDefaults, LoadError, Plugin};
use crate::store::{Limits, State, ticker};

use cache::CompileCache;

/// How a [`Runtime`] is set up. The defaults suit a CLI run and the tests.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// The cache's size cap: past it, least recently used entries are removed.
    pub cache_max_bytes: u64,
    /// Instances alive at once. Further invocations wait for a slot (back-pressure).
    pub max_concurrency: u32,
    /// The most linear memory any plugin may be given; per-invocation caps sit below it.
    pub max_memory_bytes: u64,
    /// Count fuel, so [`Limits::fuel`] can bound deterministic runs. Costs some speed.
    pub fuel: bool,
    /// Limits applied when neither the plugin's manifest nor the invocation sets its own.
    pub default_limits: Limits,
    /// What the operator lets any plugin have; manifests' requests are capped by it.
    pub policy: Policy,
    /// The shape a component may have (size, functions, body size, nesting…), checked
    /// before it is compiled.
    pub load_caps: LoadCaps,
    /// How long a load waits for the compiler; see [`Runtime::load_bytes`] for what this
    /// does and does not bound.
    pub compile_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: default_cache_dir(),
            cache_max_bytes: default_cache_max_bytes(),
            max_concurrency: 16,
            max_memory_bytes: 1 << 30,
            fuel: false,
            default_limits: Limits::default(),
            policy: Policy::default(),
            load_caps: LoadCaps::default(),
            compile_timeout: Duration::from_secs(120),
        }
    }
}

/// `$KILN_CACHE_DIR`, else the user's cache directory.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KILN_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("kiln").join("compiled"))
}

/// `$KILN_CACHE_MAX_MB` mebibytes, else [`cache::DEFAULT_MAX_BYTES`].
pub fn default_cache_max_bytes() -> u64 {
    std::env::var("KILN_CACHE_MAX_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(cache::DEFAULT_MAX_BYTES, |mb| mb.saturating_mul(1 << 20))
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not configure the WebAssembly engine: {0}")]
    Engine(String),
    #[error("could not start the epoch ticker thread: {0}")]
    Ticker(#[from] std::io::Error),
}

/// Shared across clones: cheap to clone, safe to use from many tasks.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<State>,
    cache: Option<CompileCache>,
    permits: Arc<Semaphore>,
    /// Compilations running at once, abandoned ones included (see [`Runtime::load_bytes`]).
    compile_slots: Arc<Semaphore>,
    config: RuntimeConfig,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = build_engine(&config)?;
        ticker::start(&engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        crate::capabilities::add_to_linker(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = config
            .cache_dir
            .clone()
            .map(|dir| CompileCache::new(dir, &engine, config.cache_max_bytes));
        let permits = Arc::new(Semaphore::new(config.max_concurrency.max(1) as usize));
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                permits,
                compile_slots: Arc::new(Semaphore::new(COMPILE_SLOTS)),
                config,
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The compiled-code cache directory, if caching is on.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.as_ref().map(|c| c.dir())
    }

    /// Loads a plugin from a `.wasm` file; its name is the file stem.
    pub async fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().replace('_', "-"))
            .unwrap_or_else(|| "plugin".to_string());
        self.load_bytes(&name, bytes).await
    }

    /// Validates, compiles (or fetches from the cache) and pre-links a plugin component.
    ///
    /// Untrusted bytes are bounded twice. First the component's shape is checked against
    /// [`RuntimeConfig::load_caps`] in one linear pass, before the compiler sees it: that is
    /// what bounds compile time and memory, since Cranelift's cost follows the number and
    /// size of functions. Then compilation runs on its own thread and the load gives up after
    /// [`RuntimeConfig::compile_timeout`] with [`LoadError::CompileTimeout`].
    ///
    /// Limits of the timeout, honestly: a thread cannot be killed, so an abandoned compilation
    /// runs to its end in the background, holding its CPU and memory until then (the caps keep
    /// that finite). It keeps holding one of a few compile slots while it does, so abandoned
    /// compilations cannot pile up: a load that finds every slot taken waits for one within the
    /// same timeout. Memory is not capped separately; only a child process could do that.
    pub async fn load_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<Plugin, LoadError> {
        crate::plugin::check_is_component(&bytes)?;
        crate::plugin::validate::enforce(&bytes, &self.inner.config.load_caps)?;
        let manifest = manifest::extract(&bytes)?
            .map(|text| Manifest::parse(&text, &format!("kiln.toml embedded in `{name}`")))
            .transpose()?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        // Compiled code is keyed by the code alone: a changed manifest (limits, settings,
        // grants) must not cost a recompile, which for a Python or JavaScript component
        // is seconds.
        let code_key = if manifest.is_some() {
            hex::encode(Sha256::digest(manifest::strip(&bytes)?))
        } else {
            sha256.clone()
        };
        let started = Instant::now();
        let (component, source) = self.compile(bytes.clone(), &code_key).await?;
        tracing::debug!(
            plugin = name,
            ?source,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "plugin code ready"
        );
        Plugin::link(
            Artifact {
                name: name.to_string(),
                sha256,
                size_bytes: bytes.len(),
                code_source: source,
            },
            manifest,
            &self.inner.config.policy,
            &self.inner.engine,
            &self.inner.linker,
            &component,
            InvokeDefaults {
                permits: self.inner.permits.clone(),
                limits: self.inner.config.default_limits.clone(),
                fuel: self.inner.config.fuel,
                max_memory_bytes: self.inner.config.max_memory_bytes,
            },
        )
    }

    async fn compile(
        &self,
        bytes: Vec<u8>,
        sha256: &str,
    ) -> Result<(Component, CodeSource), LoadError> {
        if let Some(cache) = &self.inner.cache
            && let Some(component) = cache.load(&self.inner.engine, sha256)?
        {
            return Ok((component, CodeSource::Cache));
        }
        let component = self.compile_bounded(bytes).await?;
        if let Some(cache) = &self.inner.cache {
            cache.store(sha256, &component);
        }
        Ok((component, CodeSource::Compiled))
    }
}

/// Compilations at once: wasmtime already compiles one component's functions in parallel.
const COMPILE_SLOTS: usize = 2;

impl Runtime {
    /// Compiles on a dedicated thread (Cranelift is CPU-bound for a while, and an abandoned
    /// compilation must not occupy tokio's blocking pool), waiting at most the compile timeout.
    async fn compile_bounded(&self, bytes: Vec<u8>) -> Result<Component, LoadError> {
        let timeout = self.inner.config.compile_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let slot =
            tokio::time::timeout_at(deadline, self.inner.compile_slots.clone().acquire_owned())
                .await
                .map_err(|_| LoadError::CompileTimeout(timeout))?
                .map_err(|e| LoadError::Compile(e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let engine = self.inner.engine.clone();
        std::thread::Builder::new()
            .name("kiln-compile".to_string())
            .spawn(move || {
                let result = Component::new(&engine, &bytes);
                // The slot is released only when the compiler is done, abandoned or not.
                drop(slot);
                let _ = tx.send(result);
            })
            .map_err(|e| LoadError::Compile(format!("could not start a compile thread: {e}")))?;
        match tokio::time::timeout_at(deadline, rx).await {
            Err(_) => Err(LoadError::CompileTimeout(timeout)),
            Ok(Err(_)) => Err(LoadError::Compile(
                "the compile thread ended without a result".to_string(),
            )),
            Ok(Ok(result)) => result.map_err(|e| LoadError::Compile(format!("{e:#}"))),
        }
    }
}

/// Dead instances' memories returned to the kernel at once (see `build_engine`).
const DECOMMIT_BATCH: usize = 64;

fn build_engine(config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
    let concurrency = config.max_concurrency.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // A Rust wasip2 component has a handful of core instances, one memory and a few
    // tables. componentize-py's have 14 core instances, and 38 with WASI stubbed out (each
    // stub is an instance); componentize-js's about 10, and two memories once `kiln build`
    // has composed in its filesystem shim. The per-component caps fit those
    // with room for Python native extensions (a core module and instance each); the totals
    // size the pool for `concurrency` plugins alive at once. Core-instance slots cost only
    // their bookkeeping until used.
    pool.total_component_instances(concurrency)
        .total_core_instances(concurrency * 64)
        .total_memories(concurrency * 2)
        .total_tables(concurrency * 16)
        .total_stacks(concurrency)
        .max_memories_per_component(2)
        .max_tables_per_component(16)
        .max_core_instances_per_component(128)
        .max_memory_size(config.max_memory_bytes as usize)
        // Returning a dead instance's memory to the kernel (madvise, then page faults when
        // the slot is reused) was a quarter of instantiate-and-drop; flushing a batch at a
        // time took its p50 from 18.7 to 13.3 µs. Until a flush, up to a batch of dead
        // memories per CPU shard stays resident, and their slots are not reused.
        .decommit_batch_size(DECOMMIT_BATCH);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(config.fuel)
        .memory_init_cow(true)
        // Nothing here runs guests concurrently within a store (no component-model async),
        // so the store needs none of that machinery set up.
        .concurrency_support(false)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if std::env::var_os("KILN_PERFMAP").is_some() {
        wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&wasm).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
}
