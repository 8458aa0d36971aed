use super::bindings::{resources, types as w};
use super::convert::{resource_kind, resource_ref, resource_to_wit};
use super::{Access, Capabilities, HostError, Interface};

impl resources::Host for Capabilities {
    async fn list(
        &mut self,
        workspace_id: u64,
        parent: Option<w::ResourceRef>,
        kinds: Vec<w::ResourceKind>,
    ) -> Result<Vec<w::Resource>, HostError> {
        let clay = self.enter(Interface::Resources, Access::Read, "list")?;
        let parent = parent.map(resource_ref);
        let kinds: Vec<_> = kinds.into_iter().map(resource_kind).collect();
        let found = clay
            .list_resources(workspace_id, parent.as_ref(), &kinds)
            .await?;
        Ok(found.into_iter().map(resource_to_wit).collect())
    }

    async fn search(
        &mut self,
        workspace_id: u64,
        query: String,
    ) -> Result<Vec<w::Resource>, HostError> {
        let clay = self.enter(Interface::Resources, Access::Read, "search")?;
        let found = clay.search_resources(workspace_id, &query).await?;
        Ok(found.into_iter().map(resource_to_wit).collect())
    }
}
