//! An auditor that spends credits on purpose, to prove budgets hold: it runs the enrichment
//! column `column` (default `Company Size`) of table `table_id` over `rows` records per
//! call, `calls` times, each call on the next records of the table's first view (after
//! skipping `offset`). A
//! `clay-error` (e.g. `budget-exhausted`) ends the audit with that error.

use kiln_guest::clay::tables;
use kiln_guest::types::{AuditScope, RunTarget, Severity, Subject};
use kiln_guest::{Auditor, Config, Error, Report, finding};

pub struct Spender {
    table_id: String,
    column: String,
    rows: usize,
    calls: usize,
    offset: usize,
}

impl Auditor for Spender {
    fn new(config: Config) -> Result<Self, Error> {
        Ok(Spender {
            table_id: config.get_or("table_id", ""),
            column: config.get_or("column", "Company Size"),
            rows: config.parse("rows", 5)?,
            calls: config.parse("calls", 1)?,
            offset: config.parse("offset", 0)?,
        })
    }

    fn audit(&mut self, _scope: &AuditScope) -> Result<Report, Error> {
        let table = tables::get(&self.table_id)?;
        let field = table
            .fields
            .iter()
            .find(|f| f.name == self.column)
            .ok_or_else(|| Error::plugin(format!("no column `{}`", self.column)))?;
        let view = table
            .first_view_id
            .clone()
            .ok_or_else(|| Error::plugin("the table has no view"))?;
        let ids = tables::record_ids(&table.id, &view)?;
        let mut spent = 0.0;
        let mut report = Report::new();
        for (call, chunk) in ids[self.offset.min(ids.len())..]
            .chunks(self.rows.max(1))
            .take(self.calls)
            .enumerate()
        {
            let result = tables::run_column(
                &table.id,
                std::slice::from_ref(&field.id),
                &RunTarget::Records(chunk.to_vec()),
                false,
            )?;
            spent += result.credits_spent;
            report.push(
                finding(
                    Severity::Info,
                    "spender.run",
                    Subject::table(table.id.clone(), table.name.clone()),
                )
                .message(format!(
                    "call {call} spent {} credits",
                    result.credits_spent
                ))
                .evidence("records", result.record_count),
            );
        }
        report.set_summary(format!("spent {spent} credits"));
        Ok(report)
    }
}

kiln_guest::export_auditor!(Spender);
