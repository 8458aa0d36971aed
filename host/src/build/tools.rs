//! The pinned tools that build Python and JavaScript plugins, installed on demand into a
//! tools directory of kiln's own (`$KILN_TOOLS_DIR`, else `~/.local/share/kiln/tools`), one
//! directory per tool and version, so an upgrade of kiln never runs a tool it was not
//! tested with and never disturbs the user's own Python or Node packages.
//!
//! Installing runs pip or npm with the user's environment (their registry settings live
//! there), less every `CLAY_*` and `KILN_*` variable: the packages are fixed, not the
//! plugin's, but a session token has no business in an installer either.

use std::path::{Path, PathBuf};
use std::process::Command;

/// componentize-py, from PyPI.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// componentize-js, from npm.
pub const COMPONENTIZE_JS: &str = "0.23.0";
/// `@bytecodealliance/preview2-shim`, from npm: componentize-js 0.23.0 imports it at start
/// but declares it only as a development dependency, so npm does not install it with it.
pub const PREVIEW2_SHIM: &str = "0.17.9";
/// esbuild, from npm: bundles a JavaScript or TypeScript plugin and its SDK into the one
/// module componentize-js takes.
pub const ESBUILD: &str = "0.28.2";

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "kiln needs {tool} to build {lang} plugins and could not install it into {}: {why}\nInstall it by hand with `{by_hand}`, or point KILN_TOOLS_DIR at a directory where it is installed",
        dir.display()
    )]
    Install {
        tool: String,
        lang: &'static str,
        dir: PathBuf,
        why: String,
        by_hand: String,
    },
    #[error("kiln has no tools directory: set KILN_TOOLS_DIR (HOME is not set)")]
    NoDir,
}

/// Where kiln keeps its build tools.
pub fn tools_dir() -> Result<PathBuf, ToolError> {
    if let Some(dir) = std::env::var_os("KILN_TOOLS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_local_dir()
        .map(|d| d.join("kiln").join("tools"))
        .ok_or(ToolError::NoDir)
}

/// componentize-py, installed: run it as `python3 <script>` with `PYTHONPATH=<site>`.
pub struct ComponentizePy {
    pub site: PathBuf,
}

impl ComponentizePy {
    /// A command that runs componentize-py.
    pub(crate) fn command(&self, env: &super::BuildEnv) -> Command {
        let mut cmd = env.command(python());
        cmd.env("PYTHONPATH", &self.site)
            .args(["-c", "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())"]);
        cmd
    }
}

/// componentize-js and esbuild, installed in one npm prefix.
pub struct ComponentizeJs {
    pub prefix: PathBuf,
}

impl ComponentizeJs {
    pub fn esbuild(&self) -> PathBuf {
        self.prefix
            .join("node_modules")
            .join(".bin")
            .join("esbuild")
    }

    pub fn componentize_js(&self) -> PathBuf {
        self.prefix
            .join("node_modules")
            .join(".bin")
            .join("componentize-js")
    }
}

fn python() -> String {
    std::env::var("KILN_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// componentize-py at [`COMPONENTIZE_PY`], installed into the tools directory if missing.
pub fn componentize_py() -> Result<ComponentizePy, ToolError> {
    let dir = tools_dir()?.join(format!("componentize-py-{COMPONENTIZE_PY}"));
    let site = dir.join("site");
    if site.join("componentize_py").is_dir() {
        return Ok(ComponentizePy { site });
    }
    let spec = format!("componentize-py=={COMPONENTIZE_PY}");
    let by_hand = format!(
        "{} -m pip install --target {} {spec}",
        python(),
        site.display()
    );
    let fail = |why: String| ToolError::Install {
        tool: format!("componentize-py {COMPONENTIZE_PY}"),
        lang: "Python",
        dir: dir.clone(),
        why,
        by_hand: by_hand.clone(),
    };
    eprintln!(
        "kiln: installing componentize-py {COMPONENTIZE_PY} into {} (once)…",
        dir.display()
    );
    install_into(&dir, "site", |staging| {
        let mut cmd = installer(python());
        cmd.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
        ])
        .arg(staging)
        .arg(&spec);
        cmd
    })
    .map_err(fail)?;
    Ok(ComponentizePy { site })
}

/// componentize-js at [`COMPONENTIZE_JS`] and esbuild at [`ESBUILD`], installed into the
/// tools directory if missing.
pub fn componentize_js() -> Result<ComponentizeJs, ToolError> {
    let dir = tools_dir()?.join(format!(
        "componentize-js-{COMPONENTIZE_JS}-shim-{PREVIEW2_SHIM}-esbuild-{ESBUILD}"
    ));
    let prefix = dir.join("prefix");
    let tools = ComponentizeJs {
        prefix: prefix.clone(),
    };
    if tools.esbuild().is_file() && tools.componentize_js().is_file() {
        return Ok(tools);
    }
    let specs = [
        format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"),
        format!("@bytecodealliance/preview2-shim@{PREVIEW2_SHIM}"),
        format!("esbuild@{ESBUILD}"),
    ];
    let by_hand = format!(
        "npm install --prefix {} {}",
        prefix.display(),
        specs.join(" ")
    );
    let fail = |why: String| ToolError::Install {
        tool: format!("componentize-js {COMPONENTIZE_JS} and esbuild {ESBUILD}"),
        lang: "JavaScript",
        dir: dir.clone(),
        why,
        by_hand: by_hand.clone(),
    };
    eprintln!(
        "kiln: installing componentize-js {COMPONENTIZE_JS} and esbuild {ESBUILD} into {} (once)…",
        dir.display()
    );
    install_into(&dir, "prefix", |staging| {
        // A package.json of its own, so npm installs here rather than in a parent project.
        let _ = std::fs::write(staging.join("package.json"), "{\"private\": true}\n");
        let mut cmd = installer("npm");
        cmd.args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(staging)
        .args(&specs);
        cmd
    })
    .map_err(fail)?;
    Ok(tools)
}

/// Runs an installer into a staging directory beside `dir/<name>`, then renames it into
/// place: a build that starts while another is installing either waits for nothing or finds
/// a whole installation, never half of one.
fn install_into(
    dir: &Path,
    name: &str,
    installer: impl FnOnce(&Path) -> Command,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(dir)
        .map_err(|e| e.to_string())?;
    let mut cmd = installer(staging.path());
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "`{}` is not installed or not on PATH",
            cmd.get_program().to_string_lossy()
        ),
        _ => e.to_string(),
    })?;
    if !out.status.success() {
        let mut why = super::tail(&out.stderr, 2000);
        if why.is_empty() {
            why = super::tail(&out.stdout, 2000);
        }
        return Err(format!("the installer exited with {}: {why}", out.status));
    }
    let target = dir.join(name);
    match std::fs::rename(staging.path(), &target) {
        Ok(()) => {
            // Renamed away: nothing left for the TempDir to remove.
            let _ = staging.keep();
            Ok(())
        }
        // Another build installed it first; ours is dropped.
        Err(_) if target.exists() => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// An installer command: the user's environment without kiln's or Clay's variables.
fn installer(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CLAY_") || key.starts_with("KILN_") {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}
