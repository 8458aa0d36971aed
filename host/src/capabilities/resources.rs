use super::bindings::{resources, types as w};
use super::convert::{resource_kind, resource_ref, resource_to_wit};
use super::{Access, Capabilities, HostError, Interface, workspace};

impl resources::Host for Capabilities {
    async fn list(
        &mut self,
        workspace_id: u64,
        parent: Option<w::ResourceRef>,
        kinds: Vec<w::ResourceKind>,
    ) -> Result<Vec<w::Resource>, HostError> {
        let parent = parent.map(resource_ref);
        let mut targets = vec![workspace(workspace_id)];
        targets.extend(parent.as_ref().map(|p| p.id.clone()));
        let clay = self.enter(Interface::Resources, Access::Read, "list", targets)?;
        let kinds: Vec<_> = kinds.into_iter().map(resource_kind).collect();
        let result = clay
            .list_resources(workspace_id, parent.as_ref(), &kinds)
            .await;
        self.finish(result.map(|found| found.into_iter().map(resource_to_wit).collect()))
    }

    async fn search(
        &mut self,
        workspace_id: u64,
        query: String,
    ) -> Result<Vec<w::Resource>, HostError> {
        let targets = vec![workspace(workspace_id)];
        let clay = self.enter(Interface::Resources, Access::Read, "search", targets)?;
        let result = clay.search_resources(workspace_id, &query).await;
        self.finish(result.map(|found| found.into_iter().map(resource_to_wit).collect()))
    }
}
