//! Writes the way Clay's UI makes them: blank rows with client ids, then a PATCH of the
//! values, then a read-back that reports values which did not land. Against hand-written
//! answers (support/hand_server.rs) and against the simulator's dropped-cells and late-update
//! modes.

#[path = "support/hand_server.rs"]
mod hand_server;

use std::time::Duration;

use hand_server::{HandServer, Req};
use kiln_host::Clay;
use kiln_host::backend::http::{Credentials, HttpBackend};
use kiln_host::backend::model::{CellInput, CellValue, NewRow};
use kiln_host::sim::Faults;
use kiln_tests::{DemoWorkspace, http_backend, start_sim, test_http_config};
use serde_json::{Value, json};

fn ids_in(r: &Req, key: &str) -> Vec<String> {
    match r.json().get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.get("id").or(Some(x)).and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A record as Clay answers it, written out by hand.
fn record(id: &str, name: Option<&str>) -> String {
    let name = name.map_or(String::new(), |n| {
        format!(r#","f_name":{{"value":"{n}","metadata":{{"status":"SUCCESS"}}}}"#)
    });
    format!(
        r#"{{"id":"{id}","cells":{{"f_created_at":{{"value":"2026-11-30T10:00:00.000Z"}}{name}}},"recordMetadata":{{}},"deletedBy":null,"dedupeValue":null,"createdAt":"2026-11-30T10:00:00.000Z","updatedAt":"2026-11-30T10:00:01.000Z"}}"#
    )
}

/// Clay that creates what is posted, enqueues updates, and applies the value of every row
/// but `r_keep_blank` (a value that "did not land").
fn clay() -> HandServer {
    HandServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v3/tables/t_1/records") => {
            let rows: Vec<String> = ids_in(r, "records")
                .iter()
                .map(|id| record(id, None))
                .collect();
            (200, format!(r#"{{"records":[{}]}}"#, rows.join(",")))
        }
        ("PATCH", "/v3/tables/t_1/records") => (
            200,
            r#"{"message":"Record updates enqueued","count":2}"#.into(),
        ),
        ("POST", "/v3/tables/t_1/bulk-fetch-records") => {
            let ids = ids_in(r, "recordIds");
            if ids.is_empty() {
                return (
                    400,
                    r#"{"type":"BadRequest","message":"recordIds is empty"}"#.into(),
                );
            }
            let rows: Vec<String> = ids
                .iter()
                .map(|id| record(id, (id != "r_keep_blank").then_some("Ada")))
                .collect();
            (200, format!(r#"{{"results":[{}]}}"#, rows.join(",")))
        }
        _ => (
            404,
            r#"{"type":"NoMatchingURL","message":"no such URL"}"#.into(),
        ),
    })
}

fn named(id: Option<&str>) -> NewRow {
    NewRow {
        id: id.map(str::to_string),
        cells: vec![CellInput {
            field_id: "f_name".into(),
            value: CellValue::Text("Ada".into()),
        }],
    }
}

fn name_of(row: &kiln_host::backend::model::Row) -> Option<&CellValue> {
    row.cell("f_name").map(|c| &c.value)
}

#[tokio::test]
async fn new_rows_are_posted_blank_then_patched_then_read_back() {
    let server = clay();
    let mut config = test_http_config(&server.url());
    config.verify_wait = Duration::from_millis(300);
    let http = HttpBackend::new(config, Credentials::session("claysession=c")).unwrap();
    let rows = http
        .add_rows("t_1", &[named(None), named(Some("r_keep_blank"))])
        .await
        .unwrap();

    let reqs = server.requests();
    let post = reqs
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/records"))
        .unwrap();
    let posted = post.json();
    let records = posted["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    for r in records {
        assert_eq!(r["cells"], json!({}), "rows are created blank: {posted}");
        let id = r["id"].as_str().unwrap();
        assert!(
            id.starts_with("r_") && id.len() > 4,
            "a client id in Clay's form: {id}"
        );
    }
    let generated = records[0]["id"].as_str().unwrap().to_string();
    assert_eq!(records[1]["id"], "r_keep_blank", "a caller's id is kept");

    let patch = reqs
        .iter()
        .find(|r| r.method == "PATCH")
        .expect("values PATCHed");
    assert_eq!(
        patch.json(),
        json!({"records": [
            {"id": generated, "cells": {"f_name": "Ada"}},
            {"id": "r_keep_blank", "cells": {"f_name": "Ada"}},
        ]}),
        "plain values, never {{\"value\":…}}"
    );
    let fetched: Vec<&Req> = reqs
        .iter()
        .filter(|r| r.path.ends_with("bulk-fetch-records"))
        .collect();
    assert!(!fetched.is_empty(), "read back");
    assert!(fetched.iter().all(|r| !ids_in(r, "recordIds").is_empty()));
    assert!(
        fetched.len() >= 2,
        "the row whose value had not landed was read again: {}",
        fetched.len()
    );

    // The rows as Clay holds them: the one whose value did not land comes back without it.
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].id, generated);
    assert_eq!(name_of(&rows[0]), Some(&CellValue::Text("Ada".into())));
    assert_eq!(rows[1].id, "r_keep_blank");
    assert_eq!(name_of(&rows[1]), None);
}

#[tokio::test]
async fn with_verification_off_nothing_is_read_back() {
    let server = clay();
    let mut config = test_http_config(&server.url());
    config.verify_writes = false;
    let http = HttpBackend::new(config, Credentials::session("claysession=c")).unwrap();
    let rows = http
        .add_rows("t_1", &[named(Some("r_keep_blank"))])
        .await
        .unwrap();
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.path.ends_with("bulk-fetch-records")),
        "no read-back"
    );
    assert_eq!(
        name_of(&rows[0]),
        Some(&CellValue::Text("Ada".into())),
        "as sent"
    );
}

#[tokio::test]
async fn rows_land_with_their_values_when_clay_drops_posted_cells_and_applies_updates_late() {
    let ws = DemoWorkspace::new();
    let sim = start_sim(
        &ws.local,
        Faults {
            drop_created_cells: true,
            update_delay: Duration::from_millis(300),
            ..Faults::default()
        },
    )
    .await;
    let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
    let table = ws.local.resolve_table("Leads").await.unwrap();
    let field = table
        .fields
        .iter()
        .find(|f| f.name == "Email")
        .unwrap()
        .id
        .clone();
    let new = |email: &str| NewRow {
        id: None,
        cells: vec![CellInput {
            field_id: field.clone(),
            value: CellValue::Text(email.into()),
        }],
    };
    let rows = http
        .add_rows(&table.id, &[new("a@late.io"), new("b@late.io")])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for (row, email) in rows.iter().zip(["a@late.io", "b@late.io"]) {
        assert!(row.id.starts_with("r_"), "{}", row.id);
        assert_eq!(
            row.cell(&field).map(|c| c.value.as_text()).as_deref(),
            Some(email),
            "the read-back waited for the late update"
        );
    }
    let held = ws
        .local
        .read_records(&table.id, &[rows[0].id.clone()])
        .await
        .unwrap();
    assert_eq!(held[0].cell(&field).unwrap().value.as_text(), "a@late.io");
}

#[tokio::test]
async fn the_client_never_sends_an_empty_bulk_fetch_which_clay_refuses() {
    let ws = DemoWorkspace::new();
    let sim = start_sim(&ws.local, Faults::default()).await;
    let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
    let table = ws.local.resolve_table("Leads").await.unwrap();
    // The client never sends one: no ids, no request.
    assert!(http.read_records(&table.id, &[]).await.unwrap().is_empty());
    let before = sim.fault_stats().requests;
    let _ = http.read_records(&table.id, &[]).await;
    assert_eq!(sim.fault_stats().requests, before);
}
