//! Clay's API, one module per capability, with the same paths, names and signatures as the
//! `clay:api` WIT imports.
//!
//! Inside a plugin (`wasm32`) each call crosses into the host, which checks the plugin's grant;
//! a capability the plugin was not granted returns [`ClayError::Denied`](crate::types::ClayError).
//! In a native test each call goes to the [`MockWorkspace`](crate::testing::MockWorkspace)
//! installed on the current thread, so plugin logic runs under `cargo test` without wasm.
//!
//! ```
//! use kiln_guest::testing::MockWorkspace;
//!
//! let ws = MockWorkspace::new("Acme");
//! let _installed = ws.install();
//! let all = kiln_guest::clay::workspaces::list().unwrap();
//! assert_eq!(all[0].name, "Acme");
//! ```

/// Calls the host import on wasm32 and the installed mock natively. Natively the real import
/// is still type-checked (never called), so the facade cannot drift from the WIT bindings.
macro_rules! dispatch {
    ($iface:ident :: $func:ident ( $($arg:ident),* ) => $mock:ident) => {{
        #[cfg(target_arch = "wasm32")]
        {
            crate::bindings::clay::api::$iface::$func($($arg),*)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            #[allow(unreachable_code, clippy::diverging_sub_expression)]
            if false {
                return crate::bindings::clay::api::$iface::$func($($arg),*);
            }
            crate::testing::with_installed(
                concat!(stringify!($iface), "::", stringify!($func)),
                |state| state.$mock($($arg),*),
            )
        }
    }};
}

/// The workspaces the acting account belongs to (`GET /v3/my-workspaces`).
pub mod workspaces {
    use crate::types::{ClayError, Workspace};

    /// Every workspace the acting member belongs to, with its credit balance.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// # let _installed = ws.install();
    /// let workspaces = kiln_guest::clay::workspaces::list()?;
    /// assert_eq!(workspaces.len(), 1);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn list() -> Result<Vec<Workspace>, ClayError> {
        dispatch!(workspaces::list() => workspaces_list)
    }
}

/// Folders (`POST /v3/workspaces/{ws}/folders`, `DELETE /v3/workspaces/{ws}/resources/`).
pub mod folders {
    use crate::types::{ClayError, Folder};

    /// Creates a folder at the top level or under `parent_folder_id`; a sibling with the same
    /// name is a [`ClayError::Conflict`].
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// # let _installed = ws.install();
    /// let folder = kiln_guest::clay::folders::create(ws.workspace_id(), "Q3", None)?;
    /// assert_eq!(folder.name, "Q3");
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn create(
        workspace_id: u64,
        name: &str,
        parent_folder_id: Option<&str>,
    ) -> Result<Folder, ClayError> {
        dispatch!(folders::create(workspace_id, name, parent_folder_id) => folders_create)
    }

    /// Moves folders (and what they contain) to the trash, or removes them for good when
    /// `permanent`.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// # let _installed = ws.install();
    /// let folder = kiln_guest::clay::folders::create(ws.workspace_id(), "Old", None)?;
    /// kiln_guest::clay::folders::delete(ws.workspace_id(), &[folder.id], false)?;
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn delete(
        workspace_id: u64,
        folder_ids: &[String],
        permanent: bool,
    ) -> Result<(), ClayError> {
        dispatch!(folders::delete(workspace_id, folder_ids, permanent) => folders_delete)
    }
}

/// The resource tree (`POST /v3/workspaces/{ws}/resources_v2/`).
pub mod resources {
    use crate::types::{ClayError, Resource, ResourceKind, ResourceRef};

    /// One level of the tree: the children of `parent`, or the top level when `None`; `kinds`
    /// filters (empty means every kind). Trashed resources are left out.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.add_table("Leads", None, &["Email"]);
    /// # let _installed = ws.install();
    /// let top = kiln_guest::clay::resources::list(ws.workspace_id(), None, &[])?;
    /// assert_eq!(top[0].name, "Leads");
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn list(
        workspace_id: u64,
        parent: Option<&ResourceRef>,
        kinds: &[ResourceKind],
    ) -> Result<Vec<Resource>, ClayError> {
        dispatch!(resources::list(workspace_id, parent, kinds) => resources_list)
    }

    /// Resources anywhere in the workspace whose name contains `query` (case-insensitive).
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.add_table("Leads 2026", None, &["Email"]);
    /// # let _installed = ws.install();
    /// let hits = kiln_guest::clay::resources::search(ws.workspace_id(), "leads")?;
    /// assert_eq!(hits.len(), 1);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn search(workspace_id: u64, query: &str) -> Result<Vec<Resource>, ClayError> {
        dispatch!(resources::search(workspace_id, query) => resources_search)
    }
}

/// Workbooks (`POST /v3/workbooks`, `DELETE /v3/workbooks/{wb}`).
pub mod workbooks {
    use crate::types::{ClayError, Workbook};

    /// Creates a workbook at the top level or in a folder.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// # let _installed = ws.install();
    /// let wb = kiln_guest::clay::workbooks::create(ws.workspace_id(), "Outbound", false, None)?;
    /// assert!(wb.id.starts_with("wb_"));
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn create(
        workspace_id: u64,
        name: &str,
        auto_run: bool,
        parent_folder_id: Option<&str>,
    ) -> Result<Workbook, ClayError> {
        dispatch!(workbooks::create(workspace_id, name, auto_run, parent_folder_id) => workbooks_create)
    }

    /// Deletes a workbook and its tables.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// # let _installed = ws.install();
    /// let wb = kiln_guest::clay::workbooks::create(ws.workspace_id(), "Scratch", false, None)?;
    /// kiln_guest::clay::workbooks::delete(&wb.id)?;
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn delete(workbook_id: &str) -> Result<(), ClayError> {
        dispatch!(workbooks::delete(workbook_id) => workbooks_delete)
    }
}

/// Tables, their records, enrichment runs and sources (`/v3/tables/…`, `/v3/sources…`).
pub mod tables {
    use crate::types::{ClayError, NewRow, Row, RunResult, RunTarget, Source, TableInfo};

    /// The table with its fields and views.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email", "Name"]);
    /// # let _installed = ws.install();
    /// let table = kiln_guest::clay::tables::get(&leads)?;
    /// assert_eq!(table.fields.len(), 2);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn get(table_id: &str) -> Result<TableInfo, ClayError> {
        dispatch!(tables::get(table_id) => tables_get)
    }

    /// Every record id of a view, in insertion order (no paging).
    ///
    /// ```
    /// # use kiln_guest::types::CellValue;
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// ws.add_row(&leads, &[("Email", CellValue::Text("a@b.io".into()))]);
    /// # let _installed = ws.install();
    /// let view = kiln_guest::clay::tables::get(&leads)?.first_view_id.unwrap();
    /// assert_eq!(kiln_guest::clay::tables::record_ids(&leads, &view)?.len(), 1);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn record_ids(table_id: &str, view_id: &str) -> Result<Vec<String>, ClayError> {
        dispatch!(tables::record_ids(table_id, view_id) => tables_record_ids)
    }

    /// Records by id, at most 200 per call; unknown ids are skipped.
    ///
    /// ```
    /// # use kiln_guest::types::CellValue;
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// let id = ws.add_row(&leads, &[("Email", CellValue::Text("a@b.io".into()))]);
    /// # let _installed = ws.install();
    /// let rows = kiln_guest::clay::tables::read_records(&leads, &[id])?;
    /// assert_eq!(rows.len(), 1);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn read_records(table_id: &str, record_ids: &[String]) -> Result<Vec<Row>, ClayError> {
        dispatch!(tables::read_records(table_id, record_ids) => tables_read_records)
    }

    /// Adds rows (at most 50 per call) and returns them with their ids; a row whose `id` is
    /// already in the table is returned as it is, so retries are idempotent.
    ///
    /// ```
    /// # use kiln_guest::types::{CellInput, CellValue, NewRow};
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// let email = ws.field_id(&leads, "Email").unwrap();
    /// # let _installed = ws.install();
    /// let row = NewRow { id: None, cells: vec![CellInput { field_id: email, value: CellValue::Text("x@y.io".into()) }] };
    /// let added = kiln_guest::clay::tables::add_rows(&leads, &[row])?;
    /// assert!(added[0].id.starts_with("r_"));
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn add_rows(table_id: &str, rows: &[NewRow]) -> Result<Vec<Row>, ClayError> {
        dispatch!(tables::add_rows(table_id, rows) => tables_add_rows)
    }

    /// Deletes records by id.
    ///
    /// ```
    /// # use kiln_guest::types::CellValue;
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// let id = ws.add_row(&leads, &[("Email", CellValue::Text("a@b.io".into()))]);
    /// # let _installed = ws.install();
    /// kiln_guest::clay::tables::delete_rows(&leads, &[id])?;
    /// assert_eq!(kiln_guest::clay::tables::count_rows(&leads)?, 0);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn delete_rows(table_id: &str, record_ids: &[String]) -> Result<(), ClayError> {
        dispatch!(tables::delete_rows(table_id, record_ids) => tables_delete_rows)
    }

    /// Deletes every record of the table (a view's records when `view_id` is given).
    ///
    /// ```
    /// # use kiln_guest::types::CellValue;
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// ws.add_row(&leads, &[("Email", CellValue::Text("a@b.io".into()))]);
    /// # let _installed = ws.install();
    /// kiln_guest::clay::tables::delete_all_rows(&leads, None)?;
    /// assert_eq!(kiln_guest::clay::tables::count_rows(&leads)?, 0);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn delete_all_rows(table_id: &str, view_id: Option<&str>) -> Result<(), ClayError> {
        dispatch!(tables::delete_all_rows(table_id, view_id) => tables_delete_all_rows)
    }

    /// Runs enrichment columns over the target rows and spends credits: each row whose cell
    /// is empty (or `force`) and whose inputs are present is filled and charged the column's
    /// `credit_cost`. Mode `none` means nothing ran and nothing was spent.
    ///
    /// ```
    /// # use kiln_guest::types::{CellValue, RunTarget};
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// let phone = ws.add_action_column(&leads, "Phone", "find-mobile", "hunter", None, 2.0, &["Email"]);
    /// let row = ws.add_row(&leads, &[("Email", CellValue::Text("a@b.io".into()))]);
    /// # let _installed = ws.install();
    /// let run = kiln_guest::clay::tables::run_column(&leads, &[phone], &RunTarget::Records(vec![row]), false)?;
    /// assert_eq!(run.credits_spent, 2.0);
    /// assert_eq!(ws.credits_spent(), 2.0);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn run_column(
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
        force: bool,
    ) -> Result<RunResult, ClayError> {
        dispatch!(tables::run_column(table_id, field_ids, target, force) => tables_run_column)
    }

    /// How many records the table holds.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// # let _installed = ws.install();
    /// assert_eq!(kiln_guest::clay::tables::count_rows(&leads)?, 0);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn count_rows(table_id: &str) -> Result<u64, ClayError> {
        dispatch!(tables::count_rows(table_id) => tables_count_rows)
    }

    /// The table's data sources.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// # let _installed = ws.install();
    /// assert!(kiln_guest::clay::tables::list_sources(&leads)?.is_empty());
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn list_sources(table_id: &str) -> Result<Vec<Source>, ClayError> {
        dispatch!(tables::list_sources(table_id) => tables_list_sources)
    }

    /// Adds a webhook source to the table; the result carries its inbound URL.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// # let _installed = ws.install();
    /// let source = kiln_guest::clay::tables::add_webhook_source(&leads, "Signups")?;
    /// assert!(source.url.is_some());
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn add_webhook_source(table_id: &str, name: &str) -> Result<Source, ClayError> {
        dispatch!(tables::add_webhook_source(table_id, name) => tables_add_webhook_source)
    }

    /// Removes a source, and the records it brought in when `delete_records`.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let leads = ws.add_table("Leads", None, &["Email"]);
    /// # let _installed = ws.install();
    /// let source = kiln_guest::clay::tables::add_webhook_source(&leads, "Signups")?;
    /// kiln_guest::clay::tables::delete_source(&source.id, false)?;
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn delete_source(source_id: &str, delete_records: bool) -> Result<(), ClayError> {
        dispatch!(tables::delete_source(source_id, delete_records) => tables_delete_source)
    }
}

/// Credit reports, permissions, integrations and who created what
/// (`/v3/credit-reporting/…`, `/v3/app-accounts…`).
pub mod credits {
    use crate::types::{
        ClayError, CreditReport, Integration, IntegrationType, Member, MemberCredits, Resource,
        TimeRange,
    };

    /// Members with their roles and status (`GET /v3/workspaces/{ws}/permissions`).
    ///
    /// ```
    /// # use kiln_guest::types::{MemberStatus, Role};
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.add_member("maya@acme.io", "Maya", Role::Admin, MemberStatus::Active);
    /// # let _installed = ws.install();
    /// let members = kiln_guest::clay::credits::permissions(ws.workspace_id())?;
    /// assert_eq!(members[0].role, Role::Admin);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn permissions(workspace_id: u64) -> Result<Vec<Member>, ClayError> {
        dispatch!(credits::permissions(workspace_id) => credits_permissions)
    }

    /// What each folder and workbook spent in `range`: entities are resources (`kind`
    /// `folder` with its workbooks as sub-entities, or a top-level `workbook`), never
    /// members — for those, use [`member_usage`]. Spending on no table is unattributed.
    ///
    /// ```
    /// # use kiln_guest::types::{MemberStatus, Role, TimeRange};
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let maya = ws.add_member("maya@acme.io", "Maya", Role::Admin, MemberStatus::Active);
    /// let sales = ws.add_folder("Sales", None);
    /// let wb = ws.add_workbook("Leads", Some(&sales));
    /// let table = ws.add_table("Leads", Some(&wb), &["Email"]);
    /// ws.record_table_usage(Some(&maya), "hunter", Some(&table), 12.0, ws.now() - 1);
    /// # let _installed = ws.install();
    /// let range = TimeRange { start: 0, end: ws.now() };
    /// let report = kiln_guest::clay::credits::workspace_report(ws.workspace_id(), range)?;
    /// assert_eq!((report.entities[0].kind.as_str(), report.entities[0].credits), ("folder", 12.0));
    /// assert_eq!(report.entities[0].subentities[0].id, wb);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn workspace_report(
        workspace_id: u64,
        range: TimeRange,
    ) -> Result<CreditReport, ClayError> {
        dispatch!(credits::workspace_report(workspace_id, range) => credits_workspace_report)
    }

    /// The workspace report restricted to what the given members spent (Clay's `ownerIds`):
    /// its entities are still resources.
    ///
    /// ```
    /// # use kiln_guest::types::{MemberStatus, Role, TimeRange};
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let maya = ws.add_member("maya@acme.io", "Maya", Role::Admin, MemberStatus::Active);
    /// let jo = ws.add_member("jo@acme.io", "Jo", Role::Member, MemberStatus::Active);
    /// ws.record_usage(Some(&maya), "hunter", 12.0, ws.now() - 1);
    /// ws.record_usage(Some(&jo), "hunter", 3.0, ws.now() - 1);
    /// # let _installed = ws.install();
    /// let range = TimeRange { start: 0, end: ws.now() };
    /// let report = kiln_guest::clay::credits::user_report(ws.workspace_id(), range, &[jo])?;
    /// assert_eq!(report.unattributed_credits, 3.0);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn user_report(
        workspace_id: u64,
        range: TimeRange,
        owner_ids: &[String],
    ) -> Result<CreditReport, ClayError> {
        dispatch!(credits::user_report(workspace_id, range, owner_ids) => credits_user_report)
    }

    /// What each member spent in `range`, one entry per id asked, in order (at most 500):
    /// every credit of theirs, on a resource or not.
    ///
    /// ```
    /// # use kiln_guest::types::{MemberStatus, Role, TimeRange};
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let maya = ws.add_member("maya@acme.io", "Maya", Role::Admin, MemberStatus::Active);
    /// let jo = ws.add_member("jo@acme.io", "Jo", Role::Member, MemberStatus::Active);
    /// ws.record_usage(Some(&jo), "hunter", 3.0, ws.now() - 1);
    /// # let _installed = ws.install();
    /// let range = TimeRange { start: 0, end: ws.now() };
    /// let spent = kiln_guest::clay::credits::member_usage(ws.workspace_id(), range, &[maya, jo])?;
    /// assert_eq!((spent[0].credits, spent[1].credits), (0.0, 3.0));
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn member_usage(
        workspace_id: u64,
        range: TimeRange,
        user_ids: &[String],
    ) -> Result<Vec<MemberCredits>, ClayError> {
        dispatch!(credits::member_usage(workspace_id, range, user_ids) => credits_member_usage)
    }

    /// Usage per integration type (entities of kind `integration`).
    ///
    /// ```
    /// # use kiln_guest::types::TimeRange;
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.record_usage(None, "hunter", 5.0, ws.now() - 1);
    /// # let _installed = ws.install();
    /// let range = TimeRange { start: 0, end: ws.now() };
    /// let report = kiln_guest::clay::credits::integration_report(ws.workspace_id(), range)?;
    /// assert_eq!(report.entities[0].id, "hunter");
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn integration_report(
        workspace_id: u64,
        range: TimeRange,
    ) -> Result<CreditReport, ClayError> {
        dispatch!(credits::integration_report(workspace_id, range) => credits_integration_report)
    }

    /// Workspace usage restricted to the given integration types.
    ///
    /// ```
    /// # use kiln_guest::types::TimeRange;
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.record_usage(None, "hunter", 5.0, ws.now() - 1);
    /// ws.record_usage(None, "clearbit", 7.0, ws.now() - 1);
    /// # let _installed = ws.install();
    /// let range = TimeRange { start: 0, end: ws.now() };
    /// let r = kiln_guest::clay::credits::integration_specific_report(ws.workspace_id(), range, &["hunter".into()])?;
    /// assert_eq!(r.unattributed_credits, 5.0);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn integration_specific_report(
        workspace_id: u64,
        range: TimeRange,
        integration_ids: &[String],
    ) -> Result<CreditReport, ClayError> {
        dispatch!(credits::integration_specific_report(workspace_id, range, integration_ids) => credits_integration_specific_report)
    }

    /// Resources created by the given users.
    ///
    /// ```
    /// # use kiln_guest::types::{MemberStatus, Role};
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// let maya = ws.add_member("maya@acme.io", "Maya", Role::Admin, MemberStatus::Active);
    /// ws.act_as(&maya);
    /// ws.add_table("Leads", None, &["Email"]);
    /// # let _installed = ws.install();
    /// let made = kiln_guest::clay::credits::user_resources(ws.workspace_id(), &[maya])?;
    /// assert_eq!(made[0].name, "Leads");
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn user_resources(
        workspace_id: u64,
        owner_ids: &[String],
    ) -> Result<Vec<Resource>, ClayError> {
        dispatch!(credits::user_resources(workspace_id, owner_ids) => credits_user_resources)
    }

    /// Integrations (authenticated app accounts) with the member who authenticated each.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.add_integration("Hunter (team)", "hunter", None);
    /// # let _installed = ws.install();
    /// let all = kiln_guest::clay::credits::integrations(ws.workspace_id())?;
    /// assert_eq!(all[0].type_id, "hunter");
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn integrations(workspace_id: u64) -> Result<Vec<Integration>, ClayError> {
        dispatch!(credits::integrations(workspace_id) => credits_integrations)
    }

    /// One integration type (`actionPackageId`).
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.add_integration_type("hunter", "Hunter.io");
    /// # let _installed = ws.install();
    /// assert_eq!(kiln_guest::clay::credits::get_integration_type("hunter")?.name, "Hunter.io");
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn get_integration_type(type_id: &str) -> Result<IntegrationType, ClayError> {
        dispatch!(credits::get_integration_type(type_id) => credits_get_integration_type)
    }

    /// Every integration type the workspace knows.
    ///
    /// ```
    /// # let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.add_integration_type("hunter", "Hunter.io");
    /// # let _installed = ws.install();
    /// assert_eq!(kiln_guest::clay::credits::list_integration_types()?.len(), 1);
    /// # Ok::<(), kiln_guest::types::ClayError>(())
    /// ```
    pub fn list_integration_types() -> Result<Vec<IntegrationType>, ClayError> {
        dispatch!(credits::list_integration_types() => credits_list_integration_types)
    }
}
