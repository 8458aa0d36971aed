//! A transformer whose outcomes misbehave on request. Written against the raw WIT bindings
//! (not the SDK) so the tests depend on nothing but the contract.
//!
//! `mode` (config):
//! - `foreign-row-id`: the first row's outcome (a delete) is given for `target`, a row not
//!   in the batch (first batch only; later batches are unchanged);
//! - `duplicate-outcome`: two outcomes for the first row, none for the second (first batch only);
//! - `other-table-field`: sets `field_id` (a field of another table) on every row;
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
use clay::api::types::{CellInput, CellValue, Effect};

struct HostileOutcomes;

fn set(row_id: &str, cells: Vec<CellInput>) -> RowOutcome {
    RowOutcome {
        row_id: row_id.to_string(),
        effect: Effect::SetCells(cells),
    }
}

fn cell(field_id: &str, value: CellValue) -> CellInput {
    CellInput {
        field_id: field_id.to_string(),
        value,
    }
}

/// The id of the visible column named `field`, or an error outcome for every row.
fn field_id(ctx: &TransformContext) -> Result<String, String> {
    let name = config::get("field").unwrap_or_default();
    ctx.table
        .fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.id.clone())
        .ok_or_else(|| format!("no visible column `{name}`"))
}

impl Guest for HostileOutcomes {
    fn transform(batch: Vec<Row>, ctx: TransformContext) -> Vec<RowOutcome> {
        let mode = config::get("mode").unwrap_or_default();
        let only = config::get("row");
        let unchanged = |r: &Row| RowOutcome {
            row_id: r.id.clone(),
            effect: Effect::Unchanged,
        };
        // The per-batch modes misbehave in the first batch only, so a later batch can hold
        // the row they name.
        let per_batch = matches!(mode.as_str(), "foreign-row-id" | "duplicate-outcome");
        if per_batch && ctx.batch_index > 0 {
            return batch.iter().map(unchanged).collect();
        }
        // Per-row modes: `f` gives the misbehaving outcome for one row (index, row).
        let per_row = |f: &dyn Fn(usize, &Row) -> RowOutcome| -> Vec<RowOutcome> {
            batch
                .iter()
                .enumerate()
                .map(|(i, r)| match &only {
                    Some(id) if *id != r.id => unchanged(r),
                    _ => f(i, r),
                })
                .collect()
        };
        let named = |f: &dyn Fn(&str, usize, &Row) -> RowOutcome| -> Vec<RowOutcome> {
            match field_id(&ctx) {
                Ok(id) => per_row(&|i, r| f(&id, i, r)),
                Err(message) => batch
                    .iter()
                    .map(|r| RowOutcome {
                        row_id: r.id.clone(),
                        effect: Effect::Error(message.clone()),
                    })
                    .collect(),
            }
        };
        match mode.as_str() {
            "foreign-row-id" => {
                let target = config::get("target").unwrap_or_else(|| "r_not_in_batch".into());
                let mut out: Vec<RowOutcome> = batch.iter().map(unchanged).collect();
                if let Some(first) = out.first_mut() {
                    first.row_id = target;
                    first.effect = Effect::Delete;
                }
                out
            }
            "duplicate-outcome" => {
                let mut out: Vec<RowOutcome> = batch.iter().map(unchanged).collect();
                if let (Some(first), Some(second)) = (batch.first(), out.get_mut(1)) {
                    // Two outcomes for the first row, within the one-per-row budget.
                    second.row_id = first.id.clone();
                    second.effect = Effect::Delete;
                }
                out
            }
            "other-table-field" => {
                let foreign = config::get("field_id").unwrap_or_default();
                per_row(&|_, r| {
                    set(
                        &r.id,
                        vec![cell(&foreign, CellValue::Text("from another table".into()))],
                    )
                })
            }
            "nan" => named(&|id, _, r| set(&r.id, vec![cell(id, CellValue::Number(f64::NAN))])),
            "infinity" => named(&|id, i, r| {
                let value = if i % 2 == 0 {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                };
                set(&r.id, vec![cell(id, CellValue::Number(value))])
            }),
            "source-column" => {
                named(&|id, _, r| set(&r.id, vec![cell(id, CellValue::Text("forged".into()))]))
            }
            "mention-bomb" => {
                let n: usize = config::get("n").and_then(|s| s.parse().ok()).unwrap_or(256);
                named(&|id, _, r| {
                    set(
                        &r.id,
                        (0..n)
                            .map(|k| cell(id, CellValue::Text(format!("{}", k % 10))))
                            .collect(),
                    )
                })
            }
            _ => batch.iter().map(unchanged).collect(),
        }
    }
}

export!(HostileOutcomes);
