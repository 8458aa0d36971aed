//! One invocation: a fresh [`Store`] with its limits, an instance of a plugin in it, and
//! calls into that instance that end in a typed error whatever the guest does.

mod audit;
mod batch;
mod output;
mod replay;
mod shadow;
mod transform;
mod types;

pub use audit::{AuditError, AuditOptions, now_ms, run_audit};
pub use replay::{CallDifference, ReplayError, ReplayReport, RowDifference, replay};
pub use shadow::{
    AuditShadowReport, AuditSide, Difference, RowDiff, RowEffect, ShadowReport, Side, shadow_audit,
};
pub use transform::{
    BatchEffects, BatchFailure, CellChange, Journaling, ReadableTable, RowChange, RowError, Shadow,
    Timings, TransformError, TransformOptions, TransformReport, compute_batch, readable_table,
    run_transform,
};
pub use types::*;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{Store, Trap, WasmBacktrace};
use wasmtime_wasi::WasiCtxBuilder;

use crate::backend::Clay;
use crate::budget::{Ledger, Meter};
use crate::capabilities::bindings::auditor::{Auditor, AuditorPre};
use crate::capabilities::bindings::transformer::{Transformer, TransformerPre};
use crate::capabilities::{Capabilities, Grants, HostTrap, LogBudget};
use crate::plugin::{Plugin, World};
pub use crate::store::Limits;
use crate::store::{self, State, ticker};
use crate::trail::{self, Recorder, Trail};
use output::{GuestOutput, Stream};

/// A memory fault under this many frames of one or two functions is reported as stack overflow.
const RECURSION_FRAMES: usize = 16;

/// Which limit an invocation ran into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitKind {
    #[error("ran past its deadline of {} ms", .0.as_millis())]
    Deadline(Duration),
    #[error("tried to grow its memory to {requested} bytes, over its limit of {limit} bytes")]
    Memory { limit: u64, requested: u64 },
    #[error("ran out of fuel ({0} units)")]
    Fuel(u64),
    #[error("made more than {0} host calls")]
    HostCalls(u64),
    #[error("overflowed its stack (unbounded recursion?)")]
    Stack,
    #[error("wrote more than its log limit of {0} bytes")]
    LogVolume(usize),
    #[error("returned more outcomes than the {rows} rows of its batch (one per row at most)")]
    Effects { rows: usize },
    #[error("handed the host more than its output limit of {limit} bytes")]
    OutputBytes { limit: usize },
    #[error("tried to grow a table to {requested} elements, over its limit of {limit}")]
    TableElements { limit: usize, requested: usize },
}

impl LimitKind {
    /// A short stable name, e.g. for JSON output and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            LimitKind::Deadline(_) => "deadline",
            LimitKind::Memory { .. } => "memory",
            LimitKind::Fuel(_) => "fuel",
            LimitKind::HostCalls(_) => "host-calls",
            LimitKind::Stack => "stack",
            LimitKind::LogVolume(_) => "log-volume",
            LimitKind::Effects { .. } => "effects",
            LimitKind::OutputBytes { .. } => "output-bytes",
            LimitKind::TableElements { .. } => "table-elements",
        }
    }
}

/// Said of a trap the plugin wrote nothing about: a component built with WASI stubbed out or
/// stdio disabled cannot write to stderr, so its message, if any, is in its log.
const NO_MESSAGE_HINT: &str = "\n  the plugin wrote nothing to stderr before it trapped. Components built with WASI stubbed out or stdio disabled cannot: \
build it with `kiln build`, whose Python and JavaScript SDKs log an uncaught error's message and traceback through Clay's log (shown at --log warn), \
or keep stdio (componentize-js without `-d stdio`) so the message reaches stderr";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationErrorKind {
    #[error("{0}")]
    Limit(LimitKind),
    #[error("trapped: {message}{}", stderr.as_ref().map(|s| format!("\n  guest stderr: {s}")).unwrap_or_else(|| NO_MESSAGE_HINT.to_string()))]
    Trap {
        message: String,
        stderr: Option<String>,
    },
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
    #[error("is a {actual} plugin, not a {expected} plugin")]
    WrongWorld { expected: World, actual: World },
    #[error("returned an error: {0}")]
    Guest(String),
    /// The outcome buffer does not follow clay:api 0.2.0's layout; nothing of the batch is applied.
    #[error(
        "returned outcomes kiln cannot read ({0}); nothing of the batch was applied. They must follow clay:api 0.2.0's layout, which the kiln-guest SDK writes"
    )]
    Malformed(String),
    #[error("cannot start: {0}")]
    Settings(String),
    /// The audit trail could not be written, so the invocation was ended: what it did
    /// must never go unrecorded.
    #[error("was stopped: the audit trail could not be written ({0})")]
    Trail(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin `{plugin}` {kind}")]
pub struct InvocationError {
    pub plugin: String,
    pub kind: InvocationErrorKind,
}

impl InvocationError {
    pub fn limit(&self) -> Option<&LimitKind> {
        match &self.kind {
            InvocationErrorKind::Limit(l) => Some(l),
            _ => None,
        }
    }

    /// How the audit trail records this as the end of an invocation.
    pub fn trail_outcome(&self) -> trail::Outcome {
        match &self.kind {
            InvocationErrorKind::Limit(l) => trail::Outcome::Limit {
                name: l.name().into(),
                message: l.to_string(),
            },
            InvocationErrorKind::Trap { message, .. } => trail::Outcome::Trap {
                message: message.clone(),
            },
            kind @ (InvocationErrorKind::Instantiate(_)
            | InvocationErrorKind::WrongWorld { .. }) => trail::Outcome::Trap {
                message: kind.to_string(),
            },
            InvocationErrorKind::Guest(message) => trail::Outcome::Error {
                kind: "guest".into(),
                message: message.clone(),
            },
            InvocationErrorKind::Malformed(message) => trail::Outcome::Error {
                kind: "malformed".into(),
                message: message.clone(),
            },
            InvocationErrorKind::Settings(message) => trail::Outcome::Error {
                kind: "settings".into(),
                message: message.clone(),
            },
            InvocationErrorKind::Trail(message) => trail::Outcome::Error {
                kind: "trail".into(),
                message: message.clone(),
            },
        }
    }
}

/// What the caller decides per invocation.
#[derive(Clone, Default)]
pub struct InvocationOptions {
    /// The plugin's settings (manifest defaults merged with the command line).
    pub config: BTreeMap<String, String>,
    /// Overrides the plugin's limits (its manifest's requests capped by the policy).
    pub limits: Option<Limits>,
    /// Overrides the plugin's grants (its manifest's requests capped by the policy).
    pub grants: Option<Grants>,
    /// Refuse every call that would change Clay or spend credits.
    pub dry_run: bool,
    /// Records every host call and the invocation's start and end; `None` records nothing.
    pub trail: Option<Trail>,
    /// Credits this invocation may spend (`None`: no per-run cap; `Some(0.0)`: none).
    pub credit_budget: Option<f64>,
    /// Per-member and per-plugin budgets, and where spending is recorded.
    pub ledger: Option<Ledger>,
    /// The acting member's email, for per-member budgets.
    pub member: Option<String>,
    /// Writes every call the plugin makes to Clay, and (for runs) every batch and outcome,
    /// to a recording (see [`crate::recording`]).
    pub record: Option<crate::recording::Recorder>,
}

/// A plugin pre-linked as one world: how [`Instance::start`] finds and instantiates it.
trait WorldPre: Sized {
    const WORLD: World;
    type Bindings;
    fn of(plugin: &Plugin) -> Option<&Self>;
    fn instantiate<'a>(
        &'a self,
        store: &'a mut Store<State>,
    ) -> impl Future<Output = wasmtime::Result<Self::Bindings>> + Send + 'a;
}

impl WorldPre for TransformerPre<State> {
    const WORLD: World = World::Transformer;
    type Bindings = Transformer;
    fn of(plugin: &Plugin) -> Option<&Self> {
        plugin.transformer_pre()
    }
    fn instantiate<'a>(
        &'a self,
        store: &'a mut Store<State>,
    ) -> impl Future<Output = wasmtime::Result<Transformer>> + Send + 'a {
        self.instantiate_async(store)
    }
}

impl WorldPre for AuditorPre<State> {
    const WORLD: World = World::Auditor;
    type Bindings = Auditor;
    fn of(plugin: &Plugin) -> Option<&Self> {
        plugin.auditor_pre()
    }
    fn instantiate<'a>(
        &'a self,
        store: &'a mut Store<State>,
    ) -> impl Future<Output = wasmtime::Result<Auditor>> + Send + 'a {
        self.instantiate_async(store)
    }
}

/// A live instance of a plugin in its own store.
struct Instance {
    plugin: Plugin,
    store: Store<State>,
    stderr: GuestOutput,
    log_budget: LogBudget,
    limits: Limits,
    fuel: bool,
    invocation_id: String,
    _permit: OwnedSemaphorePermit,
}

impl Instance {
    async fn new(
        plugin: &Plugin,
        backend: Arc<dyn Clay>,
        options: InvocationOptions,
    ) -> Result<Self, InvocationError> {
        let fail = |kind| InvocationError {
            plugin: plugin.name().to_string(),
            kind,
        };
        // Back-pressure: wait for a pool slot rather than fail when the pool is full.
        let permit = plugin
            .pool_slot()
            .await
            .map_err(|e| fail(InvocationErrorKind::Instantiate(e.to_string())))?;
        let settings = plugin
            .settings(&options.config)
            .map_err(|e| fail(InvocationErrorKind::Settings(e.to_string())))?;
        let limits = options.limits.unwrap_or_else(|| plugin.limits().clone());
        let name: Arc<str> = Arc::from(plugin.name());
        let log_budget = LogBudget::new(limits.log_bytes);
        let stdout = GuestOutput::new(name.clone(), Stream::Stdout, log_budget.clone());
        let stderr = GuestOutput::new(name.clone(), Stream::Stderr, log_budget.clone());
        // No preopened directories, no environment, no arguments, no network.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout)
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let grants = options.grants.unwrap_or_else(|| plugin.grants().clone());
        let invocation_id = trail::new_invocation_id();
        let mut caps = Capabilities::new(
            backend,
            name,
            Arc::new(settings),
            grants,
            limits.max_host_calls,
            log_budget.clone(),
        );
        caps.effects_only(plugin.world() == World::Transformer);
        caps.dry_run(options.dry_run);
        if let Some(t) = options.trail {
            let info = plugin.info();
            caps = caps.with_trail(Recorder::start(
                t,
                &info.name,
                &info.sha256,
                invocation_id.clone(),
            ));
        }
        // Unless the caller says otherwise, a run may spend what the manifest asks and
        // the policy allows, and no more.
        let credit_budget = options
            .credit_budget
            .unwrap_or_else(|| plugin.credits_per_run());
        caps = caps.with_meter(Meter::new(
            plugin.name(),
            &plugin.info().sha256,
            options.member,
            invocation_id.clone(),
            Some(credit_budget),
            options.ledger,
        ));
        let fuel = plugin.counts_fuel();
        let store = store::new_store(plugin.engine(), wasi, caps, &limits);
        Ok(Self {
            plugin: plugin.clone(),
            store,
            stderr,
            log_budget,
            limits,
            fuel,
            invocation_id,
            _permit: permit,
        })
    }

    /// The one way an instance starts, whatever its world: the plugin must be of world
    /// `P`; then a pool slot, a store under the limits, and instantiation under the deadline.
    /// A trap while instantiating (a start function, an initializer) is reported as such.
    async fn start<P: WorldPre>(
        plugin: &Plugin,
        backend: Arc<dyn Clay>,
        options: InvocationOptions,
    ) -> Result<(Self, P::Bindings), InvocationError> {
        let Some(pre) = P::of(plugin) else {
            return Err(InvocationError {
                plugin: plugin.name().to_string(),
                kind: InvocationErrorKind::WrongWorld {
                    expected: P::WORLD,
                    actual: plugin.world(),
                },
            });
        };
        let backend: Arc<dyn Clay> = match &options.record {
            Some(recorder) => Arc::new(crate::recording::Recording::new(backend, recorder.clone())),
            None => backend,
        };
        let mut instance = Instance::new(plugin, backend, options).await?;
        instance.arm()?;
        let deadline = instance.limits.deadline;
        match tokio::time::timeout(deadline, pre.instantiate(&mut instance.store)).await {
            Ok(Ok(bindings)) => Ok((instance, bindings)),
            Ok(Err(e)) => {
                let err = instance.error(e);
                Err(match err.kind {
                    InvocationErrorKind::Trap { message, .. } => InvocationError {
                        plugin: err.plugin,
                        kind: InvocationErrorKind::Instantiate(message),
                    },
                    _ => err,
                })
            }
            Err(_) => Err(instance.timed_out()),
        }
    }

    /// Remembers, for the trail's `invocation.end`, what ended the invocation.
    fn ended_by(&mut self, err: &InvocationError) {
        if let Some(t) = self.store.data_mut().caps_mut().trail_mut() {
            t.ended_by(err.trail_outcome());
        }
    }

    /// Arms the deadline (and fuel) for the next call into the guest.
    fn arm(&mut self) -> Result<(), InvocationError> {
        self.store
            .set_epoch_deadline(ticker::ticks_for(self.limits.deadline));
        if self.fuel {
            let fuel = self.limits.fuel.unwrap_or(u64::MAX);
            self.store.set_fuel(fuel).map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// A limit the host found after the call, recorded as what ended the invocation.
    /// An error of this plugin's, recorded as what ended the invocation.
    fn end(&mut self, kind: InvocationErrorKind) -> InvocationError {
        let err = InvocationError {
            plugin: self.plugin.name().to_string(),
            kind,
        };
        self.ended_by(&err);
        err
    }

    fn limit(&mut self, kind: LimitKind) -> InvocationError {
        self.end(InvocationErrorKind::Limit(kind))
    }

    fn timed_out(&mut self) -> InvocationError {
        self.limit(LimitKind::Deadline(self.limits.deadline))
    }

    /// The limit or trap the guest's failure really is, recorded as what ended the invocation.
    fn error(&mut self, err: wasmtime::Error) -> InvocationError {
        let err = self.classify(err);
        self.ended_by(&err);
        err
    }

    /// Turns whatever the guest's failure was into the limit or trap it really is.
    fn classify(&self, err: wasmtime::Error) -> InvocationError {
        let plugin = self.plugin.name().to_string();
        let limit = |l| InvocationError {
            plugin: plugin.clone(),
            kind: InvocationErrorKind::Limit(l),
        };
        match err.downcast_ref::<HostTrap>() {
            Some(HostTrap::HostCallLimit { limit: n }) => return limit(LimitKind::HostCalls(*n)),
            Some(HostTrap::LogVolume { limit: n }) => return limit(LimitKind::LogVolume(*n)),
            Some(HostTrap::Trail { message }) => {
                return InvocationError {
                    plugin,
                    kind: InvocationErrorKind::Trail(message.clone()),
                };
            }
            None => {}
        }
        if err
            .root_cause()
            .to_string()
            .contains("fuel allocated for hostcalls has been exhausted")
        {
            return limit(LimitKind::OutputBytes {
                limit: self.limits.output_bytes,
            });
        }
        // The guest's stdout write failed on the budget and it panicked over it.
        if self.log_budget.exceeded() {
            return limit(LimitKind::LogVolume(self.log_budget.limit()));
        }
        if let Some(requested) = self.store.data().memory_refused() {
            return limit(LimitKind::Memory {
                limit: self.limits.memory_bytes,
                requested: requested as u64,
            });
        }
        if let Some(requested) = self.store.data().table_refused() {
            return limit(LimitKind::TableElements {
                limit: self.limits.table_elements,
                requested,
            });
        }
        let trap = err.downcast_ref::<Trap>();
        let backtrace = err.downcast_ref::<WasmBacktrace>();
        let runaway_recursion = backtrace.is_some_and(|b| {
            // Backtraces are capped (20 frames); a cap full of one or two functions is recursion.
            let frames = b.frames();
            let distinct: std::collections::HashSet<_> = frames
                .iter()
                .map(|f| (f.module().name().map(str::to_string), f.func_index()))
                .collect();
            frames.len() >= RECURSION_FRAMES && distinct.len() <= 2
        });
        match trap {
            Some(Trap::Interrupt) => return limit(LimitKind::Deadline(self.limits.deadline)),
            Some(Trap::OutOfFuel) => {
                return limit(LimitKind::Fuel(self.limits.fuel.unwrap_or(u64::MAX)));
            }
            Some(Trap::StackOverflow) => return limit(LimitKind::Stack),
            // Rust keeps its stack in linear memory: running off its end is an out-of-bounds
            // access, and one under a wall of the same frames is runaway recursion.
            Some(Trap::MemoryOutOfBounds) if runaway_recursion => {
                return limit(LimitKind::Stack);
            }
            _ => {}
        }
        // The trap itself and the innermost frames; a full backtrace can be thousands of lines.
        let mut message = match trap {
            Some(t) => t.to_string(),
            None => err.root_cause().to_string(),
        };
        if let Some(bt) = backtrace {
            let frames: Vec<String> = bt
                .frames()
                .iter()
                .take(3)
                .map(|f| f.func_name().unwrap_or("<unnamed>").to_string())
                .collect();
            if !frames.is_empty() {
                message.push_str(&format!(" (in {})", frames.join(" ← ")));
            }
        }
        let stderr = self.stderr.tail();
        InvocationError {
            plugin,
            kind: InvocationErrorKind::Trap {
                message,
                stderr: (!stderr.is_empty()).then_some(stderr),
            },
        }
    }

    fn host_calls(&self) -> u64 {
        self.store.data().caps().host_calls()
    }

    fn credits_spent(&self) -> f64 {
        self.store.data().caps().credits_spent()
    }

    /// Records a host-side event of this invocation (an applied batch) in the trail.
    fn record(&mut self, call: &str, targets: Vec<String>, outcome: trail::Outcome) {
        if let Some(t) = self.store.data_mut().caps_mut().trail_mut() {
            t.record(call.to_string(), targets, outcome, 0.0);
        }
    }

    /// Appends `invocation.end` and writes the trail; an error if it could not be written.
    fn end_trail(&mut self) -> Result<(), InvocationError> {
        let ended = match self.store.data_mut().caps_mut().trail_mut() {
            Some(t) => t.end(),
            None => Ok(()),
        };
        ended.map_err(|why| InvocationError {
            plugin: self.plugin.name().to_string(),
            kind: InvocationErrorKind::Trail(why),
        })
    }
}

/// A transformer instance: call [`TransformerInstance::transform`] once per batch.
pub struct TransformerInstance {
    instance: Instance,
    bindings: Transformer,
}

impl TransformerInstance {
    pub async fn new(
        plugin: &Plugin,
        backend: Arc<dyn Clay>,
        options: InvocationOptions,
    ) -> Result<Self, InvocationError> {
        let (instance, bindings) =
            Instance::start::<TransformerPre<State>>(plugin, backend, options).await?;
        Ok(Self { instance, bindings })
    }

    /// Runs one batch, borrowed: the guest gets a copy in its own memory, of the columns
    /// `ctx.table` lists (those the plugin may see). A failed call leaves the instance
    /// unusable; make a new one.
    pub async fn transform(
        &mut self,
        rows: &[crate::backend::model::Row],
        ctx: &TransformContext,
    ) -> Result<Vec<RowOutcome>, InvocationError> {
        let batch = batch::encode(rows, &ctx.table.fields);
        let wctx = types::context_to_wit(ctx);
        self.instance.arm()?;
        let deadline = self.instance.limits.deadline;
        let call = self
            .bindings
            .call_transform(&mut self.instance.store, &batch, &wctx);
        match tokio::time::timeout(deadline, call).await {
            Ok(Ok(out)) => {
                // The answer is already copied out of the guest (at most its memory limit);
                // past the output limit it is refused before anything is decoded from it.
                if out.len() > self.instance.limits.output_bytes {
                    return Err(self.instance.limit(LimitKind::OutputBytes {
                        limit: self.instance.limits.output_bytes,
                    }));
                }
                match batch::decode(&out, rows, &ctx.table.fields) {
                    Ok(outcomes) => Ok(outcomes),
                    Err(e) if matches!(e.what, kiln_batch::Problem::TooManyOutcomes { .. }) => {
                        Err(self.instance.limit(LimitKind::Effects { rows: rows.len() }))
                    }
                    Err(e) => Err(self
                        .instance
                        .end(InvocationErrorKind::Malformed(e.to_string()))),
                }
            }
            Ok(Err(e)) => Err(self.instance.error(e)),
            Err(_) => Err(self.instance.timed_out()),
        }
    }

    pub fn host_calls(&self) -> u64 {
        self.instance.host_calls()
    }

    /// Credits this invocation has spent so far.
    pub fn credits_spent(&self) -> f64 {
        self.instance.credits_spent()
    }

    /// This invocation's id in the audit trail and the credit ledger.
    pub fn invocation_id(&self) -> &str {
        &self.instance.invocation_id
    }

    /// Records a host-side event (e.g. [`trail::EFFECTS_APPLY`]) in this invocation's trail.
    pub fn record(&mut self, call: &str, targets: Vec<String>, outcome: trail::Outcome) {
        self.instance.record(call, targets, outcome);
    }

    /// Remembers what ended the invocation, for `invocation.end`.
    pub fn ended_by(&mut self, outcome: trail::Outcome) {
        if let Some(t) = self.instance.store.data_mut().caps_mut().trail_mut() {
            t.ended_by(outcome);
        }
    }

    /// Ends the invocation's trail; an error means what it did is not all recorded.
    pub fn end_trail(&mut self) -> Result<(), InvocationError> {
        self.instance.end_trail()
    }

    /// Writes what the trail holds now; an error (the invocation ended, its trail closed
    /// as far as it can be) when it cannot be written. Called before the host changes
    /// rows, so no change is made that the trail could not record.
    pub fn flush_trail(&mut self) -> Result<(), InvocationError> {
        let failed = match self.instance.store.data_mut().caps_mut().trail_mut() {
            Some(t) => {
                t.flush();
                t.failed()
            }
            None => None,
        };
        match failed {
            None => Ok(()),
            Some(why) => {
                let _ = self.instance.end_trail();
                Err(InvocationError {
                    plugin: self.instance.plugin.name().to_string(),
                    kind: InvocationErrorKind::Trail(why),
                })
            }
        }
    }
}

/// An auditor instance.
pub struct AuditorInstance {
    instance: Instance,
    bindings: Auditor,
}

impl AuditorInstance {
    pub async fn new(
        plugin: &Plugin,
        backend: Arc<dyn Clay>,
        options: InvocationOptions,
    ) -> Result<Self, InvocationError> {
        let (instance, bindings) =
            Instance::start::<AuditorPre<State>>(plugin, backend, options).await?;
        Ok(Self { instance, bindings })
    }

    pub async fn audit(&mut self, scope: &AuditScope) -> Result<AuditReport, InvocationError> {
        let wscope = types::scope_to_wit(scope);
        self.instance.arm()?;
        let deadline = self.instance.limits.deadline;
        let call = self.bindings.call_audit(&mut self.instance.store, wscope);
        match tokio::time::timeout(deadline, call).await {
            Ok(Ok(Ok(report))) => {
                let size = types::report_size(&report);
                if size > self.instance.limits.output_bytes {
                    return Err(self.instance.limit(LimitKind::OutputBytes {
                        limit: self.instance.limits.output_bytes,
                    }));
                }
                Ok(types::report_from_wit(report))
            }
            Ok(Ok(Err(e))) => {
                let e = crate::capabilities::convert::error_from_wit(e);
                if let Some(t) = self.instance.store.data_mut().caps_mut().trail_mut() {
                    t.ended_by(trail::Outcome::from_clay(&e));
                }
                Err(InvocationError {
                    plugin: self.instance.plugin.name().to_string(),
                    kind: InvocationErrorKind::Guest(e.to_string()),
                })
            }
            Ok(Err(e)) => Err(self.instance.error(e)),
            Err(_) => Err(self.instance.timed_out()),
        }
    }

    pub fn host_calls(&self) -> u64 {
        self.instance.host_calls()
    }

    /// Credits this invocation has spent so far.
    pub fn credits_spent(&self) -> f64 {
        self.instance.credits_spent()
    }

    /// This invocation's id in the audit trail and the credit ledger.
    pub fn invocation_id(&self) -> &str {
        &self.instance.invocation_id
    }

    /// Ends the invocation's trail; an error means what it did is not all recorded.
    pub fn end_trail(&mut self) -> Result<(), InvocationError> {
        self.instance.end_trail()
    }
}
