//! The guest SDKs and the `kiln new` templates, as this binary carries them (embedded by
//! `host/build.rs`): `kiln build` puts the Python and JavaScript SDKs where the tools find
//! them, and `kiln new` vendors an SDK into a new project (Rust's when kiln's source tree is
//! gone, or with `--vendor-sdk`), so an installed kiln needs no source tree.

use std::path::Path;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// A tree of embedded files: (path relative to its root, contents).
pub type Tree = &'static [(&'static str, &'static [u8])];

pub const PYTHON_SDK: Tree = embedded::PYTHON_SDK;
pub const JS_SDK: Tree = embedded::JS_SDK;
pub const PYTHON_TEMPLATES: Tree = embedded::PYTHON_TEMPLATES;
pub const JS_TEMPLATES: Tree = embedded::JS_TEMPLATES;

/// The bundled Rust plugins, built when this kiln was: (name, component, kiln.toml). Empty
/// when they could not be built then; kiln builds them from its source tree instead.
pub const BUNDLED: &[(&str, &[u8], &str)] = embedded::BUNDLED;

/// The Rust SDK (`kiln-guest`), the crate it builds on (`kiln-batch`) and the WIT it binds,
/// laid out as in this repository, and the workspace manifest their own manifests inherit
/// from.
pub const RUST_SDK: Tree = embedded::RUST_SDK;
pub const RUST_BATCH: Tree = embedded::RUST_BATCH;
pub const WIT: Tree = embedded::WIT;
const WORKSPACE_MANIFEST: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"));

/// Where [`write_rust`] puts `kiln-guest`, relative to the directory it is given.
pub const RUST_SDK_DIR: &str = "guest-sdk";

/// Writes the Rust SDK into `dir` (`guest-sdk/`, `batch/`, `wit/`), each crate's manifest
/// made standalone: what it inherited from kiln's workspace is written out, so the copy
/// builds anywhere, with no kiln source tree.
pub fn write_rust(dir: &Path) -> std::io::Result<()> {
    let workspace: toml::Table = WORKSPACE_MANIFEST.parse().map_err(invalid)?;
    for (tree, sub) in [
        (RUST_SDK, RUST_SDK_DIR),
        (RUST_BATCH, "batch"),
        (WIT, "wit"),
    ] {
        write_tree(tree, &dir.join(sub))?;
        if let Some(manifest) = file(tree, "Cargo.toml") {
            let text = std::str::from_utf8(manifest).map_err(invalid)?;
            let standalone = standalone(text, &workspace).map_err(invalid)?;
            std::fs::write(dir.join(sub).join("Cargo.toml"), standalone)?;
        }
    }
    Ok(())
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// A workspace member's manifest with every `x.workspace = true` replaced by the
/// workspace's value. Path dependencies are made relative to the member, one level below
/// the root as every embedded crate is.
fn standalone(member: &str, workspace: &toml::Table) -> Result<String, String> {
    let mut manifest: toml::Table = member.parse().map_err(|e| format!("{e}"))?;
    let root = workspace
        .get("workspace")
        .and_then(|w| w.as_table())
        .ok_or("the workspace manifest has no [workspace]")?;
    let inherited = |v: &toml::Value| {
        v.as_table()
            .and_then(|t| t.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true)
    };
    if let Some(package) = manifest.get_mut("package").and_then(|p| p.as_table_mut()) {
        let from = root.get("package").and_then(|p| p.as_table());
        for (key, value) in package.iter_mut() {
            if inherited(value) {
                *value = from
                    .and_then(|f| f.get(key))
                    .cloned()
                    .ok_or_else(|| format!("workspace.package.{key} is not set"))?;
            }
        }
    }
    let deps = root.get("dependencies").and_then(|d| d.as_table());
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(table) = manifest.get_mut(section).and_then(|s| s.as_table_mut()) else {
            continue;
        };
        for (name, value) in table.iter_mut() {
            if !inherited(value) {
                continue;
            }
            let mut dep = match deps.and_then(|d| d.get(name)) {
                Some(toml::Value::String(version)) => {
                    let mut t = toml::Table::new();
                    t.insert("version".into(), toml::Value::String(version.clone()));
                    t
                }
                Some(toml::Value::Table(t)) => t.clone(),
                _ => return Err(format!("workspace.dependencies.{name} is not set")),
            };
            if let Some(toml::Value::String(path)) = dep.get("path") {
                let relative = format!("../{path}");
                dep.insert("path".into(), toml::Value::String(relative));
            }
            // The member's own keys (features, optional) add to the workspace's.
            if let Some(own) = value.as_table() {
                for (key, v) in own {
                    if key == "workspace" {
                        continue;
                    }
                    match (dep.get_mut(key), v) {
                        (Some(toml::Value::Array(base)), toml::Value::Array(more)) => {
                            base.extend(more.iter().cloned())
                        }
                        _ => {
                            dep.insert(key.clone(), v.clone());
                        }
                    }
                }
            }
            *value = toml::Value::Table(dep);
        }
    }
    let text = toml::to_string(&manifest).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Written by `kiln new` from kiln {}'s workspace manifest.\n{text}",
        env!("CARGO_PKG_VERSION")
    ))
}

/// `shims/no-filesystem` as a component, which `kiln build` composes into JavaScript
/// plugins; `None` when it could not be built with this kiln.
pub const NO_FILESYSTEM_SHIM: Option<&[u8]> = embedded::NO_FILESYSTEM;

/// Writes the `kiln_sdk` package into `dir` (as `dir/kiln_sdk`).
pub fn write_python(dir: &Path) -> std::io::Result<()> {
    write_tree(PYTHON_SDK, &dir.join("kiln_sdk"))
}

/// Writes the `kiln-sdk` npm package into `dir` (its root: package.json, modules, types).
pub fn write_js(dir: &Path) -> std::io::Result<()> {
    write_tree(JS_SDK, dir)
}

/// Writes every file of `tree` under `dir`.
pub fn write_tree(tree: Tree, dir: &Path) -> std::io::Result<()> {
    for (rel, contents) in tree {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    Ok(())
}

/// One file of `tree`, by its relative path.
pub fn file(tree: Tree, rel: &str) -> Option<&'static [u8]> {
    tree.iter().find(|(r, _)| *r == rel).map(|(_, c)| *c)
}
