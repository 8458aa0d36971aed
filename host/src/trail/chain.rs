//! The hash chain: a canonical encoding of an entry, its hash, and the walk that finds the
//! first place where the stored trail stops being the chain kiln wrote.

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

fn put_str(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

/// Length-prefixed, fixed-order, fixed-width: no two different entries encode alike. Fed
/// straight into the hasher, so hashing a large entry makes no second copy of it.
fn canonical(h: &mut Sha256, f: &Fields, seq: u64) {
    h.update(DOMAIN);
    h.update(seq.to_be_bytes());
    h.update(f.at_ms.to_be_bytes());
    put_str(h, &f.plugin);
    put_str(h, &f.plugin_sha256);
    put_str(h, &f.invocation_id);
    put_str(h, &f.call);
    h.update((f.targets.len() as u64).to_be_bytes());
    for t in &f.targets {
        put_str(h, t);
    }
    put_str(h, &f.outcome);
    match &f.message {
        None => h.update([0]),
        Some(m) => {
            h.update([1]);
            put_str(h, m);
        }
    }
    h.update(f.credits.to_bits().to_be_bytes());
    put_str(h, &f.prev_hash);
}

/// The entry's hash as if it sat at `seq`.
fn hash_at(f: &Fields, seq: u64) -> String {
    let mut h = Sha256::new();
    canonical(&mut h, f, seq);
    hex::encode(h.finalize())
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

/// What the walk may need to know beyond the row in hand. Asked only once a row's hash
/// does not match, so an intact trail is read exactly once, one row at a time.
pub trait Lookup {
    type Error;
    /// The `prev_hash` of the entry right after `seq`, if there is one and it is readable.
    fn next_prev(&mut self, seq: u64) -> Result<Option<String>, Self::Error>;
    /// Whether any stored entry has this hash.
    fn has_hash(&mut self, hash: &str) -> Result<bool, Self::Error>;
}

/// Walks the stored rows in seq order, one at a time, keeping only where the chain stands,
/// and stops at the first break.
///
/// Every entry's hash covers its seq and its predecessor's hash, so an entry that moved
/// still verifies at the seq it was written at: searching for that seq tells a move from
/// an edit, and whether the predecessor it names still exists tells a reorder from a
/// deletion. The head record catches changes at the end that no later entry could see.
pub(crate) struct Walk<'h> {
    head: Option<&'h Head>,
    /// One past the highest seq an entry could have been written at.
    max_seq: u64,
    expected_seq: u64,
    prev_hash: String,
}

impl<'h> Walk<'h> {
    /// `rows` and `last_seq`: how many rows are stored and the highest seq among them.
    pub(crate) fn new(head: Option<&'h Head>, rows: u64, last_seq: u64) -> Self {
        Self {
            head,
            max_seq: last_seq.max(rows) + 1,
            expected_seq: 1,
            prev_hash: GENESIS.to_string(),
        }
    }

    /// Checks the next row; a break ends the walk.
    pub(crate) fn step<L: Lookup>(
        &mut self,
        row: &Stored,
        look: &mut L,
    ) -> Result<Option<Break>, L::Error> {
        let fields = match &row.fields {
            Ok(f) => f,
            Err(why) => return Ok(brk(row.seq, BreakKind::Edited, why.clone())),
        };
        if hash(fields) != row.hash {
            let next_prev = match look.next_prev(row.seq)? {
                Some(p) => Some(p),
                None => self
                    .head
                    .filter(|h| h.seq == row.seq)
                    .map(|h| h.hash.clone()),
            };
            let origin = (1..=self.max_seq).find(|s| hash_at(fields, *s) == row.hash);
            return Ok(match origin {
                None if fields.prev_hash == self.prev_hash
                    || next_prev.as_deref() == Some(row.hash.as_str()) =>
                {
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
                Some(o) if look.has_hash(&fields.prev_hash)? => brk(
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
            });
        }
        if row.seq != self.expected_seq {
            return Ok(brk(
                self.expected_seq,
                BreakKind::Deleted,
                format!(
                    "the trail skips from #{} to #{}",
                    self.expected_seq - 1,
                    row.seq
                ),
            ));
        }
        if fields.prev_hash != self.prev_hash {
            if row.seq == 1 {
                return Ok(brk(
                    1,
                    BreakKind::Edited,
                    "the first entry does not start the chain",
                ));
            }
            return Ok(brk(
                row.seq - 1,
                BreakKind::Edited,
                format!(
                    "its hash is not the one entry #{} recorded for it (it was changed and re-hashed)",
                    row.seq
                ),
            ));
        }
        self.prev_hash.clone_from(&row.hash);
        self.expected_seq = row.seq + 1;
        Ok(None)
    }

    /// After the last row: checks the end of the chain against the head record.
    pub(crate) fn finish(&self) -> Option<Break> {
        let last = self.expected_seq - 1;
        match self.head {
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
            Some(h) if h.hash != self.prev_hash => brk(
                last,
                BreakKind::Edited,
                "the last entry's hash is not the one kiln last appended (it was changed and re-hashed)",
            ),
            Some(_) => None,
        }
    }
}
