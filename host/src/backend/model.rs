//! The backend's own data model: what Clay stores, independent of the WIT bindings.
//!
//! Capability modules translate between these and the generated WIT types, so a backend
//! never depends on wasmtime and the WIT contract can evolve without touching storage.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl TimeRange {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum CellValue {
    Null,
    Text(String),
    Number(f64),
    Boolean(bool),
    /// JSON text.
    Json(String),
}

impl CellValue {
    /// The value as display text (`Null` is empty).
    pub fn as_text(&self) -> String {
        match self {
            CellValue::Null => String::new(),
            CellValue::Text(s) | CellValue::Json(s) => s.clone(),
            CellValue::Number(n) => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    format!("{}", *n as i64)
                } else {
                    n.to_string()
                }
            }
            CellValue::Boolean(b) => b.to_string(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, CellValue::Null)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    Success,
    Pending,
    RunConditionNotMet,
    /// Any other `ERROR_*` code.
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub field_id: String,
    pub value: CellValue,
    pub status: Option<CellStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub cells: Vec<Cell>,
    /// `None` when Clay did not say: unknown, never the epoch.
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

impl Row {
    pub fn cell(&self, field_id: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.field_id == field_id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellInput {
    pub field_id: String,
    pub value: CellValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRow {
    /// A client-generated id (`r_…`); the backend generates one when absent.
    pub id: Option<String>,
    pub cells: Vec<CellInput>,
}

/// A change to one existing row's cells (the host applies transformer effects with these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowUpdate {
    pub id: String,
    pub cells: Vec<CellInput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number,
    Url,
    Date,
    Formula,
    Action,
    Source,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionConfig {
    pub action_key: String,
    /// The integration type (`actionPackageId`).
    pub package_id: String,
    /// The integration (`aa_…`) whose credentials it runs with.
    pub auth_account_id: Option<String>,
    pub credit_cost: Option<f64>,
    pub input_field_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub id: String,
    pub name: String,
    pub kind: FieldKind,
    pub action: Option<ActionConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    Spreadsheet,
    Company,
    People,
    Jobs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    pub id: String,
    pub name: String,
    pub kind: TableKind,
    pub workspace_id: u64,
    pub workbook_id: Option<String>,
    pub first_view_id: Option<String>,
    pub views: Vec<View>,
    pub fields: Vec<Field>,
}

impl TableInfo {
    pub fn field(&self, id: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.id == id)
    }

    pub fn field_by_name(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: u64,
    pub name: String,
    pub credit_balance: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub id: String,
    pub name: String,
    pub workspace_id: u64,
    pub parent_folder_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workbook {
    pub id: String,
    pub name: String,
    pub workspace_id: u64,
    pub parent_folder_id: Option<String>,
    pub auto_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Folder,
    Workbook,
    Table,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    pub id: String,
    pub kind: ResourceKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub kind: ResourceKind,
    pub parent_id: Option<String>,
    /// The member who created it (Clay's `ownerId`).
    pub created_by: Option<String>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
    Viewer,
    SalesRep,
}

impl Role {
    /// Clay's name for the role (`role.role` in permissions).
    pub fn wire_name(self) -> &'static str {
        match self {
            Role::Admin => "workspace-admin",
            Role::Member => "workspace-member",
            Role::Viewer => "workspace-viewer",
            Role::SalesRep => "workspace-sales-rep",
        }
    }

    /// Reads Clay's role text; `None` for a role kiln does not know (the caller keeps the text).
    pub fn from_wire(text: &str) -> Option<Role> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.strip_prefix("workspace-").unwrap_or(&t);
        match t.replace('_', "-").as_str() {
            "admin" | "owner" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "viewer" => Some(Role::Viewer),
            "sales-rep" | "salesrep" => Some(Role::SalesRep),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    Pending,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// `None` for a pending invitation: it has no user yet, and its email is not an id.
    pub user_id: Option<String>,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Clay's own text for the role, kept when `role` had to map an unknown one.
    pub role_name: String,
    pub status: MemberStatus,
}

/// What one member spent in a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberUsage {
    pub user_id: String,
    pub credits: f64,
    pub action_executions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditSubentity {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub is_deleted: bool,
    pub credits: f64,
    pub action_executions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditEntity {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub is_deleted: bool,
    pub credits: f64,
    pub action_executions: u64,
    pub subentities: Vec<CreditSubentity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditReport {
    pub range: TimeRange,
    pub entities: Vec<CreditEntity>,
    pub unattributed_credits: f64,
    pub unattributed_action_executions: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub type_id: String,
    /// The member whose credentials it uses (Clay's `userOwnerId`).
    pub owner_id: Option<String>,
    /// Clay-managed and shared by the workspace (`isSharedPublicKey`): nobody's to lose.
    pub shared: bool,
    pub created_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationType {
    pub id: String,
    pub name: String,
    pub provider_name: String,
    pub authentication_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub table_id: String,
    pub kind: String,
    pub url: Option<String>,
    pub records_received: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTarget {
    Records(Vec<String>),
    ViewTop {
        view_id: String,
        num_records: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    None,
    Individual,
    Bulk,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub mode: RunMode,
    pub record_count: u32,
    pub credits_spent: f64,
    /// Clay's answer did not say what the run spent, so `credits_spent` is no measurement.
    /// The credit meter then commits its estimate (never 0) and puts it in `credits_spent`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credits_unreported: bool,
}

/// A journaled run's batch, for a backend that can mark it applied in the same transaction
/// as its changes (see [`crate::backend::Clay::apply_journaled`]).
#[derive(Debug, Clone)]
pub struct JournalMark {
    /// The state file holding the run journal.
    pub journal: std::path::PathBuf,
    pub run_id: String,
    pub batch: u32,
    /// The batch's effects as the journal keeps them (JSON).
    pub effects: String,
}
