//! Turning a `<plugin>` argument into a loaded plugin: a `.wasm` file, a plugin crate
//! directory (built only when the user passes `--build`) or the name of a bundled plugin.
//!
//! Building a crate runs its build scripts and proc macros natively, with the user's rights:
//! that is running untrusted code outside the sandbox. So kiln builds a directory only when
//! asked to, or when it is one of the plugins bundled in this source tree.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kiln_host::build::{Lang, build_plugin, sdk};
use kiln_host::trail::Trail;
use kiln_host::{Plugin, Runtime};
use sha2::{Digest, Sha256};

/// Where the bundled plugins live in this source tree.
pub(crate) fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("plugins")
}

/// The bundled plugins: those this binary carries, and those in its source tree if it is
/// still there.
pub(crate) fn bundled_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(bundled_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| Lang::detect(&e.path()).is_some())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .chain(sdk::BUNDLED.iter().map(|(name, _, _)| name.to_string()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A bundled plugin this binary carries, written out (once per content) with its manifest
/// embedded, so it loads like any component: no source tree and no cargo needed.
fn carried_component(name: &str) -> anyhow::Result<Option<PathBuf>> {
    let Some((_, wasm, manifest)) = sdk::BUNDLED.iter().find(|(n, _, _)| *n == name) else {
        return Ok(None);
    };
    let digest = hex::encode(Sha256::digest(wasm));
    let dir = dirs::data_local_dir()
        .or_else(|| std::env::var_os("KILN_CACHE_DIR").map(PathBuf::from))
        .context("no data directory to write the bundled plugin to (HOME is not set)")?
        .join("kiln")
        .join("bundled");
    // The file's stem is the plugin's name, so the content goes in the directory's name.
    let path = dir
        .join(&digest[..16])
        .join(format!("{}.wasm", name.replace('-', "_")));
    if !path.is_file() {
        kiln_host::build::write_with_manifest(wasm, manifest, &path)?;
    }
    Ok(Some(path))
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
    let dir = if path.is_dir()
        && let Some(lang) = Lang::detect(path)
    {
        if !build && !is_bundled(path) {
            let what = match lang {
                Lang::Rust => {
                    "a plugin crate, and building it runs its build scripts and proc macros"
                }
                Lang::Python | Lang::Js => "a plugin project, and building it runs its build tools",
            };
            bail!(
                "`{spec}` is {what} on this machine as you, outside the sandbox. \
                 Pass --build to build it (kiln builds in a scrubbed environment), or give a built component: `kiln build {spec}` prints the .wasm to use"
            );
        }
        path.to_path_buf()
    } else {
        let bundled = bundled_dir().join(spec);
        let in_tree = Lang::detect(&bundled).is_some();
        // The copy this binary carries, unless --build asks for the source tree's.
        let from_source = build && in_tree;
        if !spec.contains('/')
            && !from_source
            && let Some(path) = carried_component(spec)?
        {
            return Ok(path);
        }
        if !spec.contains('/') && in_tree {
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

#[derive(clap::Args, Debug)]
pub(crate) struct BuildArgs {
    /// The plugin's directory: a Rust crate (Cargo.toml), a Python project (pyproject.toml or
    /// app.py) or a JavaScript/TypeScript one (package.json), with its kiln.toml.
    dir: PathBuf,
    /// Also compile for `--fuel` runs (fuel counting needs code of its own).
    #[arg(long)]
    fuel: bool,
    /// Only build: leave compiling to the first run.
    #[arg(long, conflicts_with = "fuel")]
    no_precompile: bool,
}

pub(crate) async fn build_command(
    ctx: &super::Context,
    args: BuildArgs,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let built = build_plugin(&args.dir)?;
    let size = std::fs::metadata(&built.wasm).map(|m| m.len()).unwrap_or(0);
    println!(
        "built {} ({}) → {} ({}) in {:.1} s",
        built.name,
        built.lang.name(),
        built.wasm.display(),
        super::output::bytes(size),
        started.elapsed().as_secs_f64()
    );
    if args.no_precompile {
        return Ok(ExitCode::SUCCESS);
    }
    // Compiling now puts the code in the cache, so the first run starts at once; loading
    // also checks the component against this kiln (imports, world, manifest) before anyone
    // runs it.
    let mut engines = vec![false];
    if args.fuel {
        engines.push(true);
    }
    for fuel in engines {
        let runtime = ctx.runtime(fuel)?;
        let started = std::time::Instant::now();
        let plugin = runtime
            .load_file(&built.wasm)
            .await
            .with_context(|| format!("{} was built, but kiln refuses it", built.wasm.display()))?;
        let how = match plugin.info().code_source {
            kiln_host::runtime::CodeSource::Cache => "already compiled",
            kiln_host::runtime::CodeSource::Compiled => "compiled",
        };
        println!(
            "{how} for this machine{} in {:.1} s{}",
            if fuel { " (with fuel)" } else { "" },
            started.elapsed().as_secs_f64(),
            runtime
                .cache_dir()
                .map(|d| format!(", cached in {}", d.display()))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum ManifestCommand {
    /// Check a kiln.toml and embed it in a component (built with any tool), replacing any
    /// manifest it carries.
    Embed {
        /// The component.
        wasm: PathBuf,
        /// The manifest.
        manifest: PathBuf,
        /// Where to write the result (default: over the component).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

pub(crate) fn manifest_command(cmd: ManifestCommand) -> anyhow::Result<ExitCode> {
    let ManifestCommand::Embed {
        wasm,
        manifest,
        output,
    } = cmd;
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let parsed =
        kiln_host::plugin::manifest::Manifest::parse(&text, &manifest.display().to_string())?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    kiln_host::plugin::check_is_component(&bytes)?;
    let out = output.unwrap_or_else(|| wasm.clone());
    kiln_host::build::write_with_manifest(&bytes, &text, &out)?;
    println!(
        "embedded {} ({} plugin `{}`) in {}",
        manifest.display(),
        parsed.world,
        parsed.name,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
