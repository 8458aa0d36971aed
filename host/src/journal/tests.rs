use super::*;

fn run<'a>(table: &'a str, dry_run: bool) -> NewRun<'a> {
    NewRun {
        plugin: "counter",
        plugin_sha256: "aa",
        plugin_spec: "tests/guests/counter",
        table_id: table,
        table_name: "Leads",
        options: RunOptions {
            rows_per_batch: 2,
            dry_run,
            config: Default::default(),
        },
        total_rows: 3,
    }
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_run_records_its_batches_and_reads_interrupted_once_its_owner_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("state.sqlite")).unwrap();
    let (a, b) = (ids(&["r_1", "r_2"]), ids(&["r_3"]));
    let active = journal.begin(run("t_1", false), &[&a, &b], false).unwrap();
    let id = active.id().to_string();
    assert_eq!(journal.get(&id).unwrap().unwrap().state, RunState::Running);
    active.computed(0, "{\"e\":1}").unwrap();
    active.applied(0, None).unwrap();
    let batches = journal.batches(&id).unwrap();
    assert_eq!(batches[0].state, BatchState::Applied);
    assert_eq!(batches[0].effects.as_deref(), Some("{\"e\":1}"));
    assert_eq!(
        (batches[1].state, batches[1].ids.clone()),
        (BatchState::Planned, b)
    );

    // Another run of the same plugin on the table is refused while this one is live…
    let err = journal.begin(run("t_1", false), &[&a], true).unwrap_err();
    assert!(matches!(err, JournalError::Live { .. }), "{err}");
    // …and, once its process is gone, refused unless forced.
    drop(active);
    let info = journal.get(&id).unwrap().unwrap();
    assert_eq!(
        (info.state, info.batches_applied),
        (RunState::Interrupted, 1)
    );
    let err = journal.begin(run("t_1", false), &[&a], false).unwrap_err();
    assert!(
        err.to_string().contains(&format!("kiln runs resume {id}")),
        "{err}"
    );
    // A dry run, or another table, is not held up by it.
    journal.begin(run("t_1", true), &[&a], false).unwrap();
    journal.begin(run("t_2", false), &[&a], false).unwrap();
}

#[test]
fn resume_takes_over_an_interrupted_run_only_with_the_same_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("state.sqlite")).unwrap();
    let a = ids(&["r_1"]);
    let id = {
        let active = journal.begin(run("t_1", false), &[&a], false).unwrap();
        active.id().to_string()
    };
    let err = journal.resume(&id, "bb").unwrap_err();
    assert!(matches!(err, JournalError::PluginChanged { .. }), "{err}");
    let (info, batches, active) = journal.resume(&id, "aa").unwrap();
    assert_eq!((info.state, batches.len()), (RunState::Running, 1));
    // A second process cannot take it while this one holds it.
    assert!(matches!(
        journal.resume(&id, "aa").unwrap_err(),
        JournalError::Live { .. }
    ));
    active.applied(0, Some("{}")).unwrap();
    active
        .end(RunState::Finished, "{\"rows\":1}", None)
        .unwrap();
    assert_eq!(
        journal.report(&id).unwrap().as_deref(),
        Some("{\"rows\":1}")
    );
    assert!(matches!(
        journal.resume(&id, "aa").unwrap_err(),
        JournalError::NotResumable { .. }
    ));
    assert!(matches!(
        journal.resume("run_nope", "aa").unwrap_err(),
        JournalError::NoSuchRun(_)
    ));
}

#[test]
fn forcing_a_new_run_abandons_the_unfinished_one() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("state.sqlite")).unwrap();
    let a = ids(&["r_1"]);
    let old = journal
        .begin(run("t_1", false), &[&a], false)
        .unwrap()
        .id()
        .to_string();
    let new = journal.begin(run("t_1", false), &[&a], true).unwrap();
    assert_eq!(
        journal.get(&old).unwrap().unwrap().state,
        RunState::Abandoned
    );
    assert_eq!(journal.list().unwrap()[0].id, new.id());
}
