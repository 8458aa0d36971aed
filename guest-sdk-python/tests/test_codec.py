"""The batch and outcome buffers, against the layout of ``batch/src/lib.rs`` and the host's
own golden buffers (``host/src/invocation/batch.rs``)."""

import math
import struct

import pytest

from kiln_sdk import _codec
from kiln_sdk._codec import ABSENT, FormatError, WireOutcome, WireRow
from kiln_sdk.testing import encode_rows
from kiln_sdk.types import Cell, CellStatus, Field, Json, Row


def test_a_batch_is_written_byte_for_byte_as_the_host_writes_it() -> None:
    # host/src/invocation/batch.rs: cells_go_in_the_visible_fields_order_and_hidden_or_stray_cells_stay_home
    row = Row(
        "r_1",
        [Cell("f_b", "b"), Cell("f_h", "hidden"), Cell("f_a", "a"), Cell("f_a", "second")],
        created_at=None,
        updated_at=5,
    )
    fields = [Field("f_a", "F_A"), Field("f_b", "F_B"), Field("f_c", "F_C")]
    expected = bytes(
        [1, 0, 0, 0, 3, 0, 0, 0]
        + [3, 0, 0, 0, ord("r"), ord("_"), ord("1")]
        + [0]
        + [1, 5, 0, 0, 0, 0, 0, 0, 0]
        + [2, 1, 0, 0, 0, ord("a")]
        + [2, 1, 0, 0, 0, ord("b")]
        + [0]
    )
    assert encode_rows(fields, [row]) == expected


def test_the_hosts_golden_outcomes_read_as_the_host_reads_them() -> None:
    # host/src/invocation/batch.rs: outcomes_name_their_rows_by_position_...
    buf = bytes([1, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, ord("x"), 1, 1, 0, 0, 0, 1, 0, 0, 0, 1])
    out = _codec.read_outcomes(buf, 3)
    assert out == [WireOutcome.set_cells([(0, "x")]), WireOutcome.set_cells([(1, None)])]


def every_kind_row() -> WireRow:
    return WireRow(
        "r_é",
        -5,
        1_800_000_000_000,
        [
            (ABSENT, None),
            (None, None),
            ("naïve ☕ 𝄞", None),
            (2.5, CellStatus.success()),
            (True, CellStatus.pending()),
            (False, CellStatus.run_condition_not_met()),
            (Json('{"a": [1, "ü"]}'), CellStatus.error("ERROR_TIMEOUT")),
            (ABSENT, CellStatus.error("ERROR_É")),
            (-0.0, None),
            (math.inf, None),
        ],
    )


def test_every_tag_status_and_stamp_round_trips() -> None:
    row = every_kind_row()
    buf = _codec.write_batch(
        len(row.cells), [row, WireRow("r_2", None, None, [(ABSENT, None)] * 10)]
    )
    batch = _codec.read_batch(buf)
    assert batch.fields == 10 and len(batch.rows) == 2
    r = batch.rows[0]
    assert (r.id, r.created_at, r.updated_at) == ("r_é", -5, 1_800_000_000_000)
    assert r.values[0] is ABSENT
    assert r.values[1:7] == [None, "naïve ☕ 𝄞", 2.5, True, False, Json('{"a": [1, "ü"]}')]
    assert r.values[7] is ABSENT
    assert math.copysign(1, r.values[8]) == -1 and r.values[9] == math.inf
    assert r.statuses == {
        3: CellStatus.success(),
        4: CellStatus.pending(),
        5: CellStatus.run_condition_not_met(),
        6: CellStatus.error("ERROR_TIMEOUT"),
        7: CellStatus.error("ERROR_É"),
    }
    assert batch.rows[1].values == [ABSENT] * 10 and batch.rows[1].statuses == {}


def test_strings_are_counted_in_utf8_bytes() -> None:
    buf = _codec.write_batch(1, [WireRow("r", None, None, [("€", None)])])
    # id "r", two empty stamps, then tag 2 and a length of 3 bytes for one character.
    assert buf[8:] == b"\x01\x00\x00\x00r\x00\x00\x02\x03\x00\x00\x00\xe2\x82\xac"


def test_outcomes_of_every_kind_round_trip() -> None:
    outcomes = [
        WireOutcome.unchanged(),
        WireOutcome.set_cells(
            [(0, None), (1, "Grüße"), (2, 1e-7), (3, True), (4, False), (5, Json("[]"))]
        ),
        WireOutcome.delete(),
        WireOutcome.error("table `Leads` has no column `X` ☹"),
        WireOutcome.set_cells([]),
    ]
    buf = _codec.write_outcomes(outcomes)
    assert buf[0] == 0 and buf[1] == 1
    assert _codec.read_outcomes(buf, 5) == outcomes
    # Fewer outcomes than rows is allowed (the host fails the rest).
    assert _codec.read_outcomes(buf, 9) == outcomes


def test_a_number_is_a_little_endian_f64() -> None:
    buf = _codec.write_outcomes([WireOutcome.set_cells([(7, 1.5)])])
    assert buf == b"\x01\x01\x00\x00\x00\x07\x00\x00\x00\x03" + struct.pack("<d", 1.5)


@pytest.mark.parametrize(
    "buf, rows, what",
    [
        (b"\x03\x05\x00", 1, "the buffer ends inside a value at byte 1"),
        (b"\x03\x05\x00\x00\x00ab", 1, "the buffer ends inside a value at byte 5"),
        (b"\x03\x02\x00\x00\x00\xff\xfe", 1, "a string is not UTF-8 at byte 1"),
        (b"\x09", 1, "unknown tag 9 at byte 0"),
        (b"\x00\x00", 1, "more outcomes than the batch's 1 rows at byte 1"),
        (b"\x01\x01\x00\x00\x00\x00\x00\x00\x00\x04\x02", 1, "unknown tag 2 at byte 11"),
        (b"\x01\x01\x00\x00\x00\x00\x00\x00\x00\x06", 1, "unknown tag 6 at byte 10"),
        (b"\x01\xff\xff\xff\xff", 1, "the buffer ends inside a value at byte 5"),
    ],
)
def test_bad_outcome_buffers_are_refused_naming_the_byte(buf: bytes, rows: int, what: str) -> None:
    with pytest.raises(FormatError) as e:
        _codec.read_outcomes(buf, rows)
    assert str(e.value) == what


def test_bad_batches_are_refused_before_allocating() -> None:
    with pytest.raises(FormatError, match="too large"):
        _codec.read_batch(struct.pack("<II", 1_000_000, 1_000_000))
    with pytest.raises(FormatError, match="ends inside"):
        _codec.read_batch(struct.pack("<II", 1, 1) + b"\x00\x00\x00\x00\x00\x00")
    with pytest.raises(FormatError, match="unknown tag 6"):
        _codec.read_batch(struct.pack("<II", 1, 1) + b"\x00\x00\x00\x00\x00\x00\x06")
    with pytest.raises(FormatError, match="unknown tag 16"):
        _codec.read_batch(struct.pack("<II", 1, 1) + b"\x00\x00\x00\x00\x00\x00\x10")
    with pytest.raises(FormatError, match="unknown tag 4"):
        _codec.read_batch(struct.pack("<II", 1, 1) + b"\x00\x00\x00\x00\x00\x00\x08\x04")
    with pytest.raises(FormatError, match="unknown tag 2 at byte 13"):
        _codec.read_batch(struct.pack("<II", 1, 0) + b"\x00\x00\x00\x00\x02")


def test_values_compare_by_kind_as_the_host_does() -> None:
    assert _codec.same_value(1.0, 1)
    assert _codec.same_value(0.0, -0.0)
    assert not _codec.same_value(True, 1.0)
    assert not _codec.same_value("x", Json("x"))
    assert not _codec.same_value(math.nan, math.nan)
    assert _codec.same_value(None, None)
    with pytest.raises(TypeError, match="cell value"):
        _codec.value_kind(object())  # type: ignore[arg-type]


def test_the_fast_reader_reads_what_the_careful_one_does() -> None:
    buf = _codec.write_batch(
        10, [every_kind_row(), WireRow("r_2", 0, None, [("x", CellStatus.error(""))] * 10)]
    )
    assert _codec._read_batch_fast(buf) == _codec._read_batch_careful(buf)
    # A buffer the fast path cannot read is explained by the careful one.
    with pytest.raises(FormatError, match="a string is not UTF-8 at byte 8"):
        _codec.read_batch(struct.pack("<II", 1, 0) + b"\x01\x00\x00\x00\xff\x00\x00")
