//! The hash chain: a canonical encoding of an entry, its hash, and the walk that finds the
//! first place where the stored trail stops being the chain kiln wrote.

use std::collections::HashSet;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Bumped if the encoding ever changes, so old and new hashes can never be confused.
const DOMAIN: &[u8] = b"kiln-trail/1";

/// An entry's fields as stored, without its own hash.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fields {
    pub seq: u64,
    pub at_ms: i64,
    pub plugin: String,
    pub plugin_sha256: String,
    pub invocation_id: String,
    pub call: String,
    pub targets: Vec<String>,
    pub outcome: String,
    pub message: Option<String>,
    pub credits: f64,
    pub prev_hash: String,
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Length-prefixed, fixed-order, fixed-width: no two different entries encode alike.
fn canonical(f: &Fields, seq: u64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(DOMAIN);
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&f.at_ms.to_be_bytes());
    put_str(&mut buf, &f.plugin);
    put_str(&mut buf, &f.plugin_sha256);
    put_str(&mut buf, &f.invocation_id);
    put_str(&mut buf, &f.call);
    buf.extend_from_slice(&(f.targets.len() as u64).to_be_bytes());
    for t in &f.targets {
        put_str(&mut buf, t);
    }
    put_str(&mut buf, &f.outcome);
    match &f.message {
        None => buf.push(0),
        Some(m) => {
            buf.push(1);
            put_str(&mut buf, m);
        }
    }
    buf.extend_from_slice(&f.credits.to_bits().to_be_bytes());
    put_str(&mut buf, &f.prev_hash);
    buf
}

/// The entry's hash as if it sat at `seq`.
fn hash_at(f: &Fields, seq: u64) -> String {
    hex::encode(Sha256::digest(canonical(f, seq)))
}

pub(crate) fn hash(f: &Fields) -> String {
    hash_at(f, f.seq)
}

/// What went wrong with the trail at a given entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The entry's content was changed after it was written.
    Edited,
    /// The entry is gone.
    Deleted,
    /// The entry was never written by kiln.
    Inserted,
    /// The entry was moved to another position.
    Reordered,
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BreakKind::Edited => "edited",
            BreakKind::Deleted => "deleted",
            BreakKind::Inserted => "inserted",
            BreakKind::Reordered => "reordered",
        })
    }
}

/// The first place the trail is not what kiln wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub seq: u64,
    pub kind: BreakKind,
    pub detail: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "entry #{} was {}: {}", self.seq, self.kind, self.detail)
    }
}

/// A stored row: its fields (or why they could not be read) and its stored hash.
pub(crate) struct Stored {
    pub seq: u64,
    pub fields: Result<Fields, String>,
    pub hash: String,
}

/// The head record: what the trail's last entry was when kiln last appended.
pub(crate) struct Head {
    pub seq: u64,
    pub hash: String,
}

fn brk(seq: u64, kind: BreakKind, detail: impl Into<String>) -> Option<Break> {
    Some(Break {
        seq,
        kind,
        detail: detail.into(),
    })
}

/// Walks `rows` (in seq order) and returns the first break.
///
/// Every entry's hash covers its seq and its predecessor's hash, so an entry that moved
/// still verifies at the seq it was written at: searching for that seq tells a move from
/// an edit, and whether the predecessor it names still exists tells a reorder from a
/// deletion. The head record catches changes at the end that no later entry could see.
pub(crate) fn find_break(rows: &[Stored], head: Option<&Head>) -> Option<Break> {
    let stored_hashes: HashSet<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
    let mut expected_seq = 1u64;
    let mut prev_hash = GENESIS.to_string();
    for (i, row) in rows.iter().enumerate() {
        let fields = match &row.fields {
            Ok(f) => f,
            Err(why) => return brk(row.seq, BreakKind::Edited, why.clone()),
        };
        let next_prev = rows
            .get(i + 1)
            .and_then(|n| n.fields.as_ref().ok())
            .map(|n| n.prev_hash.as_str())
            .or(head.filter(|h| h.seq == row.seq).map(|h| h.hash.as_str()));
        if hash(fields) != row.hash {
            let max = rows.last().map_or(0, |r| r.seq).max(rows.len() as u64) + 1;
            let origin = (1..=max).find(|s| hash_at(fields, *s) == row.hash);
            return match origin {
                None if fields.prev_hash == prev_hash || next_prev == Some(row.hash.as_str()) => {
                    brk(
                        row.seq,
                        BreakKind::Edited,
                        "its content no longer matches its hash",
                    )
                }
                None => brk(
                    row.seq,
                    BreakKind::Inserted,
                    "it does not belong to the chain: neither its hash nor its links match",
                ),
                Some(o) if o < row.seq => brk(
                    o,
                    BreakKind::Inserted,
                    format!(
                        "{} entr{} inserted before the entry written as #{o}, which now sits at #{}",
                        row.seq - o,
                        if row.seq - o == 1 {
                            "y was"
                        } else {
                            "ies were"
                        },
                        row.seq
                    ),
                ),
                Some(o) if stored_hashes.contains(fields.prev_hash.as_str()) => brk(
                    row.seq,
                    BreakKind::Reordered,
                    format!("the entry written as #{o} now sits at #{}", row.seq),
                ),
                Some(o) => brk(
                    row.seq,
                    BreakKind::Deleted,
                    format!(
                        "the entry written as #{o} now sits at #{}: the entry before it is gone and later ones were renumbered",
                        row.seq
                    ),
                ),
            };
        }
        if row.seq != expected_seq {
            return brk(
                expected_seq,
                BreakKind::Deleted,
                format!("the trail skips from #{} to #{}", expected_seq - 1, row.seq),
            );
        }
        if fields.prev_hash != prev_hash {
            if row.seq == 1 {
                return brk(
                    1,
                    BreakKind::Edited,
                    "the first entry does not start the chain",
                );
            }
            return brk(
                row.seq - 1,
                BreakKind::Edited,
                format!(
                    "its hash is not the one entry #{} recorded for it (it was changed and re-hashed)",
                    row.seq
                ),
            );
        }
        prev_hash = row.hash.clone();
        expected_seq = row.seq + 1;
    }
    let last = expected_seq - 1;
    match head {
        None if last > 0 => brk(
            last,
            BreakKind::Edited,
            "the trail's head record is missing",
        ),
        None => None,
        Some(h) if h.seq > last => brk(
            last + 1,
            BreakKind::Deleted,
            format!(
                "the trail ends at #{last}, but kiln last appended #{}",
                h.seq
            ),
        ),
        Some(h) if h.seq < last => brk(
            h.seq + 1,
            BreakKind::Inserted,
            format!(
                "kiln last appended #{}, but the trail goes on to #{last}",
                h.seq
            ),
        ),
        Some(h) if h.hash != prev_hash => brk(
            last,
            BreakKind::Edited,
            "the last entry's hash is not the one kiln last appended (it was changed and re-hashed)",
        ),
        Some(_) => None,
    }
}
