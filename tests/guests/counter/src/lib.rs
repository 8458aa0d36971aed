//! A transformer whose effect is not idempotent: each visit adds `step` to the counter
//! cell. A run that applied a batch twice leaves 2 where 1 belongs, which is what the
//! durable-run tests look for.

use kiln_guest::{Batch, Config, Error, Outcome, Transformer};

pub struct Counter {
    column: String,
    step: f64,
}

impl Transformer for Counter {
    fn new(config: Config) -> Result<Self, Error> {
        let step = config.get_or("step", "1");
        Ok(Self {
            column: config.get_or("column", "Count"),
            step: step.parse().map_err(|_| Error::Config {
                key: "step".into(),
                value: step,
                reason: "expected a number".into(),
            })?,
        })
    }

    fn transform(&mut self, batch: &Batch) -> Vec<Outcome> {
        batch
            .rows()
            .map(|row| {
                let now = row.number(&self.column).unwrap_or(0.0);
                row.set(&self.column, (now + self.step).to_string())
            })
            .collect()
    }
}

kiln_guest::export_transformer!(Counter);
