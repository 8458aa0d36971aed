//! `kiln new`: scaffolds a plugin that builds and passes its tests as it stands, in Rust,
//! Python or JavaScript.
//!
//! A Rust crate outside this repository is its own Cargo workspace and depends on this
//! checkout's guest SDK by absolute path, or, when that checkout is gone (an installed kiln)
//! or with `--vendor-sdk`, on a copy of the SDK this kiln carries, written into the crate's
//! `kiln-sdk/`; under the repository's `plugins/` it becomes a member of the repository's
//! workspace. A Python or JavaScript project gets a copy of its
//! SDK (the one this kiln carries), so its tests run with nothing else installed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use kiln_host::build::sdk;

const TRANSFORMER_LIB: &str = include_str!("scaffold/transformer.rs.txt");
const AUDITOR_LIB: &str = include_str!("scaffold/auditor.rs.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum World {
    /// Transforms table rows.
    Transformer,
    /// Audits the workspace.
    Auditor,
}

impl World {
    fn as_str(self) -> &'static str {
        match self {
            World::Transformer => "transformer",
            World::Auditor => "auditor",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    Rust,
    Python,
    /// JavaScript (TypeScript builds too: rename app.js to app.ts).
    Js,
}

#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    /// The plugin's name: lowercase letters, digits and '-'.
    name: String,
    /// Which world the plugin implements.
    #[arg(long, value_enum)]
    world: World,
    /// The language to write it in.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// The directory to create the crate in (as `<DIR>/<name>`); the current directory by default.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Rust: copy the SDK into the crate (`kiln-sdk/`) rather than depend on this kiln's
    /// source tree by path. Done anyway when that tree is gone.
    #[arg(long)]
    vendor_sdk: bool,
}

/// Where a new Rust crate's `kiln-guest` dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SdkDep {
    /// The repository's workspace (a crate under `plugins/`).
    Workspace,
    /// A path: this checkout's `guest-sdk`, absolute, or the crate's own copy, relative.
    Path(String),
}

/// The directory `--vendor-sdk` writes the SDK into, inside the new crate.
const VENDORED: &str = "kiln-sdk";

/// This checkout's root, known when the `kiln` binary was compiled.
fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "`{name}` is not a valid plugin name: use lowercase letters, digits and '-', starting with a letter (e.g. `lead-score`)"
        );
    }
    Ok(())
}

/// What gets written, as (path relative to the crate, contents).
pub(crate) fn files(name: &str, world: World, sdk: &SdkDep) -> Vec<(&'static str, String)> {
    let w = world.as_str();
    let cargo = if let SdkDep::Path(sdk) = sdk {
        format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the WebAssembly component; rlib: native tests and benches.
crate-type = ["cdylib", "rlib"]

[dependencies]
kiln-guest = {{ path = {sdk}, features = ["{w}"] }}

# A workspace of its own, so it builds wherever it lives.
[workspace]
"#,
            sdk = toml::Value::String(sdk.clone())
        )
    } else {
        format!(
            r#"[package]
name = "{name}"
version.workspace = true
edition.workspace = true
rust-version.workspace = true
license.workspace = true

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
kiln-guest = {{ workspace = true, features = ["{w}"] }}
"#
        )
    };
    let capabilities = match world {
        World::Transformer => {
            r#"[capabilities.tables]
access = "write"                     # needed for its set/delete effects to be applied
columns = ["Email"]
"#
        }
        World::Auditor => {
            r#"[capabilities]
credits = "read"
"#
        }
    };
    let config = match world {
        World::Transformer => {
            r#"[config.column]
default = "Email"
description = "The column holding the email address"
"#
        }
        World::Auditor => {
            r#"[config.top_spenders]
default = "3"
description = "How many of the period's biggest spenders to list"
"#
        }
    };
    let description = match world {
        World::Transformer => "Trims and lower-cases emails",
        World::Auditor => "Pending invitations and the period's top spenders",
    };
    let manifest = format!(
        r#"name = "{name}"
version = "0.1.0"
world = "{w}"
description = "{description}"

{capabilities}
[limits]
memory_mib = 64
batch_ms = 10000

[budget]
credits_per_run = 0

{config}"#
    );
    let lib = match world {
        World::Transformer => TRANSFORMER_LIB,
        World::Auditor => AUDITOR_LIB,
    }
    .replace("{{name}}", name);
    let mut files = vec![
        ("Cargo.toml", cargo),
        ("kiln.toml", manifest),
        ("src/lib.rs", lib),
        (".gitignore", "/target\n".to_string()),
    ];
    if *sdk != SdkDep::Workspace {
        files.push((
            "rust-toolchain.toml",
            "[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"rustfmt\", \"clippy\"]\ntargets = [\"wasm32-wasip2\"]\n".to_string(),
        ));
    }
    files
}

/// The CamelCase class name for a plugin name (`lead-score` → `LeadScore`).
fn class_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// What gets written for a Python or JavaScript plugin: its files from the templates this
/// kiln carries, and a copy of the SDK.
pub(crate) fn script_files(
    name: &str,
    world: World,
    lang: Lang,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let w = world.as_str();
    let (templates, files, sdk_tree, sdk_dir, ignore): (_, &[(&str, String)], _, _, _) = match lang
    {
        Lang::Python => (
            sdk::PYTHON_TEMPLATES,
            &[
                ("app.py", format!("{w}_app.py")),
                ("test_app.py", format!("{w}_test_app.py")),
                ("kiln.toml", format!("{w}_kiln.toml")),
                ("pyproject.toml", "pyproject.toml".to_string()),
            ],
            sdk::PYTHON_SDK,
            "kiln_sdk",
            "/dist\n__pycache__/\n.pytest_cache/\n",
        ),
        Lang::Js => (
            sdk::JS_TEMPLATES,
            &[
                ("app.js", format!("{w}_app.js")),
                ("app.test.js", format!("{w}_app.test.js")),
                ("kiln.toml", format!("{w}_kiln.toml")),
                ("package.json", "package.json".to_string()),
            ],
            sdk::JS_SDK,
            "kiln-sdk",
            "/dist\nnode_modules/\n",
        ),
        Lang::Rust => bail!("Rust plugins are crates: see `files`"),
    };
    let class = class_name(name);
    let mut out = Vec::new();
    for (path, template) in files {
        let text = sdk::file(templates, template)
            .with_context(|| format!("this kiln carries no template {template}"))?;
        let text = String::from_utf8_lossy(text)
            .replace("__NAME__", name)
            .replace("__CLASS__", &class);
        out.push((path.to_string(), text.into_bytes()));
    }
    for (rel, contents) in sdk_tree {
        out.push((format!("{sdk_dir}/{rel}"), contents.to_vec()));
    }
    out.push((".gitignore".to_string(), ignore.as_bytes().to_vec()));
    Ok(out)
}

pub(crate) fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let parent = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let parent = parent
        .canonicalize()
        .with_context(|| format!("resolving {}", parent.display()))?;
    let dir = parent.join(&args.name);
    if dir.exists() {
        bail!(
            "{} already exists; pick another name or --dir, nothing was written",
            dir.display()
        );
    }
    let plugins = repo_root().join("plugins");
    let member_of_repo = parent == plugins;
    if member_of_repo && args.lang != Lang::Rust {
        bail!(
            "{} is a Cargo workspace glob (plugins/*): a Python or JavaScript plugin there needs an `exclude` entry in the repository's Cargo.toml first (as plugins/normalize-contacts-py has); nothing was written",
            plugins.display()
        );
    }
    if member_of_repo && args.vendor_sdk {
        bail!(
            "a plugin under plugins/ uses the workspace's SDK: drop --vendor-sdk or pick another --dir; nothing was written"
        );
    }
    if !member_of_repo && parent.starts_with(&plugins) {
        bail!(
            "plugins inside this repository go directly under {} (it is a workspace glob); nothing was written",
            plugins.display()
        );
    }

    // Write into a sibling temp directory and rename it into place, so a failure halfway
    // leaves nothing behind.
    let staging = tempfile::Builder::new()
        .prefix(".kiln-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?;
    let checkout_sdk = repo_root().join("guest-sdk");
    let vendor = args.lang == Lang::Rust
        && !member_of_repo
        && (args.vendor_sdk || !checkout_sdk.join("Cargo.toml").is_file());
    let sdk_dep = if member_of_repo {
        SdkDep::Workspace
    } else if vendor {
        SdkDep::Path(format!("{VENDORED}/{}", sdk::RUST_SDK_DIR))
    } else {
        SdkDep::Path(checkout_sdk.display().to_string())
    };
    let written: Vec<(String, Vec<u8>)> = match args.lang {
        Lang::Rust => files(&args.name, args.world, &sdk_dep)
            .into_iter()
            .map(|(p, c)| (p.to_string(), c.into_bytes()))
            .collect(),
        lang => script_files(&args.name, args.world, lang)?,
    };
    for (path, contents) in written {
        let target = staging.path().join(&path);
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&target, contents).with_context(|| format!("writing {path}"))?;
    }
    if vendor {
        let dest = staging.path().join(VENDORED);
        sdk::write_rust(&dest).with_context(|| format!("writing the SDK into {VENDORED}/"))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &dir)
        .with_context(|| format!("moving the crate to {}", dir.display()))?;

    println!(
        "Created {} {} plugin `{}` in {}",
        match args.lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        },
        args.world.as_str(),
        args.name,
        dir.display()
    );
    if member_of_repo {
        println!("It is a member of the kiln workspace (plugins/*).");
    } else if vendor {
        println!("It carries its own copy of the kiln SDK in {VENDORED}/.");
    }
    println!("\nNext:");
    println!("  cd {}", dir.display());
    match args.lang {
        Lang::Rust => println!("  cargo test                      # native unit tests, no wasm"),
        Lang::Python => println!(
            "  python3 -m pytest               # unit tests against a mock workspace, no wasm"
        ),
        Lang::Js => println!(
            "  npm install && npm test         # unit tests against a mock workspace, no wasm"
        ),
    }
    println!("  kiln build .                    # the WebAssembly component");
    println!("  kiln inspect . --build --json   # its world, imports and exports");
    match args.world {
        World::Transformer => println!("  kiln run . --build --table Leads --dry-run"),
        World::Auditor => println!("  kiln audit . --build --format html --out report.html"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_camel_case() {
        assert_eq!(class_name("lead-score"), "LeadScore");
        assert_eq!(class_name("x2"), "X2");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("lead-score").is_ok());
        for bad in ["", "Lead", "9lives", "a_b", "trailing-", "a b"] {
            assert!(check_name(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn outside_the_repo_the_crate_is_its_own_workspace() {
        let sdk = SdkDep::Path(repo_root().join("guest-sdk").display().to_string());
        let files = files("shout", World::Auditor, &sdk);
        let cargo = &files.iter().find(|f| f.0 == "Cargo.toml").unwrap().1;
        assert!(cargo.contains("[workspace]"));
        let manifest: toml::Value = toml::from_str(cargo).unwrap();
        let sdk = manifest["dependencies"]["kiln-guest"]["path"]
            .as_str()
            .unwrap();
        assert!(Path::new(sdk).is_absolute());
        assert!(Path::new(sdk).join("Cargo.toml").is_file());
        assert!(
            files
                .iter()
                .any(|f| f.0 == "rust-toolchain.toml" && f.1.contains("wasm32-wasip2"))
        );
        let kiln: toml::Value =
            toml::from_str(&files.iter().find(|f| f.0 == "kiln.toml").unwrap().1).unwrap();
        assert_eq!(kiln["world"].as_str(), Some("auditor"));
        assert_eq!(kiln["name"].as_str(), Some("shout"));
    }

    /// The SDK's copy builds without kiln's workspace: nothing in its manifests is inherited,
    /// and its path dependencies point inside the copy.
    #[test]
    fn the_vendored_sdk_has_standalone_manifests() {
        let dir = tempfile::tempdir().unwrap();
        sdk::write_rust(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("guest-sdk/Cargo.toml")).unwrap();
        assert!(!inherits(&text), "{text}");
        let manifest: toml::Table = text.parse().unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some("kiln-guest"));
        assert_eq!(manifest["package"]["edition"].as_str(), Some("2024"));
        let batch = manifest["dependencies"]["kiln-batch"]["path"]
            .as_str()
            .unwrap();
        assert!(
            dir.path()
                .join("guest-sdk")
                .join(batch)
                .join("Cargo.toml")
                .is_file(),
            "{batch}"
        );
        let bindgen = &manifest["dependencies"]["wit-bindgen"];
        assert!(bindgen["version"].as_str().is_some(), "{bindgen}");
        assert_eq!(bindgen["default-features"].as_bool(), Some(false));
        assert!(dir.path().join("wit/clay.wit").is_file());
        assert!(dir.path().join("guest-sdk/src/lib.rs").is_file());
        let batch = std::fs::read_to_string(dir.path().join("batch/Cargo.toml")).unwrap();
        assert!(!inherits(&batch), "{batch}");
    }

    /// Whether a manifest still inherits anything (`x.workspace = true`, or `workspace =
    /// true` in a table of its own) from a workspace.
    fn inherits(manifest: &str) -> bool {
        fn walk(value: &toml::Value) -> bool {
            match value {
                toml::Value::Table(t) => {
                    t.get("workspace").and_then(|w| w.as_bool()) == Some(true)
                        || t.values().any(walk)
                }
                toml::Value::Array(a) => a.iter().any(walk),
                _ => false,
            }
        }
        walk(&toml::Value::Table(manifest.parse().unwrap()))
    }

    #[test]
    fn inherits_sees_workspace_keys() {
        assert!(inherits("[package]\nversion.workspace = true\n"));
        assert!(inherits("[dependencies]\na = { workspace = true }\n"));
        assert!(!inherits(
            "# from the workspace\n[package]\nversion = \"1\"\n"
        ));
    }

    #[test]
    fn inside_the_repo_the_crate_uses_the_workspace() {
        let files = files("shout", World::Transformer, &SdkDep::Workspace);
        let cargo = &files.iter().find(|f| f.0 == "Cargo.toml").unwrap().1;
        assert!(!cargo.contains("[workspace]"));
        assert!(cargo.contains("workspace = true"));
        assert!(!files.iter().any(|f| f.0 == "rust-toolchain.toml"));
    }
}
