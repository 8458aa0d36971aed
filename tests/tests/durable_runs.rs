//! Durable runs: a real `kiln run` process with a plugin whose effect is not idempotent (it
//! adds one to a counter) is killed with SIGKILL at several points and resumed until it
//! finishes; every row's counter must then be exactly 1. On the embedded workspace and over
//! HTTP against the simulator with injected faults, where the kills include the window
//! between a batch's effects being journaled and their being applied.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_host::sim::Faults;
use kiln_tests::{DemoWorkspace, add_counts_table, counter, counters, start_sim, test_http_config};
use secrecy::ExposeSecret as _;

const ROWS: usize = 20_000;
const BATCH: usize = 250;

fn assert_every_row_counted_once(counts: &[(String, Option<f64>)]) {
    assert_eq!(counts.len(), ROWS);
    assert_each_once(counts);
}

fn assert_each_once(counts: &[(String, Option<f64>)]) {
    let wrong: Vec<_> = counts.iter().filter(|(_, c)| *c != Some(1.0)).collect();
    assert!(
        wrong.is_empty(),
        "{} rows do not count exactly 1, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

/// A batch state count of the newest run in `state`, read the way another process would.
fn progress(state: &Path) -> Option<(String, u64, u64)> {
    let conn =
        rusqlite::Connection::open_with_flags(state, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.busy_timeout(Duration::from_secs(5)).ok()?;
    conn.query_row(
        "SELECT r.id,
           (SELECT count(*) FROM kiln_run_batches b WHERE b.run_id = r.id AND b.state = 'applied'),
           (SELECT count(*) FROM kiln_run_batches b WHERE b.run_id = r.id AND b.state = 'computed')
         FROM kiln_runs r ORDER BY r.started_ms DESC LIMIT 1",
        [],
        |r| {
            Ok((
                r.get(0)?,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
            ))
        },
    )
    .ok()
}

/// Where to kill a run.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once this many batches are applied, after a jitter of up to 20 ms (so the kill lands
    /// anywhere in the batches that follow).
    Applied(u64),
    /// While a batch's effects are journaled but not yet marked applied.
    Computed,
}

/// Lets `child` run until `at`, then SIGKILLs it. Returns the run id it was on, and whether
/// it was killed (false: it finished first).
fn kill_at(mut child: Child, state: &Path, at: KillAt, jitter_seed: u64) -> (Option<String>, bool) {
    let started = Instant::now();
    let mut run = None;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read as _;
                let _ = e.read_to_string(&mut err);
            }
            assert!(
                status.success(),
                "the run failed before it was killed: {err}"
            );
            return (run.or_else(|| progress(state).map(|p| p.0)), false);
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the run neither finished nor reached {at:?}"
        );
        if let Some((id, applied, computed)) = progress(state) {
            run = Some(id);
            let due = match at {
                KillAt::Applied(n) => applied >= n,
                KillAt::Computed => computed > 0,
            };
            if due {
                if let KillAt::Applied(_) = at {
                    std::thread::sleep(Duration::from_millis(jitter_seed % 20));
                }
                // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no goodbye.
                child.kill().unwrap();
                child.wait().unwrap();
                return (run, true);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    eprintln!("kill jitter seed: {nanos}");
    nanos
}

struct Kiln {
    home: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Kiln {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = kiln_tests::kiln_in(&self.home);
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)))
            .args(&self.args)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    fn output(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped());
        cmd.output().unwrap()
    }
}

/// Starts the run, kills it at each of `kills`, resuming in between, then resumes it to the
/// end. Returns the run id.
fn run_through_kills(kiln: &Kiln, state: &Path, wasm: &Path, kills: &[KillAt]) -> String {
    let seed = seed();
    let batch = BATCH.to_string();
    let start = [
        "run",
        wasm.to_str().unwrap(),
        "--table",
        "Counts",
        "--batch-size",
        &batch,
    ];
    let mut id: Option<String> = None;
    let mut killed = 0;
    for (i, at) in kills.iter().enumerate() {
        let child = match &id {
            None => kiln.command(&start).spawn().unwrap(),
            Some(id) => kiln.command(&["runs", "resume", id]).spawn().unwrap(),
        };
        let (run, was_killed) = kill_at(child, state, *at, seed.rotate_left(i as u32 * 7));
        id = run.or(id);
        if !was_killed {
            break;
        }
        killed += 1;
        if i == 0 {
            // An interrupted run holds the table: a new run of the plugin is refused,
            // naming the way out.
            let out = kiln.output(&start);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success());
            assert!(
                err.contains("unfinished run") && err.contains("kiln runs resume"),
                "{err}"
            );
        }
    }
    assert!(killed >= 2, "the run was killed only {killed} times");
    let id = id.expect("a run was journaled");
    let out = kiln.output(&["runs", "resume", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    id
}

fn shown(kiln: &Kiln, id: &str) -> serde_json::Value {
    let out = kiln.output(&["runs", "show", id, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_again_and_again_on_the_workspace_counts_every_row_once() {
    let ws = DemoWorkspace::new();
    add_counts_table(ws.dir.path(), &ws.local, ROWS);
    let kiln = Kiln {
        home: ws.dir.path().to_path_buf(),
        args: vec!["--workspace".into(), ws.path.display().to_string()],
        envs: vec![],
    };
    let wasm = counter();
    let path = ws.path.clone();
    let (kiln, id) = tokio::task::spawn_blocking(move || {
        let id = run_through_kills(
            &kiln,
            &path,
            &wasm,
            &[
                KillAt::Applied(5),
                KillAt::Applied(23),
                KillAt::Applied(41),
                KillAt::Applied(60),
            ],
        );
        (kiln, id)
    })
    .await
    .unwrap();
    assert_every_row_counted_once(&counters(&ws.path).await);

    let shown = shown(&kiln, &id);
    assert_eq!(shown["run"]["state"], "finished", "{shown}");
    let report = &shown["report"];
    assert_eq!(report["rows_seen"], ROWS, "{report:#}");
    assert_eq!(report["rows_changed"], ROWS);
    assert!(report["batches_resumed"].as_u64().unwrap() >= 60);
    // On the workspace, effects and their mark commit together: nothing is ever left
    // journaled but unapplied, so nothing is applied again.
    assert_eq!(report["batches_reapplied"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_over_http_killed_between_journaling_and_applying_counts_every_row_once() {
    let ws = DemoWorkspace::new();
    add_counts_table(ws.dir.path(), &ws.local, ROWS);
    // Answers that fail (some after applying the request), rate limits, and latency that
    // keeps a batch's writes in flight long enough to be killed during them.
    let sim = start_sim(
        &ws.local,
        Faults {
            server_errors: 0.03,
            rate_limited: 0.03,
            dropped: 0.01,
            latency: Duration::from_millis(3),
            seed: 12,
            ..Faults::default()
        },
    )
    .await;
    let email = kiln_tests::actor_email(&ws.local).await;
    let creds = kiln_host::backend::http::login(
        &test_http_config(&sim.url()),
        &email,
        &secrecy::SecretString::from(kiln_tests::SIM_PASSWORD.to_string()),
    )
    .await
    .unwrap();
    let cookie = creds.session_value().unwrap().expose_secret().to_string();
    let state = ws.dir.path().join("state.sqlite");
    let kiln = Kiln {
        home: ws.dir.path().to_path_buf(),
        args: vec![
            "--backend".into(),
            "http".into(),
            "--clay-url".into(),
            sim.url(),
            "--state".into(),
            state.display().to_string(),
        ],
        envs: vec![("CLAY_SESSION_COOKIE".into(), cookie)],
    };
    let wasm = counter();
    let state_file = state.clone();
    let (kiln, id) = tokio::task::spawn_blocking(move || {
        let id = run_through_kills(
            &kiln,
            &state_file,
            &wasm,
            &[KillAt::Computed, KillAt::Applied(30), KillAt::Computed],
        );
        (kiln, id)
    })
    .await
    .unwrap();
    assert_every_row_counted_once(&counters(&ws.path).await);

    let shown = shown(&kiln, &id);
    assert_eq!(shown["run"]["state"], "finished", "{shown}");
    let report = &shown["report"];
    assert_eq!(report["rows_changed"], ROWS, "{report:#}");
    // The batches killed between journaling and applying were applied from the journal,
    // not recomputed (a recomputation would have counted 2 where they had landed).
    assert!(
        report["batches_reapplied"].as_u64().unwrap() >= 1,
        "{report:#}"
    );
    assert!(sim.fault_stats().server_errors > 0, "faults were injected");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_library_resumes_a_run_only_with_the_plugin_that_started_it() {
    use kiln_host::invocation::{Journaling, TransformOptions, run_transform};
    use kiln_host::journal::{Journal, JournalError, NewRun, RunOptions, RunState};

    let ws = DemoWorkspace::new();
    add_counts_table(ws.dir.path(), &ws.local, 300);
    let runtime = kiln_tests::runtime();
    let counter = runtime.load_file(&counter()).await.unwrap();
    let other = runtime
        .load_file(&kiln_tests::normalize_contacts())
        .await
        .unwrap();
    let backend = ws.backend();
    let table = backend.resolve_table("Counts").await.unwrap();
    let ids = backend
        .record_ids(&table.id, &table.views[0].id)
        .await
        .unwrap();
    let journal = Journal::open(&ws.path).unwrap();
    // A run whose process went away before it applied anything.
    let chunks: Vec<&[String]> = ids.chunks(100).collect();
    let id = journal
        .begin(
            NewRun {
                plugin: counter.name(),
                plugin_sha256: &counter.info().sha256,
                plugin_spec: "counter",
                table_id: &table.id,
                table_name: &table.name,
                options: RunOptions {
                    rows_per_batch: 100,
                    dry_run: false,
                    config: Default::default(),
                },
                total_rows: ids.len() as u64,
            },
            &chunks,
            false,
        )
        .unwrap()
        .id()
        .to_string();
    assert_eq!(
        journal.get(&id).unwrap().unwrap().state,
        RunState::Interrupted
    );

    let resume = |journal: &Journal| TransformOptions {
        journal: Some(Journaling {
            journal: journal.clone(),
            plugin_spec: "counter".into(),
            resume: Some(id.clone()),
            force: false,
            on_begin: None,
        }),
        ..TransformOptions::default()
    };
    let err = run_transform(&other, backend.clone(), "ignored", resume(&journal))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            kiln_host::invocation::TransformError::Journal(JournalError::PluginChanged { .. })
        ),
        "{err}"
    );
    let report = run_transform(&counter, backend.clone(), "ignored", resume(&journal))
        .await
        .unwrap();
    assert_eq!((report.rows_changed, report.batches), (300, 3));
    assert_eq!(report.run_id.as_deref(), Some(id.as_str()));
    assert_eq!(journal.get(&id).unwrap().unwrap().state, RunState::Finished);
    let counts = counters(&ws.path).await;
    assert_eq!(counts.len(), 300);
    assert_each_once(&counts);
}
