//! A loaded plugin: a validated component of a known world, its manifest and the grants the
//! operator's policy leaves it, pre-linked against the host so each invocation only
//! instantiates.

pub mod manifest;
pub mod policy;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::capabilities::bindings::{auditor::AuditorPre, transformer::TransformerPre};
use crate::capabilities::{Grants, Interface};
use crate::store::{Limits, State};
use manifest::{Manifest, ManifestError, SectionError};
use policy::{Effective, Policy, Refusal};

/// How a plugin's code was obtained by [`Runtime::load_bytes`](crate::Runtime::load_bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled now (and written to the cache if there is one).
    Compiled,
    /// Loaded from the on-disk cache: no compilation happened.
    Cache,
}

/// The world a plugin component was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum World {
    Transformer,
    Auditor,
}

impl World {
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Transformer => "clay:api/transformer",
            World::Auditor => "clay:api/auditor",
        }
    }

    /// The `clay:api` interfaces the world imports (`types` carries no functions).
    pub fn interfaces(self) -> &'static [&'static str] {
        match self {
            World::Transformer => &["types", "tables", "log", "config"],
            World::Auditor => &[
                "types",
                "workspaces",
                "folders",
                "resources",
                "workbooks",
                "tables",
                "credits",
                "log",
                "config",
            ],
        }
    }

    fn export(self) -> &'static str {
        match self {
            World::Transformer => "transform",
            World::Auditor => "audit",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wit_name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not read plugin {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the plugin file is empty: expected a WebAssembly component (a `.wasm` built for wasm32-wasip2)"
    )]
    Empty,
    #[error(
        "this is not WebAssembly (it starts with {found}): expected a WebAssembly component built for wasm32-wasip2, e.g. with `kiln build <plugin dir>`"
    )]
    NotWasm { found: String },
    #[error(
        "this is a core WebAssembly module, not a component: kiln runs components of world clay:api/transformer or clay:api/auditor. Build the plugin for --target wasm32-wasip2 (`kiln build <plugin dir>` does) or wrap the module with `wasm-tools component new`"
    )]
    CoreModule,
    #[error("this WebAssembly binary has an unknown version/layer ({0}); expected a component")]
    UnknownEncoding(String),
    #[error("the component could not be compiled: {0}")]
    Compile(String),
    /// The component is over one of the runtime's [`validate::LoadCaps`].
    #[error("{0}")]
    OverCap(#[from] validate::CapExceeded),
    /// Compiling took longer than [`RuntimeConfig::compile_timeout`](crate::RuntimeConfig::compile_timeout).
    #[error(
        "compiling the component took longer than the compile timeout ({}); it is refused",
        humantime::format_duration(*.0)
    )]
    CompileTimeout(std::time::Duration),
    #[error(
        "this component is not a kiln plugin: it exports {exports}, but a plugin exports `transform` (world clay:api/transformer) or `audit` (world clay:api/auditor)"
    )]
    NotAPlugin { exports: String },
    #[error(
        "this plugin was built for {found} (it imports `{import}`), but this kiln implements clay:api {}: rebuild it against this kiln's SDK (kiln-guest) with `kiln build <plugin dir>`",
        CLAY_API_VERSION
    )]
    ContractVersion { found: String, import: String },
    #[error("this component does not match world {world}: {detail}")]
    WorldMismatch { world: World, detail: String },
    /// A WASI interface the sandbox does not offer (`wasi:http`, say).
    #[error(
        "the component imports `{import}`, which kiln does not provide: a plugin gets Clay's interfaces and WASI 0.2's cli, io, clocks and random, but no network of its own{}",
        hint_for_wasi(import)
    )]
    MissingWasi { import: String },
    #[error(
        "the component imports `{import}`, which kiln does not provide (it provides clay:api/* and WASI 0.2)"
    )]
    UnknownImport { import: String },
    #[error(
        "the component is a {world} plugin (it exports `{export}`), but it imports `{import}`, which that world does not provide; it may import only {allowed}"
    )]
    OutsideWorld {
        world: World,
        export: &'static str,
        import: String,
        allowed: String,
    },
    #[error("the plugin's manifest (kiln.toml) is invalid: {0}")]
    Manifest(#[from] ManifestError),
    #[error("the plugin's embedded manifest cannot be read: {0}")]
    ManifestSection(#[from] SectionError),
    #[error(
        "the manifest says world `{manifest}`, but the component is a {component} plugin; fix `world` in kiln.toml"
    )]
    ManifestWorld { manifest: World, component: World },
    #[error(
        "the operator's policy requires a manifest, and this component carries none: add a kiln.toml to the plugin crate and build it with `kiln build`"
    )]
    NoManifest,
    #[error(
        "refusing the compiled-code cache at {}: {why}. kiln loads native code from it, so no other user may be able to write there; make it yours and private (`chmod 700 {}`) or point --cache-dir / KILN_CACHE_DIR at a private directory",
        dir.display(),
        dir.display()
    )]
    UnsafeCache { dir: PathBuf, why: String },
    #[error("plugin `{plugin}` imports {interface}, but {why}; it is refused")]
    NotGranted {
        plugin: String,
        interface: Interface,
        why: String,
    },
}

/// What to do about a WASI import kiln does not provide, by the tool that usually adds it.
fn hint_for_wasi(import: &str) -> &'static str {
    if import.starts_with("wasi:http/") {
        ". componentize-js adds wasi:http unless its `http` and `fetch-event` features are disabled: build the plugin with `kiln build`, which disables them, or pass `-d http -d fetch-event` to componentize-js"
    } else {
        ". Build the plugin with `kiln build`, which targets only what kiln provides"
    }
}

/// The WASI packages kiln's linker provides (wasmtime-wasi's WASI 0.2). Filesystem and
/// sockets are linked but hold nothing: no directory is preopened and no network allowed.
const PROVIDED_WASI: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// The import a failed pre-instantiation names, from wasmtime's "component imports
/// instance `X`, but a matching implementation was not found" (the first in the chain).
fn unlinked_import(error: &wasmtime::Error) -> Option<String> {
    error.chain().find_map(|cause| {
        let text = cause.to_string();
        let rest = text.strip_prefix("component imports ")?;
        if !text.contains("a matching implementation was not found") {
            return None;
        }
        let start = rest.find('`')? + 1;
        let len = rest[start..].find('`')?;
        Some(rest[start..start + len].to_string())
    })
}

/// A plugin ready to be invoked. Cheap to clone; share it across tasks.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    info: PluginInfo,
    effective: Effective,
    pre: Pre,
    invoke: InvokeDefaults,
}

/// The component's identity, as the runtime read and compiled it.
pub(crate) struct Artifact {
    pub(crate) name: String,
    pub(crate) sha256: String,
    pub(crate) size_bytes: usize,
    pub(crate) code_source: CodeSource,
}

/// What the runtime hands every invocation of a plugin.
#[derive(Clone)]
pub(crate) struct InvokeDefaults {
    /// Admission to the instance pool.
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) limits: Limits,
    /// Whether the engine counts fuel.
    pub(crate) fuel: bool,
    /// The most memory the engine's pool gives any instance: no policy can raise a plugin
    /// past it, so its effective limit says so.
    pub(crate) max_memory_bytes: u64,
}

enum Pre {
    Transformer(TransformerPre<State>),
    Auditor(AuditorPre<State>),
}

/// What `kiln inspect` shows about a plugin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub world: World,
    /// SHA-256 of the component bytes, hex.
    pub sha256: String,
    pub size_bytes: usize,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The manifest the component carries, or the one implied by its world when it has none.
    pub manifest: Manifest,
    /// Whether the manifest was embedded in the component (else implied).
    pub manifest_embedded: bool,
    /// What the plugin may do: its requests capped by the operator's policy.
    pub grants: Grants,
    #[serde(skip)]
    pub code_source: CodeSource,
}

/// The version of the `clay:api` contract this kiln implements (`wit/`).
pub const CLAY_API_VERSION: &str = "0.2.0";

/// Refuses a component built for another version of the contract before wasmtime's type
/// check would, with a message that names both versions and what to do.
fn check_contract_version(imports: &[String]) -> Result<(), LoadError> {
    for import in imports {
        let Some(rest) = import.strip_prefix("clay:api/") else {
            continue;
        };
        let version = rest.split_once('@').map_or("", |(_, v)| v);
        if version != CLAY_API_VERSION {
            return Err(LoadError::ContractVersion {
                found: if version.is_empty() {
                    "an unversioned clay:api".to_string()
                } else {
                    format!("clay:api {version}")
                },
                import: import.clone(),
            });
        }
    }
    Ok(())
}

/// Refuses a `clay:api` import that the component's world (chosen by its export) does not
/// have: the host links every interface for every world, so only this keeps a transformer
/// from reaching folders or workbooks.
fn check_world_imports(world: World, imports: &[String]) -> Result<(), LoadError> {
    let allowed = world.interfaces();
    for import in imports {
        let Some(rest) = import.strip_prefix("clay:api/") else {
            continue;
        };
        let name = rest.split('@').next().unwrap_or(rest);
        if !allowed.contains(&name) {
            return Err(LoadError::OutsideWorld {
                world,
                export: world.export(),
                import: import.clone(),
                allowed: allowed
                    .iter()
                    .map(|i| format!("clay:api/{i}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

/// Refuses, with a precise reason, anything that is not a component before compiling it.
pub fn check_is_component(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        let shown: String = bytes
            .iter()
            .take(8)
            .map(|b| {
                if b.is_ascii_graphic() {
                    (*b as char).to_string()
                } else {
                    format!("\\x{b:02x}")
                }
            })
            .collect();
        return Err(LoadError::NotWasm {
            found: format!("\"{shown}\""),
        });
    }
    // After the magic: a u16 version and a u16 layer; layer 0 is a core module, 1 a component.
    match (&bytes[4..6], &bytes[6..8]) {
        (_, [0, 0]) => Err(LoadError::CoreModule),
        (_, [1, 0]) => Ok(()),
        (version, layer) => Err(LoadError::UnknownEncoding(format!(
            "version {:?}, layer {:?}",
            version, layer
        ))),
    }
}

impl Plugin {
    pub(crate) fn link(
        artifact: Artifact,
        manifest: Option<Manifest>,
        policy: &Policy,
        engine: &Engine,
        linker: &Linker<State>,
        component: &Component,
        invoke: InvokeDefaults,
    ) -> Result<Self, LoadError> {
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
        let export_names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();

        let world = [World::Transformer, World::Auditor]
            .into_iter()
            .find(|w| export_names.iter().any(|e| e == w.export()))
            .ok_or_else(|| LoadError::NotAPlugin {
                exports: if export_names.is_empty() {
                    "nothing".to_string()
                } else {
                    export_names
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })?;

        for import in &imports {
            if import.starts_with("wasi:") {
                if !PROVIDED_WASI.iter().any(|p| import.starts_with(p)) {
                    return Err(LoadError::MissingWasi {
                        import: import.clone(),
                    });
                }
                continue;
            }
            if !import.starts_with("clay:api/") {
                return Err(LoadError::UnknownImport {
                    import: import.clone(),
                });
            }
        }

        check_contract_version(&imports)?;
        check_world_imports(world, &imports)?;

        let manifest_embedded = manifest.is_some();
        if !manifest_embedded && policy.require_manifest {
            return Err(LoadError::NoManifest);
        }
        let manifest = manifest.unwrap_or_else(|| Manifest::implied(&artifact.name, world));
        if manifest.world != world {
            return Err(LoadError::ManifestWorld {
                manifest: manifest.world,
                component: world,
            });
        }
        let mut effective = policy.effective(&manifest, &invoke.limits);
        effective.limits.memory_bytes = effective.limits.memory_bytes.min(invoke.max_memory_bytes);
        // Refuse at load what would only fail later: every clay:api interface the
        // component imports must be granted.
        for interface in imports.iter().filter_map(|i| Interface::from_import(i)) {
            if effective.grants.get(interface).is_some() {
                continue;
            }
            let why = match effective.refused.get(&interface) {
                Some(Refusal::Policy) => format!(
                    "the operator's policy does not grant {interface} (allow it with `--grant {}:read` or in the policy file)",
                    interface.name()
                ),
                _ => format!(
                    "its manifest does not request it (add `{} = \"read\"` under [capabilities] in kiln.toml)",
                    interface.name()
                ),
            };
            return Err(LoadError::NotGranted {
                plugin: manifest.name.clone(),
                interface,
                why,
            });
        }

        let instance_pre = linker.instantiate_pre(component).map_err(|e| {
            // An interface of a provided package that kiln's linker lacks (a newer WASI
            // interface, say) is named as a missing import, not a world mismatch.
            match unlinked_import(&e) {
                Some(import) if import.starts_with("wasi:") => LoadError::MissingWasi { import },
                _ => LoadError::WorldMismatch {
                    world,
                    detail: format!("{e:#}"),
                },
            }
        })?;
        let mismatch = |e: wasmtime::Error| LoadError::WorldMismatch {
            world,
            detail: format!("{e:#}"),
        };
        let pre = match world {
            World::Transformer => {
                Pre::Transformer(TransformerPre::new(instance_pre).map_err(mismatch)?)
            }
            World::Auditor => Pre::Auditor(AuditorPre::new(instance_pre).map_err(mismatch)?),
        };
        Ok(Self {
            inner: Arc::new(PluginInner {
                info: PluginInfo {
                    name: manifest.name.clone(),
                    world,
                    sha256: artifact.sha256,
                    size_bytes: artifact.size_bytes,
                    imports,
                    exports: export_names,
                    grants: effective.grants.clone(),
                    manifest,
                    manifest_embedded,
                    code_source: artifact.code_source,
                },
                effective,
                pre,
                invoke,
            }),
        })
    }

    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    pub fn name(&self) -> &str {
        &self.inner.info.name
    }

    pub fn world(&self) -> World {
        self.inner.info.world
    }

    pub fn manifest(&self) -> &Manifest {
        &self.inner.info.manifest
    }

    /// What the plugin may do: its manifest's requests capped by the operator's policy.
    pub fn grants(&self) -> &Grants {
        &self.inner.effective.grants
    }

    /// The limits its invocations get unless the caller overrides them.
    pub fn limits(&self) -> &Limits {
        &self.inner.effective.limits
    }

    /// Credits one run may spend.
    pub fn credits_per_run(&self) -> f64 {
        self.inner.effective.credits_per_run
    }

    /// The plugin's settings: the manifest's defaults overlaid with `given`. A key the
    /// manifest does not declare is refused (a typo would otherwise be silently ignored),
    /// unless the plugin carries no manifest.
    pub fn settings(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SettingsError> {
        let manifest = self.manifest();
        let mut out: BTreeMap<String, String> = manifest
            .config
            .iter()
            .filter_map(|(k, v)| v.default.clone().map(|d| (k.clone(), d)))
            .collect();
        for (key, value) in given {
            if self.inner.info.manifest_embedded && !manifest.config.contains_key(key) {
                return Err(SettingsError {
                    plugin: manifest.name.clone(),
                    key: key.clone(),
                    known: manifest.config.keys().cloned().collect(),
                });
            }
            out.insert(key.clone(), value.clone());
        }
        Ok(out)
    }

    /// Whether this load compiled the code or took it from the on-disk cache.
    pub fn code_source(&self) -> CodeSource {
        self.inner.info.code_source
    }

    /// Waits for a slot in the runtime's instance pool (back-pressure, not failure, when
    /// the pool is full).
    /// Pool slots free right now (a run asks for no more instances than this at once, so it
    /// never waits on itself).
    pub(crate) fn pool_free(&self) -> usize {
        self.inner.invoke.permits.available_permits()
    }

    pub(crate) async fn pool_slot(&self) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.inner.invoke.permits.clone().acquire_owned().await
    }

    /// The engine the plugin was compiled for; its stores must be of the same engine.
    pub(crate) fn engine(&self) -> &Engine {
        match &self.inner.pre {
            Pre::Transformer(p) => p.engine(),
            Pre::Auditor(p) => p.engine(),
        }
    }

    /// Whether the engine counts fuel, so a fuel limit can be set per call.
    pub(crate) fn counts_fuel(&self) -> bool {
        self.inner.invoke.fuel
    }

    /// The pre-linked transformer, if the plugin is one.
    pub(crate) fn transformer_pre(&self) -> Option<&TransformerPre<State>> {
        match &self.inner.pre {
            Pre::Transformer(p) => Some(p),
            Pre::Auditor(_) => None,
        }
    }

    /// The pre-linked auditor, if the plugin is one.
    pub(crate) fn auditor_pre(&self) -> Option<&AuditorPre<State>> {
        match &self.inner.pre {
            Pre::Auditor(p) => Some(p),
            Pre::Transformer(_) => None,
        }
    }
}

/// A setting the plugin does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin `{plugin}` has no setting `{key}`; its settings are: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
pub struct SettingsError {
    pub plugin: String,
    pub key: String,
    pub known: Vec<String>,
}
