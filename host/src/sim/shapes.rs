//! Clay's answers as the live v3 API writes them ("Shapes in detail" in `clay-v3.md`).
//!
//! This is the simulator's own writer, kept apart from the client's parser
//! (`backend::http::wire`) on purpose: when both came from one module, a wrong shape
//! cancelled out in every round trip. Both are checked against bodies written by hand in
//! `tests/fixtures/clay/`.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::backend::model::*;

/// An ISO-8601 instant, or JSON null when the time is unknown.
fn iso(ms: Option<Timestamp>) -> Value {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or(Value::Null, |t| json!(t.to_string()))
}

/// User ids are numbers on Clay's wire; kiln keeps them as text.
pub(crate) fn user_id(id: &str) -> Value {
    id.parse::<u64>().map(Value::from).unwrap_or(json!(id))
}

fn kind(k: ResourceKind) -> &'static str {
    match k {
        ResourceKind::Folder => "FOLDER",
        ResourceKind::Workbook => "WORKBOOK",
        ResourceKind::Table => "TABLE",
    }
}

/// Clay's typed error body; `details` only when there are some.
pub(crate) fn error(kind: &str, message: &str, details: Option<Value>) -> Value {
    let mut v = json!({ "type": kind, "message": message });
    if let Some(d) = details {
        v["details"] = d;
    }
    v
}

pub(crate) fn workspace(w: &Workspace) -> Value {
    json!({ "id": w.id, "name": w.name, "credits": w.credit_balance })
}

pub(crate) fn folder(f: &Folder) -> Value {
    json!({ "id": f.id, "name": f.name, "workspaceId": f.workspace_id, "parentFolderId": f.parent_folder_id })
}

pub(crate) fn workbook(w: &Workbook) -> Value {
    json!({
        "id": w.id, "name": w.name, "workspaceId": w.workspace_id,
        "parentFolderId": w.parent_folder_id, "settings": { "isAutoRun": w.auto_run },
    })
}

/// A resources_v2 entry. `resourceType` says what it is; a TABLE's `type` is its table kind.
pub(crate) fn resource(
    r: &Resource,
    owner: Option<&Member>,
    table_kind: Option<TableKind>,
) -> Value {
    let mut v = json!({
        "id": r.id, "name": r.name, "resourceType": kind(r.kind),
        "ownerId": r.created_by,
        "owner": owner.map(|m| json!({
            "id": m.user_id.as_deref().map(user_id), "email": m.email, "fullName": m.name,
        })),
    });
    match r.kind {
        ResourceKind::Table => {
            v["workbookId"] = json!(r.parent_id);
            // Clay names the workbook's folder too; the sim's listing does not carry it.
            v["parentFolderId"] = Value::Null;
            v["type"] = json!(table_kind.map_or("spreadsheet", table_kind_name));
            v["tableSettings"] = json!({});
        }
        _ => v["parentFolderId"] = json!(r.parent_id),
    }
    // Clay leaves the time out rather than sending null, and says nothing of updates or
    // the trash here.
    if let Some(t) = r.created_at {
        v["createdAt"] = iso(Some(t));
    }
    v
}

fn field_kind(k: FieldKind) -> &'static str {
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

fn table_kind_name(k: TableKind) -> &'static str {
    match k {
        TableKind::Spreadsheet => "spreadsheet",
        TableKind::Company => "company",
        TableKind::People => "people",
        TableKind::Jobs => "jobs",
    }
}

fn field(f: &Field) -> Value {
    let data_type = match f.kind {
        FieldKind::Number => "number",
        FieldKind::Url => "url",
        FieldKind::Date => "date",
        _ => "text",
    };
    let mut v = json!({
        "id": f.id, "name": f.name, "type": field_kind(f.kind),
        "typeSettings": { "dataTypeSettings": { "type": data_type } },
    });
    if let Some(a) = &f.action {
        let bindings: Vec<Value> = a
            .input_field_ids
            .iter()
            .map(|id| json!({ "name": id, "formulaText": format!("{{{{{id}}}}}") }))
            .collect();
        let settings = &mut v["typeSettings"];
        settings["actionKey"] = json!(a.action_key);
        settings["actionVersion"] = json!(1);
        settings["actionPackageId"] = json!(a.package_id);
        settings["inputsBinding"] = json!(bindings);
        settings["conditionalRunFormulaText"] = Value::Null;
        // Absent rather than null, as Clay leaves them out.
        if let Some(aa) = &a.auth_account_id {
            settings["authAccountId"] = json!(aa);
        }
        // Not a documented Clay key: the sim says what a column costs so that budgets can
        // be exercised over HTTP; the client treats its absence as "unknown".
        if let Some(cost) = a.credit_cost {
            settings["creditCost"] = json!(cost);
        }
        v["inputFieldIds"] = json!(a.input_field_ids);
        v["conditionalRunFieldIds"] = json!([]);
        v["delayFieldIds"] = json!([]);
    }
    v
}

pub(crate) fn table(t: &TableInfo) -> Value {
    let fields: Vec<Value> = t.fields.iter().map(field).collect();
    let views: Vec<Value> = t
        .views
        .iter()
        .map(|v| {
            json!({
                "id": v.id, "name": v.name, "fields": {}, "sort": [],
                "filter": { "items": [], "combinationMode": "AND" },
            })
        })
        .collect();
    json!({
        "table": {
            "id": t.id, "name": t.name, "type": table_kind_name(t.kind),
            "workspaceId": t.workspace_id, "workbookId": t.workbook_id,
            "firstViewId": t.first_view_id, "views": views, "fields": fields,
        },
        "extraData": {},
    })
}

fn status(s: &CellStatus) -> &str {
    match s {
        CellStatus::Success => "SUCCESS",
        CellStatus::Pending => "PENDING",
        CellStatus::RunConditionNotMet => "ERROR_RUN_CONDITION_NOT_MET",
        CellStatus::Error(code) => code,
    }
}

fn value(v: &CellValue) -> Value {
    match v {
        CellValue::Null => Value::Null,
        CellValue::Text(s) => json!(s),
        CellValue::Number(n) => json!(n),
        CellValue::Boolean(b) => json!(b),
        CellValue::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| json!(s)),
    }
}

/// Cells in the row's field order (a `Value` map would sort them), sparse as Clay's are:
/// an empty cell with no status is left out.
struct Cells<'a>(&'a [Cell]);

impl Serialize for Cells<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let present = || {
            self.0
                .iter()
                .filter(|c| !c.value.is_null() || c.status.is_some())
        };
        let mut map = s.serialize_map(Some(present().count()))?;
        for c in present() {
            let metadata = match &c.status {
                Some(st) => json!({ "status": status(st) }),
                None => json!({}),
            };
            let cell = json!({ "value": value(&c.value), "metadata": metadata });
            map.serialize_entry(&c.field_id, &cell)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct Record<'a> {
    id: &'a str,
    cells: Cells<'a>,
    #[serde(rename = "createdAt")]
    created_at: Value,
    #[serde(rename = "updatedAt")]
    updated_at: Value,
    #[serde(rename = "recordMetadata")]
    record_metadata: Value,
    #[serde(rename = "deletedBy")]
    deleted_by: Value,
    #[serde(rename = "dedupeValue")]
    dedupe_value: Value,
}

/// `{"<key>":[record…]}` as JSON text, written straight from the rows to keep cell order.
pub(crate) fn records(key: &str, rows: &[Row]) -> String {
    let records: Vec<Record<'_>> = rows
        .iter()
        .map(|r| Record {
            id: &r.id,
            cells: Cells(&r.cells),
            created_at: iso(r.created_at),
            updated_at: iso(r.updated_at),
            record_metadata: json!({}),
            deleted_by: Value::Null,
            dedupe_value: Value::Null,
        })
        .collect();
    let mut map = BTreeMap::new();
    map.insert(key, records);
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

/// `PATCH …/records`: Clay enqueues updates and applies them later.
pub(crate) fn updates_enqueued() -> Value {
    json!({ "message": "Record updates enqueued", "enqueued": true })
}

pub(crate) fn run_result(r: &RunResult) -> Value {
    let mode = match r.mode {
        RunMode::None => "NONE",
        RunMode::Individual => "INDIVIDUAL",
        RunMode::Bulk => "BULK",
    };
    json!({ "runMode": mode, "recordCount": r.record_count, "creditsSpent": r.credits_spent })
}

pub(crate) fn source(s: &Source, workspace_id: u64) -> Value {
    json!({
        "id": s.id, "workspaceId": workspace_id, "name": s.name, "type": s.kind,
        "typeSettings": {},
        "state": { "url": s.url, "numSourceRecords": s.records_received },
    })
}

fn user(m: &Member, id: &str) -> Value {
    json!({
        "id": user_id(id), "username": m.email.split('@').next().unwrap_or_default(),
        "email": m.email, "name": m.name, "fullName": m.name, "profilePicture": null,
    })
}

/// A stable uuid-shaped id per role, as Clay's `role.id` is.
fn role_id(r: Role) -> &'static str {
    match r {
        Role::Admin => "7d0a1c1e-0000-4000-8000-000000000001",
        Role::Member => "7d0a1c1e-0000-4000-8000-000000000002",
        Role::Viewer => "7d0a1c1e-0000-4000-8000-000000000003",
        Role::SalesRep => "7d0a1c1e-0000-4000-8000-000000000004",
    }
}

/// `{"userPermissions":[…]}`. Clay lists members and pending invitations; removed members
/// are gone from it (their ids live on in integrations and reports).
pub(crate) fn permissions(members: &[Member]) -> Value {
    let perms: Vec<Value> = members
        .iter()
        .filter(|m| m.status != MemberStatus::Removed)
        .map(|m| {
            let pending = m.status == MemberStatus::Pending;
            let who = match (&m.user_id, pending) {
                (Some(id), false) => user(m, id),
                _ => Value::Null,
            };
            let role_name = if m.role_name.is_empty() {
                m.role.wire_name()
            } else {
                &m.role_name
            };
            json!({
                "roleId": role_id(m.role), "email": m.email, "pending": pending, "user": who,
                "role": { "id": role_id(m.role), "role": role_name },
            })
        })
        .collect();
    json!({ "userPermissions": perms })
}

pub(crate) fn users(members: &[Member]) -> Value {
    let users: Vec<Value> = members
        .iter()
        .filter(|m| m.status == MemberStatus::Active)
        .filter_map(|m| Some(user(m, m.user_id.as_deref()?)))
        .collect();
    json!({ "users": users })
}

pub(crate) fn integration(i: &Integration, workspace_id: u64) -> Value {
    let mut v = json!({
        "id": i.id, "name": i.name, "appAccountTypeId": i.type_id,
        "isSharedPublicKey": i.shared,
        "userOwnerId": i.owner_id.as_deref().map(user_id),
        "workspaceOwnerId": workspace_id,
        "defaultAccess": if i.shared { "EVERYONE" } else { "OWNER" },
        "abilities": { "canUse": true, "canEdit": !i.shared },
    });
    if let Some(t) = i.created_at {
        v["createdAt"] = iso(Some(t));
    }
    v
}

pub(crate) fn integration_type(t: &IntegrationType) -> Value {
    json!({
        "id": t.id, "authenticationType": t.authentication_type,
        "displayMetadata": { "name": t.name, "providerName": t.provider_name },
    })
}

fn entity(
    id: &str,
    name: &str,
    kind: &str,
    deleted: bool,
    credits: f64,
    execs: u64,
) -> Map<String, Value> {
    let v = json!({
        "id": id, "entity": { "name": name, "isDeleted": deleted, "__kind": kind },
        "credits": credits, "actionExecutions": execs,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) fn report(r: &CreditReport) -> Value {
    let entities: Vec<Value> = r
        .entities
        .iter()
        .map(|e| {
            let mut m = entity(
                &e.id,
                &e.name,
                &e.kind,
                e.is_deleted,
                e.credits,
                e.action_executions,
            );
            let subs: Vec<Value> = e
                .subentities
                .iter()
                .map(|s| {
                    Value::Object(entity(
                        &s.id,
                        &s.name,
                        &s.kind,
                        s.is_deleted,
                        s.credits,
                        s.action_executions,
                    ))
                })
                .collect();
            m.insert("subentities".into(), Value::Array(subs));
            Value::Object(m)
        })
        .collect();
    json!({
        "entities": entities,
        "unattributedCredits": r.unattributed_credits,
        "unattributedActionExecutions": r.unattributed_action_executions,
    })
}
