//! Tables by name anywhere in the tree: a global search, a walk of the tree when search finds
//! nothing, a clear word on a table id that does not exist and on names two tables share.
//! Clay's side is hand-written bodies (support/hand_server.rs) or the simulator.

#[path = "support/hand_server.rs"]
mod hand_server;

use hand_server::{HandServer, Req};
use kiln_host::Clay;
use kiln_host::backend::ClayError;
use kiln_host::backend::http::{Credentials, HttpBackend};
use kiln_host::sim::Faults;
use kiln_tests::{DemoWorkspace, http_backend, start_sim, test_http_config};
use serde_json::json;

const WORKSPACES: &str = r#"{"results":[{"id":4012,"name":"Northwind","credits":{"basic":1200}}]}"#;

/// A table answer as Clay gives it (`{"table":{…},"extraData":{}}`).
fn table_body(id: &str, name: &str) -> String {
    format!(
        r#"{{"table":{{"id":"{id}","name":"{name}","type":"spreadsheet","workspaceId":4012,"workbookId":"wb_deep","firstViewId":"gv_1","views":[{{"id":"gv_1","name":"Default view","fields":{{}},"filter":{{"items":[],"combinationMode":"AND"}}}}],"fields":[{{"id":"f_name","name":"Name","type":"text","typeSettings":{{"dataTypeSettings":{{"type":"text"}}}}}}]}},"extraData":{{}}}}"#
    )
}

fn backend(server: &HandServer) -> HttpBackend {
    HttpBackend::new(
        test_http_config(&server.url()),
        Credentials::session("claysession=hand-cookie"),
    )
    .unwrap()
}

fn is_search(r: &Req) -> bool {
    r.json().pointer("/filters/q").is_some()
}

#[tokio::test]
async fn a_name_two_tables_share_is_refused_with_both_ids() {
    let server = HandServer::start(|r| {
        match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v3/my-workspaces") => (200, WORKSPACES.into()),
        ("POST", "/v3/workspaces/4012/resources_v2/") if is_search(r) => (
            200,
            r#"{"resources":[
              {"resourceType":"TABLE","type":"spreadsheet","id":"t_one","name":"Leads","parentFolderId":"wb_a","ownerId":"1001","owner":{"id":1001,"email":"a@x.io","fullName":"A"},"tableSettings":{}},
              {"resourceType":"TABLE","type":"spreadsheet","id":"t_two","name":"Leads","parentFolderId":"wb_b","ownerId":"1002","owner":{"id":1002,"email":"b@x.io","fullName":"B"},"tableSettings":{}},
              {"resourceType":"WORKBOOK","id":"wb_a","name":"Leads workbook","parentFolderId":null,"ownerId":"1001"}
            ]}"#
                .into(),
        ),
        _ => (404, r#"{"type":"NoMatchingURL","message":"no"}"#.into()),
    }
    });
    let err = backend(&server).resolve_table("Leads").await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("2 tables are named `Leads`")
            && text.contains("t_one")
            && text.contains("t_two"),
        "{text}"
    );
    let search = server
        .requests()
        .into_iter()
        .find(|r| r.path.contains("resources_v2"))
        .expect("a search was sent");
    assert_eq!(
        search.json(),
        json!({"parentResource": null, "filters": {"q": "Leads"}, "isGlobalSearch": true}),
        "the search body Clay's UI sends"
    );
}

#[tokio::test]
async fn a_table_deep_in_the_tree_is_found_by_walking_when_search_finds_nothing() {
    let server = HandServer::start(|r| {
        let body = r.json();
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v3/my-workspaces") => (200, WORKSPACES.into()),
            ("POST", "/v3/workspaces/4012/resources_v2/") if is_search(r) => {
                (200, r#"{"resources":[]}"#.into())
            }
            ("POST", "/v3/workspaces/4012/resources_v2/") => {
                let parent = body.pointer("/parentResource/id").and_then(|v| v.as_str());
                (200, match parent {
                    None => r#"{"resources":[{"resourceType":"FOLDER","id":"fo_sales","name":"Sales","parentFolderId":null,"ownerId":"1001","createdAt":"2026-01-02T03:04:05.000Z"},{"resourceType":"WORKBOOK","id":"wb_top","name":"Top","parentFolderId":null,"ownerId":"1001"}]}"#,
                    Some("fo_sales") => r#"{"resources":[{"resourceType":"FOLDER","id":"fo_emea","name":"EMEA","parentFolderId":"fo_sales","ownerId":"1001"}]}"#,
                    Some("fo_emea") => r#"{"resources":[{"resourceType":"WORKBOOK","id":"wb_deep","name":"Prospecting","parentFolderId":"fo_emea","ownerId":"1002"}]}"#,
                    Some("wb_deep") => r#"{"resources":[{"resourceType":"TABLE","type":"company","id":"t_deep","name":"Deep Leads","parentFolderId":"wb_deep","ownerId":"1002","tableSettings":{}}]}"#,
                    Some(_) => r#"{"resources":[]}"#,
                }.into())
            }
            ("GET", "/v3/tables/t_deep") => (200, table_body("t_deep", "Deep Leads")),
            _ => (404, r#"{"type":"NoMatchingURL","message":"no"}"#.into()),
        }
    });
    let table = backend(&server).resolve_table("Deep Leads").await.unwrap();
    assert_eq!(table.id, "t_deep");
    assert_eq!(table.name, "Deep Leads");
    // Listed level by level, each parent named as Clay's UI names it.
    let parents: Vec<serde_json::Value> = server
        .requests()
        .iter()
        .filter(|r| r.path.contains("resources_v2") && !is_search(r))
        .map(|r| r.json()["parentResource"].clone())
        .collect();
    assert!(parents.contains(&json!(null)), "{parents:?}");
    assert!(
        parents.contains(&json!({"id": "wb_deep", "type": "WORKBOOK"})),
        "{parents:?}"
    );
}

#[tokio::test]
async fn a_table_id_that_does_not_exist_says_so() {
    let server = HandServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v3/my-workspaces") => (200, WORKSPACES.into()),
        ("POST", "/v3/workspaces/4012/resources_v2/") => (200, r#"{"resources":[]}"#.into()),
        ("GET", "/v3/tables/t_gone") => (
            404,
            r#"{"type":"NotFound","message":"Table t_gone not found","details":{}}"#.into(),
        ),
        _ => (404, r#"{"type":"NoMatchingURL","message":"no"}"#.into()),
    });
    let err = backend(&server).resolve_table("t_gone").await.unwrap_err();
    assert!(matches!(err, ClayError::NotFound(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("table id `t_gone` does not exist") && text.contains("kiln workspace show"),
        "{text}"
    );
}

#[tokio::test]
async fn the_simulator_s_nested_table_is_found_by_name_with_or_without_search() {
    // Leads sits in the demo's Sales folder, inside the Prospecting workbook; the simulator,
    // like Clay, searches only the top of the tree unless asked for a global search.
    for faults in [
        Faults::default(),
        Faults {
            blind_search: true,
            ..Faults::default()
        },
    ] {
        let ws = DemoWorkspace::new();
        let sim = start_sim(&ws.local, faults).await;
        let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
        let table = http.resolve_table("Leads").await.unwrap();
        assert_eq!(table.name, "Leads");
        let local = ws.local.resolve_table("Leads").await.unwrap();
        assert_eq!(table.id, local.id);
        let wsid = http.list_workspaces().await.unwrap()[0].id;
        let all = http.search_resources(wsid, "").await.unwrap();
        assert!(all.iter().any(|r| r.id == local.id), "the whole tree");
    }
}
