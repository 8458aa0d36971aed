//! A trail full of huge entries (what a guest could leave before targets were bounded)
//! cannot take the host down when it is read: `entries` with a limit reads only those
//! entries, and `verify` walks the chain a row at a time. Own test binary, one test: the
//! peak resident size it measures must be this test's alone.

use std::time::{Duration, Instant};

use kiln_host::trail::{Filter, Outcome, Record, Trail};
use kiln_tests::{kiln_measured, status_bytes};

const ENTRIES: usize = 2_000;
const TARGET_BYTES: usize = 64 * 1024;
/// 2,000 × 64 KiB = 125 MiB of targets in the trail.
const TRAIL_BYTES: u64 = (ENTRIES * TARGET_BYTES) as u64;
/// What reading it may add to the host's peak: well under the trail's size.
const GROWTH_BOUND: u64 = 48 * 1024 * 1024;

fn record(i: usize) -> Record {
    // Distinct content per entry, so nothing can be shared or compressed away.
    let mut target = format!("r_{i:06}_");
    let fill = char::from(b'a' + (i % 26) as u8).to_string();
    target.push_str(&fill.repeat(TARGET_BYTES - target.len()));
    Record {
        at_ms: 1_700_000_000_000 + i as i64,
        plugin: "bomber".into(),
        plugin_sha256: "cd".repeat(32),
        invocation_id: "inv_bomb".into(),
        call: "tables.get".into(),
        targets: vec![target],
        outcome: Outcome::Ok,
        credits: 0.0,
    }
}

#[test]
fn a_trail_of_huge_entries_is_shown_and_verified_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let trail = Trail::open(&path).unwrap();
    // Written in small chunks: the test's own peak must stay below what it measures.
    for start in (0..ENTRIES).step_by(25) {
        let chunk: Vec<Record> = (start..start + 25).map(record).collect();
        trail.append_all(&chunk).unwrap();
    }
    let file = std::fs::metadata(&path).unwrap().len()
        + std::fs::metadata(dir.path().join("state.sqlite-wal")).map_or(0, |m| m.len());
    assert!(file >= TRAIL_BYTES, "the trail holds {file} bytes");

    let before = status_bytes("VmHWM:").unwrap();
    eprintln!("before: VmHWM {before}, VmRSS {:?}", status_bytes("VmRSS:"));
    let started = Instant::now();
    let latest = trail
        .entries(&Filter {
            limit: Some(3),
            ..Filter::default()
        })
        .unwrap();
    let seqs: Vec<u64> = latest.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1998, 1999, 2000]);
    assert!(latest[2].targets[0].starts_with("r_001999_"));
    drop(latest);
    // Filtered too (by name an index serves, by SHA-256 a scan): SQLite keeps only the limit.
    for filter in [
        Filter {
            plugin: Some("bomber".into()),
            limit: Some(3),
            ..Filter::default()
        },
        Filter {
            plugin_sha256: Some("cd".repeat(32)),
            since_ms: Some(1_700_000_000_000),
            limit: Some(3),
            ..Filter::default()
        },
    ] {
        assert_eq!(trail.entries(&filter).unwrap().len(), 3);
    }
    let v = trail.verify().unwrap();
    assert!(v.intact(), "{:?}", v.broken);
    assert_eq!(v.entries, ENTRIES as u64);
    let elapsed = started.elapsed();
    eprintln!("show+verify in-process: {elapsed:?}");
    let growth = status_bytes("VmHWM:").unwrap().saturating_sub(before);
    eprintln!("peak growth {growth} bytes");
    assert!(
        growth < GROWTH_BOUND,
        "reading a {TRAIL_BYTES}-byte trail raised the peak by {growth} bytes (bound {GROWTH_BOUND})"
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    drop(trail);

    // The CLI the same way, as its own process.
    let out = kiln_measured(&path, None, &["trail", "show", "--limit", "3"]);
    let peak = out.peak_rss_mib << 20;
    eprintln!("kiln trail show peak {peak}");
    let shown = &out.stdout;
    assert!(out.success, "{shown}\n{}", out.stderr);
    assert_eq!(shown.matches("tables.get").count(), 3, "{shown}");
    // Targets are cut short for the table, saying how long they were.
    assert!(shown.contains("(65536 bytes)"), "{shown}");
    assert!(shown.len() < 8 * 1024, "{} bytes printed", shown.len());
    assert!(
        peak < GROWTH_BOUND + 32 * 1024 * 1024,
        "`kiln trail show --limit 3` peaked at {peak} bytes"
    );
    let out = kiln_measured(&path, None, &["trail", "verify"]);
    let peak = out.peak_rss_mib << 20;
    eprintln!("kiln trail verify peak {peak}");
    let said = &out.stdout;
    assert!(out.success, "{said}");
    assert!(said.contains("intact: 2000 entries"), "{said}");
    assert!(
        peak < GROWTH_BOUND + 32 * 1024 * 1024,
        "`kiln trail verify` peaked at {peak} bytes"
    );
}
