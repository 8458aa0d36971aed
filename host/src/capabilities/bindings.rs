//! Host bindings generated from `wit/`. The auditor world imports every capability, so its
//! generated interfaces serve both worlds; the transformer world reuses them through `with`.

pub mod auditor {
    wasmtime::component::bindgen!({
        world: "clay:api/auditor",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        trappable_error_type: {
            "clay:api/types.clay-error" => crate::capabilities::HostError,
        },
    });
}

pub mod transformer {
    wasmtime::component::bindgen!({
        world: "clay:api/transformer",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "clay:api/types": super::auditor::clay::api::types,
            "clay:api/tables": super::auditor::clay::api::tables,
            "clay:api/log": super::auditor::clay::api::log,
            "clay:api/config": super::auditor::clay::api::config,
        },
    });
}

pub use auditor::clay::api::{
    config, credits, folders, log, resources, tables, types, workbooks, workspaces,
};
