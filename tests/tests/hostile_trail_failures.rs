//! The trail is not optional: a guest waiting on the host still ends at its deadline, and a
//! trail that cannot be written stops the invocation with a typed error instead of letting
//! it go on (or report success) unrecorded.

use std::time::{Duration, Instant};

use kiln_host::invocation::{
    AuditOptions, InvocationErrorKind, InvocationOptions, Limits, TransformError, TransformOptions,
    run_audit, run_transform,
};
use kiln_host::trail::{Filter, Trail};
use kiln_tests::{DemoWorkspace, NOW, hostile, hostile_trail, runtime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_keeps_the_host_busy_still_ends_at_its_deadline() {
    let ws = DemoWorkspace::new();
    let rt = runtime();
    let plugin = rt.load_file(&hostile_trail()).await.unwrap();
    let started = Instant::now();
    let err = run_audit(
        &plugin,
        ws.backend(),
        AuditOptions {
            now: Some(NOW),
            invocation: InvocationOptions {
                config: [("mode".to_string(), "owner-loop".to_string())].into(),
                limits: Some(Limits {
                    deadline: Duration::from_secs(1),
                    ..Limits::default()
                }),
                trail: Some(Trail::open(&ws.path).unwrap()),
                ..InvocationOptions::default()
            },
            ..AuditOptions::default()
        },
    )
    .await
    .expect_err("the deadline ends it");
    let elapsed = started.elapsed();
    assert!(
        err.to_string().contains("deadline of 1000 ms"),
        "a typed deadline error: {err}"
    );
    // Generous for a loaded machine; before, a slow host call ran 41.8 s past a 1 s deadline.
    assert!(elapsed < Duration::from_secs(15), "ended after {elapsed:?}");
    let end = Trail::open(&ws.path)
        .unwrap()
        .entries(&Filter {
            plugin: Some("hostile-trail".into()),
            ..Filter::default()
        })
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.call == "invocation.end")
        .expect("the end is recorded");
    assert_eq!(end.outcome, "limit:deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_that_cannot_be_written_stops_the_run_and_changes_nothing() {
    let ws = DemoWorkspace::new();
    let rt = runtime();
    let plugin = rt.load_file(&hostile()).await.unwrap();
    let trail = Trail::open(&ws.path).unwrap();
    // The disk "fills up": every write to the trail fails from here on.
    rusqlite::Connection::open(&ws.path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER trail_full BEFORE INSERT ON kiln_trail
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    let (_, before) = ws.local.export_rows("Leads").unwrap();
    let result = run_transform(
        &plugin,
        ws.backend(),
        "Leads",
        TransformOptions {
            invocation: InvocationOptions {
                config: [("mode".to_string(), "mark".to_string())].into(),
                trail: Some(trail),
                ..InvocationOptions::default()
            },
            ..TransformOptions::default()
        },
    )
    .await;
    match result {
        Err(TransformError::Invocation(e)) => {
            assert!(
                matches!(e.kind, InvocationErrorKind::Trail(_)),
                "a typed trail error: {e}"
            );
            assert!(e.to_string().contains("disk is full"), "{e}");
        }
        Ok(report) => match &report.failure {
            Some(f) => assert!(f.error.contains("audit trail"), "{f:?}"),
            None => panic!("a run with an unwritable trail reported success: {report:?}"),
        },
        Err(e) => panic!("the wrong error: {e}"),
    }
    assert_eq!(
        ws.local.export_rows("Leads").unwrap().1,
        before,
        "nothing was applied unrecorded"
    );
}
