//! The on-disk cache of compiled components, so a plugin is compiled once per machine.
//!
//! Entries are keyed by the wasm's SHA-256 and the engine's compatibility hash (wasmtime
//! version, target and every setting that affects code generation): a stale entry is never
//! found, rather than found and rejected.
//!
//! The cache holds native code the host maps and runs, so it is only trusted when nobody
//! else can write to it: a directory (or entry) owned by another user, or writable by the
//! group or the world, is refused with [`LoadError::UnsafeCache`] rather than loaded.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::plugin::LoadError;

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

    /// The cached compilation of this wasm, if there is a usable one. A cache directory
    /// or entry that another user could have written is an error, not a miss: silently
    /// recompiling would hide that someone can plant native code for this user.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        wasm_sha256: &str,
    ) -> Result<Option<Component>, LoadError> {
        if !self.dir.exists() {
            return Ok(None);
        }
        check_private(&self.dir)?;
        let path = self.entry(wasm_sha256);
        if !path.is_file() {
            return Ok(None);
        }
        check_private(&path)?;
        // Read, not mmap: a file truncated under a live mapping would kill the process
        // with SIGBUS, and the host must survive whatever happens to its cache directory.
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        // SAFETY: the bytes come from kiln's own cache directory, which only this user can
        // write (checked above), written by `store` from `Component::serialize`;
        // deserialize also checks the header and the engine's compatibility, and rejects
        // artifacts from another configuration.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Ok(Some(component)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable compiled-code cache entry: {e}");
                Ok(None)
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
        create_private_dir(&self.dir).map_err(|e| e.to_string())?;
        // Writing into a directory others control would hand them the next load.
        check_private(&self.dir).map_err(|e| e.to_string())?;
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

/// Creates `dir` (and missing parents) readable and writable by this user only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Refuses `path` unless this user owns it and neither its group nor others may write it.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), LoadError> {
    use std::os::unix::fs::MetadataExt;
    let refuse = |why: String| LoadError::UnsafeCache {
        dir: path.to_path_buf(),
        why,
    };
    // `store` writes entries by rename, so an entry that is a link was planted; the
    // directory itself may be a link (to a private directory: it is the target checked).
    let link = std::fs::symlink_metadata(path)
        .map_err(|e| refuse(format!("its permissions cannot be read ({e})")))?;
    if link.file_type().is_symlink() && !path.is_dir() {
        return Err(refuse("it is a symbolic link".into()));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| refuse(format!("its permissions cannot be read ({e})")))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(refuse(format!(
            "it is writable by every user (mode {mode:o})"
        )));
    }
    if mode & 0o020 != 0 {
        return Err(refuse(format!(
            "it is writable by its group (mode {mode:o})"
        )));
    }
    let me = effective_uid()
        .map_err(|e| refuse(format!("cannot tell who this process runs as ({e})")))?;
    if meta.uid() != me {
        return Err(refuse(format!(
            "it is owned by user id {}, not by this user (id {me})",
            meta.uid()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), LoadError> {
    Ok(())
}

/// The uid files this process creates get: the owner of a fresh temporary file. (std has
/// no `geteuid`, and this avoids a libc dependency for one call.)
#[cfg(unix)]
fn effective_uid() -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    static UID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    if let Some(uid) = UID.get() {
        return Ok(*uid);
    }
    let uid = tempfile::tempfile()?.metadata()?.uid();
    Ok(*UID.get_or_init(|| uid))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn only_a_private_directory_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("compiled");
        create_private_dir(&cache).unwrap();
        check_private(&cache).unwrap();
        for (mode, word) in [(0o777, "every user"), (0o770, "group")] {
            std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = check_private(&cache).unwrap_err().to_string();
            assert!(err.contains(word), "{err}");
            assert!(err.contains(&cache.display().to_string()), "{err}");
        }
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_private(&cache).unwrap();
        let entry = cache.join("x.cwasm");
        std::fs::write(dir.path().join("elsewhere"), b"").unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &entry).unwrap();
        let err = check_private(&entry).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
