//! A batch in clay:api 0.2.0's buffer layout (`kiln-batch`), and the guest's outcomes back in
//! host terms. Positions are the contract: a row's cells follow the fields of the table the
//! plugin may see, and its outcome is the one at its own position.

use std::collections::HashMap;

use kiln_batch::{BatchWriter, FormatError, Outcome, Status, Value};

use super::types::{Effect, RowOutcome};
use crate::backend::model::{Cell, CellInput, CellStatus, CellValue, Field, Row};

/// The rows as the plugin sees them: only `fields` (the visible ones, in order), the first
/// cell of a field when a row has two.
pub(crate) fn encode(rows: &[Row], fields: &[Field]) -> Vec<u8> {
    let bytes: usize = rows
        .iter()
        .map(|r| {
            24 + r.id.len()
                + r.cells
                    .iter()
                    .map(|c| 6 + value_len(&c.value))
                    .sum::<usize>()
        })
        .sum();
    let mut w = BatchWriter::new(u32::try_from(fields.len()).unwrap_or(u32::MAX), 8 + bytes);
    let position: HashMap<&str, usize> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    // One pass over a row's cells fills this field-ordered row. Cells mostly come in field
    // order, so the field after the last one found is tried before the map.
    let mut slots: Vec<Option<&Cell>> = vec![None; fields.len()];
    for row in rows {
        slots.iter_mut().for_each(|s| *s = None);
        let mut next = 0;
        for cell in &row.cells {
            let at = match fields.get(next) {
                Some(f) if f.id == cell.field_id => Some(next),
                _ => position.get(cell.field_id.as_str()).copied(),
            };
            if let Some(i) = at {
                next = i + 1;
                if slots[i].is_none() {
                    slots[i] = Some(cell);
                }
            }
        }
        w.row(&row.id, row.created_at, row.updated_at);
        for slot in &slots {
            match slot {
                None => w.cell(None, None),
                Some(c) => w.cell(Some(value(&c.value)), c.status.as_ref().map(status)),
            }
        }
    }
    w.finish()
}

fn value_len(v: &CellValue) -> usize {
    match v {
        CellValue::Text(s) | CellValue::Json(s) => s.len(),
        _ => 8,
    }
}

fn value(v: &CellValue) -> Value<'_> {
    match v {
        CellValue::Null => Value::Null,
        CellValue::Text(s) => Value::Text(s),
        CellValue::Number(n) => Value::Number(*n),
        CellValue::Boolean(b) => Value::Boolean(*b),
        CellValue::Json(s) => Value::Json(s),
    }
}

fn status(s: &CellStatus) -> Status<'_> {
    match s {
        CellStatus::Success => Status::Success,
        CellStatus::Pending => Status::Pending,
        CellStatus::RunConditionNotMet => Status::RunConditionNotMet,
        CellStatus::Error(code) => Status::Error(code),
    }
}

fn owned(v: Value<'_>) -> CellValue {
    match v {
        Value::Null => CellValue::Null,
        Value::Text(s) => CellValue::Text(s.to_string()),
        Value::Number(n) => CellValue::Number(n),
        Value::Boolean(b) => CellValue::Boolean(b),
        Value::Json(s) => CellValue::Json(s.to_string()),
    }
}

/// The guest's outcomes for `rows`, each named by its row's id; a cell set by a position
/// past the batch's fields fails its row (and only it).
pub(crate) fn decode(
    buf: &[u8],
    rows: &[Row],
    fields: &[Field],
) -> Result<Vec<RowOutcome>, FormatError> {
    let outcomes = kiln_batch::read_outcomes(buf, rows.len())?;
    Ok(outcomes
        .into_iter()
        .zip(rows)
        .map(|(outcome, row)| RowOutcome {
            row_id: row.id.clone(),
            effect: match outcome {
                Outcome::Unchanged => Effect::Unchanged,
                Outcome::Delete => Effect::Delete,
                Outcome::Error(message) => Effect::Error(message.to_string()),
                Outcome::SetCells(cells) => cells
                    .into_iter()
                    .map(|(at, v)| match fields.get(at as usize) {
                        Some(f) => Ok(CellInput {
                            field_id: f.id.clone(),
                            value: owned(v),
                        }),
                        None => Err(Effect::Error(format!(
                            "refused: the plugin set cell #{at}, but the batch has {} columns; nothing was changed for this row",
                            fields.len()
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_or_else(|refused| refused, Effect::SetCells),
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::model::FieldKind;

    fn field(id: &str) -> Field {
        Field {
            id: id.into(),
            name: id.to_uppercase(),
            kind: FieldKind::Text,
            action: None,
        }
    }

    fn text(field_id: &str, s: &str) -> Cell {
        Cell {
            field_id: field_id.into(),
            value: CellValue::Text(s.into()),
            status: None,
        }
    }

    #[test]
    fn cells_go_in_the_visible_fields_order_and_hidden_or_stray_cells_stay_home() {
        let row = Row {
            id: "r_1".into(),
            // Out of order, a field the plugin may not see (f_h), one twice.
            cells: vec![
                text("f_b", "b"),
                text("f_h", "hidden"),
                text("f_a", "a"),
                text("f_a", "second"),
            ],
            created_at: None,
            updated_at: Some(5),
        };
        let fields = [field("f_a"), field("f_b"), field("f_c")];
        let buf = encode(std::slice::from_ref(&row), &fields);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            1, 0, 0, 0, 3, 0, 0, 0,
            3, 0, 0, 0, b'r', b'_', b'1',
            0,
            1, 5, 0, 0, 0, 0, 0, 0, 0,
            2, 1, 0, 0, 0, b'a',
            2, 1, 0, 0, 0, b'b',
            0,
        ];
        assert_eq!(buf, expected);
    }

    #[test]
    fn outcomes_name_their_rows_by_position_and_a_cell_past_the_fields_fails_only_its_row() {
        let rows: Vec<Row> = ["r_1", "r_2", "r_3"]
            .iter()
            .map(|id| Row {
                id: (*id).into(),
                cells: vec![],
                created_at: None,
                updated_at: None,
            })
            .collect();
        let fields = [field("f_a")];
        #[rustfmt::skip]
        let buf: &[u8] = &[
            1, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, b'x', // r_1: f_a = "x"
            1, 1, 0, 0, 0, 1, 0, 0, 0, 1,                   // r_2: cell #1 = null
        ];
        let out = decode(buf, &rows, &fields).expect("reads");
        assert_eq!(out.len(), 2, "r_3 has no outcome");
        assert_eq!(out[0].row_id, "r_1");
        assert_eq!(
            out[0].effect,
            Effect::SetCells(vec![CellInput {
                field_id: "f_a".into(),
                value: CellValue::Text("x".into())
            }])
        );
        assert_eq!(out[1].row_id, "r_2");
        assert!(
            matches!(&out[1].effect, Effect::Error(m) if m.contains("cell #1") && m.contains("1 columns")),
            "{:?}",
            out[1].effect
        );
    }
}
