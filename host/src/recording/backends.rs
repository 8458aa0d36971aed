//! Two [`Clay`] backends around a recording: [`Recording`] passes every call through to a
//! real backend and writes it down; [`Replay`] answers every call from a recording alone.
//! Both are generated from one list of the trait's calls, so the arguments a call is
//! recorded with are the ones it is looked up by.

use std::sync::Mutex;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Call, CallResult, Recorder};
use crate::backend::model::*;
use crate::backend::{Clay, ClayError, ClayResult};
use std::sync::Arc;

/// Passes calls through to `inner` and records each with its answer.
pub struct Recording {
    inner: Arc<dyn Clay>,
    recorder: Recorder,
}

impl Recording {
    pub fn new(inner: Arc<dyn Clay>, recorder: Recorder) -> Self {
        Self { inner, recorder }
    }

    fn record<T: serde::Serialize>(&self, function: &str, args: Value, result: &ClayResult<T>) {
        let result = match result {
            Ok(v) => CallResult::Ok(redact(
                function,
                serde_json::to_value(v).unwrap_or(Value::Null),
            )),
            Err(e) => CallResult::Error(e.clone()),
        };
        self.recorder.call(function, args, result);
    }
}

/// A webhook source's URL lets anyone who has it post rows: it stays out of recordings.
fn redact(function: &str, mut value: Value) -> Value {
    if matches!(function, "list_sources" | "add_webhook_source") {
        let scrub = |source: &mut Value| {
            if let Some(url) = source.get_mut("url").filter(|u| !u.is_null()) {
                *url = Value::String("<redacted>".into());
            }
        };
        match &mut value {
            Value::Array(sources) => sources.iter_mut().for_each(scrub),
            source => scrub(source),
        }
    }
    value
}

/// Answers every call from a recording. Each recorded call answers once, the first one
/// with the same function and arguments; a call the recording does not have is an error
/// naming it, and is remembered for the replay's report.
pub struct Replay {
    calls: Mutex<Vec<Option<Call>>>,
    missing: Mutex<Vec<String>>,
}

impl Replay {
    pub fn new(calls: Vec<Call>) -> Self {
        Self {
            calls: Mutex::new(calls.into_iter().map(Some).collect()),
            missing: Mutex::new(Vec::new()),
        }
    }

    /// The calls the plugin made that the recording does not have, as `fn(args)`.
    pub fn missing(&self) -> Vec<String> {
        self.missing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Recorded calls the replay never made.
    pub fn unused(&self) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|c| c.is_some())
            .count()
    }

    fn answer<T: DeserializeOwned>(&self, function: &str, args: Value) -> ClayResult<T> {
        let found = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            calls
                .iter_mut()
                .find(|c| {
                    c.as_ref()
                        .is_some_and(|c| c.function == function && c.args == args)
                })
                .and_then(Option::take)
        };
        let Some(call) = found else {
            let mut shown = args.to_string();
            if shown.len() > 300 {
                let mut end = 300;
                while !shown.is_char_boundary(end) {
                    end -= 1;
                }
                shown.truncate(end);
                shown.push('…');
            }
            let named = format!("{function}({shown})");
            self.missing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(named.clone());
            return Err(ClayError::Unavailable(format!(
                "replay: the recording has no call {named}"
            )));
        };
        match call.result {
            CallResult::Ok(value) => serde_json::from_value(value).map_err(|e| {
                ClayError::Invalid(format!(
                    "replay: the recorded answer to {function} does not read as one: {e}"
                ))
            }),
            CallResult::Error(e) => Err(e),
        }
    }
}

macro_rules! clay_calls {
    ($( fn $name:ident( $( $arg:ident : $ty:ty ),* ) -> $ret:ty; )*) => {
        #[async_trait]
        impl Clay for Recording {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> ClayResult<$ret> {
                    let args = json!({ $( stringify!($arg): $arg ),* });
                    let result = self.inner.$name($($arg),*).await;
                    self.record(stringify!($name), args, &result);
                    result
                }
            )*

            async fn apply_journaled(
                &self,
                table_id: &str,
                updates: &[RowUpdate],
                deletes: &[String],
                mark: &JournalMark,
            ) -> ClayResult<bool> {
                self.inner.apply_journaled(table_id, updates, deletes, mark).await
            }
        }

        #[async_trait]
        impl Clay for Replay {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> ClayResult<$ret> {
                    let args = json!({ $( stringify!($arg): $arg ),* });
                    self.answer(stringify!($name), args)
                }
            )*
        }
    };
}

clay_calls! {
    fn list_workspaces() -> Vec<Workspace>;
    fn create_folder(workspace_id: u64, name: &str, parent_folder_id: Option<&str>) -> Folder;
    fn delete_folders(workspace_id: u64, folder_ids: &[String], permanent: bool) -> ();
    fn list_resources(workspace_id: u64, parent: Option<&ResourceRef>, kinds: &[ResourceKind]) -> Vec<Resource>;
    fn search_resources(workspace_id: u64, query: &str) -> Vec<Resource>;
    fn create_workbook(workspace_id: u64, name: &str, auto_run: bool, parent_folder_id: Option<&str>) -> Workbook;
    fn delete_workbook(workbook_id: &str) -> ();
    fn get_table(table_id: &str) -> TableInfo;
    fn record_ids(table_id: &str, view_id: &str) -> Vec<String>;
    fn read_records(table_id: &str, record_ids: &[String]) -> Vec<Row>;
    fn add_rows(table_id: &str, rows: &[NewRow]) -> Vec<Row>;
    fn delete_rows(table_id: &str, record_ids: &[String]) -> ();
    fn delete_all_rows(table_id: &str, view_id: Option<&str>) -> ();
    fn run_column(table_id: &str, field_ids: &[String], target: &RunTarget, force: bool) -> RunResult;
    fn estimate_run_cost(table_id: &str, field_ids: &[String], target: &RunTarget) -> f64;
    fn count_rows(table_id: &str) -> u64;
    fn list_sources(table_id: &str) -> Vec<Source>;
    fn add_webhook_source(table_id: &str, name: &str) -> Source;
    fn delete_source(source_id: &str, delete_records: bool) -> ();
    fn permissions(workspace_id: u64) -> Vec<Member>;
    fn workspace_report(workspace_id: u64, range: TimeRange) -> CreditReport;
    fn user_report(workspace_id: u64, range: TimeRange, owner_ids: &[String]) -> CreditReport;
    fn member_usage(workspace_id: u64, range: TimeRange, user_ids: &[String]) -> Vec<MemberUsage>;
    fn integration_report(workspace_id: u64, range: TimeRange) -> CreditReport;
    fn integration_specific_report(workspace_id: u64, range: TimeRange, integration_ids: &[String]) -> CreditReport;
    fn user_resources(workspace_id: u64, owner_ids: &[String]) -> Vec<Resource>;
    fn integrations(workspace_id: u64) -> Vec<Integration>;
    fn integration_type(type_id: &str) -> IntegrationType;
    fn integration_types() -> Vec<IntegrationType>;
    fn update_rows(table_id: &str, updates: &[RowUpdate]) -> ();
    fn resolve_table(id_or_name: &str) -> TableInfo;
}
