//! The audit trail: every host call every plugin made, and every invocation's start and
//! end, appended to a hash-chained log in SQLite (`kiln_trail`).
//!
//! Each entry's hash is SHA-256 over a canonical encoding of its fields, its seq and the
//! previous entry's hash, and a one-row head record remembers the last entry appended, so
//! [`Trail::verify`] finds an entry that was edited, deleted, inserted or moved — anywhere,
//! the last one included — and names it. Someone able to rewrite the whole file can
//! rewrite the whole chain; the trail makes quiet edits evident, it does not make them
//! impossible. Copy the head hash somewhere else to pin a point in time.

mod chain;
mod recorder;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::backend::ClayError;
use crate::state_db::StateDb;
pub use chain::{Break, BreakKind, GENESIS};
pub(crate) use chain::{Fields, Head, Lookup, Stored, Walk, hash as chain_hash};
pub use recorder::{Recorder, new_invocation_id};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kiln_trail (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    plugin TEXT NOT NULL,
    plugin_sha256 TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    call TEXT NOT NULL,
    targets TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT,
    credits REAL NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kiln_trail_plugin ON kiln_trail(plugin, at_ms);
CREATE INDEX IF NOT EXISTS kiln_trail_invocation ON kiln_trail(invocation_id);
CREATE TABLE IF NOT EXISTS kiln_trail_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"#;

/// Bytes of one string the trail hashes. Only a string over the per-call id cap (`capabilities::args::MAX_ID_BYTES`) (refused
/// anyway by the capabilities' caps) is longer; hashing all of a 32 MiB key on every call would make the guest's
/// arguments, not the caps, the measure of host work.
pub(crate) const HASHED_BYTES: usize = 1 << 20;

/// `s`, or its first bytes (on a char boundary) with its length and SHA-256 when it is
/// longer than `max`.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let (hashed, of) = if s.len() > HASHED_BYTES {
        (
            &s.as_bytes()[..HASHED_BYTES],
            format!(" of the first {HASHED_BYTES}"),
        )
    } else {
        (s.as_bytes(), String::new())
    };
    format!(
        "{}…[{} bytes, sha256{of}:{}]",
        prefix(s, max),
        s.len(),
        hex::encode(Sha256::digest(hashed))
    )
}

fn prefix(s: &str, max: usize) -> &str {
    let mut cut = max.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// The trail's own call names for invocation-level events.
pub const INVOCATION_START: &str = "invocation.start";
pub const INVOCATION_END: &str = "invocation.end";
/// One batch of a transformer's effects, applied by the host: its targets are the table,
/// `batch:<n>`, `rows-set:<n>`, `rows-deleted:<n>` and `sha256:<digest of the changes>`.
pub const EFFECTS_APPLY: &str = "effects.apply";
/// A plugin the runtime refused to load (not a component, wrong world, a missing grant…).
pub const PLUGIN_LOAD: &str = "plugin.load";

#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    #[error("audit trail in {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "audit trail in {}: cannot append after entry #{seq} ({source}); the trail was changed outside kiln — run `kiln trail verify`",
        path.display()
    )]
    Inconsistent {
        path: PathBuf,
        seq: u64,
        source: rusqlite::Error,
    },
    #[error("audit trail at {at}: {message}")]
    Store { at: String, message: String },
}

/// How a call (or an invocation) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A `clay-error` returned to the guest; `kind` is its WIT case, e.g. `denied`.
    Error {
        kind: String,
        message: String,
    },
    /// A limit that ended the invocation; `name` as in [`LimitKind::name`](crate::invocation::LimitKind::name).
    Limit {
        name: String,
        message: String,
    },
    /// The guest trapped (panic, `unreachable`, a failed instantiation…).
    Trap {
        message: String,
    },
}

impl Outcome {
    pub fn from_clay(e: &ClayError) -> Self {
        Outcome::Error {
            kind: clay_error_kind(e).to_string(),
            message: e.to_string(),
        }
    }

    /// `ok`, `error:<kind>`, `limit:<name>` or `trap`.
    pub fn label(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Error { kind, .. } => format!("error:{kind}"),
            Outcome::Limit { name, .. } => format!("limit:{name}"),
            Outcome::Trap { .. } => "trap".into(),
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Ok => None,
            Outcome::Error { message, .. }
            | Outcome::Limit { message, .. }
            | Outcome::Trap { message } => Some(message),
        }
    }
}

/// The WIT case name of a `clay-error`.
pub fn clay_error_kind(e: &ClayError) -> &'static str {
    match e {
        ClayError::NotFound(_) => "not-found",
        ClayError::Denied(_) => "denied",
        ClayError::Invalid(_) => "invalid",
        ClayError::RateLimited(_) => "rate-limited",
        ClayError::BudgetExhausted(_) => "budget-exhausted",
        ClayError::Conflict(_) => "conflict",
        ClayError::Upstream(_) => "upstream",
        ClayError::Unavailable(_) => "unavailable",
    }
}

/// One entry to append; the trail assigns seq and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub at_ms: i64,
    pub plugin: String,
    pub plugin_sha256: String,
    pub invocation_id: String,
    /// `interface.function` (e.g. `tables.run-column`) or `invocation.start`/`invocation.end`.
    pub call: String,
    /// The table, record, field (or workspace, folder…) ids the call named.
    pub targets: Vec<String>,
    pub outcome: Outcome,
    pub credits: f64,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at_ms: i64,
    pub plugin: String,
    pub plugin_sha256: String,
    pub invocation_id: String,
    pub call: String,
    pub targets: Vec<String>,
    /// `ok`, `error:<kind>`, `limit:<name>` or `trap`.
    pub outcome: String,
    pub message: Option<String>,
    pub credits: f64,
    pub prev_hash: String,
    pub hash: String,
}

/// Which entries [`Trail::entries`] returns (all of them by default), oldest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// By the name a plugin gave itself (any plugin can take any name).
    pub plugin: Option<String>,
    /// By the SHA-256 of the component: the identity a plugin cannot choose.
    pub plugin_sha256: Option<String>,
    pub invocation_id: Option<String>,
    /// Entries at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// At most this many entries, the latest ones (still returned oldest first). Applied
    /// in SQL, so asking for a few never reads the rest of the trail into memory.
    pub limit: Option<usize>,
}

/// What [`Trail::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub entries: u64,
    /// The hash of the last entry kiln appended (the genesis hash when there is none).
    pub head: String,
    /// The first break, if the trail is not intact.
    pub broken: Option<Break>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Where a trail keeps its entries: a SQLite file, or (for kiln workers on several machines)
/// a JetStream stream they share. Appends chain onto the last entry atomically, so two
/// writers never both chain onto the same one.
pub trait TrailStore: Send + Sync {
    /// Appends `records` in order, chained onto the last entry.
    fn append_all(&self, records: &[Record]) -> Result<Vec<Entry>, TrailError>;
    /// The entries `filter` selects, oldest first.
    fn entries(&self, filter: &Filter) -> Result<Vec<Entry>, TrailError>;
    /// Checks the whole chain and names the first entry that is not what kiln wrote.
    fn verify(&self) -> Result<Verification, TrailError>;
    /// How many different components (by SHA-256) have entries under the name `plugin`.
    fn components_named(&self, plugin: &str) -> Result<u64, TrailError>;
    /// Where it is, for messages.
    fn location(&self) -> String;
}

/// A handle to a trail. Clones share one store.
#[derive(Clone)]
pub struct Trail {
    store: Arc<dyn TrailStore>,
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail")
            .field("at", &self.store.location())
            .finish()
    }
}

impl Trail {
    /// Opens the trail in `path` (the workspace file, or a state file of its own),
    /// creating its tables if needed.
    pub fn open(path: &Path) -> Result<Self, TrailError> {
        Ok(Self {
            store: Arc::new(SqliteTrail::open(path)?),
        })
    }

    /// A trail in another store.
    pub fn with_store(store: Arc<dyn TrailStore>) -> Self {
        Self { store }
    }

    /// Where the trail is (a file's path, a stream's name).
    pub fn location(&self) -> String {
        self.store.location()
    }

    pub fn append(&self, record: Record) -> Result<Entry, TrailError> {
        let mut entries = self.append_all(std::slice::from_ref(&record))?;
        entries.pop().ok_or_else(|| TrailError::Store {
            at: self.location(),
            message: "an append returned no entry".into(),
        })
    }

    /// Appends `records` in order, atomically.
    pub fn append_all(&self, records: &[Record]) -> Result<Vec<Entry>, TrailError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.store.append_all(records)
    }

    /// The entries `filter` selects, oldest first. Entries that can no longer be read
    /// (see [`Trail::verify`]) are skipped.
    pub fn entries(&self, filter: &Filter) -> Result<Vec<Entry>, TrailError> {
        self.store.entries(filter)
    }

    /// How many different components (by SHA-256) have entries under the name `plugin`:
    /// more than one means someone took another plugin's name.
    pub fn components_named(&self, plugin: &str) -> Result<u64, TrailError> {
        self.store.components_named(plugin)
    }

    /// Checks the whole chain and names the first entry that is not what kiln wrote.
    pub fn verify(&self) -> Result<Verification, TrailError> {
        self.store.verify()
    }

    /// Records that a plugin was refused at load. There is no invocation: its id is empty.
    pub fn record_refused_load(
        &self,
        plugin: &str,
        sha256: &str,
        reason: &str,
    ) -> Result<Entry, TrailError> {
        self.append(Record {
            at_ms: crate::state_db::now_ms(),
            plugin: plugin.to_string(),
            plugin_sha256: sha256.to_string(),
            invocation_id: String::new(),
            call: PLUGIN_LOAD.to_string(),
            targets: Vec::new(),
            outcome: Outcome::Error {
                kind: "refused".into(),
                message: reason.to_string(),
            },
            credits: 0.0,
        })
    }
}

/// The trail in one SQLite file. Clones share one connection.
struct SqliteTrail {
    inner: Arc<StateDb>,
}

impl SqliteTrail {
    /// Opens the trail in `path` (the workspace file, or a state file of its own),
    /// creating its tables if needed.
    fn open(path: &Path) -> Result<Self, TrailError> {
        let err = |source| TrailError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        Ok(Self {
            inner: Arc::new(StateDb::open(path, SCHEMA).map_err(err)?),
        })
    }

    fn sql(&self, source: rusqlite::Error) -> TrailError {
        TrailError::Sqlite {
            path: self.inner.path.clone(),
            source,
        }
    }
}

impl TrailStore for SqliteTrail {
    fn location(&self) -> String {
        self.inner.path.display().to_string()
    }

    /// Appends `records` in order, in one transaction.
    fn append_all(&self, records: &[Record]) -> Result<Vec<Entry>, TrailError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        // IMMEDIATE: take the write lock before reading the head, so two writers (threads or
        // processes) can never both chain onto the same entry.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let head = read_head(&tx).map_err(|e| self.sql(e))?;
        let (mut seq, mut prev_hash) = match head {
            Some(h) => (h.seq, h.hash),
            // No head: a fresh trail, or one whose head was deleted; chain onto the last row.
            None => tx
                .query_row(
                    "SELECT seq, hash FROM kiln_trail ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
                )
                .optional()
                .map_err(|e| self.sql(e))?
                .unwrap_or((0, GENESIS.to_string())),
        };
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            seq += 1;
            let fields = Fields::of(r, seq, prev_hash);
            let hash = chain::hash(&fields);
            let targets = serde_json::to_string(&fields.targets).unwrap_or_else(|_| "[]".into());
            tx.execute(
                "INSERT INTO kiln_trail(seq, at_ms, plugin, plugin_sha256, invocation_id, call,
                                        targets, outcome, message, credits, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    seq as i64,
                    fields.at_ms,
                    fields.plugin,
                    fields.plugin_sha256,
                    fields.invocation_id,
                    fields.call,
                    targets,
                    fields.outcome,
                    fields.message,
                    fields.credits,
                    fields.prev_hash,
                    hash,
                ],
            )
            .map_err(|source| TrailError::Inconsistent {
                path: self.inner.path.clone(),
                seq: seq - 1,
                source,
            })?;
            prev_hash = hash.clone();
            out.push(entry(fields, hash));
        }
        tx.execute(
            "INSERT INTO kiln_trail_head(id, seq, hash) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            params![seq as i64, prev_hash],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    /// The entries `filter` selects, oldest first. Rows that can no longer be read as
    /// entries (see [`Trail::verify`]) are skipped.
    fn entries(&self, filter: &Filter) -> Result<Vec<Entry>, TrailError> {
        let conn = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        // The latest `limit` first (SQLite keeps only that many while sorting), then put
        // back in order. A negative LIMIT is no limit.
        let limit = filter
            .limit
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS}
                 FROM kiln_trail
                 WHERE (?1 IS NULL OR plugin = ?1)
                   AND (?2 IS NULL OR invocation_id = ?2)
                   AND (?3 IS NULL OR at_ms >= ?3)
                   AND (?4 IS NULL OR plugin_sha256 = ?4)
                 ORDER BY seq {} LIMIT ?5",
                if filter.limit.is_some() {
                    "DESC"
                } else {
                    "ASC"
                }
            ))
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt
            .query(params![
                filter.plugin,
                filter.invocation_id,
                filter.since_ms,
                filter.plugin_sha256,
                limit
            ])
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
            let stored = read_stored(row).map_err(|e| self.sql(e))?;
            if let Ok(fields) = stored.fields {
                out.push(entry(fields, stored.hash));
            }
        }
        if filter.limit.is_some() {
            out.reverse();
        }
        Ok(out)
    }

    /// How many different components (by SHA-256) have entries under the name `plugin`:
    /// more than one means someone took another plugin's name.
    fn components_named(&self, plugin: &str) -> Result<u64, TrailError> {
        let conn = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row(
            "SELECT COUNT(DISTINCT plugin_sha256) FROM kiln_trail WHERE plugin = ?1",
            [plugin],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n.max(0) as u64)
        .map_err(|e| self.sql(e))
    }

    /// Checks the whole chain and names the first entry that is not what kiln wrote.
    ///
    /// Reads one row at a time and keeps only where the chain stands, so verifying takes
    /// the same memory whatever the trail holds (the largest single entry aside).
    fn verify(&self) -> Result<Verification, TrailError> {
        let conn = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        // One read transaction: a concurrent append must not land between the rows and the head.
        let tx = conn.unchecked_transaction().map_err(|e| self.sql(e))?;
        let (count, last_seq) = tx
            .query_row(
                "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM kiln_trail",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?.max(0) as u64,
                        r.get::<_, i64>(1)?.max(0) as u64,
                    ))
                },
            )
            .map_err(|e| self.sql(e))?;
        let head = read_head(&tx).map_err(|e| self.sql(e))?;
        let broken = {
            let mut walk = Walk::new(head.as_ref(), count, last_seq);
            let mut look = SqlLookup(&tx);
            let mut stmt = tx
                .prepare(&format!("SELECT {COLUMNS} FROM kiln_trail ORDER BY seq"))
                .map_err(|e| self.sql(e))?;
            let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
            let mut broken = None;
            while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
                let stored = read_stored(row).map_err(|e| self.sql(e))?;
                broken = walk.step(&stored, &mut look).map_err(|e| self.sql(e))?;
                if broken.is_some() {
                    break;
                }
            }
            broken.or_else(|| walk.finish())
        };
        tx.finish().map_err(|e| self.sql(e))?;
        Ok(Verification {
            entries: count,
            head: head
                .as_ref()
                .map_or_else(|| GENESIS.to_string(), |h| h.hash.clone()),
            broken,
        })
    }
}

/// Every column of an entry, in the order [`read_stored`] reads them.
const COLUMNS: &str = "seq, at_ms, plugin, plugin_sha256, invocation_id, call, targets, outcome,
                       message, credits, prev_hash, hash";

/// What [`Walk`] asks about rows other than the one in hand, answered from the database.
struct SqlLookup<'c>(&'c Connection);

impl Lookup for SqlLookup<'_> {
    type Error = rusqlite::Error;
    fn next_prev(&mut self, seq: u64) -> rusqlite::Result<Option<String>> {
        let next = self
            .0
            .query_row(
                &format!("SELECT {COLUMNS} FROM kiln_trail WHERE seq > ?1 ORDER BY seq LIMIT 1"),
                [seq as i64],
                read_stored,
            )
            .optional()?;
        Ok(next.and_then(|n| n.fields.ok()).map(|f| f.prev_hash))
    }

    fn has_hash(&mut self, hash: &str) -> rusqlite::Result<bool> {
        self.0.query_row(
            "SELECT EXISTS(SELECT 1 FROM kiln_trail WHERE hash = ?1)",
            [hash],
            |r| r.get(0),
        )
    }
}

impl Fields {
    /// A record's fields at `seq`, chained onto `prev_hash`.
    pub(crate) fn of(r: &Record, seq: u64, prev_hash: String) -> Self {
        Fields {
            seq,
            at_ms: r.at_ms,
            plugin: r.plugin.clone(),
            plugin_sha256: r.plugin_sha256.clone(),
            invocation_id: r.invocation_id.clone(),
            call: r.call.clone(),
            targets: r.targets.clone(),
            message: r.outcome.message().map(str::to_string),
            outcome: r.outcome.label(),
            credits: r.credits,
            prev_hash,
        }
    }

    /// An entry's fields as stored.
    pub(crate) fn of_entry(e: &Entry) -> Self {
        Fields {
            seq: e.seq,
            at_ms: e.at_ms,
            plugin: e.plugin.clone(),
            plugin_sha256: e.plugin_sha256.clone(),
            invocation_id: e.invocation_id.clone(),
            call: e.call.clone(),
            targets: e.targets.clone(),
            outcome: e.outcome.clone(),
            message: e.message.clone(),
            credits: e.credits,
            prev_hash: e.prev_hash.clone(),
        }
    }
}

/// Whether `e` is one `filter` selects (its limit aside).
pub(crate) fn selects(filter: &Filter, e: &Entry) -> bool {
    filter.plugin.as_ref().is_none_or(|p| *p == e.plugin)
        && filter
            .plugin_sha256
            .as_ref()
            .is_none_or(|p| *p == e.plugin_sha256)
        && filter
            .invocation_id
            .as_ref()
            .is_none_or(|i| *i == e.invocation_id)
        && filter.since_ms.is_none_or(|t| e.at_ms >= t)
}

pub(crate) fn entry(f: Fields, hash: String) -> Entry {
    Entry {
        seq: f.seq,
        at_ms: f.at_ms,
        plugin: f.plugin,
        plugin_sha256: f.plugin_sha256,
        invocation_id: f.invocation_id,
        call: f.call,
        targets: f.targets,
        outcome: f.outcome,
        message: f.message,
        credits: f.credits,
        prev_hash: f.prev_hash,
        hash,
    }
}

fn read_head(conn: &Connection) -> rusqlite::Result<Option<Head>> {
    conn.query_row(
        "SELECT seq, hash FROM kiln_trail_head WHERE id = 1",
        [],
        |r| {
            Ok(Head {
                seq: r.get::<_, i64>(0)? as u64,
                hash: r.get(1)?,
            })
        },
    )
    .optional()
}

/// Reads a row leniently: a column someone rewrote with the wrong type makes that entry
/// unreadable (reported by `verify`), not the whole trail.
fn read_stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    let seq = r.get::<_, i64>(0)? as u64;
    let hash = r.get::<_, String>(11).unwrap_or_default();
    let fields = (|| -> Result<Fields, String> {
        let col = |e: rusqlite::Error| format!("a column cannot be read: {e}");
        let targets: String = r.get(6).map_err(col)?;
        Ok(Fields {
            seq,
            at_ms: r.get(1).map_err(col)?,
            plugin: r.get(2).map_err(col)?,
            plugin_sha256: r.get(3).map_err(col)?,
            invocation_id: r.get(4).map_err(col)?,
            call: r.get(5).map_err(col)?,
            targets: serde_json::from_str(&targets)
                .map_err(|e| format!("its targets are not a list of ids: {e}"))?,
            outcome: r.get(7).map_err(col)?,
            message: r.get(8).map_err(col)?,
            credits: r.get(9).map_err(col)?,
            prev_hash: r.get(10).map_err(col)?,
        })
    })();
    Ok(Stored { seq, fields, hash })
}
