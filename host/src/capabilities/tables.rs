use super::bindings::{tables, types as w};
use super::convert::{
    new_row, row_to_wit, run_result_to_wit, run_target, source_to_wit, table_to_wit,
};
use super::{Access, Capabilities, HostError, Interface};

impl tables::Host for Capabilities {
    async fn get(&mut self, table_id: String) -> Result<w::TableInfo, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "get")?;
        let table = match self.scope_table(&table_id, "get").await? {
            Some(table) => self.grants.tables.visible(&table),
            None => clay.get_table(&table_id).await?,
        };
        Ok(table_to_wit(table))
    }

    async fn record_ids(
        &mut self,
        table_id: String,
        view_id: String,
    ) -> Result<Vec<String>, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "record-ids")?;
        self.scope_table(&table_id, "record-ids").await?;
        Ok(clay.record_ids(&table_id, &view_id).await?)
    }

    async fn read_records(
        &mut self,
        table_id: String,
        record_ids: Vec<String>,
    ) -> Result<Vec<w::Row>, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "read-records")?;
        let scoped = self.scope_table(&table_id, "read-records").await?;
        let mut rows = clay.read_records(&table_id, &record_ids).await?;
        if let Some(table) = scoped {
            for row in &mut rows {
                self.grants.tables.strip(&table, row);
            }
        }
        Ok(rows.into_iter().map(row_to_wit).collect())
    }

    async fn add_rows(
        &mut self,
        table_id: String,
        rows: Vec<w::NewRow>,
    ) -> Result<Vec<w::Row>, HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "add-rows")?;
        self.direct_write("add-rows")?;
        let scoped = self.scope_table(&table_id, "add-rows").await?;
        let rows: Vec<_> = rows.into_iter().map(new_row).collect();
        if let Some(table) = &scoped {
            let fields = rows
                .iter()
                .flat_map(|r| r.cells.iter().map(|c| c.field_id.as_str()));
            self.scope_fields(table, fields, "add-rows")?;
        }
        let mut added = clay.add_rows(&table_id, &rows).await?;
        if let Some(table) = scoped {
            for row in &mut added {
                self.grants.tables.strip(&table, row);
            }
        }
        Ok(added.into_iter().map(row_to_wit).collect())
    }

    async fn delete_rows(
        &mut self,
        table_id: String,
        record_ids: Vec<String>,
    ) -> Result<(), HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "delete-rows")?;
        self.direct_write("delete-rows")?;
        if let Some(table) = self.scope_table(&table_id, "delete-rows").await? {
            self.scope_whole_rows(&table, "delete-rows")?;
        }
        Ok(clay.delete_rows(&table_id, &record_ids).await?)
    }

    async fn delete_all_rows(
        &mut self,
        table_id: String,
        view_id: Option<String>,
    ) -> Result<(), HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "delete-all-rows")?;
        self.direct_write("delete-all-rows")?;
        if let Some(table) = self.scope_table(&table_id, "delete-all-rows").await? {
            self.scope_whole_rows(&table, "delete-all-rows")?;
        }
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
        self.not_dry_run("run-column")?;
        if let Some(table) = self.scope_table(&table_id, "run-column").await? {
            self.scope_fields(&table, field_ids.iter().map(String::as_str), "run-column")?;
        }
        let result = clay
            .run_column(&table_id, &field_ids, &run_target(target), force)
            .await?;
        Ok(run_result_to_wit(result))
    }

    async fn count_rows(&mut self, table_id: String) -> Result<u64, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "count-rows")?;
        self.scope_table(&table_id, "count-rows").await?;
        Ok(clay.count_rows(&table_id).await?)
    }

    async fn list_sources(&mut self, table_id: String) -> Result<Vec<w::Source>, HostError> {
        let clay = self.enter(Interface::Tables, Access::Read, "list-sources")?;
        self.scope_table(&table_id, "list-sources").await?;
        let sources = clay.list_sources(&table_id).await?;
        Ok(sources.into_iter().map(source_to_wit).collect())
    }

    async fn add_webhook_source(
        &mut self,
        table_id: String,
        name: String,
    ) -> Result<w::Source, HostError> {
        let clay = self.enter(Interface::Tables, Access::Write, "add-webhook-source")?;
        self.direct_write("add-webhook-source")?;
        self.scope_table(&table_id, "add-webhook-source").await?;
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
        self.direct_write("delete-source")?;
        // A source id does not say which table it feeds; only an unscoped plugin may.
        if !self.grants.tables.is_unrestricted() {
            return Err(HostError::Clay(crate::backend::ClayError::Denied(format!(
                "plugin `{}` may not call tables.delete-source: its table grant is scoped to {}, and a source is deleted by id alone",
                self.plugin,
                self.grants.tables.describe_tables()
            ))));
        }
        Ok(clay.delete_source(&source_id, delete_records).await?)
    }
}
