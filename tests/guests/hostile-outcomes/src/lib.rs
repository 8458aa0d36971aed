//! A transformer whose outcomes misbehave on request. Written against the raw WIT bindings
//! and the buffer layout (`kiln-batch`), not the SDK, so the tests depend on nothing but
//! the contract.
//!
//! `mode` (config):
//! - `cell-past-the-end`: every row sets cell `at` (default 4294967295), a position past
//!   the batch's fields;
//! - `short`: an outcome for each batch's first row only;
//! - `malformed`: an answer that breaks the layout, as `how` says: `tag` (an unknown
//!   outcome tag after the first row's), `truncated` (a string longer than the buffer),
//!   `utf8` (an error message that is not UTF-8), `count` (a set of four billion cells);
//! - `nan` / `infinity`: sets the number column `field` to NaN / ±infinity on every row;
//! - `source-column`: sets the column `field` (a source column) on every row;
//! - `mention-bomb`: one set-cells naming column `field` `n` times (small values).
//!
//! `row` restricts the per-row modes to one row id.

wit_bindgen::generate!({
    world: "clay:api/transformer",
    path: "../../../wit",
});

use clay::api::config;
use kiln_batch::{BatchIndex, OutcomeWriter, Value};

struct HostileOutcomes;

/// The position of the visible column named `field`.
fn field_at(ctx: &TransformContext) -> Result<u32, String> {
    let name = config::get("field").unwrap_or_default();
    ctx.table
        .fields
        .iter()
        .position(|f| f.name == name)
        .map(|i| i as u32)
        .ok_or_else(|| format!("no visible column `{name}`"))
}

impl Guest for HostileOutcomes {
    fn transform(batch: Vec<u8>, ctx: TransformContext) -> Vec<u8> {
        let Ok(index) = BatchIndex::read(&batch) else {
            return Vec::new();
        };
        let ids: Vec<&str> = (0..index.rows())
            .map(|r| index.id(&batch, r).unwrap_or_default())
            .collect();
        let mode = config::get("mode").unwrap_or_default();
        let only = config::get("row");
        let n: usize = config::get("n").and_then(|s| s.parse().ok()).unwrap_or(256);
        // The per-row modes that write a column by name.
        let column_cells = |at: u32, i: usize| -> Option<Vec<(u32, Value<'static>)>> {
            const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
            Some(match mode.as_str() {
                "nan" => vec![(at, Value::Number(f64::NAN))],
                "infinity" if i.is_multiple_of(2) => vec![(at, Value::Number(f64::INFINITY))],
                "infinity" => vec![(at, Value::Number(f64::NEG_INFINITY))],
                "source-column" => vec![(at, Value::Text("forged"))],
                "mention-bomb" => (0..n).map(|k| (at, Value::Text(DIGITS[k % 10]))).collect(),
                _ => return None,
            })
        };
        let mut out = OutcomeWriter::default();
        match mode.as_str() {
            "cell-past-the-end" | "nan" | "infinity" | "source-column" | "mention-bomb" => {
                let at = if mode == "cell-past-the-end" {
                    config::get("at")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(u32::MAX)
                } else {
                    match field_at(&ctx) {
                        Ok(at) => at,
                        Err(message) => return errors(ids.len(), &message),
                    }
                };
                for (i, id) in ids.iter().enumerate() {
                    let cells = if mode == "cell-past-the-end" {
                        Some(vec![(at, Value::Text("past the end"))])
                    } else {
                        column_cells(at, i)
                    };
                    match (&only, cells) {
                        (Some(only), _) if only != id => out.unchanged(),
                        (_, Some(cells)) => out.set_cells(cells.into_iter()),
                        (_, None) => out.unchanged(),
                    }
                }
            }
            "short" => {
                if !ids.is_empty() {
                    out.unchanged();
                }
            }
            "malformed" => {
                let how = config::get("how").unwrap_or_default();
                let mut bytes = vec![0]; // the first row: unchanged
                match how.as_str() {
                    "truncated" => bytes.extend_from_slice(&[3, 0xff, 0xff, 0, 0, b'a']),
                    "utf8" => bytes.extend_from_slice(&[3, 2, 0, 0, 0, 0xc3, 0x28]),
                    "count" => bytes.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff]),
                    _ => bytes.push(0x7f),
                }
                return bytes;
            }
            _ => ids.iter().for_each(|_| out.unchanged()),
        }
        out.finish()
    }
}

/// Every row fails with `message`.
fn errors(rows: usize, message: &str) -> Vec<u8> {
    let mut out = OutcomeWriter::default();
    (0..rows).for_each(|_| out.error(message));
    out.finish()
}

export!(HostileOutcomes);
