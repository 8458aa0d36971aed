//! A transformer that, instead of returning effects, runs an enrichment column over its
//! batch (`tables.run-column`, a write that spends credits) and reports what the host said
//! as each row's error.

wit_bindgen::generate!({
    world: "clay:api/transformer",
    path: "../../../wit",
});

use clay::api::types::{Effect, RunTarget};
use clay::api::{config, tables};

struct ColumnRunner;

impl Guest for ColumnRunner {
    fn transform(batch: Vec<Row>, ctx: TransformContext) -> Vec<RowOutcome> {
        let name = config::get("field").unwrap_or_default();
        let said = match ctx.table.fields.iter().find(|f| f.name == name) {
            Some(field) => {
                let ids = batch.iter().map(|r| r.id.clone()).collect();
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
        batch
            .iter()
            .map(|r| RowOutcome {
                row_id: r.id.clone(),
                effect: Effect::Error(said.clone()),
            })
            .collect()
    }
}

export!(ColumnRunner);
