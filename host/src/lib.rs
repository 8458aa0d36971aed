//! kiln: run sandboxed WebAssembly plugins against Clay.
//!
//! Data flows one way: [`runtime::Runtime`] (engine, compiled-code cache) →
//! [`plugin::Plugin`] (a validated, pre-linked component) → an invocation (a store with
//! limits) → [`capabilities`] (Clay's API as WIT interfaces) → a [`backend::Clay`].

pub mod backend;
pub mod budget;
pub mod build;
pub mod capabilities;
pub mod invocation;
pub mod journal;
pub mod plugin;
pub mod recording;
pub mod report;
pub mod runtime;
pub mod serve;
pub mod sim;
mod state_db;
pub mod store;
pub mod trail;

pub use backend::{Clay, ClayError};
pub use invocation::{InvocationError, Limits};
pub use plugin::{LoadError, Plugin, World};
pub use runtime::{Runtime, RuntimeConfig};
