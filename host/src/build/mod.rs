//! Building a plugin project into a component, for every language kiln supports: Rust
//! crates with cargo, Python with componentize-py and JavaScript/TypeScript with esbuild and
//! componentize-js (pinned, installed on demand by [`tools`]). Every build checks the
//! project's `kiln.toml` first and embeds it in the component it produces.
//!
//! Building is not sandboxed: cargo runs the crate's build scripts and proc macros natively,
//! as the user, and the Python and JavaScript tools run on this machine too. So every build
//! command gets a scrubbed environment ([`scrubbed`]): no `CLAY_*` or `KILN_*` variables, no
//! tokens, and a `HOME` that is an empty private directory, so the stored Clay session is not
//! found through it.

pub mod compose;
mod js;
mod python;
mod rust;
pub mod sdk;
pub mod tools;
pub mod wit;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::plugin::manifest::{self, Manifest, ManifestError};

pub use rust::ensure_wasm_target;

/// The manifest file a plugin project keeps at its root.
pub const MANIFEST_FILE: &str = "kiln.toml";

pub const WASM_TARGET: &str = "wasm32-wasip2";

/// The language a plugin project is written in, told by the files at its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A crate: `Cargo.toml`.
    Rust,
    /// `pyproject.toml` or `app.py`.
    Python,
    /// `package.json`: JavaScript or TypeScript.
    Js,
}

impl Lang {
    /// The language of the project at `dir`, if it is a plugin project kiln can build.
    pub fn detect(dir: &Path) -> Option<Lang> {
        if dir.join("Cargo.toml").is_file() {
            Some(Lang::Rust)
        } else if dir.join("package.json").is_file() {
            Some(Lang::Js)
        } else if dir.join("pyproject.toml").is_file() || dir.join("app.py").is_file() {
            Some(Lang::Python)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "{} is not a plugin project: kiln builds a directory with a Cargo.toml (Rust), a pyproject.toml or app.py (Python), or a package.json (JavaScript/TypeScript)",
        .0.display()
    )]
    NotAProject(PathBuf),
    #[error(
        "{} has no kiln.toml: a {} plugin needs one, to say its world (`world = \"transformer\"` or `\"auditor\"`) and the Clay interfaces it imports. `kiln new <name> --lang {}` writes one",
        dir.display(), lang.name(), match lang { Lang::Python => "python", _ => "js" }
    )]
    NeedsManifest { dir: PathBuf, lang: Lang },
    #[error("{0}")]
    NoEntry(String),
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
    /// A pinned build tool could not be installed.
    #[error("{0}")]
    Tool(#[from] tools::ToolError),
    /// A build tool ran and failed.
    #[error("{tool} failed to build {plugin}:\n{output}")]
    ToolFailed {
        tool: &'static str,
        plugin: String,
        output: String,
    },
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Compose(#[from] compose::ComposeError),
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
    /// The crate's or the manifest's name.
    pub name: String,
    pub lang: Lang,
    /// The component, with the project's `kiln.toml` embedded when it has one.
    pub wasm: PathBuf,
    /// The embedded manifest; `None` when a Rust crate has no `kiln.toml`.
    pub manifest: Option<Manifest>,
}

/// Builds the plugin project at `dir` (Rust, Python or JavaScript/TypeScript, told by its
/// files) and returns the component's path. The tools' own output goes to this process's
/// stderr, so the user sees progress and errors.
pub fn build_plugin(dir: &Path) -> Result<Built, BuildError> {
    let lang = Lang::detect(dir).ok_or_else(|| BuildError::NotAProject(dir.to_path_buf()))?;
    // Tools run inside the project (so its rust-toolchain.toml applies); relative paths
    // given to them must not be resolved twice.
    let dir = &dir
        .canonicalize()
        .map_err(|_| BuildError::NotAProject(dir.to_path_buf()))?;
    match lang {
        Lang::Rust => rust::build(dir),
        Lang::Python | Lang::Js => {
            // A manifest typo should fail before a long build, not after it.
            let (text, manifest) =
                read_manifest(dir)?.ok_or_else(|| BuildError::NeedsManifest {
                    dir: dir.to_path_buf(),
                    lang,
                })?;
            let out = dir.join("dist").join(format!("{}.wasm", manifest.name));
            let component = match lang {
                Lang::Python => python::build(dir, &manifest)?,
                _ => js::build(dir, &manifest)?,
            };
            write_with_manifest(&component, &text, &out)?;
            Ok(Built {
                name: manifest.name.clone(),
                lang,
                wasm: out,
                manifest: Some(manifest),
            })
        }
    }
}

/// Reads and validates the project's `kiln.toml`, if it has one.
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

/// Writes `component` with `manifest` embedded to `out`, through a temporary file and a
/// rename, so a concurrent build or load never sees half a component.
pub fn write_with_manifest(component: &[u8], manifest: &str, out: &Path) -> Result<(), BuildError> {
    let embedded = manifest::embed(component, manifest).map_err(|source| BuildError::Embed {
        path: out.to_path_buf(),
        source,
    })?;
    let dir = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_at(dir))?;
    std::io::Write::write_all(&mut tmp, &embedded).map_err(io_at(out))?;
    // A temporary file is private (0600); a build output is as readable as cargo's.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_at(out))?;
    }
    tmp.persist(out).map_err(|e| BuildError::Io {
        path: out.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Maps an I/O error to [`BuildError::Io`] at `path`.
fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + use<> {
    let path = path.to_path_buf();
    move |source| BuildError::Io { path, source }
}

/// A temporary directory of this build's own (`prefix` names it), removed when dropped.
fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir, BuildError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(io_at(&std::env::temp_dir()))
}

/// The last `max` bytes of a tool's output, for an error message.
fn tail(output: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// The variables a build sees, besides `HOME`, `CARGO_HOME` and `RUSTUP_HOME` (which
/// [`BuildEnv`] sets itself). Nothing else reaches cargo or rustup: not `CLAY_*` or `KILN_*`
/// (sessions, API keys), not cloud or registry tokens, not `RUSTFLAGS` (a plugin's code
/// generation is kiln's choice), not `XDG_*` (config directories).
pub const PASSED_ENV: &[&str] = &["PATH", "RUSTUP_TOOLCHAIN", "TERM", "LANG"];

/// The environment every cargo and rustup command of a build runs in.
pub(crate) struct BuildEnv {
    /// An empty directory of this process's own, removed after the build.
    home: tempfile::TempDir,
    /// The real toolchain and registry locations: with `HOME` moved, their `~/…` defaults
    /// would point into the empty directory (no toolchain, no registry cache).
    cargo_home: Option<PathBuf>,
    rustup_home: Option<PathBuf>,
}

impl BuildEnv {
    pub(crate) fn new() -> Result<Self, BuildError> {
        let home = scratch_dir("kiln-build-home-")?;
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
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
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

    #[cfg(unix)]
    #[test]
    fn a_built_component_is_readable_by_others_and_carries_its_manifest() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dist/p.wasm");
        // The smallest component: its preamble.
        let empty = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        write_with_manifest(&empty, "name = \"p\"\n", &out).unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..8], &empty);
        assert!(bytes.windows(10).any(|w| w == b"name = \"p\""));
    }
}
