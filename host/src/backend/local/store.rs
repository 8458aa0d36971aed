//! The workspace's semantics, as synchronous SQL over one connection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::ids::new_id;
use crate::backend::model::*;
use crate::backend::{ClayError, ClayResult};

/// Clay's bulk-fetch and add-rows batch sizes.
pub(crate) const MAX_READ_PER_CALL: usize = crate::backend::BULK_READ_IDS;
pub(crate) const MAX_ADD_PER_CALL: usize = 50;

pub(crate) const DAY_MS: i64 = 24 * 3600 * 1000;

pub(crate) fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

pub(crate) fn sql(e: rusqlite::Error) -> ClayError {
    ClayError::Unavailable(format!("workspace database: {e}"))
}

trait SqlResult<T> {
    fn db(self) -> ClayResult<T>;
}

impl<T> SqlResult<T> for rusqlite::Result<T> {
    fn db(self) -> ClayResult<T> {
        self.map_err(sql)
    }
}

/// A folder, workbook or table about to be created.
pub(crate) struct NewResource<'a> {
    pub(crate) kind: ResourceKind,
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) parent_id: Option<&'a str>,
    pub(crate) created_by: Option<&'a str>,
    pub(crate) created_at: Timestamp,
}

/// One connection plus who is acting; every operation of the workspace lives here.
pub struct Db<'a> {
    pub(crate) conn: &'a mut Connection,
    pub(crate) actor: Option<&'a str>,
    pub(crate) row_limit: u64,
}

/// Deletes `ids` of `table_id` inside `tx`; an id the table no longer has is no error (a
/// delete applied twice is the same as once).
fn delete_in(tx: &Transaction<'_>, table_id: &str, ids: &[String]) -> ClayResult<()> {
    let mut delete = tx
        .prepare_cached("DELETE FROM records WHERE id = ?1 AND table_id = ?2")
        .db()?;
    for id in ids {
        delete.execute([id, table_id]).db()?;
    }
    Ok(())
}

/// Writes `updates` to `table`'s rows inside `tx`: each named cell replaced, the others kept.
fn update_in(
    tx: &Transaction<'_>,
    table: &TableInfo,
    writable: &HashSet<String>,
    updates: &[RowUpdate],
) -> ClayResult<()> {
    let table_id = table.id.as_str();
    let now = now_ms();
    // Statements prepared once for the batch, not once per row.
    let mut read = tx.prepare_cached(READ_CELLS).db()?;
    let mut write = tx.prepare_cached(WRITE_CELLS).db()?;
    for update in updates {
        let text: Option<String> = read
            .query_row([&update.id, table_id], |r| r.get(0))
            .optional()
            .db()?;
        let Some(text) = text else {
            return Err(ClayError::NotFound(format!(
                "record {} in table {table_id}",
                update.id
            )));
        };
        let mut cells = cells_from_json(&update.id, &text)?;
        for c in &update.cells {
            if !writable.contains(&c.field_id) {
                return Err(ClayError::Invalid(format!(
                    "table `{}` has no writable field {}",
                    table.name, c.field_id
                )));
            }
            match cells.iter_mut().find(|x| x.field_id == c.field_id) {
                Some(cell) => {
                    cell.value = c.value.clone();
                }
                None => cells.push(Cell {
                    field_id: c.field_id.clone(),
                    value: c.value.clone(),
                    status: None,
                }),
            }
        }
        write
            .execute(params![cells_to_json(&cells)?, now, update.id])
            .db()?;
    }
    Ok(())
}

fn kind_str(k: ResourceKind) -> &'static str {
    match k {
        ResourceKind::Folder => "folder",
        ResourceKind::Workbook => "workbook",
        ResourceKind::Table => "table",
    }
}

fn parse_kind(s: &str) -> ResourceKind {
    match s {
        "folder" => ResourceKind::Folder,
        "workbook" => ResourceKind::Workbook,
        _ => ResourceKind::Table,
    }
}

pub(crate) fn field_kind_str(k: FieldKind) -> &'static str {
    match k {
        FieldKind::Text => "text",
        FieldKind::Number => "number",
        FieldKind::Url => "url",
        FieldKind::Date => "date",
        FieldKind::Formula => "formula",
        FieldKind::Action => "action",
        FieldKind::Source => "source",
    }
}

fn parse_field_kind(s: &str) -> FieldKind {
    match s {
        "number" => FieldKind::Number,
        "url" => FieldKind::Url,
        "date" => FieldKind::Date,
        "formula" => FieldKind::Formula,
        "action" => FieldKind::Action,
        "source" => FieldKind::Source,
        _ => FieldKind::Text,
    }
}

fn resource_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Resource> {
    Ok(Resource {
        id: r.get("id")?,
        name: r.get("name")?,
        kind: parse_kind(&r.get::<_, String>("kind")?),
        parent_id: r.get("parent_id")?,
        created_by: r.get("created_by")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        deleted: r.get::<_, i64>("deleted")? != 0,
    })
}

/// A bulk read: the ids asked (a JSON array) drive the loop, each found by its unique index.
/// `CROSS JOIN` fixes that order and `+table_id` keeps the planner off the per-table index:
/// either of its other choices scans the whole table once per id asked.
/// One row's cells, for an update (`?1` the record id, `?2` its table). Found through the
/// unique index on `id`; a test reads the plan, as for [`READ_RECORDS`].
pub(crate) const READ_CELLS: &str = "SELECT cells FROM records WHERE id = ?1 AND table_id = ?2";

/// One row's new cells (`?1`) and time (`?2`), by record id (`?3`).
pub(crate) const WRITE_CELLS: &str = "UPDATE records SET cells = ?1, updated_at = ?2 WHERE id = ?3";

pub(crate) const READ_RECORDS: &str = "SELECT r.* FROM json_each(?1) AS j CROSS JOIN records AS r ON r.id = j.value AND +r.table_id = ?2 ORDER BY j.key";

const BUILTIN_CREATED: &str = "f_created_at";
const BUILTIN_UPDATED: &str = "f_updated_at";

/// A stored row's cells. A row that does not parse is an error: reading it as empty would
/// hand an empty row to the next writer, which would store it back and lose every cell.
fn cells_from_json(record_id: &str, text: &str) -> ClayResult<Vec<Cell>> {
    match serde_json::from_str(text) {
        Ok(cells) => Ok(cells),
        Err(e) => legacy_cells(text).ok_or_else(|| {
            ClayError::Unavailable(format!(
                "workspace database: record {record_id} holds cells that do not parse ({e}); \
                 it is left as it is rather than read as empty"
            ))
        }),
    }
}

/// Cells written before non-finite numbers were refused: serde_json stores NaN and ±inf as
/// `null`, which a number cell cannot parse. Such a cell reads as null; the row's other
/// cells are intact and read as they are.
fn legacy_cells(text: &str) -> Option<Vec<Cell>> {
    let mut doc: serde_json::Value = serde_json::from_str(text).ok()?;
    for cell in doc.as_array_mut()? {
        let value = cell.get_mut("value")?;
        if value.get("type").and_then(|t| t.as_str()) == Some("number")
            && value.get("value").is_some_and(|v| v.is_null())
        {
            *value = serde_json::json!({ "type": "null" });
        }
    }
    serde_json::from_value(doc).ok()
}

/// Serializes cells for storage, refusing what would not read back: JSON has no NaN or
/// infinity (serde_json writes them as `null`, which a number cell cannot parse).
fn cells_to_json(cells: &[Cell]) -> ClayResult<String> {
    for cell in cells {
        if let CellValue::Number(n) = cell.value
            && !n.is_finite()
        {
            return Err(ClayError::Invalid(format!(
                "field {} cannot hold {n}: a number cell must be finite",
                cell.field_id
            )));
        }
    }
    serde_json::to_string(cells).map_err(|e| ClayError::Invalid(format!("cell value: {e}")))
}

/// One credit-spending execution, as the ledger holds it.
struct Charge {
    user: Option<String>,
    package: String,
    table: Option<String>,
    credits: f64,
}

/// A resource as the credit reports see it: `kind` is already Clay's `__kind` text.
struct Node {
    kind: String,
    name: String,
    parent: Option<String>,
    deleted: bool,
}

/// A record as the database holds it: cells still JSON text.
struct StoredRow {
    id: String,
    cells: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl StoredRow {
    fn parse(self) -> ClayResult<Row> {
        Ok(Row {
            cells: cells_from_json(&self.id, &self.cells)?,
            id: self.id,
            created_at: Some(self.created_at),
            updated_at: Some(self.updated_at),
        })
    }
}

/// A summary for `kiln workspace show`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceSummary {
    pub workspace: Workspace,
    pub members: Vec<Member>,
    pub tables: Vec<(String, String, u64)>,
    pub integrations: Vec<Integration>,
    pub credits_last_30_days: f64,
}

impl fmt::Display for WorkspaceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "workspace {} \"{}\": {:.0} credits left in the pool, {:.0} spent in the last 30 days",
            self.workspace.id,
            self.workspace.name,
            self.workspace.credit_balance,
            self.credits_last_30_days
        )?;
        let count = |role: Role, status: MemberStatus| {
            // Viewers and sales reps count under neither admins nor members here.
            self.members
                .iter()
                .filter(|m| m.role == role && m.status == status)
                .count()
        };
        writeln!(
            f,
            "members: {} ({} active admins, {} active members, {} pending, {} removed)",
            self.members.len(),
            count(Role::Admin, MemberStatus::Active),
            count(Role::Member, MemberStatus::Active),
            self.members
                .iter()
                .filter(|m| m.status == MemberStatus::Pending)
                .count(),
            self.members
                .iter()
                .filter(|m| m.status == MemberStatus::Removed)
                .count(),
        )?;
        for (id, name, rows) in &self.tables {
            writeln!(f, "table {name} ({id}): {rows} rows")?;
        }
        let names: HashMap<&str, &str> = self
            .members
            .iter()
            .filter_map(|m| Some((m.user_id.as_deref()?, m.email.as_str())))
            .collect();
        for i in &self.integrations {
            let owner = i
                .owner_id
                .as_deref()
                .map(|o| names.get(o).copied().unwrap_or(o))
                .unwrap_or("nobody");
            writeln!(
                f,
                "integration {} ({}, {}): authenticated by {owner}",
                i.name, i.id, i.type_id
            )?;
        }
        Ok(())
    }
}

impl Db<'_> {
    /// A write transaction that takes the write lock at once: one that started as a read
    /// and then wrote would be refused (`database is locked`, no wait) while another
    /// process (a second worker) writes, where this one waits its turn.
    fn tx(&mut self) -> ClayResult<Transaction<'_>> {
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .db()
    }

    fn workspace_exists(&self, workspace_id: u64) -> ClayResult<()> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM workspaces WHERE id = ?1",
                [workspace_id as i64],
                |r| r.get(0),
            )
            .optional()
            .db()?;
        found
            .map(|_| ())
            .ok_or_else(|| ClayError::NotFound(format!("workspace {workspace_id}")))
    }

    // ---- workspaces ----

    pub(crate) fn list_workspaces(&mut self) -> ClayResult<Vec<Workspace>> {
        let since = now_ms() - 30 * DAY_MS;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT w.id, w.name, w.credit_pool - COALESCE(
                    (SELECT SUM(credits) FROM ledger l WHERE l.workspace_id = w.id AND l.at >= ?1), 0)
                 FROM workspaces w ORDER BY w.id",
            )
            .db()?;
        let rows = stmt
            .query_map([since], |r| {
                Ok(Workspace {
                    id: r.get::<_, i64>(0)? as u64,
                    name: r.get(1)?,
                    credit_balance: r.get(2)?,
                })
            })
            .db()?;
        rows.collect::<rusqlite::Result<_>>().db()
    }

    // ---- resources: folders, workbooks, tables ----

    fn resource(&self, id: &str) -> ClayResult<Option<Resource>> {
        self.conn
            .query_row(
                "SELECT * FROM resources WHERE id = ?1",
                [id],
                resource_from_row,
            )
            .optional()
            .db()
    }

    fn live_resource(&self, id: &str, kind: ResourceKind) -> ClayResult<Resource> {
        match self.resource(id)? {
            Some(r) if r.kind == kind && !r.deleted => Ok(r),
            _ => Err(ClayError::NotFound(format!("{} {id}", kind_str(kind)))),
        }
    }

    pub(crate) fn insert_resource(
        &mut self,
        workspace_id: u64,
        r: &NewResource<'_>,
    ) -> ClayResult<()> {
        self.conn
            .execute(
                "INSERT INTO resources(id, workspace_id, kind, name, parent_id, created_by, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![r.id, workspace_id as i64, kind_str(r.kind), r.name, r.parent_id, r.created_by, r.created_at],
            )
            .db()?;
        Ok(())
    }

    /// Creates a folder or workbook (in `parent`, a folder) as the acting member.
    fn create_by_actor(
        &mut self,
        workspace_id: u64,
        kind: ResourceKind,
        prefix: &str,
        name: &str,
        parent: Option<&str>,
    ) -> ClayResult<String> {
        self.workspace_exists(workspace_id)?;
        if name.trim().is_empty() {
            return Err(ClayError::Invalid(format!(
                "a {} needs a name",
                kind_str(kind)
            )));
        }
        if let Some(p) = parent {
            self.live_resource(p, ResourceKind::Folder)?;
        }
        let id = new_id(prefix);
        let created_by = self.actor;
        self.insert_resource(
            workspace_id,
            &NewResource {
                kind,
                id: &id,
                name,
                parent_id: parent,
                created_by,
                created_at: now_ms(),
            },
        )?;
        Ok(id)
    }

    pub(crate) fn create_folder(
        &mut self,
        workspace_id: u64,
        name: &str,
        parent: Option<&str>,
    ) -> ClayResult<Folder> {
        let id = self.create_by_actor(workspace_id, ResourceKind::Folder, "fol_", name, parent)?;
        Ok(Folder {
            id,
            name: name.to_string(),
            workspace_id,
            parent_folder_id: parent.map(str::to_string),
        })
    }

    /// All resources below `id` (not including it).
    fn descendants(&self, id: &str) -> ClayResult<Vec<Resource>> {
        let mut out = Vec::new();
        let mut frontier = vec![id.to_string()];
        let mut stmt = self
            .conn
            .prepare("SELECT * FROM resources WHERE parent_id = ?1")
            .db()?;
        while let Some(parent) = frontier.pop() {
            let children = stmt
                .query_map([&parent], resource_from_row)
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            for c in children {
                frontier.push(c.id.clone());
                out.push(c);
            }
        }
        Ok(out)
    }

    fn purge(tx: &Transaction<'_>, resource: &Resource) -> ClayResult<()> {
        if resource.kind == ResourceKind::Table {
            for sql in [
                "DELETE FROM records WHERE table_id = ?1",
                "DELETE FROM fields WHERE table_id = ?1",
                "DELETE FROM views WHERE table_id = ?1",
                "DELETE FROM sources WHERE table_id = ?1",
            ] {
                tx.execute(sql, [&resource.id]).db()?;
            }
        }
        tx.execute("DELETE FROM resources WHERE id = ?1", [&resource.id])
            .db()?;
        Ok(())
    }

    pub(crate) fn delete_folders(
        &mut self,
        workspace_id: u64,
        ids: &[String],
        permanent: bool,
    ) -> ClayResult<()> {
        self.workspace_exists(workspace_id)?;
        let mut doomed = Vec::new();
        for id in ids {
            let folder = match self.resource(id)? {
                Some(r) if r.kind == ResourceKind::Folder => r,
                _ => return Err(ClayError::NotFound(format!("folder {id}"))),
            };
            let below = self.descendants(id)?;
            doomed.push((folder, below));
        }
        let now = now_ms();
        let tx = self.tx()?;
        for (folder, below) in doomed {
            if permanent {
                for r in below.iter().chain(std::iter::once(&folder)) {
                    Self::purge(&tx, r)?;
                }
            } else {
                // Soft delete: to the trash, restorable; its contents go with it.
                tx.execute(
                    "UPDATE resources SET deleted = 1, updated_at = ?2 WHERE id = ?1",
                    params![folder.id, now],
                )
                .db()?;
            }
        }
        tx.commit().db()
    }

    /// Whether `r` or any of its ancestors is in the trash.
    fn in_trash(&self, r: &Resource) -> ClayResult<bool> {
        let mut current = Some(r.clone());
        while let Some(c) = current {
            if c.deleted {
                return Ok(true);
            }
            current = match c.parent_id {
                Some(p) => self.resource(&p)?,
                None => None,
            };
        }
        Ok(false)
    }

    pub(crate) fn list_resources(
        &mut self,
        workspace_id: u64,
        parent: Option<&ResourceRef>,
        kinds: &[ResourceKind],
    ) -> ClayResult<Vec<Resource>> {
        self.workspace_exists(workspace_id)?;
        if let Some(p) = parent {
            self.live_resource(&p.id, p.kind)?;
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT * FROM resources WHERE workspace_id = ?1 AND deleted = 0
                 AND ((?2 IS NULL AND parent_id IS NULL) OR parent_id = ?2)
                 ORDER BY created_at, id",
            )
            .db()?;
        let found = stmt
            .query_map(
                params![workspace_id as i64, parent.map(|p| p.id.as_str())],
                resource_from_row,
            )
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        Ok(found
            .into_iter()
            .filter(|r| kinds.is_empty() || kinds.contains(&r.kind))
            .collect())
    }

    fn all_live_resources(&self, workspace_id: u64) -> ClayResult<Vec<Resource>> {
        let mut stmt = self
            .conn
            .prepare("SELECT * FROM resources WHERE workspace_id = ?1 ORDER BY created_at, id")
            .db()?;
        let all = stmt
            .query_map([workspace_id as i64], resource_from_row)
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        let mut live = Vec::with_capacity(all.len());
        for r in all {
            if !self.in_trash(&r)? {
                live.push(r);
            }
        }
        Ok(live)
    }

    pub(crate) fn search_resources(
        &mut self,
        workspace_id: u64,
        query: &str,
    ) -> ClayResult<Vec<Resource>> {
        self.workspace_exists(workspace_id)?;
        let q = query.to_lowercase();
        Ok(self
            .all_live_resources(workspace_id)?
            .into_iter()
            .filter(|r| r.name.to_lowercase().contains(&q))
            .collect())
    }

    pub(crate) fn user_resources(
        &mut self,
        workspace_id: u64,
        owners: &[String],
    ) -> ClayResult<Vec<Resource>> {
        self.workspace_exists(workspace_id)?;
        Ok(self
            .all_live_resources(workspace_id)?
            .into_iter()
            .filter(|r| r.created_by.as_ref().is_some_and(|c| owners.contains(c)))
            .collect())
    }

    pub(crate) fn create_workbook(
        &mut self,
        workspace_id: u64,
        name: &str,
        auto_run: bool,
        parent: Option<&str>,
    ) -> ClayResult<Workbook> {
        let id = self.create_by_actor(workspace_id, ResourceKind::Workbook, "wb_", name, parent)?;
        self.conn
            .execute(
                "UPDATE resources SET auto_run = ?2 WHERE id = ?1",
                params![id, auto_run],
            )
            .db()?;
        Ok(Workbook {
            id,
            name: name.to_string(),
            workspace_id,
            parent_folder_id: parent.map(str::to_string),
            auto_run,
        })
    }

    pub(crate) fn delete_workbook(&mut self, id: &str) -> ClayResult<()> {
        let wb = self.live_resource(id, ResourceKind::Workbook)?;
        let below = self.descendants(id)?;
        let tx = self.tx()?;
        for r in below.iter().chain(std::iter::once(&wb)) {
            Self::purge(&tx, r)?;
        }
        tx.commit().db()
    }

    /// Creates a table with a default view; returns its id.
    pub(crate) fn create_table(
        &mut self,
        workspace_id: u64,
        workbook_id: &str,
        name: &str,
        created_by: Option<&str>,
        created_at: Timestamp,
    ) -> ClayResult<String> {
        let id = new_id("t_");
        self.insert_resource(
            workspace_id,
            &NewResource {
                kind: ResourceKind::Table,
                id: &id,
                name,
                parent_id: Some(workbook_id),
                created_by,
                created_at,
            },
        )?;
        self.conn
            .execute(
                "UPDATE resources SET table_kind = 'spreadsheet' WHERE id = ?1",
                [&id],
            )
            .db()?;
        self.conn
            .execute(
                "INSERT INTO views(id, table_id, name, position) VALUES (?1, ?2, 'Default view', 0)",
                params![new_id("gv_"), id],
            )
            .db()?;
        Ok(id)
    }

    pub(crate) fn add_field(
        &mut self,
        table_id: &str,
        name: &str,
        kind: FieldKind,
        action: Option<&ActionConfig>,
    ) -> ClayResult<String> {
        let id = new_id("f_");
        let position: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM fields WHERE table_id = ?1",
                [table_id],
                |r| r.get(0),
            )
            .db()?;
        let action = action
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ClayError::Invalid(e.to_string()))?;
        self.conn
            .execute(
                "INSERT INTO fields(id, table_id, name, kind, position, action) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, table_id, name, field_kind_str(kind), position, action],
            )
            .db()?;
        Ok(id)
    }

    // ---- tables ----

    pub(crate) fn get_table(&self, id: &str) -> ClayResult<TableInfo> {
        let r = self.live_resource(id, ResourceKind::Table)?;
        if self.in_trash(&r)? {
            return Err(ClayError::NotFound(format!("table {id}")));
        }
        let (workspace_id, table_kind): (i64, Option<String>) = self
            .conn
            .query_row(
                "SELECT workspace_id, table_kind FROM resources WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .db()?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM views WHERE table_id = ?1 ORDER BY position")
            .db()?;
        let views = stmt
            .query_map([id], |row| {
                Ok(View {
                    id: row.get(0)?,
                    name: row.get(1)?,
                })
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, name, kind, action FROM fields WHERE table_id = ?1 ORDER BY position",
            )
            .db()?;
        let mut fields = stmt
            .query_map([id], |row| {
                let action: Option<String> = row.get(3)?;
                Ok(Field {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    kind: parse_field_kind(&row.get::<_, String>(2)?),
                    action: action.and_then(|a| serde_json::from_str(&a).ok()),
                })
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        for (fid, name) in [
            (BUILTIN_CREATED, "Created At"),
            (BUILTIN_UPDATED, "Updated At"),
        ] {
            fields.push(Field {
                id: fid.to_string(),
                name: name.to_string(),
                kind: FieldKind::Date,
                action: None,
            });
        }
        Ok(TableInfo {
            id: r.id,
            name: r.name,
            kind: match table_kind.as_deref() {
                Some("company") => TableKind::Company,
                Some("people") => TableKind::People,
                Some("jobs") => TableKind::Jobs,
                _ => TableKind::Spreadsheet,
            },
            workspace_id: workspace_id as u64,
            workbook_id: r.parent_id,
            first_view_id: views.first().map(|v| v.id.clone()),
            views,
            fields,
        })
    }

    pub(crate) fn resolve_table(&self, key: &str) -> ClayResult<TableInfo> {
        if let Ok(t) = self.get_table(key) {
            return Ok(t);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM resources WHERE kind = 'table' AND deleted = 0 ORDER BY created_at")
            .db()?;
        let tables = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        let exact = tables.iter().find(|(_, n)| n == key);
        let loose = tables
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(key.trim()));
        match exact.or(loose) {
            Some((id, _)) => self.get_table(id),
            None => Err(ClayError::NotFound(format!(
                "no table `{key}`; the workspace has {}",
                if tables.is_empty() {
                    "no tables".to_string()
                } else {
                    tables
                        .iter()
                        .map(|(id, n)| format!("`{n}` ({id})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))),
        }
    }

    fn check_view(&self, table_id: &str, view_id: &str) -> ClayResult<()> {
        let found: Option<String> = self
            .conn
            .query_row(
                "SELECT id FROM views WHERE id = ?1 AND table_id = ?2",
                [view_id, table_id],
                |r| r.get(0),
            )
            .optional()
            .db()?;
        found
            .map(|_| ())
            .ok_or_else(|| ClayError::NotFound(format!("view {view_id} of table {table_id}")))
    }

    pub(crate) fn record_ids(&mut self, table_id: &str, view_id: &str) -> ClayResult<Vec<String>> {
        self.get_table(table_id)?;
        self.check_view(table_id, view_id)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM records WHERE table_id = ?1 ORDER BY seq")
            .db()?;
        let ids = stmt
            .query_map([table_id], |r| r.get(0))
            .db()?
            .collect::<rusqlite::Result<Vec<String>>>()
            .db()?;
        Ok(ids)
    }

    /// A record as stored; [`StoredRow::parse`] turns it into a row or an error.
    fn row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
        Ok(StoredRow {
            id: r.get("id")?,
            cells: r.get("cells")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }

    pub(crate) fn read_records(&mut self, table_id: &str, ids: &[String]) -> ClayResult<Vec<Row>> {
        if ids.len() > MAX_READ_PER_CALL {
            return Err(ClayError::Invalid(format!(
                "read at most {MAX_READ_PER_CALL} records per call ({} asked)",
                ids.len()
            )));
        }
        self.get_table(table_id)?;
        // One statement for the whole call, in the order asked; unknown ids are skipped, as
        // Clay's bulk fetch does.
        let wanted = serde_json::to_string(ids)
            .map_err(|e| ClayError::Invalid(format!("record ids: {e}")))?;
        let mut stmt = self.conn.prepare_cached(READ_RECORDS).db()?;
        let stored = stmt
            .query_map(params![wanted, table_id], Self::row_from)
            .db()?
            .collect::<rusqlite::Result<Vec<StoredRow>>>()
            .db()?;
        stored.into_iter().map(StoredRow::parse).collect()
    }

    pub(crate) fn all_rows(&self, table_id: &str) -> ClayResult<Vec<Row>> {
        let mut stmt = self
            .conn
            .prepare("SELECT * FROM records WHERE table_id = ?1 ORDER BY seq")
            .db()?;
        stmt.query_map([table_id], Self::row_from)
            .db()?
            .map(|row| row.db()?.parse())
            .collect()
    }

    pub(crate) fn count_rows(&mut self, table_id: &str) -> ClayResult<u64> {
        self.get_table(table_id)?;
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM records WHERE table_id = ?1",
                [table_id],
                |r| r.get(0),
            )
            .db()?;
        Ok(n as u64)
    }

    fn writable_fields(&self, table: &TableInfo) -> HashSet<String> {
        table
            .fields
            .iter()
            .filter(|f| f.id != BUILTIN_CREATED && f.id != BUILTIN_UPDATED)
            .map(|f| f.id.clone())
            .collect()
    }

    /// Adds rows; `max` is the per-call cap (Clay's 50 for the API, larger for imports).
    pub(crate) fn add_rows(
        &mut self,
        table_id: &str,
        rows: &[NewRow],
        max: usize,
    ) -> ClayResult<Vec<Row>> {
        if rows.len() > max {
            return Err(ClayError::Invalid(format!(
                "add at most {max} rows per call ({} given)",
                rows.len()
            )));
        }
        let table = self.get_table(table_id)?;
        let count = self.count_rows(table_id)?;
        if count + rows.len() as u64 > self.row_limit {
            return Err(ClayError::Invalid(format!(
                "table `{}` ({}) has {count} rows; adding {} would exceed the limit of {} rows per table",
                table.name,
                table.id,
                rows.len(),
                self.row_limit
            )));
        }
        let writable = self.writable_fields(&table);
        let now = now_ms();
        let mut added = Vec::with_capacity(rows.len());
        let tx = self.tx()?;
        for row in rows {
            let id = row.id.clone().unwrap_or_else(|| new_id("r_"));
            if !id.starts_with("r_") {
                return Err(ClayError::Invalid(format!(
                    "record id `{id}` must start with r_"
                )));
            }
            let mut cells = Vec::with_capacity(row.cells.len());
            for c in &row.cells {
                if !writable.contains(&c.field_id) {
                    return Err(ClayError::Invalid(format!(
                        "table `{}` has no writable field {}",
                        table.name, c.field_id
                    )));
                }
                cells.push(Cell {
                    field_id: c.field_id.clone(),
                    value: c.value.clone(),
                    status: None,
                });
            }
            let inserted = tx.execute(
                "INSERT INTO records(id, table_id, cells, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![id, table_id, cells_to_json(&cells)?, now],
            );
            match inserted {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(ClayError::Conflict(format!("record {id} already exists")));
                }
                Err(e) => return Err(sql(e)),
            }
            added.push(Row {
                id,
                cells,
                created_at: Some(now),
                updated_at: Some(now),
            });
        }
        tx.commit().db()?;
        Ok(added)
    }

    pub(crate) fn delete_rows(&mut self, table_id: &str, ids: &[String]) -> ClayResult<()> {
        self.get_table(table_id)?;
        let tx = self.tx()?;
        delete_in(&tx, table_id, ids)?;
        tx.commit().db()
    }

    /// A journaled run's batch: its updates, its deletes and its journal mark commit in one
    /// transaction, so the workspace never holds a batch's changes without the mark that
    /// says they are in, nor the mark without the changes.
    pub(crate) fn apply_journaled(
        &mut self,
        table_id: &str,
        updates: &[RowUpdate],
        deletes: &[String],
        mark: &JournalMark,
    ) -> ClayResult<()> {
        let table = self.get_table(table_id)?;
        let writable = self.writable_fields(&table);
        let tx = self.tx()?;
        update_in(&tx, &table, &writable, updates)?;
        delete_in(&tx, table_id, deletes)?;
        crate::journal::mark_applied(&tx, &mark.run_id, mark.batch, &mark.effects).map_err(
            |e| {
                ClayError::Unavailable(format!(
                    "marking batch {} of run {} applied: {e}; nothing of the batch was applied",
                    mark.batch, mark.run_id
                ))
            },
        )?;
        tx.commit().db()
    }

    pub(crate) fn delete_all_rows(
        &mut self,
        table_id: &str,
        view_id: Option<&str>,
    ) -> ClayResult<()> {
        self.get_table(table_id)?;
        if let Some(v) = view_id {
            // Views here show every row, so deleting a view's rows empties the table.
            self.check_view(table_id, v)?;
        }
        self.conn
            .execute("DELETE FROM records WHERE table_id = ?1", [table_id])
            .db()?;
        Ok(())
    }

    pub(crate) fn update_rows(&mut self, table_id: &str, updates: &[RowUpdate]) -> ClayResult<()> {
        let table = self.get_table(table_id)?;
        let writable = self.writable_fields(&table);
        let tx = self.tx()?;
        update_in(&tx, &table, &writable, updates)?;
        tx.commit().db()
    }

    /// Writes cells with statuses (enrichment results); used inside a transaction.
    pub(crate) fn write_cells(
        tx: &Transaction<'_>,
        row: &Row,
        cells: Vec<Cell>,
        now: Timestamp,
    ) -> ClayResult<()> {
        let mut all = row.cells.clone();
        for c in cells {
            match all.iter_mut().find(|x| x.field_id == c.field_id) {
                Some(x) => *x = c,
                None => all.push(c),
            }
        }
        tx.execute(
            "UPDATE records SET cells = ?1, updated_at = ?2 WHERE id = ?3",
            params![cells_to_json(&all)?, now, row.id],
        )
        .db()?;
        Ok(())
    }

    // ---- sources ----

    pub(crate) fn list_sources(&mut self, table_id: &str) -> ClayResult<Vec<Source>> {
        self.get_table(table_id)?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, table_id, kind, url, records_received FROM sources WHERE table_id = ?1 ORDER BY rowid")
            .db()?;
        stmt.query_map([table_id], |r| {
            Ok(Source {
                id: r.get(0)?,
                name: r.get(1)?,
                table_id: r.get(2)?,
                kind: r.get(3)?,
                url: r.get(4)?,
                records_received: r.get::<_, i64>(5)? as u64,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
    }

    pub(crate) fn add_webhook_source(&mut self, table_id: &str, name: &str) -> ClayResult<Source> {
        self.get_table(table_id)?;
        let id = new_id("s_");
        let token = super::ids::new_id("").to_lowercase();
        let url = format!(
            "https://api.clay.com/v3/sources/webhook/pull-in-data-from-a-webhook-{}-{}",
            &token[..8],
            &token[8..]
        );
        self.conn
            .execute(
                "INSERT INTO sources(id, table_id, name, kind, url) VALUES (?1, ?2, ?3, 'webhook', ?4)",
                params![id, table_id, name, url],
            )
            .db()?;
        Ok(Source {
            id,
            name: name.to_string(),
            table_id: table_id.to_string(),
            kind: "webhook".into(),
            url: Some(url),
            records_received: 0,
        })
    }

    pub(crate) fn delete_source(
        &mut self,
        source_id: &str,
        delete_records: bool,
    ) -> ClayResult<()> {
        let tx = self.tx()?;
        let n = tx
            .execute("DELETE FROM sources WHERE id = ?1", [source_id])
            .db()?;
        if n == 0 {
            return Err(ClayError::NotFound(format!("source {source_id}")));
        }
        if delete_records {
            tx.execute("DELETE FROM records WHERE source_id = ?1", [source_id])
                .db()?;
        }
        tx.commit().db()
    }

    // ---- members, integrations, credits ----

    pub(crate) fn members(&mut self, workspace_id: u64) -> ClayResult<Vec<Member>> {
        self.workspace_exists(workspace_id)?;
        let mut stmt = self
            .conn
            .prepare("SELECT user_id, email, name, role, status FROM members WHERE workspace_id = ?1 ORDER BY CAST(user_id AS INTEGER)")
            .db()?;
        stmt.query_map([workspace_id as i64], |r| {
            let role_text: String = r.get(3)?;
            let role = Role::from_wire(&role_text).unwrap_or(Role::Member);
            let status = match r.get::<_, String>(4)?.as_str() {
                "pending" => MemberStatus::Pending,
                "removed" => MemberStatus::Removed,
                _ => MemberStatus::Active,
            };
            // An invitation has no Clay user yet: the file's key for it is no user id.
            let user_id: String = r.get(0)?;
            let email: String = r.get(1)?;
            let pending = status == MemberStatus::Pending;
            // Clay knows an invitation by its email alone, and so does this workspace.
            let name = if pending { email.clone() } else { r.get(2)? };
            Ok(Member {
                user_id: (!pending).then_some(user_id),
                email,
                name,
                role,
                role_name: role.wire_name().to_string(),
                status,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
    }

    pub(crate) fn integrations(&mut self, workspace_id: u64) -> ClayResult<Vec<Integration>> {
        self.workspace_exists(workspace_id)?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, type_id, owner_id, created_at, shared FROM integrations WHERE workspace_id = ?1 ORDER BY created_at, id")
            .db()?;
        stmt.query_map([workspace_id as i64], |r| {
            Ok(Integration {
                id: r.get(0)?,
                name: r.get(1)?,
                type_id: r.get(2)?,
                owner_id: r.get(3)?,
                created_at: Some(r.get(4)?),
                shared: r.get(5)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
    }

    pub(crate) fn integration_types(&mut self) -> ClayResult<Vec<IntegrationType>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, provider_name, authentication_type FROM integration_types ORDER BY id")
            .db()?;
        stmt.query_map([], |r| {
            Ok(IntegrationType {
                id: r.get(0)?,
                name: r.get(1)?,
                provider_name: r.get(2)?,
                authentication_type: r.get(3)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
    }

    pub(crate) fn integration_type(&mut self, id: &str) -> ClayResult<IntegrationType> {
        self.integration_types()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| ClayError::NotFound(format!("integration type `{id}`")))
    }

    /// Ledger entries in range.
    fn ledger(&self, workspace_id: u64, range: TimeRange) -> ClayResult<Vec<Charge>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT user_id, package_id, table_id, credits FROM ledger
                 WHERE workspace_id = ?1 AND at >= ?2 AND at < ?3",
            )
            .db()?;
        stmt.query_map(params![workspace_id as i64, range.start, range.end], |r| {
            Ok(Charge {
                user: r.get(0)?,
                package: r.get(1)?,
                table: r.get(2)?,
                credits: r.get(3)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
    }

    fn member_names(&mut self, workspace_id: u64) -> ClayResult<HashMap<String, (String, bool)>> {
        Ok(self
            .members(workspace_id)?
            .into_iter()
            .filter_map(|m| {
                let removed = m.status == MemberStatus::Removed;
                Some((m.user_id?, (m.name, removed)))
            })
            .collect())
    }

    /// Every resource of the workspace, trashed ones too (spending on them still counts).
    fn resource_nodes(&self, workspace_id: u64) -> ClayResult<HashMap<String, Node>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, kind, name, parent_id, deleted FROM resources WHERE workspace_id = ?1",
            )
            .db()?;
        stmt.query_map([workspace_id as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Node {
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    parent: r.get(3)?,
                    deleted: r.get(4)?,
                },
            ))
        })
        .db()?
        .collect::<rusqlite::Result<HashMap<_, _>>>()
        .db()
    }

    fn type_names(&mut self) -> ClayResult<HashMap<String, String>> {
        Ok(self
            .integration_types()?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect())
    }

    /// Clay's workspace report: what each folder (its workbooks as sub-entities) or
    /// top-level workbook spent, never one entity per member. Restricted to some members'
    /// spending (Clay's `ownerIds`) or some integration types (`integrations`) when asked;
    /// spending on no table is unattributed.
    pub(crate) fn resource_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
        owners: Option<&[String]>,
        packages: Option<&[String]>,
    ) -> ClayResult<CreditReport> {
        self.workspace_exists(workspace_id)?;
        if range.end < range.start {
            return Err(ClayError::Invalid(
                "the time range ends before it starts".into(),
            ));
        }
        let nodes = self.resource_nodes(workspace_id)?;
        type Spend = (f64, u64);
        let mut per_entity: BTreeMap<String, (Spend, BTreeMap<String, Spend>)> = BTreeMap::new();
        let mut unattributed: Spend = (0.0, 0);
        let add = |s: &mut Spend, credits: f64| {
            s.0 += credits;
            s.1 += 1;
        };
        for c in self.ledger(workspace_id, range)? {
            if packages.is_some_and(|p| !p.contains(&c.package)) {
                continue;
            }
            if let Some(owners) = owners
                && !c.user.as_ref().is_some_and(|u| owners.contains(u))
            {
                continue;
            }
            let workbook = c
                .table
                .as_ref()
                .and_then(|t| nodes.get(t))
                .and_then(|t| t.parent.clone())
                .filter(|wb| nodes.contains_key(wb));
            let Some(workbook) = workbook else {
                add(&mut unattributed, c.credits);
                continue;
            };
            let folder = nodes
                .get(&workbook)
                .and_then(|wb| wb.parent.clone())
                .filter(|f| nodes.contains_key(f));
            match folder {
                Some(folder) => {
                    let e = per_entity.entry(folder).or_default();
                    add(&mut e.0, c.credits);
                    add(e.1.entry(workbook).or_default(), c.credits);
                }
                None => add(&mut per_entity.entry(workbook).or_default().0, c.credits),
            }
        }
        let describe = |id: &str| {
            nodes
                .get(id)
                .map(|n| (n.name.clone(), n.kind.clone(), n.deleted))
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

    /// One entity per integration type, users as sub-entities.
    pub(crate) fn integration_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
    ) -> ClayResult<CreditReport> {
        self.workspace_exists(workspace_id)?;
        let members = self.member_names(workspace_id)?;
        let types = self.type_names()?;
        let mut per_pkg: BTreeMap<String, BTreeMap<Option<String>, (f64, u64)>> = BTreeMap::new();
        for c in self.ledger(workspace_id, range)? {
            let e = per_pkg
                .entry(c.package)
                .or_default()
                .entry(c.user)
                .or_default();
            e.0 += c.credits;
            e.1 += 1;
        }
        let entities = per_pkg
            .into_iter()
            .map(|(pkg, users)| {
                let subentities: Vec<CreditSubentity> = users
                    .into_iter()
                    .map(|(user, (credits, n))| {
                        let (name, removed) = user
                            .as_ref()
                            .and_then(|u| members.get(u).cloned())
                            .unwrap_or_else(|| ("unattributed".into(), false));
                        CreditSubentity {
                            id: user.unwrap_or_default(),
                            name,
                            kind: "user".into(),
                            is_deleted: removed,
                            credits,
                            action_executions: n,
                        }
                    })
                    .collect();
                CreditEntity {
                    name: types.get(&pkg).cloned().unwrap_or_else(|| pkg.clone()),
                    id: pkg,
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

    pub(crate) fn summary(&mut self) -> ClayResult<WorkspaceSummary> {
        let workspace = self
            .list_workspaces()?
            .into_iter()
            .next()
            .ok_or_else(|| ClayError::NotFound("the file holds no workspace".into()))?;
        let members = self.members(workspace.id)?;
        let mut tables = Vec::new();
        for r in self.all_live_resources(workspace.id)? {
            if r.kind == ResourceKind::Table {
                let n = self.count_rows(&r.id)?;
                tables.push((r.id, r.name, n));
            }
        }
        let integrations = self.integrations(workspace.id)?;
        let now = now_ms();
        let spent: f64 = self
            .ledger(
                workspace.id,
                TimeRange {
                    start: now - 30 * DAY_MS,
                    end: now + 1,
                },
            )?
            .iter()
            .map(|c| c.credits)
            .sum();
        Ok(WorkspaceSummary {
            workspace,
            members,
            tables,
            integrations,
            credits_last_30_days: spent,
        })
    }
}
