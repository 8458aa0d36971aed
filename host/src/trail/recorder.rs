//! One invocation's view of the trail: who is calling, the call in flight, and how the
//! invocation ended. Entries are buffered and written in batches — a guest may make
//! thousands of host calls, and a transaction per call would make the trail the bottleneck —
//! and flushed when the invocation ends, whatever ended it. What a buffered entry may hold is
//! bounded ([`super::bounded`]) and the buffer is flushed by bytes as well as by entries, so
//! the host holds a few MiB per invocation at most, whatever the guest passes. A trail that
//! cannot be written is not skipped: the recorder remembers the failure, every later host call
//! traps on it, and the invocation ends with a typed error.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::{INVOCATION_END, INVOCATION_START, Outcome, Record, Trail, bounded};
use crate::state_db::now_ms;

/// Entries kept in memory before a write.
const FLUSH_AT: usize = 256;
/// Bytes of buffered entries before a write.
const FLUSH_AT_BYTES: usize = 1 << 20;

/// A host call that has passed its checks and not returned yet.
struct Pending {
    at_ms: i64,
    call: String,
    targets: Vec<String>,
}

pub struct Recorder {
    trail: Trail,
    plugin: String,
    plugin_sha256: String,
    invocation_id: String,
    buffer: Vec<Record>,
    buffered_bytes: usize,
    /// Why the trail could not be written, once it could not.
    failed: Option<String>,
    pending: Option<Pending>,
    /// The first limit, trap or error that ended the invocation.
    ended_by: Option<Outcome>,
    ended: bool,
}

/// A fresh id per invocation: unique within a process by the counter, across processes and
/// runs by the pid and the clock.
pub fn new_invocation_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!("{}:{nanos}:{n}", std::process::id()));
    format!("inv_{}", hex::encode(&digest[..8]))
}

impl Recorder {
    /// Starts recording an invocation: appends its `invocation.start`.
    pub fn start(trail: Trail, plugin: &str, plugin_sha256: &str, invocation_id: String) -> Self {
        let mut recorder = Self {
            trail,
            plugin: plugin.to_string(),
            plugin_sha256: plugin_sha256.to_string(),
            invocation_id,
            buffer: Vec::new(),
            buffered_bytes: 0,
            failed: None,
            pending: None,
            ended_by: None,
            ended: false,
        };
        recorder.record(INVOCATION_START.into(), Vec::new(), Outcome::Ok, 0.0);
        recorder
    }

    pub fn invocation_id(&self) -> &str {
        &self.invocation_id
    }

    /// Records a finished call (or an event) now.
    pub fn record(&mut self, call: String, targets: Vec<String>, outcome: Outcome, credits: f64) {
        self.push(now_ms(), call, targets, outcome, credits);
    }

    /// A call passed its checks; [`Recorder::finish`] records how it ended.
    pub fn begin(&mut self, call: String, targets: Vec<String>) {
        self.pending = Some(Pending {
            at_ms: now_ms(),
            call,
            targets,
        });
    }

    /// Records the call begun last with its outcome and the credits it spent.
    pub fn finish(&mut self, outcome: Outcome, credits: f64) {
        if let Some(p) = self.pending.take() {
            self.push(p.at_ms, p.call, p.targets, outcome, credits);
        }
    }

    /// Remembers what ended the invocation (the first such thing wins).
    pub fn ended_by(&mut self, outcome: Outcome) {
        self.ended_by.get_or_insert(outcome);
    }

    /// Why the trail could not be written, if it could not: the invocation must not go on
    /// (or report success) with calls it cannot record.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Appends `invocation.end` and writes everything. A call still in flight was cut short
    /// by whatever ended the invocation, and is recorded with that outcome.
    pub fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let outcome = self.ended_by.clone().unwrap_or(Outcome::Ok);
        if self.pending.is_some() {
            self.finish(outcome.clone(), 0.0);
        }
        self.record(INVOCATION_END.into(), Vec::new(), outcome, 0.0);
        self.flush();
    }

    fn push(
        &mut self,
        at_ms: i64,
        call: String,
        targets: Vec<String>,
        outcome: Outcome,
        credits: f64,
    ) {
        // Capabilities build bounded targets already; this holds for every other caller.
        // (A bounded list is up to MAX_TARGETS ids plus one summary, itself a bit longer
        // than an id: a hash and counts.)
        let targets = if targets.len() > bounded::MAX_TARGETS + 1
            || targets
                .iter()
                .any(|t| t.len() > 2 * bounded::MAX_TARGET_BYTES)
        {
            bounded::targets(targets.iter().map(String::as_str))
        } else {
            targets
        };
        let outcome = bound_outcome(outcome);
        self.buffered_bytes += bounded::weight(&targets, outcome.message());
        self.buffer.push(Record {
            at_ms,
            plugin: self.plugin.clone(),
            plugin_sha256: self.plugin_sha256.clone(),
            invocation_id: self.invocation_id.clone(),
            call,
            targets,
            outcome,
            credits,
        });
        if self.buffer.len() >= FLUSH_AT || self.buffered_bytes >= FLUSH_AT_BYTES {
            self.flush();
        }
    }

    /// Writes the buffer. A failed write is remembered ([`Recorder::failure`]) and ends the
    /// invocation; the entries stay buffered for one last try when it ends, but the buffer
    /// never grows past its bounds: once the trail has failed, nothing more is accepted
    /// than the entries that record how the invocation ended.
    pub fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let trail = &self.trail;
        let buffer = &self.buffer;
        match crate::state_db::off_async_workers(|| trail.append_all(buffer)) {
            Ok(_) => {
                self.buffer.clear();
                self.buffered_bytes = 0;
            }
            Err(e) => {
                tracing::error!(plugin = %self.plugin, invocation = %self.invocation_id, "could not write the audit trail: {e}");
                self.failed.get_or_insert_with(|| e.to_string());
                // Bounded even while failing: keep the first entries, drop the rest, and
                // the invocation ends with the failure as its error.
                if self.buffer.len() > FLUSH_AT {
                    self.buffer.truncate(FLUSH_AT);
                }
            }
        }
    }
}

/// An outcome whose message (which may quote guest-chosen ids) fits an entry.
fn bound_outcome(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Ok => Outcome::Ok,
        Outcome::Error { kind, message } => Outcome::Error {
            kind,
            message: bounded::message(&message),
        },
        Outcome::Limit { name, message } => Outcome::Limit {
            name,
            message: bounded::message(&message),
        },
        Outcome::Trap { message } => Outcome::Trap {
            message: bounded::message(&message),
        },
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.end();
    }
}
