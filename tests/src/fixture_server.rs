//! A plain HTTP server answering Clay's v3 paths with the hand-written bodies in
//! `tests/fixtures/clay/`, byte for byte as they are on disk: nothing kiln serializes ever
//! reaches the client under test. It records every request so tests can check what kiln
//! asked (one `ownerIds[0]` per member, `isGlobalSearch`, …). See that folder's README for
//! which file answers which request and the facts each one encodes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kiln_host::backend::http::{Credentials, HttpBackend};
use serde_json::Value;

/// The session cookie value the server accepts; anything else is a 401.
pub const FIXTURE_SESSION: &str = "fixture-session";
/// The workspace the fixtures describe.
pub const FIXTURE_WORKSPACE: u64 = 4821;

/// One request as the server received it (the body parsed as JSON when it is JSON).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path without a trailing slash (`/v3/workspaces/4821/resources_v2`).
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub body: Value,
    /// The fixture file that answered (empty when none did).
    pub answered_with: String,
    pub status: u16,
}

impl Recorded {
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    dir: PathBuf,
    log: Mutex<Vec<Recorded>>,
}

/// A running fixture server on 127.0.0.1 (a free port); stops when dropped.
pub struct FixtureServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FixtureServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            dir: crate::fixture("clay"),
            log: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests whose path ends with `suffix`.
    pub fn requests_to(&self, suffix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// kiln's real HTTP backend, logged in with the session the server accepts.
    pub fn backend(&self) -> Arc<HttpBackend> {
        self.backend_with(Credentials::session(FIXTURE_SESSION))
    }

    pub fn backend_with(&self, creds: Credentials) -> Arc<HttpBackend> {
        Arc::new(
            HttpBackend::new(crate::test_http_config(&self.url()), creds).expect("http backend"),
        )
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
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

const NO_ROUTE: (u16, &str) = (404, "error-no-matching-url.json");

/// Which file answers a request, and with what status.
fn route(
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &Value,
) -> (u16, &'static str) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ws = FIXTURE_WORKSPACE.to_string();
    let q = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let table = |t: &str| match t {
        "t_Lds5x2Kq" => Some("leads"),
        "t_OldLds8w" => Some("leads-old"),
        "t_Acc3nts0" => Some("accounts"),
        _ => None,
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["v3", "my-workspaces"]) => (200, "my-workspaces.json"),
        ("GET", ["v3", "workspaces", w, "permissions"]) if *w == ws => (200, "permissions.json"),
        ("GET", ["v3", "workspaces", w, "users"]) if *w == ws => (200, "users.json"),
        ("GET", ["v3", "workspaces", w, "app-accounts"]) if *w == ws => (200, "app-accounts.json"),
        ("GET", ["v3", "app-accounts", "types"]) => (200, "app-account-types.json"),
        ("GET", ["v3", "app-accounts", "type", "hunter"]) => (200, "app-account-type-hunter.json"),
        ("POST", ["v3", "workspaces", w, "resources_v2"]) if *w == ws => resources(body),
        ("GET", ["v3", "tables", t]) => match table(t) {
            Some("leads") => (200, "table-leads.json"),
            Some("leads-old") => (200, "table-leads-old.json"),
            Some("accounts") => (200, "table-accounts.json"),
            _ => (404, "error-not-found-table.json"),
        },
        ("GET", ["v3", "tables", "t_Lds5x2Kq", "views", v, "records", "ids"]) => match *v {
            "gv_AllRws1" => (200, "record-ids-leads-all.json"),
            "gv_Errd2b" => (200, "record-ids-leads-errored.json"),
            _ => NO_ROUTE,
        },
        ("POST", ["v3", "tables", "t_Lds5x2Kq", "bulk-fetch-records"]) => {
            let ids = strings(body.get("recordIds"));
            if ids.is_empty() {
                (400, "error-bad-request-empty-ids.json")
            } else if ids.iter().any(|i| i.starts_with("r_New")) {
                (200, "bulk-fetch-leads-new.json")
            } else {
                (200, "bulk-fetch-leads.json")
            }
        }
        ("POST", ["v3", "tables", "t_Lds5x2Kq", "records"]) => (200, "records-created.json"),
        ("PATCH", ["v3", "tables", "t_Lds5x2Kq", "records"]) => (200, "records-updated.json"),
        ("PATCH", ["v3", "tables", "t_Lds5x2Kq", "run"]) => (400, "error-bad-request-dag.json"),
        ("GET", ["v3", "tables", t, "count"]) => match table(t) {
            Some("leads") => (200, "count-leads.json"),
            Some("leads-old") => (200, "count-leads-old.json"),
            Some("accounts") => (200, "count-accounts.json"),
            _ => (404, "error-not-found-table.json"),
        },
        ("GET", ["v3", "sources"]) if q("tableId") == Some("t_Lds5x2Kq") => {
            (200, "sources-leads.json")
        }
        ("GET", ["v3", "credit-reporting", w, "creditReportType", kind]) if *w == ws => {
            report(kind, query)
        }
        _ => NO_ROUTE,
    }
}

fn resources(body: &Value) -> (u16, &'static str) {
    let filters = body.get("filters").unwrap_or(&Value::Null);
    let search = ["q", "query", "searchQuery"]
        .iter()
        .find_map(|k| filters.get(*k).and_then(Value::as_str));
    if let Some(text) = search {
        let global = [body.get("isGlobalSearch"), filters.get("isGlobalSearch")]
            .iter()
            .any(|g| g.and_then(|v| v.as_bool()) == Some(true));
        return if global && text.to_ascii_lowercase().contains("lead") {
            (200, "resources-search-leads-global.json")
        } else {
            (200, "resources-search-shallow.json")
        };
    }
    if filters.get("ownerIds").is_some() {
        let owners = strings(filters.get("ownerIds"));
        return match owners.as_slice() {
            [one] if one == "7002" => (200, "resources-owned-7002.json"),
            [_, _, ..] => (200, "resources-owned-members.json"),
            _ => NO_ROUTE,
        };
    }
    let parent = body
        .get("parentResource")
        .and_then(|p| p.get("id"))
        .and_then(Value::as_str);
    match parent {
        None => (200, "resources-top.json"),
        Some("fol_8Sales2k") => (200, "resources-folder-sales.json"),
        Some("fol_3Emea7q") => (200, "resources-folder-emea.json"),
        Some("wb_4Prospecting1") => (200, "resources-workbook-prospecting.json"),
        Some("wb_0Customers9") => (200, "resources-workbook-customers.json"),
        Some(_) => NO_ROUTE,
    }
}

fn report(kind: &str, query: &[(String, String)]) -> (u16, &'static str) {
    let indexed = |prefix: &str| -> Vec<&str> {
        query
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let has_range = ["timeRange[startTime]", "timeRange[endTime]"]
        .iter()
        .all(|k| query.iter().any(|(q, _)| q == k));
    if !has_range {
        return (400, "error-bad-request-empty-ids.json");
    }
    let owners = indexed("ownerIds[");
    match (kind, owners.as_slice()) {
        ("integration", []) => (200, "credits-integration.json"),
        ("workspace", []) if indexed("integrations[").is_empty() => (200, "credits-workspace.json"),
        ("workspace", [one]) => match *one {
            "7001" => (200, "credits-workspace-owner-7001.json"),
            "7002" => (200, "credits-workspace-owner-7002.json"),
            "7003" => (200, "credits-workspace-owner-7003.json"),
            "7004" => (200, "credits-workspace-owner-7004.json"),
            _ => NO_ROUTE,
        },
        // Clay's UI asks per member; the fixtures answer only that way.
        ("workspace", [_, _, ..]) => (400, "error-bad-request-empty-ids.json"),
        _ => NO_ROUTE,
    }
}

fn authenticated(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|kv| kv.trim() == format!("claysession={FIXTURE_SESSION}"))
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_string();
    let query = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, file) = if authenticated(&headers) {
        route(&method, &path, &query, &json)
    } else {
        (401, "error-unauthorized.json")
    };
    shared
        .log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Recorded {
            method: method.to_string(),
            path,
            query,
            body: json,
            answered_with: file.to_string(),
            status,
        });
    let bytes = match tokio::fs::read(shared.dir.join(file)).await {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("fixture {file}: {e}"),
            )
                .into_response();
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}
