//! The embedded workspace's Clay semantics.

use super::store::DAY_MS;
use super::*;

const NOW: i64 = 1_795_000_000_000;
const ALL_TIME: TimeRange = TimeRange {
    start: 0,
    end: i64::MAX,
};

fn demo() -> (tempfile::TempDir, LocalBackend) {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::create(&dir.path().join("ws.sqlite")).unwrap();
    backend.seed_demo(NOW).unwrap();
    (dir, backend)
}

fn range(days_ago_start: i64, days_ago_end: i64) -> TimeRange {
    TimeRange {
        start: NOW - days_ago_start * DAY_MS,
        end: NOW - days_ago_end * DAY_MS,
    }
}

fn user<'a>(report: &'a CreditReport, id: &str) -> Option<&'a CreditEntity> {
    report.entities.iter().find(|e| e.id == id)
}

#[tokio::test]
async fn credit_reports_aggregate_by_range_user_and_integration() {
    let (_dir, b) = demo();
    let all = b.workspace_report(1, range(90, -1)).await.unwrap();
    let total: f64 = all.entities.iter().map(|e| e.credits).sum::<f64>() + all.unattributed_credits;
    assert!((total - 7655.0).abs() < 0.01, "{total}");
    // As Clay's: entities are folders (workbooks under them) and top-level workbooks.
    assert!(!all.entities.is_empty());
    for e in &all.entities {
        assert!(matches!(e.kind.as_str(), "folder" | "workbook"), "{e:?}");
        assert!(e.subentities.iter().all(|s| s.kind == "workbook"), "{e:?}");
    }
    // Jonas: 10×2 hunter + 10×1 openai + 3×10 lusha a day for 90 days, from his own report.
    let spent = |range, id: &str| {
        let b = &b;
        let ids = [id.to_string()];
        async move { b.member_usage(1, range, &ids).await.unwrap().remove(0) }
    };
    let jonas = spent(range(90, -1), "1001").await;
    assert_eq!((jonas.credits, jonas.action_executions), (5400.0, 90 * 23));

    // The range is half-open and excludes what lies outside it: Ines spent only 70+ days ago.
    assert_eq!(spent(range(60, 0), "1005").await.credits, 0.0);
    assert!(spent(range(90, 0), "1005").await.credits > 0.0);
    let empty = b.workspace_report(1, range(1000, 900)).await.unwrap();
    assert!(empty.entities.is_empty());

    let only_jonas = b
        .user_report(1, range(90, -1), &["1001".into()])
        .await
        .unwrap();
    let theirs: f64 = only_jonas.entities.iter().map(|e| e.credits).sum::<f64>()
        + only_jonas.unattributed_credits;
    assert_eq!(theirs, 5400.0);
    assert!(user(&only_jonas, "1001").is_none(), "no entity is a member");

    let by_integration = b.integration_report(1, range(90, -1)).await.unwrap();
    let lusha = by_integration
        .entities
        .iter()
        .find(|e| e.id == "lusha")
        .unwrap();
    assert_eq!(lusha.kind, "integration");
    assert!(
        lusha
            .subentities
            .iter()
            .any(|s| s.id == "1004" && s.is_deleted)
    );

    let specific = b
        .integration_specific_report(1, range(90, -1), &["lusha".into()])
        .await
        .unwrap();
    // A workspace report narrowed to one integration: still by resource, and every
    // credit it counts is that integration's.
    assert!(
        specific
            .entities
            .iter()
            .all(|e| matches!(e.kind.as_str(), "folder" | "workbook")),
        "{specific:?}"
    );
    assert_eq!(
        specific.entities.iter().map(|e| e.credits).sum::<f64>() + specific.unattributed_credits,
        lusha.credits
    );
}

#[tokio::test]
async fn folders_soft_delete_unless_permanent() {
    let b = LocalBackend::in_memory().unwrap();
    let folder = b.create_folder(1, "Archive", None).await.unwrap();
    let wb = b
        .create_workbook(1, "Inside", false, Some(&folder.id))
        .await
        .unwrap();
    b.delete_folders(1, std::slice::from_ref(&folder.id), false)
        .await
        .unwrap();
    assert!(b.list_resources(1, None, &[]).await.unwrap().is_empty());
    assert!(
        b.search_resources(1, "Inside").await.unwrap().is_empty(),
        "contents go to the trash too"
    );
    // Still there, only in the trash: a permanent delete can find it.
    b.delete_folders(1, std::slice::from_ref(&folder.id), true)
        .await
        .unwrap();
    let gone = b
        .delete_folders(1, std::slice::from_ref(&folder.id), true)
        .await;
    assert!(matches!(gone, Err(ClayError::NotFound(_))));
    assert!(
        b.delete_workbook(&wb.id).await.is_err(),
        "permanent delete removed its workbook"
    );
}

#[tokio::test]
async fn rows_keep_insertion_order_and_delete_all_empties_the_table() {
    let (_dir, b) = demo();
    let t = b.resolve_table("Accounts").await.unwrap();
    let view = t.first_view_id.clone().unwrap();
    let company = t.field_by_name("Company").unwrap().id.clone();
    let added = b
        .add_rows(
            &t.id,
            &[NewRow {
                id: Some("r_client1".into()),
                cells: vec![CellInput {
                    field_id: company.clone(),
                    value: CellValue::Text("Zeta".into()),
                }],
            }],
        )
        .await
        .unwrap();
    let ids = b.record_ids(&t.id, &view).await.unwrap();
    assert_eq!(ids.last(), Some(&added[0].id), "newest last");
    assert_eq!(ids.len(), 13);
    // A retry with the same client id is detected, not duplicated.
    let again = b
        .add_rows(
            &t.id,
            &[NewRow {
                id: Some("r_client1".into()),
                cells: vec![],
            }],
        )
        .await;
    assert!(matches!(again, Err(ClayError::Conflict(_))));
    b.delete_rows(&t.id, &ids[..2]).await.unwrap();
    assert_eq!(b.count_rows(&t.id).await.unwrap(), 11);
    b.delete_all_rows(&t.id, Some(&view)).await.unwrap();
    assert_eq!(b.count_rows(&t.id).await.unwrap(), 0);
}

#[tokio::test]
async fn the_row_limit_is_enforced_with_a_clear_error() {
    let (_dir, b) = demo();
    let b = b.with_row_limit(13);
    let t = b.resolve_table("Accounts").await.unwrap();
    b.add_rows(
        &t.id,
        &[NewRow {
            id: None,
            cells: vec![],
        }],
    )
    .await
    .unwrap();
    let err = b
        .add_rows(
            &t.id,
            &[NewRow {
                id: None,
                cells: vec![],
            }],
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has 13 rows") && err.contains("limit of 13 rows per table"),
        "{err}"
    );
    let too_many = vec![
        NewRow {
            id: None,
            cells: vec![]
        };
        51
    ];
    assert!(
        b.add_rows(&t.id, &too_many)
            .await
            .unwrap_err()
            .to_string()
            .contains("at most 50")
    );
}

#[tokio::test]
async fn running_an_enrichment_column_fills_cells_and_charges_the_acting_member() {
    let (_dir, b) = demo();
    let b = b.acting_as("priya@northwind.io").unwrap();
    let t = b.resolve_table("Leads").await.unwrap();
    let size = t.field_by_name("Company Size").unwrap().clone();
    let ids = b
        .record_ids(&t.id, t.first_view_id.as_deref().unwrap())
        .await
        .unwrap();
    let target = RunTarget::Records(ids[..5].to_vec());
    let priya =
        || async { b.member_usage(1, ALL_TIME, &["1002".into()]).await.unwrap()[0].credits };
    let clearbit = || async {
        let r = b
            .integration_specific_report(1, ALL_TIME, &["clearbit".into()])
            .await
            .unwrap();
        r.entities.iter().map(|e| e.credits).sum::<f64>() + r.unattributed_credits
    };
    let (priya_before, clearbit_before) = (priya().await, clearbit().await);
    let result = b
        .run_column(&t.id, std::slice::from_ref(&size.id), &target, false)
        .await
        .unwrap();
    assert_eq!(result.mode, RunMode::Individual);
    assert_eq!(result.record_count, 5);
    assert_eq!(result.credits_spent, 5.0);
    let rows = b.read_records(&t.id, &ids[..5]).await.unwrap();
    let first = rows[0].cell(&size.id).unwrap().clone();
    assert!(matches!(first.value, CellValue::Number(_)));
    assert_eq!(first.status, Some(CellStatus::Success));

    // Attributed to Priya and Clearbit in the ledger.
    let (priya_after, clearbit_after) = (priya().await, clearbit().await);
    assert_eq!(priya_after - priya_before, 5.0);
    assert_eq!(clearbit_after - clearbit_before, 5.0);

    // Everything is filled now: nothing qualifies, nothing runs, nothing is charged.
    let none = b
        .run_column(&t.id, std::slice::from_ref(&size.id), &target, false)
        .await
        .unwrap();
    assert_eq!(none.mode, RunMode::None);
    assert_eq!(none.credits_spent, 0.0);
    assert_eq!(priya().await, priya_after);

    // Deterministic: forcing again writes the same values.
    b.run_column(&t.id, std::slice::from_ref(&size.id), &target, true)
        .await
        .unwrap();
    let again = b.read_records(&t.id, &ids[..1]).await.unwrap();
    assert_eq!(again[0].cell(&size.id).unwrap().value, first.value);
}

#[tokio::test]
async fn an_integration_of_a_removed_member_refuses_to_run() {
    let (_dir, b) = demo();
    let t = b.resolve_table("Leads").await.unwrap();
    let mobile = t.field_by_name("Mobile").unwrap().id.clone();
    let err = b
        .run_column(
            &t.id,
            &[mobile],
            &RunTarget::ViewTop {
                view_id: t.first_view_id.clone().unwrap(),
                num_records: Some(3),
            },
            false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClayError::Upstream(m) if m.contains("removed member")),
        "{err}"
    );
}

#[tokio::test]
async fn the_demo_seed_has_what_audits_need() {
    let (_dir, b) = demo();
    let members = b.permissions(1).await.unwrap();
    assert_eq!(members.len(), 8);
    let admins: Vec<_> = members
        .iter()
        .filter(|m| m.role == Role::Admin && m.status == MemberStatus::Active)
        .collect();
    assert_eq!(admins.len(), 1);
    let removed: Vec<_> = members
        .iter()
        .filter(|m| m.status == MemberStatus::Removed)
        .collect();
    assert_eq!(removed.len(), 1);
    let owned: Vec<_> = b
        .integrations(1)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.owner_id.as_deref() == removed[0].user_id.as_deref())
        .collect();
    assert_eq!(owned.len(), 2);
    let leads = b.resolve_table("leads").await.unwrap();
    for i in &owned {
        assert!(
            leads.fields.iter().any(|f| f
                .action
                .as_ref()
                .and_then(|a| a.auth_account_id.as_deref())
                == Some(i.id.as_str())),
            "{} powers a Leads column",
            i.name
        );
    }
    assert_eq!(b.count_rows(&leads.id).await.unwrap(), 2000);
    let not_found = b.resolve_table("Nope").await.unwrap_err().to_string();
    assert!(
        not_found.contains("`Leads`"),
        "lists the tables: {not_found}"
    );
}

/// Overwrites a record's stored cells, as a damaged or older workspace file would hold them.
fn store_raw_cells(b: &LocalBackend, record: &str, cells: &str) {
    b.blocking(|db| {
        db.conn
            .execute(
                "UPDATE records SET cells = ?1 WHERE id = ?2",
                [cells, record],
            )
            .map_err(LocalError::from)?;
        Ok(())
    })
    .unwrap();
}

#[tokio::test]
async fn non_finite_numbers_are_refused_on_every_write_path() {
    let (_dir, b) = demo();
    let (table, rows) = b.export_rows("Leads").unwrap();
    let employees = table.field_by_name("Employees").unwrap().id.clone();
    for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let cell = || CellInput {
            field_id: employees.clone(),
            value: CellValue::Number(n),
        };
        let update = b
            .update_rows(
                &table.id,
                &[RowUpdate {
                    id: rows[0].id.clone(),
                    cells: vec![cell()],
                }],
            )
            .await
            .unwrap_err();
        assert!(matches!(update, ClayError::Invalid(_)), "{update}");
        assert!(update.to_string().contains("must be finite"), "{update}");
        let add = b
            .add_rows(
                &table.id,
                &[NewRow {
                    id: None,
                    cells: vec![cell()],
                }],
            )
            .await
            .unwrap_err();
        assert!(matches!(add, ClayError::Invalid(_)), "{add}");
    }
    let (_, after) = b.export_rows("Leads").unwrap();
    assert_eq!(after, rows, "nothing was written");
}

#[tokio::test]
async fn a_row_that_does_not_parse_is_an_error_and_is_never_written_back_empty() {
    let (_dir, b) = demo();
    let (table, rows) = b.export_rows("Leads").unwrap();
    let garbled = "[{\"field_id\": \"f_x\", \"value\": {\"type\": \"mystery\"}}]";
    store_raw_cells(&b, &rows[0].id, garbled);

    let read = b
        .read_records(&table.id, std::slice::from_ref(&rows[0].id))
        .await
        .unwrap_err();
    assert!(matches!(read, ClayError::Unavailable(_)), "{read}");
    assert!(read.to_string().contains(&rows[0].id), "{read}");
    assert!(
        b.export_rows("Leads").is_err(),
        "listing the table says so too"
    );

    let status = table.field_by_name("Email Status").unwrap().id.clone();
    let write = b
        .update_rows(
            &table.id,
            &[RowUpdate {
                id: rows[0].id.clone(),
                cells: vec![CellInput {
                    field_id: status,
                    value: CellValue::Text("seen".into()),
                }],
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(write, ClayError::Unavailable(_)), "{write}");
    let stored: String = b
        .blocking(|db| {
            Ok(db
                .conn
                .query_row(
                    "SELECT cells FROM records WHERE id = ?1",
                    [&rows[0].id],
                    |r| r.get(0),
                )
                .unwrap())
        })
        .unwrap();
    assert_eq!(stored, garbled, "the stored cells are left as they were");
}

#[tokio::test]
async fn a_number_stored_as_null_by_older_versions_reads_as_null_with_the_other_cells() {
    let (_dir, b) = demo();
    let (table, rows) = b.export_rows("Leads").unwrap();
    let employees = table.field_by_name("Employees").unwrap().id.clone();
    // What serde_json wrote for NaN before non-finite numbers were refused.
    let mut doc = serde_json::to_value(&rows[0].cells).unwrap();
    for cell in doc.as_array_mut().unwrap() {
        if cell["field_id"] == employees.as_str() {
            cell["value"] = serde_json::json!({"type": "number", "value": null});
        }
    }
    store_raw_cells(&b, &rows[0].id, &doc.to_string());
    let read = b
        .read_records(&table.id, std::slice::from_ref(&rows[0].id))
        .await
        .unwrap();
    let mut expected = rows[0].clone();
    for cell in &mut expected.cells {
        if cell.field_id == employees {
            cell.value = CellValue::Null;
        }
    }
    assert_eq!(read, [expected]);
}

#[tokio::test]
async fn a_bulk_read_answers_in_the_order_asked_and_skips_ids_it_does_not_have() {
    let (_dir, b) = demo();
    let leads = b.resolve_table("Leads").await.unwrap();
    let ids = b
        .record_ids(&leads.id, leads.first_view_id.as_deref().unwrap())
        .await
        .unwrap();
    let accounts = b.resolve_table("Accounts").await.unwrap();
    let other = b
        .record_ids(&accounts.id, accounts.first_view_id.as_deref().unwrap())
        .await
        .unwrap();
    // Reversed, with an unknown id, a row of another table and a quote in an id.
    let asked = vec![
        ids[7].clone(),
        "r_nope".to_string(),
        ids[3].clone(),
        other[0].clone(),
        "r_\"); DROP TABLE records; --".to_string(),
        ids[0].clone(),
    ];
    let rows = b.read_records(&leads.id, &asked).await.unwrap();
    let got: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got, [ids[7].as_str(), ids[3].as_str(), ids[0].as_str()]);
    assert!(rows.iter().all(|r| !r.cells.is_empty()), "{rows:?}");
    assert_eq!(b.count_rows(&leads.id).await.unwrap(), ids.len() as u64);
}

/// The bulk read finds each id by its unique index, whatever the table's size: a plan that
/// scans the table per id made a 50,000-row run read for minutes.
#[test]
fn a_bulk_read_looks_each_id_up_by_its_index() {
    let (dir, _b) = demo();
    let conn = rusqlite::Connection::open(dir.path().join("ws.sqlite")).unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::store::READ_RECORDS
        ))
        .unwrap();
    let plan: Vec<String> = stmt
        .query_map(rusqlite::params!["[\"r_1\",\"r_2\"]", "t_1"], |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter().any(|p| p.starts_with("SCAN j")),
        "the ids asked drive the loop: {plan:?}"
    );
    assert!(
        plan.iter()
            .any(|p| p.starts_with("SEARCH r") && p.contains("(id=?)")),
        "each id is found by its index: {plan:?}"
    );
    assert!(
        !plan.iter().any(|p| p.starts_with("SCAN r")),
        "the table is never scanned: {plan:?}"
    );
}

/// A run's per-row update reads and writes one row through the unique index on `id`, never a
/// scan of the records (which at 50,000 rows would make a run quadratic).
#[test]
fn an_update_finds_its_row_by_the_id_index() {
    let (dir, _b) = demo();
    let conn = rusqlite::Connection::open(dir.path().join("ws.sqlite")).unwrap();
    for (sql, params) in [
        (super::store::READ_CELLS, vec!["r_1", "t_1"]),
        (super::store::WRITE_CELLS, vec!["[]", "0", "r_1"]),
    ] {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|p| p.starts_with("SEARCH records") && p.contains("(id=?)")),
            "{sql}: by the id index: {plan:?}"
        );
        assert!(
            !plan.iter().any(|p| p.starts_with("SCAN")),
            "{sql}: never a scan: {plan:?}"
        );
    }
}

/// The workspace file alone holds every write once kiln lets go of it: a backup or a copy of
/// the `.sqlite` file (without its `-wal`) must not miss the last run. (A second, read-only
/// connection, tried for read-ahead, kept the WAL from being checkpointed when it closed last.)
#[tokio::test]
async fn after_the_backend_is_dropped_the_file_alone_holds_every_write() {
    let (dir, local) = demo();
    let path = dir.path().join("ws.sqlite");
    let (table, rows) = local.export_rows("Leads").unwrap();
    let status = table.field_by_name("Email Status").unwrap().id.clone();
    // A read on the reader connection, then a write on the writer.
    local
        .read_records(&table.id, &[rows[0].id.clone()])
        .await
        .unwrap();
    local
        .update_rows(
            &table.id,
            &[RowUpdate {
                id: rows[0].id.clone(),
                cells: vec![CellInput {
                    field_id: status.clone(),
                    value: CellValue::Text("written".into()),
                }],
            }],
        )
        .await
        .unwrap();
    drop(local);
    assert!(
        !dir.path().join("ws.sqlite-wal").exists(),
        "the WAL was checkpointed and removed"
    );
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(&path, &copy).unwrap();
    let (_, again) = LocalBackend::open(&copy)
        .unwrap()
        .export_rows("Leads")
        .unwrap();
    assert_eq!(
        again[0].cell(&status).map(|c| &c.value),
        Some(&CellValue::Text("written".into()))
    );
}

#[tokio::test]
async fn a_journaled_batch_and_its_applied_mark_commit_together_or_not_at_all() {
    use crate::journal::{BatchState, Journal, NewRun, RunOptions};
    let (dir, b) = demo();
    let path = dir.path().join("ws.sqlite");
    let table = b.resolve_table("Leads").await.unwrap();
    let view = table.views[0].id.clone();
    let ids = b.record_ids(&table.id, &view).await.unwrap();
    let email = table.field_by_name("Email").unwrap().id.clone();
    let journal = Journal::open(&path).unwrap();
    let batch = ids[..2].to_vec();
    let run = journal
        .begin(
            NewRun {
                plugin: "p",
                plugin_sha256: "aa",
                plugin_spec: "p",
                table_id: &table.id,
                table_name: &table.name,
                options: RunOptions::default(),
                total_rows: 2,
            },
            &[&batch],
            false,
        )
        .unwrap();
    let update = |value: &str| {
        vec![RowUpdate {
            id: ids[0].clone(),
            cells: vec![CellInput {
                field_id: email.clone(),
                value: CellValue::Text(value.into()),
            }],
        }]
    };
    let email_of = |b: LocalBackend| {
        let (t, id, email) = (table.id.clone(), ids[0].clone(), email.clone());
        async move {
            let row = b.read_records(&t, &[id]).await.unwrap().remove(0);
            row.cell(&email).map(|c| c.value.clone())
        }
    };
    let mark = |batch: u32| JournalMark {
        journal: path.clone(),
        run_id: run.id().to_string(),
        batch,
        effects: "{}".into(),
    };

    // A mark the journal cannot take (no such batch) rolls the batch's changes back.
    let err = b
        .apply_journaled(&table.id, &update("lost@x.io"), &ids[1..2], &mark(7))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("nothing of the batch was applied"),
        "{err}"
    );
    assert_ne!(
        email_of(b.clone()).await,
        Some(CellValue::Text("lost@x.io".into()))
    );
    assert_eq!(
        b.read_records(&table.id, &ids[1..2]).await.unwrap().len(),
        1
    );

    // One that it can take commits with them.
    assert!(
        b.apply_journaled(&table.id, &update("kept@x.io"), &ids[1..2], &mark(0))
            .await
            .unwrap()
    );
    assert_eq!(
        email_of(b.clone()).await,
        Some(CellValue::Text("kept@x.io".into()))
    );
    assert!(
        b.read_records(&table.id, &ids[1..2])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        journal.batches(run.id()).unwrap()[0].state,
        BatchState::Applied
    );

    // A journal in another file is not this workspace's to mark: the caller does it.
    let elsewhere = JournalMark {
        journal: dir.path().join("state.sqlite"),
        ..mark(0)
    };
    std::fs::write(&elsewhere.journal, b"").unwrap();
    assert!(
        !b.apply_journaled(&table.id, &update("x@x.io"), &[], &elsewhere)
            .await
            .unwrap()
    );
}
