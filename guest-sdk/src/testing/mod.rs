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
    ActionConfig, Cell, CellValue, ClayError, Field, FieldKind, Integration, IntegrationType,
    Member, MemberStatus, Resource, ResourceKind, Role, Row, Source, TableInfo, TableKind,
    Timestamp, View, Workbook, Workspace,
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
    table: Option<String>,
    credits: f64,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "workspace-admin",
        Role::Member => "workspace-member",
        Role::Viewer => "workspace-viewer",
        Role::SalesRep => "workspace-sales-rep",
    }
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
        // A pending invitation has no user id in Clay; the mock keeps its key privately so
        // that the returned id still names it in tests.
        s.members.push(Member {
            user_id: (status != MemberStatus::Pending).then(|| id.clone()),
            email: email.to_string(),
            name: name.to_string(),
            role,
            role_name: role_name(role).to_string(),
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
            shared: false,
            created_at: Some(created_at),
        });
        id
    }

    /// Adds a Clay-managed integration shared by the whole workspace (`isSharedPublicKey`):
    /// it has no owner and never breaks when a member leaves.
    pub fn add_shared_integration(&self, name: &str, type_id: &str) -> String {
        let id = self.add_integration(name, type_id, None);
        let mut s = self.state.borrow_mut();
        if let Some(i) = s.integrations.iter_mut().find(|i| i.id == id) {
            i.shared = true;
        }
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
            created_at: Some(now),
            updated_at: Some(now),
        });
        id
    }

    /// Records credit use (what Clay's credit ledger holds) by `user` (or unattributed) on
    /// integration type `package_id` at `at`, on no table: the workspace report counts it
    /// as unattributed, and it is still that member's spending.
    pub fn record_usage(&self, user: Option<&str>, package_id: &str, credits: f64, at: Timestamp) {
        self.record_table_usage(user, package_id, None, credits, at);
    }

    /// Records credit use on a table: the workspace report puts it on the table's workbook
    /// (and that workbook's folder), as Clay's does.
    pub fn record_table_usage(
        &self,
        user: Option<&str>,
        package_id: &str,
        table_id: Option<&str>,
        credits: f64,
        at: Timestamp,
    ) {
        let mut s = self.state.borrow_mut();
        s.ensure_type(package_id, None);
        s.ledger.push(Usage {
            at,
            user: user.map(str::to_string),
            package: package_id.to_string(),
            table: table_id.map(str::to_string),
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
        r.created_at = Some(at);
        r.updated_at = Some(at);
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

mod state;
#[cfg(test)]
mod tests;
