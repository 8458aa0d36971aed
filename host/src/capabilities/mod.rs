//! Clay's API as WIT capabilities: one module per WIT interface, each translating between
//! the generated WIT types and the [`Clay`](crate::backend::Clay) backend.
//!
//! Every call goes through [`Capabilities::enter`], which checks the plugin's grant for the
//! interface and counts the call against the invocation's host-call budget, and ends in
//! [`Capabilities::finish`]; between the two, the call is written to the audit trail.

pub(crate) mod bindings;
mod config;
pub(crate) mod convert;
mod credits;
mod folders;
mod log;
mod resources;
mod tables;
mod workbooks;
mod workspaces;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::backend::{Clay, ClayError, ClayResult};
use crate::budget::Meter;
use crate::trail::{Outcome, Recorder};
use bindings::types as wit;

/// A WIT interface of `clay:api` that a plugin can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interface {
    Workspaces,
    Folders,
    Resources,
    Workbooks,
    Tables,
    Credits,
    Log,
    Config,
}

impl Interface {
    pub const ALL: [Interface; 8] = [
        Interface::Workspaces,
        Interface::Folders,
        Interface::Resources,
        Interface::Workbooks,
        Interface::Tables,
        Interface::Credits,
        Interface::Log,
        Interface::Config,
    ];

    /// The interface's WIT name, e.g. `tables`.
    pub fn name(self) -> &'static str {
        match self {
            Interface::Workspaces => "workspaces",
            Interface::Folders => "folders",
            Interface::Resources => "resources",
            Interface::Workbooks => "workbooks",
            Interface::Tables => "tables",
            Interface::Credits => "credits",
            Interface::Log => "log",
            Interface::Config => "config",
        }
    }

    /// Parses an import name such as `clay:api/tables@0.1.0`. `types` has no functions and
    /// needs no grant, so it maps to `None` like any non-Clay import.
    pub fn from_import(import: &str) -> Option<Interface> {
        let rest = import.strip_prefix("clay:api/")?;
        let name = rest.split('@').next().unwrap_or(rest);
        Interface::ALL.into_iter().find(|i| i.name() == name)
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "clay:api/{}", self.name())
    }
}

/// How much of an interface a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    Read,
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// The effective grants of one plugin: interface → the most it may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    by_interface: BTreeMap<Interface, Access>,
}

impl Grants {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, interface: Interface, access: Access) -> Self {
        self.by_interface.insert(interface, access);
        self
    }

    pub fn get(&self, interface: Interface) -> Option<Access> {
        self.by_interface.get(&interface).copied()
    }

    pub fn allows(&self, interface: Interface, access: Access) -> bool {
        self.get(interface).is_some_and(|granted| granted >= access)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Interface, Access)> + '_ {
        self.by_interface.iter().map(|(i, a)| (*i, *a))
    }
}

/// Why a host call ended the guest instead of returning an error to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostTrap {
    #[error("the plugin made more than {limit} host calls in one invocation")]
    HostCallLimit { limit: u64 },
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
    ) -> Self {
        Self {
            backend,
            plugin,
            config,
            grants,
            max_host_calls,
            host_calls: 0,
            trail: None,
            meter: None,
        }
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

    /// Checks the grant and meters the call; every capability function starts here and
    /// ends in [`Capabilities::finish`]. `targets` are the ids the call names, for the trail.
    fn enter(
        &mut self,
        interface: Interface,
        access: Access,
        function: &'static str,
        targets: Vec<String>,
    ) -> Result<&Arc<dyn Clay>, HostError> {
        let checked = self.check(interface, access, function);
        if let Some(trail) = &mut self.trail {
            let call = format!("{}.{function}", interface.name());
            match &checked {
                Ok(()) => trail.begin(call, targets),
                Err(HostError::Clay(e)) => trail.record(call, targets, Outcome::from_clay(e), 0.0),
                Err(HostError::Trap(t)) => {
                    let outcome = t.outcome();
                    trail.record(call, targets, outcome.clone(), 0.0);
                    trail.ended_by(outcome);
                }
            }
        }
        checked?;
        tracing::trace!(plugin = %self.plugin, "{}.{function}", interface.name());
        Ok(&self.backend)
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
        }
        Ok(result?)
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
pub(crate) fn named(one: &[&str], many: &[String]) -> Vec<String> {
    one.iter()
        .map(|s| s.to_string())
        .chain(many.iter().cloned())
        .collect()
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
