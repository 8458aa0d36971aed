//! kiln's hot paths (issue 11's goals; ratios come from one run, since this machine is noisy):
//! - normalize-contacts over 10,000 rows in batches of 1,024: through kiln, natively through
//!   the SDK, and natively on plain structs (the same work with no SDK) — goal ≥ 0.7× the
//!   plain-struct figure;
//! - a no-op transformer per row (goal < 1 µs) and per cell;
//! - warm instantiation (goal p50 ≤ 10 µs) and a one-row call including it (p50 ≤ 50 µs);
//! - end to end over a 50,000-row embedded table: `run --dry-run` ≤ 1.5× and a run changing
//!   every row ≤ 2.5× the CSV export of the same table, with the read/guest/write split;
//! - one host-call round trip.
//!
//! 1,000 concurrent live instances and their RSS are the `concurrency` bench.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kiln_host::backend::local::LocalBackend;
use kiln_host::backend::model::{self as m, CellValue};
use kiln_host::build::build_plugin;
use kiln_host::invocation::{
    InvocationOptions, Limits, TransformOptions, TransformerInstance, run_transform,
};
use kiln_host::{Clay, Plugin, Runtime, RuntimeConfig};

mod common;
use common::{BATCH, Fixture, ROWS, context, fixture, transform_all};

fn component(dir: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    match build_plugin(&dir) {
        Ok(built) => built.wasm,
        Err(e) => panic!("building {}: {e}", dir.display()),
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

/// The contact columns of a Leads row as plain strings: what the same work looks like with
/// no SDK and no sandbox.
struct Contact {
    email: Option<String>,
    status: Option<String>,
    domain: Option<String>,
    name: Option<String>,
    first: Option<String>,
    last: Option<String>,
    phone: Option<String>,
}

/// The columns a contact's normalization changes, with their new values.
#[derive(Default)]
struct Changed {
    cells: Vec<(&'static str, Option<String>)>,
}

impl Changed {
    /// Like the SDK, a write of the value already there is no change.
    fn set(&mut self, column: &'static str, current: &Option<String>, value: Option<String>) {
        if *current != value {
            self.cells.push((column, value));
        }
    }
}

fn contacts(table: &m::TableInfo, rows: &[m::Row]) -> Vec<Contact> {
    let column = |row: &m::Row, name: &str| {
        let field = table.field_by_name(name)?;
        match &row.cell(&field.id)?.value {
            CellValue::Text(s) => Some(s.clone()),
            CellValue::Null => None,
            other => Some(other.as_text()),
        }
    };
    rows.iter()
        .map(|r| Contact {
            email: column(r, "Email"),
            status: column(r, "Email Status"),
            domain: column(r, "Company Domain"),
            name: column(r, "Full Name"),
            first: column(r, "First Name"),
            last: column(r, "Last Name"),
            phone: column(r, "Phone"),
        })
        .collect()
}

/// normalize-contacts' row function, on plain structs.
fn normalize_plain(c: &Contact) -> Changed {
    use normalize_contacts::{company_domain, normalize_email, normalize_phone, split_name};
    let mut out = Changed::default();
    match c.email.as_deref() {
        Some(raw) if !raw.trim().is_empty() => {
            let (email, problem) = normalize_email(raw);
            match problem {
                None => {
                    let domain = company_domain(&email);
                    out.set("Email", &c.email, Some(email));
                    out.set("Email Status", &c.status, Some("valid".into()));
                    out.set("Company Domain", &c.domain, domain);
                }
                Some(why) => out.set("Email Status", &c.status, Some(format!("invalid: {why}"))),
            }
        }
        _ => out.set("Email Status", &c.status, Some("missing".into())),
    }
    if let Some((first, last)) = c.name.as_deref().and_then(split_name) {
        out.set("First Name", &c.first, Some(first));
        out.set("Last Name", &c.last, (!last.is_empty()).then_some(last));
    }
    if let Some(phone) = c.phone.as_deref().and_then(|p| normalize_phone(p, "1")) {
        out.set("Phone", &c.phone, Some(phone));
    }
    out
}

/// Whether criterion's filter (the first argument that is not a flag or a number) selects
/// `name`, for the figures printed outside criterion's groups.
fn wanted(name: &str) -> bool {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--") && a.parse::<f64>().is_err())
        .is_none_or(|filter| name.contains(&filter) || filter.contains(name))
}

/// `n` timings of `f`, as (p50, p99) in microseconds.
fn percentiles(rt: &tokio::runtime::Runtime, n: usize, mut f: impl AsyncFnMut()) -> (f64, f64) {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let start = Instant::now();
            rt.block_on(f());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[n / 2], times[n * 99 / 100])
}

const E2E_ROWS: usize = 50_000;

/// A workspace whose Leads table has 50,000 rows: the demo's 2,000 messy ones, repeated.
fn big_workspace(dir: &Path, rt: &tokio::runtime::Runtime) -> std::path::PathBuf {
    let path = dir.join("big.sqlite");
    let local = LocalBackend::create(&path).expect("workspace");
    local.seed_demo(1_795_000_000_000).expect("seed");
    let (table, seeded) = local.export_rows("Leads").expect("rows");
    let more: Vec<m::NewRow> = (seeded.len()..E2E_ROWS)
        .map(|i| m::NewRow {
            id: None,
            cells: seeded[i % seeded.len()]
                .cells
                .iter()
                .filter(|c| {
                    !c.field_id.starts_with("f_created") && !c.field_id.starts_with("f_updated")
                })
                .map(|c| m::CellInput {
                    field_id: c.field_id.clone(),
                    value: c.value.clone(),
                })
                .collect(),
        })
        .collect();
    rt.block_on(async {
        for chunk in more.chunks(50) {
            local.add_rows(&table.id, chunk).await.expect("rows added");
        }
    });
    path
}

fn e2e(c: &mut Criterion, fx: &Fixture, normalize: &Plugin) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = big_workspace(dir.path(), &fx.rt);
    // As `kiln run` does (normalize-contacts declares its batches independent), and on two
    // instances, which on a two-core machine is the interesting comparison.
    let cores = TransformOptions::default_parallel();
    let run_on = |path: &Path, dry_run: bool, parallel: usize| {
        let backend: Arc<dyn Clay> = Arc::new(LocalBackend::open(path).expect("opens"));
        fx.rt
            .block_on(run_transform(
                normalize,
                backend,
                "Leads",
                TransformOptions {
                    dry_run,
                    parallel,
                    ..TransformOptions::default()
                },
            ))
            .expect("runs")
    };
    let run = |path: &Path, dry_run: bool| run_on(path, dry_run, cores);
    // A new name each time: criterion calls the timed closure more than once.
    let copies = std::sync::atomic::AtomicU64::new(0);
    let fresh = |_: u64| {
        let n = copies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let copy = dir.path().join(format!("copy-{n}.sqlite"));
        std::fs::copy(&path, &copy).expect("copied");
        copy
    };
    // One run of each, for the split criterion does not show.
    for dry_run in [true, false] {
        let copy = fresh(u64::MAX);
        let r = run(&copy, dry_run);
        let t = r.timings;
        eprintln!(
            "e2e {} rows, {}, {} instances: {} changed, {:.0} ms = read {:.0} + guest {:.0} + checks {:.0} + write {:.0} (+ rest); {:.0} rows/s",
            r.rows_seen,
            if dry_run { "dry run" } else { "applied" },
            r.instances,
            r.rows_changed,
            r.elapsed_ms,
            t.read_ms,
            t.guest_ms,
            t.plan_ms,
            t.write_ms,
            r.rows_seen as f64 / (r.elapsed_ms.max(1) as f64 / 1000.0)
        );
        std::fs::remove_file(&copy).ok();
    }

    let mut group = c.benchmark_group("end to end/50k-row table");
    group.throughput(Throughput::Elements(E2E_ROWS as u64));
    group.sample_size(10);
    group.bench_function("workspace export --csv", |b| {
        b.iter(|| {
            LocalBackend::open(&path)
                .expect("opens")
                .write_csv("Leads", std::io::sink())
                .expect("exports")
        })
    });
    group.bench_function("run --dry-run", |b| {
        b.iter(|| assert_eq!(run(&path, true).rows_seen, E2E_ROWS as u64))
    });
    group.bench_function("run --dry-run --parallel 2", |b| {
        b.iter(|| assert_eq!(run_on(&path, true, 2).rows_seen, E2E_ROWS as u64))
    });
    group.bench_function("run, every row changed", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for i in 0..iters {
                let copy = fresh(i);
                let start = Instant::now();
                let r = run(&copy, false);
                total += start.elapsed();
                assert_eq!(r.rows_changed, E2E_ROWS as u64);
                std::fs::remove_file(&copy).ok();
            }
            total
        })
    });
    group.finish();
}

/// Warm instantiation and a one-row call through a fresh instance, as percentiles.
fn percentile_figures(fx: &Fixture, normalize: &Plugin) {
    let (p50, p99) = percentiles(&fx.rt, 20_000, async || {
        TransformerInstance::new(normalize, fx.backend.clone(), InvocationOptions::default())
            .await
            .expect("instantiates");
    });
    eprintln!("instantiate/warm: p50 {p50:.1} µs, p99 {p99:.1} µs (goal p50 ≤ 10 µs)");
    let one = fx.rows[..1].to_vec();
    let (p50, p99) = percentiles(&fx.rt, 20_000, async || {
        let mut instance =
            TransformerInstance::new(normalize, fx.backend.clone(), InvocationOptions::default())
                .await
                .expect("instantiates");
        instance
            .transform(&one, &context(&fx.table, 0))
            .await
            .expect("transforms");
    });
    eprintln!(
        "one-row call with instantiation: p50 {p50:.1} µs, p99 {p99:.1} µs (goal p50 ≤ 50 µs)"
    );
    // The split of the figure above: the same row through an instance that already ran one
    // (its heap and stack touched, its plugin value built) is what a fresh instance adds.
    let mut warm = fx.rt.block_on(async {
        TransformerInstance::new(normalize, fx.backend.clone(), InvocationOptions::default())
            .await
            .expect("instantiates")
    });
    let (p50, p99) = percentiles(&fx.rt, 20_000, async || {
        warm.transform(&one, &context(&fx.table, 0))
            .await
            .expect("transforms");
    });
    eprintln!("one-row call on a warm instance: p50 {p50:.1} µs, p99 {p99:.1} µs");
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
        b.to_async(&fx.rt).iter(|| transform_all(&fx, &normalize))
    });
    let guest_table = to_guest_table(&fx.table);
    let guest_rows: Vec<_> = fx.rows.iter().map(to_guest_row).collect();
    group.bench_function("native through the SDK", |b| {
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
    let plain = contacts(&fx.table, &fx.rows);
    group.bench_function("native on plain structs", |b| {
        b.iter(|| {
            let changed = plain
                .iter()
                .map(normalize_plain)
                .filter(|c| !c.cells.is_empty())
                .count();
            assert!(changed > ROWS / 2);
            std::hint::black_box(changed)
        })
    });
    group.finish();

    // A transformer that changes nothing: what the sandbox costs per row, and per cell
    // (the same rows cut to their first cell).
    let cells_per_row = fx.rows.iter().map(|r| r.cells.len()).sum::<usize>() / ROWS;
    let one_cell: Vec<m::Row> = fx
        .rows
        .iter()
        .map(|r| m::Row {
            cells: r.cells.iter().take(1).cloned().collect(),
            ..r.clone()
        })
        .collect();
    let noop = InvocationOptions {
        config: [("mode".to_string(), "ok".to_string())].into(),
        ..InvocationOptions::default()
    };
    let mut group = c.benchmark_group("no-op transform/10k rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    for (label, rows) in [
        (format!("{cells_per_row} cells a row"), &fx.rows),
        ("1 cell a row".to_string(), &one_cell),
    ] {
        group.bench_function(label, |b| {
            b.to_async(&fx.rt).iter(|| async {
                let mut instance =
                    TransformerInstance::new(&hostile, fx.backend.clone(), noop.clone())
                        .await
                        .expect("instantiates");
                for (i, batch) in rows.chunks(BATCH).enumerate() {
                    instance
                        .transform(batch, &context(&fx.table, i))
                        .await
                        .expect("transforms");
                }
            })
        });
    }
    group.finish();

    // Percentiles criterion does not print: warm instantiation, and one row through a
    // fresh instance (the unit of a row endpoint).
    if wanted("instantiate/percentiles") {
        percentile_figures(&fx, &normalize);
    }
    if wanted("end to end/50k-row table") {
        e2e(c, &fx, &normalize);
    }

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
                    .block_on(instance.transform(&one_row, &context(&fx.table, 0)))
                    .expect("pings")
            })
        });
    }
    group.finish();
}

criterion_group!(runtime, benches);
criterion_main!(runtime);
