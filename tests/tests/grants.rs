//! Two-sided grants: a plugin gets what its embedded manifest requests, capped by the
//! operator's policy — checked at load (imports) and on every call (tables and columns).

use std::process::Command;

use kiln_host::capabilities::{Access, Interface};
use kiln_host::invocation::{InvocationOptions, TransformOptions, TransformReport, run_transform};
use kiln_host::plugin::manifest;
use kiln_host::plugin::policy::Policy;
use kiln_host::{LoadError, Plugin, Runtime, RuntimeConfig};
use kiln_tests::{DemoWorkspace, hostile, kiln_bin, normalize_contacts};

/// The hostile guest carrying `capabilities` (TOML under a `[capabilities]` header) as its manifest.
fn hostile_with(world: &str, capabilities: &str) -> Vec<u8> {
    let text = format!(
        "name = \"hostile\"\nversion = \"0.1.0\"\nworld = \"{world}\"\n\n\
         [config.mode]\n[config.addr]\n[config.table]\n[config.n]\n\n{capabilities}\n"
    );
    let wasm = std::fs::read(hostile()).unwrap();
    manifest::embed(&wasm, &text).unwrap()
}

fn runtime_with(policy: Policy) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: None,
        policy,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

async fn load(bytes: Vec<u8>) -> Result<Plugin, LoadError> {
    runtime_with(Policy::default())
        .load_bytes("hostile", bytes)
        .await
}

async fn run(plugin: &Plugin, ws: &DemoWorkspace, config: &[(&str, &str)]) -> TransformReport {
    let trail = Some(kiln_host::trail::Trail::open(&ws.path).unwrap());
    run_transform(
        plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation: InvocationOptions {
                config: config
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                trail,
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await
    .expect("the run completes")
}

#[tokio::test]
async fn the_manifest_travels_inside_the_component() {
    let plugin = runtime_with(Policy::default())
        .load_file(&normalize_contacts())
        .await
        .unwrap();
    let info = plugin.info();
    assert!(info.manifest_embedded);
    assert_eq!(info.manifest.name, "normalize-contacts");
    assert_eq!(plugin.grants().get(Interface::Tables), Some(Access::Write));
    assert_eq!(plugin.grants().get(Interface::Credits), None);
    assert_eq!(plugin.limits().memory_bytes, 64 << 20);
    let settings = plugin.settings(&Default::default()).unwrap();
    assert_eq!(settings["email_column"], "Email");
}

#[tokio::test]
async fn an_import_the_manifest_does_not_request_is_refused_at_load() {
    // The guest calls tables.*; its manifest asks for nothing.
    let err = load(hostile_with("transformer", "")).await.err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, LoadError::NotGranted { .. }), "{text}");
    assert!(text.contains("clay:api/tables"), "{text}");
    assert!(text.contains("manifest does not request it"), "{text}");
}

#[tokio::test]
async fn an_import_the_policy_denies_is_refused_at_load_naming_the_policy() {
    let mut policy = Policy::default();
    policy.deny("tables").unwrap();
    let err = runtime_with(policy)
        .load_bytes(
            "hostile",
            hostile_with("transformer", "[capabilities]\ntables = \"write\""),
        )
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("clay:api/tables"), "{err}");
    assert!(err.contains("operator's policy does not grant"), "{err}");
}

#[tokio::test]
async fn a_manifest_for_the_wrong_world_is_refused() {
    let err = load(hostile_with("auditor", "[capabilities]\ntables = \"read\""))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::ManifestWorld { .. }), "{err}");
    assert!(
        err.to_string().contains("fix `world` in kiln.toml"),
        "{err}"
    );
}

#[tokio::test]
async fn a_policy_can_require_a_manifest() {
    let policy = Policy::parse("require_manifest = true\n", "policy.toml").unwrap();
    // The cargo artifact, before `kiln build` embedded the crate's kiln.toml.
    let components = hostile();
    let release = components.parent().and_then(|p| p.parent()).unwrap();
    let bare = std::fs::read(release.join("wasm32-wasip2/release/hostile.wasm")).unwrap();
    assert_eq!(manifest::extract(&bare).unwrap(), None);
    let err = runtime_with(policy)
        .load_bytes("hostile", bare)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::NoManifest), "{err}");
}

#[tokio::test]
async fn an_unknown_setting_is_refused_with_the_known_ones() {
    let ws = DemoWorkspace::new();
    let plugin = runtime_with(Policy::default())
        .load_file(&normalize_contacts())
        .await
        .unwrap();
    let err = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation: InvocationOptions {
                config: [("emial_column".to_string(), "Email".to_string())].into(),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("no setting `emial_column`"), "{err}");
    assert!(err.contains("email_column"), "lists the real ones: {err}");
}

#[tokio::test]
async fn reading_a_table_outside_the_grant_is_denied_naming_it() {
    let ws = DemoWorkspace::new();
    let plugin = load(hostile_with(
        "transformer",
        "[capabilities.tables]\naccess = \"read\"\ntables = [\"Leads\"]",
    ))
    .await
    .unwrap();
    let accounts = ws.local.export_rows("Accounts").unwrap().0.id;
    let report = run(
        &plugin,
        &ws,
        &[("mode", "read-table"), ("table", &accounts)],
    )
    .await;
    let said = &report.errors[0].message;
    assert!(said.contains("Denied"), "{said}");
    assert!(said.contains("Accounts"), "names the table: {said}");
    // The trail recorded the refused call with its target.
    let entries = kiln_host::trail::Trail::open(&ws.path)
        .unwrap()
        .entries(&Default::default())
        .unwrap();
    assert!(
        entries.iter().any(|e| e.call == "tables.get"
            && e.outcome == "error:denied"
            && e.targets.contains(&accounts)),
        "the denied read is in the trail"
    );
    // Its own table it may read.
    let leads = ws.local.export_rows("Leads").unwrap().0.id;
    let report = run(&plugin, &ws, &[("mode", "read-table"), ("table", &leads)]).await;
    assert!(
        report.errors[0].message.starts_with("read Leads"),
        "{:?}",
        report.errors[0]
    );
}

#[tokio::test]
async fn a_transformer_sees_only_its_granted_columns() {
    let ws = DemoWorkspace::new();
    let plugin = load(hostile_with(
        "transformer",
        "[capabilities.tables]\naccess = \"write\"\ncolumns = [\"Email\", \"Email Status\"]",
    ))
    .await
    .unwrap();
    let (table, _) = ws.local.export_rows("Leads").unwrap();
    let email = &table.field_by_name("Email").unwrap().id;
    let report = run(&plugin, &ws, &[("mode", "columns")]).await;
    assert_eq!(report.errors.len(), 2000);
    for e in &report.errors {
        let (cells, fields) = e.message.split_once(' ').unwrap();
        assert_eq!(fields, "fields=Email,Email Status", "{}", e.message);
        let cells = cells.trim_start_matches("cells=");
        assert!(
            cells.split(',').all(|id| id.is_empty()
                || id == email
                || table.field(id).is_some_and(|f| f.name == "Email Status")),
            "a hidden column reached the guest: {}",
            e.message
        );
    }
}

#[tokio::test]
async fn effects_outside_the_grant_are_refused_per_row_and_change_nothing() {
    let ws = DemoWorkspace::new();
    let (_, before) = ws.local.export_rows("Leads").unwrap();

    // Write access, but not to the column `mark` sets.
    let plugin = load(hostile_with(
        "transformer",
        "[capabilities.tables]\naccess = \"write\"\ncolumns = [\"Email\"]",
    ))
    .await
    .unwrap();
    let report = run(&plugin, &ws, &[("mode", "mark")]).await;
    // The guest cannot even see the column it wants, so it reports that for every row.
    assert_eq!(report.rows_changed, 0);
    assert_eq!(report.rows_failed, 2000);

    // Read access only: every effect is refused with what to ask for.
    let plugin = load(hostile_with(
        "transformer",
        "[capabilities]\ntables = \"read\"",
    ))
    .await
    .unwrap();
    let report = run(&plugin, &ws, &[("mode", "mark")]).await;
    assert_eq!(report.rows_changed, 0);
    assert_eq!(report.rows_failed, 2000);
    let message = &report.errors[0].message;
    assert!(message.contains("read access to tables only"), "{message}");
    assert!(
        message.contains("access = \"write\""),
        "says what to do: {message}"
    );

    let (_, after) = ws.local.export_rows("Leads").unwrap();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_transformer_cannot_write_behind_its_effects_even_with_write_access() {
    let ws = DemoWorkspace::new();
    let plugin = load(hostile_with(
        "transformer",
        "[capabilities]\ntables = \"write\"",
    ))
    .await
    .unwrap();
    let report = run(&plugin, &ws, &[("mode", "write")]).await;
    let said = &report.errors[0].message;
    assert!(
        said.contains("only through the effects it returns"),
        "{said}"
    );
    assert_eq!(ws.local.export_rows("Leads").unwrap().1.len(), 2000);
}

#[test]
fn a_manifest_typo_fails_kiln_build_with_its_line_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"typo\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kiln.toml"),
        "name = \"typo\"\nversion = \"0.1.0\"\nworld = \"transformer\"\n\n[limits]\nmemroy_mib = 64\n",
    )
    .unwrap();
    let out = Command::new(kiln_bin())
        .arg("build")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("kiln.toml, line 6"), "{stderr}");
    assert!(stderr.contains("memroy_mib"), "{stderr}");
}

#[test]
fn kiln_inspect_shows_the_manifest_and_the_effective_grants() {
    let wasm = normalize_contacts();
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(kiln_bin())
        .args(["--deny", "tables", "inspect"])
        .arg(&wasm)
        .env("KILN_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // normalize-contacts imports no tables function, so denying tables only narrows it.
    assert!(out.status.success(), "{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("embedded kiln.toml"), "{text}");
    assert!(text.contains("tables: write"), "its request: {text}");
    assert!(text.contains("email_column = Email"), "{text}");

    let out = Command::new(kiln_bin())
        .args(["inspect", "--json"])
        .arg(&wasm)
        .env("KILN_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["manifest"]["name"], "normalize-contacts");
    assert_eq!(json["grants"]["by_interface"]["tables"], "write");
}
