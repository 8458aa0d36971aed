//! `kiln new`: scaffolds a plugin crate that builds and passes its test as it stands.
//!
//! Outside this repository the crate is its own Cargo workspace and depends on this
//! checkout's guest SDK by absolute path; under the repository's `plugins/` it becomes a
//! member of the repository's workspace.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

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

#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    /// The plugin's name: lowercase letters, digits and '-'.
    name: String,
    /// Which world the plugin implements.
    #[arg(long, value_enum)]
    world: World,
    /// The directory to create the crate in (as `<DIR>/<name>`); the current directory by default.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

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
pub(crate) fn files(name: &str, world: World, member_of_repo: bool) -> Vec<(&'static str, String)> {
    let w = world.as_str();
    let cargo = if member_of_repo {
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
    } else {
        let sdk = repo_root().join("guest-sdk");
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
            sdk = toml::Value::String(sdk.display().to_string())
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
    if !member_of_repo {
        files.push((
            "rust-toolchain.toml",
            "[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"rustfmt\", \"clippy\"]\ntargets = [\"wasm32-wasip2\"]\n".to_string(),
        ));
    }
    files
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
    for (path, contents) in files(&args.name, args.world, member_of_repo) {
        let target = staging.path().join(path);
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&target, contents).with_context(|| format!("writing {path}"))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &dir)
        .with_context(|| format!("moving the crate to {}", dir.display()))?;

    println!(
        "Created {} plugin `{}` in {}",
        args.world.as_str(),
        args.name,
        dir.display()
    );
    if member_of_repo {
        println!("It is a member of the kiln workspace (plugins/*).");
    }
    println!("\nNext:");
    println!("  cd {}", dir.display());
    println!("  cargo test                      # native unit tests, no wasm");
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
    fn names_are_checked() {
        assert!(check_name("lead-score").is_ok());
        for bad in ["", "Lead", "9lives", "a_b", "trailing-", "a b"] {
            assert!(check_name(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn outside_the_repo_the_crate_is_its_own_workspace() {
        let files = files("shout", World::Auditor, false);
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

    #[test]
    fn inside_the_repo_the_crate_uses_the_workspace() {
        let files = files("shout", World::Transformer, true);
        let cargo = &files.iter().find(|f| f.0 == "Cargo.toml").unwrap().1;
        assert!(!cargo.contains("[workspace]"));
        assert!(cargo.contains("workspace = true"));
        assert!(!files.iter().any(|f| f.0 == "rust-toolchain.toml"));
    }
}
