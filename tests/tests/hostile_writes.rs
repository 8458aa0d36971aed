//! Grants, dry runs and table scope hold for every write and every listing, in every world:
//! real components attempt what their grant or the invocation does not allow, and nothing
//! changes, nothing is spent, and the trail says what was refused.

use kiln_host::backend::model::{Resource, Row, Source};
use kiln_host::capabilities::{Access, Grants, Interface, TableScope};
use kiln_host::invocation::{
    AuditOptions, InvocationOptions, TransformOptions, run_audit, run_transform,
};
use kiln_host::trail::{Entry, Filter, Trail};
use kiln_host::{LoadError, Plugin};
use kiln_tests::{DemoWorkspace, column_runner, hostile_writes, runtime, wrong_imports};

const TABLES: [&str; 4] = ["Leads", "Accounts", "Events", "Contacts"];

/// Everything a write could change: the resource tree, every row, every source.
#[derive(Debug, PartialEq)]
struct Snapshot {
    resources: Vec<Resource>,
    rows: Vec<Vec<Row>>,
    sources: Vec<Vec<Source>>,
}

async fn snapshot(ws: &DemoWorkspace) -> Snapshot {
    let backend = ws.backend();
    let mut resources = backend.search_resources(1, "").await.unwrap();
    resources.sort_by(|a, b| a.id.cmp(&b.id));
    let mut rows = Vec::new();
    let mut sources = Vec::new();
    for name in TABLES {
        let (table, r) = ws.local.export_rows(name).unwrap();
        rows.push(r);
        sources.push(backend.list_sources(&table.id).await.unwrap());
    }
    Snapshot {
        resources,
        rows,
        sources,
    }
}

async fn resource_id(ws: &DemoWorkspace, name: &str) -> String {
    ws.backend()
        .search_resources(1, name)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no resource `{name}`"))
        .id
}

fn table_id(ws: &DemoWorkspace, name: &str) -> String {
    ws.local.export_rows(name).unwrap().0.id
}

fn entries(ws: &DemoWorkspace) -> Vec<Entry> {
    Trail::open(&ws.path)
        .unwrap()
        .entries(&Filter::default())
        .unwrap()
}

/// The trail's last entry for `call`.
fn last_call(ws: &DemoWorkspace, call: &str) -> Entry {
    entries(ws)
        .into_iter()
        .rev()
        .find(|e| e.call == call)
        .unwrap_or_else(|| panic!("no `{call}` in the trail"))
}

async fn load_writer() -> Plugin {
    runtime().load_file(&hostile_writes()).await.unwrap()
}

/// Runs the hostile auditor once: the report's summary, or the error it ended with.
async fn attempt(
    plugin: &Plugin,
    ws: &DemoWorkspace,
    config: &[(&str, &str)],
    grants: Option<Grants>,
    dry_run: bool,
) -> Result<String, String> {
    let options = InvocationOptions {
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        grants,
        dry_run,
        trail: Some(Trail::open(&ws.path).unwrap()),
        ..InvocationOptions::default()
    };
    run_audit(
        plugin,
        ws.backend(),
        AuditOptions {
            workspace_id: Some(1),
            invocation: options,
            ..AuditOptions::default()
        },
    )
    .await
    .map(|(_, report)| report.summary)
    .map_err(|e| e.to_string())
}

fn scoped_to(tables: &[&str], access: Access) -> Grants {
    Grants::new()
        .with(Interface::Folders, Access::Write)
        .with(Interface::Workbooks, Access::Write)
        .with(Interface::Resources, Access::Read)
        .with(Interface::Credits, Access::Read)
        .with(Interface::Tables, access)
        .with_tables(TableScope {
            table_lists: vec![tables.iter().map(|t| t.to_string()).collect()],
            ..TableScope::default()
        })
}

#[tokio::test]
async fn a_transformer_that_imports_folders_is_refused_at_load_naming_the_import() {
    // Its manifest asks for folders, so only the world check stands in the way.
    let err = runtime()
        .load_file(&wrong_imports())
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(matches!(err, LoadError::OutsideWorld { .. }), "{text}");
    assert!(
        text.contains("clay:api/folders"),
        "names the import: {text}"
    );
    assert!(
        text.contains("clay:api/transformer"),
        "names the world: {text}"
    );
}

#[tokio::test]
async fn no_write_of_any_kind_happens_under_a_dry_run() {
    let ws = DemoWorkspace::new();
    let plugin = load_writer().await;
    let leads = table_id(&ws, "Leads");
    let source = ws
        .backend()
        .add_webhook_source(&leads, "existing hook")
        .await
        .unwrap()
        .id;
    let sales = resource_id(&ws, "Sales").await;
    let customers = resource_id(&ws, "Customers").await;
    let before = snapshot(&ws).await;
    let credits = ws.credits_spent().await;

    for (mode, target, call) in [
        ("create-folder", "", "folders.create"),
        ("delete-folder", sales.as_str(), "folders.delete"),
        ("create-workbook", "", "workbooks.create"),
        ("delete-workbook", customers.as_str(), "workbooks.delete"),
        ("add-rows", "", "tables.add-rows"),
        ("delete-rows", "", "tables.delete-rows"),
        ("delete-all-rows", "", "tables.delete-all-rows"),
        ("add-source", "", "tables.add-webhook-source"),
        ("delete-source", source.as_str(), "tables.delete-source"),
        ("run-column", "", "tables.run-column"),
    ] {
        let config = [
            ("mode", mode),
            ("table", leads.as_str()),
            ("target", target),
            ("n", "5"),
        ];
        let err = attempt(&plugin, &ws, &config, None, true)
            .await
            .expect_err(mode);
        assert!(err.contains("during a dry run"), "{mode}: {err}");
        assert!(err.contains(call), "{mode} names the call: {err}");
        let entry = last_call(&ws, call);
        assert_eq!(entry.outcome, "error:denied", "{mode}");
        assert_eq!(entry.credits, 0.0, "{mode}");
    }
    assert_eq!(snapshot(&ws).await, before, "a dry run changed something");
    assert_eq!(ws.credits_spent().await, credits, "a dry run spent credits");

    // The same call outside a dry run does write: the gate, not the guest, refused it.
    let made = attempt(&plugin, &ws, &[("mode", "create-folder")], None, false)
        .await
        .unwrap();
    assert!(made.starts_with("fol_"), "{made}");
}

#[tokio::test]
async fn a_transformer_cannot_run_a_column_behind_its_effects() {
    let ws = DemoWorkspace::new();
    let plugin = runtime().load_file(&column_runner()).await.unwrap();
    let (_, before) = ws.local.export_rows("Leads").unwrap();
    let credits = ws.credits_spent().await;
    let report = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            rows_per_batch: 100,
            invocation: InvocationOptions {
                trail: Some(Trail::open(&ws.path).unwrap()),
                credit_budget: Some(100_000.0),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await
    .expect("the run completes");
    let said = &report.errors[0].message;
    assert!(said.starts_with("refused: "), "{said}");
    assert!(said.contains("tables.run-column"), "{said}");
    assert!(
        said.contains("only through the effects it returns"),
        "{said}"
    );
    assert_eq!(report.rows_changed, 0);
    assert_eq!(ws.local.export_rows("Leads").unwrap().1, before);
    assert_eq!(ws.credits_spent().await, credits, "no credit was spent");
    let entry = last_call(&ws, "tables.run-column");
    assert_eq!(entry.outcome, "error:denied");
    assert_eq!(entry.credits, 0.0);
}

#[tokio::test]
async fn deleting_a_folder_or_workbook_needs_a_grant_not_scoped_to_tables() {
    let ws = DemoWorkspace::new();
    let plugin = load_writer().await;
    let sales = resource_id(&ws, "Sales").await;
    let prospecting = resource_id(&ws, "Prospecting").await;
    let before = snapshot(&ws).await;

    // Scoped to Leads, which lives in Sales/Prospecting: deleting either would remove it
    // and whatever else is there.
    for (mode, target, call) in [
        ("delete-folder", &sales, "folders.delete"),
        ("delete-workbook", &prospecting, "workbooks.delete"),
    ] {
        let grants = scoped_to(&["Leads"], Access::Write);
        let err = attempt(
            &plugin,
            &ws,
            &[("mode", mode), ("target", target)],
            Some(grants),
            false,
        )
        .await
        .expect_err(mode);
        assert!(err.contains("removes every table under it"), "{err}");
        assert!(err.contains("Leads"), "says what the grant covers: {err}");
        let entry = last_call(&ws, call);
        assert_eq!(entry.outcome, "error:denied");
        assert!(entry.targets.contains(target), "{:?}", entry.targets);
    }
    assert_eq!(snapshot(&ws).await, before);

    // Without a table scope the same delete goes through.
    let old = resource_id(&ws, "Old experiments").await;
    attempt(
        &plugin,
        &ws,
        &[("mode", "delete-workbook"), ("target", &old)],
        None,
        false,
    )
    .await
    .unwrap();
    assert_ne!(snapshot(&ws).await.resources, before.resources);
}

#[tokio::test]
async fn listings_show_only_the_granted_tables_and_the_way_to_them() {
    let ws = DemoWorkspace::new();
    let plugin = load_writer().await;
    let grants = || Some(scoped_to(&["Leads"], Access::Read));
    let expected = "folder:Sales,table:Leads,workbook:Prospecting";
    for mode in ["list", "search", "user-resources"] {
        let seen = attempt(&plugin, &ws, &[("mode", mode)], grants(), false)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(seen, expected, "{mode}");
    }
    let entry = last_call(&ws, "credits.user-resources");
    assert_eq!(entry.outcome, "ok");

    // Unscoped, the same plugin sees the whole workspace.
    let all = attempt(&plugin, &ws, &[("mode", "search")], None, false)
        .await
        .unwrap();
    assert!(all.contains("table:Accounts"), "{all}");
    assert!(all.contains("workbook:Customers"), "{all}");
}

#[tokio::test]
async fn webhook_urls_reach_only_a_plugin_that_may_write_the_table() {
    let ws = DemoWorkspace::new();
    let plugin = load_writer().await;
    let leads = table_id(&ws, "Leads");
    let url = ws
        .backend()
        .add_webhook_source(&leads, "hook")
        .await
        .unwrap()
        .url
        .unwrap();
    let config = [("mode", "sources"), ("table", leads.as_str())];
    let read_only = Grants::new().with(Interface::Tables, Access::Read);
    let some_columns = Grants::new()
        .with(Interface::Tables, Access::Write)
        .with_tables(TableScope {
            columns: Some(vec!["Email".into()]),
            ..TableScope::default()
        });
    for grants in [read_only, some_columns] {
        let seen = attempt(&plugin, &ws, &config, Some(grants.clone()), false)
            .await
            .unwrap();
        assert_eq!(seen, "hook=none", "{grants:?}");
        assert!(!seen.contains(&url));
    }
    let writer = Grants::new().with(Interface::Tables, Access::Write);
    let seen = attempt(&plugin, &ws, &config, Some(writer), false)
        .await
        .unwrap();
    assert_eq!(seen, format!("hook={url}"));
}

#[tokio::test]
async fn run_column_checks_the_columns_the_enrichment_reads() {
    let ws = DemoWorkspace::new();
    let plugin = load_writer().await;
    let leads = table_id(&ws, "Leads");
    let before = snapshot(&ws).await;
    let credits = ws.credits_spent().await;
    // Company Size is granted; Company, which it sends to the enrichment provider, is not.
    let grants = Grants::new()
        .with(Interface::Tables, Access::Write)
        .with_tables(TableScope {
            columns: Some(vec!["Company Size".into()]),
            ..TableScope::default()
        });
    let err = attempt(
        &plugin,
        &ws,
        &[("mode", "run-column"), ("table", &leads), ("n", "5")],
        Some(grants),
        false,
    )
    .await
    .expect_err("refused");
    assert!(err.contains("column `Company`"), "{err}");
    assert!(err.contains("not granted"), "{err}");
    assert_eq!(snapshot(&ws).await, before);
    assert_eq!(ws.credits_spent().await, credits);
    let entry = last_call(&ws, "tables.run-column");
    assert_eq!(entry.outcome, "error:denied");
    assert_eq!(entry.credits, 0.0);
}

#[tokio::test]
async fn a_record_named_fifty_times_is_enriched_and_charged_once() {
    let ws = DemoWorkspace::new();
    let plugin = load_writer().await;
    let leads = table_id(&ws, "Leads");
    let credits = ws.credits_spent().await;
    let said = attempt(
        &plugin,
        &ws,
        &[("mode", "run-dup"), ("table", &leads), ("n", "50")],
        None,
        false,
    )
    .await
    .unwrap();
    // Company Size costs 1 credit per row.
    assert_eq!(said, "credits=1 records=1");
    assert_eq!(ws.credits_spent().await - credits, 1.0);
    let entry = last_call(&ws, "tables.run-column");
    assert_eq!(entry.outcome, "ok");
    assert_eq!(entry.credits, 1.0);
}
