//! Buffers written out by hand from the layout in the crate docs, so a change to the
//! writer and the reader together cannot pass unnoticed.

use super::*;

#[rustfmt::skip]
const ONE_ROW: &[u8] = &[
    1, 0, 0, 0,            // one row
    3, 0, 0, 0,            // three fields
    3, 0, 0, 0, b'r', b'_', b'1',
    1, 0x10, 0, 0, 0, 0, 0, 0, 0,  // created at 16 ms
    0,                     // updated at: unknown
    2, 2, 0, 0, 0, b'h', b'i',     // field 0: text "hi"
    0,                     // field 1: absent
    0x0b, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // field 2: number 1.0 with a status…
    3, 4, 0, 0, 0, b'E', b'_', b'N', b'O', // …error "E_NO"
];

#[test]
fn a_hand_written_batch_reads_as_written_and_the_writer_writes_it_byte_for_byte() {
    let index = BatchIndex::read(ONE_ROW).expect("reads");
    assert_eq!((index.rows(), index.fields()), (1, 3));
    assert_eq!(index.id(ONE_ROW, 0), Some("r_1"));
    assert_eq!(index.created_at(0), Some(16));
    assert_eq!(index.updated_at(0), None);
    assert_eq!(index.value(ONE_ROW, 0, 0), Some(Value::Text("hi")));
    assert_eq!(index.value(ONE_ROW, 0, 1), None);
    assert_eq!(index.value(ONE_ROW, 0, 2), Some(Value::Number(1.0)));
    assert_eq!(index.status(ONE_ROW, 0, 2), Some(Status::Error("E_NO")));
    assert_eq!(index.status(ONE_ROW, 0, 0), None);
    assert_eq!(index.value(ONE_ROW, 0, 3), None, "past the last field");
    assert_eq!(index.value(ONE_ROW, 1, 0), None, "past the last row");

    let mut w = BatchWriter::new(3, 0);
    w.row("r_1", Some(16), None);
    w.cell(Some(Value::Text("hi")), None);
    w.cell(None, None);
    w.cell(Some(Value::Number(1.0)), Some(Status::Error("E_NO")));
    assert_eq!(w.finish(), ONE_ROW);
}

#[test]
fn every_kind_of_value_and_status_survives_the_trip() {
    let values = [
        Value::Null,
        Value::Text("é"),
        Value::Number(-2.5),
        Value::Boolean(true),
        Value::Json("{\"a\":1}"),
    ];
    let statuses = [
        None,
        Some(Status::Success),
        Some(Status::Pending),
        Some(Status::RunConditionNotMet),
        Some(Status::Error("ERROR_X")),
    ];
    let mut w = BatchWriter::new(values.len() as u32, 0);
    for row in 0..2 {
        w.row(&format!("r_{row}"), None, Some(row));
        for (v, s) in values.iter().zip(statuses) {
            w.cell(Some(*v), s);
        }
    }
    let buf = w.finish();
    let index = BatchIndex::read(&buf).expect("reads");
    for row in 0..2 {
        assert_eq!(index.updated_at(row), Some(row as i64));
        for (field, (v, s)) in values.iter().zip(statuses).enumerate() {
            assert_eq!(index.value(&buf, row, field), Some(*v));
            assert_eq!(index.status(&buf, row, field), s);
        }
    }
}

#[rustfmt::skip]
const OUTCOMES: &[u8] = &[
    0,                                  // unchanged
    1, 2, 0, 0, 0,                      // set two cells:
    0, 0, 0, 0, 2, 1, 0, 0, 0, b'x',    //   field 0 = "x"
    4, 0, 0, 0, 4, 1,                   //   field 4 = true
    2,                                  // delete
    3, 2, 0, 0, 0, b'n', b'o',          // error "no"
];

#[test]
fn hand_written_outcomes_read_as_written_and_the_writer_writes_them_byte_for_byte() {
    let read = read_outcomes(OUTCOMES, 4).expect("reads");
    assert_eq!(
        read,
        vec![
            Outcome::Unchanged,
            Outcome::SetCells(vec![(0, Value::Text("x")), (4, Value::Boolean(true))]),
            Outcome::Delete,
            Outcome::Error("no"),
        ]
    );
    let mut w = OutcomeWriter::default();
    w.unchanged();
    w.set_cells([(0, Value::Text("x")), (4, Value::Boolean(true))].into_iter());
    w.delete();
    w.error("no");
    assert_eq!(w.finish(), OUTCOMES);
    assert_eq!(
        read_outcomes(&OUTCOMES[..1], 4),
        Ok(vec![Outcome::Unchanged])
    );
    assert_eq!(read_outcomes(&[], 4), Ok(vec![]));
}

fn problem(r: Result<Vec<Outcome<'_>>, FormatError>) -> Problem {
    match r {
        Err(e) => e.what,
        Ok(o) => panic!("accepted: {o:?}"),
    }
}

#[test]
fn hostile_outcomes_are_refused_without_allocating_what_they_claim() {
    // More outcomes than rows.
    assert_eq!(
        problem(read_outcomes(&[0, 0, 0], 2)),
        Problem::TooManyOutcomes { rows: 2 }
    );
    // A set of four billion cells in a six-byte buffer.
    assert_eq!(
        problem(read_outcomes(&[1, 0xff, 0xff, 0xff, 0xff, 0], 1)),
        Problem::Truncated
    );
    // A string claiming 4 GiB.
    assert_eq!(
        problem(read_outcomes(&[3, 0xff, 0xff, 0xff, 0xff, b'a'], 1)),
        Problem::Truncated
    );
    // Not UTF-8.
    assert_eq!(
        problem(read_outcomes(&[3, 1, 0, 0, 0, 0xff], 1)),
        Problem::NotUtf8
    );
    // Unknown outcome and value tags; a boolean that is neither 0 nor 1; absent is not a value.
    assert_eq!(problem(read_outcomes(&[9], 1)), Problem::UnknownTag(9));
    assert_eq!(
        problem(read_outcomes(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 7], 1)),
        Problem::UnknownTag(7)
    );
    assert_eq!(
        problem(read_outcomes(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 4, 2], 1)),
        Problem::UnknownTag(2)
    );
    assert_eq!(
        problem(read_outcomes(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 1)),
        Problem::UnknownTag(0)
    );
    // The error says where.
    let e = read_outcomes(&[0, 0, 9], 3).unwrap_err();
    assert_eq!(e.at, 2);
    assert_eq!(e.to_string(), "unknown tag 9 at byte 2");
}

#[test]
fn a_batch_claiming_more_rows_or_cells_than_its_bytes_is_refused_before_allocating() {
    let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(BatchIndex::read(&huge).unwrap_err().what, Problem::TooLarge);
    let mut truncated = ONE_ROW.to_vec();
    truncated.pop();
    assert_eq!(
        BatchIndex::read(&truncated).unwrap_err().what,
        Problem::Truncated
    );
}
