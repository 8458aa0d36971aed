//! Clay-style ids (`t_…`, `r_…`): a prefix and a random-looking base62 suffix.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// splitmix64: a tiny, well-mixed generator; also the demo seed's PRNG.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A fresh id: unique within the process (counter) and across processes (clock).
pub(crate) fn new_id(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = mix(nanos ^ mix(n));
    let b = mix(a ^ n.rotate_left(17) ^ std::process::id() as u64);
    let mut out = String::with_capacity(prefix.len() + 16);
    out.push_str(prefix);
    for word in [a, b] {
        let mut w = word;
        for _ in 0..8 {
            out.push(ALPHABET[(w % 62) as usize] as char);
            w /= 62;
        }
    }
    out
}

/// A stable hash of text, for deterministic enrichment values.
pub(crate) fn hash_text(s: &str) -> u64 {
    s.bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| mix(h ^ b as u64))
}
