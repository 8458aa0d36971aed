//! A transformer whose text attacks the terminal kiln prints it on. Every row fails with a
//! message chosen by `mode` (config):
//! - `inject`: escape sequences that clear the screen, set the window title and write the
//!   clipboard (OSC 52), then `\r` and newlines to forge "all rows OK" lines; the same text
//!   goes to the `log` capability and to stdout.
//! - `huge`: a 512 KiB message for each batch's first row (the others are unchanged), which
//!   a table renderer must not lay out whole.

wit_bindgen::generate!({
    world: "clay:api/transformer",
    path: "../../../wit",
});

use clay::api::{config, log};
use kiln_batch::{BatchIndex, OutcomeWriter};

/// What `inject` sends; the tests look for it verbatim in the JSON report.
pub const INJECTION: &str = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[31m\r all rows OK\n\u{9b}2Jfake: 0 failed\x7f\x08\x1bc";

struct HostileText;

impl Guest for HostileText {
    fn transform(batch: Vec<u8>, _ctx: TransformContext) -> Vec<u8> {
        let rows = BatchIndex::read(&batch).map_or(0, |b| b.rows());
        let mode = config::get("mode").unwrap_or_default();
        let message = match mode.as_str() {
            "huge" => "x".repeat(512 << 10),
            _ => {
                log::log(log::Level::Warn, INJECTION);
                println!("{INJECTION}");
                INJECTION.to_string()
            }
        };
        // `huge` fails only a batch's first row: one 512 KiB error is the attack.
        let failing = if mode == "huge" { 1 } else { rows };
        let mut out = OutcomeWriter::default();
        for i in 0..rows {
            if i < failing {
                out.error(&message);
            } else {
                out.unchanged();
            }
        }
        out.finish()
    }
}

export!(HostileText);
