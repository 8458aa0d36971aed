//! One audit trail for every worker: a tenant's entries are the messages of subject
//! `kiln.trail.<tenant>` in the stream `KILN_TRAIL`, hash-chained as in a workspace file.
//! Each append is published with the subject's last sequence it chained onto as
//! `Nats-Expected-Last-Subject-Sequence`, so two workers can never both chain onto one entry:
//! the second is refused, reads the new last entry and chains onto that. The stream denies
//! deletes and purges, so what can still go wrong is an entry someone else published there;
//! `kiln trail verify --nats` names the first one.

use std::collections::VecDeque;
use std::future::Future;

use async_nats::jetstream::{self, consumer, context::PublishErrorKind, stream};
use futures_util::StreamExt as _;

use super::ClusterError;
use crate::trail::{
    Entry, Fields, Filter, GENESIS, Head, Lookup, Record, Stored, TrailError, TrailStore,
    Verification, Walk, entry, selects,
};

pub(super) const STREAM: &str = "KILN_TRAIL";
pub(super) const SUBJECT_PREFIX: &str = "kiln.trail";

/// The trail stream: file storage, nothing deleted or purged.
pub(super) async fn stream(js: &jetstream::Context) -> Result<stream::Stream, ClusterError> {
    js.get_or_create_stream(stream::Config {
        name: STREAM.to_string(),
        subjects: vec![format!("{SUBJECT_PREFIX}.>")],
        storage: stream::StorageType::File,
        deny_delete: true,
        deny_purge: true,
        ..Default::default()
    })
    .await
    .map_err(super::js_error)
}

pub(crate) struct JsTrail {
    js: jetstream::Context,
    stream: stream::Stream,
    subject: String,
    handle: tokio::runtime::Handle,
    /// Where this process last left the chain (stream sequence, entry seq, hash): the next
    /// append chains onto it without reading the stream first. Another writer having
    /// appended since only costs a refused publish and one read.
    head: std::sync::Mutex<Option<(u64, u64, String)>>,
}

impl JsTrail {
    pub fn new(
        js: jetstream::Context,
        stream: stream::Stream,
        tenant: &str,
        handle: tokio::runtime::Handle,
    ) -> Self {
        Self {
            js,
            stream,
            subject: format!("{SUBJECT_PREFIX}.{tenant}"),
            handle,
            head: std::sync::Mutex::new(None),
        }
    }

    fn fail(&self, e: impl std::fmt::Display) -> TrailError {
        TrailError::Store {
            at: self.location(),
            message: e.to_string(),
        }
    }

    /// The trail's callers are synchronous (the recorder flushes from host calls).
    fn block<F: Future>(&self, fut: F) -> F::Output {
        tokio::task::block_in_place(|| self.handle.block_on(fut))
    }

    /// The subject's last message: its stream sequence and entry.
    fn last(&self) -> Result<Option<(u64, Entry)>, TrailError> {
        self.block(async {
            match self
                .stream
                .get_last_raw_message_by_subject(&self.subject)
                .await
            {
                Ok(message) => {
                    let entry = serde_json::from_slice(&message.payload).map_err(|e| {
                        self.fail(format!(
                            "its last entry (stream sequence {}) is not an entry kiln wrote: {e}; run `kiln trail verify --nats`",
                            message.sequence
                        ))
                    })?;
                    Ok(Some((message.sequence, entry)))
                }
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(self.fail(e)),
            }
        })
    }

    /// Every message of the trail in order, as stored rows, to `each` (which answers
    /// whether to go on).
    fn scan(&self, mut each: impl FnMut(Stored) -> bool) -> Result<(), TrailError> {
        let Some((last, _)) = self.last().or_else(|e| match e {
            // An unreadable last entry is for the walk to name, not a reason not to walk.
            TrailError::Store { .. } => Ok(Some((u64::MAX, empty_entry()))),
            other => Err(other),
        })?
        else {
            return Ok(());
        };
        self.block(async {
            let consumer = self
                .stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: self.subject.clone(),
                    deliver_policy: consumer::DeliverPolicy::All,
                    ..Default::default()
                })
                .await
                .map_err(|e| self.fail(e))?;
            let mut messages = consumer.messages().await.map_err(|e| self.fail(e))?;
            let mut position = 0u64;
            while let Some(message) = messages.next().await {
                let message = message.map_err(|e| self.fail(e))?;
                position += 1;
                let info = message.info().map_err(|e| self.fail(e))?;
                let (sequence, pending) = (info.stream_sequence, info.pending);
                let stored = match serde_json::from_slice::<Entry>(&message.payload) {
                    Ok(e) => Stored {
                        seq: e.seq,
                        hash: e.hash.clone(),
                        fields: Ok(Fields::of_entry(&e)),
                    },
                    Err(e) => Stored {
                        seq: position,
                        hash: String::new(),
                        fields: Err(format!("it is not an entry: {e}")),
                    },
                };
                if !each(stored) || pending == 0 || sequence >= last {
                    break;
                }
            }
            Ok(())
        })
    }
}

fn empty_entry() -> Entry {
    entry(
        Fields::of(
            &Record {
                at_ms: 0,
                plugin: String::new(),
                plugin_sha256: String::new(),
                invocation_id: String::new(),
                call: String::new(),
                targets: Vec::new(),
                outcome: crate::trail::Outcome::Ok,
                credits: 0.0,
            },
            0,
            GENESIS.to_string(),
        ),
        String::new(),
    )
}

/// For entries whose hash matches, about which the walk asks nothing.
struct NoLookup;

impl Lookup for NoLookup {
    type Error = std::convert::Infallible;
    fn next_prev(&mut self, _: u64) -> Result<Option<String>, Self::Error> {
        Ok(None)
    }
    fn has_hash(&mut self, _: &str) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

/// What the walk asks about other entries, answered by reading the trail again (only once
/// an entry is known not to match).
struct Rescan<'a>(&'a JsTrail);

impl Lookup for Rescan<'_> {
    type Error = TrailError;
    fn next_prev(&mut self, seq: u64) -> Result<Option<String>, TrailError> {
        let mut found = None;
        self.0.scan(|row| match row.fields {
            Ok(f) if row.seq > seq => {
                found = Some(f.prev_hash);
                false
            }
            _ => true,
        })?;
        Ok(found)
    }

    fn has_hash(&mut self, hash: &str) -> Result<bool, TrailError> {
        let mut found = false;
        self.0.scan(|row| {
            found = row.hash == hash;
            !found
        })?;
        Ok(found)
    }
}

impl TrailStore for JsTrail {
    fn location(&self) -> String {
        format!("JetStream {STREAM}/{}", self.subject)
    }

    fn append_all(&self, records: &[Record]) -> Result<Vec<Entry>, TrailError> {
        let mut out = Vec::with_capacity(records.len());
        let mut head = self.head.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..1000 {
            let (mut expect, mut seq, mut prev) = match head.take() {
                Some(known) => known,
                None => match self.last()? {
                    Some((sequence, last)) => (sequence, last.seq, last.hash),
                    None => (0, 0, GENESIS.to_string()),
                },
            };
            let mut refused = false;
            for record in &records[out.len()..] {
                seq += 1;
                let fields = Fields::of(record, seq, prev.clone());
                let hash = crate::trail::chain_hash(&fields);
                let done = entry(fields, hash.clone());
                let body = serde_json::to_vec(&done).map_err(|e| self.fail(e))?;
                let acked = self.block(async {
                    self.js
                        .send_publish(
                            self.subject.clone(),
                            jetstream::message::PublishMessage::build()
                                .payload(body.into())
                                .expected_last_subject_sequence(expect),
                        )
                        .await?
                        .await
                });
                match acked {
                    Ok(ack) => {
                        expect = ack.sequence;
                        prev = hash;
                        out.push(done);
                    }
                    // Another writer chained onto our last entry first: chain onto theirs.
                    Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                        refused = true;
                        break;
                    }
                    Err(e) => return Err(self.fail(e)),
                }
            }
            if !refused {
                *head = Some((expect, seq, prev));
                return Ok(out);
            }
        }
        Err(self.fail("too many writers appended at once; try again"))
    }

    fn entries(&self, filter: &Filter) -> Result<Vec<Entry>, TrailError> {
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut kept = VecDeque::new();
        self.scan(|row| {
            if let Ok(fields) = row.fields {
                let e = entry(fields, row.hash);
                if selects(filter, &e) {
                    if kept.len() == limit {
                        kept.pop_front();
                    }
                    kept.push_back(e);
                }
            }
            true
        })?;
        Ok(kept.into())
    }

    fn verify(&self) -> Result<Verification, TrailError> {
        let mut rows = 0u64;
        let mut last_seq = 0u64;
        self.scan(|row| {
            rows += 1;
            last_seq = last_seq.max(row.seq);
            true
        })?;
        // Nothing can be deleted from the stream, so its last message is the head.
        let head = self.last().ok().flatten().map(|(_, e)| Head {
            seq: e.seq,
            hash: e.hash,
        });
        let mut walk = Walk::new(head.as_ref(), rows, last_seq);
        // The walk asks about other entries only of one whose hash does not match; that one
        // is set aside and looked at once the scan is over (a lookup reads the trail again).
        let mut broken = None;
        let mut suspect = None;
        self.scan(|row| {
            let matches = row
                .fields
                .as_ref()
                .is_ok_and(|f| crate::trail::chain_hash(f) == row.hash);
            if !matches {
                suspect = Some(row);
                return false;
            }
            match walk.step(&row, &mut NoLookup) {
                Ok(None) => true,
                Ok(found) => {
                    broken = found;
                    false
                }
            }
        })?;
        if let Some(row) = suspect {
            broken = walk.step(&row, &mut Rescan(self))?;
        }
        let broken = broken.or_else(|| walk.finish());
        Ok(Verification {
            entries: rows,
            head: head.map_or_else(|| GENESIS.to_string(), |h| h.hash),
            broken,
        })
    }

    fn components_named(&self, plugin: &str) -> Result<u64, TrailError> {
        let mut seen = std::collections::HashSet::new();
        self.scan(|row| {
            if let Ok(f) = &row.fields
                && f.plugin == plugin
            {
                seen.insert(f.plugin_sha256.clone());
            }
            true
        })?;
        Ok(seen.len() as u64)
    }
}
