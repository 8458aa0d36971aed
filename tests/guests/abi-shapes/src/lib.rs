//! Bench guest for choosing the transform contract's shape (issue 11): the same batch in
//! three shapes, each decoded as far as an SDK would need, each answered with every row
//! unchanged or with its first field set. Raw bindings, no SDK: what is measured is the
//! boundary, not the SDK.

wit_bindgen::generate!({
    world: "shapes",
    path: "wit",
});

use kiln::abi_shapes::shape_types::{CellInput, CellValue, Effect, PcellInput};

struct Shapes;

impl Guest for Shapes {
    fn records(batch: Vec<Row>, write: bool) -> Vec<RowOutcome> {
        batch
            .into_iter()
            .map(|row| RowOutcome {
                effect: if write {
                    Effect::SetCells(vec![CellInput {
                        field_id: row
                            .cells
                            .first()
                            .map(|c| c.field_id.clone())
                            .unwrap_or_default(),
                        value: CellValue::Text("x@y.io".into()),
                    }])
                } else {
                    Effect::Unchanged
                },
                row_id: row.id,
            })
            .collect()
    }

    fn positional(batch: Vec<Prow>, write: bool) -> Vec<Peffect> {
        batch
            .iter()
            .map(|_| {
                if write {
                    Peffect::SetCells(vec![PcellInput {
                        field: 0,
                        value: CellValue::Text("x@y.io".into()),
                    }])
                } else {
                    Peffect::Unchanged
                }
            })
            .collect()
    }

    fn flat(batch: Vec<u8>, write: bool) -> Vec<u8> {
        let Some(decoded) = decode(&batch) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(decoded.ids.len() * if write { 16 } else { 1 });
        for _ in &decoded.ids {
            if write {
                out.push(1);
                out.extend_from_slice(&1u32.to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
                out.push(2);
                out.extend_from_slice(&6u32.to_le_bytes());
                out.extend_from_slice(b"x@y.io");
            } else {
                out.push(0);
            }
        }
        out
    }
}

/// A cell borrowed from the buffer.
#[allow(dead_code)]
enum CellRef<'a> {
    Absent,
    Null,
    Text(&'a str),
    Number(f64),
    Boolean(bool),
    Json(&'a str),
}

#[allow(dead_code)]
struct Decoded<'a> {
    ids: Vec<&'a str>,
    /// rows × fields.
    cells: Vec<CellRef<'a>>,
    stamps: Vec<(i64, i64)>,
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.buf.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

fn decode(buf: &[u8]) -> Option<Decoded<'_>> {
    let mut r = Reader { buf, at: 0 };
    let rows = r.u32()? as usize;
    let fields = r.u32()? as usize;
    let mut d = Decoded {
        ids: Vec::with_capacity(rows),
        cells: Vec::with_capacity(rows.checked_mul(fields)?),
        stamps: Vec::with_capacity(rows),
    };
    for _ in 0..rows {
        d.ids.push(r.str()?);
        d.stamps.push((r.i64()?, r.i64()?));
        for _ in 0..fields {
            d.cells.push(match r.u8()? {
                0 => CellRef::Absent,
                1 => CellRef::Null,
                2 => CellRef::Text(r.str()?),
                3 => CellRef::Number(f64::from_le_bytes(r.take(8)?.try_into().ok()?)),
                4 => CellRef::Boolean(r.u8()? != 0),
                5 => CellRef::Json(r.str()?),
                _ => return None,
            });
        }
    }
    Some(d)
}

export!(Shapes);
