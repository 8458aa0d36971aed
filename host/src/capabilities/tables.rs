use super::bindings::{tables, types as w};
use super::convert::{
    new_row, row_to_wit, run_result_to_wit, run_target, source_to_wit, table_to_wit,
};
use super::{Access, Capabilities, HostError, Interface, named};
use crate::backend::model::RunTarget;
use crate::backend::{ClayError, ClayResult};

/// `ids` without repeats, each where it was first named; no id is copied.
fn first_mentions(ids: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let first: Vec<bool> = ids.iter().map(|id| seen.insert(id.as_str())).collect();
    drop(seen);
    ids.into_iter()
        .zip(first)
        .filter_map(|(id, first)| first.then_some(id))
        .collect()
}

impl Capabilities {
    /// Whether the write gate would let this plugin change any row of a table it can see.
    fn may_write_whole_table(&self) -> bool {
        self.grants.allows(Interface::Tables, Access::Write)
            && !self.effects_only
            && !self.dry_run
            && !self.grants.tables.restricts_columns()
    }
}

impl tables::Host for Capabilities {
    async fn get(&mut self, table_id: String) -> Result<w::TableInfo, HostError> {
        let targets = named(&[&table_id], &[]);
        let clay = self.enter(Interface::Tables, Access::Read, "get", targets)?;
        let result = match self.scope_table(&table_id, "get").await {
            Ok(Some(table)) => Ok(self.grants.tables.visible(&table)),
            Ok(None) => clay.get_table(&table_id).await,
            Err(e) => Err(e),
        };
        self.finish(result.map(table_to_wit))
    }

    async fn record_ids(
        &mut self,
        table_id: String,
        view_id: String,
    ) -> Result<Vec<String>, HostError> {
        let targets = named(&[&table_id, &view_id], &[]);
        let clay = self.enter(Interface::Tables, Access::Read, "record-ids", targets)?;
        let result = match self.scope_table(&table_id, "record-ids").await {
            Ok(_) => clay.record_ids(&table_id, &view_id).await,
            Err(e) => Err(e),
        };
        self.finish(result)
    }

    async fn read_records(
        &mut self,
        table_id: String,
        record_ids: Vec<String>,
    ) -> Result<Vec<w::Row>, HostError> {
        let targets = named(&[&table_id], &record_ids);
        let clay = self.enter(Interface::Tables, Access::Read, "read-records", targets)?;
        let result = match self.scope_table(&table_id, "read-records").await {
            Ok(scoped) => clay
                .read_records(&table_id, &record_ids)
                .await
                .map(|mut rows| {
                    // Columns the plugin was not granted never reach it.
                    if let Some(table) = scoped {
                        for row in &mut rows {
                            self.grants.tables.strip(&table, row);
                        }
                    }
                    rows
                }),
            Err(e) => Err(e),
        };
        self.finish(result.map(|rows| rows.into_iter().map(row_to_wit).collect()))
    }

    async fn add_rows(
        &mut self,
        table_id: String,
        rows: Vec<w::NewRow>,
    ) -> Result<Vec<w::Row>, HostError> {
        let targets = named(&[&table_id], &[]).count("rows", rows.len());
        let clay = self.enter(Interface::Tables, Access::Write, "add-rows", targets)?;
        let rows: Vec<_> = rows.into_iter().map(new_row).collect();
        let result = async {
            let scoped = self.scope_table(&table_id, "add-rows").await?;
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
            Ok(added)
        }
        .await;
        self.finish(result.map(|added| added.into_iter().map(row_to_wit).collect()))
    }

    async fn delete_rows(
        &mut self,
        table_id: String,
        record_ids: Vec<String>,
    ) -> Result<(), HostError> {
        let targets = named(&[&table_id], &record_ids);
        let clay = self.enter(Interface::Tables, Access::Write, "delete-rows", targets)?;
        let result = async {
            if let Some(table) = self.scope_table(&table_id, "delete-rows").await? {
                self.scope_whole_rows(&table, "delete-rows")?;
            }
            clay.delete_rows(&table_id, &record_ids).await
        }
        .await;
        self.finish(result)
    }

    async fn delete_all_rows(
        &mut self,
        table_id: String,
        view_id: Option<String>,
    ) -> Result<(), HostError> {
        let mut targets = named(&[&table_id], &[]);
        if let Some(v) = &view_id {
            targets.push(v);
        }
        let clay = self.enter(Interface::Tables, Access::Write, "delete-all-rows", targets)?;
        let result = async {
            if let Some(table) = self.scope_table(&table_id, "delete-all-rows").await? {
                self.scope_whole_rows(&table, "delete-all-rows")?;
            }
            clay.delete_all_rows(&table_id, view_id.as_deref()).await
        }
        .await;
        self.finish(result)
    }

    async fn run_column(
        &mut self,
        table_id: String,
        field_ids: Vec<String>,
        target: w::RunTarget,
        force: bool,
    ) -> Result<w::RunResult, HostError> {
        let target = run_target(target);
        let mut targets = named(&[&table_id], &field_ids);
        match &target {
            RunTarget::Records(ids) => targets = targets.ids("record ids", ids),
            RunTarget::ViewTop { view_id, .. } => targets.push(view_id),
        }
        // The caps are checked first, so de-duplicating is bounded by them too.
        let clay = self.enter(Interface::Tables, Access::Write, "run-column", targets)?;
        // A record named twice would be enriched, and charged, twice.
        let target = match target {
            RunTarget::Records(ids) => RunTarget::Records(first_mentions(ids)),
            view => view,
        };
        let admitted: ClayResult<()> = async {
            if let Some(table) = self.scope_table(&table_id, "run-column").await? {
                self.scope_fields(&table, field_ids.iter().map(String::as_str), "run-column")?;
                // An enrichment reads its input columns and writes what it finds into a
                // column the plugin can see: the inputs must be granted too.
                let inputs = field_ids
                    .iter()
                    .filter_map(|id| table.field(id)?.action.as_ref())
                    .flat_map(|a| a.input_field_ids.iter().map(String::as_str));
                self.scope_fields(&table, inputs, "run-column")?;
            }
            Ok(())
        }
        .await;
        let result = match admitted {
            Ok(()) => {
                let estimate = clay.estimate_run_cost(&table_id, &field_ids, &target);
                let run = clay.run_column(&table_id, &field_ids, &target, force);
                match &mut self.meter {
                    Some(meter) => meter.spend(estimate, run).await,
                    None => run.await,
                }
            }
            Err(e) => Err(e),
        };
        let credits = result.as_ref().map_or(0.0, |r| r.credits_spent);
        self.finish_spent(result.map(run_result_to_wit), credits)
    }

    async fn count_rows(&mut self, table_id: String) -> Result<u64, HostError> {
        let targets = named(&[&table_id], &[]);
        let clay = self.enter(Interface::Tables, Access::Read, "count-rows", targets)?;
        let result = match self.scope_table(&table_id, "count-rows").await {
            Ok(_) => clay.count_rows(&table_id).await,
            Err(e) => Err(e),
        };
        self.finish(result)
    }

    async fn list_sources(&mut self, table_id: String) -> Result<Vec<w::Source>, HostError> {
        let targets = named(&[&table_id], &[]);
        let clay = self.enter(Interface::Tables, Access::Read, "list-sources", targets)?;
        let result = match self.scope_table(&table_id, "list-sources").await {
            Ok(_) => clay.list_sources(&table_id).await.map(|mut sources| {
                // A webhook URL is a credential: whoever holds it can add rows to the
                // table, past every column scope. Only a plugin that may write the whole
                // table directly gets it.
                if !self.may_write_whole_table() {
                    for s in &mut sources {
                        s.url = None;
                    }
                }
                sources
            }),
            Err(e) => Err(e),
        };
        self.finish(result.map(|sources| sources.into_iter().map(source_to_wit).collect()))
    }

    async fn add_webhook_source(
        &mut self,
        table_id: String,
        name: String,
    ) -> Result<w::Source, HostError> {
        let targets = named(&[&table_id], &[]).text("source name", &name);
        let clay = self.enter(
            Interface::Tables,
            Access::Write,
            "add-webhook-source",
            targets,
        )?;
        let result = async {
            self.scope_table(&table_id, "add-webhook-source").await?;
            clay.add_webhook_source(&table_id, &name).await
        }
        .await;
        self.finish(result.map(source_to_wit))
    }

    async fn delete_source(
        &mut self,
        source_id: String,
        delete_records: bool,
    ) -> Result<(), HostError> {
        let targets = named(&[&source_id], &[]);
        let clay = self.enter(Interface::Tables, Access::Write, "delete-source", targets)?;
        let result = async {
            // A source id does not say which table it feeds; only an unscoped plugin may.
            if !self.grants.tables.is_unrestricted() {
                return Err(ClayError::Denied(format!(
                    "plugin `{}` may not call tables.delete-source: its table grant is scoped to {}, and a source is deleted by id alone",
                    self.plugin,
                    self.grants.tables.describe_tables()
                )));
            }
            clay.delete_source(&source_id, delete_records).await
        }
        .await;
        self.finish(result)
    }
}
