"""The byte layout of clay:api 0.2.0's ``transform``, both ways, in pure Python.

The host hands the guest a batch as one buffer and the guest answers with one buffer of
outcomes: one buffer each way because the component model lowers every string with a call
into the guest, and a buffer is one such call. The layout is specified at the top of
``batch/src/lib.rs`` (the ``kiln-batch`` crate); this module follows it byte for byte:

.. code-block:: text

    batch   = u32 row-count, u32 field-count, row*
    row     = str id, stamp created-at, stamp updated-at, cell{field-count}
    stamp   = u8 0 | u8 1, i64 ms-since-epoch
    cell    = u8 tag, payload, [status if tag & 0x08]
              tag & 0x07: 0 absent, 1 null, 2 text (str), 3 number (f64),
                          4 boolean (u8 0/1), 5 json (str)
    status  = u8 0 success | 1 pending | 2 run-condition-not-met | 3 error, str code

    outcome = u8 0 unchanged
            | u8 1 set-cells, u32 count, (u32 field-index, value){count}
            | u8 2 delete
            | u8 3 error, str message
    value   = u8 kind (1..=5 as in a cell), payload

All integers are little-endian; ``str`` is a ``u32`` byte length and that many bytes of UTF-8.

The guest side (:func:`read_batch`, :func:`write_outcomes`) is what a plugin runs. The host
side (:func:`write_batch`, :func:`read_outcomes`) is here so that
:class:`kiln_sdk.testing.MockWorkspace` drives a plugin through the very bytes kiln would,
and so the tests can check the codec against the host's own golden buffers. Like the host,
the readers trust nothing: every length is checked against the buffer and every tag,
string and count is validated, with the error naming the byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from .types import CellStatus, Json, StatusKind, Value

ABSENT_TAG = 0
NULL = 1
TEXT = 2
NUMBER = 3
BOOLEAN = 4
JSON = 5
KIND = 0x07
HAS_STATUS = 0x08

UNCHANGED = 0
SET_CELLS = 1
DELETE = 2
ERROR = 3

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32_MAX = 0xFFFFFFFF


class _Absent:
    """A cell the row does not have (distinct from a null cell, which it has)."""

    _instance: Optional[_Absent] = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


#: The value slot of a cell the row does not have.
ABSENT = _Absent()


class FormatError(ValueError):
    """A buffer that does not follow the layout: what is wrong, and at which byte."""

    def __init__(self, at: int, what: str) -> None:
        self.at = at
        self.what = what
        super().__init__(f"{what} at byte {at}")


# ---- values ----


def value_kind(value: Value) -> int:
    """The wire kind of a Python cell value; ``TypeError`` for anything that is not one.

    ``bool`` is tested before numbers because ``True`` is an ``int`` to Python but a boolean
    cell to Clay.
    """
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, str):
        return TEXT
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, Json):
        return JSON
    raise TypeError(
        f"a cell value must be None, str, int, float, bool or kiln_sdk.Json, not {type(value).__name__}"
    )


def same_value(a: Value, b: Value) -> bool:
    """Whether two cell values are equal as the host compares them: same kind and payload.

    Plain ``==`` would call ``True == 1.0`` and ``"x" == Json("x")`` wrong ways round for
    Clay; floats compare as IEEE numbers (``nan`` differs from itself, ``-0.0`` equals ``0.0``).
    """
    ka, kb = value_kind(a), value_kind(b)
    if ka != kb:
        return False
    if ka == NUMBER:
        return float(a) == float(b)  # type: ignore[arg-type]
    return a == b


def _put_str(out: bytearray, s: str) -> None:
    data = s.encode("utf-8")
    out += _U32.pack(min(len(data), _U32_MAX))
    out += data


def _put_value(out: bytearray, value: Value, flags: int = 0) -> None:
    kind = value_kind(value)
    out.append(kind | flags)
    if kind == TEXT:
        _put_str(out, value)  # type: ignore[arg-type]
    elif kind == NUMBER:
        out += _F64.pack(float(value))  # type: ignore[arg-type]
    elif kind == BOOLEAN:
        out.append(1 if value else 0)
    elif kind == JSON:
        _put_str(out, value.text)  # type: ignore[union-attr]


def _put_stamp(out: bytearray, stamp: Optional[int]) -> None:
    if stamp is None:
        out.append(0)
    else:
        out.append(1)
        out += _I64.pack(stamp)


def _put_status(out: bytearray, status: CellStatus) -> None:
    if status.kind is StatusKind.SUCCESS:
        out.append(0)
    elif status.kind is StatusKind.PENDING:
        out.append(1)
    elif status.kind is StatusKind.RUN_CONDITION_NOT_MET:
        out.append(2)
    else:
        out.append(3)
        _put_str(out, status.code or "")


# ---- reading ----


class _Reader:
    __slots__ = ("buf", "at")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.at = 0

    def fail(self, what: str) -> FormatError:
        return FormatError(self.at, what)

    def take(self, n: int) -> bytes:
        end = self.at + n
        if end > len(self.buf):
            raise self.fail("the buffer ends inside a value")
        s = self.buf[self.at : end]
        self.at = end
        return s

    def u8(self) -> int:
        if self.at >= len(self.buf):
            raise self.fail("the buffer ends inside a value")
        b = self.buf[self.at]
        self.at += 1
        return b

    def u32(self) -> int:
        return _U32.unpack(self.take(4))[0]

    def i64(self) -> int:
        return _I64.unpack(self.take(8))[0]

    def f64(self) -> float:
        return _F64.unpack(self.take(8))[0]

    def string(self) -> str:
        at = self.at
        n = self.u32()
        data = self.take(n)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(at, "a string is not UTF-8") from None

    def stamp(self) -> Optional[int]:
        t = self.u8()
        if t == 0:
            return None
        if t == 1:
            return self.i64()
        raise self.fail(f"unknown tag {t}")

    def done(self) -> bool:
        return self.at >= len(self.buf)


@dataclass
class RawRow:
    """One row of a batch as read: ``values[i]`` and ``statuses[i]`` belong to field ``i``.

    A value is :data:`ABSENT` when the row has no cell for that field; ``statuses`` holds only
    the cells Clay gave a status (they are rare), by field position.
    """

    id: str
    created_at: Optional[int]
    updated_at: Optional[int]
    values: List[Union[Value, _Absent]]
    statuses: dict[int, CellStatus]


@dataclass
class RawBatch:
    fields: int
    rows: List[RawRow]


class _Unreadable(Exception):
    """The fast path met something it does not read; the careful reader says what."""


def read_batch(buf: bytes) -> RawBatch:
    """Reads a batch buffer (the guest's side). Raises :class:`FormatError`.

    Every plugin runs this on every batch, so the usual case takes a fast path with no
    checks but the ones Python makes anyway (an index past the end, a short ``unpack``,
    bad UTF-8); any of those sends the buffer through :func:`_read_batch_careful`, which
    raises the error with the byte it is at."""
    data = bytes(buf)
    try:
        return _read_batch_fast(data)
    except (IndexError, struct.error, UnicodeDecodeError, _Unreadable):
        return _read_batch_careful(data)


def _read_batch_fast(buf: bytes) -> RawBatch:
    u32 = _U32.unpack_from
    i64 = _I64.unpack_from
    f64 = _F64.unpack_from
    size = len(buf)
    n_rows, n_fields = struct.unpack_from("<II", buf, 0)
    if n_rows * n_fields > size or n_rows * 6 > size:
        raise _Unreadable
    absent = ABSENT
    at = 8
    rows: List[RawRow] = []
    for _ in range(n_rows):
        n = u32(buf, at)[0]
        at += 4
        end = at + n
        if end > size:
            raise _Unreadable
        row_id = buf[at:end].decode("utf-8")
        at = end
        stamps: List[Optional[int]] = []
        for _ in (0, 1):
            t = buf[at]
            at += 1
            if t == 0:
                stamps.append(None)
            elif t == 1:
                stamps.append(i64(buf, at)[0])
                at += 8
            else:
                raise _Unreadable
        values: List[Union[Value, _Absent]] = []
        statuses: dict[int, CellStatus] = {}
        for f in range(n_fields):
            tag = buf[at]
            at += 1
            kind = tag & KIND
            if kind == TEXT or kind == JSON:
                n = u32(buf, at)[0]
                at += 4
                end = at + n
                if end > size:
                    raise _Unreadable
                text = buf[at:end].decode("utf-8")
                at = end
                values.append(text if kind == TEXT else Json(text))
            elif kind == ABSENT_TAG:
                values.append(absent)
            elif kind == NULL:
                values.append(None)
            elif kind == NUMBER:
                values.append(f64(buf, at)[0])
                at += 8
            elif kind == BOOLEAN:
                values.append(buf[at] != 0)
                at += 1
            else:
                raise _Unreadable
            if tag & HAS_STATUS:
                s = buf[at]
                at += 1
                if s == 0:
                    statuses[f] = CellStatus.success()
                elif s == 1:
                    statuses[f] = CellStatus.pending()
                elif s == 2:
                    statuses[f] = CellStatus.run_condition_not_met()
                elif s == 3:
                    n = u32(buf, at)[0]
                    at += 4
                    end = at + n
                    if end > size:
                        raise _Unreadable
                    statuses[f] = CellStatus.error(buf[at:end].decode("utf-8"))
                    at = end
                else:
                    raise _Unreadable
            elif tag & ~(KIND | HAS_STATUS):
                raise _Unreadable
        rows.append(RawRow(row_id, stamps[0], stamps[1], values, statuses))
    return RawBatch(n_fields, rows)


def _read_batch_careful(buf: bytes) -> RawBatch:
    """Reads a batch step by step, naming the byte of the first problem: the reference for
    :func:`read_batch`, and how it explains a buffer its fast path cannot read."""
    r = _Reader(bytes(buf))
    n_rows = r.u32()
    n_fields = r.u32()
    # Every row takes at least 6 bytes and every cell one: counts the buffer cannot hold
    # are refused before anything is allocated for them.
    if n_rows * n_fields > len(buf) or n_rows * 6 > len(buf):
        raise r.fail("row and field counts too large")
    rows: List[RawRow] = []
    for _ in range(n_rows):
        row_id = r.string()
        created_at = r.stamp()
        updated_at = r.stamp()
        values: List[Union[Value, _Absent]] = []
        statuses: dict[int, CellStatus] = {}
        for f in range(n_fields):
            tag = r.u8()
            kind = tag & KIND
            value: Union[Value, _Absent]
            if kind == ABSENT_TAG:
                value = ABSENT
            elif kind == NULL:
                value = None
            elif kind == TEXT:
                value = r.string()
            elif kind == NUMBER:
                value = r.f64()
            elif kind == BOOLEAN:
                value = r.u8() != 0
            elif kind == JSON:
                value = Json(r.string())
            else:
                r.at -= 1
                raise r.fail(f"unknown tag {tag}")
            if tag & HAS_STATUS:
                s = r.u8()
                if s == 0:
                    statuses[f] = CellStatus.success()
                elif s == 1:
                    statuses[f] = CellStatus.pending()
                elif s == 2:
                    statuses[f] = CellStatus.run_condition_not_met()
                elif s == 3:
                    statuses[f] = CellStatus.error(r.string())
                else:
                    raise r.fail(f"unknown tag {s}")
            elif tag & ~(KIND | HAS_STATUS):
                raise r.fail(f"unknown tag {tag}")
            values.append(value)
        rows.append(RawRow(row_id, created_at, updated_at, values, statuses))
    return RawBatch(n_fields, rows)


# ---- outcomes ----


@dataclass(frozen=True)
class WireOutcome:
    """One outcome as it travels: ``kind`` is ``unchanged``, ``set``, ``delete`` or ``error``;
    ``cells`` are ``(field index, value)`` for ``set``, ``message`` is set for ``error``."""

    kind: str
    cells: Tuple[Tuple[int, Value], ...] = ()
    message: Optional[str] = None

    @staticmethod
    def unchanged() -> WireOutcome:
        return WireOutcome("unchanged")

    @staticmethod
    def delete() -> WireOutcome:
        return WireOutcome("delete")

    @staticmethod
    def error(message: str) -> WireOutcome:
        return WireOutcome("error", message=message)

    @staticmethod
    def set_cells(cells: Iterable[Tuple[int, Value]]) -> WireOutcome:
        return WireOutcome("set", tuple(cells))


def write_outcomes(outcomes: Iterable[WireOutcome]) -> bytes:
    """The guest's answer: one outcome per row, in the batch's order."""
    out = bytearray()
    for o in outcomes:
        if o.kind == "unchanged":
            out.append(UNCHANGED)
        elif o.kind == "delete":
            out.append(DELETE)
        elif o.kind == "error":
            out.append(ERROR)
            _put_str(out, o.message or "")
        elif o.kind == "set":
            out.append(SET_CELLS)
            out += _U32.pack(len(o.cells))
            for index, value in o.cells:
                out += _U32.pack(index)
                _put_value(out, value)
        else:
            raise ValueError(f"unknown outcome kind {o.kind!r}")
    return bytes(out)


def read_outcomes(buf: bytes, rows: int) -> List[WireOutcome]:
    """Reads a guest's outcomes for a batch of ``rows`` rows (the host's side): at most
    ``rows`` of them, fewer when the guest left the last rows without one."""
    r = _Reader(bytes(buf))
    out: List[WireOutcome] = []
    while not r.done():
        if len(out) == rows:
            raise r.fail(f"more outcomes than the batch's {rows} rows")
        tag = r.u8()
        if tag == UNCHANGED:
            out.append(WireOutcome.unchanged())
        elif tag == DELETE:
            out.append(WireOutcome.delete())
        elif tag == ERROR:
            out.append(WireOutcome.error(r.string()))
        elif tag == SET_CELLS:
            count = r.u32()
            cells: List[Tuple[int, Value]] = []
            for _ in range(count):
                index = r.u32()
                kind = r.u8()
                value: Value
                if kind == NULL:
                    value = None
                elif kind == TEXT:
                    value = r.string()
                elif kind == NUMBER:
                    value = r.f64()
                elif kind == BOOLEAN:
                    b = r.u8()
                    if b not in (0, 1):
                        raise r.fail(f"unknown tag {b}")
                    value = b == 1
                elif kind == JSON:
                    value = Json(r.string())
                else:
                    raise r.fail(f"unknown tag {kind}")
                cells.append((index, value))
            out.append(WireOutcome.set_cells(cells))
        else:
            r.at -= 1
            raise r.fail(f"unknown tag {tag}")
    return out


# ---- writing a batch (the host's side) ----

#: A cell as the host writes it: its value (or :data:`ABSENT`) and its status, if any.
WireCell = Tuple[Union[Value, _Absent], Optional[CellStatus]]


@dataclass
class WireRow:
    id: str
    created_at: Optional[int]
    updated_at: Optional[int]
    #: Exactly one per field, in the fields' order.
    cells: Sequence[WireCell]


def write_batch(fields: int, rows: Iterable[WireRow]) -> bytes:
    """Writes a batch buffer as the host does; every row must have ``fields`` cells."""
    out = bytearray(8)
    n = 0
    for row in rows:
        if len(row.cells) != fields:
            raise ValueError(f"row {row.id} has {len(row.cells)} cells for {fields} fields")
        n += 1
        _put_str(out, row.id)
        _put_stamp(out, row.created_at)
        _put_stamp(out, row.updated_at)
        for value, status in row.cells:
            flags = HAS_STATUS if status is not None else 0
            if value is ABSENT:
                out.append(ABSENT_TAG | flags)
            else:
                _put_value(out, value, flags)  # type: ignore[arg-type]
            if status is not None:
                _put_status(out, status)
    out[0:4] = _U32.pack(n)
    out[4:8] = _U32.pack(fields)
    return bytes(out)
