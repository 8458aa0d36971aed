//! The sandbox's store: what one invocation's `wasmtime::Store` holds (WASI sandboxed to
//! nothing, the capabilities, the memory and table limiter), the per-invocation [`Limits`],
//! and the epoch ticker that turns a deadline into an interrupt.
//!
//! A leaf under the runtime, plugins and invocations: each of them builds on it, and it
//! knows none of them.

pub(crate) mod ticker;

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::{Capabilities, CapabilitiesView};

/// Per-invocation limits. Each ends the call with a typed error naming it
/// (`invocation::InvocationError`, which this leaf does not know).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear memory the guest may grow to.
    pub memory_bytes: u64,
    /// Wall-clock budget of one call (a batch, an audit), host waits included.
    pub deadline: Duration,
    /// Fuel per call, when the runtime counts fuel (deterministic runs).
    pub fuel: Option<u64>,
    /// Host calls per invocation.
    pub max_host_calls: Option<u64>,
    /// Bytes of log output (the `log` interface and stdout/stderr together) per invocation.
    pub log_bytes: usize,
    /// Bytes one call may hand back (a batch's outcomes, an audit's report).
    pub output_bytes: usize,
    /// Elements a guest table (of function references) may grow to.
    pub table_elements: usize,
}

/// The runtime's defaults (see `RuntimeConfig::default_limits`) are also the ceilings a
/// manifest cannot ask past unless the operator's policy raises them.
impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            deadline: Duration::from_secs(30),
            fuel: None,
            max_host_calls: Some(100_000),
            log_bytes: 1 << 20,
            output_bytes: 64 << 20,
            table_elements: 100_000,
        }
    }
}

/// Store data: WASI (sandboxed to nothing), the capabilities and the memory limiter.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    caps: Capabilities,
    limiter: MemoryLimiter,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CapabilitiesView for State {
    fn capabilities(&mut self) -> &mut Capabilities {
        &mut self.caps
    }
}

/// Caps linear memory per store and remembers a refusal, so the trap that follows (Rust
/// aborts on allocation failure) is reported as the memory limit it really is.
struct MemoryLimiter {
    limit: usize,
    refused: Option<usize>,
    table_limit: usize,
    table_refused: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a legitimate plugin needs few.
        if desired > self.table_limit {
            self.table_refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }
}

impl State {
    /// The capabilities one invocation reaches the host through.
    pub(crate) fn caps(&self) -> &Capabilities {
        &self.caps
    }

    pub(crate) fn caps_mut(&mut self) -> &mut Capabilities {
        &mut self.caps
    }

    /// The memory size the limiter refused, if it refused one.
    pub(crate) fn memory_refused(&self) -> Option<usize> {
        self.limiter.refused
    }

    /// The table size the limiter refused, if it refused one.
    pub(crate) fn table_refused(&self) -> Option<usize> {
        self.limiter.table_refused
    }
}

/// A store for one invocation under `limits`: linear memory and tables capped, an epoch
/// deadline that traps, and wasmtime's bound on what one guest→host transfer may make the
/// host allocate set to the output limit, so a flood stops before it is copied. The
/// deadline itself is armed per call ([`ticker::ticks_for`]).
pub(crate) fn new_store(
    engine: &Engine,
    wasi: WasiCtx,
    caps: Capabilities,
    limits: &Limits,
) -> Store<State> {
    let mut store = Store::new(
        engine,
        State {
            wasi,
            table: ResourceTable::new(),
            caps,
            limiter: MemoryLimiter {
                limit: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
                refused: None,
                table_limit: limits.table_elements,
                table_refused: None,
            },
        },
    );
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_trap();
    store.set_hostcall_fuel(limits.output_bytes);
    store
}
