//! A transformer that also imports `clay:api/folders`, which the transformer world does
//! not have. It creates a folder from `transform` so the import is kept in the component.

wit_bindgen::generate!({
    world: "kiln-tests:wrong-imports/wrong-imports",
    path: ["../../../wit", "wit"],
    generate_all,
});

use clay::api::folders;
use kiln_batch::{BatchIndex, OutcomeWriter};

struct WrongImports;

impl Guest for WrongImports {
    fn transform(batch: Vec<u8>, ctx: TransformContext) -> Vec<u8> {
        let made = folders::create(ctx.workspace_id, "made by a transformer", None);
        let rows = BatchIndex::read(&batch).map_or(0, |b| b.rows());
        let mut out = OutcomeWriter::default();
        (0..rows).for_each(|_| out.error(&format!("{made:?}")));
        out.finish()
    }
}

export!(WrongImports);
