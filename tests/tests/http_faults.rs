//! Clay misbehaving: with a fifth of requests failing (429s with Retry-After, 500s after
//! the write landed, 503s before) and dropped connections, big writes and a 2,000-row
//! transform still apply every row exactly once, and the retries are counted.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kiln_host::Clay;
use kiln_host::backend::model::{CellInput, CellValue, NewRow, Row, TableInfo};
use kiln_host::invocation::{TransformOptions, run_transform};
use kiln_host::sim::Faults;
use kiln_tests::{
    DemoWorkspace, http_backend, normalize_contacts, runtime, start_sim, test_http_config,
};

fn faults(seed: u64) -> Faults {
    Faults {
        rate_limited: 0.10,
        server_errors: 0.10,
        dropped: 0.05,
        retry_after_secs: 0,
        seed,
        ..Faults::default()
    }
}

fn by_name(table: &TableInfo, row: &Row) -> BTreeMap<String, CellValue> {
    row.cells
        .iter()
        .map(|c| {
            (
                table
                    .field(&c.field_id)
                    .map(|f| f.name.clone())
                    .unwrap_or_default(),
                c.value.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn adding_rows_through_faults_never_duplicates_or_loses_one() {
    let ws = DemoWorkspace::new();
    let sim = start_sim(&ws.local, faults(7)).await;
    let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
    let table = http.resolve_table("Leads").await.unwrap();
    let email = table.field_by_name("Email").unwrap().id.clone();
    let before = ws.local.count_rows(&table.id).await.unwrap();

    let rows: Vec<NewRow> = (0..1000)
        .map(|i| NewRow {
            id: None,
            cells: vec![CellInput {
                field_id: email.clone(),
                value: CellValue::Text(format!("new{i}@example.com")),
            }],
        })
        .collect();
    let added = http.add_rows(&table.id, &rows).await.unwrap();
    assert_eq!(added.len(), 1000);

    let ids: Vec<String> = ws
        .local
        .record_ids(&table.id, table.first_view_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        ids.len() as u64,
        before + 1000,
        "every row once, none twice"
    );
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
    let (info, all) = ws.local.export_rows("Leads").unwrap();
    let emails: Vec<String> = all
        .iter()
        .filter_map(
            |r| match &r.cell(&info.field_by_name("Email").unwrap().id)?.value {
                CellValue::Text(s) if s.starts_with("new") => Some(s.clone()),
                _ => None,
            },
        )
        .collect();
    assert_eq!(emails.len(), 1000);
    assert_eq!(emails.iter().collect::<HashSet<_>>().len(), 1000);

    let faults = sim.fault_stats();
    let stats = http.stats();
    assert!(
        faults.rate_limited > 0 && faults.server_errors > 0 && faults.dropped > 0,
        "{faults:?}"
    );
    assert!(stats.retries > 0, "{stats:?}");
}

#[tokio::test]
async fn a_2000_row_transform_through_faults_applies_every_row_exactly_once() {
    let plugin = runtime().load_file(&normalize_contacts()).await.unwrap();

    let reference = DemoWorkspace::new();
    let expected = run_transform(
        &plugin,
        reference.backend(),
        "Leads",
        TransformOptions::default(),
    )
    .await
    .unwrap();

    let ws = DemoWorkspace::new();
    let sim = start_sim(
        &ws.local,
        Faults {
            latency: Duration::from_millis(1),
            ..faults(42)
        },
    )
    .await;
    let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
    let report = run_transform(
        &plugin,
        http.clone() as Arc<dyn Clay>,
        "Leads",
        TransformOptions::default(),
    )
    .await
    .unwrap();

    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(report.rows_seen, 2000);
    assert_eq!(report.rows_changed, expected.rows_changed);
    assert_eq!(report.rows_failed, expected.rows_failed);

    let (t1, a) = reference.local.export_rows("Leads").unwrap();
    let (t2, b) = ws.local.export_rows("Leads").unwrap();
    assert_eq!(b.len(), 2000, "no row added or lost");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(by_name(&t1, x), by_name(&t2, y));
    }

    let stats = http.stats();
    let faults = sim.fault_stats();
    assert!(
        faults.rate_limited + faults.server_errors + faults.dropped > 10,
        "{faults:?}"
    );
    assert!(
        stats.retries >= faults.rate_limited,
        "every injected 429 was retried: {stats:?} {faults:?}"
    );
    eprintln!("retries: {stats:?}, injected: {faults:?}");
}

#[tokio::test]
async fn the_same_seed_injects_the_same_faults() {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let ws = DemoWorkspace::new();
        let sim = start_sim(&ws.local, faults(99)).await;
        let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
        let table = http.resolve_table("Leads").await.unwrap();
        for _ in 0..30 {
            http.count_rows(&table.id).await.unwrap();
        }
        seen.push((sim.fault_stats(), http.stats().retries));
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test]
async fn retries_are_bounded() {
    let ws = DemoWorkspace::new();
    let sim = start_sim(
        &ws.local,
        Faults {
            server_errors: 1.0,
            ..Faults::default()
        },
    )
    .await;
    let mut config = test_http_config(&sim.url());
    config.max_retries = 3;
    let http = http_backend(&ws.local, config).await;
    let err = http.list_workspaces().await.unwrap_err();
    assert!(
        err.to_string().contains("gave up after 4 attempts"),
        "{err}"
    );
    assert_eq!(http.stats().retries, 3);
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let ws = DemoWorkspace::new();
    // The simulator's own limit: 5 requests/s, then 429 with `Retry-After: 1`.
    let sim = start_sim(
        &ws.local,
        Faults {
            rate_limit: Some(5),
            retry_after_secs: 1,
            ..Faults::default()
        },
    )
    .await;
    let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
    let table = http.resolve_table("Leads").await.unwrap();
    let started = std::time::Instant::now();
    for _ in 0..8 {
        assert_eq!(http.count_rows(&table.id).await.unwrap(), 2000);
    }
    assert!(sim.fault_stats().rate_limited > 0);
    assert!(http.stats().rate_limited > 0);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited at least Retry-After"
    );
}

#[tokio::test]
async fn the_client_side_rate_limit_spaces_requests() {
    let ws = DemoWorkspace::new();
    let sim = start_sim(&ws.local, Faults::default()).await;
    let mut config = test_http_config(&sim.url());
    config.requests_per_second = 10;
    let http = http_backend(&ws.local, config).await;
    let started = std::time::Instant::now();
    for _ in 0..25 {
        http.list_workspaces().await.unwrap();
    }
    // A burst of 10, then 10 per second: 15 more take at least 1.4 s.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(http.stats().retries, 0, "no request was refused");
}

#[tokio::test]
async fn a_delete_that_landed_before_its_answer_was_lost_is_not_an_error() {
    let ws = DemoWorkspace::new();
    let w = ws.local.list_workspaces().await.unwrap()[0].id;
    let mut workbooks = Vec::new();
    for i in 0..12 {
        workbooks.push(
            ws.local
                .create_workbook(w, &format!("wb {i}"), false, None)
                .await
                .unwrap(),
        );
    }
    // Half the requests fail; half of those after being applied.
    let sim = start_sim(
        &ws.local,
        Faults {
            server_errors: 0.5,
            seed: 3,
            ..Faults::default()
        },
    )
    .await;
    let http = http_backend(&ws.local, test_http_config(&sim.url())).await;
    for wb in &workbooks {
        http.delete_workbook(&wb.id).await.unwrap();
    }
    let left = ws.local.list_resources(w, None, &[]).await.unwrap();
    assert!(
        !left
            .iter()
            .any(|r| workbooks.iter().any(|wb| wb.id == r.id))
    );
    assert!(sim.fault_stats().server_errors > 0);
}
