//! A transformer built for clay:api 0.1.0, whose WIT is kept in `wit/` as it was released:
//! rows as records, one outcome per row by id. kiln 0.2.0 must refuse it with both versions.

wit_bindgen::generate!({
    world: "clay:api/transformer",
    path: "wit",
});

use clay::api::types::Effect;

struct OldContract;

impl Guest for OldContract {
    fn transform(batch: Vec<Row>, _ctx: TransformContext) -> Vec<RowOutcome> {
        batch
            .into_iter()
            .map(|r| RowOutcome {
                row_id: r.id,
                effect: Effect::Unchanged,
            })
            .collect()
    }
}

export!(OldContract);
