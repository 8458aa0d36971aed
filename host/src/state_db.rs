//! kiln's own state — the audit trail and the credit ledger — lives in SQLite tables named
//! `kiln_*`. For the local backend that is the workspace file itself, so one file carries
//! the data and its history; a remote backend points these at a state file of its own.
//!
//! Each user opens its own connection: the local backend keeps long transactions on its
//! connection, and sharing it would make kiln's writes wait on (or break into) them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

/// One state file and the connection kiln's stores (trail, ledger) hold on it.
pub(crate) struct StateDb {
    pub(crate) path: PathBuf,
    pub(crate) conn: Mutex<Connection>,
}

impl StateDb {
    /// Opens `path` and creates the store's tables (`schema`) if they are missing.
    pub(crate) fn open(path: &Path, schema: &str) -> rusqlite::Result<Self> {
        let conn = open(path)?;
        conn.execute_batch(schema)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }
}

/// How long a writer waits for another connection (or process) to let go of the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating if needed) a state file in WAL mode with a busy timeout.
pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `<prefix>_<16 hex>`: unique within a process by a counter, across processes and time by
/// the pid and the clock.
pub(crate) fn new_id(prefix: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!("{prefix}:{}:{nanos}:{n}", std::process::id()));
    format!("{prefix}_{}", hex::encode(&digest[..8]))
}
