//! The on-disk cache of compiled components, so a plugin is compiled once per machine.
//!
//! Entries are keyed by the wasm's SHA-256 and the engine's compatibility hash (wasmtime
//! version, target and every setting that affects code generation): a stale entry is never
//! found, rather than found and rejected.
//!
//! The cache is bounded: loading an entry marks it used (its modification time), and every
//! store prunes the least recently used entries past [`DEFAULT_MAX_BYTES`] (or the
//! configured cap). A Python or JavaScript component compiles to 35–45 MB, so without a cap
//! a few rebuilds a day would fill a disk.
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

/// The cache's size cap when none is configured.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    max_bytes: u64,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine, max_bytes: u64) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            max_bytes,
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
            Ok(component) => {
                mark_used(&path);
                Ok(Some(component))
            }
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
        if let Err(e) = prune(&self.dir, self.max_bytes) {
            tracing::warn!(dir = %self.dir.display(), "could not prune the compiled-code cache: {e}");
        }
        Ok(())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One compiled component in the cache.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheEntry {
    pub path: PathBuf,
    /// SHA-256 of the component's code (its bytes without kiln's manifest section).
    pub code_sha256: String,
    /// Which engine configuration compiled it (wasmtime version, target, fuel…).
    pub engine: String,
    pub bytes: u64,
    /// When a load last used it (or it was written).
    #[serde(with = "humantime_serde_compat")]
    pub last_used: std::time::SystemTime,
}

mod humantime_serde_compat {
    pub fn serialize<S: serde::Serializer>(
        t: &std::time::SystemTime,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string())
    }
}

/// The entries of the cache at `dir`, most recently used first.
pub fn list(dir: &Path) -> std::io::Result<Vec<CacheEntry>> {
    let mut entries = Vec::new();
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
        Err(e) => return Err(e),
    };
    for entry in read.flatten() {
        let path = entry.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".cwasm"))
        else {
            continue;
        };
        let Some((code, engine)) = stem.split_once('-') else {
            continue;
        };
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        entries.push(CacheEntry {
            code_sha256: code.to_string(),
            engine: engine.to_string(),
            bytes: meta.len(),
            last_used: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            path,
        });
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.last_used));
    Ok(entries)
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Pruned {
    pub removed: usize,
    pub freed_bytes: u64,
    pub kept: usize,
    pub kept_bytes: u64,
}

/// Removes least recently used entries until the cache holds at most `max_bytes`.
pub fn prune(dir: &Path, max_bytes: u64) -> std::io::Result<Pruned> {
    let mut pruned = Pruned::default();
    for entry in list(dir)? {
        if pruned.kept_bytes + entry.bytes <= max_bytes {
            pruned.kept += 1;
            pruned.kept_bytes += entry.bytes;
            continue;
        }
        match std::fs::remove_file(&entry.path) {
            Ok(()) => {
                pruned.removed += 1;
                pruned.freed_bytes += entry.bytes;
            }
            // Another process pruned it first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(pruned)
}

/// Marks an entry used now, for least-recently-used pruning. A failure only makes the entry
/// look older than it is.
fn mark_used(path: &Path) {
    if let Ok(file) = std::fs::File::options().write(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
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
    fn pruning_keeps_the_most_recently_used_entries_that_fit() {
        let dir = tempfile::tempdir().unwrap();
        let now = std::time::SystemTime::now();
        for (i, name) in ["old", "mid", "new"].iter().enumerate() {
            let path = dir.path().join(format!("{name}-e.cwasm"));
            std::fs::write(&path, vec![0u8; 1000]).unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(now - std::time::Duration::from_secs(100 * (3 - i as u64)))
                .unwrap();
        }
        // Not an entry: never listed, never removed.
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let listed: Vec<String> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.code_sha256)
            .collect();
        assert_eq!(listed, ["new", "mid", "old"]);
        // A load marks "old" used: it is now the newest.
        mark_used(&dir.path().join("old-e.cwasm"));
        let pruned = prune(dir.path(), 2500).unwrap();
        assert_eq!((pruned.removed, pruned.kept), (1, 2));
        let left: Vec<String> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.code_sha256)
            .collect();
        assert_eq!(left, ["old", "new"]);
        assert!(dir.path().join("notes.txt").is_file());
        assert_eq!(prune(dir.path(), 0).unwrap().removed, 2);
    }

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
