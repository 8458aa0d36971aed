//! Recordings: everything one `kiln run` or `kiln audit` exchanged with its plugin, as JSON
//! lines, so the plugin (or another version of it) can be run again offline against exactly
//! what it saw (`kiln replay`).
//!
//! # Format (version 1)
//!
//! One JSON object per line. The first line is the header:
//!
//! ```json
//! {"kiln_recording":1,"kind":"transform","plugin":"dedupe-contacts","plugin_sha256":"…",
//!  "plugin_spec":"/abs/path.wasm","config":{"key":"value"},"credit_budget":0.0,
//!  "dry_run":false,"started_ms":1795000000000}
//! ```
//!
//! Then, in the order they happened, entries with one key each:
//!
//! - `{"call":{"fn":"read_records","args":{…},"result":{"ok":…}}}` — a call the plugin's
//!   capabilities made to Clay, with its arguments and answer (`{"error":{"kind":"not_found",
//!   "message":"…"}}` for a failure). Arguments are named as in [`crate::backend::Clay`].
//! - `{"batch":{"index":0,"context":{…},"rows":[…]}}` — a batch handed to a transformer.
//! - `{"outcomes":{"index":0,"outcomes":[…]}}` — what it answered (`"error":"…"` when the
//!   call failed).
//! - `{"audit":{"scope":{…},"report":{…}}}` — an auditor's scope and report (or `"error"`).
//! - `{"end":{"ended_ms":…}}` — the last line of a complete recording.
//!
//! A recording holds Clay data the plugin read (rows, members, credit reports), never a
//! credential: cookies and API keys stay in the HTTP backend, below the calls recorded here,
//! and a webhook source's URL (which lets anyone post rows) is written as `"<redacted>"`.

mod backends;

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use backends::{Recording, Replay};

use crate::backend::ClayError;

/// The format version this kiln writes and reads.
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("recording {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("recording {}, line {line}: {why}", path.display())]
    Format {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error(
        "recording {} is format version {found}; this kiln reads version {VERSION}",
        path.display()
    )]
    Version { path: PathBuf, found: u64 },
}

/// What was recorded: a transformer run or an audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Transform,
    Audit,
}

/// The first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub kiln_recording: u32,
    pub kind: Kind,
    pub plugin: String,
    pub plugin_sha256: String,
    /// How the plugin was named (a path made absolute, or a bundled plugin's name).
    pub plugin_spec: String,
    pub config: BTreeMap<String, String>,
    pub credit_budget: Option<f64>,
    pub dry_run: bool,
    pub started_ms: i64,
}

/// A call to Clay and its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    #[serde(rename = "fn")]
    pub function: String,
    pub args: Value,
    pub result: CallResult,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    Ok(Value),
    Error(ClayError),
}

/// One line after the header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    Call(Call),
    Batch {
        index: u32,
        context: Value,
        rows: Value,
    },
    Outcomes {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcomes: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Audit {
        scope: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    End {
        ended_ms: i64,
    },
}

/// Writes a recording as it happens. Clones share the file; every entry is flushed as it
/// is written, so a run that dies leaves a recording of everything up to its death.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Writer>>,
}

struct Writer {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    /// The first write error; later writes are skipped and [`Recorder::finish`] reports it.
    failed: Option<std::io::Error>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates `path` (replacing it) and writes the header.
    pub fn create(path: &Path, header: &Header) -> Result<Self, RecordingError> {
        let io = |source| RecordingError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let recorder = Self {
            inner: Arc::new(Mutex::new(Writer {
                path: path.to_path_buf(),
                out: BufWriter::new(file),
                failed: None,
            })),
        };
        recorder.line(header);
        Ok(recorder)
    }

    fn line<T: Serialize>(&self, value: &T) {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if w.failed.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut w.out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| w.out.write_all(b"\n"))
            .and_then(|()| w.out.flush());
        if let Err(e) = written {
            w.failed = Some(e);
        }
    }

    pub fn entry(&self, entry: &Entry) {
        self.line(entry);
    }

    pub(crate) fn call(&self, function: &str, args: Value, result: CallResult) {
        self.line(&Entry::Call(Call {
            function: function.to_string(),
            args,
            result,
        }));
    }

    /// Writes the last line; an error if any line could not be written.
    pub fn finish(&self, ended_ms: i64) -> Result<(), RecordingError> {
        self.line(&Entry::End { ended_ms });
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match w.failed.take() {
            None => Ok(()),
            Some(source) => Err(RecordingError::Io {
                path: w.path.clone(),
                source,
            }),
        }
    }
}

/// A recording read back.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub header: Header,
    pub entries: Vec<Entry>,
    /// Whether it ends with its `end` line (a run that died leaves it out).
    pub complete: bool,
}

impl Recorded {
    pub fn read(path: &Path) -> Result<Self, RecordingError> {
        let file = std::fs::File::open(path).map_err(|source| RecordingError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let format = |line: usize, why: String| RecordingError::Format {
            path: path.to_path_buf(),
            line,
            why,
        };
        let mut lines = std::io::BufReader::new(file).lines().enumerate();
        let (_, first) = lines
            .next()
            .ok_or_else(|| format(1, "the file is empty".into()))?;
        let first = first.map_err(|source| RecordingError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let value: Value = serde_json::from_str(&first)
            .map_err(|e| format(1, format!("not a kiln recording ({e})")))?;
        match value.get("kiln_recording").and_then(Value::as_u64) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(found) => {
                return Err(RecordingError::Version {
                    path: path.to_path_buf(),
                    found,
                });
            }
            None => {
                return Err(format(
                    1,
                    "not a kiln recording (no `kiln_recording`)".into(),
                ));
            }
        }
        let header: Header = serde_json::from_value(value).map_err(|e| format(1, e.to_string()))?;
        let mut entries = Vec::new();
        let mut complete = false;
        for (i, line) in lines {
            let line = line.map_err(|source| RecordingError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let entry: Entry =
                serde_json::from_str(&line).map_err(|e| format(i + 1, e.to_string()))?;
            complete = matches!(entry, Entry::End { .. });
            entries.push(entry);
        }
        Ok(Self {
            header,
            entries,
            complete,
        })
    }

    /// The recorded calls, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Call(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
