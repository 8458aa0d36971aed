//! Rust plugins: `cargo build --target wasm32-wasip2` in a target directory of its own,
//! after making sure the target is installed.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{
    BuildEnv, BuildError, Built, Lang, WASM_TARGET, io_at, read_manifest, write_with_manifest,
};

/// Builds the plugin crate at `dir` in release mode and returns the component's path.
/// Cargo's own output goes to this process's stderr, so the user sees progress and errors.
pub(super) fn build(dir: &Path) -> Result<Built, BuildError> {
    let manifest = dir.join("Cargo.toml");
    // A manifest typo should fail before a long build, not after it.
    let kiln_toml = read_manifest(dir)?;
    let env = BuildEnv::new()?;
    ensure_wasm_target_in(dir, &env)?;
    let (crate_name, target_dir) = metadata(&manifest, &env)?;
    // A target directory of its own, so wasm builds never wait on (or invalidate) the
    // native build's lock and artifacts.
    let wasm_target_dir = target_dir.join("kiln-plugins");
    let status = env
        .command("cargo")
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &wasm_target_dir)
        // Plugins ship: no debug info (the name section stays, so traps still name functions).
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .stdout(Stdio::null())
        .status()
        .map_err(|source| BuildError::Spawn {
            command: "cargo build".into(),
            source,
        })?;
    if !status.success() {
        return Err(BuildError::Cargo {
            crate_name,
            hint: None,
        });
    }
    let wasm = wasm_target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    if !wasm.is_file() {
        return Err(BuildError::Missing(wasm));
    }
    let Some((text, parsed)) = kiln_toml else {
        return Ok(Built {
            name: crate_name,
            lang: Lang::Rust,
            wasm,
            manifest: None,
        });
    };
    // Cargo's own output stays untouched (it is its fingerprinted artifact); the component
    // that ships, with its manifest inside, goes next to it.
    let bytes = std::fs::read(&wasm).map_err(io_at(&wasm))?;
    let out = wasm_target_dir
        .join("components")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    write_with_manifest(&bytes, &text, &out)?;
    Ok(Built {
        name: crate_name,
        lang: Lang::Rust,
        wasm: out,
        manifest: Some(parsed),
    })
}

/// Adds the wasm32-wasip2 target when the active toolchain lacks it. rustup does not add
/// targets listed in `rust-toolchain.toml` to an already-installed toolchain, so a fresh
/// checkout on a machine with Rust would otherwise fail with E0463.
pub fn ensure_wasm_target(dir: &Path) -> Result<(), BuildError> {
    ensure_wasm_target_in(dir, &BuildEnv::new()?)
}

fn ensure_wasm_target_in(dir: &Path, env: &BuildEnv) -> Result<(), BuildError> {
    let listed = env
        .command("rustup")
        .current_dir(dir)
        .args(["target", "list", "--installed"])
        .output();
    let installed = match listed {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == WASM_TARGET),
        // No rustup: the toolchain is managed some other way; let cargo report problems.
        _ => return Ok(()),
    };
    if installed {
        return Ok(());
    }
    eprintln!(
        "kiln: the {WASM_TARGET} target is missing; installing it with `rustup target add {WASM_TARGET}`…"
    );
    let out = env
        .command("rustup")
        .current_dir(dir)
        .args(["target", "add", WASM_TARGET])
        .output()
        .map_err(|source| BuildError::Spawn {
            command: format!("rustup target add {WASM_TARGET}"),
            source,
        })?;
    if !out.status.success() {
        return Err(BuildError::Target(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

/// The package name of the crate at `manifest` and the target directory cargo would use.
fn metadata(manifest: &Path, env: &BuildEnv) -> Result<(String, PathBuf), BuildError> {
    let out = env
        .command("cargo")
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .map_err(|source| BuildError::Spawn {
            command: "cargo metadata".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(BuildError::Metadata(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| BuildError::Metadata(e.to_string()))?;
    let manifest_canon = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let package = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["manifest_path"]
                .as_str()
                .map(|m| Path::new(m) == manifest_canon)
                .unwrap_or(false)
        })
        .ok_or_else(|| BuildError::Metadata(format!("no package for {}", manifest.display())))?;
    let name = package["name"]
        .as_str()
        .ok_or_else(|| BuildError::Metadata("package has no name".into()))?
        .to_string();
    let target_dir = meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| BuildError::Metadata("no target_directory".into()))?;
    Ok((name, target_dir))
}
