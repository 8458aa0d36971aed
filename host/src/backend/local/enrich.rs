//! Enrichment columns: running one fills cells deterministically from the row's inputs,
//! sets each cell's status and charges the credit ledger, as Clay's action columns do.

use rusqlite::params;

use super::ids::hash_text;
use super::store::{Db, sql};
use crate::backend::model::*;
use crate::backend::{ClayError, ClayResult};

/// The value an action produces for these inputs: stable, so runs are reproducible.
pub(crate) fn enrich_value(action_key: &str, inputs: &[String]) -> CellValue {
    let joined = inputs.join("|");
    let h = hash_text(&format!("{action_key}:{joined}"));
    match action_key {
        "find-work-email" => {
            let name = inputs.first().map(String::as_str).unwrap_or("");
            let company = inputs.get(1).map(String::as_str).unwrap_or("");
            let mut parts = name.split_whitespace().map(|p| {
                p.chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_lowercase()
            });
            let first = parts.next().unwrap_or_default();
            let last = parts.next_back().unwrap_or_default();
            let domain: String = company
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase();
            let local = if last.is_empty() {
                first
            } else {
                format!("{first}.{last}")
            };
            CellValue::Text(format!("{local}@{domain}.com"))
        }
        "find-mobile" => CellValue::Text(format!("+1555{:07}", h % 10_000_000)),
        "enrich-company" => CellValue::Number((10 + h % 9_990) as f64),
        _ => CellValue::Text(format!("{action_key}:{:08x}", h as u32)),
    }
}

fn is_empty(v: Option<&Cell>) -> bool {
    match v.map(|c| &c.value) {
        None | Some(CellValue::Null) => true,
        Some(CellValue::Text(s)) => s.trim().is_empty(),
        _ => false,
    }
}

/// The enrichment columns named, with their actions; anything else is invalid.
fn action_fields(
    table: &TableInfo,
    field_ids: &[String],
) -> ClayResult<Vec<(Field, ActionConfig)>> {
    if field_ids.is_empty() {
        return Err(ClayError::Invalid(
            "name at least one enrichment column to run".into(),
        ));
    }
    field_ids
        .iter()
        .map(|id| {
            let field = table.field(id).ok_or_else(|| {
                ClayError::Invalid(format!("table `{}` has no field {id}", table.name))
            })?;
            let action = field
                .action
                .clone()
                .filter(|_| field.kind == FieldKind::Action)
                .ok_or_else(|| {
                    ClayError::Invalid(format!(
                        "`{}` ({id}) is not an enrichment column",
                        field.name
                    ))
                })?;
            Ok((field.clone(), action))
        })
        .collect()
}

impl Db<'_> {
    pub(crate) fn run_column(
        &mut self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
        force: bool,
        now: Timestamp,
    ) -> ClayResult<RunResult> {
        let table = self.get_table(table_id)?;
        let actions = action_fields(&table, field_ids)?;
        for (_, action) in &actions {
            if let Some(account) = &action.auth_account_id {
                self.check_integration(table.workspace_id, account)?;
            }
        }
        let (ids, mode) = self.run_targets(table_id, target)?;
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(super::store::MAX_READ_PER_CALL) {
            rows.extend(self.read_records(table_id, chunk)?);
        }

        let actor = self.actor.map(str::to_string);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let (mut ran, mut spent) = (0u32, 0.0);
        for row in &rows {
            let mut cells = Vec::new();
            let mut charged = false;
            for (field, action) in &actions {
                let current = row.cell(&field.id);
                let done = !is_empty(current)
                    && matches!(
                        current.and_then(|c| c.status.as_ref()),
                        Some(CellStatus::Success) | None
                    );
                if done && !force {
                    continue;
                }
                let inputs: Vec<String> = action
                    .input_field_ids
                    .iter()
                    .map(|f| row.cell(f).map(|c| c.value.as_text()).unwrap_or_default())
                    .collect();
                if inputs.iter().any(|i| i.trim().is_empty()) {
                    cells.push(Cell {
                        field_id: field.id.clone(),
                        value: CellValue::Null,
                        status: Some(CellStatus::RunConditionNotMet),
                    });
                    continue;
                }
                cells.push(Cell {
                    field_id: field.id.clone(),
                    value: enrich_value(&action.action_key, &inputs),
                    status: Some(CellStatus::Success),
                });
                let cost = action.credit_cost.unwrap_or(0.0);
                tx.execute(
                    "INSERT INTO ledger(workspace_id, at, user_id, integration_id, package_id, table_id, field_id, credits)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        table.workspace_id as i64,
                        now,
                        actor,
                        action.auth_account_id,
                        action.package_id,
                        table_id,
                        field.id,
                        cost
                    ],
                )
                .map_err(sql)?;
                spent += cost;
                charged = true;
            }
            if !cells.is_empty() {
                Db::write_cells(&tx, row, cells, now)?;
            }
            if charged {
                ran += 1;
            }
        }
        if ran == 0 {
            // Nothing qualified: Clay answers 200 with NONE and has run (and charged) nothing.
            // Run-condition statuses are still recorded, as Clay shows them in the cells.
            tx.commit().map_err(sql)?;
            return Ok(RunResult {
                mode: RunMode::None,
                record_count: 0,
                credits_spent: 0.0,
                credits_unreported: false,
            });
        }
        tx.commit().map_err(sql)?;
        Ok(RunResult {
            mode,
            record_count: ran,
            credits_spent: spent,
            credits_unreported: false,
        })
    }

    /// Every named column's cost per row × the rows targeted: what `run_column` would
    /// spend if every row qualified (it charges only rows that run).
    pub(crate) fn estimate_run_cost(
        &mut self,
        table_id: &str,
        field_ids: &[String],
        target: &RunTarget,
    ) -> ClayResult<f64> {
        let table = self.get_table(table_id)?;
        let per_row: f64 = action_fields(&table, field_ids)?
            .iter()
            .map(|(_, action)| action.credit_cost.unwrap_or(0.0))
            .sum();
        let (ids, _) = self.run_targets(table_id, target)?;
        Ok(per_row * ids.len() as f64)
    }

    /// The records a run targets, and the mode Clay reports for it.
    fn run_targets(
        &mut self,
        table_id: &str,
        target: &RunTarget,
    ) -> ClayResult<(Vec<String>, RunMode)> {
        Ok(match target {
            RunTarget::Records(ids) => (ids.clone(), RunMode::Individual),
            RunTarget::ViewTop {
                view_id,
                num_records,
            } => {
                let mut all = self.record_ids(table_id, view_id)?;
                if let Some(n) = num_records {
                    all.truncate(*n as usize);
                }
                (all, RunMode::Bulk)
            }
        })
    }

    /// An integration authenticated by a removed member no longer works in Clay.
    fn check_integration(&self, workspace_id: u64, account: &str) -> ClayResult<()> {
        let owner: Option<(Option<String>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT i.owner_id, m.status FROM integrations i
                 LEFT JOIN members m ON m.user_id = i.owner_id
                 WHERE i.id = ?1 AND i.workspace_id = ?2",
                params![account, workspace_id as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        match owner {
            None => Err(ClayError::NotFound(format!("integration {account}"))),
            Some((_, Some(status))) if status == "removed" => Err(ClayError::Upstream(format!(
                "integration {account} was authenticated by a removed member; reconnect it with another member's credentials"
            ))),
            Some(_) => Ok(()),
        }
    }
}
