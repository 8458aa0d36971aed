use rusqlite::{Connection, params};

use super::chain::{self, Fields};
use super::*;

fn record(i: usize) -> Record {
    Record {
        at_ms: 1_700_000_000_000 + i as i64,
        plugin: "p".into(),
        plugin_sha256: "ab".repeat(32),
        invocation_id: "inv_1".into(),
        call: format!("tables.get#{i}"),
        targets: vec![format!("t_{i}")],
        outcome: if i.is_multiple_of(2) {
            Outcome::Ok
        } else {
            Outcome::from_clay(&ClayError::Denied("no".into()))
        },
        credits: i as f64 * 0.5,
    }
}

/// A trail of `n` entries in a fresh file, and a second connection to tamper with it.
fn trail(n: usize) -> (tempfile::TempDir, Trail, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let trail = Trail::open(&path).unwrap();
    let records: Vec<Record> = (1..=n).map(record).collect();
    trail.append_all(&records).unwrap();
    let conn = Connection::open(&path).unwrap();
    (dir, trail, conn)
}

fn broken(trail: &Trail) -> Break {
    trail
        .verify()
        .unwrap()
        .broken
        .expect("tampering must be detected")
}

/// Rewrites `seq` of a row (moving it), via a free slot so the primary key never collides.
fn move_row(conn: &Connection, from: u64, to: u64) {
    conn.execute(
        "UPDATE kiln_trail SET seq = ?2 WHERE seq = ?1",
        params![from as i64, to as i64],
    )
    .unwrap();
}

#[test]
fn an_untouched_trail_verifies_and_chains() {
    let (_d, trail, _c) = trail(5);
    let v = trail.verify().unwrap();
    assert!(v.intact(), "{:?}", v.broken);
    assert_eq!(v.entries, 5);
    let entries = trail.entries(&Filter::default()).unwrap();
    assert_eq!(entries[0].prev_hash, GENESIS);
    for w in entries.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    assert_eq!(v.head, entries[4].hash);
    assert_eq!(entries[0].outcome, "error:denied");
    assert_eq!(entries[0].message.as_deref(), Some("denied: no"));
    assert_eq!(
        (entries[1].outcome.as_str(), entries[1].message.as_deref()),
        ("ok", None)
    );
    // Appending later goes on from the head.
    let more = trail.append(record(6)).unwrap();
    assert_eq!(more.seq, 6);
    assert_eq!(more.prev_hash, entries[4].hash);
    assert!(trail.verify().unwrap().intact());
}

#[test]
fn an_empty_trail_verifies() {
    let (_d, trail, _c) = trail(0);
    let v = trail.verify().unwrap();
    assert!(v.intact());
    assert_eq!((v.entries, v.head.as_str()), (0, GENESIS));
}

#[test]
fn an_edited_entry_is_named() {
    let (_d, trail, conn) = trail(6);
    conn.execute(
        "UPDATE kiln_trail SET outcome = 'error:denied' WHERE seq = 4",
        [],
    )
    .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (4, BreakKind::Edited), "{b}");
}

#[test]
fn edits_to_every_column_are_caught() {
    for (column, value) in [
        ("at_ms", "1"),
        ("plugin", "'q'"),
        ("plugin_sha256", "'00'"),
        ("invocation_id", "'inv_2'"),
        ("call", "'tables.count-rows'"),
        ("targets", "'[]'"),
        ("message", "NULL"),
        ("credits", "0"),
    ] {
        let (_d, trail, conn) = trail(5);
        conn.execute(
            &format!("UPDATE kiln_trail SET {column} = {value} WHERE seq = 3"),
            [],
        )
        .unwrap();
        let b = broken(&trail);
        assert_eq!((b.seq, b.kind), (3, BreakKind::Edited), "{column}: {b}");
    }
}

#[test]
fn an_unreadable_entry_is_an_edit() {
    let (_d, trail, conn) = trail(4);
    conn.execute("UPDATE kiln_trail SET targets = 'nope' WHERE seq = 2", [])
        .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (2, BreakKind::Edited), "{b}");
}

#[test]
fn an_edit_that_rehashes_the_entry_is_caught_by_the_next_one() {
    let (_d, trail, conn) = trail(5);
    let mut f = stored_fields(&conn, 3);
    f.outcome = "ok".into();
    f.message = None;
    conn.execute(
        "UPDATE kiln_trail SET outcome = 'ok', message = NULL, hash = ?1 WHERE seq = 3",
        [chain::hash(&f)],
    )
    .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (3, BreakKind::Edited), "{b}");
}

#[test]
fn a_rehashed_edit_of_the_last_entry_is_caught_by_the_head() {
    let (_d, trail, conn) = trail(5);
    let mut f = stored_fields(&conn, 5);
    f.credits = 0.0;
    conn.execute(
        "UPDATE kiln_trail SET credits = 0, hash = ?1 WHERE seq = 5",
        [chain::hash(&f)],
    )
    .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (5, BreakKind::Edited), "{b}");
}

#[test]
fn a_deleted_entry_is_named() {
    let (_d, trail, conn) = trail(6);
    conn.execute("DELETE FROM kiln_trail WHERE seq = 3", [])
        .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (3, BreakKind::Deleted), "{b}");
}

#[test]
fn a_deleted_first_entry_is_named() {
    let (_d, trail, conn) = trail(3);
    conn.execute("DELETE FROM kiln_trail WHERE seq = 1", [])
        .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (1, BreakKind::Deleted), "{b}");
}

#[test]
fn deleting_the_last_entries_is_caught_by_the_head() {
    let (_d, trail, conn) = trail(6);
    conn.execute("DELETE FROM kiln_trail WHERE seq >= 5", [])
        .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (5, BreakKind::Deleted), "{b}");
}

#[test]
fn a_deletion_with_later_entries_renumbered_is_named() {
    let (_d, trail, conn) = trail(6);
    conn.execute("DELETE FROM kiln_trail WHERE seq = 3", [])
        .unwrap();
    for seq in 4..=6 {
        move_row(&conn, seq, seq - 1);
    }
    conn.execute("UPDATE kiln_trail_head SET seq = 5", [])
        .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (3, BreakKind::Deleted), "{b}");
}

#[test]
fn a_reordered_pair_is_named() {
    let (_d, trail, conn) = trail(6);
    move_row(&conn, 3, 100);
    move_row(&conn, 4, 3);
    move_row(&conn, 100, 4);
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (3, BreakKind::Reordered), "{b}");
}

#[test]
fn moving_the_first_entry_later_is_a_reorder() {
    let (_d, trail, conn) = trail(4);
    move_row(&conn, 1, 100);
    move_row(&conn, 2, 1);
    move_row(&conn, 100, 2);
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (1, BreakKind::Reordered), "{b}");
}

#[test]
fn an_inserted_entry_is_named_even_with_a_valid_hash() {
    let (_d, trail, conn) = trail(5);
    // The forger knows the encoding: their entry chains correctly onto #2.
    for seq in (3..=5).rev() {
        move_row(&conn, seq, seq + 1);
    }
    let prev = stored_fields(&conn, 2);
    let mut forged = prev.clone();
    forged.seq = 3;
    forged.call = "tables.get".into();
    forged.prev_hash = chain::hash(&prev);
    insert_fields(&conn, &forged);
    conn.execute("UPDATE kiln_trail_head SET seq = 6", [])
        .unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (3, BreakKind::Inserted), "{b}");
}

#[test]
fn a_forged_entry_with_a_made_up_hash_is_an_insertion() {
    let (_d, trail, conn) = trail(5);
    for seq in (3..=5).rev() {
        move_row(&conn, seq, seq + 1);
    }
    let mut forged = stored_fields(&conn, 2);
    forged.seq = 3;
    forged.prev_hash = "f".repeat(64);
    insert_fields_with_hash(&conn, &forged, &"e".repeat(64));
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (3, BreakKind::Inserted), "{b}");
}

#[test]
fn an_entry_appended_behind_kilns_back_is_an_insertion() {
    let (_d, trail, conn) = trail(4);
    let prev = stored_fields(&conn, 4);
    let mut forged = prev.clone();
    forged.seq = 5;
    forged.prev_hash = chain::hash(&prev);
    insert_fields(&conn, &forged);
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (5, BreakKind::Inserted), "{b}");
}

#[test]
fn tampering_stays_evident_after_more_appends() {
    let (_d, trail, conn) = trail(4);
    conn.execute("DELETE FROM kiln_trail WHERE seq = 4", [])
        .unwrap();
    trail.append(record(9)).unwrap();
    let b = broken(&trail);
    assert_eq!((b.seq, b.kind), (4, BreakKind::Deleted), "{b}");
}

#[test]
fn concurrent_writers_never_fork_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    Trail::open(&path).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let path = path.clone();
            s.spawn(move || {
                // Each thread its own connection, as separate processes would have.
                let trail = Trail::open(&path).unwrap();
                for i in 0..25 {
                    trail.append(record(t * 100 + i)).unwrap();
                }
            });
        }
    });
    let v = Trail::open(&path).unwrap().verify().unwrap();
    assert!(v.intact(), "{:?}", v.broken);
    assert_eq!(v.entries, 100);
}

#[test]
fn a_recorder_writes_the_invocation_and_its_calls() {
    let (_d, trail, _c) = trail(0);
    {
        let mut rec = Recorder::start(trail.clone(), "p", "sha", "inv_x".into());
        rec.begin("tables.get".into(), vec!["t_1".into()]);
        rec.finish(Outcome::Ok, 0.0);
        rec.record(
            "tables.add-rows".into(),
            vec!["t_1".into()],
            Outcome::from_clay(&ClayError::Denied("write".into())),
            0.0,
        );
        // Cut short mid-call by a deadline.
        rec.begin(
            "tables.read-records".into(),
            vec!["t_1".into(), "r_1".into()],
        );
        rec.ended_by(Outcome::Limit {
            name: "deadline".into(),
            message: "ran past its deadline".into(),
        });
    }
    let filter = Filter {
        invocation_id: Some("inv_x".into()),
        ..Filter::default()
    };
    let got: Vec<(String, String)> = trail
        .entries(&filter)
        .unwrap()
        .into_iter()
        .map(|e| (e.call, e.outcome))
        .collect();
    let want = [
        ("invocation.start", "ok"),
        ("tables.get", "ok"),
        ("tables.add-rows", "error:denied"),
        ("tables.read-records", "limit:deadline"),
        ("invocation.end", "limit:deadline"),
    ];
    assert_eq!(
        got,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    assert!(trail.verify().unwrap().intact());
}

fn stored_fields(conn: &Connection, seq: u64) -> Fields {
    conn.query_row(
        "SELECT at_ms, plugin, plugin_sha256, invocation_id, call, targets, outcome, message,
                credits, prev_hash FROM kiln_trail WHERE seq = ?1",
        [seq as i64],
        |r| {
            Ok(Fields {
                seq,
                at_ms: r.get(0)?,
                plugin: r.get(1)?,
                plugin_sha256: r.get(2)?,
                invocation_id: r.get(3)?,
                call: r.get(4)?,
                targets: serde_json::from_str(&r.get::<_, String>(5)?).unwrap(),
                outcome: r.get(6)?,
                message: r.get(7)?,
                credits: r.get(8)?,
                prev_hash: r.get(9)?,
            })
        },
    )
    .unwrap()
}

fn insert_fields(conn: &Connection, f: &Fields) {
    insert_fields_with_hash(conn, f, &chain::hash(f));
}

fn insert_fields_with_hash(conn: &Connection, f: &Fields, hash: &str) {
    conn.execute(
        "INSERT INTO kiln_trail(seq, at_ms, plugin, plugin_sha256, invocation_id, call, targets,
                                outcome, message, credits, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            f.seq as i64,
            f.at_ms,
            f.plugin,
            f.plugin_sha256,
            f.invocation_id,
            f.call,
            serde_json::to_string(&f.targets).unwrap(),
            f.outcome,
            f.message,
            f.credits,
            f.prev_hash,
            hash
        ],
    )
    .unwrap();
}

#[test]
fn a_limit_returns_the_latest_entries_oldest_first() {
    let (_d, trail, _c) = trail(10);
    let seqs = |filter: Filter| -> Vec<u64> {
        trail
            .entries(&filter)
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect()
    };
    let latest = |n| Filter {
        limit: Some(n),
        ..Filter::default()
    };
    assert_eq!(seqs(latest(3)), [8, 9, 10]);
    assert_eq!(seqs(latest(0)), Vec::<u64>::new());
    assert_eq!(seqs(latest(usize::MAX)).len(), 10);
    assert_eq!(
        seqs(Filter {
            since_ms: Some(1_700_000_000_000 + 4),
            limit: Some(100),
            ..Filter::default()
        }),
        (4..=10).collect::<Vec<_>>()
    );
    assert_eq!(trail.components_named("p").unwrap(), 1);
    assert_eq!(trail.components_named("nobody").unwrap(), 0);
}
