use super::bindings::{types as w, workbooks};
use super::convert::workbook_to_wit;
use super::{Access, Capabilities, HostError, Interface, named, workspace};

impl workbooks::Host for Capabilities {
    async fn create(
        &mut self,
        workspace_id: u64,
        name: String,
        auto_run: bool,
        parent_folder_id: Option<String>,
    ) -> Result<w::Workbook, HostError> {
        let mut targets = super::Targets::new()
            .id(&workspace(workspace_id))
            .text("workbook name", &name);
        if let Some(p) = &parent_folder_id {
            targets.push(p);
        }
        let clay = self.enter(Interface::Workbooks, Access::Write, "create", targets)?;
        let result = clay
            .create_workbook(workspace_id, &name, auto_run, parent_folder_id.as_deref())
            .await;
        self.finish(result.map(workbook_to_wit))
    }

    async fn delete(&mut self, workbook_id: String) -> Result<(), HostError> {
        let targets = named(&[&workbook_id], &[]);
        let clay = self.enter(Interface::Workbooks, Access::Write, "delete", targets)?;
        let result = clay.delete_workbook(&workbook_id).await;
        self.finish(result)
    }
}
