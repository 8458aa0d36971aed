use super::bindings::{tables, types as w};
use super::convert::{
    new_row, row_to_wit, run_result_to_wit, run_target, source_to_wit, table_to_wit,
};
use super::{Access, Capabilities, HostError, Interface};

impl tables::Host for Capabilities {
    async fn get(&mut self, table_id: String) -> Result<w::TableInfo, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "get")?;
        Ok(table_to_wit(clay.get_table(&table_id).await?))
    }

    async fn record_ids(
        &mut self,
        table_id: String,
        view_id: String,
    ) -> Result<Vec<String>, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "record-ids")?;
        Ok(clay.record_ids(&table_id, &view_id).await?)
    }

    async fn read_records(
        &mut self,
        table_id: String,
        record_ids: Vec<String>,
    ) -> Result<Vec<w::Row>, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "read-records")?;
        let rows = clay.read_records(&table_id, &record_ids).await?;
        Ok(rows.into_iter().map(row_to_wit).collect())
    }

    async fn add_rows(
        &mut self,
        table_id: String,
        rows: Vec<w::NewRow>,
    ) -> Result<Vec<w::Row>, HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "add-rows")?;
        let rows: Vec<_> = rows.into_iter().map(new_row).collect();
        let added = clay.add_rows(&table_id, &rows).await?;
        Ok(added.into_iter().map(row_to_wit).collect())
    }

    async fn delete_rows(
        &mut self,
        table_id: String,
        record_ids: Vec<String>,
    ) -> Result<(), HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "delete-rows")?;
        Ok(clay.delete_rows(&table_id, &record_ids).await?)
    }

    async fn delete_all_rows(
        &mut self,
        table_id: String,
        view_id: Option<String>,
    ) -> Result<(), HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "delete-all-rows")?;
        Ok(clay.delete_all_rows(&table_id, view_id.as_deref()).await?)
    }

    async fn run_column(
        &mut self,
        table_id: String,
        field_ids: Vec<String>,
        target: w::RunTarget,
        force: bool,
    ) -> Result<w::RunResult, HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "run-column")?;
        let result = clay
            .run_column(&table_id, &field_ids, &run_target(target), force)
            .await?;
        Ok(run_result_to_wit(result))
    }

    async fn count_rows(&mut self, table_id: String) -> Result<u64, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "count-rows")?;
        Ok(clay.count_rows(&table_id).await?)
    }

    async fn list_sources(&mut self, table_id: String) -> Result<Vec<w::Source>, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "list-sources")?;
        let sources = clay.list_sources(&table_id).await?;
        Ok(sources.into_iter().map(source_to_wit).collect())
    }

    async fn add_webhook_source(
        &mut self,
        table_id: String,
        name: String,
    ) -> Result<w::Source, HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "add-webhook-source")?;
        Ok(source_to_wit(
            clay.add_webhook_source(&table_id, &name).await?,
        ))
    }

    async fn delete_source(
        &mut self,
        source_id: String,
        delete_records: bool,
    ) -> Result<(), HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "delete-source")?;
        Ok(clay.delete_source(&source_id, delete_records).await?)
    }
}
