//! kiln's hot paths: warm instantiation, a 10,000-row transform through the sandbox against
//! the same plugin called natively, and one host-call round trip.
//!
//! Goals (not tests): instantiation ≤ 10 µs; wasm throughput ≥ 0.5× native.

use std::path::Path;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kiln_host::backend::local::LocalBackend;
use kiln_host::backend::model::{self as m, CellValue};
use kiln_host::build::build_plugin;
use kiln_host::invocation::{InvocationOptions, Limits, TransformContext, TransformerInstance};
use kiln_host::{Clay, Plugin, Runtime, RuntimeConfig};

const ROWS: usize = 10_000;
const BATCH: usize = 1024;

fn component(dir: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    match build_plugin(&dir) {
        Ok(built) => built.wasm,
        Err(e) => panic!("building {}: {e}", dir.display()),
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    backend: Arc<dyn Clay>,
    table: m::TableInfo,
    rows: Vec<m::Row>,
    _dir: tempfile::TempDir,
}

/// 10,000 Leads rows: the demo's 2,000 messy rows five times over, with fresh ids.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = LocalBackend::create(&dir.path().join("bench.sqlite")).expect("workspace");
    local.seed_demo(1_795_000_000_000).expect("seed");
    let (table, seeded) = local.export_rows("Leads").expect("rows");
    let rows = (0..ROWS)
        .map(|i| {
            let mut row = seeded[i % seeded.len()].clone();
            row.id = format!("r_bench{i}");
            row
        })
        .collect();
    Fixture {
        rt: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio"),
        backend: Arc::new(local),
        table,
        rows,
        _dir: dir,
    }
}

fn load(fx: &Fixture, wasm: &Path) -> Plugin {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    fx.rt
        .block_on(runtime.load_file(wasm))
        .expect("plugin loads")
}

fn context(table: &m::TableInfo, index: usize) -> TransformContext {
    TransformContext {
        workspace_id: 1,
        table: table.clone(),
        batch_index: index as u32,
        total_rows: ROWS as u64,
        dry_run: true,
    }
}

fn to_guest_table(t: &m::TableInfo) -> kiln_guest::types::TableInfo {
    use kiln_guest::types as g;
    g::TableInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        kind: g::TableKind::Spreadsheet,
        workspace_id: t.workspace_id,
        workbook_id: t.workbook_id.clone(),
        first_view_id: t.first_view_id.clone(),
        views: vec![],
        fields: t
            .fields
            .iter()
            .map(|f| g::Field {
                id: f.id.clone(),
                name: f.name.clone(),
                kind: g::FieldKind::Text,
                action: None,
            })
            .collect(),
    }
}

fn to_guest_row(r: &m::Row) -> kiln_guest::types::Row {
    use kiln_guest::types as g;
    g::Row {
        id: r.id.clone(),
        cells: r
            .cells
            .iter()
            .map(|c| g::Cell {
                field_id: c.field_id.clone(),
                value: match &c.value {
                    CellValue::Text(s) => g::CellValue::Text(s.clone()),
                    CellValue::Number(n) => g::CellValue::Number(*n),
                    CellValue::Boolean(b) => g::CellValue::Boolean(*b),
                    CellValue::Json(s) => g::CellValue::Json(s.clone()),
                    CellValue::Null => g::CellValue::Null,
                },
                status: None,
            })
            .collect(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn benches(c: &mut Criterion) {
    let fx = fixture();
    let normalize = load(&fx, &component("../plugins/normalize-contacts"));
    let hostile = load(&fx, &component("../tests/guests/hostile"));

    c.bench_function("instantiate/warm from InstancePre", |b| {
        b.to_async(&fx.rt).iter(|| async {
            TransformerInstance::new(&normalize, fx.backend.clone(), InvocationOptions::default())
                .await
                .expect("instantiates")
        })
    });

    let mut group = c.benchmark_group("normalize-contacts/10k rows in batches of 1024");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    group.bench_function("wasm via kiln", |b| {
        b.to_async(&fx.rt).iter(|| async {
            let mut instance = TransformerInstance::new(
                &normalize,
                fx.backend.clone(),
                InvocationOptions::default(),
            )
            .await
            .expect("instantiates");
            let mut outcomes = 0;
            for (i, batch) in fx.rows.chunks(BATCH).enumerate() {
                outcomes += instance
                    .transform(batch.to_vec(), &context(&fx.table, i))
                    .await
                    .expect("transforms")
                    .len();
            }
            assert_eq!(outcomes, ROWS);
        })
    });
    let guest_table = to_guest_table(&fx.table);
    let guest_rows: Vec<_> = fx.rows.iter().map(to_guest_row).collect();
    group.bench_function("native", |b| {
        use kiln_guest::{Batch, Config, Transformer};
        b.iter(|| {
            let mut plugin =
                normalize_contacts::NormalizeContacts::new(Config::default()).expect("config");
            let mut outcomes = 0;
            for batch in guest_rows.chunks(BATCH) {
                let batch = Batch::new(guest_table.clone(), batch.to_vec());
                outcomes += batch.resolve(plugin.transform(&batch)).len();
            }
            assert_eq!(outcomes, ROWS);
        })
    });
    group.finish();

    // Host-call round trip: a guest reading its config n times, against n = 0.
    let mut group = c.benchmark_group("host call round trip");
    let one_row = fx.rows[..1].to_vec();
    for n in [0u64, 1000] {
        group.throughput(Throughput::Elements(n.max(1)));
        group.bench_with_input(BenchmarkId::new("config.get", n), &n, |b, &n| {
            let options = InvocationOptions {
                config: [
                    ("mode".to_string(), "ping".to_string()),
                    ("n".to_string(), n.to_string()),
                ]
                .into(),
                // One instance serves every iteration; do not let the meter end it.
                limits: Some(Limits {
                    max_host_calls: None,
                    ..Limits::default()
                }),
                ..InvocationOptions::default()
            };
            let mut instance = fx
                .rt
                .block_on(TransformerInstance::new(
                    &hostile,
                    fx.backend.clone(),
                    options,
                ))
                .expect("instantiates");
            b.iter(|| {
                fx.rt
                    .block_on(instance.transform(one_row.clone(), &context(&fx.table, 0)))
                    .expect("pings")
            })
        });
    }
    group.finish();
}

criterion_group!(runtime, benches);
criterion_main!(runtime);
