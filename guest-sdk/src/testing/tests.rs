use super::*;
use crate::clay::{credits, folders, resources, tables};
use crate::types::{CellInput, NewRow, RunMode, RunTarget, TimeRange, ViewTopRecords};

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
    // The workspace report is by resource; what Maya spent is her own report's.
    let report = credits::workspace_report(1, range).unwrap();
    assert!(report.entities.iter().all(|e| e.kind != "user"));
    let spent = credits::member_usage(1, range, std::slice::from_ref(&maya)).unwrap();
    assert_eq!(
        (spent[0].user_id.as_str(), spent[0].credits),
        (maya.as_str(), 4.0)
    );
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
