"""Row transformations: :class:`Transformer`, the :class:`Batch` and :class:`Row` it reads,
and the :class:`Outcome` it returns for each row.

Mirrors ``kiln_guest``'s ``transform.rs``. A plugin overrides
:meth:`Transformer.transform_row` (or :meth:`Transformer.transform_batch` to see the whole
batch at once, as Rust's ``Transformer::transform`` does) and answers each row with
:func:`set`, :func:`unchanged`, :func:`delete` or :func:`error`. The SDK then resolves the
column names to the positions the host's buffer uses, drops writes of the value a cell
already has, and fails only the row whose outcome names a column the table does not show the
plugin. An exception the plugin raises is a bug, not a row's error: like a panic in Rust it
traps the batch (with its traceback in the host's log), so that a broken plugin never looks
like a plugin that found every row wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from . import _codec
from .config import Config, parse_float
from .errors import Error
from .types import (
    Cell,
    CellStatus,
    Field,
    Json,
    Row as RowRecord,
    TableInfo,
    TransformContext,
    Value,
)


# ---- outcomes ----


def _cell_value(value: Any) -> Value:
    """A value a plugin passes to :func:`set`, as a cell value (``TypeError`` for anything
    Clay cannot hold). ``int`` becomes a number; ``dict`` and ``list`` become JSON."""
    if isinstance(value, (dict, list)):
        return Json.of(value)
    _codec.value_kind(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@dataclass(frozen=True)
class Outcome:
    """What happens to one row: build it with :func:`set`, :func:`unchanged`,
    :func:`delete` or :func:`error`, and chain :meth:`set` for more cells.

    ``cells`` are ``(column, value)`` in the order they were set; columns are names (any
    case) or field ids, resolved against the batch when the SDK encodes the outcome.
    """

    kind: str
    cells: Tuple[Tuple[str, Value], ...] = ()
    message: Optional[str] = None

    def set(self, column: str, value: Any) -> Outcome:
        """This outcome with one more cell to set. On a deleted or failed row it does
        nothing (as in Rust), so a chain can start from any outcome."""
        if not isinstance(column, str):
            raise TypeError(f"a column is named by a str, not {type(column).__name__}")
        v = _cell_value(value)
        if self.kind in ("delete", "error"):
            return self
        return Outcome("set", self.cells + ((column, v),))

    def set_all(self, cells: Mapping[str, Any]) -> Outcome:
        """This outcome with every ``column: value`` of ``cells`` set, in order."""
        out = self
        for column, value in cells.items():
            out = out.set(column, value)
        return out

    @property
    def is_unchanged(self) -> bool:
        """Whether this outcome changes nothing (before writes of the current value are
        dropped)."""
        return self.kind == "unchanged"


def unchanged() -> Outcome:
    """Leaves the row as it is."""
    return Outcome("unchanged")


def set(cells: Optional[Mapping[str, Any]] = None, /, **by_name: Any) -> Outcome:  # noqa: A001
    """Sets cells: ``set({"Email": "ada@example.com", "Score": 3})``; keyword arguments work
    for column names that are identifiers. Values are ``str`` (text), ``int``/``float``
    (number), ``bool``, ``None`` (null), :class:`~kiln_sdk.Json`, or a ``dict``/``list``
    (stored as JSON). A column the table does not have fails the row, naming it."""
    return unchanged().set_all({**(cells or {}), **by_name})


def set_cells(cells: Optional[Mapping[str, Any]] = None, /, **by_name: Any) -> Outcome:
    """:func:`set` under a name that does not shadow the builtin, for ``from kiln_sdk import``."""
    return set(cells, **by_name)


def delete() -> Outcome:
    """Deletes the row."""
    return Outcome("delete")


def error(message: str) -> Outcome:
    """This row could not be processed; the rest of the batch goes on."""
    return Outcome("error", message=str(message))


# ---- reading ----


def format_number(n: float) -> str:
    """A number as Rust's ``f64`` ``Display`` writes it: no exponent, no trailing ``.0``
    (``1.0`` → ``1``, ``1e-7`` → ``0.0000001``), ``NaN``, ``inf``."""
    if math.isnan(n):
        return "NaN"
    if math.isinf(n):
        return "inf" if n > 0 else "-inf"
    s = format(Decimal(repr(n)), "f")
    return s[:-2] if s.endswith(".0") else s


def cell_text(value: Value) -> Optional[str]:
    """A cell value as text, as ``RowRef::text`` writes it: text and JSON as they are,
    whole numbers below 1e15 without a fraction, other numbers as Rust prints them,
    booleans as ``true``/``false``; ``None`` for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Json):
        return value.text
    n = float(value)
    if math.isfinite(n) and n == math.trunc(n) and abs(n) < 1e15:
        return str(int(n))
    return format_number(n)


class Columns:
    """A table's columns by field id, by name as the table spells it, and by name in any
    case, in that order of precedence (an id wins over a name spelled like it; the first of
    two fields with one name wins), as ``kiln_guest`` looks them up."""

    def __init__(self, fields: Sequence[Field]) -> None:
        self.fields = list(fields)
        exact: Dict[str, int] = {}
        for i, f in enumerate(self.fields):
            exact.setdefault(f.id, i)
        for i, f in enumerate(self.fields):
            exact.setdefault(f.name, i)
        self._exact = exact
        self._lower: Optional[Dict[str, int]] = None

    def index(self, column: str) -> Optional[int]:
        """The position of a column given by id or name (any case); ``None`` if absent."""
        i = self._exact.get(column)
        if i is not None:
            return i
        if self._lower is None:
            lower: Dict[str, int] = {}
            for i, f in enumerate(self.fields):
                lower.setdefault(f.name.lower(), i)
            self._lower = lower
        return self._lower.get(column.lower())


class Row:
    """One row of a batch, read by column name (any case) or field id.

    ``row["Email"]`` is the cell's value (``None`` when empty or null) and raises
    ``KeyError`` for a column the table does not show the plugin; :meth:`get` returns a
    default instead. :meth:`text` and :meth:`number` convert as the Rust SDK does.
    """

    __slots__ = ("_batch", "_raw", "index")

    def __init__(self, batch: Batch, raw: _codec.RawRow, index: int) -> None:
        self._batch = batch
        self._raw = raw
        #: The row's position in the batch.
        self.index = index

    @property
    def id(self) -> str:
        """The record id (``r_…``)."""
        return self._raw.id

    @property
    def created_at(self) -> Optional[int]:
        """When the row was created (ms since the epoch), when Clay said."""
        return self._raw.created_at

    @property
    def updated_at(self) -> Optional[int]:
        """When the row last changed, when Clay said."""
        return self._raw.updated_at

    def _value(self, column: str) -> Union[Value, _codec._Absent, None]:
        i = self._batch.columns.index(column)
        if i is None:
            return None
        return self._raw.values[i]

    def __getitem__(self, column: str) -> Value:
        i = self._batch.columns.index(column)
        if i is None:
            raise KeyError(self._batch.no_column(column))
        v = self._raw.values[i]
        return None if v is _codec.ABSENT else v  # type: ignore[return-value]

    def __contains__(self, column: object) -> bool:
        """Whether the row has a non-null cell in ``column``."""
        return isinstance(column, str) and self.get(column) is not None

    def get(self, column: str, default: Any = None) -> Any:
        """The cell's value; ``default`` when the column does not exist or the cell is
        empty or null."""
        v = self._value(column)
        return default if v is None or v is _codec.ABSENT else v

    def text(self, column: str) -> Optional[str]:
        """The cell as text: text and JSON as they are, numbers and booleans formatted
        (``3.0`` → ``"3"``, ``True`` → ``"true"``); ``None`` when empty."""
        return cell_text(self.get(column))

    def number(self, column: str) -> Optional[float]:
        """The cell as a number: number cells, and text that parses as one."""
        v = self.get(column)
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str):
            try:
                return parse_float(v)
            except ValueError:
                return None
        return None

    def json(self, column: str, default: Any = None) -> Any:
        """A JSON cell (or text holding JSON) parsed; ``default`` when empty or not JSON."""
        v = self.get(column)
        text = v.text if isinstance(v, Json) else v if isinstance(v, str) else None
        if text is None:
            return default
        try:
            return json.loads(text)
        except ValueError:
            return default

    def status(self, column: str) -> Optional[CellStatus]:
        """Clay's status for the cell, when it gave one (enrichment columns)."""
        i = self._batch.columns.index(column)
        return None if i is None else self._raw.statuses.get(i)

    def to_record(self) -> RowRecord:
        """The row as an owned :class:`kiln_sdk.types.Row`: every visible cell (nulls
        included, absent cells left out) with its field id and status."""
        fields = self._batch.table.fields
        return RowRecord(
            id=self.id,
            cells=[
                Cell(fields[i].id, v, self._raw.statuses.get(i))  # type: ignore[arg-type]
                for i, v in enumerate(self._raw.values)
                if v is not _codec.ABSENT
            ],
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def __repr__(self) -> str:
        cells = {
            f.name: v
            for f, v in zip(self._batch.table.fields, self._raw.values)
            if v is not _codec.ABSENT
        }
        return f"Row({self.id!r}, {cells!r})"


class Batch(Sequence[Row]):
    """A batch of rows with the table they come from: a sequence of :class:`Row`, and the
    ``ctx`` argument of :meth:`Transformer.transform_row`.

    Cells are decoded once from the host's buffer; columns are looked up by name once per
    table, and cells by position.
    """

    def __init__(self, raw: _codec.RawBatch, context: TransformContext) -> None:
        if raw.fields != len(context.table.fields):
            raise _codec.FormatError(
                4, f"the batch has {raw.fields} fields and the context {len(context.table.fields)}"
            )
        #: What the host said about this batch.
        self.context = context
        self.columns = Columns(context.table.fields)
        self._rows = [Row(self, r, i) for i, r in enumerate(raw.rows)]

    @classmethod
    def from_buffer(cls, buf: bytes, context: TransformContext) -> Batch:
        """A batch from the host's buffer (raises :class:`kiln_sdk._codec.FormatError`)."""
        return cls(_codec.read_batch(buf), context)

    @property
    def table(self) -> TableInfo:
        """The table, with only the fields this plugin may see."""
        return self.context.table

    @property
    def fields(self) -> List[Field]:
        """The fields this plugin may see, in the order of every row's cells."""
        return self.context.table.fields

    @property
    def workspace_id(self) -> int:
        return self.context.workspace_id

    @property
    def batch_index(self) -> int:
        """Which batch of the run this is, from 0."""
        return self.context.batch_index

    @property
    def total_rows(self) -> int:
        """Rows in the whole run."""
        return self.context.total_rows

    @property
    def dry_run(self) -> bool:
        """Whether kiln only shows what would change."""
        return self.context.dry_run

    @overload
    def __getitem__(self, i: int) -> Row: ...

    @overload
    def __getitem__(self, i: slice) -> List[Row]: ...

    def __getitem__(self, i: Union[int, slice]) -> Union[Row, List[Row]]:
        return self._rows[i]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def field(self, column: str) -> Optional[Field]:
        """A column by name (any case) or id."""
        i = self.columns.index(column)
        return None if i is None else self.fields[i]

    def has_column(self, column: str) -> bool:
        """Whether the table shows the plugin this column (by name or id)."""
        return self.columns.index(column) is not None

    def no_column(self, column: str) -> str:
        """The message for a column the table does not have."""
        return f"table `{self.table.name}` has no column `{column}`"

    # ---- encoding ----

    def resolve(self, outcomes: Sequence[Optional[Outcome]]) -> List[_codec.WireOutcome]:
        """The outcomes as the host will read them, one per row in order: columns become
        field positions, writes of a cell's current value are dropped (a row left with none
        is unchanged), and a column the table does not have fails that row alone. A row
        given ``None`` (or no outcome, when the list is short) fails with
        ``the plugin returned no outcome for this row``."""
        n = len(self._rows)
        if len(outcomes) > n:
            message = (
                f"the plugin returned {len(outcomes)} outcomes for a batch of {n} rows; "
                "none of them was applied"
            )
            return [_codec.WireOutcome.error(message)] * n
        wire: List[_codec.WireOutcome] = []
        for i, row in enumerate(self._rows):
            o = outcomes[i] if i < len(outcomes) else None
            if o is None:
                wire.append(_codec.WireOutcome.error("the plugin returned no outcome for this row"))
            elif not isinstance(o, Outcome):
                raise TypeError(
                    f"the plugin returned a {type(o).__name__} for row {row.id}; "
                    "return kiln_sdk.set(...), unchanged(), delete() or error(...)"
                )
            elif o.kind == "unchanged":
                wire.append(_codec.WireOutcome.unchanged())
            elif o.kind == "delete":
                wire.append(_codec.WireOutcome.delete())
            elif o.kind == "error":
                wire.append(_codec.WireOutcome.error(o.message or ""))
            else:
                wire.append(self._resolve_sets(row, o.cells))
        return wire

    def _resolve_sets(self, row: Row, cells: Sequence[Tuple[str, Value]]) -> _codec.WireOutcome:
        sets: List[Tuple[int, Value]] = []
        for column, value in cells:
            index = self.columns.index(column)
            if index is None:
                return _codec.WireOutcome.error(self.no_column(column))
            # The last write of a column wins, even when it puts back what is there.
            sets = [s for s in sets if s[0] != index]
            current = row._raw.values[index]
            if not _codec.same_value(None if current is _codec.ABSENT else current, value):  # type: ignore[arg-type]
                sets.append((index, value))
        return _codec.WireOutcome.set_cells(sets) if sets else _codec.WireOutcome.unchanged()

    def encode_outcomes(self, outcomes: Sequence[Optional[Outcome]]) -> bytes:
        """The outcomes as the buffer the host reads."""
        return _codec.write_outcomes(self.resolve(outcomes))


# ---- the plugin ----


class Transformer:
    """A row transformation. Subclass it once in ``app.py`` and override
    :meth:`transform_row` (or :meth:`transform_batch`).

    kiln creates one instance per plugin instance, when the component is built, with no
    arguments; before the first batch it sets :attr:`config` and calls :meth:`setup`, which
    is where settings are read and checked.
    """

    _kiln_config: Optional[Config] = None
    _kiln_started: bool = False

    @property
    def config(self) -> Config:
        """The plugin's settings (manifest defaults merged with ``kiln run -c``)."""
        if self._kiln_config is None:
            self._kiln_config = Config.from_host()
        return self._kiln_config

    def setup(self) -> None:
        """Reads and checks settings before the first batch. Raise :class:`kiln_sdk.Error`
        (a typed getter of :attr:`config` raises :class:`kiln_sdk.ConfigError`) to fail every
        row of the batch with ``the plugin could not start: …``; kiln tries again on the
        next batch."""

    def transform_batch(self, batch: Batch) -> Sequence[Optional[Outcome]]:
        """One outcome per row of ``batch``, in its order. By default
        :meth:`transform_row` for each row; override to look at the whole batch first
        (e.g. to check the table's columns once)."""
        return [self.transform_row(row, batch) for row in batch]

    def transform_row(self, row: Row, ctx: Batch) -> Outcome:
        """What happens to ``row``; ``ctx`` is its batch (``ctx.table``, ``ctx.dry_run``,
        ``ctx.has_column(...)``)."""
        raise NotImplementedError(
            f"{type(self).__name__} must override transform_row(self, row, ctx) "
            "or transform_batch(self, batch)"
        )


def start(plugin: Any) -> Optional[Error]:
    """Reads the plugin's config and runs its ``setup``, once per instance: the error it
    could not start with, or ``None``. A failed start is tried again on the next call, as
    ``kiln_guest`` does. (Shared by transformers and auditors, the guest glue and the mock.)"""
    if plugin._kiln_started:
        return None
    plugin._kiln_config = Config.from_host()
    try:
        plugin.setup()
    except Error as e:
        return e
    plugin._kiln_started = True
    return None


def run(plugin: Transformer, buf: bytes, context: TransformContext) -> bytes:
    """The whole guest side of one ``transform`` call, from the host's buffer to the
    outcomes' buffer. Exceptions from the plugin's code propagate (the caller logs them)."""
    from . import log

    try:
        batch = Batch.from_buffer(buf, context)
    except _codec.FormatError as e:
        # The host wrote a batch this SDK cannot read: no row gets an outcome, and the host
        # reports each as missing one.
        log.error(f"kiln_sdk cannot read the batch: {e}")
        return b""
    problem = start(plugin)
    if problem is not None:
        message = f"the plugin could not start: {problem}"
        return _codec.write_outcomes([_codec.WireOutcome.error(message)] * len(batch))
    outcomes = plugin.transform_batch(batch)
    if outcomes is None:
        raise TypeError(
            f"{type(plugin).__name__}.transform_batch returned None, not a list of outcomes"
        )
    return batch.encode_outcomes(list(outcomes))


__all__ = [
    "Batch",
    "Columns",
    "Outcome",
    "Row",
    "Transformer",
    "cell_text",
    "delete",
    "error",
    "format_number",
    "set",
    "set_cells",
    "unchanged",
]
