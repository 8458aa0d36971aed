use super::bindings::{credits, types as w};
use super::convert::{
    integration_to_wit, integration_type_to_wit, member_to_wit, report_to_wit, resource_to_wit,
    time_range,
};
use super::{Access, Capabilities, HostError, Interface};

impl credits::Host for Capabilities {
    async fn permissions(&mut self, workspace_id: u64) -> Result<Vec<w::Member>, HostError> {
        let clay = self.enter(Interface::Credits, Access::Read, "permissions")?;
        let members = clay.permissions(workspace_id).await?;
        Ok(members.into_iter().map(member_to_wit).collect())
    }

    async fn workspace_report(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
    ) -> Result<w::CreditReport, HostError> {
        let clay = self.enter(Interface::Credits, Access::Read, "workspace-report")?;
        let report = clay
            .workspace_report(workspace_id, time_range(range))
            .await?;
        Ok(report_to_wit(report))
    }

    async fn user_report(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
        owner_ids: Vec<String>,
    ) -> Result<w::CreditReport, HostError> {
        let clay = self.enter(Interface::Credits, Access::Read, "user-report")?;
        let report = clay
            .user_report(workspace_id, time_range(range), &owner_ids)
            .await?;
        Ok(report_to_wit(report))
    }

    async fn integration_report(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
    ) -> Result<w::CreditReport, HostError> {
        let clay = self.enter(Interface::Credits, Access::Read, "integration-report")?;
        let report = clay
            .integration_report(workspace_id, time_range(range))
            .await?;
        Ok(report_to_wit(report))
    }

    async fn integration_specific_report(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
        integration_ids: Vec<String>,
    ) -> Result<w::CreditReport, HostError> {
        let clay = self.enter(
            Interface::Credits,
            Access::Read,
            "integration-specific-report",
        )?;
        let report = clay
            .integration_specific_report(workspace_id, time_range(range), &integration_ids)
            .await?;
        Ok(report_to_wit(report))
    }

    async fn user_resources(
        &mut self,
        workspace_id: u64,
        owner_ids: Vec<String>,
    ) -> Result<Vec<w::Resource>, HostError> {
        let clay = self.enter(Interface::Credits, Access::Read, "user-resources")?;
        let found = clay.user_resources(workspace_id, &owner_ids).await?;
        Ok(found.into_iter().map(resource_to_wit).collect())
    }

    async fn integrations(&mut self, workspace_id: u64) -> Result<Vec<w::Integration>, HostError> {
        let clay = self.enter(Interface::Credits, Access::Read, "integrations")?;
        let found = clay.integrations(workspace_id).await?;
        Ok(found.into_iter().map(integration_to_wit).collect())
    }

    async fn get_integration_type(
        &mut self,
        type_id: String,
    ) -> Result<w::IntegrationType, HostError> {
        let clay = self.enter(Interface::Credits, Access::Read, "get-integration-type")?;
        Ok(integration_type_to_wit(
            clay.integration_type(&type_id).await?,
        ))
    }

    async fn list_integration_types(&mut self) -> Result<Vec<w::IntegrationType>, HostError> {
        let clay = self.enter(Interface::Credits, Access::Read, "list-integration-types")?;
        let found = clay.integration_types().await?;
        Ok(found.into_iter().map(integration_type_to_wit).collect())
    }
}
