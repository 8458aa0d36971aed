//! The on-disk cache of compiled components, so a plugin is compiled once per machine.
//!
//! Entries are keyed by the wasm's SHA-256 and the engine's compatibility hash (wasmtime
//! version, target and every setting that affects code generation): a stale entry is never
//! found, rather than found and rejected.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn entry(&self, wasm_sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_sha256}-{}.cwasm", self.engine_key))
    }

    /// The cached compilation of this wasm, if there is a usable one.
    pub(crate) fn load(&self, engine: &Engine, wasm_sha256: &str) -> Option<Component> {
        let path = self.entry(wasm_sha256);
        if !path.is_file() {
            return None;
        }
        // Read, not mmap: a file truncated under a live mapping would kill the process
        // with SIGBUS, and the host must survive whatever happens to its cache directory.
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: the bytes come from kiln's own cache directory, written by `store` from
        // `Component::serialize`; deserialize also checks the header and the engine's
        // compatibility, and rejects artifacts from another configuration.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable compiled-code cache entry: {e}");
                None
            }
        }
    }

    /// Stores a compilation; a failure only costs a recompile next time, so it is logged.
    pub(crate) fn store(&self, wasm_sha256: &str, component: &Component) {
        if let Err(e) = self.try_store(wasm_sha256, component) {
            tracing::warn!(dir = %self.dir.display(), "could not write compiled-code cache: {e}");
        }
    }

    fn try_store(&self, wasm_sha256: &str, component: &Component) -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        // Write then rename, so a concurrent reader never sees half a file.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| e.to_string())?;
        tmp.write_all(&bytes).map_err(|e| e.to_string())?;
        tmp.persist(self.entry(wasm_sha256))
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}
