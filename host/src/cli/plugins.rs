//! Turning a `<plugin>` argument into a loaded plugin: a `.wasm` file, a plugin crate
//! directory (built only when the user passes `--build`) or the name of a bundled plugin.
//!
//! Building a crate runs its build scripts and proc macros natively, with the user's rights:
//! that is running untrusted code outside the sandbox. So kiln builds a directory only when
//! asked to, or when it is one of the plugins bundled in this source tree.

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

/// Resolves `<plugin>` to a component file. A crate directory is built only when `build`
/// is set (the user passed `--build`) or it is a bundled plugin.
pub(crate) fn component_path(spec: &str, build: bool) -> anyhow::Result<PathBuf> {
    let path = Path::new(spec);
    if path.extension().is_some_and(|e| e == "wasm") {
        if !path.is_file() {
            bail!("plugin file {} does not exist", path.display());
        }
        return Ok(path.to_path_buf());
    }
    let dir = if path.join("Cargo.toml").is_file() {
        if !build && !is_bundled(path) {
            bail!(
                "`{spec}` is a plugin crate, and building it runs its build scripts and proc macros on this machine as you, outside the sandbox. \
                 Pass --build to build it (kiln builds in a scrubbed environment), or give a built component: `kiln build {spec}` prints the .wasm to use"
            );
        }
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

/// Whether `dir` is one of the plugins that ship in this source tree.
fn is_bundled(dir: &Path) -> bool {
    match (dir.canonicalize(), bundled_dir().canonicalize()) {
        (Ok(dir), Ok(bundled)) => dir.parent() == Some(bundled.as_path()),
        _ => false,
    }
}

pub(crate) async fn load(runtime: &Runtime, spec: &str, build: bool) -> anyhow::Result<Plugin> {
    let path = component_path(spec, build)?;
    runtime
        .load_file(&path)
        .await
        .with_context(|| format!("cannot load plugin {}", path.display()))
}

/// [`load`], recording a refusal in the trail: a plugin turned away is worth knowing about.
pub(crate) async fn load_recorded(
    runtime: &Runtime,
    spec: &str,
    build: bool,
    trail: Option<&Trail>,
) -> anyhow::Result<Plugin> {
    let path = component_path(spec, build)?;
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

/// A component's identity without loading it: its SHA-256 and the name it goes by (its
/// manifest's, else the file's stem).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub sha256: String,
    pub name: String,
}

/// Whether a `--plugin` value is a SHA-256 in hex, as `kiln inspect` prints it.
pub(crate) use kiln_host::budget::is_sha256;

/// Identifies `<plugin>` (a `.wasm`, a crate directory with `build`, a bundled plugin's
/// name) by the SHA-256 of the component bytes: the identity a plugin cannot choose.
pub(crate) fn identify(spec: &str, build: bool) -> anyhow::Result<Identity> {
    let path = component_path(spec, build)?;
    let bytes =
        std::fs::read(&path).with_context(|| format!("reading plugin {}", path.display()))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_else(|| "plugin".to_string());
    let name = kiln_host::plugin::manifest::extract(&bytes)
        .ok()
        .flatten()
        .and_then(|text| kiln_host::plugin::manifest::Manifest::parse(&text, &stem).ok())
        .map_or(stem, |m| m.name);
    Ok(Identity {
        sha256: hex::encode(Sha256::digest(&bytes)),
        name,
    })
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
