//! kiln's real HTTP backend against Clay's shapes as `clay-v3.md` records them: bodies written
//! by hand (`tests/fixtures/clay/`, see its README for the facts), served byte for byte by
//! the fixture server. One assertion per fact a Clay admin would act on.

use kiln_host::Clay;
use kiln_host::backend::ClayError;
use kiln_host::backend::http::Credentials;
use kiln_host::backend::model::*;
use kiln_tests::fixture_server::{FIXTURE_WORKSPACE as WS, FixtureServer};

const LEADS: &str = "t_Lds5x2Kq";
const ACCOUNTS: &str = "t_Acc3nts0";
const ALL_ROWS: &str = "gv_AllRws1";
const ERRORED: &str = "gv_Errd2b";

fn ms(iso: &str) -> Timestamp {
    iso.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn range() -> TimeRange {
    TimeRange {
        start: ms("2026-10-01T00:00:00Z"),
        end: ms("2026-11-18T00:00:00Z"),
    }
}

fn kinds(list: &[Resource]) -> Vec<(&str, ResourceKind)> {
    list.iter().map(|r| (r.id.as_str(), r.kind)).collect()
}

#[tokio::test]
async fn the_workspace_is_read_from_my_workspaces() {
    let server = FixtureServer::start().await;
    let ws = server.backend().list_workspaces().await.unwrap();
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0].id, WS);
    assert_eq!(ws[0].name, "Acme Growth");
    assert_eq!(ws[0].credit_balance, 5512.5);
}

#[tokio::test]
async fn roles_come_from_role_role_and_the_only_admin_is_an_admin() {
    let server = FixtureServer::start().await;
    let members = server.backend().permissions(WS).await.unwrap();
    assert_eq!(members.len(), 5, "{members:#?}");
    let by_email = |email: &str| {
        members
            .iter()
            .find(|m| m.email == email)
            .unwrap_or_else(|| panic!("{email} missing from {members:#?}"))
    };

    let maya = by_email("maya@acme.test");
    assert_eq!(maya.role, Role::Admin, "workspace-admin is an admin");
    assert_eq!(maya.role_name, "workspace-admin");
    assert_eq!(maya.user_id.as_deref(), Some("7001"));
    assert_eq!(maya.name, "Maya Chen");
    assert_eq!(maya.status, MemberStatus::Active);
    let admins: Vec<&str> = members
        .iter()
        .filter(|m| m.role == Role::Admin)
        .map(|m| m.email.as_str())
        .collect();
    assert_eq!(admins, ["maya@acme.test"], "Maya is the only admin");

    let jonas = by_email("jonas@acme.test");
    assert_eq!(jonas.role, Role::Member);
    assert_eq!(jonas.user_id.as_deref(), Some("7002"));
    let priya = by_email("priya@acme.test");
    assert_eq!(
        priya.role,
        Role::Viewer,
        "workspace-viewer is carried as a viewer"
    );
    assert_eq!(priya.role_name, "workspace-viewer");
    let leo = by_email("leo@acme.test");
    assert_eq!(
        leo.role,
        Role::SalesRep,
        "workspace-sales-rep is carried as such"
    );
    assert_eq!(leo.role_name, "workspace-sales-rep");
}

#[tokio::test]
async fn a_pending_invitation_has_no_user_id() {
    let server = FixtureServer::start().await;
    let members = server.backend().permissions(WS).await.unwrap();
    let ava = members
        .iter()
        .find(|m| m.email == "ava@acme.test")
        .expect("the invitation is listed");
    assert_eq!(ava.status, MemberStatus::Pending);
    assert_eq!(ava.user_id, None, "an invitation's email is never its id");
    assert!(
        members
            .iter()
            .all(|m| m.user_id.as_deref().is_none_or(|id| !id.contains('@'))),
        "{members:#?}"
    );
}

#[tokio::test]
async fn integration_owners_come_from_user_owner_id_and_shared_accounts_have_none() {
    let server = FixtureServer::start().await;
    let list = server.backend().integrations(WS).await.unwrap();
    assert_eq!(list.len(), 7, "{list:#?}");
    let by_id = |id: &str| list.iter().find(|i| i.id == id).unwrap();

    let hunter = by_id("aa_7HkQ2mJonasHunter");
    assert_eq!(
        hunter.owner_id.as_deref(),
        Some("7002"),
        "the owner is userOwnerId"
    );
    assert!(!hunter.shared);
    assert_eq!(hunter.type_id, "hunter");
    assert_eq!(hunter.created_at, Some(ms("2026-05-14T09:21:07.412Z")));
    let sams = by_id("aa_3pXv9rSamLusha");
    assert_eq!(sams.owner_id.as_deref(), Some("7005"));
    assert!(!sams.shared);
    assert_eq!(
        by_id("aa_9dLw4tMayaOpenAI").owner_id.as_deref(),
        Some("7001")
    );

    let shared: Vec<&Integration> = list.iter().filter(|i| i.shared).collect();
    assert_eq!(
        shared.len(),
        4,
        "isSharedPublicKey:true accounts are shared"
    );
    for s in shared {
        assert_eq!(s.owner_id, None, "{} belongs to nobody", s.id);
        assert_eq!(s.created_at, None, "{} has no createdAt", s.id);
    }
}

#[tokio::test]
async fn integration_types_are_read() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let types = http.integration_types().await.unwrap();
    assert_eq!(types.len(), 5);
    let hunter = http.integration_type("hunter").await.unwrap();
    assert_eq!(hunter.name, "Hunter");
    assert_eq!(hunter.provider_name, "Hunter.io");
    assert_eq!(hunter.authentication_type, "api_key");
}

#[tokio::test]
async fn resources_are_classified_by_resource_type_at_every_level() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let top = http.list_resources(WS, None, &[]).await.unwrap();
    assert_eq!(
        kinds(&top),
        [
            ("fol_8Sales2k", ResourceKind::Folder),
            ("wb_0Customers9", ResourceKind::Workbook)
        ]
    );
    assert_eq!(
        top[0].created_by.as_deref(),
        Some("7001"),
        "ownerId is the creator"
    );
    assert_eq!(top[0].created_at, Some(ms("2026-06-01T10:00:00.000Z")));

    let sales = ResourceRef {
        id: "fol_8Sales2k".into(),
        kind: ResourceKind::Folder,
    };
    let in_sales = http.list_resources(WS, Some(&sales), &[]).await.unwrap();
    assert_eq!(
        kinds(&in_sales),
        [
            ("wb_4Prospecting1", ResourceKind::Workbook),
            ("fol_3Emea7q", ResourceKind::Folder)
        ]
    );
    assert_eq!(
        in_sales[0].created_at, None,
        "a missing createdAt is unknown, not 1970"
    );
    assert_eq!(in_sales[0].created_by.as_deref(), Some("7002"));

    let prospecting = ResourceRef {
        id: "wb_4Prospecting1".into(),
        kind: ResourceKind::Workbook,
    };
    let tables = http
        .list_resources(WS, Some(&prospecting), &[])
        .await
        .unwrap();
    assert_eq!(
        kinds(&tables),
        [
            (LEADS, ResourceKind::Table),
            ("t_OldLds8w", ResourceKind::Table)
        ],
        "TABLE entries whose `type` is `spreadsheet` are tables"
    );
    assert_eq!(tables[1].created_by.as_deref(), Some("7005"));

    let customers = ResourceRef {
        id: "wb_0Customers9".into(),
        kind: ResourceKind::Workbook,
    };
    let accounts = http
        .list_resources(WS, Some(&customers), &[])
        .await
        .unwrap();
    assert_eq!(kinds(&accounts), [(ACCOUNTS, ResourceKind::Table)]);
    assert_eq!(accounts[0].created_at, None);
}

#[tokio::test]
async fn a_table_nested_in_a_folder_and_workbook_is_found_by_id_and_by_name() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let by_id = http.resolve_table(LEADS).await.unwrap();
    assert_eq!(by_id.name, "Leads");

    server.clear_requests();
    let by_name = http.resolve_table("Leads").await.unwrap();
    assert_eq!(by_name.id, LEADS, "the exact name wins over `Leads (old)`");
    let asked = server.requests_to("/resources_v2");
    let global = asked
        .iter()
        .any(|r| r.body.get("isGlobalSearch").and_then(|g| g.as_bool()) == Some(true));
    let walked = asked.iter().any(|r| {
        r.body
            .pointer("/parentResource/id")
            .and_then(|p| p.as_str())
            == Some("wb_4Prospecting1")
    });
    assert!(
        global || walked,
        "a nested table is looked up with isGlobalSearch or by walking the tree: {asked:#?}"
    );

    let found = http.search_resources(WS, "Leads").await.unwrap();
    assert!(
        found
            .iter()
            .any(|r| r.id == LEADS && r.kind == ResourceKind::Table),
        "{found:#?}"
    );

    let err = http.resolve_table("t_Missing00").await.unwrap_err();
    assert!(matches!(err, ClayError::NotFound(_)), "{err}");
    assert!(err.to_string().contains("t_Missing00"), "{err}");
}

#[tokio::test]
async fn the_table_its_views_and_its_action_field() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let t = http.get_table(LEADS).await.unwrap();
    assert_eq!(t.kind, TableKind::Spreadsheet);
    assert_eq!(t.workspace_id, WS);
    assert_eq!(t.workbook_id.as_deref(), Some("wb_4Prospecting1"));
    assert_eq!(t.first_view_id.as_deref(), Some(ALL_ROWS));
    let views: Vec<&str> = t.views.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(views, ["All rows", "Errored rows"]);
    assert_eq!(t.field("f_name").unwrap().kind, FieldKind::Text);

    let email = t.field("f_work_email").unwrap();
    assert_eq!(email.kind, FieldKind::Action);
    let action = email
        .action
        .as_ref()
        .expect("an action field has its action");
    assert_eq!(
        action.input_field_ids,
        ["f_name", "f_domain"],
        "inputFieldIds sit on the field, not in typeSettings"
    );
    assert_eq!(action.package_id, "hunter", "typeSettings.actionPackageId");
    assert_eq!(action.action_key, "find-work-email");
    assert_eq!(action.auth_account_id, None);
    assert_eq!(action.credit_cost, None, "no cost given is unknown, not 0");

    let accounts = http.get_table(ACCOUNTS).await.unwrap();
    assert_eq!(accounts.kind, TableKind::Company);
    let summary = accounts.field("f_acc_summary").unwrap();
    assert_eq!(
        summary.action.as_ref().unwrap().input_field_ids,
        ["f_acc_company", "f_acc_domain"]
    );
}

#[tokio::test]
async fn search_is_not_a_record_id_and_a_view_filters() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let ids = http.record_ids(LEADS, ALL_ROWS).await.unwrap();
    assert_eq!(ids, ["r_Ada001", "r_Grc002", "r_Aln003"]);
    let errored = http.record_ids(LEADS, ERRORED).await.unwrap();
    assert_eq!(errored, ["r_Grc002"], "a view's ids are not the table's");
    assert_eq!(http.count_rows(LEADS).await.unwrap(), 3);
}

#[tokio::test]
async fn bulk_fetch_reads_sparse_cells_and_ignores_the_rest() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let ids: Vec<String> = ["r_Ada001", "r_Grc002", "r_Aln003", "r_Unknown9"]
        .map(String::from)
        .to_vec();
    let rows = http.read_records(LEADS, &ids).await.unwrap();
    assert_eq!(rows.len(), 3, "unknown ids are omitted");
    let ada = &rows[0];
    assert_eq!(ada.id, "r_Ada001");
    assert_eq!(
        ada.cell("f_name").unwrap().value,
        CellValue::Text("Ada Lovelace".into())
    );
    assert_eq!(
        ada.cell("f_work_email").unwrap().status,
        Some(CellStatus::Success)
    );
    assert_eq!(ada.created_at, Some(ms("2026-10-01T09:00:00.000Z")));
    assert_eq!(ada.updated_at, Some(ms("2026-10-02T10:30:00.000Z")));
    let grace = &rows[1];
    assert!(grace.cell("f_company").is_none(), "empty cells are absent");
    let email = grace.cell("f_work_email").unwrap();
    assert_eq!(email.value, CellValue::Null);
    assert_eq!(email.status, Some(CellStatus::RunConditionNotMet));
    let bulk: Vec<_> = server.requests_to("/bulk-fetch-records");
    assert!(
        bulk.iter().all(|r| r
            .body
            .get("recordIds")
            .and_then(|i| i.as_array())
            .is_some_and(|a| !a.is_empty())),
        "never an empty bulk-fetch (Clay answers 400)"
    );
}

#[tokio::test]
async fn new_rows_are_posted_blank_then_patched_and_read_back() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let row = NewRow {
        id: Some("r_New001".into()),
        cells: vec![
            CellInput {
                field_id: "f_name".into(),
                value: CellValue::Text("Hedy Lamarr".into()),
            },
            CellInput {
                field_id: "f_company".into(),
                value: CellValue::Text("Vandelay Industries".into()),
            },
        ],
    };
    let added = http.add_rows(LEADS, &[row]).await.unwrap();
    let hedy = added.iter().find(|r| r.id == "r_New001").expect("the row");
    assert_eq!(
        hedy.cell("f_name").map(|c| c.value.clone()),
        Some(CellValue::Text("Hedy Lamarr".into())),
        "values that Clay dropped from the POST are PATCHed and read back"
    );
    let posts: Vec<_> = server
        .requests_to("/records")
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0]
            .body
            .pointer("/records/0/id")
            .and_then(|v| v.as_str()),
        Some("r_New001"),
        "client-generated ids"
    );
    let patched = server
        .requests_to("/records")
        .into_iter()
        .any(|r| r.method == "PATCH");
    assert!(patched, "the values go in a PATCH, as Clay's UI does");

    // An enqueued answer is a submitted update, not a shape error.
    let update = RowUpdate {
        id: "r_Ada001".into(),
        cells: vec![CellInput {
            field_id: "f_name".into(),
            value: CellValue::Text("Ada King".into()),
        }],
    };
    http.update_rows(LEADS, &[update]).await.unwrap();
}

#[tokio::test]
async fn a_webhook_source_has_its_url_and_count_from_state() {
    let server = FixtureServer::start().await;
    let sources = server.backend().list_sources(LEADS).await.unwrap();
    assert_eq!(sources.len(), 1);
    let s = &sources[0];
    assert_eq!(s.id, "s_Hook9a1");
    assert_eq!(s.kind, "webhook");
    assert_eq!(
        s.url.as_deref(),
        Some(
            "https://api.clay.com/v3/sources/webhook/pull-in-data-from-a-webhook-5b0e2f4c-91d7-4e3a-8c6f-2a7d9e1b3c55"
        )
    );
    assert_eq!(s.records_received, 812);
}

#[tokio::test]
async fn the_workspace_report_is_folders_and_workbooks_not_members() {
    let server = FixtureServer::start().await;
    let report = server
        .backend()
        .workspace_report(WS, range())
        .await
        .unwrap();
    let entities: Vec<(&str, &str)> = report
        .entities
        .iter()
        .map(|e| (e.id.as_str(), e.kind.as_str()))
        .collect();
    assert_eq!(
        entities,
        [
            ("fol_8Sales2k", "folder"),
            ("wb_0Customers9", "workbook"),
            ("wb_7OldExp5", "workbook")
        ]
    );
    let sales = &report.entities[0];
    assert_eq!(sales.credits, 4020.0);
    assert_eq!(sales.subentities.len(), 1);
    assert_eq!(sales.subentities[0].kind, "workbook");
    assert_eq!(sales.subentities[0].name, "Prospecting");
    assert!(report.entities[2].is_deleted);
    assert_eq!(report.unattributed_credits, 6.0);
}

#[tokio::test]
async fn each_members_credits_are_that_members_one_call_each() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let members = http.permissions(WS).await.unwrap();
    let ids: Vec<String> = members.iter().filter_map(|m| m.user_id.clone()).collect();
    assert_eq!(ids, ["7001", "7002", "7003", "7004"]);

    server.clear_requests();
    let usage = http.member_usage(WS, range(), &ids).await.unwrap();
    let of = |id: &str| {
        usage
            .iter()
            .find(|u| u.user_id == id)
            .unwrap_or_else(|| panic!("no usage for {id}: {usage:#?}"))
    };
    assert_eq!(of("7002").credits, 4312.5, "Jonas spent thousands");
    assert_eq!(of("7002").action_executions, 2280);
    assert_eq!(of("7001").credits, 126.0, "entities + unattributed");
    assert_eq!(of("7003").credits, 0.0);
    assert_eq!(of("7004").credits, 35.0);

    let calls = server.requests_to("/creditReportType/workspace");
    let mut asked: Vec<&str> = calls
        .iter()
        .map(|r| {
            r.query_value("ownerIds[0]")
                .expect("ownerIds[0] on every call")
        })
        .collect();
    asked.sort();
    assert_eq!(
        asked,
        ["7001", "7002", "7003", "7004"],
        "one call per member"
    );
    assert!(
        calls.iter().all(|r| r.query_value("ownerIds[1]").is_none()),
        "one member per call"
    );
    assert!(calls.iter().all(|r| r.status == 200));

    let jonas = http
        .user_report(WS, range(), &["7002".to_string()])
        .await
        .unwrap();
    let kinds: Vec<&str> = jonas.entities.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["folder", "workbook"],
        "a member's report is resources too"
    );
}

#[tokio::test]
async fn the_integration_report_and_a_members_resources() {
    let server = FixtureServer::start().await;
    let http = server.backend();
    let report = http.integration_report(WS, range()).await.unwrap();
    let ids: Vec<&str> = report.entities.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["hunter", "openai", "zerobounce"]);

    let owned = http
        .user_resources(WS, &["7002".to_string()])
        .await
        .unwrap();
    assert_eq!(
        kinds(&owned),
        [
            ("wb_4Prospecting1", ResourceKind::Workbook),
            (LEADS, ResourceKind::Table)
        ]
    );
    assert!(
        owned
            .iter()
            .all(|r| r.created_by.as_deref() == Some("7002"))
    );
}

#[tokio::test]
async fn errors_keep_their_type_message_and_details() {
    let server = FixtureServer::start().await;
    let http = server.backend();

    let err = http.get_table("t_Missing00").await.unwrap_err();
    assert!(matches!(err, ClayError::NotFound(_)), "{err}");
    assert!(err.to_string().contains("t_Missing00"), "{err}");

    let err = http
        .run_column(
            LEADS,
            &["f_work_email".to_string()],
            &RunTarget::Records(vec!["r_Ada001".into()]),
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClayError::Invalid(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("DagIsCyclical"), "{text}");
    assert!(
        text.contains("inputFieldIdsWithErrors") && text.contains("f_loop_a"),
        "details reach the user: {text}"
    );

    let stale = server.backend_with(Credentials::session("expired-session"));
    let err = stale.list_workspaces().await.unwrap_err();
    assert!(matches!(err, ClayError::Denied(_)), "{err}");
    assert!(err.to_string().contains("kiln login"), "{err}");

    let err = http.integration_type("lusha").await.unwrap_err();
    assert!(matches!(err, ClayError::NotFound(_)), "{err}");
    assert!(err.to_string().contains("no such endpoint"), "{err}");
}
