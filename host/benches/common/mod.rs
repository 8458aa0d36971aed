//! What the transform benches share: the demo's Leads five times over, and a batch's context.

use std::sync::Arc;

use kiln_host::backend::local::LocalBackend;
use kiln_host::backend::model as m;
use kiln_host::invocation::{InvocationOptions, TransformContext, TransformerInstance};
use kiln_host::{Clay, Plugin};

pub const ROWS: usize = 10_000;
pub const BATCH: usize = 1024;

pub struct Fixture {
    pub rt: tokio::runtime::Runtime,
    pub backend: Arc<dyn Clay>,
    pub table: m::TableInfo,
    pub rows: Vec<m::Row>,
    _dir: tempfile::TempDir,
}

/// 10,000 Leads rows: the demo's 2,000 messy rows five times over, with fresh ids.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = LocalBackend::create(&dir.path().join("bench.sqlite")).expect("workspace");
    local.seed_demo(1_795_000_000_000).expect("seed");
    let (table, seeded) = local.export_rows("Leads").expect("rows");
    let rows = (0..ROWS)
        .map(|i| {
            let mut row = seeded[i % seeded.len()].clone();
            row.id = format!("r_bench{i}");
            row
        })
        .collect();
    Fixture {
        rt: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio"),
        backend: Arc::new(local),
        table,
        rows,
        _dir: dir,
    }
}

/// The context of batch `index` of a dry run over the fixture's rows.
pub fn context(table: &m::TableInfo, index: usize) -> TransformContext {
    TransformContext {
        workspace_id: 1,
        table: table.clone(),
        batch_index: index as u32,
        total_rows: ROWS as u64,
        dry_run: true,
    }
}

/// Every fixture row through a fresh instance of `plugin`, batch by batch, as a dry run does.
pub async fn transform_all(fx: &Fixture, plugin: &Plugin) {
    let mut instance =
        TransformerInstance::new(plugin, fx.backend.clone(), InvocationOptions::default())
            .await
            .expect("instantiates");
    let mut outcomes = 0;
    for (i, batch) in fx.rows.chunks(BATCH).enumerate() {
        outcomes += instance
            .transform(batch, &context(&fx.table, i))
            .await
            .expect("transforms")
            .len();
    }
    assert_eq!(outcomes, ROWS);
}
