//! Turning a `<plugin>` argument into a loaded plugin: a `.wasm` file, a plugin crate
//! directory (built on demand) or the name of a bundled plugin.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kiln_host::build::build_plugin;
use kiln_host::trail::Trail;
use kiln_host::{Plugin, Runtime};
use sha2::{Digest, Sha256};

/// Where the bundled plugins live in this source tree.
pub(crate) fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("plugins")
}

pub(crate) fn bundled_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(bundled_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Resolves `<plugin>` to a component file, building it when it is a crate.
pub(crate) fn component_path(spec: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(spec);
    if path.extension().is_some_and(|e| e == "wasm") {
        if !path.is_file() {
            bail!("plugin file {} does not exist", path.display());
        }
        return Ok(path.to_path_buf());
    }
    let dir = if path.join("Cargo.toml").is_file() {
        path.to_path_buf()
    } else {
        let bundled = bundled_dir().join(spec);
        if !spec.contains('/') && bundled.join("Cargo.toml").is_file() {
            bundled
        } else {
            bail!(
                "`{spec}` is not a .wasm file, a plugin crate directory or a bundled plugin (bundled: {})",
                bundled_names().join(", ")
            );
        }
    };
    eprintln!("kiln: building {} …", dir.display());
    let built = build_plugin(&dir)?;
    Ok(built.wasm)
}

pub(crate) async fn load(runtime: &Runtime, spec: &str) -> anyhow::Result<Plugin> {
    let path = component_path(spec)?;
    runtime
        .load_file(&path)
        .await
        .with_context(|| format!("cannot load plugin {}", path.display()))
}

/// [`load`], recording a refusal in the trail: a plugin turned away is worth knowing about.
pub(crate) async fn load_recorded(
    runtime: &Runtime,
    spec: &str,
    trail: Option<&Trail>,
) -> anyhow::Result<Plugin> {
    let path = component_path(spec)?;
    match runtime.load_file(&path).await {
        Ok(plugin) => Ok(plugin),
        Err(e) => {
            if let Some(trail) = trail {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().replace('_', "-"))
                    .unwrap_or_default();
                let sha = std::fs::read(&path)
                    .map(|b| hex::encode(Sha256::digest(b)))
                    .unwrap_or_default();
                if let Err(te) = trail.record_refused_load(&name, &sha, &e.to_string()) {
                    tracing::error!("could not record the refused plugin in the audit trail: {te}");
                }
            }
            Err(anyhow::Error::new(e).context(format!("cannot load plugin {}", path.display())))
        }
    }
}

pub(crate) fn build_command(dir: &Path) -> anyhow::Result<ExitCode> {
    let built = build_plugin(dir)?;
    let size = std::fs::metadata(&built.wasm).map(|m| m.len()).unwrap_or(0);
    println!(
        "built {} → {} ({})",
        built.crate_name,
        built.wasm.display(),
        super::output::bytes(size)
    );
    Ok(ExitCode::SUCCESS)
}
