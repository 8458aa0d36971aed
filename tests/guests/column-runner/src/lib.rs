//! A transformer that, instead of returning effects, runs an enrichment column over its
//! batch (`tables.run-column`, a write that spends credits) and reports what the host said
//! as each row's error.

wit_bindgen::generate!({
    world: "clay:api/transformer",
    path: "../../../wit",
});

use clay::api::types::RunTarget;
use clay::api::{config, tables};
use kiln_batch::{BatchIndex, OutcomeWriter};

struct ColumnRunner;

impl Guest for ColumnRunner {
    fn transform(batch: Vec<u8>, ctx: TransformContext) -> Vec<u8> {
        let Ok(index) = BatchIndex::read(&batch) else {
            return Vec::new();
        };
        let name = config::get("field").unwrap_or_default();
        let said = match ctx.table.fields.iter().find(|f| f.name == name) {
            Some(field) => {
                let ids = (0..index.rows())
                    .filter_map(|r| index.id(&batch, r).map(str::to_string))
                    .collect();
                match tables::run_column(
                    &ctx.table.id,
                    std::slice::from_ref(&field.id),
                    &RunTarget::Records(ids),
                    true,
                ) {
                    Ok(run) => format!("ran: credits={}", run.credits_spent),
                    Err(e) => format!("refused: {e:?}"),
                }
            }
            None => format!("no column `{name}`"),
        };
        let mut out = OutcomeWriter::default();
        (0..index.rows()).for_each(|_| out.error(&said));
        out.finish()
    }
}

export!(ColumnRunner);
