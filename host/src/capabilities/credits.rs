use super::args::MAX_MEMBER_USAGE_IDS;
use super::bindings::{credits, types as w};
use super::convert::{
    integration_to_wit, integration_type_to_wit, member_to_wit, member_usage_to_wit, report_to_wit,
    resource_to_wit, time_range,
};
use super::{Access, Capabilities, HostError, Interface, named, workspace};

impl credits::Host for Capabilities {
    async fn permissions(&mut self, workspace_id: u64) -> Result<Vec<w::Member>, HostError> {
        let targets = vec![workspace(workspace_id)];
        let clay = self.enter(Interface::Credits, Access::Read, "permissions", targets)?;
        let result = clay.permissions(workspace_id).await;
        self.finish(result.map(|members| members.into_iter().map(member_to_wit).collect()))
    }

    async fn workspace_report(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
    ) -> Result<w::CreditReport, HostError> {
        let targets = vec![workspace(workspace_id)];
        let clay = self.enter(
            Interface::Credits,
            Access::Read,
            "workspace-report",
            targets,
        )?;
        let result = clay.workspace_report(workspace_id, time_range(range)).await;
        self.finish(result.map(report_to_wit))
    }

    async fn user_report(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
        owner_ids: Vec<String>,
    ) -> Result<w::CreditReport, HostError> {
        let targets = named(&[&workspace(workspace_id)], &owner_ids);
        let clay = self.enter(Interface::Credits, Access::Read, "user-report", targets)?;
        let result = clay
            .user_report(workspace_id, time_range(range), &owner_ids)
            .await;
        self.finish(result.map(report_to_wit))
    }

    async fn member_usage(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
        user_ids: Vec<String>,
    ) -> Result<Vec<w::MemberCredits>, HostError> {
        let targets = named(&[&workspace(workspace_id)], &user_ids).at_most(
            "members",
            user_ids.len(),
            MAX_MEMBER_USAGE_IDS,
        );
        let clay = self.enter(Interface::Credits, Access::Read, "member-usage", targets)?;
        let result = clay
            .member_usage(workspace_id, time_range(range), &user_ids)
            .await;
        self.finish(result.map(|usage| usage.into_iter().map(member_usage_to_wit).collect()))
    }

    async fn integration_report(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
    ) -> Result<w::CreditReport, HostError> {
        let targets = vec![workspace(workspace_id)];
        let clay = self.enter(
            Interface::Credits,
            Access::Read,
            "integration-report",
            targets,
        )?;
        let result = clay
            .integration_report(workspace_id, time_range(range))
            .await;
        self.finish(result.map(report_to_wit))
    }

    async fn integration_specific_report(
        &mut self,
        workspace_id: u64,
        range: w::TimeRange,
        integration_ids: Vec<String>,
    ) -> Result<w::CreditReport, HostError> {
        let targets = named(&[&workspace(workspace_id)], &integration_ids);
        let clay = self.enter(
            Interface::Credits,
            Access::Read,
            "integration-specific-report",
            targets,
        )?;
        let result = clay
            .integration_specific_report(workspace_id, time_range(range), &integration_ids)
            .await;
        self.finish(result.map(report_to_wit))
    }

    async fn user_resources(
        &mut self,
        workspace_id: u64,
        owner_ids: Vec<String>,
    ) -> Result<Vec<w::Resource>, HostError> {
        let targets = named(&[&workspace(workspace_id)], &owner_ids);
        let clay = self.enter(Interface::Credits, Access::Read, "user-resources", targets)?;
        // Who created what is a listing too: only tables inside the grant, and the way there.
        let result = match clay.user_resources(workspace_id, &owner_ids).await {
            Ok(found) => self.scope_resources(workspace_id, found).await,
            Err(e) => Err(e),
        };
        self.finish(result.map(|found| found.into_iter().map(resource_to_wit).collect()))
    }

    async fn integrations(&mut self, workspace_id: u64) -> Result<Vec<w::Integration>, HostError> {
        let targets = vec![workspace(workspace_id)];
        let clay = self.enter(Interface::Credits, Access::Read, "integrations", targets)?;
        let result = clay.integrations(workspace_id).await;
        self.finish(result.map(|found| found.into_iter().map(integration_to_wit).collect()))
    }

    async fn get_integration_type(
        &mut self,
        type_id: String,
    ) -> Result<w::IntegrationType, HostError> {
        let targets = named(&[&type_id], &[]);
        let clay = self.enter(
            Interface::Credits,
            Access::Read,
            "get-integration-type",
            targets,
        )?;
        let result = clay.integration_type(&type_id).await;
        self.finish(result.map(integration_type_to_wit))
    }

    async fn list_integration_types(&mut self) -> Result<Vec<w::IntegrationType>, HostError> {
        let clay = self.enter(
            Interface::Credits,
            Access::Read,
            "list-integration-types",
            Vec::new(),
        )?;
        let result = clay.integration_types().await;
        self.finish(result.map(|found| found.into_iter().map(integration_type_to_wit).collect()))
    }
}
