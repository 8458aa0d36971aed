use super::bindings::config;
use super::{Access, Capabilities, HostError, Interface};

impl Capabilities {
    /// Config calls cannot fail once admitted, so they are recorded as done on entry; the
    /// key is the target (keys are names, never secrets; values are not recorded).
    fn enter_config(
        &mut self,
        function: &'static str,
        key: Option<&str>,
    ) -> wasmtime::Result<bool> {
        let mut targets = super::Targets::new();
        if let Some(key) = key {
            targets.push(key);
        }
        match self.enter(Interface::Config, Access::Read, function, targets) {
            Ok(_) => {
                self.finish_ok();
                Ok(true)
            }
            Err(HostError::Trap(t)) => Err(wasmtime::Error::new(t)),
            Err(HostError::Clay(_)) => Ok(false),
        }
    }
}

impl config::Host for Capabilities {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        if !self.enter_config("get", Some(&key))? {
            return Ok(None);
        }
        Ok(self.config.get(&key).cloned())
    }

    async fn all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        if !self.enter_config("all", None)? {
            return Ok(Vec::new());
        }
        Ok(self
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
