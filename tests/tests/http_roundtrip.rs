//! Every Clay method the WIT contract exposes (and the host-only ones), through the HTTP
//! backend and `clay-sim` over real HTTP, checked against the embedded workspace it serves.

use kiln_host::Clay;
use kiln_host::backend::ClayError;
use kiln_host::backend::model::*;
use kiln_host::sim::Faults;
use kiln_tests::{DemoWorkspace, NOW, http_backend, start_sim, test_http_config};

fn sorted(mut v: Vec<Resource>) -> Vec<Resource> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// The embedded workspace's resources as Clay's resources_v2 lists them: no update time.
fn as_listed(v: Vec<Resource>) -> Vec<Resource> {
    v.into_iter()
        .map(|r| Resource {
            updated_at: None,
            ..r
        })
        .collect()
}

#[tokio::test]
async fn every_read_matches_the_workspace_it_serves() {
    let ws = DemoWorkspace::new();
    let local = &ws.local;
    let sim = start_sim(local, Faults::default()).await;
    let http = http_backend(local, test_http_config(&sim.url())).await;

    let workspaces = http.list_workspaces().await.unwrap();
    assert_eq!(workspaces, local.list_workspaces().await.unwrap());
    let w = workspaces[0].id;

    let kinds = [
        ResourceKind::Folder,
        ResourceKind::Workbook,
        ResourceKind::Table,
    ];
    let top = http.list_resources(w, None, &[]).await.unwrap();
    assert!(!top.is_empty());
    assert_eq!(
        top,
        as_listed(local.list_resources(w, None, &[]).await.unwrap())
    );
    for r in &top {
        let parent = ResourceRef {
            id: r.id.clone(),
            kind: r.kind,
        };
        assert_eq!(
            http.list_resources(w, Some(&parent), &kinds[1..])
                .await
                .unwrap(),
            as_listed(
                local
                    .list_resources(w, Some(&parent), &kinds[1..])
                    .await
                    .unwrap()
            )
        );
    }
    assert_eq!(
        sorted(http.search_resources(w, "lead").await.unwrap()),
        sorted(as_listed(local.search_resources(w, "lead").await.unwrap()))
    );

    let table = http.resolve_table("Leads").await.unwrap();
    assert_eq!(table, local.resolve_table("Leads").await.unwrap());
    assert_eq!(http.resolve_table(&table.id).await.unwrap(), table);
    assert_eq!(http.get_table(&table.id).await.unwrap(), table);
    let err = http.resolve_table("No Such Table").await.unwrap_err();
    assert!(matches!(err, ClayError::NotFound(_)), "{err}");

    let view = table.first_view_id.clone().unwrap();
    let ids = http.record_ids(&table.id, &view).await.unwrap();
    assert_eq!(ids, local.record_ids(&table.id, &view).await.unwrap());
    assert_eq!(ids.len(), 2000);
    assert_eq!(http.count_rows(&table.id).await.unwrap(), 2000);
    // 450 ids: three bulk reads of at most 200.
    let some = &ids[..450];
    let mut expected = Vec::new();
    for chunk in some.chunks(200) {
        // Clay's cells are sparse: an empty cell is not sent at all.
        for mut row in local.read_records(&table.id, chunk).await.unwrap() {
            row.cells
                .retain(|c| !c.value.is_null() || c.status.is_some());
            expected.push(row);
        }
    }
    assert_eq!(http.read_records(&table.id, some).await.unwrap(), expected);

    assert_eq!(
        http.list_sources(&table.id).await.unwrap(),
        local.list_sources(&table.id).await.unwrap()
    );
    let members = local.permissions(w).await.unwrap();
    // Clay's permissions list drops members who left; the embedded workspace keeps them.
    let listed: Vec<_> = members
        .iter()
        .filter(|m| m.status != MemberStatus::Removed)
        .cloned()
        .collect();
    assert_eq!(http.permissions(w).await.unwrap(), listed);
    assert!(members.iter().any(|m| m.status == MemberStatus::Removed));
    assert!(members.iter().any(|m| m.status == MemberStatus::Pending));

    let range = TimeRange {
        start: NOW - 90 * 86_400_000,
        end: NOW + 86_400_000,
    };
    assert_eq!(
        http.workspace_report(w, range).await.unwrap(),
        local.workspace_report(w, range).await.unwrap()
    );
    let owners = vec![members[1].user_id.clone().unwrap()];
    assert_eq!(
        http.user_report(w, range, &owners).await.unwrap(),
        local.user_report(w, range, &owners).await.unwrap()
    );
    let report = http.integration_report(w, range).await.unwrap();
    assert_eq!(report, local.integration_report(w, range).await.unwrap());
    assert!(!report.entities.is_empty());

    let integrations = http.integrations(w).await.unwrap();
    assert_eq!(integrations, local.integrations(w).await.unwrap());
    let packages = vec![integrations[0].type_id.clone()];
    assert_eq!(
        http.integration_specific_report(w, range, &packages)
            .await
            .unwrap(),
        local
            .integration_specific_report(w, range, &packages)
            .await
            .unwrap()
    );
    assert_eq!(
        http.integration_types().await.unwrap(),
        local.integration_types().await.unwrap()
    );
    assert_eq!(
        http.integration_type(&packages[0]).await.unwrap(),
        local.integration_type(&packages[0]).await.unwrap()
    );
    assert_eq!(
        sorted(http.user_resources(w, &owners).await.unwrap()),
        sorted(as_listed(local.user_resources(w, &owners).await.unwrap()))
    );
}

#[tokio::test]
async fn every_write_lands_in_the_workspace() {
    let ws = DemoWorkspace::new();
    let local = &ws.local;
    let sim = start_sim(local, Faults::default()).await;
    let http = http_backend(local, test_http_config(&sim.url())).await;
    let w = http.list_workspaces().await.unwrap()[0].id;

    // folders and workbooks
    let folder = http.create_folder(w, "Q3 campaigns", None).await.unwrap();
    assert_eq!(folder.workspace_id, w);
    let workbook = http
        .create_workbook(w, "Outbound", true, Some(&folder.id))
        .await
        .unwrap();
    assert!(workbook.auto_run);
    assert_eq!(
        workbook.parent_folder_id.as_deref(),
        Some(folder.id.as_str())
    );
    let inside = local
        .list_resources(
            w,
            Some(&ResourceRef {
                id: folder.id.clone(),
                kind: ResourceKind::Folder,
            }),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0].id, workbook.id);
    assert_eq!(
        inside[0].created_by.as_deref(),
        local.actor(),
        "acts as the logged-in member"
    );
    http.delete_workbook(&workbook.id).await.unwrap();
    http.delete_folders(w, std::slice::from_ref(&folder.id), false)
        .await
        .unwrap();
    let top = local.list_resources(w, None, &[]).await.unwrap();
    assert!(!top.iter().any(|r| r.id == folder.id));

    // rows: add (more than one batch), update, delete, delete all
    let table = http.resolve_table("Leads").await.unwrap();
    let email = table.field_by_name("Email").unwrap().id.clone();
    let name = table.field_by_name("Full Name").unwrap().id.clone();
    let new: Vec<NewRow> = (0..120)
        .map(|i| NewRow {
            id: None,
            cells: vec![
                CellInput {
                    field_id: name.clone(),
                    value: CellValue::Text(format!("Person {i}")),
                },
                CellInput {
                    field_id: email.clone(),
                    value: CellValue::Text(format!("p{i}@example.com")),
                },
            ],
        })
        .collect();
    let added = http.add_rows(&table.id, &new).await.unwrap();
    assert_eq!(added.len(), 120);
    assert!(added.iter().all(|r| r.id.starts_with("r_")));
    assert_eq!(
        added[7].cell(&email).unwrap().value,
        CellValue::Text("p7@example.com".into())
    );
    assert_eq!(local.count_rows(&table.id).await.unwrap(), 2120);
    let stored = local
        .read_records(&table.id, &[added[0].id.clone()])
        .await
        .unwrap();
    assert_eq!(stored[0], added[0]);

    let updates: Vec<RowUpdate> = added
        .iter()
        .take(60)
        .map(|r| RowUpdate {
            id: r.id.clone(),
            cells: vec![CellInput {
                field_id: email.clone(),
                value: CellValue::Text("x@y.z".into()),
            }],
        })
        .collect();
    http.update_rows(&table.id, &updates).await.unwrap();
    let after = local
        .read_records(&table.id, &[added[59].id.clone(), added[60].id.clone()])
        .await
        .unwrap();
    assert_eq!(
        after[0].cell(&email).unwrap().value,
        CellValue::Text("x@y.z".into())
    );
    assert_eq!(
        after[0].cell(&name).unwrap().value,
        CellValue::Text("Person 59".into()),
        "other cells kept"
    );
    assert_eq!(
        after[1].cell(&email).unwrap().value,
        CellValue::Text("p60@example.com".into())
    );

    let doomed: Vec<String> = added.iter().map(|r| r.id.clone()).collect();
    http.delete_rows(&table.id, &doomed).await.unwrap();
    assert_eq!(local.count_rows(&table.id).await.unwrap(), 2000);

    // typed errors come back as the same variants
    let bad = http
        .add_rows(
            &table.id,
            &[NewRow {
                id: None,
                cells: vec![CellInput {
                    field_id: "f_nope".into(),
                    value: CellValue::Null,
                }],
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(bad, ClayError::Invalid(_)), "{bad}");
    let existing = doomed[0].clone();
    http.add_rows(
        &table.id,
        &[NewRow {
            id: Some(existing.clone()),
            cells: vec![],
        }],
    )
    .await
    .unwrap();
    let dup = http
        .add_rows(
            &table.id,
            &[NewRow {
                id: Some(existing),
                cells: vec![],
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(dup, ClayError::Conflict(_)), "{dup}");
    let missing = http.get_table("t_doesnotexist").await.unwrap_err();
    assert!(matches!(missing, ClayError::NotFound(_)), "{missing}");

    // sources
    let source = http
        .add_webhook_source(&table.id, "Inbound form")
        .await
        .unwrap();
    assert!(source.url.as_deref().unwrap_or("").contains("webhook"));
    assert_eq!(
        local.list_sources(&table.id).await.unwrap().last(),
        Some(&source)
    );
    http.delete_source(&source.id, false).await.unwrap();
    assert!(matches!(
        http.delete_source(&source.id, false).await,
        Err(ClayError::NotFound(_))
    ));

    // enrichment runs, including Clay's typed failure for a broken integration
    let view = table.first_view_id.clone().unwrap();
    let ids = local.record_ids(&table.id, &view).await.unwrap();
    let mut ran = 0;
    for action in table.fields.iter().filter(|f| f.kind == FieldKind::Action) {
        let target = RunTarget::Records(ids[..3].to_vec());
        match http
            .run_column(&table.id, std::slice::from_ref(&action.id), &target, true)
            .await
        {
            Ok(run) => {
                assert_ne!(run.mode, RunMode::None);
                assert_eq!(run.record_count, 3);
                let top = RunTarget::ViewTop {
                    view_id: view.clone(),
                    num_records: Some(2),
                };
                let again = http
                    .run_column(&table.id, std::slice::from_ref(&action.id), &top, false)
                    .await
                    .unwrap();
                assert!(again.record_count <= 2);
                ran += 1;
            }
            Err(ClayError::Upstream(m)) => assert!(m.contains("removed member"), "{m}"),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(ran > 0, "at least one enrichment column runs");

    // delete all
    http.delete_all_rows(&table.id, table.first_view_id.as_deref())
        .await
        .unwrap();
    assert_eq!(http.count_rows(&table.id).await.unwrap(), 0);
}
