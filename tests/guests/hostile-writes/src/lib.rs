//! An auditor that attempts, on request (config `mode`), a write or a listing that its grant
//! or the invocation may not allow. Written against the raw WIT bindings so the tests depend
//! on nothing but the contract. A refused call ends the audit with the host's `clay-error`;
//! what a call returned is the report's summary.

wit_bindgen::generate!({
    world: "clay:api/auditor",
    path: "../../../wit",
});

use clay::api::types::{CellInput, CellValue, NewRow, Resource, ResourceKind, RunTarget};
use clay::api::{config, credits, folders, resources, tables, workbooks};

struct HostileWrites;

fn setting(key: &str) -> String {
    config::get(key).unwrap_or_default()
}

fn number(key: &str) -> usize {
    setting(key).parse().unwrap_or(1)
}

fn shown(found: &[Resource]) -> String {
    let mut names: Vec<String> = found
        .iter()
        .map(|r| {
            let kind = match r.kind {
                ResourceKind::Folder => "folder",
                ResourceKind::Workbook => "workbook",
                ResourceKind::Table => "table",
            };
            format!("{kind}:{}", r.name)
        })
        .collect();
    names.sort();
    names.join(",")
}

/// The table's first `n` record ids and the id of its column named `field`.
fn rows_and_field(table_id: &str, n: usize) -> Result<(Vec<String>, String), ClayError> {
    let table = tables::get(table_id)?;
    let field = setting("field");
    let field = table
        .fields
        .iter()
        .find(|f| f.name == field)
        .map(|f| f.id.clone())
        .ok_or_else(|| ClayError::NotFound(format!("no column `{field}`")))?;
    let view = table.first_view_id.clone().unwrap_or_default();
    let mut ids = tables::record_ids(table_id, &view)?;
    ids.truncate(n);
    Ok((ids, field))
}

/// Every level of the tree, walked from the top.
fn walk(ws: u64, parent: Option<&Resource>, out: &mut Vec<Resource>) -> Result<(), ClayError> {
    let parent_ref = parent.map(|p| clay::api::types::ResourceRef {
        id: p.id.clone(),
        kind: p.kind,
    });
    for r in resources::list(ws, parent_ref.as_ref(), &[])? {
        if r.kind != ResourceKind::Table {
            walk(ws, Some(&r), out)?;
        }
        out.push(r);
    }
    Ok(())
}

fn attempt(scope: &AuditScope) -> Result<String, ClayError> {
    let ws = scope.workspace_id;
    let table = setting("table");
    let target = setting("target");
    Ok(match setting("mode").as_str() {
        "create-folder" => folders::create(ws, "hostile folder", None)?.id,
        "delete-folder" => {
            folders::delete(ws, &[target], true)?;
            "deleted".into()
        }
        "create-workbook" => workbooks::create(ws, "hostile workbook", false, None)?.id,
        "delete-workbook" => {
            workbooks::delete(&target)?;
            "deleted".into()
        }
        "add-rows" => {
            let field = tables::get(&table)?.fields[0].id.clone();
            let row = NewRow {
                id: None,
                cells: vec![CellInput {
                    field_id: field,
                    value: CellValue::Text("hostile".into()),
                }],
            };
            tables::add_rows(&table, &[row])?.len().to_string()
        }
        "delete-rows" => {
            let view = tables::get(&table)?.first_view_id.unwrap_or_default();
            let ids = tables::record_ids(&table, &view)?;
            tables::delete_rows(&table, &ids[..ids.len().min(1)])?;
            "deleted".into()
        }
        "delete-all-rows" => {
            tables::delete_all_rows(&table, None)?;
            "deleted".into()
        }
        "add-source" => tables::add_webhook_source(&table, "hostile hook")?.id,
        "delete-source" => {
            tables::delete_source(&target, true)?;
            "deleted".into()
        }
        "run-column" | "run-dup" => {
            let dup = setting("mode") == "run-dup";
            let n = number("n");
            let (mut ids, field) = rows_and_field(&table, if dup { 1 } else { n })?;
            if dup {
                ids = ids.iter().cycle().take(n).cloned().collect();
            }
            let run = tables::run_column(&table, &[field], &RunTarget::Records(ids), true)?;
            format!("credits={} records={}", run.credits_spent, run.record_count)
        }
        "list" => {
            let mut found = Vec::new();
            walk(ws, None, &mut found)?;
            shown(&found)
        }
        "search" => shown(&resources::search(ws, "")?),
        "user-resources" => {
            let owners: Vec<String> = credits::permissions(ws)?
                .into_iter()
                .filter_map(|m| m.user_id)
                .collect();
            shown(&credits::user_resources(ws, &owners)?)
        }
        "sources" => tables::list_sources(&table)?
            .iter()
            .map(|s| format!("{}={}", s.name, s.url.as_deref().unwrap_or("none")))
            .collect::<Vec<_>>()
            .join(","),
        other => return Err(ClayError::Invalid(format!("unknown mode `{other}`"))),
    })
}

impl Guest for HostileWrites {
    fn audit(scope: AuditScope) -> Result<AuditReport, ClayError> {
        Ok(AuditReport {
            summary: attempt(&scope)?,
            findings: Vec::new(),
        })
    }
}

export!(HostileWrites);
