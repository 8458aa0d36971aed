//! Clay's API as WIT capabilities: one module per WIT interface, each translating between
//! the generated WIT types and the [`Clay`](crate::backend::Clay) backend.
//!
//! Every call goes through [`Capabilities::enter`], which checks the plugin's grant for the
//! interface (and, for every write, the one write gate: no dry run, no transformer, no
//! removal of tables past a table scope) and counts the call against the invocation's
//! host-call budget, and ends in
//! [`Capabilities::finish`]; between the two, the call is written to the audit trail.

pub mod args;
pub(crate) mod bindings;
mod config;
pub(crate) mod convert;
mod credits;
mod folders;
mod grants;
mod log;
mod resources;
mod tables;
mod workbooks;
mod workspaces;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::backend::model::TableInfo;
use crate::backend::{Clay, ClayError, ClayResult};
use crate::budget::Meter;
use crate::trail::{Outcome, Recorder};
pub use args::Targets;
use bindings::types as wit;
pub use grants::{Access, Grants, Interface, TableScope};

/// Why a host call ended the guest instead of returning an error to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostTrap {
    #[error("the plugin made more than {limit} host calls in one invocation")]
    HostCallLimit { limit: u64 },
    #[error("the plugin wrote more than {limit} bytes of log in one invocation")]
    LogVolume { limit: usize },
    /// The audit trail could not be written: nothing more may happen unrecorded.
    #[error("the audit trail could not be written: {message}")]
    Trail { message: String },
}

/// Bytes of log an invocation may still write, shared by the `log` interface and the
/// guest's stdout/stderr so one cap covers all three.
#[derive(Clone, Debug)]
pub struct LogBudget {
    inner: Arc<LogBudgetInner>,
}

#[derive(Debug)]
struct LogBudgetInner {
    limit: usize,
    used: std::sync::atomic::AtomicUsize,
    exceeded: std::sync::atomic::AtomicBool,
}

impl LogBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(LogBudgetInner {
                limit,
                used: 0.into(),
                exceeded: false.into(),
            }),
        }
    }

    /// Takes `bytes` from the budget; `false` (and the budget marked exceeded) if they
    /// do not fit.
    pub fn take(&self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering;
        let used = self.inner.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if used > self.inner.limit {
            self.inner.exceeded.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    pub fn exceeded(&self) -> bool {
        self.inner
            .exceeded
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.inner.limit
    }
}

/// What a capability function fails with: a `clay-error` for the guest, or a trap.
#[derive(Debug)]
pub enum HostError {
    Clay(ClayError),
    Trap(HostTrap),
}

impl HostTrap {
    /// How the trail records it: as the limit it is.
    fn outcome(&self) -> Outcome {
        match self {
            HostTrap::HostCallLimit { .. } => Outcome::Limit {
                name: "host-calls".into(),
                message: self.to_string(),
            },
            HostTrap::LogVolume { .. } => Outcome::Limit {
                name: "log-volume".into(),
                message: self.to_string(),
            },
            HostTrap::Trail { .. } => Outcome::Error {
                kind: "trail".into(),
                message: self.to_string(),
            },
        }
    }
}

impl From<ClayError> for HostError {
    fn from(e: ClayError) -> Self {
        HostError::Clay(e)
    }
}

/// Per-invocation state behind every capability: the backend, the plugin's identity,
/// settings and grants, and the host-call meter.
pub struct Capabilities {
    backend: Arc<dyn Clay>,
    plugin: Arc<str>,
    config: Arc<BTreeMap<String, String>>,
    grants: Grants,
    max_host_calls: Option<u64>,
    host_calls: u64,
    log_budget: LogBudget,
    /// A transformer changes rows only through the effects it returns, which the host
    /// validates, applies a batch at a time and can show as a dry run.
    effects_only: bool,
    /// Nothing may be changed or spent (a transformer's `--dry-run`).
    dry_run: bool,
    /// Tables looked up to check the plugin's table scope, by id.
    scoped_tables: HashMap<String, Arc<TableInfo>>,
    /// Under a table-scoped grant: the resources a listing may show, by workspace.
    visible_resources: HashMap<u64, Arc<std::collections::HashSet<String>>>,
    trail: Option<Recorder>,
    meter: Option<Meter>,
}

impl Capabilities {
    pub fn new(
        backend: Arc<dyn Clay>,
        plugin: Arc<str>,
        config: Arc<BTreeMap<String, String>>,
        grants: Grants,
        max_host_calls: Option<u64>,
        log_budget: LogBudget,
    ) -> Self {
        Self {
            log_budget,
            effects_only: false,
            dry_run: false,
            backend,
            plugin,
            config,
            grants,
            max_host_calls,
            host_calls: 0,
            scoped_tables: HashMap::new(),
            visible_resources: HashMap::new(),
            trail: None,
            meter: None,
        }
    }

    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Applies the transformer world's rule: rows change only through returned effects.
    pub fn effects_only(&mut self, on: bool) {
        self.effects_only = on;
    }

    /// Refuses everything that changes Clay or spends credits.
    pub fn dry_run(&mut self, on: bool) {
        self.dry_run = on;
    }

    /// The one gate every write passes (any call entered with [`Access::Write`]): nothing
    /// changes under a dry run; a transformer changes rows only through the effects it
    /// returns, so it makes no direct write at all; and removing a folder or workbook,
    /// which removes every table under it, needs a grant that is not scoped to tables.
    fn may_write(&self, interface: Interface, function: &'static str) -> ClayResult<()> {
        let call = format!("{}.{function}", interface.name());
        if self.effects_only {
            return Err(ClayError::Denied(format!(
                "plugin `{}` may not call {call}: a transformer changes rows only through the effects it returns",
                self.plugin
            )));
        }
        if self.dry_run {
            return Err(ClayError::Denied(format!(
                "plugin `{}` may not call {call} during a dry run: nothing may be changed or spent",
                self.plugin
            )));
        }
        let removes_tables = matches!(
            (interface, function),
            (Interface::Folders | Interface::Workbooks, "delete")
        );
        if removes_tables && !self.grants.tables.is_unrestricted() {
            return Err(ClayError::Denied(format!(
                "plugin `{}` may not call {call}: it removes every table under it, and its table grant is scoped to {}",
                self.plugin,
                self.grants.tables.describe_tables()
            )));
        }
        Ok(())
    }

    /// Records every call in the audit trail.
    pub fn with_trail(mut self, trail: Recorder) -> Self {
        self.trail = Some(trail);
        self
    }

    /// Meters credit-spending calls against budgets.
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    pub fn trail_mut(&mut self) -> Option<&mut Recorder> {
        self.trail.as_mut()
    }

    /// Host calls made so far in this invocation.
    pub fn host_calls(&self) -> u64 {
        self.host_calls
    }

    /// Credits this invocation has spent so far.
    pub fn credits_spent(&self) -> f64 {
        self.meter.as_ref().map_or(0.0, |m| m.spent())
    }

    /// Checks the grant and meters the call; every capability function starts here and
    /// ends in [`Capabilities::finish`]. `targets` are the ids the call names, for the trail.
    fn enter(
        &mut self,
        interface: Interface,
        access: Access,
        function: &'static str,
        targets: impl Into<Targets>,
    ) -> Result<Arc<dyn Clay>, HostError> {
        let targets: Targets = targets.into();
        let mut checked = self.check(interface, access, function);
        if checked.is_ok()
            && let Some(why) = targets.over_cap()
        {
            checked = Err(HostError::Clay(ClayError::Invalid(format!(
                "{}.{function}: {why}",
                interface.name()
            ))));
        }
        if let Some(trail) = &mut self.trail {
            let call = format!("{}.{function}", interface.name());
            let targets = targets.into_stored();
            match &checked {
                Ok(()) => trail.begin(call, targets),
                Err(HostError::Clay(e)) => trail.record(call, targets, Outcome::from_clay(e), 0.0),
                Err(HostError::Trap(t)) => {
                    let outcome = t.outcome();
                    trail.record(call, targets, outcome.clone(), 0.0);
                    trail.ended_by(outcome);
                }
            }
            // A trail that cannot be written ends the invocation: nothing may happen
            // unrecorded, and nothing is buffered past what one flush holds.
            if let Some(message) = trail.failed() {
                return Err(HostError::Trap(HostTrap::Trail { message }));
            }
        }
        checked?;
        tracing::trace!(plugin = %self.plugin, "{}.{function}", interface.name());
        Ok(self.backend.clone())
    }

    fn check(
        &mut self,
        interface: Interface,
        access: Access,
        function: &'static str,
    ) -> Result<(), HostError> {
        self.host_calls += 1;
        if let Some(limit) = self.max_host_calls
            && self.host_calls > limit
        {
            return Err(HostError::Trap(HostTrap::HostCallLimit { limit }));
        }
        if !self.grants.allows(interface, access) {
            let granted = match self.grants.get(interface) {
                Some(a) => format!("it was granted {a} access only"),
                None => "it was not granted this interface".to_string(),
            };
            return Err(HostError::Clay(ClayError::Denied(format!(
                "plugin `{}` may not call {}.{function}: it needs {access} access to {interface}, but {granted}",
                self.plugin,
                interface.name()
            ))));
        }
        if access == Access::Write {
            self.may_write(interface, function)?;
        }
        Ok(())
    }

    /// Ends a call begun with [`Capabilities::enter`]: records its outcome in the trail.
    fn finish<T>(&mut self, result: ClayResult<T>) -> Result<T, HostError> {
        self.finish_spent(result, 0.0)
    }

    /// [`Capabilities::finish`] for a call that cannot fail once admitted.
    fn finish_ok(&mut self) {
        if let Some(trail) = &mut self.trail {
            trail.finish(Outcome::Ok, 0.0);
        }
    }

    /// [`Capabilities::finish`] for a call that spent `credits`.
    fn finish_spent<T>(&mut self, result: ClayResult<T>, credits: f64) -> Result<T, HostError> {
        if let Some(trail) = &mut self.trail {
            let outcome = match &result {
                Ok(_) => Outcome::Ok,
                Err(e) => Outcome::from_clay(e),
            };
            trail.finish(outcome, credits);
            if let Some(message) = trail.failed() {
                return Err(HostError::Trap(HostTrap::Trail { message }));
            }
        }
        Ok(result?)
    }

    /// Checks that `table_id` is inside the plugin's table scope. Returns the table (all
    /// its columns) when the scope restricts anything, so callers can filter columns;
    /// `None` when the plugin may see every table and column.
    async fn scope_table(
        &mut self,
        table_id: &str,
        function: &'static str,
    ) -> ClayResult<Option<Arc<TableInfo>>> {
        if self.grants.tables.is_unrestricted() {
            return Ok(None);
        }
        let table = match self.scoped_tables.get(table_id) {
            Some(t) => t.clone(),
            None => {
                let t = Arc::new(self.backend.get_table(table_id).await?);
                self.scoped_tables.insert(table_id.to_string(), t.clone());
                t
            }
        };
        if !self.grants.tables.allows_table(&table) {
            return Err(ClayError::Denied(format!(
                "plugin `{}` may not call tables.{function} on table `{}` ({}): its grant covers {} only",
                self.plugin,
                table.name,
                table.id,
                self.grants.tables.describe_tables()
            )));
        }
        Ok(Some(table))
    }

    /// Refuses a call that names a column outside the plugin's column scope.
    fn scope_fields<'a>(
        &self,
        table: &TableInfo,
        field_ids: impl IntoIterator<Item = &'a str>,
        function: &'static str,
    ) -> ClayResult<()> {
        for id in field_ids {
            let allowed = table
                .field(id)
                .is_some_and(|f| self.grants.tables.allows_field(f));
            if !allowed {
                let name = table.field(id).map_or(id, |f| f.name.as_str());
                return Err(ClayError::Denied(format!(
                    "plugin `{}` may not call tables.{function} on column `{name}` of table `{}`: the column is not granted to it",
                    self.plugin, table.name
                )));
            }
        }
        Ok(())
    }

    /// Refuses a whole-row operation (deleting rows) when some columns are not granted.
    fn scope_whole_rows(&self, table: &TableInfo, function: &'static str) -> ClayResult<()> {
        let hidden: Vec<&str> = table
            .fields
            .iter()
            .filter(|f| !self.grants.tables.allows_field(f))
            .map(|f| f.name.as_str())
            .collect();
        if hidden.is_empty() {
            return Ok(());
        }
        Err(ClayError::Denied(format!(
            "plugin `{}` may not call tables.{function} on table `{}`: it removes whole rows, including columns not granted to it ({})",
            self.plugin,
            table.name,
            hidden.join(", ")
        )))
    }
}

impl wit::Host for Capabilities {
    fn convert_clay_error(&mut self, err: HostError) -> wasmtime::Result<wit::ClayError> {
        match err {
            HostError::Clay(e) => Ok(convert::error_to_wit(e)),
            HostError::Trap(t) => Err(wasmtime::Error::new(t)),
        }
    }
}

/// The ids a call names, for the trail: `one` (a table, a workspace…) then `many` (records,
/// fields…).
pub(crate) fn named(one: &[&str], many: &[String]) -> Targets {
    let mut t = Targets::new();
    for id in one {
        t.push(id);
    }
    t.ids("ids", many)
}

/// How a workspace id appears among a call's targets.
pub(crate) fn workspace(id: u64) -> String {
    format!("workspace:{id}")
}

/// Data reachable from a store that capability functions need, in the spirit of
/// wasmtime-wasi's `WasiView`.
pub trait CapabilitiesView: Send {
    fn capabilities(&mut self) -> &mut Capabilities;
}

/// Adds every `clay:api` interface to `linker`. The auditor world imports all of them, so
/// the same linker instantiates transformers too.
pub fn add_to_linker<T: CapabilitiesView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    bindings::auditor::Auditor::add_to_linker::<T, HasSelf<Capabilities>>(linker, |t| {
        t.capabilities()
    })
}
