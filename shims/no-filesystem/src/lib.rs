//! `wasi:filesystem` with no directories in it.
//!
//! componentize-js's engine (StarlingMonkey, through wasi-libc) imports
//! `wasi:filesystem/{types,preopens}` whether or not the script touches a file, and
//! componentize-js 0.23 has no switch to drop them. `kiln build` composes this component
//! into every JavaScript plugin so the plugin it writes imports no filesystem at all: the
//! script sees the same empty filesystem kiln's host gives any component, and an operator
//! reading the plugin's imports sees no filesystem to grant.
//!
//! `get-directories` returns nothing, and nothing else here can hand out a descriptor, so no
//! descriptor or directory stream ever exists: both resources are an uninhabited `enum Never {}`,
//! and the compiler checks that no method on them can run.
//!
//! The WIT in `wit/deps` is WASI 0.2.12, the exact version componentize-js 0.23.0 imports:
//! composition matches imports by name, version included.
//!
//! Everything is built for wasm32 only: a native build of this crate (as `cargo test
//! --workspace` does) is empty, since a native shared library cannot carry exports named
//! `wasi:filesystem/...`.

#![cfg_attr(target_arch = "wasm32", no_std)]

#[cfg(target_arch = "wasm32")]
mod shim;
