"""A test harness: an in-memory Clay workspace that answers every :data:`kiln_sdk.clay` call
and runs plugins the way kiln does, so plugin logic is tested under plain pytest.

Mirrors ``kiln_guest::testing``. Build the workspace, then run the plugin and inspect what it
did::

    from kiln_sdk.testing import MockWorkspace

    ws = MockWorkspace("Acme")
    leads = ws.add_table("Leads", ["Email"])
    r1 = ws.add_row(leads, {"Email": "  Ada@Example.COM "})
    out = ws.run_transform(MyPlugin(), "Leads")
    assert out.by_id(r1)["Email"] == "ada@example.com"
    assert ws.value(leads, r1, "Email") == "ada@example.com"   # effects are applied

:meth:`MockWorkspace.run_transform` goes through the same bytes as kiln: it writes the host's
batch buffer, calls the guest glue the component runs (settings, ``setup``, outcomes,
resolution) and reads the outcome buffer back as the host does, so a test exercises the
codec too. :meth:`MockWorkspace.run_audit` runs an auditor with a scope and returns its
report. For code that calls Clay directly, keep ``with ws.install():`` around it.

The mock follows the embedded workspace's semantics (read and add limits, idempotent row ids,
run conditions, trash, the credit ledger behind every report), but enrichment values are
placeholders (``"<action-key>(<inputs>)"``).
"""

from __future__ import annotations

import contextvars
import copy
import inspect
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _codec, _runtime
from . import audit as _audit
from . import transform as _transform
from .audit import Auditor, Report
from .errors import ClayError, Error
from .transform import cell_text
from .types import (
    ActionConfig,
    AuditScope,
    Cell,
    CellStatus,
    CreditEntity,
    CreditReport,
    CreditSubentity,
    Field,
    FieldKind,
    Folder,
    Integration,
    IntegrationType,
    LogLevel,
    Member,
    MemberCredits,
    MemberStatus,
    NewRow,
    RecordsTarget,
    Resource,
    ResourceKind,
    ResourceRef,
    Role,
    Row,
    RunMode,
    RunResult,
    RunTarget,
    Source,
    StatusKind,
    TableInfo,
    TableKind,
    TimeRange,
    TransformContext,
    Value,
    View,
    ViewTopTarget,
    Workbook,
    Workspace,
)

#: The mock's default clock: a fixed instant, so tests are reproducible.
DEFAULT_NOW = 1_800_000_000_000
DAY_MS = 24 * 3600 * 1000

MAX_READ = 200
MAX_ADD = 50

_ROLE_NAMES = {
    Role.ADMIN: "workspace-admin",
    Role.MEMBER: "workspace-member",
    Role.VIEWER: "workspace-viewer",
    Role.SALES_REP: "workspace-sales-rep",
}


def _not_found(what: str, id: str) -> ClayError:
    return ClayError.not_found(f"{what} {id}")


def _is_empty(cell: Optional[Cell]) -> bool:
    if cell is None or cell.value is None:
        return True
    if isinstance(cell.value, str):
        return cell.value.strip() == ""
    return False


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _audit.display(value)
    return cell_text(value) or ""


def _field_of(info: TableInfo, column: str) -> Optional[str]:
    for f in info.fields:
        if f.id == column:
            return f.id
    for f in info.fields:
        if f.name.lower() == column.lower():
            return f.id
    return None


@dataclass
class _Table:
    info: TableInfo
    rows: List[Row] = field(default_factory=list)
    sources: List[Source] = field(default_factory=list)


@dataclass
class _Usage:
    at: int
    user: Optional[str]
    package: str
    table: Optional[str]
    credits: float


# ---- transform results ----


@dataclass(frozen=True)
class RowResult:
    """What a plugin's outcome for one row means to the host, read by column name.

    ``kind`` is ``unchanged``, ``set``, ``delete`` or ``error``; ``cells`` maps the name of
    each column set to its new value (writes of the current value were already dropped);
    ``message`` is the error's.
    """

    row_id: str
    kind: str
    cells: Dict[str, Value] = field(default_factory=dict)
    message: Optional[str] = None
    #: The same cells keyed by field id, as the host applies them.
    cells_by_id: Dict[str, Value] = field(default_factory=dict)

    @property
    def is_unchanged(self) -> bool:
        return self.kind == "unchanged"

    @property
    def is_set(self) -> bool:
        return self.kind == "set"

    @property
    def is_delete(self) -> bool:
        return self.kind == "delete"

    @property
    def is_error(self) -> bool:
        return self.kind == "error"

    def __getitem__(self, column: str) -> Value:
        """The value set in ``column`` (``KeyError`` when the outcome does not set it)."""
        return self.cells[column]

    def __contains__(self, column: object) -> bool:
        return column in self.cells

    def get(self, column: str, default: Any = None) -> Any:
        return self.cells.get(column, default)


class TransformResult(List[RowResult]):
    """Every row's :class:`RowResult`, in the table's order."""

    def by_id(self, row_id: str) -> RowResult:
        """The result for one row (``KeyError`` if it was not in the run)."""
        for r in self:
            if r.row_id == row_id:
                return r
        raise KeyError(row_id)

    @property
    def errors(self) -> List[RowResult]:
        return [r for r in self if r.is_error]

    @property
    def changed(self) -> List[RowResult]:
        return [r for r in self if r.is_set or r.is_delete]


class Installed:
    """Keeps a :class:`MockWorkspace` installed in the current context until
    :meth:`uninstall` (or the end of the ``with`` block)."""

    def __init__(self, backend: _MockBackend) -> None:
        self._token: Optional[contextvars.Token[Any]] = _runtime.installed.set(backend)

    def uninstall(self) -> None:
        if self._token is not None:
            _runtime.installed.reset(self._token)
            self._token = None

    def __enter__(self) -> Installed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


class _MockBackend:
    """The backend side of a :class:`MockWorkspace`: what :data:`kiln_sdk.clay`, logging and
    settings reach while it is installed."""

    def __init__(self, ws: MockWorkspace) -> None:
        self.ws = ws

    def call(self, interface: str, function: str, *args: Any) -> Any:
        name = f"{interface}::{function}"
        ws = self.ws
        ws._calls.append(name)
        failure = ws._failures.get(name)
        if failure is not None:
            raise copy.deepcopy(failure)
        handler = getattr(ws, f"_{interface}_{function}", None)
        if handler is None:
            raise AttributeError(f"clay has no function {interface}.{function}")
        return copy.deepcopy(handler(*copy.deepcopy(args)))

    def log(self, level: LogLevel, message: str) -> None:
        self.ws._logs.append((level, message))

    def config(self) -> List[Tuple[str, str]]:
        values = dict(self.ws._config)
        if self.ws._run_config is not None:
            values = dict(self.ws._run_config)
        return sorted(values.items())


class MockWorkspace:
    """An in-memory Clay workspace (id 1) with 10,000 credits in its pool and the clock at
    :data:`DEFAULT_NOW`."""

    def __init__(self, name: str = "Acme") -> None:
        self._workspace = Workspace(id=1, name=name, credit_balance=10_000.0)
        self._now = DEFAULT_NOW
        self._next_id = 1
        self._acting: Optional[str] = None
        self._members: List[Member] = []
        #: Every folder, workbook and table, trashed ones included.
        self._resources: List[Resource] = []
        self._workbooks: Dict[str, Workbook] = {}
        self._tables: Dict[str, _Table] = {}
        self._integrations: List[Integration] = []
        self._types: List[IntegrationType] = []
        self._ledger: List[_Usage] = []
        self._spent = 0.0
        self._config: Dict[str, str] = {}
        self._run_config: Optional[Dict[str, str]] = None
        self._logs: List[Tuple[LogLevel, str]] = []
        self._calls: List[str] = []
        self._failures: Dict[str, ClayError] = {}
        self._backend = _MockBackend(self)

    # ---- setup and inspection ----

    def install(self) -> Installed:
        """Makes this workspace answer Clay calls, logs and config reads in the current
        context until the returned guard is uninstalled; use it as ``with ws.install():``."""
        return Installed(self._backend)

    @property
    def workspace_id(self) -> int:
        return self._workspace.id

    @property
    def now(self) -> int:
        """The mock's clock: new resources and credit use are stamped with it."""
        return self._now

    def set_now(self, now: int) -> None:
        self._now = now

    @property
    def credit_balance(self) -> float:
        """Credits left in the pool; a run that would overdraw it spends nothing."""
        return self._workspace.credit_balance

    def set_credit_balance(self, credits: float) -> None:
        self._workspace.credit_balance = float(credits)

    @property
    def credits_spent(self) -> float:
        """Credits spent through ``tables.run_column`` since the workspace was made."""
        return self._spent

    def set_config(self, key: str, value: str) -> None:
        """A plugin setting, as ``kiln run -c key=value`` would give it."""
        self._config[key] = str(value)

    @property
    def logs(self) -> List[Tuple[LogLevel, str]]:
        """What the plugin logged through :mod:`kiln_sdk.log` while this workspace was
        installed."""
        return list(self._logs)

    @property
    def calls(self) -> List[str]:
        """Every Clay call made so far, as ``"interface::function"``, in order."""
        return list(self._calls)

    def fail(self, call: str, error: ClayError) -> None:
        """Makes every later call to ``call`` (e.g. ``"credits::integrations"``) fail with
        ``error``."""
        self._failures[call] = error

    def add_member(
        self,
        email: str,
        name: str,
        role: Role = Role.MEMBER,
        status: MemberStatus = MemberStatus.ACTIVE,
    ) -> str:
        """Adds a member and returns their user id (a pending invitation has none in Clay;
        the returned id still names it here)."""
        id = str(1000 + len(self._members))
        self._members.append(
            Member(
                user_id=None if status is MemberStatus.PENDING else id,
                email=email,
                name=name,
                role=role,
                role_name=_ROLE_NAMES[role],
                status=status,
            )
        )
        return id

    def act_as(self, user_id: str) -> None:
        """The member whose credits enrichment runs spend and who creates what the plugin
        creates (nobody by default)."""
        self._acting = user_id

    def add_integration_type(self, id: str, name: str) -> None:
        self._ensure_type(id, name)

    def add_integration(self, name: str, type_id: str, owner: Optional[str] = None) -> str:
        """Adds an integration authenticated by ``owner`` and returns its id (``aa_…``)."""
        self._ensure_type(type_id, None)
        id = self._id("aa")
        self._integrations.append(
            Integration(
                id=id,
                name=name,
                type_id=type_id,
                owner_id=owner,
                shared=False,
                created_at=self._now,
            )
        )
        return id

    def add_shared_integration(self, name: str, type_id: str) -> str:
        """Adds a Clay-managed integration shared by the whole workspace (no owner)."""
        id = self.add_integration(name, type_id, None)
        for i in self._integrations:
            if i.id == id:
                i.shared = True
        return id

    def add_folder(self, name: str, parent_folder_id: Optional[str] = None) -> str:
        return self._add_resource(ResourceKind.FOLDER, "f", name, parent_folder_id)

    def add_workbook(self, name: str, parent_folder_id: Optional[str] = None) -> str:
        return self._insert_workbook(name, False, parent_folder_id)

    def add_table(
        self, name: str, columns: Sequence[str] = (), *, workbook_id: Optional[str] = None
    ) -> str:
        """Adds a spreadsheet table with one text column per name and a default view;
        returns the table id."""
        id = self._add_resource(ResourceKind.TABLE, "t", name, workbook_id)
        view = self._id("gv")
        fields = [Field(id=self._id("f"), name=c, kind=FieldKind.TEXT) for c in columns]
        self._tables[id] = _Table(
            TableInfo(
                id=id,
                name=name,
                kind=TableKind.SPREADSHEET,
                workspace_id=self._workspace.id,
                workbook_id=workbook_id,
                first_view_id=view,
                views=[View(view, "Default view")],
                fields=fields,
            )
        )
        return id

    def add_column(self, table_id: str, name: str, kind: FieldKind = FieldKind.TEXT) -> str:
        """Adds a column to a table; returns its field id."""
        table = self._table_mut(table_id)
        id = self._id("f")
        table.info.fields.append(Field(id=id, name=name, kind=kind))
        return id

    def add_action_column(
        self,
        table_id: str,
        name: str,
        action_key: str,
        package_id: str,
        auth_account_id: Optional[str] = None,
        credit_cost: float = 0.0,
        inputs: Sequence[str] = (),
    ) -> str:
        """Adds an enrichment column that runs ``action_key`` of integration type
        ``package_id``, charging ``credit_cost`` per row filled from the ``inputs`` columns
        (names or ids). Returns the field id."""
        self._ensure_type(package_id, None)
        id = self._id("f")
        table = self._table_mut(table_id)
        input_ids = []
        for i in inputs:
            f = _field_of(table.info, i)
            if f is None:
                raise KeyError(f"no column {i}")
            input_ids.append(f)
        table.info.fields.append(
            Field(
                id=id,
                name=name,
                kind=FieldKind.ACTION,
                action=ActionConfig(
                    action_key=action_key,
                    package_id=package_id,
                    auth_account_id=auth_account_id,
                    credit_cost=float(credit_cost),
                    input_field_ids=input_ids,
                ),
            )
        )
        return id

    def add_row(
        self,
        table_id: str,
        cells: Union[Mapping[str, Any], Iterable[Tuple[str, Any]]] = (),
        *,
        statuses: Optional[Mapping[str, CellStatus]] = None,
        id: Optional[str] = None,
    ) -> str:
        """Adds a row from ``{column name or id: value}`` (values as for
        :func:`kiln_sdk.set`; pairs keep a column twice, as Clay may) and Clay statuses by
        column; returns its id."""
        row_id = id or self._id("r")
        table = self._table_mut(table_id)
        pairs = list(cells.items()) if isinstance(cells, Mapping) else list(cells)
        out: List[Cell] = []
        for column, value in pairs:
            f = _field_of(table.info, column)
            if f is None:
                raise KeyError(f"table {table.info.name} has no column {column}")
            out.append(Cell(f, _transform._cell_value(value)))
        for column, status in (statuses or {}).items():
            f = _field_of(table.info, column)
            if f is None:
                raise KeyError(f"table {table.info.name} has no column {column}")
            existing = next((c for c in out if c.field_id == f), None)
            if existing is None:
                out.append(Cell(f, None, status))
            else:
                existing.status = status
        table.rows.append(Row(id=row_id, cells=out, created_at=self._now, updated_at=self._now))
        return row_id

    def record_usage(self, user: Optional[str], package_id: str, credits: float, at: int) -> None:
        """Records credit use by ``user`` (or unattributed) on an integration type, on no
        table: the workspace report counts it as unattributed."""
        self.record_table_usage(user, package_id, None, credits, at)

    def record_table_usage(
        self, user: Optional[str], package_id: str, table_id: Optional[str], credits: float, at: int
    ) -> None:
        """Records credit use on a table: the workspace report puts it on the table's
        workbook (and that workbook's folder), as Clay's does."""
        self._ensure_type(package_id, None)
        self._ledger.append(_Usage(at, user, package_id, table_id, float(credits)))

    def set_created(self, resource_id: str, by: Optional[str], at: int) -> None:
        """Changes who created a resource and when."""
        r = next((r for r in self._resources if r.id == resource_id), None)
        if r is None:
            raise KeyError(f"no resource {resource_id}")
        r.created_by, r.created_at, r.updated_at = by, at, at

    def table_id(self, table: str) -> str:
        """A table's id, given its id or name (any case)."""
        if table in self._tables:
            return table
        for id, t in self._tables.items():
            if t.info.name == table:
                return id
        for id, t in self._tables.items():
            if t.info.name.lower() == table.lower():
                return id
        raise KeyError(f"no table {table}")

    def field_id(self, table_id: str, column: str) -> Optional[str]:
        """The id of a table's column, by name (any case) or id."""
        t = self._tables.get(self.table_id(table_id))
        return None if t is None else _field_of(t.info, column)

    def table(self, table_id: str) -> TableInfo:
        return copy.deepcopy(self._table_mut(table_id).info)

    def rows(self, table_id: str) -> List[Row]:
        """The table's current rows."""
        return copy.deepcopy(self._table_mut(table_id).rows)

    def cell(self, table_id: str, row_id: str, column: str) -> Optional[Cell]:
        """A cell (value and status), by row id and column name or id; ``None`` when the
        row, the column or the cell is missing."""
        t = self._table_mut(table_id)
        f = _field_of(t.info, column)
        row = next((r for r in t.rows if r.id == row_id), None)
        if f is None or row is None:
            return None
        return copy.deepcopy(row.cell(f))

    def value(self, table_id: str, row_id: str, column: str) -> Value:
        """A cell's value; ``None`` when it is null or missing."""
        c = self.cell(table_id, row_id, column)
        return None if c is None else c.value

    def resources(self) -> List[Resource]:
        """Every resource (folders, workbooks, tables), trashed ones included."""
        return copy.deepcopy(self._resources)

    # ---- running plugins ----

    def _settings(
        self, plugin: Any, config: Optional[Mapping[str, Any]], manifest: Any
    ) -> Dict[str, str]:
        values = dict(manifest_defaults(_manifest_path(plugin, manifest)))
        values.update(self._config)
        values.update({k: _config_text(v) for k, v in (config or {}).items()})
        return values

    def run_transform(
        self,
        plugin: Any,
        table: str,
        *,
        config: Optional[Mapping[str, Any]] = None,
        manifest: Any = "auto",
        columns: Optional[Sequence[str]] = None,
        batch_size: int = 1024,
        dry_run: bool = False,
    ) -> TransformResult:
        """Runs a transformer over a table as ``kiln run`` does and returns each row's
        result; unless ``dry_run``, the effects are applied to the table.

        ``plugin`` is an instance or a class. Settings are the manifest's defaults (the
        ``kiln.toml`` beside the plugin's module when ``manifest="auto"``; a path; or
        ``None``), then :meth:`set_config`'s, then ``config``. ``columns`` limits the fields
        the plugin sees, as a column scope does. The plugin starts afresh (``setup`` runs
        again), as a new instance would.
        """
        if isinstance(plugin, type):
            plugin = plugin()
        if not isinstance(plugin, _transform.Transformer):
            raise TypeError(f"{type(plugin).__name__} is not a kiln_sdk.Transformer")
        t = self._table_mut(table)
        info = copy.deepcopy(t.info)
        if columns is not None:
            keep = []
            for c in columns:
                f = _field_of(info, c)
                if f is None:
                    raise KeyError(f"table {info.name} has no column {c}")
                keep.append(f)
            info.fields = [f for f in info.fields if f.id in keep]
        fields = info.fields
        rows = copy.deepcopy(t.rows)
        results = TransformResult()
        plugin._kiln_started = False
        plugin._kiln_config = None
        self._run_config = self._settings(plugin, config, manifest)
        try:
            with self.install():
                for batch_index, start in enumerate(range(0, len(rows), max(1, batch_size))):
                    chunk = rows[start : start + batch_size]
                    ctx = TransformContext(
                        workspace_id=self._workspace.id,
                        table=copy.deepcopy(info),
                        batch_index=batch_index,
                        total_rows=len(rows),
                        dry_run=dry_run,
                    )
                    buf = encode_rows(fields, chunk)
                    answer = _transform.run(plugin, buf, ctx)
                    results.extend(decode_outcomes(answer, chunk, fields))
        finally:
            self._run_config = None
        if not dry_run:
            self._apply(t, results)
        return results

    def _apply(self, t: _Table, results: Sequence[RowResult]) -> None:
        doomed = set()
        for r in results:
            row = next((x for x in t.rows if x.id == r.row_id), None)
            if row is None:
                continue
            if r.is_delete:
                doomed.add(r.row_id)
            elif r.is_set:
                for fid, value in r.cells_by_id.items():
                    cell = row.cell(fid)
                    if cell is None:
                        row.cells.append(Cell(fid, value))
                    else:
                        cell.value, cell.status = value, None
                row.updated_at = self._now
        t.rows = [r for r in t.rows if r.id not in doomed]

    def run_audit(
        self,
        plugin: Any,
        *,
        config: Optional[Mapping[str, Any]] = None,
        manifest: Any = "auto",
        period: Optional[TimeRange] = None,
        now: Optional[int] = None,
    ) -> Report:
        """Runs an auditor as ``kiln audit`` does and returns its report. The scope is this
        workspace, ``period`` (the 90 days up to ``now`` by default) and ``now`` (the mock's
        clock by default). An :class:`~kiln_sdk.Error` the plugin raises comes out as the
        :class:`~kiln_sdk.ClayError` kiln would receive."""
        if isinstance(plugin, type):
            plugin = plugin()
        if not isinstance(plugin, Auditor):
            raise TypeError(f"{type(plugin).__name__} is not a kiln_sdk.Auditor")
        at = self._now if now is None else now
        scope = AuditScope(
            workspace_id=self._workspace.id,
            period=period or TimeRange(at - 90 * DAY_MS, at),
            now=at,
        )
        plugin._kiln_started = False
        plugin._kiln_config = None
        self._run_config = self._settings(plugin, config, manifest)
        try:
            with self.install():
                try:
                    record = _audit.run(plugin, scope)
                except Error as e:
                    raise e.into_clay() from e
        finally:
            self._run_config = None
        return Report.from_record(record)

    # ---- internals ----

    def _id(self, prefix: str) -> str:
        n = self._next_id
        self._next_id += 1
        return f"{prefix}_{n:06d}"

    def _ensure_type(self, id: str, name: Optional[str]) -> None:
        for t in self._types:
            if t.id == id:
                if name is not None:
                    t.name = name
                return
        self._types.append(
            IntegrationType(
                id=id, name=name or id, provider_name=name or id, authentication_type="api_key"
            )
        )

    def _add_resource(
        self, kind: ResourceKind, prefix: str, name: str, parent: Optional[str]
    ) -> str:
        id = self._id(prefix)
        self._resources.append(
            Resource(
                id=id,
                name=name,
                kind=kind,
                parent_id=parent,
                created_by=self._acting,
                created_at=self._now,
                updated_at=self._now,
                deleted=False,
            )
        )
        return id

    def _insert_workbook(self, name: str, auto_run: bool, parent: Optional[str]) -> str:
        id = self._add_resource(ResourceKind.WORKBOOK, "wb", name, parent)
        self._workbooks[id] = Workbook(
            id=id,
            name=name,
            workspace_id=self._workspace.id,
            parent_folder_id=parent,
            auto_run=auto_run,
        )
        return id

    def _table_mut(self, table: str) -> _Table:
        return self._tables[self.table_id(table)]

    def _table(self, table_id: str) -> _Table:
        live = any(r.id == table_id and not r.deleted for r in self._resources)
        t = self._tables.get(table_id)
        if t is None or not live:
            raise _not_found("table", table_id)
        return t

    def _check_workspace(self, workspace_id: int) -> None:
        if workspace_id != self._workspace.id:
            raise _not_found("workspace", str(workspace_id))

    def _live(self, id: str, kind: ResourceKind) -> Optional[Resource]:
        return next(
            (r for r in self._resources if r.id == id and r.kind is kind and not r.deleted), None
        )

    def _subtree(self, id: str) -> List[str]:
        out = [id]
        i = 0
        while i < len(out):
            parent = out[i]
            out.extend(r.id for r in self._resources if r.parent_id == parent)
            i += 1
        return out

    def _remove(self, ids: Sequence[str], permanent: bool) -> None:
        if permanent:
            self._resources = [r for r in self._resources if r.id not in ids]
            for id in ids:
                self._tables.pop(id, None)
                self._workbooks.pop(id, None)
        else:
            for r in self._resources:
                if r.id in ids:
                    r.deleted = True

    # ---- workspaces ----

    def _workspaces_list(self) -> List[Workspace]:
        return [self._workspace]

    # ---- folders ----

    def _folders_create(self, workspace_id: int, name: str, parent: Optional[str]) -> Folder:
        self._check_workspace(workspace_id)
        if not name.strip():
            raise ClayError.invalid("a folder needs a name")
        if parent is not None and self._live(parent, ResourceKind.FOLDER) is None:
            raise _not_found("folder", parent)
        taken = any(
            not r.deleted
            and r.kind is ResourceKind.FOLDER
            and r.parent_id == parent
            and r.name == name
            for r in self._resources
        )
        if taken:
            raise ClayError.conflict(f"a folder named `{name}` already exists there")
        id = self._add_resource(ResourceKind.FOLDER, "f", name, parent)
        return Folder(id=id, name=name, workspace_id=workspace_id, parent_folder_id=parent)

    def _folders_delete(self, workspace_id: int, folder_ids: List[str], permanent: bool) -> None:
        self._check_workspace(workspace_id)
        doomed: List[str] = []
        for id in folder_ids:
            if not any(r.id == id and r.kind is ResourceKind.FOLDER for r in self._resources):
                raise _not_found("folder", id)
            doomed.extend(self._subtree(id))
        self._remove(doomed, permanent)

    # ---- resources ----

    def _resources_list(
        self, workspace_id: int, parent: Optional[ResourceRef], kinds: List[ResourceKind]
    ) -> List[Resource]:
        self._check_workspace(workspace_id)
        if parent is not None and self._live(parent.id, parent.kind) is None:
            raise _not_found("resource", parent.id)
        parent_id = None if parent is None else parent.id
        return [
            r
            for r in self._resources
            if not r.deleted and r.parent_id == parent_id and (not kinds or r.kind in kinds)
        ]

    def _resources_search(self, workspace_id: int, query: str) -> List[Resource]:
        self._check_workspace(workspace_id)
        q = query.lower()
        return [r for r in self._resources if not r.deleted and q in r.name.lower()]

    # ---- workbooks ----

    def _workbooks_create(
        self, workspace_id: int, name: str, auto_run: bool, parent: Optional[str]
    ) -> Workbook:
        self._check_workspace(workspace_id)
        if parent is not None and self._live(parent, ResourceKind.FOLDER) is None:
            raise _not_found("folder", parent)
        id = self._insert_workbook(name, auto_run, parent)
        return self._workbooks[id]

    def _workbooks_delete(self, workbook_id: str) -> None:
        if self._live(workbook_id, ResourceKind.WORKBOOK) is None:
            raise _not_found("workbook", workbook_id)
        self._remove(self._subtree(workbook_id), True)

    # ---- tables ----

    def _tables_get(self, table_id: str) -> TableInfo:
        return self._table(table_id).info

    def _tables_record_ids(self, table_id: str, view_id: str) -> List[str]:
        t = self._table(table_id)
        if not any(v.id == view_id for v in t.info.views):
            raise _not_found("view", view_id)
        return [r.id for r in t.rows]

    def _tables_read_records(self, table_id: str, record_ids: List[str]) -> List[Row]:
        if len(record_ids) > MAX_READ:
            raise ClayError.invalid(f"at most {MAX_READ} records per read, got {len(record_ids)}")
        t = self._table(table_id)
        by_id: Dict[str, Row] = {}
        for r in t.rows:
            by_id.setdefault(r.id, r)
        return [by_id[i] for i in record_ids if i in by_id]

    def _tables_add_rows(self, table_id: str, rows: List[NewRow]) -> List[Row]:
        if not rows or len(rows) > MAX_ADD:
            raise ClayError.invalid(f"add between 1 and {MAX_ADD} rows per call, got {len(rows)}")
        info = self._table(table_id).info
        # Validate everything before adding anything: a bad row adds none.
        for new_row in rows:
            for c in new_row.cells:
                if not any(f.id == c.field_id for f in info.fields):
                    raise ClayError.invalid(f"table `{info.name}` has no field {c.field_id}")
        out: List[Row] = []
        for new in rows:
            t = self._table(table_id)
            existing = next((r for r in t.rows if new.id is not None and r.id == new.id), None)
            if existing is not None:
                out.append(existing)
                continue
            added = Row(
                id=new.id if new.id is not None else self._id("r"),
                cells=[Cell(c.field_id, _transform._cell_value(c.value)) for c in new.cells],
                created_at=self._now,
                updated_at=self._now,
            )
            t.rows.append(added)
            out.append(added)
        return out

    def _tables_delete_rows(self, table_id: str, record_ids: List[str]) -> None:
        t = self._table(table_id)
        t.rows = [r for r in t.rows if r.id not in record_ids]

    def _tables_delete_all_rows(self, table_id: str, view_id: Optional[str]) -> None:
        t = self._table(table_id)
        if view_id is not None and not any(v.id == view_id for v in t.info.views):
            raise _not_found("view", view_id)
        t.rows.clear()

    def _tables_run_column(
        self, table_id: str, field_ids: List[str], target: RunTarget, force: bool
    ) -> RunResult:
        if not field_ids:
            raise ClayError.invalid("name at least one enrichment column to run")
        info = self._table(table_id).info
        actions: List[Tuple[str, ActionConfig]] = []
        for id in field_ids:
            f = next((f for f in info.fields if f.id == id), None)
            if f is None:
                raise ClayError.invalid(f"table `{info.name}` has no field {id}")
            if f.kind is not FieldKind.ACTION or f.action is None:
                raise ClayError.invalid(f"`{f.name}` ({id}) is not an enrichment column")
            if f.action.auth_account_id is not None:
                self._check_integration(f.action.auth_account_id)
            actions.append((f.id, f.action))
        t = self._table(table_id)
        if isinstance(target, RecordsTarget):
            ids, mode = list(target.record_ids), RunMode.INDIVIDUAL
        elif isinstance(target, ViewTopTarget):
            if not any(v.id == target.view.view_id for v in t.info.views):
                raise _not_found("view", target.view.view_id)
            ids = [r.id for r in t.rows]
            if target.view.num_records is not None:
                ids = ids[: target.view.num_records]
            mode = RunMode.BULK
        else:
            raise ClayError.invalid("unknown run target")
        # Work out the whole run first: one that would overdraw the pool spends nothing.
        writes: List[Tuple[Row, List[Cell], float, bool]] = []
        for row in t.rows:
            if row.id not in ids:
                continue
            cells: List[Cell] = []
            cost, charged = 0.0, False
            for field_id, action in actions:
                current = row.cell(field_id)
                done = not _is_empty(current) and (
                    current.status is None or current.status.kind is StatusKind.SUCCESS  # type: ignore[union-attr]
                )
                if done and not force:
                    continue
                inputs = []
                for input_id in action.input_field_ids:
                    c = row.cell(input_id)
                    inputs.append("" if c is None else _text(c.value))
                if any(i.strip() == "" for i in inputs):
                    cells.append(Cell(field_id, None, CellStatus.run_condition_not_met()))
                    continue
                cells.append(
                    Cell(
                        field_id, f"{action.action_key}({', '.join(inputs)})", CellStatus.success()
                    )
                )
                cost += action.credit_cost or 0.0
                charged = True
            if cells:
                writes.append((row, cells, cost, charged))
        total = sum(w[2] for w in writes)
        if total > self._workspace.credit_balance:
            raise ClayError.budget_exhausted(
                f"the run needs {_audit.display(total)} credits and the pool has "
                f"{_audit.display(self._workspace.credit_balance)}"
            )
        ran = 0
        for row, cells, _, charged in writes:
            for cell in cells:
                existing = row.cell(cell.field_id)
                if existing is None:
                    row.cells.append(copy.deepcopy(cell))
                else:
                    existing.value, existing.status = cell.value, cell.status
            row.updated_at = self._now
            if charged:
                ran += 1
        for _, cells, _, _ in writes:
            for cell in cells:
                if cell.status is not None and cell.status.kind is StatusKind.SUCCESS:
                    action = next(a for f, a in actions if f == cell.field_id)
                    self._ledger.append(
                        _Usage(
                            self._now,
                            self._acting,
                            action.package_id,
                            table_id,
                            action.credit_cost or 0.0,
                        )
                    )
        self._workspace.credit_balance -= total
        self._spent += total
        if ran == 0:
            return RunResult(mode=RunMode.NONE, record_count=0, credits_spent=0.0)
        return RunResult(mode=mode, record_count=ran, credits_spent=total)

    def _check_integration(self, account: str) -> None:
        """An integration authenticated by a removed member no longer works in Clay."""
        integration = next((i for i in self._integrations if i.id == account), None)
        if integration is None:
            raise _not_found("integration", account)
        owner = integration.owner_id
        removed = owner is not None and any(
            m.user_id == owner and m.status is MemberStatus.REMOVED for m in self._members
        )
        if removed:
            raise ClayError.upstream(
                f"integration {account} was authenticated by a removed member; "
                "reconnect it with another member's credentials"
            )

    def _tables_count_rows(self, table_id: str) -> int:
        return len(self._table(table_id).rows)

    def _tables_list_sources(self, table_id: str) -> List[Source]:
        return self._table(table_id).sources

    def _tables_add_webhook_source(self, table_id: str, name: str) -> Source:
        t = self._table(table_id)
        id = self._id("s")
        source = Source(
            id=id,
            name=name,
            table_id=table_id,
            kind="webhook",
            url=f"https://api.clay.com/v3/sources/webhook/{id}",
            records_received=0,
        )
        t.sources.append(source)
        return source

    def _tables_delete_source(self, source_id: str, delete_records: bool) -> None:
        # The mock does not track which source brought a row in: nothing more to delete.
        for t in self._tables.values():
            for i, s in enumerate(t.sources):
                if s.id == source_id:
                    del t.sources[i]
                    return
        raise _not_found("source", source_id)

    # ---- credits ----

    def _credits_permissions(self, workspace_id: int) -> List[Member]:
        self._check_workspace(workspace_id)
        return self._members

    def _type_name(self, id: str) -> str:
        return next((t.name for t in self._types if t.id == id), id)

    def _member_name(self, id: str) -> Tuple[str, bool]:
        m = next((m for m in self._members if m.user_id == id), None)
        return (id, True) if m is None else (m.name, m.status is MemberStatus.REMOVED)

    def _in_range(self, range: TimeRange) -> List[_Usage]:
        return [u for u in self._ledger if range.start <= u.at < range.end]

    def _resource_report(
        self,
        workspace_id: int,
        range: TimeRange,
        owners: Optional[Sequence[str]],
        packages: Optional[Sequence[str]],
    ) -> CreditReport:
        self._check_workspace(workspace_id)
        if range.end < range.start:
            raise ClayError.invalid("the time range ends before it starts")

        def parent(id: str) -> Optional[str]:
            return next((r.parent_id for r in self._resources if r.id == id), None)

        per_entity: Dict[str, Tuple[List[float], Dict[str, List[float]]]] = {}
        unattributed = [0.0, 0]
        for u in self._in_range(range):
            if packages is not None and u.package not in packages:
                continue
            if owners is not None and (u.user is None or u.user not in owners):
                continue
            workbook = parent(u.table) if u.table is not None else None
            if workbook is None:
                unattributed[0] += u.credits
                unattributed[1] += 1
                continue
            folder = parent(workbook)
            key = folder if folder is not None else workbook
            spend, subs = per_entity.setdefault(key, ([0.0, 0], {}))
            spend[0] += u.credits
            spend[1] += 1
            if folder is not None:
                s = subs.setdefault(workbook, [0.0, 0])
                s[0] += u.credits
                s[1] += 1

        def describe(id: str) -> Tuple[str, str, bool]:
            r = next((r for r in self._resources if r.id == id), None)
            if r is None:
                return (id, "resource", True)
            return (r.name, r.kind.value, r.deleted)

        entities = []
        for id in sorted(per_entity):
            (credits, n), subs = per_entity[id]
            name, kind, deleted = describe(id)
            subentities = []
            for sub in sorted(subs):
                s_name, s_kind, s_deleted = describe(sub)
                subentities.append(
                    CreditSubentity(
                        id=sub,
                        name=s_name,
                        kind=s_kind,
                        is_deleted=s_deleted,
                        credits=subs[sub][0],
                        action_executions=int(subs[sub][1]),
                    )
                )
            entities.append(
                CreditEntity(
                    id=id,
                    name=name,
                    kind=kind,
                    is_deleted=deleted,
                    credits=credits,
                    action_executions=int(n),
                    subentities=subentities,
                )
            )
        return CreditReport(
            range=range,
            entities=entities,
            unattributed_credits=unattributed[0],
            unattributed_action_executions=int(unattributed[1]),
        )

    def _credits_member_usage(
        self, workspace_id: int, range: TimeRange, user_ids: List[str]
    ) -> List[MemberCredits]:
        out = []
        for id in user_ids:
            r = self._resource_report(workspace_id, range, [id], None)
            out.append(
                MemberCredits(
                    user_id=id,
                    credits=sum(e.credits for e in r.entities) + r.unattributed_credits,
                    action_executions=sum(e.action_executions for e in r.entities)
                    + r.unattributed_action_executions,
                )
            )
        return out

    def _credits_workspace_report(self, workspace_id: int, range: TimeRange) -> CreditReport:
        return self._resource_report(workspace_id, range, None, None)

    def _credits_user_report(
        self, workspace_id: int, range: TimeRange, owner_ids: List[str]
    ) -> CreditReport:
        return self._resource_report(workspace_id, range, owner_ids, None)

    def _credits_integration_specific_report(
        self, workspace_id: int, range: TimeRange, integration_ids: List[str]
    ) -> CreditReport:
        return self._resource_report(workspace_id, range, None, integration_ids)

    def _credits_integration_report(self, workspace_id: int, range: TimeRange) -> CreditReport:
        self._check_workspace(workspace_id)
        per_pkg: Dict[str, Dict[Optional[str], List[float]]] = {}
        for u in self._in_range(range):
            e = per_pkg.setdefault(u.package, {}).setdefault(u.user, [0.0, 0])
            e[0] += u.credits
            e[1] += 1
        entities = []
        for pkg in sorted(per_pkg):
            users = per_pkg[pkg]
            subentities = []
            # As Rust's BTreeMap over Option<&str>: the unattributed (None) first.
            for user in sorted(users, key=lambda u: (u is not None, u or "")):
                credits, n = users[user]
                name, removed = ("unattributed", False) if user is None else self._member_name(user)
                subentities.append(
                    CreditSubentity(
                        id=user or "",
                        name=name,
                        kind="user",
                        is_deleted=removed,
                        credits=credits,
                        action_executions=int(n),
                    )
                )
            entities.append(
                CreditEntity(
                    id=pkg,
                    name=self._type_name(pkg),
                    kind="integration",
                    is_deleted=False,
                    credits=sum(s.credits for s in subentities),
                    action_executions=sum(s.action_executions for s in subentities),
                    subentities=subentities,
                )
            )
        return CreditReport(
            range=range,
            entities=entities,
            unattributed_credits=0.0,
            unattributed_action_executions=0,
        )

    def _credits_user_resources(self, workspace_id: int, owner_ids: List[str]) -> List[Resource]:
        self._check_workspace(workspace_id)
        return [
            r for r in self._resources if r.created_by is not None and r.created_by in owner_ids
        ]

    def _credits_integrations(self, workspace_id: int) -> List[Integration]:
        self._check_workspace(workspace_id)
        return self._integrations

    def _credits_get_integration_type(self, type_id: str) -> IntegrationType:
        t = next((t for t in self._types if t.id == type_id), None)
        if t is None:
            raise _not_found("integration type", type_id)
        return t

    def _credits_list_integration_types(self) -> List[IntegrationType]:
        return self._types


# ---- the host's side of a batch ----


def encode_rows(fields: Sequence[Field], rows: Sequence[Row]) -> bytes:
    """``rows`` as the batch buffer kiln hands a transformer: cells in ``fields`` order, the
    first cell of a field winning, cells of other fields left out."""
    position: Dict[str, int] = {}
    for i, f in enumerate(fields):
        position.setdefault(f.id, i)
    wire = []
    for row in rows:
        slots: List[Optional[Cell]] = [None] * len(fields)
        for c in row.cells:
            at = position.get(c.field_id)
            if at is not None and slots[at] is None:
                slots[at] = c
        wire.append(
            _codec.WireRow(
                row.id,
                row.created_at,
                row.updated_at,
                [(_codec.ABSENT, None) if c is None else (c.value, c.status) for c in slots],
            )
        )
    return _codec.write_batch(len(fields), wire)


def decode_outcomes(buf: bytes, rows: Sequence[Row], fields: Sequence[Field]) -> List[RowResult]:
    """A transformer's answer read as kiln reads it: one result per row, a row left without
    an outcome failing, and a cell set past the batch's fields failing its row alone."""
    outcomes = _codec.read_outcomes(buf, len(rows))
    out: List[RowResult] = []
    for i, row in enumerate(rows):
        if i >= len(outcomes):
            out.append(
                RowResult(row.id, "error", message="the plugin returned no outcome for this row")
            )
            continue
        o = outcomes[i]
        if o.kind != "set":
            out.append(RowResult(row.id, o.kind, message=o.message))
            continue
        cells: Dict[str, Value] = {}
        by_id: Dict[str, Value] = {}
        refused = None
        for at, value in o.cells:
            if at >= len(fields):
                refused = (
                    f"refused: the plugin set cell #{at}, but the batch has {len(fields)} columns; "
                    "nothing was changed for this row"
                )
                break
            cells[fields[at].name] = value
            by_id[fields[at].id] = value
        if refused is not None:
            out.append(RowResult(row.id, "error", message=refused))
        else:
            out.append(RowResult(row.id, "set", cells, cells_by_id=by_id))
    return out


# ---- batches without a workspace ----


def table_with_columns(name: str, columns: Sequence[str]) -> TableInfo:
    """A table description from column names (``Batch::table_with_columns``); field ids
    are ``f_<index>``."""
    return TableInfo(
        id="t_" + name.lower().replace(" ", "_"),
        name=name,
        kind=TableKind.SPREADSHEET,
        workspace_id=1,
        workbook_id=None,
        first_view_id="gv_default",
        views=[View("gv_default", "Default view")],
        fields=[Field(f"f_{i}", c) for i, c in enumerate(columns)],
    )


def row_with(table: TableInfo, id: str, cells: Mapping[str, Any]) -> Row:
    """A row of ``table`` from ``{column name: value}`` (any case); unknown columns are
    skipped, as in ``Batch::row_with_text``."""
    out = []
    for name, value in cells.items():
        f = next((f for f in table.fields if f.name.lower() == name.lower()), None)
        if f is not None:
            out.append(Cell(f.id, _transform._cell_value(value)))
    return Row(id=id, cells=out)


def make_batch(table: TableInfo, rows: Sequence[Row], *, dry_run: bool = False) -> _transform.Batch:
    """A :class:`~kiln_sdk.Batch` over ``table`` (``Batch::new``): the rows go through the
    host's buffer, so a batch here is exactly what a plugin gets inside kiln."""
    ctx = TransformContext(
        workspace_id=table.workspace_id,
        table=table,
        batch_index=0,
        total_rows=len(rows),
        dry_run=dry_run,
    )
    return _transform.Batch.from_buffer(encode_rows(table.fields, rows), ctx)


# ---- settings ----


def manifest_defaults(path: Optional[Path]) -> Dict[str, str]:
    """The ``[config.<key>] default`` values of a ``kiln.toml``, as kiln applies them."""
    if path is None:
        return {}
    with open(path, "rb") as f:
        manifest = tomllib.load(f)
    out = {}
    for key, spec in (manifest.get("config") or {}).items():
        if isinstance(spec, dict) and spec.get("default") is not None:
            out[key] = str(spec["default"])
    return out


def _manifest_path(plugin: Any, manifest: Any) -> Optional[Path]:
    if manifest is None:
        return None
    if manifest != "auto":
        return Path(manifest)
    module = sys.modules.get(type(plugin).__module__)
    file = getattr(module, "__file__", None) if module is not None else None
    if file is None:
        try:
            file = inspect.getfile(type(plugin))
        except (TypeError, OSError):
            return None
    candidate = Path(file).resolve().parent / "kiln.toml"
    return candidate if candidate.is_file() else None


def _config_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _audit.display(value)
    return str(value)


__all__ = [
    "DEFAULT_NOW",
    "Installed",
    "MockWorkspace",
    "RowResult",
    "TransformResult",
    "decode_outcomes",
    "encode_rows",
    "make_batch",
    "manifest_defaults",
    "row_with",
    "table_with_columns",
]
