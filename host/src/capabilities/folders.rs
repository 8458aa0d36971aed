use super::bindings::{folders, types as w};
use super::convert::folder_to_wit;
use super::{Access, Capabilities, HostError, Interface, named, workspace};

impl folders::Host for Capabilities {
    async fn create(
        &mut self,
        workspace_id: u64,
        name: String,
        parent_folder_id: Option<String>,
    ) -> Result<w::Folder, HostError> {
        let mut targets = super::Targets::new()
            .id(&workspace(workspace_id))
            .text("folder name", &name);
        if let Some(p) = &parent_folder_id {
            targets.push(p);
        }
        let clay = self.enter(Interface::Folders, Access::Write, "create", targets)?;
        let result = clay
            .create_folder(workspace_id, &name, parent_folder_id.as_deref())
            .await;
        self.finish(result.map(folder_to_wit))
    }

    async fn delete(
        &mut self,
        workspace_id: u64,
        folder_ids: Vec<String>,
        permanent: bool,
    ) -> Result<(), HostError> {
        let targets = named(&[&workspace(workspace_id)], &folder_ids);
        let clay = self.enter(Interface::Folders, Access::Write, "delete", targets)?;
        let result = clay
            .delete_folders(workspace_id, &folder_ids, permanent)
            .await;
        self.finish(result)
    }
}
