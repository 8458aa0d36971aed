//! A transformer that also imports `clay:api/folders`, which the transformer world does
//! not have. It creates a folder from `transform` so the import is kept in the component.

wit_bindgen::generate!({
    world: "kiln-tests:wrong-imports/wrong-imports",
    path: ["../../../wit", "wit"],
    generate_all,
});

use clay::api::folders;
use clay::api::types::Effect;

struct WrongImports;

impl Guest for WrongImports {
    fn transform(batch: Vec<Row>, ctx: TransformContext) -> Vec<RowOutcome> {
        let made = folders::create(ctx.workspace_id, "made by a transformer", None);
        batch
            .iter()
            .map(|r| RowOutcome {
                row_id: r.id.clone(),
                effect: Effect::Error(format!("{made:?}")),
            })
            .collect()
    }
}

export!(WrongImports);
