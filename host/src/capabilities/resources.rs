use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::bindings::{resources, types as w};
use super::convert::{resource_kind, resource_ref, resource_to_wit};
use super::{Access, Capabilities, HostError, Interface, workspace};
use crate::backend::ClayResult;
use crate::backend::model::{Resource, ResourceKind};

impl Capabilities {
    /// What a listing may show under the plugin's table scope: the granted tables and the
    /// folders and workbooks on the way to one. Everything when no table is singled out.
    pub(super) async fn scope_resources(
        &mut self,
        workspace_id: u64,
        found: Vec<Resource>,
    ) -> ClayResult<Vec<Resource>> {
        if !self.grants.tables.restricts_tables() {
            return Ok(found);
        }
        let visible = match self.visible_resources.get(&workspace_id) {
            Some(v) => v.clone(),
            None => {
                // The whole tree, once per invocation: a listing shows one level, but
                // whether a folder leads to a granted table depends on everything below it.
                // A backend whose empty search finds nothing fails closed: only tables show.
                let all = self.backend.search_resources(workspace_id, "").await?;
                let v = Arc::new(leading_to_granted(&self.grants.tables, &all));
                self.visible_resources.insert(workspace_id, v.clone());
                v
            }
        };
        let scope = &self.grants.tables;
        Ok(found
            .into_iter()
            .filter(|r| match r.kind {
                ResourceKind::Table => scope.allows_table_named(&r.id, &r.name),
                ResourceKind::Folder | ResourceKind::Workbook => visible.contains(&r.id),
            })
            .collect())
    }
}

/// The ids of the granted tables and of every folder and workbook above one.
fn leading_to_granted(scope: &super::TableScope, all: &[Resource]) -> HashSet<String> {
    let parent: HashMap<&str, Option<&str>> = all
        .iter()
        .map(|r| (r.id.as_str(), r.parent_id.as_deref()))
        .collect();
    let mut visible = HashSet::new();
    for table in all
        .iter()
        .filter(|r| r.kind == ResourceKind::Table && scope.allows_table_named(&r.id, &r.name))
    {
        let mut current = Some(table.id.as_str());
        // `insert` failing means the rest of the path is known (or the tree has a cycle).
        while let Some(id) = current
            && visible.insert(id.to_string())
        {
            current = parent.get(id).copied().flatten();
        }
    }
    visible
}

impl resources::Host for Capabilities {
    async fn list(
        &mut self,
        workspace_id: u64,
        parent: Option<w::ResourceRef>,
        kinds: Vec<w::ResourceKind>,
    ) -> Result<Vec<w::Resource>, HostError> {
        let parent = parent.map(resource_ref);
        let mut targets = super::Targets::new().id(&workspace(workspace_id));
        if let Some(p) = &parent {
            targets.push(&p.id);
        }
        let clay = self.enter(Interface::Resources, Access::Read, "list", targets)?;
        let kinds: Vec<_> = kinds.into_iter().map(resource_kind).collect();
        let result = match clay
            .list_resources(workspace_id, parent.as_ref(), &kinds)
            .await
        {
            Ok(found) => self.scope_resources(workspace_id, found).await,
            Err(e) => Err(e),
        };
        self.finish(result.map(|found| found.into_iter().map(resource_to_wit).collect()))
    }

    async fn search(
        &mut self,
        workspace_id: u64,
        query: String,
    ) -> Result<Vec<w::Resource>, HostError> {
        let targets = super::Targets::new()
            .id(&workspace(workspace_id))
            .text("search query", &query);
        let clay = self.enter(Interface::Resources, Access::Read, "search", targets)?;
        let result = match clay.search_resources(workspace_id, &query).await {
            Ok(found) => self.scope_resources(workspace_id, found).await,
            Err(e) => Err(e),
        };
        self.finish(result.map(|found| found.into_iter().map(resource_to_wit).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::TableScope;

    fn r(id: &str, name: &str, kind: ResourceKind, parent: Option<&str>) -> Resource {
        Resource {
            id: id.into(),
            name: name.into(),
            kind,
            parent_id: parent.map(str::to_string),
            created_by: None,
            created_at: None,
            updated_at: None,
            deleted: false,
        }
    }

    #[test]
    fn only_the_path_to_a_granted_table_is_visible() {
        let all = vec![
            r("fol_1", "Sales", ResourceKind::Folder, None),
            r("wb_1", "Prospecting", ResourceKind::Workbook, Some("fol_1")),
            r("t_1", "Leads", ResourceKind::Table, Some("wb_1")),
            r("wb_2", "Customers", ResourceKind::Workbook, None),
            r("t_2", "Accounts", ResourceKind::Table, Some("wb_2")),
        ];
        let scope = TableScope {
            table_lists: vec![vec!["leads".into()]],
            ..TableScope::default()
        };
        let visible = leading_to_granted(&scope, &all);
        let mut ids: Vec<_> = visible.iter().map(String::as_str).collect();
        ids.sort();
        assert_eq!(ids, ["fol_1", "t_1", "wb_1"]);
    }
}
