//! What one trail entry may store of what a guest passed. Ids and keys come from the guest
//! and can be megabytes each and millions long; an entry keeps the first few, cut short,
//! plus the count and a hash of the whole list, so it still identifies what was named
//! without the host ever holding (or the file ever growing by) more than a few KiB per call.

use sha2::{Digest, Sha256};

/// Targets an entry lists one by one; the rest are summed up in one more target.
pub const MAX_TARGETS: usize = 16;
/// Bytes of one target kept as it is; a longer one is cut and carries its length and hash.
pub const MAX_TARGET_BYTES: usize = 256;
/// Bytes of an outcome's message kept (messages can quote guest-chosen ids).
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// `s` cut at a char boundary to at most `max` bytes.
pub fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One target as the trail stores it: whole when short, else its start, length and hash.
pub fn target(s: &str) -> String {
    if s.len() <= MAX_TARGET_BYTES {
        return s.to_string();
    }
    let digest = hex::encode(Sha256::digest(s.as_bytes()));
    format!(
        "{}… ({} bytes, sha256 {digest})",
        prefix(s, MAX_TARGET_BYTES),
        s.len()
    )
}

/// A message as the trail stores it.
pub fn message(s: &str) -> String {
    if s.len() <= MAX_MESSAGE_BYTES {
        return s.to_string();
    }
    format!("{}… ({} bytes)", prefix(s, MAX_MESSAGE_BYTES), s.len())
}

/// The targets of a call naming `ids`: the first [`MAX_TARGETS`], each bounded, then — when
/// there are more — one target with the count and the SHA-256 of the whole list. Reads each
/// id once and copies at most the bounded part.
pub fn targets<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut hasher = Sha256::new();
    let mut count = 0usize;
    for id in ids {
        count += 1;
        // Length-prefixed, so ["ab","c"] and ["a","bc"] hash apart.
        hasher.update((id.len() as u64).to_le_bytes());
        hasher.update(id.as_bytes());
        if out.len() < MAX_TARGETS {
            out.push(target(id));
        }
    }
    if count > MAX_TARGETS {
        out.push(format!(
            "… {} more ({count} in all, sha256 {})",
            count - MAX_TARGETS,
            hex::encode(hasher.finalize())
        ));
    }
    out
}

/// Bytes an entry's variable parts take, for flushing by size.
pub fn weight(targets: &[String], message: Option<&str>) -> usize {
    targets.iter().map(String::len).sum::<usize>() + message.map_or(0, str::len) + 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lists_are_kept_as_they_are() {
        assert_eq!(targets(["t_1", "r_2"]), vec!["t_1", "r_2"]);
    }

    #[test]
    fn long_lists_keep_a_head_count_and_hash() {
        let ids: Vec<String> = (0..1000).map(|i| format!("r_{i}")).collect();
        let t = targets(ids.iter().map(String::as_str));
        assert_eq!(t.len(), MAX_TARGETS + 1);
        assert_eq!(t[0], "r_0");
        assert!(t[MAX_TARGETS].contains("1000 in all"), "{}", t[MAX_TARGETS]);
        let other: Vec<String> = (0..1000).map(|i| format!("r_{}", i + 1)).collect();
        let u = targets(other.iter().map(String::as_str));
        assert_ne!(
            t[MAX_TARGETS], u[MAX_TARGETS],
            "the hash covers the whole list"
        );
    }

    #[test]
    fn a_huge_id_is_cut_and_hashed() {
        let id = "é".repeat(1 << 20);
        let t = target(&id);
        assert!(t.len() < MAX_TARGET_BYTES + 128, "{}", t.len());
        assert!(t.contains(&format!("{} bytes", id.len())));
    }
}
