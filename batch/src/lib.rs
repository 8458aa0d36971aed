//! The byte layout of clay:api 0.2.0's `transform`: the host hands the guest a batch as one
//! buffer, and the guest answers with one buffer of outcomes.
//!
//! One buffer each way is what made the boundary cheap: measured on one 1,024-row batch of
//! seven text cells (`cargo bench --bench abi`), a no-op call costs 2.8 µs a row when every
//! cell is a WIT record naming its field, 1.8 µs when cells are positional WIT lists, and
//! 0.27 µs as a buffer — the component model lowers a string with a call into the guest to
//! allocate it, and a buffer is one such call.
//!
//! All integers are little-endian. `str` is a `u32` byte length and that many bytes of UTF-8.
//!
//! **Batch** (host → guest):
//! ```text
//! batch   = u32 row-count, u32 field-count, row*
//! row     = str id, stamp created-at, stamp updated-at, cell{field-count}
//! stamp   = u8 0 | u8 1, i64 ms-since-epoch
//! cell    = u8 tag, payload, [status if tag & 0x08]
//!           tag & 0x07: 0 absent (no payload), 1 null, 2 text (str), 3 number (f64),
//!                       4 boolean (u8 0/1), 5 json (str)
//! status  = u8 0 success | 1 pending | 2 run-condition-not-met | 3 error, str code
//! ```
//! Cells are positional: the `i`-th cell of every row belongs to the `i`-th field of the
//! table the transform context describes (the fields the plugin may see, in that order).
//!
//! **Outcomes** (guest → host), one per row in the batch's row order, to the end of the buffer:
//! ```text
//! outcome = u8 0 unchanged
//!         | u8 1 set-cells, u32 count, (u32 field-index, value){count}
//!         | u8 2 delete
//!         | u8 3 error, str message
//! value   = u8 kind (1..=5 as in a cell), payload
//! ```
//!
//! The host trusts nothing a guest writes: [`read_outcomes`] checks every length against the
//! buffer, every tag, every string's UTF-8 and the outcome count against the batch, and
//! allocates in proportion to the buffer, never to a count the guest claims.

use std::fmt;

/// A cell's value, borrowed from a buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Text(&'a str),
    Number(f64),
    Boolean(bool),
    /// Structured data as JSON text.
    Json(&'a str),
}

/// Clay's per-cell status, borrowed from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<'a> {
    Success,
    Pending,
    RunConditionNotMet,
    Error(&'a str),
}

/// What is wrong with a buffer, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct FormatError {
    pub at: usize,
    pub what: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The buffer ends inside a value.
    Truncated,
    UnknownTag(u8),
    NotUtf8,
    /// More outcomes than the batch has rows.
    TooManyOutcomes {
        rows: usize,
    },
    /// A row count and field count whose product does not fit in memory.
    TooLarge,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Truncated => f.write_str("the buffer ends inside a value"),
            Problem::UnknownTag(t) => write!(f, "unknown tag {t}"),
            Problem::NotUtf8 => f.write_str("a string is not UTF-8"),
            Problem::TooManyOutcomes { rows } => {
                write!(f, "more outcomes than the batch's {rows} rows")
            }
            Problem::TooLarge => f.write_str("row and field counts too large"),
        }
    }
}

const ABSENT: u8 = 0;
const NULL: u8 = 1;
const TEXT: u8 = 2;
const NUMBER: u8 = 3;
const BOOLEAN: u8 = 4;
const JSON: u8 = 5;
const KIND: u8 = 0x07;
const HAS_STATUS: u8 = 0x08;

const UNCHANGED: u8 = 0;
const SET_CELLS: u8 = 1;
const DELETE: u8 = 2;
const ERROR: u8 = 3;

// ---- writing ----

fn put_str(buf: &mut Vec<u8>, s: &str) {
    // A string past 4 GiB cannot be in a batch (the guest's memory is 32-bit); the
    // length saturates and the reader reports the buffer truncated.
    buf.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, value: Value<'_>, flags: u8) {
    match value {
        Value::Null => buf.push(NULL | flags),
        Value::Text(s) => {
            buf.push(TEXT | flags);
            put_str(buf, s);
        }
        Value::Number(n) => {
            buf.push(NUMBER | flags);
            buf.extend_from_slice(&n.to_le_bytes());
        }
        Value::Boolean(b) => {
            buf.push(BOOLEAN | flags);
            buf.push(u8::from(b));
        }
        Value::Json(s) => {
            buf.push(JSON | flags);
            put_str(buf, s);
        }
    }
}

fn put_stamp(buf: &mut Vec<u8>, stamp: Option<i64>) {
    match stamp {
        None => buf.push(0),
        Some(ms) => {
            buf.push(1);
            buf.extend_from_slice(&ms.to_le_bytes());
        }
    }
}

/// Writes a batch: [`BatchWriter::row`], then exactly `field-count` [`BatchWriter::cell`]s,
/// for each row.
pub struct BatchWriter {
    buf: Vec<u8>,
    rows: u32,
}

impl BatchWriter {
    pub fn new(fields: u32, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(8));
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&fields.to_le_bytes());
        Self { buf, rows: 0 }
    }

    pub fn row(&mut self, id: &str, created_at: Option<i64>, updated_at: Option<i64>) {
        self.rows += 1;
        put_str(&mut self.buf, id);
        put_stamp(&mut self.buf, created_at);
        put_stamp(&mut self.buf, updated_at);
    }

    /// The row's next cell; `None` when the row has no cell for that field.
    pub fn cell(&mut self, value: Option<Value<'_>>, status: Option<Status<'_>>) {
        let flags = if status.is_some() { HAS_STATUS } else { 0 };
        match value {
            None => self.buf.push(ABSENT | flags),
            Some(v) => put_value(&mut self.buf, v, flags),
        }
        match status {
            None => {}
            Some(Status::Success) => self.buf.push(0),
            Some(Status::Pending) => self.buf.push(1),
            Some(Status::RunConditionNotMet) => self.buf.push(2),
            Some(Status::Error(code)) => {
                self.buf.push(3);
                put_str(&mut self.buf, code);
            }
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf[..4].copy_from_slice(&self.rows.to_le_bytes());
        self.buf
    }
}

/// Writes outcomes, one per row in the batch's order.
#[derive(Default)]
pub struct OutcomeWriter {
    buf: Vec<u8>,
}

impl OutcomeWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
        }
    }

    pub fn unchanged(&mut self) {
        self.buf.push(UNCHANGED);
    }

    pub fn delete(&mut self) {
        self.buf.push(DELETE);
    }

    pub fn error(&mut self, message: &str) {
        self.buf.push(ERROR);
        put_str(&mut self.buf, message);
    }

    /// Sets cells by field index (the position of the field in the batch).
    pub fn set_cells<'v>(&mut self, cells: impl ExactSizeIterator<Item = (u32, Value<'v>)>) {
        self.buf.push(SET_CELLS);
        self.buf
            .extend_from_slice(&u32::try_from(cells.len()).unwrap_or(u32::MAX).to_le_bytes());
        for (field, value) in cells {
            self.buf.extend_from_slice(&field.to_le_bytes());
            put_value(&mut self.buf, value, 0);
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

// ---- reading ----

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn fail(&self, what: Problem) -> FormatError {
        FormatError { at: self.at, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let s = self
            .at
            .checked_add(n)
            .and_then(|end| self.buf.get(self.at..end))
            .ok_or_else(|| self.fail(Problem::Truncated))?;
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, FormatError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A string's span, not yet checked for UTF-8.
    fn span(&mut self) -> Result<Span, FormatError> {
        let len = self.u32()? as usize;
        let start = self.at;
        self.take(len)?;
        Ok(Span {
            start: start as u32,
            len: len as u32,
        })
    }

    fn str(&mut self) -> Result<&'a str, FormatError> {
        let at = self.at;
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| FormatError {
            at,
            what: Problem::NotUtf8,
        })
    }

    fn stamp(&mut self) -> Result<Option<i64>, FormatError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()? as i64)),
            t => Err(self.fail(Problem::UnknownTag(t))),
        }
    }

    fn done(&self) -> bool {
        self.at >= self.buf.len()
    }
}

/// Where a string lies in a batch buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// The string; `None` when it is not UTF-8 (a batch's strings are checked when read,
    /// so a guest pays only for the cells it looks at).
    fn get(self, buf: &[u8]) -> Option<&str> {
        let start = self.start as usize;
        std::str::from_utf8(buf.get(start..start + self.len as usize)?).ok()
    }
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Absent,
    Null,
    Text(Span),
    Number(f64),
    Boolean(bool),
    Json(Span),
}

#[derive(Debug, Clone, Copy)]
enum StatusSlot {
    Success,
    Pending,
    RunConditionNotMet,
    Error(Span),
}

#[derive(Debug, Clone, Copy)]
struct RowSlot {
    id: Span,
    created_at: Option<i64>,
    updated_at: Option<i64>,
}

/// Where each row, id and cell of a batch buffer lies: built once, read through with the
/// buffer itself (it holds no borrow, so a plugin's batch can own both).
#[derive(Debug, Clone, Default)]
pub struct BatchIndex {
    fields: usize,
    rows: Vec<RowSlot>,
    /// `rows × fields`, row-major.
    cells: Vec<Slot>,
    /// Statuses are rare: `(cell index, status)`, in cell order.
    statuses: Vec<(u32, StatusSlot)>,
}

impl BatchIndex {
    /// Indexes a batch buffer. Strings are checked for UTF-8 when read, not here.
    pub fn read(buf: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader { buf, at: 0 };
        let rows = r.u32()? as usize;
        let fields = r.u32()? as usize;
        // Every row takes at least 6 bytes and every cell one: counts the buffer cannot
        // hold are refused before anything is allocated for them.
        let cells = rows
            .checked_mul(fields)
            .filter(|&n| n <= buf.len() && rows.saturating_mul(6) <= buf.len())
            .ok_or_else(|| r.fail(Problem::TooLarge))?;
        let mut index = BatchIndex {
            fields,
            rows: Vec::with_capacity(rows),
            cells: Vec::with_capacity(cells),
            statuses: Vec::new(),
        };
        for _ in 0..rows {
            let id = r.span()?;
            let created_at = r.stamp()?;
            let updated_at = r.stamp()?;
            index.rows.push(RowSlot {
                id,
                created_at,
                updated_at,
            });
            for _ in 0..fields {
                let tag = r.u8()?;
                let slot = match tag & KIND {
                    ABSENT => Slot::Absent,
                    NULL => Slot::Null,
                    TEXT => Slot::Text(r.span()?),
                    NUMBER => Slot::Number(f64::from_bits(r.u64()?)),
                    BOOLEAN => Slot::Boolean(r.u8()? != 0),
                    JSON => Slot::Json(r.span()?),
                    _ => return Err(r.fail(Problem::UnknownTag(tag))),
                };
                if tag & HAS_STATUS != 0 {
                    let status = match r.u8()? {
                        0 => StatusSlot::Success,
                        1 => StatusSlot::Pending,
                        2 => StatusSlot::RunConditionNotMet,
                        3 => StatusSlot::Error(r.span()?),
                        t => return Err(r.fail(Problem::UnknownTag(t))),
                    };
                    index.statuses.push((index.cells.len() as u32, status));
                } else if tag & !(KIND | HAS_STATUS) != 0 {
                    return Err(r.fail(Problem::UnknownTag(tag)));
                }
                index.cells.push(slot);
            }
        }
        Ok(index)
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    pub fn fields(&self) -> usize {
        self.fields
    }

    /// Row `row`'s record id.
    pub fn id<'a>(&self, buf: &'a [u8], row: usize) -> Option<&'a str> {
        self.rows.get(row)?.id.get(buf)
    }

    pub fn created_at(&self, row: usize) -> Option<i64> {
        self.rows.get(row)?.created_at
    }

    pub fn updated_at(&self, row: usize) -> Option<i64> {
        self.rows.get(row)?.updated_at
    }

    /// Row `row`'s cell of field `field`; `None` when the row has none (or the indices are
    /// out of range).
    pub fn value<'a>(&self, buf: &'a [u8], row: usize, field: usize) -> Option<Value<'a>> {
        if field >= self.fields {
            return None;
        }
        Some(
            match *self.cells.get(row.checked_mul(self.fields)? + field)? {
                Slot::Absent => return None,
                Slot::Null => Value::Null,
                Slot::Text(s) => Value::Text(s.get(buf)?),
                Slot::Number(n) => Value::Number(n),
                Slot::Boolean(b) => Value::Boolean(b),
                Slot::Json(s) => Value::Json(s.get(buf)?),
            },
        )
    }

    /// Row `row`'s cell status of field `field`, when Clay gave one.
    pub fn status<'a>(&self, buf: &'a [u8], row: usize, field: usize) -> Option<Status<'a>> {
        if field >= self.fields {
            return None;
        }
        let cell = u32::try_from(row.checked_mul(self.fields)? + field).ok()?;
        let at = self
            .statuses
            .binary_search_by_key(&cell, |(c, _)| *c)
            .ok()?;
        Some(match self.statuses[at].1 {
            StatusSlot::Success => Status::Success,
            StatusSlot::Pending => Status::Pending,
            StatusSlot::RunConditionNotMet => Status::RunConditionNotMet,
            StatusSlot::Error(s) => Status::Error(s.get(buf)?),
        })
    }
}

/// One outcome as the guest wrote it, borrowed from the buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'a> {
    Unchanged,
    /// `(field index, value)`; the index is the guest's claim, not yet checked against the
    /// batch's fields.
    SetCells(Vec<(u32, Value<'a>)>),
    Delete,
    Error(&'a str),
}

/// Reads a guest's outcomes for a batch of `rows` rows: at most `rows` of them (fewer when
/// the guest left the last rows without one).
pub fn read_outcomes(buf: &[u8], rows: usize) -> Result<Vec<Outcome<'_>>, FormatError> {
    let mut r = Reader { buf, at: 0 };
    let mut out = Vec::with_capacity(rows.min(buf.len()));
    while !r.done() {
        if out.len() == rows {
            return Err(r.fail(Problem::TooManyOutcomes { rows }));
        }
        let tag = r.u8()?;
        out.push(match tag {
            UNCHANGED => Outcome::Unchanged,
            DELETE => Outcome::Delete,
            ERROR => Outcome::Error(r.str()?),
            SET_CELLS => {
                let count = r.u32()? as usize;
                // Each cell takes at least 6 bytes: a count past that is refused as
                // truncated below, and never sizes an allocation.
                let mut cells = Vec::with_capacity(count.min((buf.len() - r.at) / 6));
                for _ in 0..count {
                    let field = r.u32()?;
                    let kind = r.u8()?;
                    let value = match kind {
                        NULL => Value::Null,
                        TEXT => Value::Text(r.str()?),
                        NUMBER => Value::Number(f64::from_bits(r.u64()?)),
                        BOOLEAN => Value::Boolean(match r.u8()? {
                            0 => false,
                            1 => true,
                            t => return Err(r.fail(Problem::UnknownTag(t))),
                        }),
                        JSON => Value::Json(r.str()?),
                        t => return Err(r.fail(Problem::UnknownTag(t))),
                    };
                    cells.push((field, value));
                }
                Outcome::SetCells(cells)
            }
            t => {
                r.at -= 1;
                return Err(r.fail(Problem::UnknownTag(t)));
            }
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
