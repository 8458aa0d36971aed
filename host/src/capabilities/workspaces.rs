use super::bindings::{types as w, workspaces};
use super::convert::workspace_to_wit;
use super::{Access, Capabilities, HostError, Interface};

impl workspaces::Host for Capabilities {
    async fn list(&mut self) -> Result<Vec<w::Workspace>, HostError> {
        let clay = self.enter(Interface::Workspaces, Access::Read, "list", Vec::new())?;
        let result = clay.list_workspaces().await;
        self.finish(result.map(|found| found.into_iter().map(workspace_to_wit).collect()))
    }
}
