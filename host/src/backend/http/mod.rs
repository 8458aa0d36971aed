//! Clay's v3 API over HTTP (reqwest on tokio): the backend for live workspaces.
//!
//! Paths, bodies and envelopes follow `clay-v3.md`; [`wire`] parses them tolerantly and
//! [`transport`] makes each exchange resilient. This module adds what needs more than one
//! exchange: batching, reading back after an ambiguous write, and table lookup by name.
//!
//! Writes follow Clay's own UI: new rows are posted blank with client-generated ids, then
//! their values go in with `PATCH /v3/tables/{t}/records` (`{"records":[{"id","cells":{…}}]}`,
//! plain values). Clay answers that PATCH by enqueueing the updates, which apply later: an
//! update is *submitted*, and only reading the rows back (on by default for new rows,
//! `kiln run --verify` for updates) says what landed.

pub mod auth;
pub mod errors;
pub mod trace;
pub mod transport;
pub mod wire;

use std::collections::{HashSet, VecDeque};

use async_trait::async_trait;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::model::*;
use super::{Clay, ClayError, ClayResult};
pub use auth::{AuthKind, Credentials};
pub use transport::{DEFAULT_CLAY_URL, HttpConfig, HttpStats, SetupError};
use transport::{Failure, Safety, Transport};

/// Rows per write request (Clay takes about 50).
pub const WRITE_BATCH: usize = 50;
/// Record ids per bulk read.
pub const READ_BATCH: usize = super::BULK_READ_IDS;

/// Bounds of a walk over a workspace's tree (see `walk`).
pub const WALK_MAX_NODES: usize = 20_000;
pub const WALK_MAX_LISTINGS: usize = 2_000;

const ALL_KINDS: [ResourceKind; 3] = [
    ResourceKind::Workbook,
    ResourceKind::Table,
    ResourceKind::Folder,
];

/// A session with Clay's v3 API. Cheap to share: one connection pool, one rate limiter.
pub struct HttpBackend {
    t: Transport,
}

impl std::fmt::Debug for HttpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBackend")
            .field("base_url", &self.t.config().base_url)
            .field("auth", &self.t.auth())
            .finish()
    }
}

fn shape(e: wire::ShapeError) -> ClayError {
    ClayError::Upstream(e.to_string())
}

fn settle(f: Failure, consequence: &str) -> ClayError {
    match f {
        Failure::Clay(e) => e,
        Failure::Ambiguous(m) => ClayError::Unavailable(format!("{m}; {consequence}")),
    }
}

/// Logs in with email and password (`POST /v3/auth/login`) and returns the session.
pub async fn login(
    config: &HttpConfig,
    email: &str,
    password: &SecretString,
) -> ClayResult<Credentials> {
    let base =
        transport::parse_base(&config.base_url).map_err(|e| ClayError::Invalid(e.to_string()))?;
    let client = transport::client(config, &Credentials::None)
        .map_err(|e| ClayError::Unavailable(e.to_string()))?;
    let mut url = base;
    if let Ok(mut p) = url.path_segments_mut() {
        p.pop_if_empty().extend(["v3", "auth", "login"]);
    }
    let body = json!({ "email": email, "password": password.expose_secret(), "source": null });
    let resp = client.post(url).json(&body).send().await.map_err(|e| {
        ClayError::Unavailable(format!(
            "could not reach Clay to log in: {}",
            e.without_url()
        ))
    })?;
    let status = resp.status();
    let cookie = resp
        .cookies()
        .find(|c| c.name() == auth::SESSION_COOKIE)
        .map(|c| c.value().to_string());
    if status.is_success() {
        return cookie.map(|c| Credentials::session(&c)).ok_or_else(|| {
            ClayError::Upstream(format!(
                "Clay accepted the log-in but set no `{}` cookie",
                auth::SESSION_COOKIE
            ))
        });
    }
    Err(match status.as_u16() {
        400 | 401 | 403 => ClayError::Denied(
            "Clay did not accept that email and password; check them and run `kiln login` again"
                .into(),
        ),
        429 => ClayError::RateLimited(0),
        s => ClayError::Upstream(format!("logging in: Clay answered HTTP {s}")),
    })
}

impl HttpBackend {
    pub fn new(config: HttpConfig, creds: Credentials) -> Result<Self, SetupError> {
        Ok(Self {
            t: Transport::new(config, creds)?,
        })
    }

    /// Requests, retries and failures so far.
    pub fn stats(&self) -> HttpStats {
        self.t.stats()
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> ClayResult<Value> {
        let url = self.t.url(segments);
        let body = body.map(Value::to_string);
        let safety = if method == Method::DELETE {
            Safety::Delete
        } else {
            Safety::Idempotent
        };
        self.t
            .json(method, url, body.as_deref(), safety)
            .await
            .map_err(|f| settle(f, "try again"))
    }

    async fn get(&self, segments: &[&str]) -> ClayResult<Value> {
        self.call(Method::GET, segments, None).await
    }

    async fn report(
        &self,
        workspace_id: u64,
        kind: &str,
        range: TimeRange,
        filter: Option<(&str, &[String])>,
    ) -> ClayResult<CreditReport> {
        let ws = workspace_id.to_string();
        let mut url = self
            .t
            .url(&["v3", "credit-reporting", &ws, "creditReportType", kind]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("timeRange[startTime]", &wire::iso(range.start));
            q.append_pair("timeRange[endTime]", &wire::iso(range.end));
            if let Some((key, ids)) = filter {
                for (i, id) in ids.iter().enumerate() {
                    q.append_pair(&format!("{key}[{i}]"), id);
                }
            }
        }
        let v = self
            .t
            .json(Method::GET, url, None, Safety::Idempotent)
            .await
            .map_err(|f| settle(f, "try again"))?;
        wire::report_from(&v, range).map_err(shape)
    }

    async fn resources_v2(&self, workspace_id: u64, body: Value) -> ClayResult<Vec<Resource>> {
        let ws = workspace_id.to_string();
        // A read, though it is a POST.
        let v = self
            .call(
                Method::POST,
                &["v3", "workspaces", &ws, "resources_v2", ""],
                Some(&body),
            )
            .await?;
        wire::resources_from(&v).map_err(shape)
    }

    /// Every resource of a workspace, level by level from the top: folders and workbooks
    /// are listed in turn. Bounded by [`WALK_MAX_NODES`] resources and
    /// [`WALK_MAX_LISTINGS`] requests, so a huge or cyclic tree cannot run on.
    async fn walk(&self, workspace_id: u64) -> ClayResult<Vec<Resource>> {
        let mut out: Vec<Resource> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<Option<ResourceRef>> = VecDeque::from([None]);
        let mut listings = 0usize;
        while let Some(parent) = queue.pop_front() {
            if listings >= WALK_MAX_LISTINGS || out.len() >= WALK_MAX_NODES {
                tracing::warn!(
                    workspace = workspace_id,
                    resources = out.len(),
                    listings,
                    "stopped walking the workspace's tree at its bound; some tables may be missing"
                );
                break;
            }
            listings += 1;
            let level = match self
                .list_resources(workspace_id, parent.as_ref(), &ALL_KINDS)
                .await
            {
                Ok(level) => level,
                // One folder the user may not open does not hide the rest of the tree.
                Err(e @ (ClayError::NotFound(_) | ClayError::Denied(_))) if parent.is_some() => {
                    tracing::debug!(error = %e, "skipped a folder while walking the tree");
                    continue;
                }
                Err(e) => return Err(e),
            };
            for r in level {
                if !seen.insert(r.id.clone()) {
                    continue;
                }
                if matches!(r.kind, ResourceKind::Folder | ResourceKind::Workbook) && !r.deleted {
                    queue.push_back(Some(ResourceRef {
                        id: r.id.clone(),
                        kind: r.kind,
                    }));
                }
                out.push(r);
            }
        }
        Ok(out)
    }

    /// One batch of new (blank) rows, each with its id. After an ambiguous failure, reads back which
    /// rows landed and re-sends only the others, so a retry never duplicates a row.
    async fn add_batch(&self, table_id: &str, batch: &[NewRow]) -> ClayResult<Vec<Row>> {
        let url = self.t.url(&["v3", "tables", table_id, "records"]);
        let mut pending: Vec<NewRow> = batch.to_vec();
        let mut landed: Vec<Row> = Vec::with_capacity(batch.len());
        let mut unsure = 0u32;
        loop {
            let body = wire::new_records_body(&pending);
            match self
                .t
                .text(Method::POST, url.clone(), Some(&body), Safety::Once)
                .await
            {
                Ok(text) => {
                    landed.extend(wire::records_from_text(&text).map_err(shape)?);
                    break;
                }
                // A row of ours exists: an earlier attempt landed after all.
                Err(Failure::Clay(ClayError::Conflict(_))) if unsure > 0 => {}
                Err(Failure::Clay(e)) => return Err(e),
                Err(Failure::Ambiguous(m)) => {
                    unsure += 1;
                    if unsure > self.t.config().max_retries {
                        return Err(ClayError::Unavailable(format!(
                            "{m}; gave up after {unsure} attempts. Rows already written keep their ids, so running again adds only the missing ones"
                        )));
                    }
                }
            }
            let ids: Vec<String> = pending.iter().filter_map(|r| r.id.clone()).collect();
            let present = self.read_records(table_id, &ids).await?;
            let present_ids: HashSet<&str> = present.iter().map(|r| r.id.as_str()).collect();
            pending.retain(|r| !r.id.as_deref().is_some_and(|id| present_ids.contains(id)));
            tracing::debug!(
                table = table_id,
                landed = present.len(),
                resend = pending.len(),
                "checked which rows of an unanswered write landed"
            );
            landed.extend(present);
            if pending.is_empty() {
                break;
            }
            self.t.counters.retried();
        }
        // Answer in the order asked.
        let mut ordered = Vec::with_capacity(landed.len());
        for r in batch {
            if let Some(pos) = landed.iter().position(|l| Some(&l.id) == r.id.as_ref()) {
                ordered.push(landed.swap_remove(pos));
            }
        }
        ordered.extend(landed);
        Ok(ordered)
    }
}

#[async_trait]
impl Clay for HttpBackend {
    async fn list_workspaces(&self) -> ClayResult<Vec<Workspace>> {
        let v = self.get(&["v3", "my-workspaces"]).await?;
        wire::workspaces_from(&v).map_err(shape)
    }

    async fn create_folder(
        &self,
        workspace_id: u64,
        name: &str,
        parent_folder_id: Option<&str>,
    ) -> ClayResult<Folder> {
        let ws = workspace_id.to_string();
        let mut body = json!({ "name": name });
        if let Some(p) = parent_folder_id {
            body["parentFolderId"] = json!(p);
        }
        let url = self.t.url(&["v3", "workspaces", &ws, "folders"]);
        let v = self
            .t
            .json(Method::POST, url, Some(&body.to_string()), Safety::Once)
            .await
            .map_err(|f| {
                settle(
                    f,
                    "the folder may have been created; look before creating it again",
                )
            })?;
        wire::folder_from(&v).map_err(shape)
    }

    async fn delete_folders(
        &self,
        workspace_id: u64,
        folder_ids: &[String],
        permanent: bool,
    ) -> ClayResult<()> {
        let ws = workspace_id.to_string();
        let body = json!({
            "folderIds": folder_ids, "tableIds": [], "workbookIds": [],
            "isPermanentDelete": permanent,
        });
        self.call(
            Method::DELETE,
            &["v3", "workspaces", &ws, "resources", ""],
            Some(&body),
        )
        .await
        .map(drop)
    }

    async fn list_resources(
        &self,
        workspace_id: u64,
        parent: Option<&ResourceRef>,
        kinds: &[ResourceKind],
    ) -> ClayResult<Vec<Resource>> {
        let kinds = if kinds.is_empty() {
            &ALL_KINDS[..]
        } else {
            kinds
        };
        let parent = parent.map(|p| json!({ "id": p.id, "type": wire::kind_wire(p.kind) }));
        let types: Vec<&str> = kinds.iter().map(|k| wire::kind_wire(*k)).collect();
        self.resources_v2(
            workspace_id,
            json!({ "parentResource": parent, "filters": { "resourceTypes": types } }),
        )
        .await
    }

    async fn search_resources(&self, workspace_id: u64, query: &str) -> ClayResult<Vec<Resource>> {
        let query = query.trim();
        // Everything: only the tree itself is sure to hold nested workbooks' tables.
        if query.is_empty() {
            return self.walk(workspace_id).await;
        }
        let found = self
            .resources_v2(
                workspace_id,
                json!({ "parentResource": null, "filters": { "q": query }, "isGlobalSearch": true }),
            )
            .await?;
        if !found.is_empty() {
            return Ok(found);
        }
        // Search gave nothing: a deployment that reads the query elsewhere, or an index
        // behind the tree. The tree has the answer.
        let q = query.to_lowercase();
        Ok(self
            .walk(workspace_id)
            .await?
            .into_iter()
            .filter(|r| r.name.to_lowercase().contains(&q))
            .collect())
    }

    async fn create_workbook(
        &self,
        workspace_id: u64,
        name: &str,
        auto_run: bool,
        parent_folder_id: Option<&str>,
    ) -> ClayResult<Workbook> {
        let mut body = json!({
            "name": name, "workspaceId": workspace_id, "settings": { "isAutoRun": auto_run },
        });
        if let Some(p) = parent_folder_id {
            body["parentFolderId"] = json!(p);
        }
        let url = self.t.url(&["v3", "workbooks"]);
        let v = self
            .t
            .json(Method::POST, url, Some(&body.to_string()), Safety::Once)
            .await
            .map_err(|f| {
                settle(
                    f,
                    "the workbook may have been created; look before creating it again",
                )
            })?;
        wire::workbook_from(&v).map_err(shape)
    }

    async fn delete_workbook(&self, workbook_id: &str) -> ClayResult<()> {
        self.call(Method::DELETE, &["v3", "workbooks", workbook_id], None)
            .await
            .map(drop)
    }

    async fn get_table(&self, table_id: &str) -> ClayResult<TableInfo> {
        let v = self.get(&["v3", "tables", table_id]).await?;
        wire::table_from(&v).map_err(shape)
    }

    async fn record_ids(&self, table_id: &str, view_id: &str) -> ClayResult<Vec<String>> {
        let v = self
            .get(&["v3", "tables", table_id, "views", view_id, "records", "ids"])
            .await?;
        wire::ids_from(&v).map_err(shape)
    }

    async fn read_records(&self, table_id: &str, record_ids: &[String]) -> ClayResult<Vec<Row>> {
        let url = self
            .t
            .url(&["v3", "tables", table_id, "bulk-fetch-records"]);
        let mut rows = Vec::with_capacity(record_ids.len());
        for chunk in record_ids.chunks(READ_BATCH) {
            let body = json!({ "recordIds": chunk });
            let text = self
                .t
                .text(
                    Method::POST,
                    url.clone(),
                    Some(&body.to_string()),
                    Safety::Idempotent,
                )
                .await
                .map_err(|f| settle(f, "try again"))?;
            rows.extend(wire::records_from_text(&text).map_err(shape)?);
        }
        Ok(rows)
    }

    async fn add_rows(&self, table_id: &str, rows: &[NewRow]) -> ClayResult<Vec<Row>> {
        // As Clay's own UI: blank rows with ids chosen here, then their values. Values
        // posted with new rows have been seen dropped, and ids chosen before the first
        // attempt are what makes a retry checkable.
        let rows: Vec<RowUpdate> = rows
            .iter()
            .map(|r| RowUpdate {
                id: r.id.clone().unwrap_or_else(|| super::local::new_id("r_")),
                cells: r.cells.clone(),
            })
            .collect();
        let mut added = Vec::with_capacity(rows.len());
        for batch in rows.chunks(WRITE_BATCH) {
            let blank: Vec<NewRow> = batch
                .iter()
                .map(|r| NewRow {
                    id: Some(r.id.clone()),
                    cells: Vec::new(),
                })
                .collect();
            added.extend(self.add_batch(table_id, &blank).await?);
            let values: Vec<RowUpdate> = batch
                .iter()
                .filter(|r| !r.cells.is_empty())
                .cloned()
                .collect();
            if let Err(e) = self.update_rows(table_id, &values).await {
                tracing::warn!(
                    table = table_id,
                    rows = values.len(),
                    first = values.first().map_or("", |r| r.id.as_str()),
                    "rows were created blank but their values could not be written"
                );
                return Err(e);
            }
        }
        let written: Vec<RowUpdate> = rows.into_iter().filter(|r| !r.cells.is_empty()).collect();
        if written.is_empty() {
            return Ok(added);
        }
        if !self.t.config().verify_writes {
            // Unverified: the rows as created, with the values sent for them.
            for row in &mut added {
                if let Some(w) = written.iter().find(|w| w.id == row.id) {
                    for c in &w.cells {
                        match row.cells.iter_mut().find(|h| h.field_id == c.field_id) {
                            Some(h) => h.value = c.value.clone(),
                            None => row.cells.push(Cell {
                                field_id: c.field_id.clone(),
                                value: c.value.clone(),
                                status: None,
                            }),
                        }
                    }
                }
            }
            return Ok(added);
        }
        let back =
            super::readback::read_back(self, table_id, &written, self.t.config().verify_wait)
                .await?;
        if !back.agrees() {
            let shown = |ids: Vec<String>| {
                let n = ids.len();
                let mut s = ids.into_iter().take(10).collect::<Vec<_>>().join(", ");
                if n > 10 {
                    s.push_str(&format!(" … ({n} in all)"));
                }
                s
            };
            tracing::warn!(
                table = table_id,
                rows_differing = back.differing.len(),
                rows_missing = back.missing.len(),
                differing = %shown(back.differing.iter().map(|d| format!("{} [{}]", d.row_id, d.field_ids.join(" "))).collect()),
                missing = %shown(back.missing.clone()),
                "values written to new rows did not land in Clay (read back after {} reads)",
                back.reads
            );
        }
        // In the order created; rows with no values to check as created; missing ones out.
        let missing: HashSet<&str> = back.missing.iter().map(String::as_str).collect();
        let mut held: std::collections::HashMap<String, Row> = back
            .rows
            .iter()
            .map(|r| (r.id.clone(), r.clone()))
            .collect();
        Ok(added
            .into_iter()
            .filter(|r| !missing.contains(r.id.as_str()))
            .map(|r| held.remove(&r.id).unwrap_or(r))
            .collect())
    }

    async fn delete_rows(&self, table_id: &str, record_ids: &[String]) -> ClayResult<()> {
        for chunk in record_ids.chunks(WRITE_BATCH) {
            let body = json!({ "recordIds": chunk });
            self.call(
                Method::DELETE,
                &["v3", "tables", table_id, "records"],
                Some(&body),
            )
            .await?;
        }
        Ok(())
    }

    async fn delete_all_rows(&self, table_id: &str, view_id: Option<&str>) -> ClayResult<()> {
        let mut body = json!({ "deleteAll": true });
        if let Some(v) = view_id {
            body["viewId"] = json!(v);
        }
        match self
            .call(
                Method::DELETE,
                &["v3", "tables", table_id, "records"],
                Some(&body),
            )
            .await
        {
            Ok(_) => Ok(()),
            // Some deployments only delete by ids.
            Err(ClayError::Invalid(_)) => {
                let view = match view_id {
                    Some(v) => v.to_string(),
                    None => self
                        .get_table(table_id)
                        .await?
                        .first_view_id
                        .ok_or_else(|| {
                            ClayError::NotFound(format!("a view of table {table_id}"))
                        })?,
                };
                let ids = self.record_ids(table_id, &view).await?;
                self.delete_rows(table_id, &ids).await
            }
            Err(e) => Err(e),
        }
    }

    async fn run_column(
        &self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
        force: bool,
    ) -> ClayResult<RunResult> {
        let url = self.t.url(&["v3", "tables", table_id, "run"]);
        let body = wire::run_body(field_ids, target, force);
        let v = self
            .t
            .json(Method::PATCH, url, Some(&body.to_string()), Safety::Once)
            .await
            .map_err(|f| {
                settle(f, "the column may have run and spent credits; check its cells before running it again")
            })?;
        wire::run_result_from(&v).map_err(shape)
    }

    async fn count_rows(&self, table_id: &str) -> ClayResult<u64> {
        let v = self.get(&["v3", "tables", table_id, "count"]).await?;
        wire::count_from(&v).map_err(shape)
    }

    async fn list_sources(&self, table_id: &str) -> ClayResult<Vec<Source>> {
        let mut url = self.t.url(&["v3", "sources"]);
        url.query_pairs_mut().append_pair("tableId", table_id);
        let v = self
            .t
            .json(Method::GET, url, None, Safety::Idempotent)
            .await
            .map_err(|f| settle(f, "try again"))?;
        // Clay lists only the sources subscribed to the table asked about, and does not
        // always say which table that was.
        let mut sources = wire::sources_from(&v).map_err(shape)?;
        for s in &mut sources {
            if s.table_id.is_empty() {
                s.table_id = table_id.to_string();
            }
        }
        Ok(sources)
    }

    async fn add_webhook_source(&self, table_id: &str, name: &str) -> ClayResult<Source> {
        let table = self.get_table(table_id).await?;
        let url = self.t.url(&["v3", "tables", table_id]);
        let body = wire::webhook_source_body(table.workspace_id, name);
        let v = self
            .t
            .json(Method::PATCH, url, Some(&body.to_string()), Safety::Once)
            .await
            .map_err(|f| {
                settle(
                    f,
                    "the source may have been added; list the sources before adding it again",
                )
            })?;
        let is_source = v.get("source").is_some()
            || v.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.starts_with("s_"));
        if is_source {
            let mut source = wire::source_from(&v).map_err(shape)?;
            if source.table_id.is_empty() {
                source.table_id = table_id.to_string();
            }
            return Ok(source);
        }
        // Clay answered with the table: the new source is the last one of that name.
        self.list_sources(table_id)
            .await?
            .into_iter()
            .rev()
            .find(|s| s.name == name)
            .ok_or_else(|| ClayError::Upstream(format!("Clay added no source `{name}`")))
    }

    async fn delete_source(&self, source_id: &str, delete_records: bool) -> ClayResult<()> {
        let body = json!({ "deleteRecords": delete_records });
        self.call(Method::DELETE, &["v3", "sources", source_id], Some(&body))
            .await
            .map(drop)
    }

    async fn permissions(&self, workspace_id: u64) -> ClayResult<Vec<Member>> {
        let ws = workspace_id.to_string();
        let perms = self.get(&["v3", "workspaces", &ws, "permissions"]).await?;
        // Names come from a second endpoint; without it members are named by email.
        let users = match self.get(&["v3", "workspaces", &ws, "users"]).await {
            Ok(u) => Some(u),
            Err(e @ ClayError::Denied(_)) => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "no member names from /users");
                None
            }
        };
        wire::members_from(&perms, users.as_ref()).map_err(shape)
    }

    async fn workspace_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
    ) -> ClayResult<CreditReport> {
        self.report(workspace_id, "workspace", range, None).await
    }

    async fn user_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
        owner_ids: &[String],
    ) -> ClayResult<CreditReport> {
        self.report(
            workspace_id,
            "workspace",
            range,
            Some(("ownerIds", owner_ids)),
        )
        .await
    }

    async fn integration_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
    ) -> ClayResult<CreditReport> {
        self.report(workspace_id, "integration", range, None).await
    }

    async fn integration_specific_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
        integration_ids: &[String],
    ) -> ClayResult<CreditReport> {
        self.report(
            workspace_id,
            "workspace",
            range,
            Some(("integrations", integration_ids)),
        )
        .await
    }

    async fn user_resources(
        &self,
        workspace_id: u64,
        owner_ids: &[String],
    ) -> ClayResult<Vec<Resource>> {
        let types: Vec<&str> = ALL_KINDS.iter().map(|k| wire::kind_wire(*k)).collect();
        self.resources_v2(
            workspace_id,
            json!({ "parentResource": null, "filters": { "resourceTypes": types, "ownerIds": owner_ids } }),
        )
        .await
    }

    async fn integrations(&self, workspace_id: u64) -> ClayResult<Vec<Integration>> {
        let ws = workspace_id.to_string();
        let v = self.get(&["v3", "workspaces", &ws, "app-accounts"]).await?;
        wire::integrations_from(&v).map_err(shape)
    }

    async fn integration_type(&self, type_id: &str) -> ClayResult<IntegrationType> {
        let v = self.get(&["v3", "app-accounts", "type", type_id]).await?;
        wire::integration_type_from(&v).map_err(shape)
    }

    async fn integration_types(&self) -> ClayResult<Vec<IntegrationType>> {
        let v = self.get(&["v3", "app-accounts", "types"]).await?;
        wire::integration_types_from(&v).map_err(shape)
    }

    async fn update_rows(&self, table_id: &str, updates: &[RowUpdate]) -> ClayResult<()> {
        // Setting cells to given values is idempotent, so these retry freely.
        let url = self.t.url(&["v3", "tables", table_id, "records"]);
        for chunk in updates.chunks(WRITE_BATCH) {
            let body = wire::updates_body(chunk);
            self.t
                .json(Method::PATCH, url.clone(), Some(&body), Safety::Idempotent)
                .await
                .map_err(|f| settle(f, "try again"))?;
        }
        Ok(())
    }

    async fn resolve_table(&self, id_or_name: &str) -> ClayResult<TableInfo> {
        let key = id_or_name.trim();
        let by_id = key.starts_with("t_");
        if by_id {
            match self.get_table(key).await {
                // A table may be named like an id: look by name before saying it is missing.
                Err(ClayError::NotFound(_)) => {}
                other => return other,
            }
        }
        let mut tables: Vec<Resource> = Vec::new();
        for ws in self.list_workspaces().await? {
            for r in self.search_resources(ws.id, key).await? {
                if r.kind == ResourceKind::Table
                    && !r.deleted
                    && !tables.iter().any(|t| t.id == r.id)
                {
                    tables.push(r);
                }
            }
        }
        let exact: Vec<&Resource> = tables.iter().filter(|r| r.name == key).collect();
        let chosen = if exact.is_empty() {
            tables
                .iter()
                .filter(|r| r.name.eq_ignore_ascii_case(key))
                .collect()
        } else {
            exact
        };
        match chosen.as_slice() {
            [one] => self.get_table(&one.id).await,
            [] if by_id => Err(ClayError::NotFound(format!(
                "table id `{key}` does not exist in your Clay workspaces (Clay answered 404, and no table has that name); check the id, or list the tables with `kiln workspace show`"
            ))),
            [] if tables.is_empty() => Err(ClayError::NotFound(format!(
                "no table `{key}` in your Clay workspaces; pass its id (t_…) or exact name (`kiln workspace show` lists them)"
            ))),
            [] => Err(ClayError::NotFound(format!(
                "no table named exactly `{key}`; close matches: {}",
                tables
                    .iter()
                    .map(|t| format!("`{}` ({})", t.name, t.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            many => Err(ClayError::Invalid(format!(
                "{} tables are named `{key}`: {}; pass the id (t_…) of the one you mean",
                many.len(),
                many.iter()
                    .map(|t| t.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}
