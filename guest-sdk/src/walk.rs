//! Whole-workspace and whole-table reads that several plugins need: every table of a
//! workspace (walking the resource tree), every row of a table (ids, then bulk reads of at
//! most 200), and the enrichment columns that run on an integration.

use std::collections::HashSet;

use crate::Error;
use crate::clay::{resources, tables};
use crate::types::{FieldKind, ResourceKind, ResourceRef, Row, TableInfo};

/// Clay's bulk-fetch limit per request.
pub const READ_CHUNK: usize = 200;

/// Every table in the workspace, walking the resource tree level by level.
pub fn all_tables(workspace_id: u64) -> Result<Vec<TableInfo>, Error> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut frontier: Vec<Option<ResourceRef>> = vec![None];
    while let Some(parent) = frontier.pop() {
        for r in resources::list(workspace_id, parent.as_ref(), &[])? {
            if !seen.insert(r.id.clone()) {
                continue;
            }
            match r.kind {
                ResourceKind::Table => found.push(tables::get(&r.id)?),
                kind => frontier.push(Some(ResourceRef { id: r.id, kind })),
            }
        }
    }
    Ok(found)
}

/// Every row of a table's view, in insertion order.
pub fn all_rows(table_id: &str, view_id: &str) -> Result<Vec<Row>, Error> {
    let ids = tables::record_ids(table_id, view_id)?;
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(READ_CHUNK) {
        rows.extend(tables::read_records(table_id, chunk)?);
    }
    Ok(rows)
}

/// An enrichment column and the table it sits in.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRef {
    /// The table's id (`t_…`).
    pub table_id: String,
    /// The table's name.
    pub table_name: String,
    /// The column's field id (`f_…`).
    pub field_id: String,
    /// The column's name.
    pub field_name: String,
}

impl std::fmt::Display for ColumnRef {
    /// "table / column (t_…/f_…)", the form findings quote.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} / {} ({}/{})",
            self.table_name, self.field_name, self.table_id, self.field_id
        )
    }
}

/// The action columns of `tables` that run with the credentials of integration
/// `integration_id` (`aa_…`).
pub fn columns_using(tables: &[TableInfo], integration_id: &str) -> Vec<ColumnRef> {
    let mut out = Vec::new();
    for t in tables {
        for f in &t.fields {
            let uses = f.kind == FieldKind::Action
                && f.action.as_ref().and_then(|a| a.auth_account_id.as_deref())
                    == Some(integration_id);
            if uses {
                out.push(ColumnRef {
                    table_id: t.id.clone(),
                    table_name: t.name.clone(),
                    field_id: f.id.clone(),
                    field_name: f.name.clone(),
                });
            }
        }
    }
    out
}
