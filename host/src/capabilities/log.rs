use super::bindings::log::{self, Level};
use super::{Access, Capabilities, HostError, Interface};

impl log::Host for Capabilities {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        match self.enter(Interface::Log, Access::Read, "log", Vec::new()) {
            Ok(_) => self.finish_ok(),
            Err(HostError::Trap(t)) => return Err(wasmtime::Error::new(t)),
            // A plugin without the log grant loses its message, not its run.
            Err(HostError::Clay(_)) => return Ok(()),
        }
        if !self.log_budget.take(message.len()) {
            return Err(wasmtime::Error::new(super::HostTrap::LogVolume {
                limit: self.log_budget.limit(),
            }));
        }
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "kiln::guest", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "kiln::guest", plugin, "{message}"),
            Level::Info => tracing::info!(target: "kiln::guest", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "kiln::guest", plugin, "{message}"),
            Level::Error => tracing::error!(target: "kiln::guest", plugin, "{message}"),
        }
        Ok(())
    }
}
