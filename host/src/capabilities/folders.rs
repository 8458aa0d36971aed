use super::bindings::{folders, types as w};
use super::convert::folder_to_wit;
use super::{Access, Capabilities, HostError, Interface};

impl folders::Host for Capabilities {
    async fn create(
        &mut self,
        workspace_id: u64,
        name: String,
        parent_folder_id: Option<String>,
    ) -> Result<w::Folder, HostError> {
        let clay = self.enter(Interface::Folders, Access::Write, "create")?;
        let folder = clay
            .create_folder(workspace_id, &name, parent_folder_id.as_deref())
            .await?;
        Ok(folder_to_wit(folder))
    }

    async fn delete(
        &mut self,
        workspace_id: u64,
        folder_ids: Vec<String>,
        permanent: bool,
    ) -> Result<(), HostError> {
        let clay = self.enter(Interface::Folders, Access::Write, "delete")?;
        Ok(clay
            .delete_folders(workspace_id, &folder_ids, permanent)
            .await?)
    }
}
