//! Clay v3's JSON shapes, in both directions: the HTTP backend parses them, the simulator
//! writes them. Parsing is tolerant — unknown fields are ignored, and where public clients
//! disagree on a name or an envelope both are accepted (see `clay-v3.md`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::backend::model::*;

/// Milliseconds since the epoch as Clay writes them: an ISO-8601 instant.
pub fn iso(ms: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
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

fn time_field(v: &Value, keys: &[&str]) -> Timestamp {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(parse_time))
        .unwrap_or(0)
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

/// Ids are numbers in some places and strings in others; kiln keeps them as text.
pub fn id_json(id: &str) -> Value {
    id.parse::<u64>().map(Value::from).unwrap_or(json!(id))
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

fn status_str(s: &CellStatus) -> String {
    match s {
        CellStatus::Success => "SUCCESS".into(),
        CellStatus::Pending => "PENDING".into(),
        CellStatus::RunConditionNotMet => "ERROR_RUN_CONDITION_NOT_MET".into(),
        CellStatus::Error(code) => code.clone(),
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

/// Cells keep the row's field order on the wire (a JSON object, written in order), so a
/// plugin sees the same row over HTTP as from the embedded workspace.
struct OrderedCells<'a>(&'a [Cell]);

impl Serialize for OrderedCells<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            let mut cell = json!({ "value": value_json(&c.value) });
            if let Some(status) = &c.status {
                cell["metadata"] = json!({ "status": status_str(status) });
            }
            map.serialize_entry(&c.field_id, &cell)?;
        }
        map.end()
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

/// A record as Clay answers it. Serialized straight to text (never through `Value`, whose
/// map would sort the cells).
#[derive(Serialize)]
pub struct RecordOut<'a> {
    id: &'a str,
    cells: OrderedCells<'a>,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
}

pub fn record_out(row: &Row) -> RecordOut<'_> {
    RecordOut {
        id: &row.id,
        cells: OrderedCells(&row.cells),
        created_at: iso(row.created_at),
        updated_at: iso(row.updated_at),
    }
}

/// `{"<key>":[record…]}` as JSON text.
pub fn records_body(key: &str, rows: &[Row]) -> String {
    let records: Vec<RecordOut<'_>> = rows.iter().map(record_out).collect();
    let mut map = std::collections::BTreeMap::new();
    map.insert(key, records);
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
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
            created_at: parse_time(&r.created_at).unwrap_or(0),
            updated_at: parse_time(&r.updated_at).unwrap_or(0),
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

/// Record ids: `{"results":[…]}`, `{"recordIds":[…]}` or a bare array.
pub fn ids_from(v: &Value) -> Parsed<Vec<String>> {
    Ok(list(v, &["results", "recordIds", "ids"])?
        .iter()
        .filter_map(|x| match x {
            Value::String(s) => Some(s.clone()),
            other => other.get("id").and_then(Value::as_str).map(str::to_string),
        })
        .collect())
}

/// The row count: `tableTotalRecordsCount`, or `count` as some clients read it.
pub fn count_from(v: &Value) -> Parsed<u64> {
    num_field(v, &["tableTotalRecordsCount", "count", "totalRecordsCount"])
        .map(|n| n as u64)
        .ok_or_else(|| ShapeError("expected tableTotalRecordsCount or count".into()))
}

// ---- workspaces, folders, workbooks, resources ----

pub fn workspace_json(w: &Workspace) -> Value {
    json!({ "id": w.id, "name": w.name, "credits": w.credit_balance })
}

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

pub fn folder_json(f: &Folder) -> Value {
    json!({ "id": f.id, "name": f.name, "workspaceId": f.workspace_id, "parentFolderId": f.parent_folder_id })
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

pub fn workbook_json(w: &Workbook) -> Value {
    json!({
        "id": w.id, "name": w.name, "workspaceId": w.workspace_id,
        "parentFolderId": w.parent_folder_id, "settings": { "isAutoRun": w.auto_run },
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

pub fn resource_json(r: &Resource) -> Value {
    json!({
        "id": r.id, "name": r.name, "type": kind_wire(r.kind), "parentId": r.parent_id,
        "createdByUserId": r.created_by, "createdAt": iso(r.created_at),
        "updatedAt": iso(r.updated_at), "isDeleted": r.deleted,
    })
}

pub fn resources_from(v: &Value) -> Parsed<Vec<Resource>> {
    let mut out = Vec::new();
    for r in list(v, &["resources", "results"])? {
        let Some(kind) = str_field(r, &["resourceType", "type"]).and_then(|k| kind_from_wire(&k))
        else {
            continue; // kinds kiln does not model
        };
        out.push(Resource {
            id: str_field(r, &["id"]).ok_or_else(|| ShapeError("resource without an id".into()))?,
            name: str_field(r, &["name"]).unwrap_or_default(),
            kind,
            parent_id: str_field(r, &["parentId", "parentFolderId", "workbookId"]),
            created_by: str_field(r, &["createdByUserId", "ownerId", "createdBy"]),
            created_at: time_field(r, &["createdAt"]),
            updated_at: time_field(r, &["updatedAt"]),
            deleted: bool_field(r, &["isDeleted", "deleted"])
                .unwrap_or_else(|| r.get("deletedAt").is_some_and(|d| !d.is_null())),
        });
    }
    Ok(out)
}

// ---- tables ----

fn field_kind_wire(k: FieldKind) -> &'static str {
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

fn table_kind_wire(k: TableKind) -> &'static str {
    match k {
        TableKind::Spreadsheet => "spreadsheet",
        TableKind::Company => "company",
        TableKind::People => "people",
        TableKind::Jobs => "jobs",
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

pub fn table_json(t: &TableInfo) -> Value {
    let fields: Vec<Value> = t
        .fields
        .iter()
        .map(|f| {
            let mut v = json!({ "id": f.id, "name": f.name, "type": field_kind_wire(f.kind) });
            if let Some(a) = &f.action {
                v["typeSettings"] = json!({
                    "actionKey": a.action_key, "actionPackageId": a.package_id,
                    "authAccountId": a.auth_account_id, "creditCost": a.credit_cost,
                    "inputFieldIds": a.input_field_ids,
                });
            }
            v
        })
        .collect();
    let views: Vec<Value> = t
        .views
        .iter()
        .map(|v| json!({ "id": v.id, "name": v.name }))
        .collect();
    json!({
        "table": {
            "id": t.id, "name": t.name, "type": table_kind_wire(t.kind),
            "workspaceId": t.workspace_id, "workbookId": t.workbook_id,
            "firstViewId": t.first_view_id, "views": views, "fields": fields,
        },
        "extraData": {},
    })
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

fn field_from(f: &Value) -> Option<Field> {
    let kind = field_kind_from(&str_field(f, &["type"]).unwrap_or_default());
    let settings = f.get("typeSettings").unwrap_or(&Value::Null);
    let action = str_field(settings, &["actionKey"]).map(|action_key| ActionConfig {
        action_key,
        package_id: str_field(settings, &["actionPackageId"]).unwrap_or_default(),
        auth_account_id: str_field(settings, &["authAccountId"]),
        credit_cost: num_field(settings, &["creditCost"]),
        input_field_ids: settings
            .get("inputFieldIds")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
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

pub fn run_result_json(r: &RunResult) -> Value {
    let mode = match r.mode {
        RunMode::None => "NONE",
        RunMode::Individual => "INDIVIDUAL",
        RunMode::Bulk => "BULK",
    };
    json!({ "runMode": mode, "recordCount": r.record_count, "creditsSpent": r.credits_spent })
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

pub fn source_json(s: &Source) -> Value {
    json!({
        "id": s.id, "name": s.name, "tableId": s.table_id, "type": s.kind,
        "url": s.url, "state": { "numSourceRecords": s.records_received },
    })
}

pub fn source_from(v: &Value) -> Parsed<Source> {
    let v = unwrap_one(v, "source");
    Ok(Source {
        id: str_field(v, &["id"]).ok_or_else(|| ShapeError("source without an id".into()))?,
        name: str_field(v, &["name"]).unwrap_or_default(),
        table_id: str_field(v, &["tableId"]).unwrap_or_default(),
        kind: str_field(v, &["type", "kind"]).unwrap_or_else(|| "webhook".into()),
        url: str_field(v, &["url", "webhookUrl"]).or_else(|| {
            v.pointer("/typeSettings/webhookUrl")
                .and_then(|u| u.as_str().map(str::to_string))
        }),
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

pub fn role_wire(r: Role) -> &'static str {
    match r {
        Role::Admin => "ADMIN",
        Role::Member => "MEMBER",
    }
}

pub fn permissions_json(members: &[Member]) -> Value {
    let perms: Vec<Value> = members
        .iter()
        .map(|m| {
            let pending = m.status == MemberStatus::Pending;
            let user = (!pending).then(|| json!({ "id": id_json(&m.user_id), "name": m.name, "email": m.email }));
            let mut p = json!({
                "userId": id_json(&m.user_id), "email": m.email, "pending": pending,
                "user": user, "roleId": if m.role == Role::Admin { 1 } else { 2 },
                "role": { "id": if m.role == Role::Admin { 1 } else { 2 }, "role": role_wire(m.role) },
            });
            // Clay drops removed members from this list; kiln's workspaces keep them, marked.
            if m.status == MemberStatus::Removed {
                p["status"] = json!("REMOVED");
            }
            p
        })
        .collect();
    json!({ "userPermissions": perms })
}

pub fn users_json(members: &[Member]) -> Value {
    let users: Vec<Value> = members
        .iter()
        .map(|m| json!({ "id": id_json(&m.user_id), "name": m.name, "email": m.email }))
        .collect();
    json!({ "users": users })
}

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
            let user_id = str_field(p, &["userId"])
                .or_else(|| user.and_then(|u| str_field(u, &["id"])))
                .unwrap_or_else(|| email.clone());
            let named = users.iter().find(|u| {
                str_field(u, &["id"]).as_deref() == Some(&user_id)
                    || str_field(u, &["email"]).as_deref() == Some(&email)
            });
            let name = user
                .and_then(|u| str_field(u, &["name", "fullName"]))
                .or_else(|| named.and_then(|u| str_field(u, &["name", "fullName"])))
                .unwrap_or_else(|| email.clone());
            let role_text = p
                .pointer("/role/role")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| str_field(p, &["role"]))
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
                role: if role_text.eq_ignore_ascii_case("admin") {
                    Role::Admin
                } else {
                    Role::Member
                },
                status,
            })
        })
        .collect()
}

pub fn integration_json(i: &Integration) -> Value {
    json!({
        "id": i.id, "name": i.name, "appAccountTypeId": i.type_id,
        "ownerId": i.owner_id, "createdAt": iso(i.created_at),
    })
}

pub fn integrations_from(v: &Value) -> Parsed<Vec<Integration>> {
    list(v, &["appAccounts", "results"])?
        .iter()
        .map(|i| {
            Ok(Integration {
                id: str_field(i, &["id"])
                    .ok_or_else(|| ShapeError("app account without an id".into()))?,
                name: str_field(i, &["name"]).unwrap_or_default(),
                type_id: str_field(
                    i,
                    &["appAccountTypeId", "type", "typeId", "actionPackageId"],
                )
                .unwrap_or_default(),
                owner_id: str_field(i, &["ownerId", "createdByUserId"]),
                created_at: time_field(i, &["createdAt"]),
            })
        })
        .collect()
}

pub fn integration_type_json(t: &IntegrationType) -> Value {
    json!({
        "id": t.id, "authenticationType": t.authentication_type,
        "displayMetadata": { "name": t.name, "providerName": t.provider_name },
    })
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

fn entity_json(
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

pub fn report_json(r: &CreditReport) -> Value {
    let entities: Vec<Value> = r
        .entities
        .iter()
        .map(|e| {
            let mut m = entity_json(
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
                    Value::Object(entity_json(
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

/// Clay's typed error body.
pub fn error_json(kind: &str, message: &str) -> Value {
    json!({ "type": kind, "message": message })
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
        assert_eq!(rows[0].created_at, 1_767_225_600_000);
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
