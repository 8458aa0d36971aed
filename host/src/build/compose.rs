//! Composing kiln's shims into a built component, so the plugin kiln writes imports only
//! what a plugin needs.
//!
//! componentize-js 0.23 always imports `wasi:filesystem/{types,preopens}` (its engine's libc
//! does, whether or not the script touches a file) and has no switch to drop them. kiln
//! composes `shims/no-filesystem` into the component: the shim exports both interfaces
//! with no directory in them, and the result imports no filesystem at all. The script sees
//! the same empty filesystem kiln's host would give it; an operator reading the plugin's
//! imports sees nothing to grant.

use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// The shim, built with this kiln by `host/build.rs`.
const NO_FILESYSTEM: Option<&[u8]> = super::sdk::NO_FILESYSTEM_SHIM;

/// The WASI version the shim is written against: composition matches an import by its
/// whole name, version included, so it fills a plugin's filesystem imports only at this
/// version (the one the pinned componentize-js imports).
pub const SHIM_WASI_VERSION: &str = "0.2.12";

const FILESYSTEM: &str = "wasi:filesystem/";

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "this kiln was built without its filesystem shim (shims/no-filesystem could not be built for wasm32-wasip2 when kiln was compiled), so it cannot build JavaScript plugins. Run `rustup target add wasm32-wasip2`, then build or install kiln again"
    )]
    NoShim,
    #[error("could not read {what} as a component: {reason}")]
    Read { what: &'static str, reason: String },
    #[error(
        "{plugin} imports {import}, which kiln's filesystem shim does not fill (it is written against WASI {SHIM_WASI_VERSION}): build JavaScript plugins with `kiln build`, which pins the componentize-js that imports that version"
    )]
    Version { plugin: String, import: String },
    #[error("composing {plugin} with kiln's filesystem shim failed: {reason}")]
    Compose { plugin: String, reason: String },
}

/// The `wasi:filesystem` interfaces `component` imports.
pub fn filesystem_imports(component: &[u8]) -> Result<Vec<String>, ComposeError> {
    let mut graph = CompositionGraph::new();
    let package = load(&mut graph, "plugin", "the plugin", component.to_vec())?;
    Ok(filesystem_imports_of(&graph, package))
}

/// `component` with its `wasi:filesystem` imports filled by the shim; returned as it is
/// when it imports no filesystem. `plugin` names it in errors.
pub fn without_filesystem(component: Vec<u8>, plugin: &str) -> Result<Vec<u8>, ComposeError> {
    let mut graph = CompositionGraph::new();
    let socket = load(&mut graph, "plugin", "the plugin", component.clone())?;
    let wanted = filesystem_imports_of(&graph, socket);
    if wanted.is_empty() {
        return Ok(component);
    }
    if let Some(other) = wanted
        .iter()
        .find(|name| !name.ends_with(&format!("@{SHIM_WASI_VERSION}")))
    {
        return Err(ComposeError::Version {
            plugin: plugin.to_string(),
            import: other.clone(),
        });
    }
    let shim = NO_FILESYSTEM.ok_or(ComposeError::NoShim)?;
    let plug = load(
        &mut graph,
        "kiln:no-filesystem",
        "kiln's filesystem shim",
        shim.to_vec(),
    )?;
    let failed = |reason: String| ComposeError::Compose {
        plugin: plugin.to_string(),
        reason,
    };
    wac_graph::plug(&mut graph, vec![plug], socket).map_err(|e| failed(chain(&e)))?;
    let composed = graph
        .encode(EncodeOptions::default())
        .map_err(|e| failed(chain(&e)))?;

    // `plug` skips an export whose type does not fit the import; a plugin that still
    // imports the filesystem would be the very thing this exists to prevent.
    let left = filesystem_imports(&composed)?;
    if !left.is_empty() {
        return Err(failed(format!("the shim does not fit {}", left.join(", "))));
    }
    Ok(composed)
}

fn load(
    graph: &mut CompositionGraph,
    name: &str,
    what: &'static str,
    bytes: Vec<u8>,
) -> Result<wac_graph::PackageId, ComposeError> {
    let read = |e: &dyn std::error::Error| ComposeError::Read {
        what,
        reason: chain(e),
    };
    let package = Package::from_bytes(name, None, bytes, graph.types_mut()).map_err(|e| {
        let e: &dyn std::error::Error = e.as_ref();
        read(e)
    })?;
    graph.register_package(package).map_err(|e| read(&e))
}

fn filesystem_imports_of(graph: &CompositionGraph, package: wac_graph::PackageId) -> Vec<String> {
    graph.types()[graph[package].ty()]
        .imports
        .keys()
        .filter(|name| name.starts_with(FILESYSTEM))
        .cloned()
        .collect()
}

/// An error with its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shim as built: it exports the two interfaces at the pinned version and imports
    /// nothing a plugin could not already have (the stream and clock types it mentions).
    #[test]
    fn the_shim_exports_the_filesystem_and_imports_only_types_it_names() {
        let Some(shim) = NO_FILESYSTEM else {
            panic!("host/build.rs did not build shims/no-filesystem");
        };
        let mut graph = CompositionGraph::new();
        let package = load(&mut graph, "shim", "shim", shim.to_vec()).unwrap();
        let world = &graph.types()[graph[package].ty()];
        let mut exports: Vec<&String> = world.exports.keys().collect();
        exports.sort();
        assert_eq!(
            exports,
            [
                &format!("wasi:filesystem/preopens@{SHIM_WASI_VERSION}"),
                &format!("wasi:filesystem/types@{SHIM_WASI_VERSION}")
            ]
        );
        for import in world.imports.keys() {
            assert!(
                import.starts_with("wasi:io/") || import.starts_with("wasi:clocks/wall-clock@"),
                "{import}"
            );
        }
    }

    #[test]
    fn a_component_without_filesystem_imports_is_returned_as_it_is() {
        let component = wat::parse_str(
            r#"(component (import "wasi:random/random@0.2.12" (instance (export "get-random-u64" (func (result u64))))))"#,
        )
        .unwrap();
        assert_eq!(
            without_filesystem(component.clone(), "p").unwrap(),
            component
        );
    }

    #[test]
    fn a_filesystem_import_of_another_version_is_refused_by_name() {
        let component =
            wat::parse_str(r#"(component (import "wasi:filesystem/preopens@0.2.3" (instance)))"#)
                .unwrap();
        let error = without_filesystem(component, "p").unwrap_err().to_string();
        assert!(error.contains("wasi:filesystem/preopens@0.2.3"), "{error}");
        assert!(error.contains(SHIM_WASI_VERSION), "{error}");
    }

    #[test]
    fn a_core_module_is_refused_as_not_a_component() {
        let module = wat::parse_str("(module)").unwrap();
        let error = without_filesystem(module, "p").unwrap_err();
        assert!(matches!(error, ComposeError::Read { .. }), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("could not read the plugin as a component: "),
            "{error}"
        );
    }
}
