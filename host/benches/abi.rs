//! Issue 11's batch-ABI choice: one 1,024-row batch of 7 text cells through three shapes of
//! the transform export, each with the host's conversion from its own rows included:
//! - `records`: clay:api 0.1.0 — every cell names its field id, outcomes name their row;
//! - `positional`: cells in the table's field order (`none` when absent), outcomes in row order;
//! - `flat`: the batch as one byte buffer the guest decodes into borrowed slices.
//!
//! Each shape runs with every row unchanged (the boundary alone) and with one cell written per
//! row. The guest is `tests/guests/abi-shapes`, written against raw bindings.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    world: "shapes",
    path: "../tests/guests/abi-shapes/wit",
});

use kiln::abi_shapes::shape_types::{Cell, CellValue, Effect};

const ROWS: usize = 1024;
const FIELDS: usize = 7;

struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The host's own rows: field ids and text, as the backend hands them over.
struct HostRow {
    id: String,
    cells: Vec<(String, String)>,
}

fn host_rows() -> (Vec<String>, Vec<HostRow>) {
    let fields: Vec<String> = (0..FIELDS).map(|i| format!("f_field{i:02}")).collect();
    let rows = (0..ROWS)
        .map(|r| HostRow {
            id: format!("r_bench{r:06}"),
            cells: fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.clone(), format!("value {r} of column {i}")))
                .collect(),
        })
        .collect();
    (fields, rows)
}

fn to_records(rows: &[HostRow]) -> Vec<Row> {
    rows.iter()
        .map(|r| Row {
            id: r.id.clone(),
            cells: r
                .cells
                .iter()
                .map(|(f, v)| Cell {
                    field_id: f.clone(),
                    value: CellValue::Text(v.clone()),
                    status: None,
                })
                .collect(),
            created_at: Some(1),
            updated_at: Some(2),
        })
        .collect()
}

fn to_positional(fields: &[String], rows: &[HostRow]) -> Vec<Prow> {
    rows.iter()
        .map(|r| Prow {
            id: r.id.clone(),
            cells: fields
                .iter()
                .map(|f| {
                    r.cells
                        .iter()
                        .find(|(id, _)| id == f)
                        .map(|(_, v)| CellValue::Text(v.clone()))
                })
                .collect(),
            statuses: Vec::new(),
            created_at: Some(1),
            updated_at: Some(2),
        })
        .collect()
}

fn to_flat(fields: &[String], rows: &[HostRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 200);
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    for r in rows {
        out.extend_from_slice(&(r.id.len() as u32).to_le_bytes());
        out.extend_from_slice(r.id.as_bytes());
        out.extend_from_slice(&1i64.to_le_bytes());
        out.extend_from_slice(&2i64.to_le_bytes());
        for f in fields {
            match r.cells.iter().find(|(id, _)| id == f) {
                Some((_, v)) => {
                    out.push(2);
                    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    out.extend_from_slice(v.as_bytes());
                }
                None => out.push(0),
            }
        }
    }
    out
}

/// Counts the writes in a flat answer, checking it the way a host must (nothing trusted).
fn flat_writes(out: &[u8], rows: usize) -> Option<usize> {
    let (mut at, mut writes) = (0usize, 0usize);
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(out.get(at..at + 4)?.try_into().ok()?))
    };
    for _ in 0..rows {
        match *out.get(at)? {
            0 => at += 1,
            1 => {
                let n = u32_at(at + 1)? as usize;
                at += 5;
                for _ in 0..n {
                    let _field = u32_at(at)?;
                    if *out.get(at + 4)? != 2 {
                        return None;
                    }
                    let len = u32_at(at + 5)? as usize;
                    std::str::from_utf8(out.get(at + 9..at + 9 + len)?).ok()?;
                    at += 9 + len;
                    writes += 1;
                }
            }
            _ => return None,
        }
    }
    Some(writes)
}

fn shapes(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guests/abi-shapes");
    let wasm = match kiln_host::build::build_plugin(&dir) {
        Ok(built) => built.wasm,
        Err(e) => panic!("building {}: {e}", dir.display()),
    };
    let engine = Engine::new(Config::new().wasm_component_model(true)).expect("engine");
    let component = Component::from_file(&engine, &wasm).expect("component");
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
    let mut store = Store::new(
        &engine,
        Host {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    let guest = Shapes::instantiate(&mut store, &component, &linker).expect("instance");
    let (fields, rows) = host_rows();

    let mut group = c.benchmark_group("batch ABI (1,024 rows x 7 cells)");
    group.throughput(Throughput::Elements(ROWS as u64));
    for write in [false, true] {
        let what = if write {
            "one write a row"
        } else {
            "unchanged"
        };
        group.bench_function(format!("records / {what}"), |b| {
            b.iter(|| {
                let batch = to_records(&rows);
                let out = guest.call_records(&mut store, &batch, write).expect("call");
                assert_eq!(out.len(), ROWS);
                let writes = out
                    .iter()
                    .filter(|o| matches!(o.effect, Effect::SetCells(_)))
                    .count();
                assert_eq!(writes, if write { ROWS } else { 0 });
            })
        });
        group.bench_function(format!("positional / {what}"), |b| {
            b.iter(|| {
                let batch = to_positional(&fields, &rows);
                let out = guest
                    .call_positional(&mut store, &batch, write)
                    .expect("call");
                assert_eq!(out.len(), ROWS);
                let writes = out
                    .iter()
                    .filter(|o| matches!(o, Peffect::SetCells(_)))
                    .count();
                assert_eq!(writes, if write { ROWS } else { 0 });
            })
        });
        group.bench_function(format!("flat / {what}"), |b| {
            b.iter(|| {
                let batch = to_flat(&fields, &rows);
                let out = guest.call_flat(&mut store, &batch, write).expect("call");
                assert_eq!(flat_writes(&out, ROWS), Some(if write { ROWS } else { 0 }));
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = shapes
}
criterion_main!(benches);
