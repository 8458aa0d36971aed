//! The Python and JavaScript guest SDKs and the `kiln new` templates for them, as this
//! binary carries them (embedded by `host/build.rs`): `kiln build` puts the SDKs where the
//! tools find them, and `kiln new` vendors them into a new project, so an installed kiln
//! needs no source tree for either.

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
