//! Clay v3's JSON as the HTTP backend reads it, and the request bodies it sends. Parsing
//! follows "Shapes in detail" in `clay-v3.md` and is tolerant: unknown fields are ignored,
//! and where public clients disagree on a name or an envelope both are accepted.
//!
//! Nothing here writes Clay's answers: `clay-sim` has its own writer (`sim::shapes`), and
//! both are checked against bodies written by hand (`tests/fixtures/clay/`), so a wrong
//! shape cannot cancel out between the two.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use crate::backend::model::*;

/// Milliseconds since the epoch as Clay writes them: an ISO-8601 instant. Out of range is
/// clamped to the nearest representable instant (a range "until forever" stays one).
pub fn iso(ms: Timestamp) -> String {
    let t = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    t.to_string()
}

/// Reads an instant given as ISO-8601 text or as epoch milliseconds.
pub fn parse_time(v: &Value) -> Option<Timestamp> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_millisecond())
            .or_else(|| s.parse().ok()),
        _ => None,
    }
}

/// A missing or unreadable instant is unknown (`None`), never the epoch.
fn time_field(v: &Value, keys: &[&str]) -> Option<Timestamp> {
    keys.iter().find_map(|k| v.get(*k).and_then(parse_time))
}

fn str_field(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(*k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn num_field(v: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| match v.get(*k)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

fn bool_field(v: &Value, keys: &[&str]) -> Option<bool> {
    keys.iter().find_map(|k| v.get(*k)?.as_bool())
}

/// A shape error: Clay answered something kiln cannot read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unexpected response shape: {0}")]
pub struct ShapeError(pub String);

type Parsed<T> = Result<T, ShapeError>;

/// The list inside an envelope: `{"<key>":[…]}` for any of `keys`, or a bare array.
pub fn list<'a>(v: &'a Value, keys: &[&str]) -> Parsed<&'a Vec<Value>> {
    if let Value::Array(items) = v {
        return Ok(items);
    }
    keys.iter()
        .find_map(|k| v.get(*k)?.as_array())
        .ok_or_else(|| ShapeError(format!("expected a list under one of {keys:?}")))
}

// ---- cells and records ----

pub fn value_json(v: &CellValue) -> Value {
    match v {
        CellValue::Null => Value::Null,
        CellValue::Text(s) => json!(s),
        CellValue::Number(n) => json!(n),
        CellValue::Boolean(b) => json!(b),
        CellValue::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| json!(s)),
    }
}

pub fn value_from_json(v: &Value) -> CellValue {
    match v {
        Value::Null => CellValue::Null,
        Value::String(s) => CellValue::Text(s.clone()),
        Value::Number(n) => CellValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::Bool(b) => CellValue::Boolean(*b),
        other => CellValue::Json(other.to_string()),
    }
}

fn parse_status(s: &str) -> CellStatus {
    match s {
        "SUCCESS" => CellStatus::Success,
        "PENDING" | "QUEUED" | "RUNNING" => CellStatus::Pending,
        "ERROR_RUN_CONDITION_NOT_MET" => CellStatus::RunConditionNotMet,
        other => CellStatus::Error(other.to_string()),
    }
}

/// Inputs as Clay takes them: `{"f_…": value}`.
struct InputCells<'a>(&'a [CellInput]);

impl Serialize for InputCells<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            map.serialize_entry(&c.field_id, &value_json(&c.value))?;
        }
        map.end()
    }
}

/// A JSON object's entries in document order (serde_json's `Map` would sort them).
#[derive(Debug, Default)]
pub struct Entries(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
            fn visit_unit<E>(self) -> Result<Entries, E> {
                Ok(Entries::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Serialize)]
struct InputOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    cells: InputCells<'a>,
}

fn inputs_body(records: Vec<InputOut<'_>>) -> String {
    let mut map = std::collections::BTreeMap::new();
    map.insert("records", records);
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

/// The body of `POST /v3/tables/{t}/records`, cells in the caller's order.
pub fn new_records_body(rows: &[NewRow]) -> String {
    inputs_body(
        rows.iter()
            .map(|r| InputOut {
                id: r.id.as_deref(),
                cells: InputCells(&r.cells),
            })
            .collect(),
    )
}

/// The body of `PATCH /v3/tables/{t}/records` (kiln's assumed row-update endpoint).
pub fn updates_body(updates: &[RowUpdate]) -> String {
    inputs_body(
        updates
            .iter()
            .map(|u| InputOut {
                id: Some(&u.id),
                cells: InputCells(&u.cells),
            })
            .collect(),
    )
}

/// One record. A cell is `{"value":…,"metadata":{"status":…}}`; a bare value is accepted too.
/// Cells are read from raw JSON text so that their order survives.
#[derive(Deserialize)]
struct RawRecord {
    id: Value,
    #[serde(default)]
    cells: Entries,
    #[serde(default, alias = "created_at")]
    #[serde(rename = "createdAt")]
    created_at: Value,
    #[serde(default, alias = "updated_at")]
    #[serde(rename = "updatedAt")]
    updated_at: Value,
}

fn cells_from_entries(entries: Entries) -> Vec<Cell> {
    entries
        .0
        .into_iter()
        .map(|(field_id, v)| {
            let wrapped = v.as_object().is_some_and(|o| o.contains_key("value"));
            let (value, status) = if wrapped {
                let status = v
                    .pointer("/metadata/status")
                    .and_then(Value::as_str)
                    .map(parse_status);
                (value_from_json(&v["value"]), status)
            } else {
                (value_from_json(&v), None)
            };
            Cell {
                field_id,
                value,
                status,
            }
        })
        .collect()
}

/// Records from a response body (raw text, to keep cell order): `{"results":[…]}`,
/// `{"records":[…]}` or a bare array.
pub fn records_from_text(text: &str) -> Parsed<Vec<Row>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Envelope {
        Bare(Vec<RawRecord>),
        Wrapped {
            #[serde(alias = "records", alias = "data")]
            results: Vec<RawRecord>,
        },
    }
    let env: Envelope =
        serde_json::from_str(text).map_err(|e| ShapeError(format!("records: {e}")))?;
    let raw = match env {
        Envelope::Bare(r) | Envelope::Wrapped { results: r } => r,
    };
    Ok(raw
        .into_iter()
        .map(|r| Row {
            id: match r.id {
                Value::String(s) => s,
                other => other.to_string(),
            },
            cells: cells_from_entries(r.cells),
            created_at: parse_time(&r.created_at),
            updated_at: parse_time(&r.updated_at),
        })
        .collect())
}

/// A record as sent to Clay: `{"id"?, "cells": {"f_…": value}}`; `{"value": …}` cells too.
#[derive(Deserialize)]
struct RawInput {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    cells: Entries,
}

fn inputs_from(entries: Entries) -> Vec<CellInput> {
    cells_from_entries(entries)
        .into_iter()
        .map(|c| CellInput {
            field_id: c.field_id,
            value: c.value,
        })
        .collect()
}

fn raw_inputs(text: &str) -> Parsed<Vec<RawInput>> {
    #[derive(Deserialize)]
    struct Body {
        records: Vec<RawInput>,
    }
    serde_json::from_str::<Body>(text)
        .map(|b| b.records)
        .map_err(|e| {
            ShapeError(format!(
                "expected {{\"records\":[{{\"id\",\"cells\"}}]}}: {e}"
            ))
        })
}

/// The body of `POST /v3/tables/{t}/records`.
pub fn new_rows_from_text(text: &str) -> Parsed<Vec<NewRow>> {
    Ok(raw_inputs(text)?
        .into_iter()
        .map(|r| NewRow {
            id: r.id,
            cells: inputs_from(r.cells),
        })
        .collect())
}

/// The body of `PATCH /v3/tables/{t}/records` (every record names its id).
pub fn updates_from_text(text: &str) -> Parsed<Vec<RowUpdate>> {
    raw_inputs(text)?
        .into_iter()
        .map(|r| {
            Ok(RowUpdate {
                id: r
                    .id
                    .ok_or_else(|| ShapeError("every record to update needs its id".into()))?,
                cells: inputs_from(r.cells),
            })
        })
        .collect()
}

/// Record ids: `{"results":[…]}`, `{"recordIds":[…]}` or a bare array. Clay's list can
/// hold the literal `"search"`, a placeholder that is no record.
pub fn ids_from(v: &Value) -> Parsed<Vec<String>> {
    Ok(list(v, &["results", "recordIds", "ids"])?
        .iter()
        .filter_map(|x| match x {
            Value::String(s) => Some(s.clone()),
            other => other.get("id").and_then(Value::as_str).map(str::to_string),
        })
        .filter(|id| id != "search")
        .collect())
}

/// The row count: `tableTotalRecordsCount`, or `count` as some clients read it.
pub fn count_from(v: &Value) -> Parsed<u64> {
    num_field(v, &["tableTotalRecordsCount", "count", "totalRecordsCount"])
        .map(|n| n as u64)
        .ok_or_else(|| ShapeError("expected tableTotalRecordsCount or count".into()))
}

// ---- workspaces, folders, workbooks, resources ----

pub fn workspaces_from(v: &Value) -> Parsed<Vec<Workspace>> {
    list(v, &["results", "workspaces"])?
        .iter()
        .map(|w| {
            let id = num_field(w, &["id", "workspaceId"])
                .ok_or_else(|| ShapeError("workspace without an id".into()))?;
            let credits = match w.get("credits") {
                Some(Value::Object(o)) => ["balance", "remaining", "total", "basic"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_f64)),
                _ => num_field(w, &["creditBalance", "credits"]),
            };
            Ok(Workspace {
                id: id as u64,
                name: str_field(w, &["name"]).unwrap_or_default(),
                credit_balance: credits.unwrap_or(0.0),
            })
        })
        .collect()
}

fn unwrap_one<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).filter(|x| x.is_object()).unwrap_or(v)
}

pub fn folder_from(v: &Value) -> Parsed<Folder> {
    let v = unwrap_one(v, "folder");
    Ok(Folder {
        id: str_field(v, &["id"]).ok_or_else(|| ShapeError("folder without an id".into()))?,
        name: str_field(v, &["name"]).unwrap_or_default(),
        workspace_id: num_field(v, &["workspaceId"]).unwrap_or(0.0) as u64,
        parent_folder_id: str_field(v, &["parentFolderId", "parentId"]),
    })
}

pub fn workbook_from(v: &Value) -> Parsed<Workbook> {
    let v = unwrap_one(v, "workbook");
    Ok(Workbook {
        id: str_field(v, &["id"]).ok_or_else(|| ShapeError("workbook without an id".into()))?,
        name: str_field(v, &["name"]).unwrap_or_default(),
        workspace_id: num_field(v, &["workspaceId"]).unwrap_or(0.0) as u64,
        parent_folder_id: str_field(v, &["parentFolderId", "parentId"]),
        auto_run: v
            .pointer("/settings/isAutoRun")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

pub fn kind_wire(k: ResourceKind) -> &'static str {
    match k {
        ResourceKind::Folder => "FOLDER",
        ResourceKind::Workbook => "WORKBOOK",
        ResourceKind::Table => "TABLE",
    }
}

pub fn kind_from_wire(s: &str) -> Option<ResourceKind> {
    match s.to_ascii_uppercase().as_str() {
        "FOLDER" => Some(ResourceKind::Folder),
        "WORKBOOK" => Some(ResourceKind::Workbook),
        "TABLE" => Some(ResourceKind::Table),
        _ => None,
    }
}

/// resources_v2 entries. The kind is `resourceType`: a TABLE's `type` is the table's own
/// kind (`spreadsheet`…), so `type` counts only where `resourceType` is absent.
pub fn resources_from(v: &Value) -> Parsed<Vec<Resource>> {
    let mut out = Vec::new();
    for r in list(v, &["resources", "results"])? {
        let kind = match str_field(r, &["resourceType"]) {
            Some(k) => kind_from_wire(&k),
            None => str_field(r, &["type"]).and_then(|k| kind_from_wire(&k)),
        };
        let Some(kind) = kind else {
            continue; // kinds kiln does not model
        };
        // A table sits in a workbook; folders and workbooks sit in folders.
        let parent_keys: &[&str] = match kind {
            ResourceKind::Table => &["workbookId", "parentId", "parentFolderId"],
            _ => &["parentFolderId", "parentId"],
        };
        out.push(Resource {
            id: str_field(r, &["id"]).ok_or_else(|| ShapeError("resource without an id".into()))?,
            name: str_field(r, &["name"]).unwrap_or_default(),
            kind,
            parent_id: str_field(r, parent_keys),
            created_by: str_field(r, &["ownerId", "createdByUserId", "createdBy"])
                .or_else(|| r.get("owner").and_then(|o| str_field(o, &["id"]))),
            created_at: time_field(r, &["createdAt"]),
            updated_at: time_field(r, &["updatedAt"]),
            deleted: bool_field(r, &["isDeleted", "deleted"])
                .unwrap_or_else(|| r.get("deletedAt").is_some_and(|d| !d.is_null())),
        });
    }
    Ok(out)
}

// ---- tables ----

fn field_kind_from(s: &str) -> FieldKind {
    match s.to_ascii_lowercase().as_str() {
        "number" => FieldKind::Number,
        "url" => FieldKind::Url,
        "date" => FieldKind::Date,
        "formula" => FieldKind::Formula,
        "action" => FieldKind::Action,
        "source" => FieldKind::Source,
        _ => FieldKind::Text,
    }
}

fn table_kind_from(s: &str) -> TableKind {
    match s.to_ascii_lowercase().as_str() {
        "company" => TableKind::Company,
        "people" => TableKind::People,
        "jobs" => TableKind::Jobs,
        _ => TableKind::Spreadsheet,
    }
}

/// `{"table":{…},"extraData":{…}}`, or sometimes the bare table.
pub fn table_from(v: &Value) -> Parsed<TableInfo> {
    let t = unwrap_one(v, "table");
    let id = str_field(t, &["id"]).ok_or_else(|| ShapeError("table without an id".into()))?;
    let views: Vec<View> = t
        .get("views")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    Some(View {
                        id: str_field(v, &["id"])?,
                        name: str_field(v, &["name"]).unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let fields = t
        .get("fields")
        .and_then(Value::as_array)
        .map(|fs| fs.iter().filter_map(field_from).collect())
        .unwrap_or_default();
    Ok(TableInfo {
        id,
        name: str_field(t, &["name"]).unwrap_or_default(),
        kind: table_kind_from(&str_field(t, &["type", "tableType"]).unwrap_or_default()),
        workspace_id: num_field(t, &["workspaceId"]).unwrap_or(0.0) as u64,
        workbook_id: str_field(t, &["workbookId"]),
        first_view_id: str_field(t, &["firstViewId"])
            .or_else(|| views.first().map(|v| v.id.clone())),
        views,
        fields,
    })
}

fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|ids| {
        ids.iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect()
    })
}

/// The `f_…` ids named by `{{f_…}}` in an action's input bindings, in order, once each.
fn bound_field_ids(settings: &Value) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let bindings = settings.get("inputsBinding").and_then(Value::as_array);
    for formula in bindings
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("formulaText").and_then(Value::as_str))
    {
        for part in formula.split("{{").skip(1) {
            if let Some((id, _)) = part.split_once("}}") {
                let id = id.trim();
                if id.starts_with("f_") && !ids.iter().any(|x| x == id) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

fn field_from(f: &Value) -> Option<Field> {
    let kind = field_kind_from(&str_field(f, &["type"]).unwrap_or_default());
    let settings = f.get("typeSettings").unwrap_or(&Value::Null);
    let action = str_field(settings, &["actionKey"]).map(|action_key| ActionConfig {
        action_key,
        package_id: str_field(settings, &["actionPackageId"]).unwrap_or_default(),
        auth_account_id: str_field(settings, &["authAccountId"]),
        credit_cost: num_field(settings, &["creditCost"]),
        // Clay keeps `inputFieldIds` on the field itself; older answers had it in the
        // settings, and the bindings name the same fields.
        input_field_ids: string_list(f.get("inputFieldIds"))
            .or_else(|| string_list(settings.get("inputFieldIds")))
            .unwrap_or_else(|| bound_field_ids(settings)),
    });
    Some(Field {
        id: str_field(f, &["id"])?,
        name: str_field(f, &["name"]).unwrap_or_default(),
        kind,
        action,
    })
}

pub fn run_body(field_ids: &[String], target: &RunTarget, force: bool) -> Value {
    let run_records = match target {
        RunTarget::Records(ids) => json!({ "recordIds": ids }),
        RunTarget::ViewTop {
            view_id,
            num_records,
        } => {
            let mut top = json!({ "viewId": view_id });
            if let Some(n) = num_records {
                top["numRecords"] = json!(n);
            }
            json!({ "viewIdTopRecords": top })
        }
    };
    json!({ "fieldIds": field_ids, "runRecords": run_records, "callerName": "API", "forceRun": force })
}

pub fn run_target_from(body: &Value) -> Parsed<RunTarget> {
    let rr = body
        .get("runRecords")
        .ok_or_else(|| ShapeError("runRecords is required".into()))?;
    if let Some(ids) = rr.get("recordIds").and_then(Value::as_array) {
        return Ok(RunTarget::Records(
            ids.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
        ));
    }
    let top = rr
        .get("viewIdTopRecords")
        .ok_or_else(|| ShapeError("runRecords needs recordIds or viewIdTopRecords".into()))?;
    Ok(RunTarget::ViewTop {
        view_id: str_field(top, &["viewId"])
            .ok_or_else(|| ShapeError("viewIdTopRecords.viewId is required".into()))?,
        num_records: num_field(top, &["numRecords"]).map(|n| n as u32),
    })
}

pub fn run_result_from(v: &Value) -> Parsed<RunResult> {
    let mode = match str_field(v, &["runMode"]).as_deref() {
        Some("INDIVIDUAL") => RunMode::Individual,
        Some("BULK") => RunMode::Bulk,
        Some("NONE") => RunMode::None,
        other => return Err(ShapeError(format!("unknown runMode {other:?}"))),
    };
    // Absent (or not a finite number ≥ 0) is "not said", never "nothing was spent".
    let spent = num_field(v, &["creditsSpent"]).filter(|c| c.is_finite() && *c >= 0.0);
    Ok(RunResult {
        mode,
        record_count: num_field(v, &["recordCount"]).unwrap_or(0.0) as u32,
        credits_spent: spent.unwrap_or(0.0),
        credits_unreported: spent.is_none(),
    })
}

// ---- sources ----

pub fn source_from(v: &Value) -> Parsed<Source> {
    let v = unwrap_one(v, "source");
    Ok(Source {
        id: str_field(v, &["id"]).ok_or_else(|| ShapeError("source without an id".into()))?,
        name: str_field(v, &["name"]).unwrap_or_default(),
        table_id: str_field(v, &["tableId"]).unwrap_or_default(),
        kind: str_field(v, &["type", "kind"]).unwrap_or_else(|| "webhook".into()),
        // Clay keeps a webhook's inbound URL in `state.url`; older answers had it elsewhere.
        url: [
            "/state/url",
            "/url",
            "/webhookUrl",
            "/typeSettings/webhookUrl",
        ]
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str).map(str::to_string)),
        records_received: v
            .pointer("/state/numSourceRecords")
            .and_then(Value::as_u64)
            .or_else(|| num_field(v, &["recordsReceived", "numSourceRecords"]).map(|n| n as u64))
            .unwrap_or(0),
    })
}

pub fn sources_from(v: &Value) -> Parsed<Vec<Source>> {
    list(v, &["sources", "results"])?
        .iter()
        .map(source_from)
        .collect()
}

pub fn webhook_source_body(workspace_id: u64, name: &str) -> Value {
    json!({ "sourceSettings": { "addSource": {
        "name": "Webhook",
        "source": { "name": name, "workspaceId": workspace_id, "type": "webhook", "typeSettings": {} },
    } } })
}

/// The name of the source a `PATCH /v3/tables/{t}` body adds.
pub fn webhook_source_name(body: &Value) -> Option<String> {
    body.pointer("/sourceSettings/addSource/source/name")
        .and_then(Value::as_str)
        .map(str::to_string)
}

// ---- members, integrations, credits ----

/// Members from `/permissions`, named from `/users` (matched by id, then email).
pub fn members_from(perms: &Value, users: Option<&Value>) -> Parsed<Vec<Member>> {
    let users: Vec<&Value> = users
        .and_then(|u| list(u, &["users", "results"]).ok())
        .map(|u| u.iter().collect())
        .unwrap_or_default();
    list(perms, &["userPermissions", "permissions", "results"])?
        .iter()
        .map(|p| {
            let user = p.get("user").filter(|u| u.is_object());
            let email = str_field(p, &["email"])
                .or_else(|| user.and_then(|u| str_field(u, &["email"])))
                .unwrap_or_default();
            // A pending invitation has `"user":null` and only an email: no user id, and
            // its email must never stand in for one (it would match no owner, or the wrong one).
            let user_id = user
                .and_then(|u| str_field(u, &["id"]))
                .or_else(|| str_field(p, &["userId"]));
            let named = users.iter().find(|u| match &user_id {
                Some(id) => str_field(u, &["id"]).as_deref() == Some(id.as_str()),
                None => !email.is_empty() && str_field(u, &["email"]).as_deref() == Some(&email),
            });
            let name = user
                .and_then(|u| str_field(u, &["fullName", "name"]))
                .or_else(|| named.and_then(|u| str_field(u, &["fullName", "name"])))
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| email.clone());
            // `role` is `{"id":<uuid>,"role":"workspace-admin"}`; older answers had a string.
            let role_name = p
                .pointer("/role/role")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| p.get("role").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            let status =
                if str_field(p, &["status"]).is_some_and(|s| s.eq_ignore_ascii_case("removed")) {
                    MemberStatus::Removed
                } else if bool_field(p, &["pending"]).unwrap_or(false) {
                    MemberStatus::Pending
                } else {
                    MemberStatus::Active
                };
            Ok(Member {
                user_id,
                email,
                name,
                role: Role::from_wire(&role_name).unwrap_or(Role::Member),
                role_name,
                status,
            })
        })
        .collect()
}

pub fn integrations_from(v: &Value) -> Parsed<Vec<Integration>> {
    list(v, &["appAccounts", "results"])?
        .iter()
        .map(|i| {
            // The owner is `userOwnerId` (a number, or null for Clay-managed shared
            // accounts); where it is present, null means nobody, not "look elsewhere".
            let owner_id = match i.get("userOwnerId") {
                Some(_) => str_field(i, &["userOwnerId"]),
                None => str_field(i, &["ownerId", "createdByUserId"]),
            };
            Ok(Integration {
                id: str_field(i, &["id"])
                    .ok_or_else(|| ShapeError("app account without an id".into()))?,
                name: str_field(i, &["name"]).unwrap_or_default(),
                type_id: str_field(
                    i,
                    &["appAccountTypeId", "type", "typeId", "actionPackageId"],
                )
                .unwrap_or_default(),
                owner_id,
                shared: bool_field(i, &["isSharedPublicKey"]).unwrap_or(false),
                created_at: time_field(i, &["createdAt"]),
            })
        })
        .collect()
}

pub fn integration_type_from(v: &Value) -> Parsed<IntegrationType> {
    let meta = v.get("displayMetadata").unwrap_or(&Value::Null);
    Ok(IntegrationType {
        id: str_field(v, &["id"])
            .ok_or_else(|| ShapeError("app account type without an id".into()))?,
        name: str_field(meta, &["name"])
            .or_else(|| str_field(v, &["name"]))
            .unwrap_or_default(),
        provider_name: str_field(meta, &["providerName"])
            .or_else(|| str_field(v, &["providerName"]))
            .unwrap_or_default(),
        authentication_type: str_field(v, &["authenticationType"]).unwrap_or_default(),
    })
}

pub fn integration_types_from(v: &Value) -> Parsed<Vec<IntegrationType>> {
    list(v, &["types", "results"])?
        .iter()
        .map(integration_type_from)
        .collect()
}

struct EntityParts {
    id: String,
    name: String,
    kind: String,
    is_deleted: bool,
    credits: f64,
    action_executions: u64,
}

fn entity_parts(e: &Value) -> EntityParts {
    let inner = e.get("entity").unwrap_or(&Value::Null);
    EntityParts {
        id: str_field(e, &["id"]).unwrap_or_default(),
        name: str_field(inner, &["name"])
            .or_else(|| str_field(e, &["name"]))
            .unwrap_or_default(),
        kind: str_field(inner, &["__kind", "kind"]).unwrap_or_default(),
        is_deleted: bool_field(inner, &["isDeleted"]).unwrap_or(false),
        credits: num_field(e, &["credits"]).unwrap_or(0.0),
        action_executions: num_field(e, &["actionExecutions"]).unwrap_or(0.0) as u64,
    }
}

pub fn report_from(v: &Value, range: TimeRange) -> Parsed<CreditReport> {
    let entities = list(v, &["entities"])?
        .iter()
        .map(|e| {
            let p = entity_parts(e);
            CreditEntity {
                subentities: e
                    .get("subentities")
                    .and_then(Value::as_array)
                    .map(|subs| {
                        subs.iter()
                            .map(|s| {
                                let s = entity_parts(s);
                                CreditSubentity {
                                    id: s.id,
                                    name: s.name,
                                    kind: s.kind,
                                    is_deleted: s.is_deleted,
                                    credits: s.credits,
                                    action_executions: s.action_executions,
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                id: p.id,
                name: p.name,
                kind: p.kind,
                is_deleted: p.is_deleted,
                credits: p.credits,
                action_executions: p.action_executions,
            }
        })
        .collect();
    Ok(CreditReport {
        range,
        entities,
        unattributed_credits: num_field(v, &["unattributedCredits"]).unwrap_or(0.0),
        unattributed_action_executions: num_field(v, &["unattributedActionExecutions"])
            .unwrap_or(0.0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_cell_order_and_accept_both_envelopes() {
        let text = r#"{"results":[{"id":"r_1","cells":{"f_z":{"value":"a","metadata":{"status":"SUCCESS"}},"f_a":3},"createdAt":"2026-01-01T00:00:00Z","recordMetadata":{}}]}"#;
        let rows = records_from_text(text).unwrap();
        assert_eq!(rows[0].cells[0].field_id, "f_z");
        assert_eq!(rows[0].cells[0].status, Some(CellStatus::Success));
        assert_eq!(rows[0].cells[1].value, CellValue::Number(3.0));
        assert_eq!(rows[0].created_at, Some(1_767_225_600_000));
        let bare = r#"[{"id":"r_2","cells":{}}]"#;
        assert_eq!(records_from_text(bare).unwrap()[0].id, "r_2");
        let created = r#"{"records":[{"id":"r_3"}]}"#;
        assert_eq!(records_from_text(created).unwrap()[0].id, "r_3");
    }

    #[test]
    fn counts_and_ids_in_either_shape() {
        assert_eq!(
            count_from(&json!({"tableTotalRecordsCount": 7})).unwrap(),
            7
        );
        assert_eq!(count_from(&json!({"count": 150})).unwrap(), 150);
        assert!(count_from(&json!({"total": 1})).is_err());
        assert_eq!(ids_from(&json!({"results": ["r_1"]})).unwrap(), ["r_1"]);
        assert_eq!(ids_from(&json!({"recordIds": ["r_2"]})).unwrap(), ["r_2"]);
        assert_eq!(ids_from(&json!(["r_3"])).unwrap(), ["r_3"]);
    }

    #[test]
    fn table_bare_or_wrapped() {
        let wrapped = json!({"table": {"id": "t_1", "name": "Leads", "fields": [], "views": [{"id": "gv_1", "name": "Default"}]}, "extraData": {}});
        let bare = json!({"id": "t_1", "name": "Leads", "fields": [], "views": [{"id": "gv_1", "name": "Default"}]});
        assert_eq!(table_from(&wrapped).unwrap(), table_from(&bare).unwrap());
        assert_eq!(
            table_from(&bare).unwrap().first_view_id.as_deref(),
            Some("gv_1")
        );
    }

    #[test]
    fn json_cells_round_trip_as_json() {
        let v = value_json(&CellValue::Json(r#"{"a":[1,2]}"#.into()));
        assert_eq!(
            value_from_json(&v),
            CellValue::Json(r#"{"a":[1,2]}"#.into())
        );
    }

    /// Bodies written by hand, not by `run_result_json`: a run answer without a usable
    /// `creditsSpent` is "not said", never "nothing was spent".
    #[test]
    fn a_run_answer_that_omits_what_it_spent_is_unreported() {
        let said: Value =
            serde_json::from_str(r#"{"runMode":"INDIVIDUAL","recordCount":3,"creditsSpent":4.5}"#)
                .unwrap();
        let r = run_result_from(&said).unwrap();
        assert_eq!((r.credits_spent, r.credits_unreported), (4.5, false));
        for body in [
            r#"{"runMode":"BULK","recordCount":3}"#,
            r#"{"runMode":"BULK","recordCount":3,"creditsSpent":null}"#,
            r#"{"runMode":"BULK","recordCount":3,"creditsSpent":-1}"#,
        ] {
            let r = run_result_from(&serde_json::from_str(body).unwrap()).unwrap();
            assert!(r.credits_unreported, "{body}");
            assert_eq!(r.credits_spent, 0.0, "{body}");
        }
    }
}
