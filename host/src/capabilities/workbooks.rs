use super::bindings::{types as w, workbooks};
use super::convert::workbook_to_wit;
use super::{Access, Capabilities, HostError, Interface};

impl workbooks::Host for Capabilities {
    async fn create(
        &mut self,
        workspace_id: u64,
        name: String,
        auto_run: bool,
        parent_folder_id: Option<String>,
    ) -> Result<w::Workbook, HostError> {
        let clay = self.enter(Interface::Workbooks, Access::Write, "create")?;
        let wb = clay
            .create_workbook(workspace_id, &name, auto_run, parent_folder_id.as_deref())
            .await?;
        Ok(workbook_to_wit(wb))
    }

    async fn delete(&mut self, workbook_id: String) -> Result<(), HostError> {
        let clay = self.enter(Interface::Workbooks, Access::Write, "delete")?;
        Ok(clay.delete_workbook(&workbook_id).await?)
    }
}
