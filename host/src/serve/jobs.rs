//! Jobs: a tenant's transform runs (journaled in its workspace, so a restarted server
//! finishes them) and audits, started over HTTP and followed by polling or server-sent events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Finished,
    Failed,
    Cancelled,
    /// A journaled run a killed server left whose plugin version is gone: it stays
    /// interrupted until that version is uploaded again and the server restarts.
    Interrupted,
}

impl JobState {
    pub fn ended(self) -> bool {
        self != JobState::Running
    }

    /// A journaled run's state as a job's.
    pub fn of_run(state: crate::journal::RunState) -> Self {
        use crate::journal::RunState;
        match state {
            RunState::Running => JobState::Running,
            RunState::Interrupted => JobState::Interrupted,
            RunState::Finished => JobState::Finished,
            RunState::Failed => JobState::Failed,
            RunState::Abandoned => JobState::Cancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Finished => "finished",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }
}

/// Rows done of rows to do (an audit: 0 of 1, then 1 of 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// What `POST /v1/runs` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    pub plugin: String,
    /// The table, for a transformer.
    pub table: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    pub batch_size: Option<usize>,
    #[serde(default)]
    pub config: std::collections::BTreeMap<String, String>,
    /// Start even though the table has an unfinished run of the plugin.
    #[serde(default)]
    pub force: bool,
    /// How many days back an audit looks.
    pub period_days: Option<u64>,
}

pub struct Job {
    pub id: String,
    pub kind: &'static str,
    pub plugin: String,
    state: watch::Sender<(JobState, Progress)>,
    result: Mutex<(Option<Value>, Option<String>)>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
    ended_at: Mutex<Option<std::time::Instant>>,
}

/// What `GET /v1/runs/{id}` answers.
#[derive(Debug, Serialize)]
pub struct JobView {
    pub id: String,
    pub kind: &'static str,
    pub plugin: String,
    pub state: JobState,
    pub progress: Progress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Job {
    pub fn new(id: String, kind: &'static str, plugin: String) -> Arc<Self> {
        let (state, _) = watch::channel((JobState::Running, Progress::default()));
        Arc::new(Self {
            id,
            kind,
            plugin,
            state,
            result: Mutex::new((None, None)),
            task: Mutex::new(None),
            ended_at: Mutex::new(None),
        })
    }

    pub fn progress(&self, done: u64, total: u64) {
        self.state
            .send_modify(|(_, p)| *p = Progress { done, total });
    }

    pub fn finish(&self, state: JobState, report: Option<Value>, error: Option<String>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = (report, error);
        self.mark_ended();
        self.state.send_modify(|(s, _)| {
            // A cancelled job stays cancelled whatever its task said last.
            if *s == JobState::Running {
                *s = state;
            }
        });
    }

    /// Ends a transform run with its report: failed when a batch stopped it.
    pub fn finish_run(&self, report: &crate::invocation::TransformReport) {
        let failed = report.failure.as_ref().map(|f| f.error.clone());
        let state = if failed.is_some() {
            JobState::Failed
        } else {
            JobState::Finished
        };
        self.finish(state, serde_json::to_value(report).ok(), failed);
    }

    pub fn set_task(&self, task: tokio::task::AbortHandle) {
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Stops the job's task; `false` when it had already ended.
    pub fn cancel(&self) -> bool {
        let mut cancelled = false;
        self.state.send_modify(|(s, _)| {
            if *s == JobState::Running {
                *s = JobState::Cancelled;
                cancelled = true;
            }
        });
        if cancelled {
            self.mark_ended();
            if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
                task.abort();
            }
        }
        cancelled
    }

    fn mark_ended(&self) {
        self.ended_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(std::time::Instant::now);
    }

    fn ended_at(&self) -> Option<std::time::Instant> {
        *self.ended_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> JobState {
        self.state.borrow().0
    }

    pub fn view(&self) -> JobView {
        let (state, progress) = *self.state.borrow();
        let (report, error) = self
            .result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        JobView {
            id: self.id.clone(),
            kind: self.kind,
            plugin: self.plugin.clone(),
            state,
            progress,
            report,
            error,
        }
    }

    pub fn watch(&self) -> watch::Receiver<(JobState, Progress)> {
        self.state.subscribe()
    }
}

/// Ended jobs a tenant's list keeps.
const KEPT_ENDED: usize = 200;

/// A tenant's jobs, by id.
#[derive(Default)]
pub struct Jobs {
    map: Mutex<HashMap<String, Arc<Job>>>,
}

impl Jobs {
    pub fn insert(&self, job: Arc<Job>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // Ended jobs are kept for their reports, but not without end: past the cap the
        // ones that ended first go.
        let ended: Vec<String> = map
            .values()
            .filter(|j| j.state().ended())
            .map(|j| j.id.clone())
            .collect();
        if ended.len() >= KEPT_ENDED {
            let mut ended: Vec<_> = ended
                .into_iter()
                .filter_map(|id| map.get(&id).map(|j| (j.ended_at(), id)))
                .collect();
            ended.sort();
            for (_, id) in ended.into_iter().take(KEPT_ENDED / 4) {
                map.remove(&id);
            }
        }
        map.insert(job.id.clone(), job);
    }

    /// Jobs still running.
    pub fn running(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|j| !j.state().ended())
            .count()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<Job>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// The server-sent events of a job: `progress` as it moves (at most every 100 ms), then one
/// `end` with its state.
pub fn events(
    job: Arc<Job>,
) -> impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
{
    use axum::response::sse::Event;
    let rx = job.watch();
    futures_util::stream::unfold((rx, false), move |(mut rx, done)| async move {
        if done {
            return None;
        }
        let (state, progress) = *rx.borrow_and_update();
        if state.ended() {
            let data = serde_json::json!({ "state": state, "progress": progress }).to_string();
            return Some((Ok(Event::default().event("end").data(data)), (rx, true)));
        }
        let data = serde_json::to_string(&progress).unwrap_or_default();
        let event = Event::default().event("progress").data(data);
        // Wait for the next change, but send no more than ten events a second.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if rx.changed().await.is_err() {
            return Some((Ok(event), (rx, true)));
        }
        Some((Ok(event), (rx, false)))
    })
}
