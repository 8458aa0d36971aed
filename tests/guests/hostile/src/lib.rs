//! A transformer that misbehaves on request. Written against the raw WIT bindings (not the
//! SDK) so the sandbox tests depend on nothing but the contract.
//!
//! `mode` (config): `ok` (every row unchanged), `mark` (sets `Email Status` to "seen"),
//! `mark-then-panic` (marks the first batch, panics on the next),
//! `write` (tries to delete every row through the API), `loop`, `alloc`, `panic`, `recurse`, `host-calls`, `ping` (`n` config reads, then `ok`),
//! `unreachable`, `huge-output` (millions of outcomes), `print-spam` (stdout), `log-spam` (the log
//! interface), and probes that report what they saw as each row's error: `files`, `env`,
//! `socket` (connects to config `addr`), `read-table` (reads config `table`), `columns` (the
//! field ids its rows carry).

wit_bindgen::generate!({
    world: "clay:api/transformer",
    path: "../../../wit",
});

use clay::api::{config, log};
use kiln_batch::{BatchIndex, OutcomeWriter, Value};

struct Hostile;

/// The batch as the guest reads it (indexed once; cells read only by the modes that look).
struct Rows<'a> {
    buf: &'a [u8],
    index: BatchIndex,
}

impl Rows<'_> {
    fn len(&self) -> usize {
        self.index.rows()
    }
}

fn rows(buf: &[u8]) -> Rows<'_> {
    Rows {
        buf,
        index: BatchIndex::read(buf).unwrap_or_default(),
    }
}

fn unchanged(rows: &Rows) -> Vec<u8> {
    let mut out = OutcomeWriter::with_capacity(rows.len());
    (0..rows.len()).for_each(|_| out.unchanged());
    out.finish()
}

/// Executes wasm's `unreachable` (the crate also compiles natively in the workspace).
fn unreachable_instruction() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Every row fails with `message`: how probes report what they saw.
fn report(rows: &Rows, message: &str) -> Vec<u8> {
    let mut out = OutcomeWriter::default();
    (0..rows.len()).for_each(|_| out.error(message));
    out.finish()
}

/// Recurses until `stop` is reached, which it never is in practice.
#[inline(never)]
fn recurse(depth: u64, stop: u64, pad: [u64; 16]) -> u64 {
    let next = std::hint::black_box(pad);
    if depth == stop {
        return next[0];
    }
    recurse(depth + 1, stop, next) + next[(depth % 16) as usize]
}

impl Guest for Hostile {
    fn transform(batch: Vec<u8>, ctx: TransformContext) -> Vec<u8> {
        let buf = batch;
        let batch = rows(&buf);
        let mode = config::get("mode").unwrap_or_default();
        match mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![7u8; 1 << 20]));
                }
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "recurse" => {
                let r = recurse(0, u64::MAX, [1; 16]);
                std::hint::black_box(r);
                unchanged(&batch)
            }
            "host-calls" => loop {
                std::hint::black_box(config::get("mode"));
            },
            "ping" => {
                let n: u64 = config::get("n").and_then(|s| s.parse().ok()).unwrap_or(0);
                for _ in 0..n {
                    std::hint::black_box(config::get("mode"));
                }
                unchanged(&batch)
            }
            "write" => {
                // Try to write behind the host's back; report what the host said.
                let said = match clay::api::tables::delete_all_rows(&ctx.table.id, None) {
                    Ok(()) => "delete-all-rows succeeded".to_string(),
                    Err(e) => format!("{e:?}"),
                };
                report(&batch, &said)
            }
            "unreachable" => unreachable_instruction(),
            "huge-output" => {
                // Three million outcomes, each a short error: ~39 MB of answer.
                let mut out = OutcomeWriter::with_capacity(40 << 20);
                (0..3_000_000u32).for_each(|_| out.error("overflow"));
                out.finish()
            }
            "extra-outcomes" => {
                let mut out = OutcomeWriter::default();
                for _ in 0..2 * batch.len() {
                    out.unchanged();
                }
                out.finish()
            }
            "print-spam" => loop {
                println!("{}", "spam ".repeat(200));
            },
            "log-spam" => loop {
                log::log(log::Level::Info, &"spam ".repeat(200));
            },
            "files" => {
                let probes = [
                    std::fs::read_to_string("/etc/passwd").map(|s| s.len()),
                    std::fs::read_dir("/").map(|d| d.count()),
                    std::fs::read_dir(".").map(|d| d.count()),
                    std::fs::write("/tmp/kiln-hostile", b"x").map(|()| 1),
                ];
                report(&batch, &format!("{probes:?}"))
            }
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                report(&batch, &format!("env={vars:?} args={args:?}"))
            }
            "socket" => {
                let addr = config::get("addr").unwrap_or_default();
                let said = match std::net::TcpStream::connect(addr.as_str()) {
                    Ok(_) => "connected".to_string(),
                    Err(e) => format!("refused: {e}"),
                };
                report(&batch, &said)
            }
            "read-table" => {
                let table = config::get("table").unwrap_or_default();
                let said = match clay::api::tables::get(&table) {
                    Ok(t) => format!("read {} with {} fields", t.name, t.fields.len()),
                    Err(e) => format!("{e:?}"),
                };
                report(&batch, &said)
            }
            "columns" => {
                let names: Vec<&str> = ctx.table.fields.iter().map(|f| f.name.as_str()).collect();
                let mut out = OutcomeWriter::default();
                for row in 0..batch.len() {
                    let ids: Vec<&str> = (0..batch.index.fields())
                        .filter(|&f| batch.index.value(batch.buf, row, f).is_some())
                        .filter_map(|f| ctx.table.fields.get(f).map(|f| f.id.as_str()))
                        .collect();
                    out.error(&format!(
                        "cells={} fields={}",
                        ids.join(","),
                        names.join(",")
                    ));
                }
                out.finish()
            }
            "mark-then-panic" if ctx.batch_index > 0 => {
                panic!("hostile plugin gave up at batch {}", ctx.batch_index)
            }
            "mark" | "mark-then-panic" => {
                let Some(field) = ctx
                    .table
                    .fields
                    .iter()
                    .position(|f| f.name == "Email Status")
                else {
                    return report(&batch, "no Email Status column");
                };
                let mut out = OutcomeWriter::default();
                for _ in 0..batch.len() {
                    out.set_cells([(field as u32, Value::Text("seen"))].into_iter());
                }
                out.finish()
            }
            _ => unchanged(&batch),
        }
    }
}

export!(Hostile);
