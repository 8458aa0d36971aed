//! What a guest may pass to one host call, and what the trail keeps of it.
//!
//! Every cap on a host call's arguments lives here, so host work per call is bounded by
//! these numbers and not by whatever a guest chose to send. A call over a cap fails with a
//! `clay-error` `invalid` naming the cap, before the backend sees it.
//!
//! [`Targets`] is how a capability names the ids a call touches, for the trail. It is
//! built from borrowed arguments and keeps only the first few ids, each cut short, plus the
//! count and a SHA-256 of the full list: a guest passing millions of ids (or one 32 MiB key)
//! in each of many calls costs the trail a few KiB per call, not a copy of the arguments.

use sha2::{Digest, Sha256};

use crate::trail::{HASHED_BYTES, bounded};

/// Ids (records, fields, owners, folders…) one host call may name.
pub const MAX_IDS_PER_CALL: usize = 10_000;
/// Bytes of one id or key a guest passes (Clay's ids are tens of bytes).
pub const MAX_ID_BYTES: usize = 1024;
/// Bytes of free text a guest passes in one argument (a name, a search query).
pub const MAX_TEXT_BYTES: usize = 64 << 10;
/// Members one `member-usage` call may ask about: each is a Clay request of its own.
pub const MAX_MEMBER_USAGE_IDS: usize = 500;

/// Targets one trail entry stores whole; the rest are counted and hashed.
pub const TRAIL_TARGETS: usize = 32;
/// Bytes of one stored target (or message) before it is cut short and hashed.
pub const TRAIL_TARGET_BYTES: usize = 256;
/// The ids a call names, bounded for the trail, and the first argument cap it broke.
#[derive(Default)]
pub struct Targets {
    kept: Vec<String>,
    total: usize,
    /// Over every target, length-prefixed, so the full list is pinned by the entry.
    digest: Sha256,
    over_cap: Option<String>,
}

impl Targets {
    pub fn new() -> Self {
        Self::default()
    }

    /// One id or key.
    pub fn id(mut self, id: &str) -> Self {
        self.push(id);
        self
    }

    /// A list of ids; at most [`MAX_IDS_PER_CALL`].
    pub fn ids(mut self, what: &str, ids: &[String]) -> Self {
        if ids.len() > MAX_IDS_PER_CALL {
            self.broke(format!(
                "{} {what} named in one call; a host call may name at most {MAX_IDS_PER_CALL} (MAX_IDS_PER_CALL)",
                ids.len()
            ));
        }
        for id in ids {
            self.push(id);
        }
        self
    }

    /// A list whose items are not ids (rows to add); at most [`MAX_IDS_PER_CALL`] of them.
    pub fn count(mut self, what: &str, n: usize) -> Self {
        if n > MAX_IDS_PER_CALL {
            self.broke(format!(
                "{n} {what} in one call; a host call takes at most {MAX_IDS_PER_CALL} (MAX_IDS_PER_CALL)"
            ));
        }
        self
    }

    /// A list whose length sets the host's own work (one backend request per item), with a
    /// cap of its own below the id cap.
    pub fn at_most(mut self, what: &str, n: usize, cap: usize) -> Self {
        if n > cap {
            self.broke(format!(
                "{n} {what} in one call; this call takes at most {cap} (one Clay request each)"
            ));
        }
        self
    }

    /// Free text that is checked against [`MAX_TEXT_BYTES`] but not recorded.
    pub fn text(mut self, what: &str, text: &str) -> Self {
        if text.len() > MAX_TEXT_BYTES {
            self.broke(format!(
                "the {what} is {} bytes; a host call takes at most {MAX_TEXT_BYTES} (MAX_TEXT_BYTES)",
                text.len()
            ));
        }
        self
    }

    pub fn push(&mut self, id: &str) {
        if id.len() > MAX_ID_BYTES {
            self.broke(format!(
                "an id or key of {} bytes; a host call takes at most {MAX_ID_BYTES} (MAX_ID_BYTES)",
                id.len()
            ));
        }
        self.total += 1;
        // Past the cap the call is refused: the digest covers what a call may name.
        if self.total <= MAX_IDS_PER_CALL + 2 {
            self.digest.update((id.len() as u64).to_be_bytes());
            self.digest
                .update(&id.as_bytes()[..id.len().min(HASHED_BYTES)]);
        }
        if self.kept.len() < TRAIL_TARGETS {
            self.kept.push(bounded(id, TRAIL_TARGET_BYTES));
        }
    }

    fn broke(&mut self, why: String) {
        self.over_cap.get_or_insert(why);
    }

    /// Why the call's arguments are refused, if they are.
    pub fn over_cap(&self) -> Option<&str> {
        self.over_cap.as_deref()
    }

    /// What the trail stores: the kept targets, then — when some were left out — one
    /// `…+N more` entry with the total count and the SHA-256 of the full list.
    pub fn into_stored(self) -> Vec<String> {
        let mut kept = self.kept;
        if self.total > kept.len() {
            let of = if self.total > MAX_IDS_PER_CALL + 2 {
                format!(" of the first {}", MAX_IDS_PER_CALL + 2)
            } else {
                String::new()
            };
            kept.push(format!(
                "…+{} more ({} targets, sha256{of}:{})",
                self.total - kept.len(),
                self.total,
                hex::encode(self.digest.finalize())
            ));
        }
        kept
    }
}

impl From<Vec<String>> for Targets {
    fn from(ids: Vec<String>) -> Self {
        let mut t = Targets::new();
        for id in &ids {
            t.push(id);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_lists_and_strings_are_stored_bounded() {
        let ids: Vec<String> = (0..100_000).map(|i| format!("r_{i}")).collect();
        let t = Targets::new()
            .id(&"k".repeat(1 << 20))
            .ids("record ids", &ids);
        // The first cap broken is the one named.
        assert!(t.over_cap().unwrap().contains("MAX_ID_BYTES"));
        let stored = t.into_stored();
        assert_eq!(stored.len(), TRAIL_TARGETS + 1);
        assert!(
            stored[0].len() < TRAIL_TARGET_BYTES + 128,
            "{}",
            stored[0].len()
        );
        assert!(
            stored[0].contains("1048576 bytes, sha256:"),
            "{}",
            stored[0]
        );
        assert!(stored.last().unwrap().contains("100001 targets"));
        let total: usize = stored.iter().map(String::len).sum();
        assert!(total < 16 << 10, "{total}");
    }

    #[test]
    fn too_many_ids_name_the_cap() {
        let ids: Vec<String> = (0..=MAX_IDS_PER_CALL).map(|i| i.to_string()).collect();
        let t = Targets::new().ids("owner ids", &ids);
        assert!(t.over_cap().unwrap().contains("10001 owner ids"));
        assert!(t.over_cap().unwrap().contains("MAX_IDS_PER_CALL"));
        let ok: Vec<String> = ids[..MAX_IDS_PER_CALL].to_vec();
        assert!(Targets::new().ids("owner ids", &ok).over_cap().is_none());
    }

    #[test]
    fn small_lists_are_stored_whole() {
        let t = Targets::new()
            .id("t_1")
            .ids("record ids", &["r_1".into(), "r_2".into()]);
        assert!(t.over_cap().is_none());
        assert_eq!(t.into_stored(), ["t_1", "r_1", "r_2"]);
        assert_eq!(
            bounded("héllo", 2),
            format!(
                "h…[6 bytes, sha256:{}]",
                hex::encode(Sha256::digest("héllo"))
            )
        );
    }
}
