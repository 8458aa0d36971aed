//! # kiln-guest: write kiln plugins for Clay
//!
//! A plugin implements one trait — [`Transformer`] for row transformations, [`Auditor`] for
//! workspace audits — and calls one macro. The WebAssembly bindings stay out of sight.
//!
//! ```
//! use kiln_guest::{Batch, Config, Error, Outcome, Transformer};
//!
//! struct Shout { column: String }
//!
//! impl Transformer for Shout {
//!     fn new(config: Config) -> Result<Self, Error> {
//!         Ok(Shout { column: config.get_or("column", "Name") })
//!     }
//!
//!     fn transform(&mut self, batch: &Batch) -> Vec<Outcome> {
//!         batch
//!             .rows()
//!             .map(|row| match row.text(&self.column) {
//!                 Some(name) => row.set(&self.column, name.to_uppercase()),
//!                 None => row.unchanged(),
//!             })
//!             .collect()
//!     }
//! }
//!
//! kiln_guest::export_transformer!(Shout);
//! ```
//!
//! The crate enables feature `transformer` or `auditor` (exactly one) for its world. Plugin
//! logic also compiles natively, so it can be unit-tested and benchmarked without wasm:
//! build a [`Batch`] with [`Batch::new`] and call your `transform`, or install a
//! [`testing::MockWorkspace`] and let your code call [`clay`] as it would inside the host.

#![warn(missing_docs)]

extern crate self as kiln_guest;

mod audit;
mod config;
mod error;
mod transform;
pub mod walk;

pub use audit::{Auditor, FindingBuilder, Report, finding};
pub use config::Config;
pub use error::{Error, describe};
pub use kiln_batch::Value;
pub use transform::{Batch, Effect, Outcome, RowOutcome, RowRef, Transformer};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "clay:api/imports",
        path: "../wit",
        additional_derives: [PartialEq],
        runtime_path: "::kiln_guest::__private::wit_bindgen::rt",
    });
}

#[cfg(feature = "transformer")]
#[doc(hidden)]
pub mod transformer_world {
    wit_bindgen::generate!({
        world: "clay:api/transformer",
        path: "../wit",
        with: {
            "clay:api/types@0.2.0": crate::bindings::clay::api::types,
            "clay:api/tables@0.2.0": crate::bindings::clay::api::tables,
            "clay:api/log@0.2.0": crate::bindings::clay::api::log,
            "clay:api/config@0.2.0": crate::bindings::clay::api::config,
        },
        pub_export_macro: true,
        export_macro_name: "__export_transformer_world",
        default_bindings_module: "::kiln_guest::transformer_world",
        runtime_path: "::kiln_guest::__private::wit_bindgen::rt",
    });
}

#[cfg(feature = "auditor")]
#[doc(hidden)]
pub mod auditor_world {
    wit_bindgen::generate!({
        world: "clay:api/auditor",
        path: "../wit",
        with: {
            "clay:api/types@0.2.0": crate::bindings::clay::api::types,
            "clay:api/workspaces@0.2.0": crate::bindings::clay::api::workspaces,
            "clay:api/folders@0.2.0": crate::bindings::clay::api::folders,
            "clay:api/resources@0.2.0": crate::bindings::clay::api::resources,
            "clay:api/workbooks@0.2.0": crate::bindings::clay::api::workbooks,
            "clay:api/tables@0.2.0": crate::bindings::clay::api::tables,
            "clay:api/credits@0.2.0": crate::bindings::clay::api::credits,
            "clay:api/log@0.2.0": crate::bindings::clay::api::log,
            "clay:api/config@0.2.0": crate::bindings::clay::api::config,
        },
        pub_export_macro: true,
        export_macro_name: "__export_auditor_world",
        default_bindings_module: "::kiln_guest::auditor_world",
        runtime_path: "::kiln_guest::__private::wit_bindgen::rt",
    });
}

/// Clay's records: rows, cells, fields, tables, members, credit reports, integrations…
pub mod types {
    pub use crate::bindings::clay::api::types::*;
}

pub mod clay;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

/// Leveled logging into the host's log, tagged with the plugin's name.
pub mod log {
    use crate::bindings::clay::api::log::log;

    /// A log line's level.
    pub use crate::bindings::clay::api::log::Level;

    fn emit(level: Level, message: &str) {
        #[cfg(target_arch = "wasm32")]
        log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        {
            // Natively there is no host: an installed mock workspace keeps the line for
            // the test to assert on; either way it is printed.
            let _ = log;
            crate::testing::record_log(level, message);
            eprintln!("[{level:?}] {message}");
        }
    }

    /// Logs at debug level.
    ///
    /// ```
    /// kiln_guest::log::debug("read 200 rows");
    /// ```
    pub fn debug(message: &str) {
        emit(Level::Debug, message);
    }

    /// Logs at info level.
    pub fn info(message: &str) {
        emit(Level::Info, message);
    }

    /// Logs at warn level.
    pub fn warn(message: &str) {
        emit(Level::Warn, message);
    }

    /// Logs at error level.
    pub fn error(message: &str) {
        emit(Level::Error, message);
    }
}

/// Email helpers shared by the contact plugins.
pub mod email {
    /// Domains of free-mail providers: an address there says nothing about the company.
    pub const FREE_MAIL_DOMAINS: &[&str] = &[
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "icloud.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "web.de",
    ];

    /// Whether `domain` (lower-case) belongs to a free-mail provider.
    ///
    /// ```
    /// assert!(kiln_guest::email::is_free_mail("gmail.com"));
    /// assert!(!kiln_guest::email::is_free_mail("acme.com"));
    /// ```
    pub fn is_free_mail(domain: &str) -> bool {
        FREE_MAIL_DOMAINS.contains(&domain)
    }
}

/// Time helpers: Clay timestamps are milliseconds since the Unix epoch.
pub mod time {
    use crate::types::Timestamp;

    /// One day in milliseconds.
    pub const DAY_MS: i64 = 24 * 3600 * 1000;

    /// Whole days from `earlier` to `later` (negative if reversed).
    ///
    /// ```
    /// use kiln_guest::time::{DAY_MS, days_between};
    /// assert_eq!(days_between(0, 3 * DAY_MS + 5), 3);
    /// ```
    pub fn days_between(earlier: Timestamp, later: Timestamp) -> i64 {
        (later - earlier).div_euclid(DAY_MS)
    }
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    #[cfg(feature = "auditor")]
    pub use crate::audit::run_auditor;
    #[cfg(feature = "transformer")]
    pub use crate::transform::run_transformer;
}

/// Exports a [`Transformer`] as the plugin's `transform` function.
#[macro_export]
macro_rules! export_transformer {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __KilnTransformer;
            impl $crate::transformer_world::Guest for __KilnTransformer {
                fn transform(
                    batch: ::std::vec::Vec<u8>,
                    ctx: $crate::types::TransformContext,
                ) -> ::std::vec::Vec<u8> {
                    $crate::__private::run_transformer::<$plugin>(batch, ctx)
                }
            }
            $crate::transformer_world::__export_transformer_world!(__KilnTransformer with_types_in $crate::transformer_world);
        };
    };
}

/// Exports an [`Auditor`] as the plugin's `audit` function.
#[macro_export]
macro_rules! export_auditor {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __KilnAuditor;
            impl $crate::auditor_world::Guest for __KilnAuditor {
                fn audit(
                    scope: $crate::types::AuditScope,
                ) -> ::std::result::Result<$crate::types::AuditReport, $crate::types::ClayError> {
                    $crate::__private::run_auditor::<$plugin>(scope)
                }
            }
            $crate::auditor_world::__export_auditor_world!(__KilnAuditor with_types_in $crate::auditor_world);
        };
    };
}
