//! Conversions between the WIT records (`w`) and the backend's model (`m`).
//!
//! Kept in one place so each capability module reads as "check, call, convert".

use super::bindings::types as w;
use crate::backend::{ClayError, model as m};

pub(crate) fn error_to_wit(e: ClayError) -> w::ClayError {
    match e {
        ClayError::NotFound(s) => w::ClayError::NotFound(s),
        ClayError::Denied(s) => w::ClayError::Denied(s),
        ClayError::Invalid(s) => w::ClayError::Invalid(s),
        ClayError::RateLimited(ms) => w::ClayError::RateLimited(ms),
        ClayError::BudgetExhausted(s) => w::ClayError::BudgetExhausted(s),
        ClayError::Conflict(s) => w::ClayError::Conflict(s),
        ClayError::Upstream(s) => w::ClayError::Upstream(s),
        ClayError::Unavailable(s) => w::ClayError::Unavailable(s),
    }
}

pub(crate) fn error_from_wit(e: w::ClayError) -> ClayError {
    match e {
        w::ClayError::NotFound(s) => ClayError::NotFound(s),
        w::ClayError::Denied(s) => ClayError::Denied(s),
        w::ClayError::Invalid(s) => ClayError::Invalid(s),
        w::ClayError::RateLimited(ms) => ClayError::RateLimited(ms),
        w::ClayError::BudgetExhausted(s) => ClayError::BudgetExhausted(s),
        w::ClayError::Conflict(s) => ClayError::Conflict(s),
        w::ClayError::Upstream(s) => ClayError::Upstream(s),
        w::ClayError::Unavailable(s) => ClayError::Unavailable(s),
    }
}

pub(crate) fn time_range(r: w::TimeRange) -> m::TimeRange {
    m::TimeRange {
        start: r.start,
        end: r.end,
    }
}

fn time_range_to_wit(r: m::TimeRange) -> w::TimeRange {
    w::TimeRange {
        start: r.start,
        end: r.end,
    }
}

pub(crate) fn cell_value(v: w::CellValue) -> m::CellValue {
    match v {
        w::CellValue::Null => m::CellValue::Null,
        w::CellValue::Text(s) => m::CellValue::Text(s),
        w::CellValue::Number(n) => m::CellValue::Number(n),
        w::CellValue::Boolean(b) => m::CellValue::Boolean(b),
        w::CellValue::Json(s) => m::CellValue::Json(s),
    }
}

pub(crate) fn cell_value_to_wit(v: m::CellValue) -> w::CellValue {
    match v {
        m::CellValue::Null => w::CellValue::Null,
        m::CellValue::Text(s) => w::CellValue::Text(s),
        m::CellValue::Number(n) => w::CellValue::Number(n),
        m::CellValue::Boolean(b) => w::CellValue::Boolean(b),
        m::CellValue::Json(s) => w::CellValue::Json(s),
    }
}

fn cell_status_to_wit(s: m::CellStatus) -> w::CellStatus {
    match s {
        m::CellStatus::Success => w::CellStatus::Success,
        m::CellStatus::Pending => w::CellStatus::Pending,
        m::CellStatus::RunConditionNotMet => w::CellStatus::RunConditionNotMet,
        m::CellStatus::Error(code) => w::CellStatus::Error(code),
    }
}

pub(crate) fn cell_input(c: w::CellInput) -> m::CellInput {
    m::CellInput {
        field_id: c.field_id,
        value: cell_value(c.value),
    }
}

pub(crate) fn new_row(r: w::NewRow) -> m::NewRow {
    m::NewRow {
        id: r.id,
        cells: r.cells.into_iter().map(cell_input).collect(),
    }
}

pub(crate) fn row_to_wit(r: m::Row) -> w::Row {
    w::Row {
        id: r.id,
        cells: r
            .cells
            .into_iter()
            .map(|c| w::Cell {
                field_id: c.field_id,
                value: cell_value_to_wit(c.value),
                status: c.status.map(cell_status_to_wit),
            })
            .collect(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn field_kind_to_wit(k: m::FieldKind) -> w::FieldKind {
    match k {
        m::FieldKind::Text => w::FieldKind::Text,
        m::FieldKind::Number => w::FieldKind::Number,
        m::FieldKind::Url => w::FieldKind::Url,
        m::FieldKind::Date => w::FieldKind::Date,
        m::FieldKind::Formula => w::FieldKind::Formula,
        m::FieldKind::Action => w::FieldKind::Action,
        m::FieldKind::Source => w::FieldKind::Source,
    }
}

pub(crate) fn field_to_wit(f: m::Field) -> w::Field {
    w::Field {
        id: f.id,
        name: f.name,
        kind: field_kind_to_wit(f.kind),
        action: f.action.map(|a| w::ActionConfig {
            action_key: a.action_key,
            package_id: a.package_id,
            auth_account_id: a.auth_account_id,
            credit_cost: a.credit_cost,
            input_field_ids: a.input_field_ids,
        }),
    }
}

pub(crate) fn table_to_wit(t: m::TableInfo) -> w::TableInfo {
    w::TableInfo {
        id: t.id,
        name: t.name,
        kind: match t.kind {
            m::TableKind::Spreadsheet => w::TableKind::Spreadsheet,
            m::TableKind::Company => w::TableKind::Company,
            m::TableKind::People => w::TableKind::People,
            m::TableKind::Jobs => w::TableKind::Jobs,
        },
        workspace_id: t.workspace_id,
        workbook_id: t.workbook_id,
        first_view_id: t.first_view_id,
        views: t
            .views
            .into_iter()
            .map(|v| w::View {
                id: v.id,
                name: v.name,
            })
            .collect(),
        fields: t.fields.into_iter().map(field_to_wit).collect(),
    }
}

pub(crate) fn workspace_to_wit(ws: m::Workspace) -> w::Workspace {
    w::Workspace {
        id: ws.id,
        name: ws.name,
        credit_balance: ws.credit_balance,
    }
}

pub(crate) fn folder_to_wit(f: m::Folder) -> w::Folder {
    w::Folder {
        id: f.id,
        name: f.name,
        workspace_id: f.workspace_id,
        parent_folder_id: f.parent_folder_id,
    }
}

pub(crate) fn workbook_to_wit(wb: m::Workbook) -> w::Workbook {
    w::Workbook {
        id: wb.id,
        name: wb.name,
        workspace_id: wb.workspace_id,
        parent_folder_id: wb.parent_folder_id,
        auto_run: wb.auto_run,
    }
}

pub(crate) fn resource_kind(k: w::ResourceKind) -> m::ResourceKind {
    match k {
        w::ResourceKind::Folder => m::ResourceKind::Folder,
        w::ResourceKind::Workbook => m::ResourceKind::Workbook,
        w::ResourceKind::Table => m::ResourceKind::Table,
    }
}

fn resource_kind_to_wit(k: m::ResourceKind) -> w::ResourceKind {
    match k {
        m::ResourceKind::Folder => w::ResourceKind::Folder,
        m::ResourceKind::Workbook => w::ResourceKind::Workbook,
        m::ResourceKind::Table => w::ResourceKind::Table,
    }
}

pub(crate) fn resource_ref(r: w::ResourceRef) -> m::ResourceRef {
    m::ResourceRef {
        id: r.id,
        kind: resource_kind(r.kind),
    }
}

pub(crate) fn resource_to_wit(r: m::Resource) -> w::Resource {
    w::Resource {
        id: r.id,
        name: r.name,
        kind: resource_kind_to_wit(r.kind),
        parent_id: r.parent_id,
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
        deleted: r.deleted,
    }
}

pub(crate) fn member_to_wit(mb: m::Member) -> w::Member {
    w::Member {
        user_id: mb.user_id,
        email: mb.email,
        name: mb.name,
        role: match mb.role {
            m::Role::Admin => w::Role::Admin,
            m::Role::Member => w::Role::Member,
            m::Role::Viewer => w::Role::Viewer,
            m::Role::SalesRep => w::Role::SalesRep,
        },
        role_name: mb.role_name,
        status: match mb.status {
            m::MemberStatus::Active => w::MemberStatus::Active,
            m::MemberStatus::Pending => w::MemberStatus::Pending,
            m::MemberStatus::Removed => w::MemberStatus::Removed,
        },
    }
}

pub(crate) fn report_to_wit(r: m::CreditReport) -> w::CreditReport {
    w::CreditReport {
        range: time_range_to_wit(r.range),
        entities: r
            .entities
            .into_iter()
            .map(|e| w::CreditEntity {
                id: e.id,
                name: e.name,
                kind: e.kind,
                is_deleted: e.is_deleted,
                credits: e.credits,
                action_executions: e.action_executions,
                subentities: e
                    .subentities
                    .into_iter()
                    .map(|s| w::CreditSubentity {
                        id: s.id,
                        name: s.name,
                        kind: s.kind,
                        is_deleted: s.is_deleted,
                        credits: s.credits,
                        action_executions: s.action_executions,
                    })
                    .collect(),
            })
            .collect(),
        unattributed_credits: r.unattributed_credits,
        unattributed_action_executions: r.unattributed_action_executions,
    }
}

pub(crate) fn integration_to_wit(i: m::Integration) -> w::Integration {
    w::Integration {
        id: i.id,
        name: i.name,
        type_id: i.type_id,
        owner_id: i.owner_id,
        shared: i.shared,
        created_at: i.created_at,
    }
}

pub(crate) fn member_usage_to_wit(u: m::MemberUsage) -> w::MemberCredits {
    w::MemberCredits {
        user_id: u.user_id,
        credits: u.credits,
        action_executions: u.action_executions,
    }
}

pub(crate) fn integration_type_to_wit(t: m::IntegrationType) -> w::IntegrationType {
    w::IntegrationType {
        id: t.id,
        name: t.name,
        provider_name: t.provider_name,
        authentication_type: t.authentication_type,
    }
}

pub(crate) fn source_to_wit(s: m::Source) -> w::Source {
    w::Source {
        id: s.id,
        name: s.name,
        table_id: s.table_id,
        kind: s.kind,
        url: s.url,
        records_received: s.records_received,
    }
}

pub(crate) fn run_target(t: w::RunTarget) -> m::RunTarget {
    match t {
        w::RunTarget::Records(ids) => m::RunTarget::Records(ids),
        w::RunTarget::ViewTop(v) => m::RunTarget::ViewTop {
            view_id: v.view_id,
            num_records: v.num_records,
        },
    }
}

pub(crate) fn run_result_to_wit(r: m::RunResult) -> w::RunResult {
    w::RunResult {
        mode: match r.mode {
            m::RunMode::None => w::RunMode::None,
            m::RunMode::Individual => w::RunMode::Individual,
            m::RunMode::Bulk => w::RunMode::Bulk,
        },
        record_count: r.record_count,
        credits_spent: r.credits_spent,
    }
}
