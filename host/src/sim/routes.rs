//! The v3 routes: each parses Clay's body, calls the member's `LocalBackend`, and answers
//! in Clay's envelope for that endpoint.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use super::{SimState, shapes};
use crate::backend::http::auth::SESSION_COOKIE;
use crate::backend::http::errors::to_status;
use crate::backend::http::{WRITE_BATCH, wire};
use crate::backend::local::LocalBackend;
use crate::backend::model::*;
use crate::backend::{Clay, ClayError};

pub(crate) struct ApiError(StatusCode, &'static str, String);

impl From<ClayError> for ApiError {
    fn from(e: ClayError) -> Self {
        let (status, kind) = to_status(&e);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match e {
            ClayError::NotFound(m)
            | ClayError::Denied(m)
            | ClayError::Invalid(m)
            | ClayError::BudgetExhausted(m)
            | ClayError::Conflict(m)
            | ClayError::Upstream(m)
            | ClayError::Unavailable(m) => m,
            ClayError::RateLimited(ms) => format!("retry after {ms} ms"),
        };
        ApiError(status, kind, message)
    }
}

impl From<wire::ShapeError> for ApiError {
    fn from(e: wire::ShapeError) -> Self {
        ApiError(StatusCode::BAD_REQUEST, "BadRequest", e.0)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(shapes::error(self.1, &self.2, None))).into_response()
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "BadRequest", message.into())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, "Unauthorized", message.into())
}

type Api = Result<axum::Json<Value>, ApiError>;
type S = State<Arc<SimState>>;

fn ok(v: Value) -> Api {
    Ok(axum::Json(v))
}

fn body_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

fn body_text(body: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn workspace(ws: &str) -> Result<u64, ApiError> {
    ws.parse()
        .map_err(|_| ApiError(StatusCode::NOT_FOUND, "NotFound", format!("workspace {ws}")))
}

/// The member a request acts as: a live session cookie, or the configured API key.
fn member(s: &SimState, headers: &HeaderMap) -> Result<LocalBackend, ApiError> {
    if let Some(key) = &s.config.api_key
        && let Some(given) = headers.get(header::AUTHORIZATION)
    {
        return if given.as_bytes() == key.expose_secret().as_bytes() {
            Ok(s.backend.clone())
        } else {
            Err(unauthorized("invalid API key"))
        };
    }
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE).then(|| v.to_string())
        })
        .ok_or_else(|| unauthorized("log in first"))?;
    s.sessions
        .get(&token)
        .ok_or_else(|| unauthorized("session expired or invalid"))
}

pub(crate) fn router(state: Arc<SimState>) -> Router {
    let v3 = Router::new()
        .route("/auth/login", post(login))
        .route("/my-workspaces", get(my_workspaces))
        .route("/workspaces/{ws}/folders", post(create_folder))
        .route("/workspaces/{ws}/resources", delete(delete_resources))
        .route("/workspaces/{ws}/resources/", delete(delete_resources))
        .route("/workspaces/{ws}/resources/search", post(search))
        .route("/workspaces/{ws}/resources_v2", post(resources_v2))
        .route("/workspaces/{ws}/resources_v2/", post(resources_v2))
        .route("/workspaces/{ws}/permissions", get(permissions))
        .route("/workspaces/{ws}/users", get(users))
        .route("/workspaces/{ws}/app-accounts", get(app_accounts))
        .route("/workbooks", post(create_workbook))
        .route("/workbooks/{wb}", delete(delete_workbook))
        .route("/tables/{t}", get(get_table).patch(add_source))
        .route("/tables/{t}/views/{v}/records/ids", get(record_ids))
        .route("/tables/{t}/bulk-fetch-records", post(bulk_fetch))
        .route(
            "/tables/{t}/records",
            post(add_records)
                .patch(update_records)
                .delete(delete_records),
        )
        .route("/tables/{t}/run", patch(run))
        .route("/tables/{t}/count", get(count))
        .route("/sources", get(sources))
        .route("/sources/{s}", delete(delete_source))
        .route(
            "/credit-reporting/{ws}/creditReportType/{kind}",
            get(report),
        )
        .route("/app-accounts/types", get(app_account_types))
        .route("/app-accounts/type/{ty}", get(app_account_type));
    Router::new()
        .nest("/v3", v3)
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "NoMatchingURL",
                "no such endpoint".into(),
            )
        })
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::faults::inject,
        ))
        .with_state(state)
}

/// Method, path and status only: bodies and headers may hold passwords and cookies.
async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = next.run(req).await;
    tracing::debug!(target: "kiln::sim", %method, %path, status = resp.status().as_u16(), "request");
    resp
}

async fn login(State(s): S, body: Bytes) -> Result<Response, ApiError> {
    let body = body_json(&body)?;
    let email = body.get("email").and_then(Value::as_str).unwrap_or("");
    let password = body.get("password").and_then(Value::as_str).unwrap_or("");
    let Some(expected) = &s.config.password else {
        return Err(unauthorized(
            "log-in is off: start clay-sim with --password (or KILN_SIM_PASSWORD)",
        ));
    };
    let mut found = None;
    for ws in s.backend.list_workspaces().await? {
        found = s
            .backend
            .permissions(ws.id)
            .await?
            .into_iter()
            .find(|m| m.email.eq_ignore_ascii_case(email) && m.status == MemberStatus::Active);
        if found.is_some() {
            break;
        }
    }
    // One answer for a wrong email and a wrong password: no probing for members.
    let member = match found {
        Some(m) if password.as_bytes() == expected.expose_secret().as_bytes() => m,
        _ => return Err(unauthorized("wrong email or password")),
    };
    let backend = s.backend.clone();
    let user_id = member
        .user_id
        .clone()
        .ok_or_else(|| unauthorized("wrong email or password"))?;
    let acting_id = user_id.clone();
    let acting = tokio::task::spawn_blocking(move || backend.acting_as(&acting_id))
        .await
        .map_err(|e| ClayError::Unavailable(e.to_string()))?
        .map_err(|e| ClayError::Unavailable(e.to_string()))?;
    let token = s.sessions.open(acting);
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Max-Age={}",
        s.sessions.ttl().as_secs()
    );
    let mut resp = axum::Json(json!({ "id": shapes::user_id(&user_id), "email": member.email }))
        .into_response();
    let mut value = HeaderValue::from_str(&cookie).map_err(|_| bad("cookie"))?;
    value.set_sensitive(true);
    resp.headers_mut().insert(header::SET_COOKIE, value);
    Ok(resp)
}

async fn my_workspaces(State(s): S, h: HeaderMap) -> Api {
    let b = member(&s, &h)?;
    let ws: Vec<Value> = b
        .list_workspaces()
        .await?
        .iter()
        .map(shapes::workspace)
        .collect();
    ok(json!({ "results": ws }))
}

async fn create_folder(State(s): S, h: HeaderMap, Path(ws): Path<String>, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("name is required"))?;
    let parent = body.get("parentFolderId").and_then(Value::as_str);
    ok(shapes::folder(
        &b.create_folder(workspace(&ws)?, name, parent).await?,
    ))
}

async fn delete_resources(State(s): S, h: HeaderMap, Path(ws): Path<String>, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    let ws = workspace(&ws)?;
    let permanent = body
        .get("isPermanentDelete")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !strings(&body, "tableIds").is_empty() {
        return Err(bad("deleting tables is not supported by kiln's workspaces"));
    }
    let folders = strings(&body, "folderIds");
    if !folders.is_empty() {
        b.delete_folders(ws, &folders, permanent).await?;
    }
    for wb in strings(&body, "workbookIds") {
        b.delete_workbook(&wb).await?;
    }
    ok(json!({}))
}

fn kinds(filters: &Value) -> Vec<ResourceKind> {
    strings(filters, "resourceTypes")
        .iter()
        .filter_map(|k| wire::kind_from_wire(k))
        .collect()
}

/// resources_v2 entries carry their owner, and a TABLE its table kind, as Clay's do.
async fn resources(b: &LocalBackend, ws: u64, list: &[Resource]) -> Api {
    let members = b.permissions(ws).await?;
    let mut items = Vec::with_capacity(list.len());
    for r in list {
        let owner = r
            .created_by
            .as_deref()
            .and_then(|id| members.iter().find(|m| m.user_id.as_deref() == Some(id)));
        let kind = match r.kind {
            ResourceKind::Table => b.get_table(&r.id).await.ok().map(|t| t.kind),
            _ => None,
        };
        items.push(shapes::resource(r, owner, kind));
    }
    ok(json!({ "resources": items }))
}

async fn resources_v2(State(s): S, h: HeaderMap, Path(ws): Path<String>, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    let ws = workspace(&ws)?;
    let filters = body.get("filters").cloned().unwrap_or(Value::Null);
    let wanted = kinds(&filters);
    let keep = |r: &Resource| wanted.is_empty() || wanted.contains(&r.kind);
    if let Some(q) = filters
        .get("q")
        .or_else(|| filters.get("query"))
        .or_else(|| filters.get("searchQuery"))
        .and_then(Value::as_str)
    {
        if s.config.faults.blind_search {
            return resources(&b, ws, &[]).await;
        }
        // As Clay: without `isGlobalSearch` a search sees only the top of the tree.
        let global = body.get("isGlobalSearch").and_then(Value::as_bool) == Some(true);
        let found: Vec<Resource> = b
            .search_resources(ws, q)
            .await?
            .into_iter()
            .filter(keep)
            .filter(|r| global || r.parent_id.is_none())
            .collect();
        return resources(&b, ws, &found).await;
    }
    if filters.get("ownerIds").is_some() {
        let owners = strings(&filters, "ownerIds");
        let found: Vec<Resource> = b
            .user_resources(ws, &owners)
            .await?
            .into_iter()
            .filter(keep)
            .collect();
        return resources(&b, ws, &found).await;
    }
    let parent = match body.get("parentResource") {
        Some(p) if p.is_object() => Some(ResourceRef {
            id: p
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("parentResource.id is required"))?
                .to_string(),
            kind: p
                .get("type")
                .and_then(Value::as_str)
                .and_then(wire::kind_from_wire)
                .ok_or_else(|| bad("parentResource.type must be FOLDER, WORKBOOK or TABLE"))?,
        }),
        _ => None,
    };
    let found = b.list_resources(ws, parent.as_ref(), &wanted).await?;
    resources(&b, ws, &found).await
}

/// The other clients' search: `POST …/resources/search {"query"}`.
async fn search(State(s): S, h: HeaderMap, Path(ws): Path<String>, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    let q = body.get("query").and_then(Value::as_str).unwrap_or("");
    let ws = workspace(&ws)?;
    let found = b.search_resources(ws, q).await?;
    resources(&b, ws, &found).await
}

async fn create_workbook(State(s): S, h: HeaderMap, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("name is required"))?;
    let ws = body
        .get("workspaceId")
        .and_then(|w| w.as_u64().or_else(|| w.as_str()?.parse().ok()))
        .ok_or_else(|| bad("workspaceId is required"))?;
    let auto_run = body
        .pointer("/settings/isAutoRun")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let parent = body.get("parentFolderId").and_then(Value::as_str);
    ok(shapes::workbook(
        &b.create_workbook(ws, name, auto_run, parent).await?,
    ))
}

async fn delete_workbook(State(s): S, h: HeaderMap, Path(wb): Path<String>) -> Api {
    member(&s, &h)?.delete_workbook(&wb).await?;
    ok(json!({}))
}

async fn get_table(State(s): S, h: HeaderMap, Path(t): Path<String>) -> Api {
    ok(shapes::table(&member(&s, &h)?.get_table(&t).await?))
}

async fn add_source(State(s): S, h: HeaderMap, Path(t): Path<String>, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    let name = wire::webhook_source_name(&body)
        .ok_or_else(|| bad("expected sourceSettings.addSource.source.name"))?;
    let ws = b.get_table(&t).await?.workspace_id;
    ok(shapes::source(&b.add_webhook_source(&t, &name).await?, ws))
}

async fn record_ids(State(s): S, h: HeaderMap, Path((t, v)): Path<(String, String)>) -> Api {
    let mut ids = member(&s, &h)?.record_ids(&t, &v).await?;
    // Clay's list can end with this placeholder, which is no record.
    ids.push("search".into());
    ok(json!({ "results": ids }))
}

/// Records go out as text straight from their rows, so cells keep their order.
fn records(key: &str, rows: &[Row]) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        shapes::records(key, rows),
    )
        .into_response()
}

async fn bulk_fetch(
    State(s): S,
    h: HeaderMap,
    Path(t): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b = member(&s, &h)?;
    let ids = strings(&body_json(&body)?, "recordIds");
    if ids.is_empty() {
        return Err(bad("recordIds must not be empty"));
    }
    Ok(records("results", &b.read_records(&t, &ids).await?))
}

async fn add_records(
    State(s): S,
    h: HeaderMap,
    Path(t): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b = member(&s, &h)?;
    let mut rows = wire::new_rows_from_text(body_text(&body)?)?;
    if s.config.faults.drop_created_cells {
        for r in &mut rows {
            r.cells.clear();
        }
    }
    Ok(records("records", &b.add_rows(&t, &rows).await?))
}

async fn update_records(
    State(s): S,
    h: HeaderMap,
    Path(t): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b = member(&s, &h)?;
    let updates = wire::updates_from_text(body_text(&body)?)?;
    if updates.len() > WRITE_BATCH {
        return Err(bad(format!(
            "update at most {WRITE_BATCH} records per call ({} given)",
            updates.len()
        )));
    }
    let delay = s.config.faults.update_delay;
    if delay.is_zero() {
        b.update_rows(&t, &updates).await?;
    } else {
        // Enqueued, as Clay does: the answer comes first, the cells change later.
        let table = t.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = b.update_rows(&table, &updates).await {
                tracing::warn!(error = %e, "clay-sim: a late update failed");
            }
        });
        return Ok(axum::Json(shapes::updates_enqueued()).into_response());
    }
    Ok(axum::Json(shapes::updates_enqueued()).into_response())
}

async fn delete_records(State(s): S, h: HeaderMap, Path(t): Path<String>, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    if body.get("deleteAll").and_then(Value::as_bool) == Some(true) {
        let view = body.get("viewId").and_then(Value::as_str);
        b.delete_all_rows(&t, view).await?;
    } else {
        b.delete_rows(&t, &strings(&body, "recordIds")).await?;
    }
    ok(json!({}))
}

async fn run(State(s): S, h: HeaderMap, Path(t): Path<String>, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    let target = wire::run_target_from(&body)?;
    let force = body
        .get("forceRun")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let fields = strings(&body, "fieldIds");
    let mut answer = shapes::run_result(&b.run_column(&t, &fields, &target, force).await?);
    if s.config.faults.omit_run_credits
        && let Some(o) = answer.as_object_mut()
    {
        o.remove("creditsSpent");
    }
    ok(answer)
}

async fn count(State(s): S, h: HeaderMap, Path(t): Path<String>) -> Api {
    ok(json!({ "tableTotalRecordsCount": member(&s, &h)?.count_rows(&t).await? }))
}

async fn sources(State(s): S, h: HeaderMap, Query(q): Query<Vec<(String, String)>>) -> Api {
    let b = member(&s, &h)?;
    let table = q
        .iter()
        .find(|(k, _)| k == "tableId")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| bad("tableId is required"))?;
    let ws = b.get_table(table).await?.workspace_id;
    let list: Vec<Value> = b
        .list_sources(table)
        .await?
        .iter()
        .map(|src| shapes::source(src, ws))
        .collect();
    ok(Value::Array(list))
}

async fn delete_source(State(s): S, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Api {
    let b = member(&s, &h)?;
    let body = body_json(&body)?;
    let delete_records = body
        .get("deleteRecords")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    b.delete_source(&id, delete_records).await?;
    ok(json!({}))
}

async fn permissions(State(s): S, h: HeaderMap, Path(ws): Path<String>) -> Api {
    let members = member(&s, &h)?.permissions(workspace(&ws)?).await?;
    ok(shapes::permissions(&members))
}

async fn users(State(s): S, h: HeaderMap, Path(ws): Path<String>) -> Api {
    let members = member(&s, &h)?.permissions(workspace(&ws)?).await?;
    ok(shapes::users(&members))
}

async fn app_accounts(State(s): S, h: HeaderMap, Path(ws): Path<String>) -> Api {
    let ws = workspace(&ws)?;
    let list = member(&s, &h)?.integrations(ws).await?;
    ok(Value::Array(
        list.iter().map(|i| shapes::integration(i, ws)).collect(),
    ))
}

async fn app_account_types(State(s): S, h: HeaderMap) -> Api {
    let list = member(&s, &h)?.integration_types().await?;
    ok(Value::Array(
        list.iter().map(shapes::integration_type).collect(),
    ))
}

async fn app_account_type(State(s): S, h: HeaderMap, Path(ty): Path<String>) -> Api {
    ok(shapes::integration_type(
        &member(&s, &h)?.integration_type(&ty).await?,
    ))
}

async fn report(
    State(s): S,
    h: HeaderMap,
    Path((ws, kind)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Api {
    let b = member(&s, &h)?;
    let ws = workspace(&ws)?;
    let time = |key: &str| -> Result<Timestamp, ApiError> {
        let text = q
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| bad(format!("{key} is required")))?;
        wire::parse_time(&Value::String(text))
            .ok_or_else(|| bad(format!("{key} is not an ISO-8601 time")))
    };
    let range = TimeRange {
        start: time("timeRange[startTime]")?,
        end: time("timeRange[endTime]")?,
    };
    let indexed = |prefix: &str| -> Vec<String> {
        q.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let owners = indexed("ownerIds[");
    let integrations = indexed("integrations[");
    let report = match kind.as_str() {
        "integration" => b.integration_report(ws, range).await?,
        "workspace" if !owners.is_empty() => b.user_report(ws, range, &owners).await?,
        "workspace" if !integrations.is_empty() => {
            b.integration_specific_report(ws, range, &integrations)
                .await?
        }
        "workspace" => b.workspace_report(ws, range).await?,
        other => return Err(bad(format!("unknown creditReportType `{other}`"))),
    };
    ok(shapes::report(&report))
}
