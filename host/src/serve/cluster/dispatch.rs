//! The server's half of a cluster run: plan it into the journal and the work queue, then
//! follow its batches to the end and put the report together.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;

use super::{BatchDoc, BatchJob, BatchState, CONSUMER, Cluster, ClusterError, RunDoc, STREAM};
use crate::backend::{Clay, ClayError};
use crate::invocation::{
    BatchEffects, BatchFailure, InvocationOptions, TransformError, TransformReport, readable_table,
};
use crate::journal::{RunOptions, RunState};
use crate::plugin::Plugin;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{0}")]
    Transform(#[from] TransformError),
    #[error("{0}")]
    Cluster(#[from] ClusterError),
}

/// Plans `plugin`'s run over `table` for `tenant`: the run and each batch's row ids into the
/// journal, then one job per batch into the work queue. Answers the run once every job is
/// published.
pub(crate) async fn dispatch(
    cluster: &Cluster,
    tenant: &str,
    plugin: &Plugin,
    backend: &Arc<dyn Clay>,
    table: &str,
    options: RunOptions,
    invocation: &InvocationOptions,
) -> Result<RunDoc, DispatchError> {
    if !cluster.has_plugin(&plugin.info().sha256).await {
        return Err(ClusterError::JetStream(format!(
            "plugin `{}` is not in the cluster's store (the server could not share it when it was loaded; upload it again)",
            plugin.name()
        ))
        .into());
    }
    let readable = readable_table(plugin, backend, table, invocation).await?;
    let table = &readable.table;
    let view = table
        .first_view_id
        .clone()
        .or_else(|| table.views.first().map(|v| v.id.clone()))
        .ok_or_else(|| {
            TransformError::from(ClayError::Invalid(format!(
                "table {} has no view",
                table.id
            )))
        })?;
    let ids = backend
        .record_ids(&table.id, &view)
        .await
        .map_err(TransformError::from)?;
    let per_batch = options.rows_per_batch.max(1);
    let chunks: Vec<&[String]> = ids.chunks(per_batch).collect();
    let run = RunDoc {
        id: crate::state_db::new_id("run"),
        tenant: tenant.to_string(),
        plugin: plugin.name().to_string(),
        plugin_sha256: plugin.info().sha256.clone(),
        table_id: table.id.clone(),
        table_name: table.name.clone(),
        options,
        total_rows: ids.len() as u64,
        batches: chunks.len() as u32,
        started_ms: crate::invocation::now_ms(),
        state: RunState::Running,
        error: None,
    };
    let journal = cluster.journal();
    journal.put_run(&run).await?;
    for (n, chunk) in chunks.iter().enumerate() {
        journal
            .create_batch(
                &run.id,
                n as u32,
                &BatchDoc {
                    ids: chunk.to_vec(),
                    state: BatchState::Pending,
                    effects: None,
                    error: None,
                    limit: None,
                    deliveries: 0,
                },
            )
            .await?;
    }
    for n in 0..run.batches {
        cluster
            .publish(&BatchJob {
                tenant: tenant.to_string(),
                run: run.id.clone(),
                batch: n,
            })
            .await?;
    }
    Ok(run)
}

/// What JetStream says of a message delivered `max_deliver` times.
#[derive(serde::Deserialize)]
struct MaxDeliveries {
    stream_seq: u64,
    deliveries: u64,
}

/// Follows `run` until every batch has ended, calling `progress` with rows done of rows, and
/// answers its report. A batch JetStream gave up on (every delivery's worker died or
/// stalled) is marked failed here. Infrastructure errors (NATS restarting) are waited out.
pub(crate) async fn follow(
    cluster: &Cluster,
    run: &RunDoc,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<TransformReport, ClusterError> {
    let journal = cluster.journal();
    let mut advisories = cluster
        .client
        .subscribe(format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{STREAM}.{CONSUMER}"
        ))
        .await
        .map_err(super::js_error)?;
    // Rows of each batch that has ended.
    let mut ended: HashMap<u32, u64> = HashMap::new();
    let mut poll = tokio::time::interval(Duration::from_secs(2));
    let mut watch = journal.watch_batches(&run.id).await.ok();
    let prefix = format!("batch.{}.", run.id);
    while (ended.len() as u32) < run.batches {
        tokio::select! {
            entry = async {
                match watch.as_mut() {
                    Some(w) => w.next().await,
                    None => std::future::pending().await,
                }
            } => {
                match entry {
                    Some(Ok(entry)) => {
                        let n = entry.key.strip_prefix(&prefix).and_then(|n| n.parse::<u32>().ok());
                        if let (Some(n), Ok(doc)) = (n, serde_json::from_slice::<BatchDoc>(&entry.value))
                            && doc.state.ended()
                        {
                            ended.insert(n, doc.ids.len() as u64);
                            progress(ended.values().sum(), run.total_rows);
                        }
                    }
                    // The watch broke (NATS restarting): the poll below takes over until a
                    // new one starts.
                    _ => watch = None,
                }
            }
            Some(advisory) = advisories.next() => {
                if let Ok(advisory) = serde_json::from_slice::<MaxDeliveries>(&advisory.payload) {
                    give_up(cluster, run, advisory).await;
                }
            }
            _ = poll.tick() => {
                // Catches what a broken watch missed, and restarts the watch.
                for n in 0..run.batches {
                    if ended.contains_key(&n) {
                        continue;
                    }
                    match journal.batch(&run.id, n).await {
                        Ok(Some((doc, _))) if doc.state.ended() => {
                            ended.insert(n, doc.ids.len() as u64);
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                progress(ended.values().sum(), run.total_rows);
                if watch.is_none() {
                    watch = journal.watch_batches(&run.id).await.ok();
                }
            }
        }
    }
    let report = report(cluster, run).await?;
    let mut done = run.clone();
    done.state = if report.failure.is_some() {
        RunState::Failed
    } else {
        RunState::Finished
    };
    done.error = report.failure.as_ref().map(|f| f.error.clone());
    journal.put_run(&done).await?;
    Ok(report)
}

/// Marks the batch a max-deliveries advisory names failed, unless a worker ended it after
/// all, and takes its message out of the queue.
async fn give_up(cluster: &Cluster, run: &RunDoc, advisory: MaxDeliveries) {
    let Ok(message) = cluster.stream.get_raw_message(advisory.stream_seq).await else {
        return;
    };
    let Some(job) = BatchJob::from_subject(message.subject.as_str()) else {
        return;
    };
    if job.run != run.id {
        return;
    }
    let journal = cluster.journal();
    for _ in 0..10 {
        let Ok(Some((mut doc, revision))) = journal.batch(&job.run, job.batch).await else {
            return;
        };
        if doc.state.ended() {
            break;
        }
        doc.state = BatchState::Failed;
        doc.deliveries = doc.deliveries.max(advisory.deliveries as u32);
        doc.error = Some(format!(
            "batch {} was delivered {} times and no worker finished it (each died or stalled past the ack wait)",
            job.batch, advisory.deliveries
        ));
        match journal
            .update_batch(&job.run, job.batch, &doc, revision)
            .await
        {
            Ok(Some(_)) => break,
            Ok(None) => continue,
            Err(_) => return,
        }
    }
    let _ = cluster.stream.delete_message(advisory.stream_seq).await;
}

/// The run's report from its journaled batches.
async fn report(cluster: &Cluster, run: &RunDoc) -> Result<TransformReport, ClusterError> {
    let journal = cluster.journal();
    let mut report = TransformReport {
        run_id: Some(run.id.clone()),
        plugin: run.plugin.clone(),
        table_id: run.table_id.clone(),
        table_name: run.table_name.clone(),
        dry_run: run.options.dry_run,
        ..TransformReport::default()
    };
    for n in 0..run.batches {
        let Some((doc, _)) = journal.batch(&run.id, n).await? else {
            continue;
        };
        report.batches_redelivered += u32::from(doc.deliveries > 1);
        match (doc.state, &doc.effects) {
            (BatchState::Applied, Some(effects)) => {
                BatchEffects::from_json(&run.id, n, effects, true)
                    .map_err(|e| ClusterError::Journal(e.to_string()))?
                    .add_to(&mut report);
            }
            _ => {
                report.batches += 1;
                report.rows_seen += doc.ids.len() as u64;
                report.rows_failed += doc.ids.len() as u64;
                if report.failure.is_none() {
                    report.failure = Some(BatchFailure {
                        batch_index: n,
                        rows: doc.ids.len(),
                        error: doc
                            .error
                            .clone()
                            .unwrap_or_else(|| format!("batch {n} did not finish")),
                        limit: doc.limit.clone(),
                    });
                }
            }
        }
    }
    report.elapsed_ms = (crate::invocation::now_ms() - run.started_ms).max(0) as u64;
    Ok(report)
}
