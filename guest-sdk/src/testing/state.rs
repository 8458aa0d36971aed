//! The capability functions behind [`crate::clay`], over the mock's data: each follows the
//! embedded workspace's semantics (limits, trash, run conditions, the credit ledger).

use std::collections::BTreeMap;

use super::{MAX_ADD, MAX_READ, MockTable, State, Usage, is_empty, not_found, text};
use crate::types::{
    Cell, CellInput, CellStatus, CellValue, ClayError, CreditEntity, CreditReport, CreditSubentity,
    FieldKind, Folder, Integration, IntegrationType, Member, MemberCredits, MemberStatus, NewRow,
    Resource, ResourceKind, ResourceRef, Row, RunMode, RunResult, RunTarget, Source, TableInfo,
    TimeRange, Workbook, Workspace,
};

impl State {
    pub(super) fn id(&mut self, prefix: &str) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{prefix}_{n:06}")
    }

    pub(super) fn ensure_type(&mut self, id: &str, name: Option<&str>) {
        match self.types.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                if let Some(name) = name {
                    t.name = name.to_string();
                }
            }
            None => self.types.push(IntegrationType {
                id: id.to_string(),
                name: name.unwrap_or(id).to_string(),
                provider_name: name.unwrap_or(id).to_string(),
                authentication_type: "api_key".into(),
            }),
        }
    }

    pub(super) fn add_resource(
        &mut self,
        kind: ResourceKind,
        prefix: &str,
        name: &str,
        parent: Option<&str>,
    ) -> String {
        let id = self.id(prefix);
        self.resources.push(Resource {
            id: id.clone(),
            name: name.to_string(),
            kind,
            parent_id: parent.map(str::to_string),
            created_by: self.acting.clone(),
            created_at: Some(self.now),
            updated_at: Some(self.now),
            deleted: false,
        });
        id
    }

    pub(super) fn insert_workbook(
        &mut self,
        name: &str,
        auto_run: bool,
        parent: Option<&str>,
    ) -> String {
        let id = self.add_resource(ResourceKind::Workbook, "wb", name, parent);
        self.workbooks.insert(
            id.clone(),
            Workbook {
                id: id.clone(),
                name: name.to_string(),
                workspace_id: self.workspace.id,
                parent_folder_id: parent.map(str::to_string),
                auto_run,
            },
        );
        id
    }

    pub(super) fn table_mut(&mut self, table_id: &str) -> &mut MockTable {
        self.tables
            .get_mut(table_id)
            .unwrap_or_else(|| panic!("no table {table_id}"))
    }

    pub(super) fn table(&mut self, table_id: &str) -> Result<&mut MockTable, ClayError> {
        let live = self
            .resources
            .iter()
            .any(|r| r.id == table_id && !r.deleted);
        match self.tables.get_mut(table_id) {
            Some(t) if live => Ok(t),
            _ => Err(not_found("table", table_id)),
        }
    }

    pub(super) fn check_workspace(&self, workspace_id: u64) -> Result<(), ClayError> {
        if workspace_id == self.workspace.id {
            Ok(())
        } else {
            Err(not_found("workspace", &workspace_id.to_string()))
        }
    }

    pub(super) fn live(&self, id: &str, kind: ResourceKind) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.id == id && r.kind == kind && !r.deleted)
    }

    /// The resource and everything under it.
    pub(super) fn subtree(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_string()];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].clone();
            out.extend(
                self.resources
                    .iter()
                    .filter(|r| r.parent_id.as_deref() == Some(parent.as_str()))
                    .map(|r| r.id.clone()),
            );
            i += 1;
        }
        out
    }

    pub(super) fn remove(&mut self, ids: &[String], permanent: bool) {
        if permanent {
            self.resources.retain(|r| !ids.contains(&r.id));
            for id in ids {
                self.tables.remove(id);
                self.workbooks.remove(id);
            }
        } else {
            for r in self.resources.iter_mut().filter(|r| ids.contains(&r.id)) {
                r.deleted = true;
            }
        }
    }

    // ---- workspaces ----

    pub(crate) fn workspaces_list(&mut self) -> Result<Vec<Workspace>, ClayError> {
        Ok(vec![self.workspace.clone()])
    }

    // ---- folders ----

    pub(crate) fn folders_create(
        &mut self,
        workspace_id: u64,
        name: &str,
        parent: Option<&str>,
    ) -> Result<Folder, ClayError> {
        self.check_workspace(workspace_id)?;
        if name.trim().is_empty() {
            return Err(ClayError::Invalid("a folder needs a name".into()));
        }
        if let Some(p) = parent
            && self.live(p, ResourceKind::Folder).is_none()
        {
            return Err(not_found("folder", p));
        }
        let taken = self.resources.iter().any(|r| {
            !r.deleted
                && r.kind == ResourceKind::Folder
                && r.parent_id.as_deref() == parent
                && r.name == name
        });
        if taken {
            return Err(ClayError::Conflict(format!(
                "a folder named `{name}` already exists there"
            )));
        }
        let id = self.add_resource(ResourceKind::Folder, "f", name, parent);
        Ok(Folder {
            id,
            name: name.to_string(),
            workspace_id,
            parent_folder_id: parent.map(str::to_string),
        })
    }

    pub(crate) fn folders_delete(
        &mut self,
        workspace_id: u64,
        folder_ids: &[String],
        permanent: bool,
    ) -> Result<(), ClayError> {
        self.check_workspace(workspace_id)?;
        let mut doomed = Vec::new();
        for id in folder_ids {
            let exists = self
                .resources
                .iter()
                .any(|r| &r.id == id && r.kind == ResourceKind::Folder);
            if !exists {
                return Err(not_found("folder", id));
            }
            doomed.extend(self.subtree(id));
        }
        self.remove(&doomed, permanent);
        Ok(())
    }

    // ---- resources ----

    pub(crate) fn resources_list(
        &mut self,
        workspace_id: u64,
        parent: Option<&ResourceRef>,
        kinds: &[ResourceKind],
    ) -> Result<Vec<Resource>, ClayError> {
        self.check_workspace(workspace_id)?;
        if let Some(p) = parent
            && self.live(&p.id, p.kind).is_none()
        {
            return Err(not_found("resource", &p.id));
        }
        let parent_id = parent.map(|p| p.id.as_str());
        Ok(self
            .resources
            .iter()
            .filter(|r| !r.deleted && r.parent_id.as_deref() == parent_id)
            .filter(|r| kinds.is_empty() || kinds.contains(&r.kind))
            .cloned()
            .collect())
    }

    pub(crate) fn resources_search(
        &mut self,
        workspace_id: u64,
        query: &str,
    ) -> Result<Vec<Resource>, ClayError> {
        self.check_workspace(workspace_id)?;
        let query = query.to_lowercase();
        Ok(self
            .resources
            .iter()
            .filter(|r| !r.deleted && r.name.to_lowercase().contains(&query))
            .cloned()
            .collect())
    }

    // ---- workbooks ----

    pub(crate) fn workbooks_create(
        &mut self,
        workspace_id: u64,
        name: &str,
        auto_run: bool,
        parent: Option<&str>,
    ) -> Result<Workbook, ClayError> {
        self.check_workspace(workspace_id)?;
        if let Some(p) = parent
            && self.live(p, ResourceKind::Folder).is_none()
        {
            return Err(not_found("folder", p));
        }
        let id = self.insert_workbook(name, auto_run, parent);
        self.workbooks
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found("workbook", &id))
    }

    pub(crate) fn workbooks_delete(&mut self, workbook_id: &str) -> Result<(), ClayError> {
        if self.live(workbook_id, ResourceKind::Workbook).is_none() {
            return Err(not_found("workbook", workbook_id));
        }
        let doomed = self.subtree(workbook_id);
        self.remove(&doomed, true);
        Ok(())
    }

    // ---- tables ----

    pub(crate) fn tables_get(&mut self, table_id: &str) -> Result<TableInfo, ClayError> {
        Ok(self.table(table_id)?.info.clone())
    }

    pub(crate) fn tables_record_ids(
        &mut self,
        table_id: &str,
        view_id: &str,
    ) -> Result<Vec<String>, ClayError> {
        let table = self.table(table_id)?;
        if !table.info.views.iter().any(|v| v.id == view_id) {
            return Err(not_found("view", view_id));
        }
        Ok(table.rows.iter().map(|r| r.id.clone()).collect())
    }

    pub(crate) fn tables_read_records(
        &mut self,
        table_id: &str,
        record_ids: &[String],
    ) -> Result<Vec<Row>, ClayError> {
        if record_ids.len() > MAX_READ {
            return Err(ClayError::Invalid(format!(
                "at most {MAX_READ} records per read, got {}",
                record_ids.len()
            )));
        }
        let table = self.table(table_id)?;
        Ok(record_ids
            .iter()
            .filter_map(|id| table.rows.iter().find(|r| &r.id == id).cloned())
            .collect())
    }

    pub(crate) fn tables_add_rows(
        &mut self,
        table_id: &str,
        rows: &[NewRow],
    ) -> Result<Vec<Row>, ClayError> {
        if rows.is_empty() || rows.len() > MAX_ADD {
            return Err(ClayError::Invalid(format!(
                "add between 1 and {MAX_ADD} rows per call, got {}",
                rows.len()
            )));
        }
        let now = self.now;
        // Validate everything before adding anything: a bad row adds none.
        let info = self.table(table_id)?.info.clone();
        for row in rows {
            for c in &row.cells {
                if !info.fields.iter().any(|f| f.id == c.field_id) {
                    return Err(ClayError::Invalid(format!(
                        "table `{}` has no field {}",
                        info.name, c.field_id
                    )));
                }
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for new in rows {
            let existing = new.id.as_ref().and_then(|id| {
                self.tables
                    .get(table_id)
                    .and_then(|t| t.rows.iter().find(|r| &r.id == id).cloned())
            });
            if let Some(row) = existing {
                out.push(row);
                continue;
            }
            let id = match &new.id {
                Some(id) => id.clone(),
                None => self.id("r"),
            };
            let row = Row {
                id,
                cells: new
                    .cells
                    .iter()
                    .map(|c: &CellInput| Cell {
                        field_id: c.field_id.clone(),
                        value: c.value.clone(),
                        status: None,
                    })
                    .collect(),
                created_at: Some(now),
                updated_at: Some(now),
            };
            self.table(table_id)?.rows.push(row.clone());
            out.push(row);
        }
        Ok(out)
    }

    pub(crate) fn tables_delete_rows(
        &mut self,
        table_id: &str,
        record_ids: &[String],
    ) -> Result<(), ClayError> {
        self.table(table_id)?
            .rows
            .retain(|r| !record_ids.contains(&r.id));
        Ok(())
    }

    pub(crate) fn tables_delete_all_rows(
        &mut self,
        table_id: &str,
        view_id: Option<&str>,
    ) -> Result<(), ClayError> {
        let table = self.table(table_id)?;
        if let Some(v) = view_id
            && !table.info.views.iter().any(|view| view.id == v)
        {
            return Err(not_found("view", v));
        }
        table.rows.clear();
        Ok(())
    }

    pub(crate) fn tables_run_column(
        &mut self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
        force: bool,
    ) -> Result<RunResult, ClayError> {
        if field_ids.is_empty() {
            return Err(ClayError::Invalid(
                "name at least one enrichment column to run".into(),
            ));
        }
        let now = self.now;
        let actor = self.acting.clone();
        let info = self.table(table_id)?.info.clone();
        let mut actions = Vec::new();
        for id in field_ids {
            let field = info.fields.iter().find(|f| &f.id == id).ok_or_else(|| {
                ClayError::Invalid(format!("table `{}` has no field {id}", info.name))
            })?;
            let action = field
                .action
                .clone()
                .filter(|_| field.kind == FieldKind::Action)
                .ok_or_else(|| {
                    ClayError::Invalid(format!(
                        "`{}` ({id}) is not an enrichment column",
                        field.name
                    ))
                })?;
            if let Some(account) = &action.auth_account_id {
                self.check_integration(account)?;
            }
            actions.push((field.id.clone(), action));
        }
        let table = self.table(table_id)?;
        let (ids, mode) = match target {
            RunTarget::Records(ids) => (ids.clone(), RunMode::Individual),
            RunTarget::ViewTop(top) => {
                if !table.info.views.iter().any(|v| v.id == top.view_id) {
                    return Err(not_found("view", &top.view_id));
                }
                let mut all: Vec<String> = table.rows.iter().map(|r| r.id.clone()).collect();
                if let Some(n) = top.num_records {
                    all.truncate(n as usize);
                }
                (all, RunMode::Bulk)
            }
        };
        // Work out the whole run first: one that would overdraw the pool spends nothing.
        let mut writes: Vec<(usize, Vec<Cell>, f64, bool)> = Vec::new();
        for (index, row) in table.rows.iter().enumerate() {
            if !ids.contains(&row.id) {
                continue;
            }
            let (mut cells, mut cost, mut charged) = (Vec::new(), 0.0, false);
            for (field_id, action) in &actions {
                let current = row.cells.iter().find(|c| &c.field_id == field_id);
                let done = !is_empty(current)
                    && matches!(
                        current.and_then(|c| c.status.as_ref()),
                        Some(CellStatus::Success) | None
                    );
                if done && !force {
                    continue;
                }
                let inputs: Vec<String> = action
                    .input_field_ids
                    .iter()
                    .map(|f| {
                        row.cells
                            .iter()
                            .find(|c| &c.field_id == f)
                            .map(|c| text(&c.value))
                            .unwrap_or_default()
                    })
                    .collect();
                if inputs.iter().any(|i| i.trim().is_empty()) {
                    cells.push(Cell {
                        field_id: field_id.clone(),
                        value: CellValue::Null,
                        status: Some(CellStatus::RunConditionNotMet),
                    });
                    continue;
                }
                cells.push(Cell {
                    field_id: field_id.clone(),
                    value: CellValue::Text(format!("{}({})", action.action_key, inputs.join(", "))),
                    status: Some(CellStatus::Success),
                });
                cost += action.credit_cost.unwrap_or(0.0);
                charged = true;
            }
            if !cells.is_empty() {
                writes.push((index, cells, cost, charged));
            }
        }
        let total: f64 = writes.iter().map(|w| w.2).sum();
        if total > self.workspace.credit_balance {
            return Err(ClayError::BudgetExhausted(format!(
                "the run needs {total} credits and the pool has {}",
                self.workspace.credit_balance
            )));
        }
        let mut ran = 0u32;
        let table = self.table(table_id)?;
        for (index, cells, _, charged) in &writes {
            let row = &mut table.rows[*index];
            for cell in cells {
                match row.cells.iter_mut().find(|c| c.field_id == cell.field_id) {
                    Some(existing) => *existing = cell.clone(),
                    None => row.cells.push(cell.clone()),
                }
            }
            row.updated_at = Some(now);
            if *charged {
                ran += 1;
            }
        }
        for (_, cells, _, _) in &writes {
            for cell in cells
                .iter()
                .filter(|c| c.status == Some(CellStatus::Success))
            {
                if let Some((_, action)) = actions.iter().find(|(f, _)| f == &cell.field_id) {
                    self.ledger.push(Usage {
                        at: now,
                        user: actor.clone(),
                        package: action.package_id.clone(),
                        table: Some(table_id.to_string()),
                        credits: action.credit_cost.unwrap_or(0.0),
                    });
                }
            }
        }
        self.workspace.credit_balance -= total;
        self.spent += total;
        if ran == 0 {
            return Ok(RunResult {
                mode: RunMode::None,
                record_count: 0,
                credits_spent: 0.0,
            });
        }
        Ok(RunResult {
            mode,
            record_count: ran,
            credits_spent: total,
        })
    }

    /// An integration authenticated by a removed member no longer works in Clay.
    pub(super) fn check_integration(&self, account: &str) -> Result<(), ClayError> {
        let integration = self
            .integrations
            .iter()
            .find(|i| i.id == account)
            .ok_or_else(|| not_found("integration", account))?;
        let owner_removed = integration.owner_id.as_ref().is_some_and(|o| {
            self.members
                .iter()
                .any(|m| m.user_id.as_ref() == Some(o) && m.status == MemberStatus::Removed)
        });
        if owner_removed {
            return Err(ClayError::Upstream(format!(
                "integration {account} was authenticated by a removed member; reconnect it with another member's credentials"
            )));
        }
        Ok(())
    }

    pub(crate) fn tables_count_rows(&mut self, table_id: &str) -> Result<u64, ClayError> {
        Ok(self.table(table_id)?.rows.len() as u64)
    }

    pub(crate) fn tables_list_sources(&mut self, table_id: &str) -> Result<Vec<Source>, ClayError> {
        Ok(self.table(table_id)?.sources.clone())
    }

    pub(crate) fn tables_add_webhook_source(
        &mut self,
        table_id: &str,
        name: &str,
    ) -> Result<Source, ClayError> {
        self.table(table_id)?;
        let id = self.id("s");
        let source = Source {
            url: Some(format!("https://api.clay.com/v3/sources/webhook/{id}")),
            id,
            name: name.to_string(),
            table_id: table_id.to_string(),
            kind: "webhook".into(),
            records_received: 0,
        };
        self.table(table_id)?.sources.push(source.clone());
        Ok(source)
    }

    pub(crate) fn tables_delete_source(
        &mut self,
        source_id: &str,
        _delete_records: bool,
    ) -> Result<(), ClayError> {
        // The mock does not track which source brought a row in, so there is nothing more to
        // delete; `records_received` says how many there would be.
        for table in self.tables.values_mut() {
            if let Some(i) = table.sources.iter().position(|s| s.id == source_id) {
                table.sources.remove(i);
                return Ok(());
            }
        }
        Err(not_found("source", source_id))
    }

    // ---- credits ----

    pub(crate) fn credits_permissions(
        &mut self,
        workspace_id: u64,
    ) -> Result<Vec<Member>, ClayError> {
        self.check_workspace(workspace_id)?;
        Ok(self.members.clone())
    }

    pub(super) fn type_name(&self, id: &str) -> String {
        self.types
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    pub(super) fn member_name(&self, id: &str) -> (String, bool) {
        self.members
            .iter()
            .find(|m| m.user_id.as_deref() == Some(id))
            .map(|m| (m.name.clone(), m.status == MemberStatus::Removed))
            .unwrap_or_else(|| (id.to_string(), true))
    }

    pub(super) fn in_range<'a>(&'a self, range: TimeRange) -> impl Iterator<Item = &'a Usage> + 'a {
        self.ledger
            .iter()
            .filter(move |u| u.at >= range.start && u.at < range.end)
    }

    /// Clay's workspace report: what each folder (its workbooks as sub-entities) or
    /// top-level workbook spent; spending on no table is unattributed.
    pub(super) fn resource_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
        owners: Option<&[String]>,
        packages: Option<&[String]>,
    ) -> Result<CreditReport, ClayError> {
        self.check_workspace(workspace_id)?;
        if range.end < range.start {
            return Err(ClayError::Invalid(
                "the time range ends before it starts".into(),
            ));
        }
        type Spend = (f64, u64);
        let parent = |id: &str| {
            self.resources
                .iter()
                .find(|r| r.id == id)
                .and_then(|r| r.parent_id.clone())
        };
        let mut per_entity: BTreeMap<String, (Spend, BTreeMap<String, Spend>)> = BTreeMap::new();
        let mut unattributed: Spend = (0.0, 0);
        let add = |s: &mut Spend, credits: f64| {
            s.0 += credits;
            s.1 += 1;
        };
        for u in self.in_range(range) {
            if packages.is_some_and(|p| !p.contains(&u.package)) {
                continue;
            }
            if let Some(owners) = owners
                && !u.user.as_ref().is_some_and(|x| owners.contains(x))
            {
                continue;
            }
            let Some(workbook) = u.table.as_deref().and_then(parent) else {
                add(&mut unattributed, u.credits);
                continue;
            };
            match parent(&workbook) {
                Some(folder) => {
                    let e = per_entity.entry(folder).or_default();
                    add(&mut e.0, u.credits);
                    add(e.1.entry(workbook).or_default(), u.credits);
                }
                None => add(&mut per_entity.entry(workbook).or_default().0, u.credits),
            }
        }
        let describe = |id: &str| {
            self.resources
                .iter()
                .find(|r| r.id == id)
                .map(|r| {
                    let kind = match r.kind {
                        ResourceKind::Folder => "folder",
                        ResourceKind::Workbook => "workbook",
                        ResourceKind::Table => "table",
                    };
                    (r.name.clone(), kind.to_string(), r.deleted)
                })
                .unwrap_or_else(|| (id.to_string(), "resource".into(), true))
        };
        let entities = per_entity
            .into_iter()
            .map(|(id, ((credits, n), subs))| {
                let (name, kind, is_deleted) = describe(&id);
                CreditEntity {
                    subentities: subs
                        .into_iter()
                        .map(|(sub, (credits, n))| {
                            let (name, kind, is_deleted) = describe(&sub);
                            CreditSubentity {
                                id: sub,
                                name,
                                kind,
                                is_deleted,
                                credits,
                                action_executions: n,
                            }
                        })
                        .collect(),
                    id,
                    name,
                    kind,
                    is_deleted,
                    credits,
                    action_executions: n,
                }
            })
            .collect();
        Ok(CreditReport {
            range,
            entities,
            unattributed_credits: unattributed.0,
            unattributed_action_executions: unattributed.1,
        })
    }

    /// What each member spent, the way the host computes it: one filtered report each.
    pub(crate) fn credits_member_usage(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
        user_ids: &[String],
    ) -> Result<Vec<MemberCredits>, ClayError> {
        user_ids
            .iter()
            .map(|id| {
                let r = self.resource_report(
                    workspace_id,
                    range,
                    Some(std::slice::from_ref(id)),
                    None,
                )?;
                Ok(MemberCredits {
                    user_id: id.clone(),
                    credits: r.entities.iter().map(|e| e.credits).sum::<f64>()
                        + r.unattributed_credits,
                    action_executions: r.entities.iter().map(|e| e.action_executions).sum::<u64>()
                        + r.unattributed_action_executions,
                })
            })
            .collect()
    }

    pub(crate) fn credits_workspace_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
    ) -> Result<CreditReport, ClayError> {
        self.resource_report(workspace_id, range, None, None)
    }

    pub(crate) fn credits_user_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
        owner_ids: &[String],
    ) -> Result<CreditReport, ClayError> {
        self.resource_report(workspace_id, range, Some(owner_ids), None)
    }

    pub(crate) fn credits_integration_specific_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
        integration_ids: &[String],
    ) -> Result<CreditReport, ClayError> {
        self.resource_report(workspace_id, range, None, Some(integration_ids))
    }

    pub(crate) fn credits_integration_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
    ) -> Result<CreditReport, ClayError> {
        self.check_workspace(workspace_id)?;
        let mut per_pkg: BTreeMap<&str, BTreeMap<Option<&str>, (f64, u64)>> = BTreeMap::new();
        for u in self.in_range(range) {
            let e = per_pkg
                .entry(&u.package)
                .or_default()
                .entry(u.user.as_deref())
                .or_default();
            e.0 += u.credits;
            e.1 += 1;
        }
        let entities = per_pkg
            .into_iter()
            .map(|(pkg, users)| {
                let subentities: Vec<CreditSubentity> = users
                    .into_iter()
                    .map(|(user, (credits, n))| {
                        let (name, removed) = user
                            .map(|u| self.member_name(u))
                            .unwrap_or_else(|| ("unattributed".into(), false));
                        CreditSubentity {
                            id: user.unwrap_or_default().to_string(),
                            name,
                            kind: "user".into(),
                            is_deleted: removed,
                            credits,
                            action_executions: n,
                        }
                    })
                    .collect();
                CreditEntity {
                    id: pkg.to_string(),
                    name: self.type_name(pkg),
                    kind: "integration".into(),
                    is_deleted: false,
                    credits: subentities.iter().map(|s| s.credits).sum(),
                    action_executions: subentities.iter().map(|s| s.action_executions).sum(),
                    subentities,
                }
            })
            .collect();
        Ok(CreditReport {
            range,
            entities,
            unattributed_credits: 0.0,
            unattributed_action_executions: 0,
        })
    }

    pub(crate) fn credits_user_resources(
        &mut self,
        workspace_id: u64,
        owner_ids: &[String],
    ) -> Result<Vec<Resource>, ClayError> {
        self.check_workspace(workspace_id)?;
        Ok(self
            .resources
            .iter()
            .filter(|r| r.created_by.as_ref().is_some_and(|c| owner_ids.contains(c)))
            .cloned()
            .collect())
    }

    pub(crate) fn credits_integrations(
        &mut self,
        workspace_id: u64,
    ) -> Result<Vec<Integration>, ClayError> {
        self.check_workspace(workspace_id)?;
        Ok(self.integrations.clone())
    }

    pub(crate) fn credits_get_integration_type(
        &mut self,
        type_id: &str,
    ) -> Result<IntegrationType, ClayError> {
        self.types
            .iter()
            .find(|t| t.id == type_id)
            .cloned()
            .ok_or_else(|| not_found("integration type", type_id))
    }

    pub(crate) fn credits_list_integration_types(
        &mut self,
    ) -> Result<Vec<IntegrationType>, ClayError> {
        Ok(self.types.clone())
    }
}
