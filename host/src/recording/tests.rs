use super::*;
use crate::backend::Clay;
use crate::backend::local::LocalBackend;

#[tokio::test]
async fn a_recording_keeps_answers_and_errors_but_not_webhook_urls_and_replays_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    let local = LocalBackend::create(&dir.path().join("ws.sqlite")).unwrap();
    local.seed_demo(1_795_000_000_000).unwrap();
    let table = local.resolve_table("Leads").await.unwrap();
    let header = Header {
        kiln_recording: VERSION,
        kind: Kind::Audit,
        plugin: "p".into(),
        plugin_sha256: "aa".into(),
        plugin_spec: "p".into(),
        config: BTreeMap::new(),
        credit_budget: None,
        dry_run: false,
        started_ms: 0,
    };
    let recorder = Recorder::create(&path, &header).unwrap();
    let recording = Recording::new(Arc::new(local), recorder.clone());
    let source = recording
        .add_webhook_source(&table.id, "Inbound")
        .await
        .unwrap();
    assert!(source.url.as_deref().is_some_and(|u| u.starts_with("http")));
    let err = recording.get_table("t_nope").await.unwrap_err();
    recorder.finish(1).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(source.url.as_deref().unwrap()), "{text}");
    assert!(text.contains("<redacted>"));
    let recorded = Recorded::read(&path).unwrap();
    assert!(recorded.complete);

    let replay = Replay::new(recorded.calls());
    assert_eq!(replay.get_table("t_nope").await.unwrap_err(), err);
    let again = replay
        .add_webhook_source(&table.id, "Inbound")
        .await
        .unwrap();
    assert_eq!(again.url.as_deref(), Some("<redacted>"));
    // Each recorded call answers once; a second is not in the recording.
    let missing = replay.get_table("t_nope").await.unwrap_err();
    assert!(missing.to_string().contains("get_table("), "{missing}");
    assert_eq!(replay.missing().len(), 1);
    assert_eq!(replay.unused(), 0);
}
