//! One invocation's view of the trail: who is calling, the call in flight, and how the
//! invocation ended. Entries are buffered and written in batches — a guest may make
//! thousands of host calls, and a transaction per call would make the trail the bottleneck —
//! and flushed when the invocation ends, whatever ended it.

use super::{INVOCATION_END, INVOCATION_START, Outcome, Record, Trail};
use crate::state_db::now_ms;

/// Entries kept in memory before a write.
const FLUSH_AT: usize = 256;
/// Bytes of targets and messages kept in memory before a write. Each entry is bounded at
/// construction (see `capabilities::args`), so the buffer is bounded by both numbers.
const FLUSH_AT_BYTES: usize = 1 << 20;
/// Bytes of one outcome message stored; a longer one (a guest-chosen id echoed in an
/// error) is cut short and hashed.
const MESSAGE_BYTES: usize = 4 << 10;

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
    /// Why the trail could not be written; once set, the invocation must end.
    failed: Option<String>,
    pending: Option<Pending>,
    /// The first limit, trap or error that ended the invocation.
    ended_by: Option<Outcome>,
    ended: bool,
}

/// A fresh id per invocation (`inv_…`).
pub fn new_invocation_id() -> String {
    crate::state_db::new_id("inv")
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

    /// Why the trail could not be written, if it could not.
    pub fn failed(&self) -> Option<String> {
        self.failed.clone()
    }

    /// Appends `invocation.end` and writes everything. A call still in flight was cut short
    /// by whatever ended the invocation, and is recorded with that outcome. An error means
    /// the invocation's record is incomplete: the caller must not report it as a success.
    pub fn end(&mut self) -> Result<(), String> {
        if !self.ended {
            self.ended = true;
            let outcome = match (&self.failed, self.ended_by.clone()) {
                (_, Some(o)) => o,
                (Some(why), None) => Outcome::Error {
                    kind: "trail".into(),
                    message: format!("the audit trail could not be written: {why}"),
                },
                (None, None) => Outcome::Ok,
            };
            if self.pending.is_some() {
                self.finish(outcome.clone(), 0.0);
            }
            self.record(INVOCATION_END.into(), Vec::new(), outcome, 0.0);
            // One more try: a trail that was busy may take the whole invocation now.
            let failed = self.failed.take();
            self.flush();
            if self.failed.is_none() && failed.is_some() {
                self.failed = failed;
            }
        }
        match &self.failed {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }

    fn push(
        &mut self,
        at_ms: i64,
        call: String,
        targets: Vec<String>,
        outcome: Outcome,
        credits: f64,
    ) {
        let outcome = bound_outcome(outcome);
        let bytes = call.len()
            + targets.iter().map(String::len).sum::<usize>()
            + outcome.message().map_or(0, str::len)
            + 128;
        // After a failed write, the invocation is ending: keep what it did (a bounded
        // amount) for the last try in `end`, and nothing past one more flush's worth.
        if self.failed.is_some() && self.buffered_bytes + bytes > 2 * FLUSH_AT_BYTES {
            return;
        }
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
        self.buffered_bytes += bytes;
        if self.failed.is_none()
            && (self.buffer.len() >= FLUSH_AT || self.buffered_bytes >= FLUSH_AT_BYTES)
        {
            self.flush();
        }
    }

    /// Writes the buffer. A failed write keeps the entries for the last try in
    /// [`Recorder::end`] and marks the recorder failed: the capabilities then end the
    /// invocation with a typed error, so nothing more happens unrecorded.
    pub fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let trail = &self.trail;
        let buffer = &self.buffer;
        // SQLite blocks; on a multi-threaded runtime, let the worker's other tasks move
        // to another thread while it does.
        let written = blocking(|| trail.append_all(buffer));
        match written {
            Ok(_) => {
                self.buffer.clear();
                self.buffered_bytes = 0;
            }
            Err(e) => {
                tracing::error!(plugin = %self.plugin, invocation = %self.invocation_id, "could not write the audit trail: {e}");
                self.failed.get_or_insert(e.to_string());
            }
        }
    }
}

/// Runs blocking work off the async worker when there is a multi-threaded runtime to
/// hand the worker's tasks to.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn bound_outcome(outcome: Outcome) -> Outcome {
    let b = |m: String| {
        if m.len() > MESSAGE_BYTES {
            super::bounded(&m, MESSAGE_BYTES)
        } else {
            m
        }
    };
    match outcome {
        Outcome::Ok => Outcome::Ok,
        Outcome::Error { kind, message } => Outcome::Error {
            kind,
            message: b(message),
        },
        Outcome::Limit { name, message } => Outcome::Limit {
            name,
            message: b(message),
        },
        Outcome::Trap { message } => Outcome::Trap {
            message: b(message),
        },
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.end();
    }
}
