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

use clay::api::types::{CellInput, CellValue, Effect};
use clay::api::{config, log};

struct Hostile;

fn unchanged(batch: &[Row]) -> Vec<RowOutcome> {
    batch
        .iter()
        .map(|r| RowOutcome {
            row_id: r.id.clone(),
            effect: Effect::Unchanged,
        })
        .collect()
}

/// Executes wasm's `unreachable` (the crate also compiles natively in the workspace).
fn unreachable_instruction() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Every row fails with `message`: how probes report what they saw.
fn report(batch: &[Row], message: &str) -> Vec<RowOutcome> {
    batch
        .iter()
        .map(|r| RowOutcome {
            row_id: r.id.clone(),
            effect: Effect::Error(message.to_string()),
        })
        .collect()
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
    fn transform(batch: Vec<Row>, ctx: TransformContext) -> Vec<RowOutcome> {
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
                batch
                    .iter()
                    .map(|r| RowOutcome {
                        row_id: r.id.clone(),
                        effect: Effect::Error(said.clone()),
                    })
                    .collect()
            }
            "unreachable" => unreachable_instruction(),
            "huge-output" => (0..3_000_000u32)
                .map(|i| RowOutcome {
                    row_id: batch
                        .get(i as usize % batch.len().max(1))
                        .map(|r| r.id.clone())
                        .unwrap_or_default(),
                    effect: Effect::Unchanged,
                })
                .collect(),
            "extra-outcomes" => batch
                .iter()
                .chain(batch.iter())
                .map(|r| RowOutcome {
                    row_id: r.id.clone(),
                    effect: Effect::Unchanged,
                })
                .collect(),
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
            "columns" => batch
                .iter()
                .map(|r| {
                    let ids: Vec<&str> = r.cells.iter().map(|c| c.field_id.as_str()).collect();
                    let names: Vec<&str> =
                        ctx.table.fields.iter().map(|f| f.name.as_str()).collect();
                    RowOutcome {
                        row_id: r.id.clone(),
                        effect: Effect::Error(format!(
                            "cells={} fields={}",
                            ids.join(","),
                            names.join(",")
                        )),
                    }
                })
                .collect(),
            "mark-then-panic" if ctx.batch_index > 0 => {
                panic!("hostile plugin gave up at batch {}", ctx.batch_index)
            }
            "mark" | "mark-then-panic" => {
                let Some(field) = ctx.table.fields.iter().find(|f| f.name == "Email Status") else {
                    return batch
                        .iter()
                        .map(|r| RowOutcome {
                            row_id: r.id.clone(),
                            effect: Effect::Error("no Email Status column".into()),
                        })
                        .collect();
                };
                batch
                    .iter()
                    .map(|r| RowOutcome {
                        row_id: r.id.clone(),
                        effect: Effect::SetCells(vec![CellInput {
                            field_id: field.id.clone(),
                            value: CellValue::Text("seen".into()),
                        }]),
                    })
                    .collect()
            }
            _ => unchanged(&batch),
        }
    }
}

export!(Hostile);
