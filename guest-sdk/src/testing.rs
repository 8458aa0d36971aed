//! A native test harness: an in-memory Clay workspace that answers every [`crate::clay`]
//! call, so plugin logic runs under plain `cargo test` — no wasm, no host — and tests can
//! assert on what it read, wrote and spent.
//!
//! Build the workspace, [`install`](MockWorkspace::install) it on the test's thread, call the
//! plugin, then inspect the workspace:
//!
//! ```
//! use kiln_guest::testing::MockWorkspace;
//! use kiln_guest::types::{CellValue, MemberStatus, Role, RunTarget};
//!
//! let ws = MockWorkspace::new("Acme");
//! let maya = ws.add_member("maya@acme.io", "Maya", Role::Admin, MemberStatus::Active);
//! ws.act_as(&maya);
//! let leads = ws.add_table("Leads", None, &["Email"]);
//! let phone = ws.add_action_column(&leads, "Phone", "find-mobile", "hunter", None, 1.5, &["Email"]);
//! let row = ws.add_row(&leads, &[("Email", CellValue::Text("a@b.io".into()))]);
//!
//! let _installed = ws.install();
//! // … the plugin's code calls kiln_guest::clay::… here …
//! kiln_guest::clay::tables::run_column(&leads, &[phone.clone()], &RunTarget::Records(vec![row.clone()]), false).unwrap();
//!
//! assert_eq!(ws.credits_spent(), 1.5);
//! assert!(ws.cell(&leads, &row, "Phone").is_some());
//! assert!(ws.calls().contains(&"tables::run_column".to_string()));
//! ```
//!
//! Calling [`crate::clay`] natively with no workspace installed panics with a message saying
//! how to install one. The mock follows the embedded workspace's semantics (read and add
//! limits, idempotent row ids, run conditions, the credit ledger behind every report), but
//! enrichment values are placeholders (`"<action-key>(<inputs>)"`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::log::Level;

use crate::types::{
    ActionConfig, Cell, CellInput, CellStatus, CellValue, ClayError, CreditEntity, CreditReport,
    CreditSubentity, Field, FieldKind, Folder, Integration, IntegrationType, Member, MemberStatus,
    NewRow, Resource, ResourceKind, ResourceRef, Role, Row, RunMode, RunResult, RunTarget, Source,
    TableInfo, TableKind, TimeRange, Timestamp, View, Workbook, Workspace,
};

/// The mock's default clock: a fixed instant, so tests are reproducible.
pub const DEFAULT_NOW: Timestamp = 1_800_000_000_000;

const MAX_READ: usize = 200;
const MAX_ADD: usize = 50;

/// An in-memory Clay workspace. Cloning gives another handle to the same workspace, so a test
/// keeps one to inspect it after the plugin ran.
#[derive(Clone)]
pub struct MockWorkspace {
    state: Rc<RefCell<State>>,
}

/// Keeps a [`MockWorkspace`] installed on the current thread; dropping it uninstalls it.
#[must_use = "the workspace is uninstalled when this guard is dropped"]
pub struct Installed {
    previous: Option<Rc<RefCell<State>>>,
}

thread_local! {
    static INSTALLED: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        INSTALLED.with(|slot| *slot.borrow_mut() = previous);
    }
}

/// The installed workspace's plugin settings (none when nothing is installed).
pub(crate) fn installed_config() -> Vec<(String, String)> {
    INSTALLED.with(|slot| {
        slot.borrow()
            .as_ref()
            .map(|s| s.borrow().config.clone().into_iter().collect())
            .unwrap_or_default()
    })
}

/// Keeps a log line on the installed workspace, if there is one.
pub(crate) fn record_log(level: Level, message: &str) {
    INSTALLED.with(|slot| {
        if let Some(state) = slot.borrow().as_ref() {
            state.borrow_mut().logs.push((level, message.to_string()));
        }
    });
}

/// Runs `f` on the installed workspace (the native side of [`crate::clay`]).
pub(crate) fn with_installed<T>(
    call: &str,
    f: impl FnOnce(&mut State) -> Result<T, ClayError>,
) -> Result<T, ClayError> {
    let state = INSTALLED
        .with(|slot| slot.borrow().clone())
        .unwrap_or_else(|| {
            panic!(
                "kiln_guest::clay::{call} was called natively with no mock workspace installed. \
             In a native test, build a kiln_guest::testing::MockWorkspace and keep \
             `let _installed = workspace.install();` alive while the plugin runs."
            )
        });
    let mut state = state.borrow_mut();
    state.calls.push(call.to_string());
    if let Some(error) = state.failures.get(call) {
        return Err(error.clone());
    }
    f(&mut state)
}

struct MockTable {
    info: TableInfo,
    rows: Vec<Row>,
    sources: Vec<Source>,
}

struct Usage {
    at: Timestamp,
    user: Option<String>,
    package: String,
    credits: f64,
}

/// The workspace's data. Only the [`crate::clay`] facade reaches it directly.
pub(crate) struct State {
    workspace: Workspace,
    now: Timestamp,
    next_id: u64,
    acting: Option<String>,
    members: Vec<Member>,
    /// Every folder, workbook and table, trashed ones included.
    resources: Vec<Resource>,
    workbooks: HashMap<String, Workbook>,
    tables: BTreeMap<String, MockTable>,
    integrations: Vec<Integration>,
    types: Vec<IntegrationType>,
    ledger: Vec<Usage>,
    spent: f64,
    config: BTreeMap<String, String>,
    logs: Vec<(Level, String)>,
    calls: Vec<String>,
    failures: HashMap<String, ClayError>,
}

fn not_found(what: &str, id: &str) -> ClayError {
    ClayError::NotFound(format!("{what} {id}"))
}

impl MockWorkspace {
    /// An empty workspace (id 1) with 10,000 credits in its pool and the clock at
    /// [`DEFAULT_NOW`].
    ///
    /// ```
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// assert_eq!(ws.workspace_id(), 1);
    /// ```
    pub fn new(name: &str) -> Self {
        Self {
            state: Rc::new(RefCell::new(State {
                workspace: Workspace {
                    id: 1,
                    name: name.to_string(),
                    credit_balance: 10_000.0,
                },
                now: DEFAULT_NOW,
                next_id: 1,
                acting: None,
                members: Vec::new(),
                resources: Vec::new(),
                workbooks: HashMap::new(),
                tables: BTreeMap::new(),
                integrations: Vec::new(),
                types: Vec::new(),
                ledger: Vec::new(),
                spent: 0.0,
                config: BTreeMap::new(),
                logs: Vec::new(),
                calls: Vec::new(),
                failures: HashMap::new(),
            })),
        }
    }

    /// Makes this workspace answer [`crate::clay`] calls on the current thread until the
    /// returned guard is dropped. Each test runs on its own thread, so tests never share one.
    ///
    /// ```
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// {
    ///     let _installed = ws.install();
    ///     assert!(kiln_guest::clay::workspaces::list().is_ok());
    /// }
    /// ```
    pub fn install(&self) -> Installed {
        let previous = INSTALLED.with(|slot| slot.borrow_mut().replace(self.state.clone()));
        Installed { previous }
    }

    /// The workspace's id (what an audit scope or a table names).
    pub fn workspace_id(&self) -> u64 {
        self.state.borrow().workspace.id
    }

    /// The mock's clock: new resources and credit use are stamped with it.
    pub fn now(&self) -> Timestamp {
        self.state.borrow().now
    }

    /// Moves the clock.
    ///
    /// ```
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.set_now(42);
    /// assert_eq!(ws.now(), 42);
    /// ```
    pub fn set_now(&self, now: Timestamp) {
        self.state.borrow_mut().now = now;
    }

    /// Credits left in the shared pool; an enrichment run that would overdraw it fails with
    /// [`ClayError::BudgetExhausted`] and spends nothing.
    ///
    /// ```
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.set_credit_balance(5.0);
    /// assert_eq!(ws.credit_balance(), 5.0);
    /// ```
    pub fn set_credit_balance(&self, credits: f64) {
        self.state.borrow_mut().workspace.credit_balance = credits;
    }

    /// Credits left in the pool.
    pub fn credit_balance(&self) -> f64 {
        self.state.borrow().workspace.credit_balance
    }

    /// Credits spent through [`crate::clay::tables::run_column`] since the workspace was
    /// made (usage added with [`MockWorkspace::record_usage`] is not counted).
    pub fn credits_spent(&self) -> f64 {
        self.state.borrow().spent
    }

    /// A plugin setting, as the operator's `--config key=value` would give it; the plugin
    /// sees it through [`Config::from_host`](crate::Config::from_host).
    pub fn set_config(&self, key: &str, value: &str) {
        self.state
            .borrow_mut()
            .config
            .insert(key.to_string(), value.to_string());
    }

    /// What the plugin logged through [`crate::log`] while this workspace was installed.
    ///
    /// ```
    /// use kiln_guest::log::Level;
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let _installed = ws.install();
    /// kiln_guest::log::warn("3 rows skipped");
    /// assert_eq!(ws.logs(), vec![(Level::Warn, "3 rows skipped".to_string())]);
    /// ```
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.state.borrow().logs.clone()
    }

    /// Every [`crate::clay`] call made so far, as `"interface::function"`, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.borrow().calls.clone()
    }

    /// Makes every later call to `call` (e.g. `"credits::integrations"`) fail with `error`,
    /// to test how a plugin copes with a denied capability or an outage.
    ///
    /// ```
    /// use kiln_guest::types::ClayError;
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.fail("workspaces::list", ClayError::Denied("workspaces".into()));
    /// let _installed = ws.install();
    /// assert!(kiln_guest::clay::workspaces::list().is_err());
    /// ```
    pub fn fail(&self, call: &str, error: ClayError) {
        self.state
            .borrow_mut()
            .failures
            .insert(call.to_string(), error);
    }

    /// Adds a member and returns their user id.
    ///
    /// ```
    /// use kiln_guest::types::{MemberStatus, Role};
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let id = ws.add_member("maya@acme.io", "Maya", Role::Admin, MemberStatus::Active);
    /// assert!(!id.is_empty());
    /// ```
    pub fn add_member(&self, email: &str, name: &str, role: Role, status: MemberStatus) -> String {
        let mut s = self.state.borrow_mut();
        let id = (1000 + s.members.len()).to_string();
        s.members.push(Member {
            user_id: id.clone(),
            email: email.to_string(),
            name: name.to_string(),
            role,
            status,
        });
        id
    }

    /// The member whose credits enrichment runs spend and who creates what the plugin
    /// creates (nobody by default).
    pub fn act_as(&self, user_id: &str) {
        self.state.borrow_mut().acting = Some(user_id.to_string());
    }

    /// Registers an integration type (`actionPackageId`) with a display name.
    pub fn add_integration_type(&self, id: &str, name: &str) {
        self.state.borrow_mut().ensure_type(id, Some(name));
    }

    /// Adds an integration of type `type_id` authenticated by `owner` and returns its id
    /// (`aa_…`). The type is registered if it is new.
    ///
    /// ```
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let aa = ws.add_integration("Hunter", "hunter", None);
    /// assert!(aa.starts_with("aa_"));
    /// ```
    pub fn add_integration(&self, name: &str, type_id: &str, owner: Option<&str>) -> String {
        let mut s = self.state.borrow_mut();
        s.ensure_type(type_id, None);
        let id = s.id("aa");
        let created_at = s.now;
        s.integrations.push(Integration {
            id: id.clone(),
            name: name.to_string(),
            type_id: type_id.to_string(),
            owner_id: owner.map(str::to_string),
            created_at,
        });
        id
    }

    /// Adds a folder (created by the acting member, now) and returns its id.
    pub fn add_folder(&self, name: &str, parent_folder_id: Option<&str>) -> String {
        let mut s = self.state.borrow_mut();
        s.add_resource(ResourceKind::Folder, "f", name, parent_folder_id)
    }

    /// Adds a workbook and returns its id.
    pub fn add_workbook(&self, name: &str, parent_folder_id: Option<&str>) -> String {
        let mut s = self.state.borrow_mut();
        s.insert_workbook(name, false, parent_folder_id)
    }

    /// Adds a spreadsheet table (in `workbook_id`, or at the top level) with one text column
    /// per name and a default view; returns the table id.
    pub fn add_table(&self, name: &str, workbook_id: Option<&str>, columns: &[&str]) -> String {
        let mut s = self.state.borrow_mut();
        let id = s.add_resource(ResourceKind::Table, "t", name, workbook_id);
        let view = s.id("gv");
        let fields = columns
            .iter()
            .map(|c| Field {
                id: s.id("f"),
                name: c.to_string(),
                kind: FieldKind::Text,
                action: None,
            })
            .collect();
        let info = TableInfo {
            id: id.clone(),
            name: name.to_string(),
            kind: TableKind::Spreadsheet,
            workspace_id: s.workspace.id,
            workbook_id: workbook_id.map(str::to_string),
            first_view_id: Some(view.clone()),
            views: vec![View {
                id: view,
                name: "Default view".into(),
            }],
            fields,
        };
        s.tables.insert(
            id.clone(),
            MockTable {
                info,
                rows: Vec::new(),
                sources: Vec::new(),
            },
        );
        id
    }

    /// Adds an enrichment column that runs `action_key` of integration type `package_id`
    /// (with integration `auth_account_id`'s credentials), charging `credit_cost` per row
    /// filled from the `inputs` columns (names or ids). Returns the field id.
    ///
    /// # Panics
    /// When the table or an input column does not exist (a mistake in the test itself).
    #[allow(clippy::too_many_arguments)]
    pub fn add_action_column(
        &self,
        table_id: &str,
        name: &str,
        action_key: &str,
        package_id: &str,
        auth_account_id: Option<&str>,
        credit_cost: f64,
        inputs: &[&str],
    ) -> String {
        let mut s = self.state.borrow_mut();
        s.ensure_type(package_id, None);
        let id = s.id("f");
        let table = s.table_mut(table_id);
        let input_field_ids = inputs
            .iter()
            .map(|i| field_of(&table.info, i).unwrap_or_else(|| panic!("no column {i}")))
            .collect();
        table.info.fields.push(Field {
            id: id.clone(),
            name: name.to_string(),
            kind: FieldKind::Action,
            action: Some(ActionConfig {
                action_key: action_key.to_string(),
                package_id: package_id.to_string(),
                auth_account_id: auth_account_id.map(str::to_string),
                credit_cost: Some(credit_cost),
                input_field_ids,
            }),
        });
        id
    }

    /// Adds a row from `(column name or id, value)` pairs and returns its id.
    ///
    /// # Panics
    /// When the table or a column does not exist.
    pub fn add_row(&self, table_id: &str, cells: &[(&str, CellValue)]) -> String {
        let mut s = self.state.borrow_mut();
        let id = s.id("r");
        let now = s.now;
        let table = s.table_mut(table_id);
        let cells = cells
            .iter()
            .map(|(column, value)| Cell {
                field_id: field_of(&table.info, column)
                    .unwrap_or_else(|| panic!("no column {column}")),
                value: value.clone(),
                status: None,
            })
            .collect();
        table.rows.push(Row {
            id: id.clone(),
            cells,
            created_at: now,
            updated_at: now,
        });
        id
    }

    /// Records credit use (what Clay's credit ledger holds) by `user` (or unattributed) on
    /// integration type `package_id` at `at`.
    pub fn record_usage(&self, user: Option<&str>, package_id: &str, credits: f64, at: Timestamp) {
        let mut s = self.state.borrow_mut();
        s.ensure_type(package_id, None);
        s.ledger.push(Usage {
            at,
            user: user.map(str::to_string),
            package: package_id.to_string(),
            credits,
        });
    }

    /// Changes who created a resource and when (resources are stamped with the acting member
    /// and the clock when added).
    ///
    /// # Panics
    /// When there is no such resource.
    pub fn set_created(&self, resource_id: &str, by: Option<&str>, at: Timestamp) {
        let mut s = self.state.borrow_mut();
        let r = s
            .resources
            .iter_mut()
            .find(|r| r.id == resource_id)
            .unwrap_or_else(|| panic!("no resource {resource_id}"));
        r.created_by = by.map(str::to_string);
        r.created_at = at;
        r.updated_at = at;
    }

    /// The id of a table's column, by name (case-insensitive) or id.
    pub fn field_id(&self, table_id: &str, column: &str) -> Option<String> {
        let s = self.state.borrow();
        s.tables
            .get(table_id)
            .and_then(|t| field_of(&t.info, column))
    }

    /// The table's current rows.
    ///
    /// # Panics
    /// When there is no such table.
    pub fn rows(&self, table_id: &str) -> Vec<Row> {
        let s = self.state.borrow();
        s.tables
            .get(table_id)
            .map(|t| t.rows.clone())
            .unwrap_or_else(|| panic!("no table {table_id}"))
    }

    /// A cell's current value, by row id and column name or id; `None` when the row, the
    /// column or the cell is missing.
    pub fn cell(&self, table_id: &str, row_id: &str, column: &str) -> Option<CellValue> {
        let s = self.state.borrow();
        let table = s.tables.get(table_id)?;
        let field = field_of(&table.info, column)?;
        let row = table.rows.iter().find(|r| r.id == row_id)?;
        row.cells
            .iter()
            .find(|c| c.field_id == field)
            .map(|c| c.value.clone())
    }

    /// Every resource (folders, workbooks, tables), trashed ones included.
    pub fn resources(&self) -> Vec<Resource> {
        self.state.borrow().resources.clone()
    }
}

fn field_of(info: &TableInfo, column: &str) -> Option<String> {
    info.fields
        .iter()
        .find(|f| f.id == column)
        .or_else(|| {
            info.fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(column))
        })
        .map(|f| f.id.clone())
}

fn is_empty(cell: Option<&Cell>) -> bool {
    match cell.map(|c| &c.value) {
        None | Some(CellValue::Null) => true,
        Some(CellValue::Text(s)) => s.trim().is_empty(),
        _ => false,
    }
}

fn text(value: &CellValue) -> String {
    match value {
        CellValue::Null => String::new(),
        CellValue::Text(s) | CellValue::Json(s) => s.clone(),
        CellValue::Number(n) => n.to_string(),
        CellValue::Boolean(b) => b.to_string(),
    }
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{prefix}_{n:06}")
    }

    fn ensure_type(&mut self, id: &str, name: Option<&str>) {
        match self.types.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                if let Some(name) = name {
                    t.name = name.to_string();
                }
            }
            None => self.types.push(IntegrationType {
                id: id.to_string(),
                name: name.unwrap_or(id).to_string(),
                provider_name: name.unwrap_or(id).to_string(),
                authentication_type: "api_key".into(),
            }),
        }
    }

    fn add_resource(
        &mut self,
        kind: ResourceKind,
        prefix: &str,
        name: &str,
        parent: Option<&str>,
    ) -> String {
        let id = self.id(prefix);
        self.resources.push(Resource {
            id: id.clone(),
            name: name.to_string(),
            kind,
            parent_id: parent.map(str::to_string),
            created_by: self.acting.clone(),
            created_at: self.now,
            updated_at: self.now,
            deleted: false,
        });
        id
    }

    fn insert_workbook(&mut self, name: &str, auto_run: bool, parent: Option<&str>) -> String {
        let id = self.add_resource(ResourceKind::Workbook, "wb", name, parent);
        self.workbooks.insert(
            id.clone(),
            Workbook {
                id: id.clone(),
                name: name.to_string(),
                workspace_id: self.workspace.id,
                parent_folder_id: parent.map(str::to_string),
                auto_run,
            },
        );
        id
    }

    fn table_mut(&mut self, table_id: &str) -> &mut MockTable {
        self.tables
            .get_mut(table_id)
            .unwrap_or_else(|| panic!("no table {table_id}"))
    }

    fn table(&mut self, table_id: &str) -> Result<&mut MockTable, ClayError> {
        let live = self
            .resources
            .iter()
            .any(|r| r.id == table_id && !r.deleted);
        match self.tables.get_mut(table_id) {
            Some(t) if live => Ok(t),
            _ => Err(not_found("table", table_id)),
        }
    }

    fn check_workspace(&self, workspace_id: u64) -> Result<(), ClayError> {
        if workspace_id == self.workspace.id {
            Ok(())
        } else {
            Err(not_found("workspace", &workspace_id.to_string()))
        }
    }

    fn live(&self, id: &str, kind: ResourceKind) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.id == id && r.kind == kind && !r.deleted)
    }

    /// The resource and everything under it.
    fn subtree(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_string()];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].clone();
            out.extend(
                self.resources
                    .iter()
                    .filter(|r| r.parent_id.as_deref() == Some(parent.as_str()))
                    .map(|r| r.id.clone()),
            );
            i += 1;
        }
        out
    }

    fn remove(&mut self, ids: &[String], permanent: bool) {
        if permanent {
            self.resources.retain(|r| !ids.contains(&r.id));
            for id in ids {
                self.tables.remove(id);
                self.workbooks.remove(id);
            }
        } else {
            for r in self.resources.iter_mut().filter(|r| ids.contains(&r.id)) {
                r.deleted = true;
            }
        }
    }

    // ---- workspaces ----

    pub(crate) fn workspaces_list(&mut self) -> Result<Vec<Workspace>, ClayError> {
        Ok(vec![self.workspace.clone()])
    }

    // ---- folders ----

    pub(crate) fn folders_create(
        &mut self,
        workspace_id: u64,
        name: &str,
        parent: Option<&str>,
    ) -> Result<Folder, ClayError> {
        self.check_workspace(workspace_id)?;
        if name.trim().is_empty() {
            return Err(ClayError::Invalid("a folder needs a name".into()));
        }
        if let Some(p) = parent
            && self.live(p, ResourceKind::Folder).is_none()
        {
            return Err(not_found("folder", p));
        }
        let taken = self.resources.iter().any(|r| {
            !r.deleted
                && r.kind == ResourceKind::Folder
                && r.parent_id.as_deref() == parent
                && r.name == name
        });
        if taken {
            return Err(ClayError::Conflict(format!(
                "a folder named `{name}` already exists there"
            )));
        }
        let id = self.add_resource(ResourceKind::Folder, "f", name, parent);
        Ok(Folder {
            id,
            name: name.to_string(),
            workspace_id,
            parent_folder_id: parent.map(str::to_string),
        })
    }

    pub(crate) fn folders_delete(
        &mut self,
        workspace_id: u64,
        folder_ids: &[String],
        permanent: bool,
    ) -> Result<(), ClayError> {
        self.check_workspace(workspace_id)?;
        let mut doomed = Vec::new();
        for id in folder_ids {
            let exists = self
                .resources
                .iter()
                .any(|r| &r.id == id && r.kind == ResourceKind::Folder);
            if !exists {
                return Err(not_found("folder", id));
            }
            doomed.extend(self.subtree(id));
        }
        self.remove(&doomed, permanent);
        Ok(())
    }

    // ---- resources ----

    pub(crate) fn resources_list(
        &mut self,
        workspace_id: u64,
        parent: Option<&ResourceRef>,
        kinds: &[ResourceKind],
    ) -> Result<Vec<Resource>, ClayError> {
        self.check_workspace(workspace_id)?;
        if let Some(p) = parent
            && self.live(&p.id, p.kind).is_none()
        {
            return Err(not_found("resource", &p.id));
        }
        let parent_id = parent.map(|p| p.id.as_str());
        Ok(self
            .resources
            .iter()
            .filter(|r| !r.deleted && r.parent_id.as_deref() == parent_id)
            .filter(|r| kinds.is_empty() || kinds.contains(&r.kind))
            .cloned()
            .collect())
    }

    pub(crate) fn resources_search(
        &mut self,
        workspace_id: u64,
        query: &str,
    ) -> Result<Vec<Resource>, ClayError> {
        self.check_workspace(workspace_id)?;
        let query = query.to_lowercase();
        Ok(self
            .resources
            .iter()
            .filter(|r| !r.deleted && r.name.to_lowercase().contains(&query))
            .cloned()
            .collect())
    }

    // ---- workbooks ----

    pub(crate) fn workbooks_create(
        &mut self,
        workspace_id: u64,
        name: &str,
        auto_run: bool,
        parent: Option<&str>,
    ) -> Result<Workbook, ClayError> {
        self.check_workspace(workspace_id)?;
        if let Some(p) = parent
            && self.live(p, ResourceKind::Folder).is_none()
        {
            return Err(not_found("folder", p));
        }
        let id = self.insert_workbook(name, auto_run, parent);
        self.workbooks
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found("workbook", &id))
    }

    pub(crate) fn workbooks_delete(&mut self, workbook_id: &str) -> Result<(), ClayError> {
        if self.live(workbook_id, ResourceKind::Workbook).is_none() {
            return Err(not_found("workbook", workbook_id));
        }
        let doomed = self.subtree(workbook_id);
        self.remove(&doomed, true);
        Ok(())
    }

    // ---- tables ----

    pub(crate) fn tables_get(&mut self, table_id: &str) -> Result<TableInfo, ClayError> {
        Ok(self.table(table_id)?.info.clone())
    }

    pub(crate) fn tables_record_ids(
        &mut self,
        table_id: &str,
        view_id: &str,
    ) -> Result<Vec<String>, ClayError> {
        let table = self.table(table_id)?;
        if !table.info.views.iter().any(|v| v.id == view_id) {
            return Err(not_found("view", view_id));
        }
        Ok(table.rows.iter().map(|r| r.id.clone()).collect())
    }

    pub(crate) fn tables_read_records(
        &mut self,
        table_id: &str,
        record_ids: &[String],
    ) -> Result<Vec<Row>, ClayError> {
        if record_ids.len() > MAX_READ {
            return Err(ClayError::Invalid(format!(
                "at most {MAX_READ} records per read, got {}",
                record_ids.len()
            )));
        }
        let table = self.table(table_id)?;
        Ok(record_ids
            .iter()
            .filter_map(|id| table.rows.iter().find(|r| &r.id == id).cloned())
            .collect())
    }

    pub(crate) fn tables_add_rows(
        &mut self,
        table_id: &str,
        rows: &[NewRow],
    ) -> Result<Vec<Row>, ClayError> {
        if rows.is_empty() || rows.len() > MAX_ADD {
            return Err(ClayError::Invalid(format!(
                "add between 1 and {MAX_ADD} rows per call, got {}",
                rows.len()
            )));
        }
        let now = self.now;
        // Validate everything before adding anything: a bad row adds none.
        let info = self.table(table_id)?.info.clone();
        for row in rows {
            for c in &row.cells {
                if !info.fields.iter().any(|f| f.id == c.field_id) {
                    return Err(ClayError::Invalid(format!(
                        "table `{}` has no field {}",
                        info.name, c.field_id
                    )));
                }
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for new in rows {
            let existing = new.id.as_ref().and_then(|id| {
                self.tables
                    .get(table_id)
                    .and_then(|t| t.rows.iter().find(|r| &r.id == id).cloned())
            });
            if let Some(row) = existing {
                out.push(row);
                continue;
            }
            let id = match &new.id {
                Some(id) => id.clone(),
                None => self.id("r"),
            };
            let row = Row {
                id,
                cells: new
                    .cells
                    .iter()
                    .map(|c: &CellInput| Cell {
                        field_id: c.field_id.clone(),
                        value: c.value.clone(),
                        status: None,
                    })
                    .collect(),
                created_at: now,
                updated_at: now,
            };
            self.table(table_id)?.rows.push(row.clone());
            out.push(row);
        }
        Ok(out)
    }

    pub(crate) fn tables_delete_rows(
        &mut self,
        table_id: &str,
        record_ids: &[String],
    ) -> Result<(), ClayError> {
        self.table(table_id)?
            .rows
            .retain(|r| !record_ids.contains(&r.id));
        Ok(())
    }

    pub(crate) fn tables_delete_all_rows(
        &mut self,
        table_id: &str,
        view_id: Option<&str>,
    ) -> Result<(), ClayError> {
        let table = self.table(table_id)?;
        if let Some(v) = view_id
            && !table.info.views.iter().any(|view| view.id == v)
        {
            return Err(not_found("view", v));
        }
        table.rows.clear();
        Ok(())
    }

    pub(crate) fn tables_run_column(
        &mut self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
        force: bool,
    ) -> Result<RunResult, ClayError> {
        if field_ids.is_empty() {
            return Err(ClayError::Invalid(
                "name at least one enrichment column to run".into(),
            ));
        }
        let now = self.now;
        let actor = self.acting.clone();
        let info = self.table(table_id)?.info.clone();
        let mut actions = Vec::new();
        for id in field_ids {
            let field = info.fields.iter().find(|f| &f.id == id).ok_or_else(|| {
                ClayError::Invalid(format!("table `{}` has no field {id}", info.name))
            })?;
            let action = field
                .action
                .clone()
                .filter(|_| field.kind == FieldKind::Action)
                .ok_or_else(|| {
                    ClayError::Invalid(format!(
                        "`{}` ({id}) is not an enrichment column",
                        field.name
                    ))
                })?;
            if let Some(account) = &action.auth_account_id {
                self.check_integration(account)?;
            }
            actions.push((field.id.clone(), action));
        }
        let table = self.table(table_id)?;
        let (ids, mode) = match target {
            RunTarget::Records(ids) => (ids.clone(), RunMode::Individual),
            RunTarget::ViewTop(top) => {
                if !table.info.views.iter().any(|v| v.id == top.view_id) {
                    return Err(not_found("view", &top.view_id));
                }
                let mut all: Vec<String> = table.rows.iter().map(|r| r.id.clone()).collect();
                if let Some(n) = top.num_records {
                    all.truncate(n as usize);
                }
                (all, RunMode::Bulk)
            }
        };
        // Work out the whole run first: one that would overdraw the pool spends nothing.
        let mut writes: Vec<(usize, Vec<Cell>, f64, bool)> = Vec::new();
        for (index, row) in table.rows.iter().enumerate() {
            if !ids.contains(&row.id) {
                continue;
            }
            let (mut cells, mut cost, mut charged) = (Vec::new(), 0.0, false);
            for (field_id, action) in &actions {
                let current = row.cells.iter().find(|c| &c.field_id == field_id);
                let done = !is_empty(current)
                    && matches!(
                        current.and_then(|c| c.status.as_ref()),
                        Some(CellStatus::Success) | None
                    );
                if done && !force {
                    continue;
                }
                let inputs: Vec<String> = action
                    .input_field_ids
                    .iter()
                    .map(|f| {
                        row.cells
                            .iter()
                            .find(|c| &c.field_id == f)
                            .map(|c| text(&c.value))
                            .unwrap_or_default()
                    })
                    .collect();
                if inputs.iter().any(|i| i.trim().is_empty()) {
                    cells.push(Cell {
                        field_id: field_id.clone(),
                        value: CellValue::Null,
                        status: Some(CellStatus::RunConditionNotMet),
                    });
                    continue;
                }
                cells.push(Cell {
                    field_id: field_id.clone(),
                    value: CellValue::Text(format!("{}({})", action.action_key, inputs.join(", "))),
                    status: Some(CellStatus::Success),
                });
                cost += action.credit_cost.unwrap_or(0.0);
                charged = true;
            }
            if !cells.is_empty() {
                writes.push((index, cells, cost, charged));
            }
        }
        let total: f64 = writes.iter().map(|w| w.2).sum();
        if total > self.workspace.credit_balance {
            return Err(ClayError::BudgetExhausted(format!(
                "the run needs {total} credits and the pool has {}",
                self.workspace.credit_balance
            )));
        }
        let mut ran = 0u32;
        let table = self.table(table_id)?;
        for (index, cells, _, charged) in &writes {
            let row = &mut table.rows[*index];
            for cell in cells {
                match row.cells.iter_mut().find(|c| c.field_id == cell.field_id) {
                    Some(existing) => *existing = cell.clone(),
                    None => row.cells.push(cell.clone()),
                }
            }
            row.updated_at = now;
            if *charged {
                ran += 1;
            }
        }
        for (_, cells, _, _) in &writes {
            for cell in cells
                .iter()
                .filter(|c| c.status == Some(CellStatus::Success))
            {
                if let Some((_, action)) = actions.iter().find(|(f, _)| f == &cell.field_id) {
                    self.ledger.push(Usage {
                        at: now,
                        user: actor.clone(),
                        package: action.package_id.clone(),
                        credits: action.credit_cost.unwrap_or(0.0),
                    });
                }
            }
        }
        self.workspace.credit_balance -= total;
        self.spent += total;
        if ran == 0 {
            return Ok(RunResult {
                mode: RunMode::None,
                record_count: 0,
                credits_spent: 0.0,
            });
        }
        Ok(RunResult {
            mode,
            record_count: ran,
            credits_spent: total,
        })
    }

    /// An integration authenticated by a removed member no longer works in Clay.
    fn check_integration(&self, account: &str) -> Result<(), ClayError> {
        let integration = self
            .integrations
            .iter()
            .find(|i| i.id == account)
            .ok_or_else(|| not_found("integration", account))?;
        let owner_removed = integration.owner_id.as_ref().is_some_and(|o| {
            self.members
                .iter()
                .any(|m| &m.user_id == o && m.status == MemberStatus::Removed)
        });
        if owner_removed {
            return Err(ClayError::Upstream(format!(
                "integration {account} was authenticated by a removed member; reconnect it with another member's credentials"
            )));
        }
        Ok(())
    }

    pub(crate) fn tables_count_rows(&mut self, table_id: &str) -> Result<u64, ClayError> {
        Ok(self.table(table_id)?.rows.len() as u64)
    }

    pub(crate) fn tables_list_sources(&mut self, table_id: &str) -> Result<Vec<Source>, ClayError> {
        Ok(self.table(table_id)?.sources.clone())
    }

    pub(crate) fn tables_add_webhook_source(
        &mut self,
        table_id: &str,
        name: &str,
    ) -> Result<Source, ClayError> {
        self.table(table_id)?;
        let id = self.id("s");
        let source = Source {
            url: Some(format!("https://api.clay.com/v3/sources/webhook/{id}")),
            id,
            name: name.to_string(),
            table_id: table_id.to_string(),
            kind: "webhook".into(),
            records_received: 0,
        };
        self.table(table_id)?.sources.push(source.clone());
        Ok(source)
    }

    pub(crate) fn tables_delete_source(
        &mut self,
        source_id: &str,
        _delete_records: bool,
    ) -> Result<(), ClayError> {
        // The mock does not track which source brought a row in, so there is nothing more to
        // delete; `records_received` says how many there would be.
        for table in self.tables.values_mut() {
            if let Some(i) = table.sources.iter().position(|s| s.id == source_id) {
                table.sources.remove(i);
                return Ok(());
            }
        }
        Err(not_found("source", source_id))
    }

    // ---- credits ----

    pub(crate) fn credits_permissions(
        &mut self,
        workspace_id: u64,
    ) -> Result<Vec<Member>, ClayError> {
        self.check_workspace(workspace_id)?;
        Ok(self.members.clone())
    }

    fn type_name(&self, id: &str) -> String {
        self.types
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    fn member_name(&self, id: &str) -> (String, bool) {
        self.members
            .iter()
            .find(|m| m.user_id == id)
            .map(|m| (m.name.clone(), m.status == MemberStatus::Removed))
            .unwrap_or_else(|| (id.to_string(), true))
    }

    fn in_range<'a>(&'a self, range: TimeRange) -> impl Iterator<Item = &'a Usage> + 'a {
        self.ledger
            .iter()
            .filter(move |u| u.at >= range.start && u.at < range.end)
    }

    fn user_report(
        &self,
        workspace_id: u64,
        range: TimeRange,
        owners: Option<&[String]>,
        packages: Option<&[String]>,
    ) -> Result<CreditReport, ClayError> {
        self.check_workspace(workspace_id)?;
        if range.end < range.start {
            return Err(ClayError::Invalid(
                "the time range ends before it starts".into(),
            ));
        }
        let mut per_user: BTreeMap<&str, BTreeMap<&str, (f64, u64)>> = BTreeMap::new();
        let mut unattributed = (0.0, 0u64);
        for u in self.in_range(range) {
            if packages.is_some_and(|p| !p.contains(&u.package)) {
                continue;
            }
            match &u.user {
                Some(user) if owners.is_none_or(|o| o.contains(user)) => {
                    let e = per_user
                        .entry(user)
                        .or_default()
                        .entry(&u.package)
                        .or_default();
                    e.0 += u.credits;
                    e.1 += 1;
                }
                None if owners.is_none() => {
                    unattributed.0 += u.credits;
                    unattributed.1 += 1;
                }
                _ => {}
            }
        }
        let entities = per_user
            .into_iter()
            .map(|(user, subs)| {
                let (name, removed) = self.member_name(user);
                let subentities: Vec<CreditSubentity> = subs
                    .into_iter()
                    .map(|(pkg, (credits, n))| CreditSubentity {
                        id: pkg.to_string(),
                        name: self.type_name(pkg),
                        kind: "integration".into(),
                        is_deleted: false,
                        credits,
                        action_executions: n,
                    })
                    .collect();
                CreditEntity {
                    id: user.to_string(),
                    name,
                    kind: "user".into(),
                    is_deleted: removed,
                    credits: subentities.iter().map(|s| s.credits).sum(),
                    action_executions: subentities.iter().map(|s| s.action_executions).sum(),
                    subentities,
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

    pub(crate) fn credits_workspace_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
    ) -> Result<CreditReport, ClayError> {
        self.user_report(workspace_id, range, None, None)
    }

    pub(crate) fn credits_user_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
        owner_ids: &[String],
    ) -> Result<CreditReport, ClayError> {
        self.user_report(workspace_id, range, Some(owner_ids), None)
    }

    pub(crate) fn credits_integration_specific_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
        integration_ids: &[String],
    ) -> Result<CreditReport, ClayError> {
        self.user_report(workspace_id, range, None, Some(integration_ids))
    }

    pub(crate) fn credits_integration_report(
        &mut self,
        workspace_id: u64,
        range: TimeRange,
    ) -> Result<CreditReport, ClayError> {
        self.check_workspace(workspace_id)?;
        let mut per_pkg: BTreeMap<&str, BTreeMap<Option<&str>, (f64, u64)>> = BTreeMap::new();
        for u in self.in_range(range) {
            let e = per_pkg
                .entry(&u.package)
                .or_default()
                .entry(u.user.as_deref())
                .or_default();
            e.0 += u.credits;
            e.1 += 1;
        }
        let entities = per_pkg
            .into_iter()
            .map(|(pkg, users)| {
                let subentities: Vec<CreditSubentity> = users
                    .into_iter()
                    .map(|(user, (credits, n))| {
                        let (name, removed) = user
                            .map(|u| self.member_name(u))
                            .unwrap_or_else(|| ("unattributed".into(), false));
                        CreditSubentity {
                            id: user.unwrap_or_default().to_string(),
                            name,
                            kind: "user".into(),
                            is_deleted: removed,
                            credits,
                            action_executions: n,
                        }
                    })
                    .collect();
                CreditEntity {
                    id: pkg.to_string(),
                    name: self.type_name(pkg),
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

    pub(crate) fn credits_user_resources(
        &mut self,
        workspace_id: u64,
        owner_ids: &[String],
    ) -> Result<Vec<Resource>, ClayError> {
        self.check_workspace(workspace_id)?;
        Ok(self
            .resources
            .iter()
            .filter(|r| r.created_by.as_ref().is_some_and(|c| owner_ids.contains(c)))
            .cloned()
            .collect())
    }

    pub(crate) fn credits_integrations(
        &mut self,
        workspace_id: u64,
    ) -> Result<Vec<Integration>, ClayError> {
        self.check_workspace(workspace_id)?;
        Ok(self.integrations.clone())
    }

    pub(crate) fn credits_get_integration_type(
        &mut self,
        type_id: &str,
    ) -> Result<IntegrationType, ClayError> {
        self.types
            .iter()
            .find(|t| t.id == type_id)
            .cloned()
            .ok_or_else(|| not_found("integration type", type_id))
    }

    pub(crate) fn credits_list_integration_types(
        &mut self,
    ) -> Result<Vec<IntegrationType>, ClayError> {
        Ok(self.types.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clay::{credits, folders, resources, tables};
    use crate::types::{CellInput, ViewTopRecords};

    fn leads(ws: &MockWorkspace) -> (String, String) {
        let t = ws.add_table("Leads", None, &["Email"]);
        let f = ws.add_action_column(&t, "Phone", "find-mobile", "lusha", None, 2.0, &["Email"]);
        (t, f)
    }

    #[test]
    fn enrichment_runs_fill_cells_charge_the_actor_and_skip_rows_already_done() {
        let ws = MockWorkspace::new("Acme");
        let maya = ws.add_member("maya@acme.io", "Maya", Role::Admin, MemberStatus::Active);
        ws.act_as(&maya);
        let (t, f) = leads(&ws);
        let a = ws.add_row(&t, &[("Email", CellValue::Text("a@b.io".into()))]);
        let blank = ws.add_row(&t, &[("Email", CellValue::Text(" ".into()))]);
        let _installed = ws.install();
        let view = tables::get(&t).unwrap().first_view_id.unwrap();
        let all = RunTarget::ViewTop(ViewTopRecords {
            view_id: view,
            num_records: None,
        });

        let first = tables::run_column(&t, std::slice::from_ref(&f), &all, false).unwrap();
        assert_eq!(
            (first.mode, first.record_count, first.credits_spent),
            (RunMode::Bulk, 1, 2.0)
        );
        assert_eq!(
            ws.cell(&t, &a, "Phone"),
            Some(CellValue::Text("find-mobile(a@b.io)".into()))
        );
        assert_eq!(ws.cell(&t, &blank, "Phone"), Some(CellValue::Null));

        // Done rows are not charged again unless forced.
        let again = tables::run_column(&t, std::slice::from_ref(&f), &all, false).unwrap();
        assert_eq!(again.mode, RunMode::None);
        assert_eq!(ws.credits_spent(), 2.0);
        tables::run_column(&t, std::slice::from_ref(&f), &all, true).unwrap();
        assert_eq!(ws.credits_spent(), 4.0);
        assert_eq!(ws.credit_balance(), 10_000.0 - 4.0);

        let range = TimeRange {
            start: 0,
            end: ws.now() + 1,
        };
        let report = credits::workspace_report(1, range).unwrap();
        assert_eq!(report.entities.len(), 1);
        assert_eq!(report.entities[0].name, "Maya");
        assert_eq!(report.entities[0].credits, 4.0);
        let by_type = credits::integration_report(1, range).unwrap();
        assert_eq!(by_type.entities[0].id, "lusha");
    }

    #[test]
    fn a_run_that_would_overdraw_the_pool_spends_nothing() {
        let ws = MockWorkspace::new("Acme");
        let (t, f) = leads(&ws);
        let r = ws.add_row(&t, &[("Email", CellValue::Text("a@b.io".into()))]);
        ws.set_credit_balance(1.0);
        let _installed = ws.install();
        let err =
            tables::run_column(&t, &[f], &RunTarget::Records(vec![r.clone()]), false).unwrap_err();
        assert!(matches!(err, ClayError::BudgetExhausted(_)));
        assert_eq!(ws.credits_spent(), 0.0);
        assert_eq!(ws.cell(&t, &r, "Phone"), None);
    }

    #[test]
    fn a_removed_owners_integration_fails_like_clay() {
        let ws = MockWorkspace::new("Acme");
        let sam = ws.add_member("sam@acme.io", "Sam", Role::Member, MemberStatus::Removed);
        let aa = ws.add_integration("Hunter", "hunter", Some(&sam));
        let t = ws.add_table("Leads", None, &["Email"]);
        let f = ws.add_action_column(
            &t,
            "Work",
            "find-work-email",
            "hunter",
            Some(&aa),
            1.0,
            &["Email"],
        );
        let _installed = ws.install();
        let err = tables::run_column(&t, &[f], &RunTarget::Records(vec![]), false).unwrap_err();
        assert!(matches!(err, ClayError::Upstream(_)));
    }

    #[test]
    fn rows_follow_clays_limits_and_ids_make_adds_idempotent() {
        let ws = MockWorkspace::new("Acme");
        let t = ws.add_table("Leads", None, &["Email"]);
        let email = ws.field_id(&t, "email").unwrap();
        let _installed = ws.install();
        let row = NewRow {
            id: Some("r_client".into()),
            cells: vec![CellInput {
                field_id: email.clone(),
                value: CellValue::Text("x@y.io".into()),
            }],
        };
        tables::add_rows(&t, std::slice::from_ref(&row)).unwrap();
        tables::add_rows(&t, std::slice::from_ref(&row)).unwrap();
        assert_eq!(tables::count_rows(&t).unwrap(), 1);
        let too_many = vec![row.clone(); 51];
        assert!(matches!(
            tables::add_rows(&t, &too_many),
            Err(ClayError::Invalid(_))
        ));
        let ids: Vec<String> = (0..201).map(|i| format!("r_{i}")).collect();
        assert!(matches!(
            tables::read_records(&t, &ids),
            Err(ClayError::Invalid(_))
        ));
        let bad = NewRow {
            id: None,
            cells: vec![CellInput {
                field_id: "f_nope".into(),
                value: CellValue::Null,
            }],
        };
        assert!(tables::add_rows(&t, &[bad]).is_err());
        assert_eq!(tables::count_rows(&t).unwrap(), 1);
    }

    #[test]
    fn trashing_a_folder_hides_what_it_contains() {
        let ws = MockWorkspace::new("Acme");
        let folder = ws.add_folder("Outbound", None);
        let wb = ws.add_workbook("Q3", Some(&folder));
        let t = ws.add_table("Leads", Some(&wb), &["Email"]);
        let _installed = ws.install();
        assert!(matches!(
            folders::create(1, "Outbound", None),
            Err(ClayError::Conflict(_))
        ));
        folders::delete(1, std::slice::from_ref(&folder), false).unwrap();
        assert!(resources::list(1, None, &[]).unwrap().is_empty());
        assert!(resources::search(1, "leads").unwrap().is_empty());
        assert!(matches!(tables::get(&t), Err(ClayError::NotFound(_))));
        assert!(ws.resources().iter().all(|r| r.deleted));
    }

    #[test]
    #[should_panic(expected = "no mock workspace installed")]
    fn calling_clay_natively_without_a_workspace_says_how_to_fix_it() {
        let _ = crate::clay::workspaces::list();
    }

    #[test]
    fn dropping_the_guard_uninstalls_the_workspace() {
        let ws = MockWorkspace::new("Acme");
        drop(ws.install());
        let result = std::panic::catch_unwind(crate::clay::workspaces::list);
        assert!(result.is_err());
    }
}
