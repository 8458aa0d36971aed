use super::bindings::config;
use super::{Access, Capabilities, HostError, Interface};

impl Capabilities {
    fn enter_config(&mut self, function: &'static str) -> wasmtime::Result<bool> {
        match self.enter(Interface::Config, Access::Read, function) {
            Ok(_) => Ok(true),
            Err(HostError::Trap(t)) => Err(wasmtime::Error::new(t)),
            Err(HostError::Clay(_)) => Ok(false),
        }
    }
}

impl config::Host for Capabilities {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        if !self.enter_config("get")? {
            return Ok(None);
        }
        Ok(self.config.get(&key).cloned())
    }

    async fn all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        if !self.enter_config("all")? {
            return Ok(Vec::new());
        }
        Ok(self
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
