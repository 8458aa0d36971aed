//! Building a plugin crate into a component: `cargo build --target wasm32-wasip2` in a
//! target directory of its own, after making sure the target is installed.
//!
//! Building is not sandboxed: cargo runs the crate's build scripts and proc macros natively,
//! as the user. So every cargo and rustup this module starts gets a scrubbed environment
//! ([`scrubbed`]): no `CLAY_*` or `KILN_*` variables, no tokens, and a `HOME` that is an
//! empty private directory, so the stored Clay session is not found through it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::plugin::manifest::{self, Manifest, ManifestError};

/// The manifest file a plugin crate keeps next to its Cargo.toml.
pub const MANIFEST_FILE: &str = "kiln.toml";

pub const WASM_TARGET: &str = "wasm32-wasip2";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{} is not a plugin crate: there is no Cargo.toml in it", .0.display())]
    NotACrate(PathBuf),
    #[error(
        "could not run `{command}`: {source}. Is the Rust toolchain (rustup, cargo) installed and on PATH?"
    )]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error(
        "the {WASM_TARGET} target is not installed and `rustup target add {WASM_TARGET}` failed:\n{0}\nInstall it by hand with `rustup target add {WASM_TARGET}` (or `rustup toolchain install` in the repository root)."
    )]
    Target(String),
    #[error("could not read the crate's metadata (`cargo metadata`): {0}")]
    Metadata(String),
    #[error("building {crate_name} for {WASM_TARGET} failed (cargo output above){}", hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    Cargo {
        crate_name: String,
        hint: Option<String>,
    },
    #[error("cargo finished but {} was not produced; is the crate a `cdylib`?", .0.display())]
    Missing(PathBuf),
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("could not embed the manifest in {}: {source}", path.display())]
    Embed {
        path: PathBuf,
        source: crate::plugin::manifest::SectionError,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What was built.
#[derive(Debug, Clone)]
pub struct Built {
    pub crate_name: String,
    /// The component, with the crate's `kiln.toml` embedded when it has one.
    pub wasm: PathBuf,
    /// The embedded manifest; `None` when the crate has no `kiln.toml`.
    pub manifest: Option<Manifest>,
}

/// Builds the plugin crate at `dir` in release mode and returns the component's path.
/// Cargo's own output goes to this process's stderr, so the user sees progress and errors.
pub fn build_plugin(dir: &Path) -> Result<Built, BuildError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::NotACrate(dir.to_path_buf()));
    }
    // Cargo runs inside the crate (so its rust-toolchain.toml applies); relative paths
    // given to it must not be resolved twice.
    let dir = &dir
        .canonicalize()
        .map_err(|_| BuildError::NotACrate(dir.to_path_buf()))?;
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
            crate_name,
            wasm,
            manifest: None,
        });
    };
    // Cargo's own output stays untouched (it is its fingerprinted artifact); the component
    // that ships, with its manifest inside, goes next to it.
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let bytes = std::fs::read(&wasm).map_err(io(&wasm))?;
    let embedded = manifest::embed(&bytes, &text).map_err(|source| BuildError::Embed {
        path: wasm.clone(),
        source,
    })?;
    let out_dir = wasm_target_dir.join("components");
    std::fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;
    let out = out_dir.join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::write(&out, embedded).map_err(io(&out))?;
    Ok(Built {
        crate_name,
        wasm: out,
        manifest: Some(parsed),
    })
}

/// Reads and validates the crate's `kiln.toml`, if it has one.
fn read_manifest(dir: &Path) -> Result<Option<(String, Manifest)>, BuildError> {
    let path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(BuildError::Io { path, source }),
    };
    let parsed = Manifest::parse(&text, &path.display().to_string())?;
    Ok(Some((text, parsed)))
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

/// The variables a build sees, besides `HOME`, `CARGO_HOME` and `RUSTUP_HOME` (which
/// [`BuildEnv`] sets itself). Nothing else reaches cargo or rustup: not `CLAY_*` or `KILN_*`
/// (sessions, API keys), not cloud or registry tokens, not `RUSTFLAGS` (a plugin's code
/// generation is kiln's choice), not `XDG_*` (config directories).
pub const PASSED_ENV: &[&str] = &["PATH", "RUSTUP_TOOLCHAIN", "TERM", "LANG"];

/// The environment every cargo and rustup command of a build runs in.
struct BuildEnv {
    /// An empty directory of this process's own, removed after the build.
    home: tempfile::TempDir,
    /// The real toolchain and registry locations: with `HOME` moved, their `~/…` defaults
    /// would point into the empty directory (no toolchain, no registry cache).
    cargo_home: Option<PathBuf>,
    rustup_home: Option<PathBuf>,
}

impl BuildEnv {
    fn new() -> Result<Self, BuildError> {
        let home = tempfile::Builder::new()
            .prefix("kiln-build-home-")
            .tempdir()
            .map_err(|source| BuildError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let real_home = dirs::home_dir();
        let located = |var: &str, default: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .or_else(|| real_home.as_ref().map(|h| h.join(default)))
        };
        Ok(Self {
            home,
            // Even when it does not exist yet: cargo creates it, and the registry cache then
            // outlives this build.
            cargo_home: located("CARGO_HOME", ".cargo"),
            // Only a rustup that is there: without one, cargo is not a rustup proxy.
            rustup_home: located("RUSTUP_HOME", ".rustup").filter(|p| p.is_dir()),
        })
    }

    /// `program` with only the variables above.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        scrubbed(&mut cmd, self.home.path());
        if let Some(dir) = &self.cargo_home {
            cmd.env("CARGO_HOME", dir);
        }
        if let Some(dir) = &self.rustup_home {
            cmd.env("RUSTUP_HOME", dir);
        }
        cmd
    }
}

/// Clears `cmd`'s environment but for [`PASSED_ENV`], with `HOME` at `home`.
fn scrubbed(cmd: &mut Command, home: &Path) {
    cmd.env_clear();
    for var in PASSED_ENV {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.env("HOME", home);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_command_sees_only_the_passed_variables() {
        let env = BuildEnv::new().unwrap();
        let cmd = env.command("cargo");
        let vars: Vec<String> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for var in &vars {
            assert!(
                PASSED_ENV.contains(&var.as_str())
                    || ["HOME", "CARGO_HOME", "RUSTUP_HOME"].contains(&var.as_str()),
                "{var} reaches the build"
            );
        }
        let home = cmd
            .get_envs()
            .find(|(k, _)| *k == "HOME")
            .and_then(|(_, v)| v)
            .unwrap();
        assert_eq!(Path::new(home), env.home.path());
        assert_eq!(std::fs::read_dir(home).unwrap().count(), 0, "HOME is empty");
    }
}
