"""Clay's records, as plain Python dataclasses and enums.

Every record, enum and variant of ``wit/types.wit`` has a counterpart here with the same
name and the same fields in snake_case, so a plugin reads the same shapes whether it runs
inside kiln (where ``kiln_sdk`` converts the generated bindings into these) or under pytest
against :class:`kiln_sdk.testing.MockWorkspace` (which has no bindings at all).

Three WIT variants are represented the Python way rather than as one class per case:

* ``cell-value`` is a plain Python value: ``None`` (null), ``str`` (text), ``float``
  (number), ``bool`` (boolean) or :class:`Json` (JSON text). See :data:`Value`.
* ``cell-status`` is :class:`CellStatus`, a kind plus the error code.
* ``clay-error`` is the exception :class:`kiln_sdk.ClayError`.
* ``run-target`` is :class:`RunTarget`, built with :meth:`RunTarget.records` or
  :meth:`RunTarget.view_top`.
"""

from __future__ import annotations

import enum
import functools
import json as _json
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple, Union

#: Milliseconds since the Unix epoch, UTC.
Timestamp = int


@dataclass(frozen=True)
class Json:
    """A JSON cell: its text, kept as Clay sent it.

    A distinct type rather than a ``str`` so that writing it back keeps the cell a JSON cell
    (Clay tells text and JSON cells apart) and so that comparing it with a text cell of the
    same characters says they differ, as the host does.
    """

    text: str

    def parse(self) -> Any:
        """The JSON value (raises ``json.JSONDecodeError`` when the text is not JSON)."""
        return _json.loads(self.text)

    @staticmethod
    def of(value: Any) -> Json:
        """A JSON cell holding ``value``, serialized compactly."""
        return Json(_json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def __str__(self) -> str:
        return self.text


#: A cell's value: ``None`` is null; numbers are ``float`` (``int`` is accepted when writing).
Value = Union[None, str, float, bool, Json]


class StatusKind(enum.Enum):
    """Which of Clay's per-cell statuses a :class:`CellStatus` is."""

    SUCCESS = "success"
    PENDING = "pending"
    #: ``ERROR_RUN_CONDITION_NOT_MET``: the column's run condition excluded this row.
    RUN_CONDITION_NOT_MET = "run-condition-not-met"
    #: Any other ``ERROR_*`` status; :attr:`CellStatus.code` has Clay's code.
    ERROR = "error"


@dataclass(frozen=True)
class CellStatus:
    """Clay's per-cell metadata status (enrichment columns)."""

    kind: StatusKind
    #: Clay's code, for :attr:`StatusKind.ERROR` only.
    code: Optional[str] = None

    @staticmethod
    def success() -> CellStatus:
        return CellStatus(StatusKind.SUCCESS)

    @staticmethod
    def pending() -> CellStatus:
        return CellStatus(StatusKind.PENDING)

    @staticmethod
    def run_condition_not_met() -> CellStatus:
        return CellStatus(StatusKind.RUN_CONDITION_NOT_MET)

    @staticmethod
    def error(code: str) -> CellStatus:
        return CellStatus(StatusKind.ERROR, code)

    @property
    def is_error(self) -> bool:
        """Whether the cell failed (a run condition that was not met is not a failure)."""
        return self.kind is StatusKind.ERROR


@dataclass(frozen=True)
class TimeRange:
    """A half-open interval ``[start, end)`` of timestamps."""

    start: Timestamp
    end: Timestamp


@dataclass
class Cell:
    field_id: str
    value: Value
    status: Optional[CellStatus] = None


@dataclass
class Row:
    """A record (``r_…``) as Clay's ``tables`` interface returns it."""

    id: str
    cells: List[Cell] = field(default_factory=list)
    #: ``None`` when Clay did not say: unknown, never the epoch.
    created_at: Optional[Timestamp] = None
    updated_at: Optional[Timestamp] = None

    def cell(self, field_id: str) -> Optional[Cell]:
        """The first cell of a field, by field id."""
        return next((c for c in self.cells if c.field_id == field_id), None)


@dataclass
class CellInput:
    """A cell to write, used when adding rows."""

    field_id: str
    value: Value


@dataclass
class NewRow:
    """A row to add; ``id`` lets a client make retries idempotent."""

    cells: List[CellInput] = field(default_factory=list)
    id: Optional[str] = None


class FieldKind(enum.Enum):
    TEXT = "text"
    NUMBER = "number"
    URL = "url"
    DATE = "date"
    FORMULA = "formula"
    #: An enrichment column: it spends credits through an integration.
    ACTION = "action"
    SOURCE = "source"


@dataclass
class ActionConfig:
    """What an enrichment (``action``) column runs."""

    action_key: str
    #: The integration type it runs (``actionPackageId``).
    package_id: str
    #: The integration (``aa_…``) whose credentials it runs with.
    auth_account_id: Optional[str] = None
    #: Credits charged per row it fills, when known (``None`` is unknown, not free).
    credit_cost: Optional[float] = None
    #: Fields it reads its input from.
    input_field_ids: List[str] = field(default_factory=list)


@dataclass
class Field:
    """A column (``f_…``)."""

    id: str
    name: str
    kind: FieldKind = FieldKind.TEXT
    action: Optional[ActionConfig] = None


@dataclass
class View:
    """A view (``gv_…``)."""

    id: str
    name: str


class TableKind(enum.Enum):
    SPREADSHEET = "spreadsheet"
    COMPANY = "company"
    PEOPLE = "people"
    JOBS = "jobs"


@dataclass
class TableInfo:
    """A table (``t_…``) with its fields and views."""

    id: str
    name: str
    kind: TableKind
    workspace_id: int
    workbook_id: Optional[str]
    first_view_id: Optional[str]
    views: List[View]
    fields: List[Field]


@dataclass
class Workspace:
    id: int
    name: str
    #: Credits left in the shared pool for the current period.
    credit_balance: float


@dataclass
class Folder:
    id: str
    name: str
    workspace_id: int
    parent_folder_id: Optional[str]


@dataclass
class Workbook:
    id: str
    name: str
    workspace_id: int
    parent_folder_id: Optional[str]
    auto_run: bool


class ResourceKind(enum.Enum):
    FOLDER = "folder"
    WORKBOOK = "workbook"
    TABLE = "table"


@dataclass(frozen=True)
class ResourceRef:
    id: str
    kind: ResourceKind


@dataclass
class Resource:
    """A node of the workspace's resource tree."""

    id: str
    name: str
    kind: ResourceKind
    parent_id: Optional[str]
    #: The user id of the member who created it (Clay's ``ownerId``).
    created_by: Optional[str]
    created_at: Optional[Timestamp]
    updated_at: Optional[Timestamp]
    #: Soft-deleted (in the trash), not yet permanently removed.
    deleted: bool

    def ref(self) -> ResourceRef:
        """This resource as a parent to list the children of."""
        return ResourceRef(self.id, self.kind)


class Role(enum.Enum):
    """Clay's workspace roles; one kiln does not know arrives as ``MEMBER``, with Clay's own
    text in :attr:`Member.role_name`."""

    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    SALES_REP = "sales-rep"


class MemberStatus(enum.Enum):
    ACTIVE = "active"
    #: Invited, has not joined yet.
    PENDING = "pending"
    #: No longer a member; kept because their ids still appear in reports and integrations.
    REMOVED = "removed"


@dataclass
class Member:
    """A workspace member with their role (the permissions endpoint)."""

    #: Clay's numeric user id, as text; ``None`` for a pending invitation.
    user_id: Optional[str]
    email: str
    name: str
    role: Role
    #: Clay's own name for the role, e.g. ``workspace-admin``.
    role_name: str
    status: MemberStatus


@dataclass
class MemberCredits:
    """What one member spent in a period."""

    user_id: str
    credits: float
    action_executions: int


@dataclass
class CreditSubentity:
    id: str
    name: str
    kind: str
    is_deleted: bool
    credits: float
    action_executions: int


@dataclass
class CreditEntity:
    id: str
    name: str
    #: Clay's ``__kind``: ``folder`` or ``workbook`` in workspace reports, ``integration`` in
    #: integration reports. Never assume an entity is a member: read this.
    kind: str
    is_deleted: bool
    credits: float
    action_executions: int
    subentities: List[CreditSubentity]


@dataclass
class CreditReport:
    range: TimeRange
    entities: List[CreditEntity]
    unattributed_credits: float
    unattributed_action_executions: int


@dataclass
class Integration:
    """An integration: an authenticated app account (``aa_…``)."""

    id: str
    name: str
    #: The integration type (``actionPackageId``), e.g. ``hunter``.
    type_id: str
    #: The user id of the member whose credentials it uses.
    owner_id: Optional[str]
    #: A Clay-managed account shared by the whole workspace: it belongs to nobody.
    shared: bool
    created_at: Optional[Timestamp]


@dataclass
class IntegrationType:
    id: str
    name: str
    provider_name: str
    authentication_type: str


@dataclass
class Source:
    """A table's data source (``s_…``)."""

    id: str
    name: str
    table_id: str
    #: ``webhook``, ``csv``, ``manual``…
    kind: str
    #: The inbound URL, for webhook sources.
    url: Optional[str]
    records_received: int


@dataclass(frozen=True)
class ViewTopRecords:
    view_id: str
    num_records: Optional[int] = None


class RunTarget:
    """Which rows an enrichment run covers: :meth:`records` or :meth:`view_top`."""

    @staticmethod
    def records(record_ids: List[str]) -> RecordsTarget:
        """These records, by id."""
        return RecordsTarget(tuple(record_ids))

    @staticmethod
    def view_top(view_id: str, num_records: Optional[int] = None) -> ViewTopTarget:
        """The first ``num_records`` rows of a view (all of them when ``None``)."""
        return ViewTopTarget(ViewTopRecords(view_id, num_records))


@dataclass(frozen=True)
class RecordsTarget(RunTarget):
    record_ids: Tuple[str, ...]


@dataclass(frozen=True)
class ViewTopTarget(RunTarget):
    view: ViewTopRecords


class RunMode(enum.Enum):
    #: Nothing qualified; nothing ran and nothing was spent.
    NONE = "none"
    INDIVIDUAL = "individual"
    BULK = "bulk"


@dataclass
class RunResult:
    mode: RunMode
    record_count: int
    credits_spent: float


@dataclass
class TransformContext:
    """What a transformer is told about the batch it gets."""

    workspace_id: int
    #: The table, with only the fields this plugin may see, in the order of every row's
    #: cells in the batch.
    table: TableInfo
    batch_index: int
    #: Rows in the whole run.
    total_rows: int
    dry_run: bool


@dataclass(frozen=True)
class AuditScope:
    workspace_id: int
    #: The period the audit looks at (e.g. the last 90 days).
    period: TimeRange
    #: The host's clock when the audit started.
    now: Timestamp


@functools.total_ordering
class Severity(enum.Enum):
    """How much a finding matters; ordered, ``INFO`` lowest."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``INFO`` up to 4 for ``CRITICAL``."""
        return list(Severity).index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


class SubjectKind(enum.Enum):
    WORKSPACE = "workspace"
    MEMBER = "member"
    INTEGRATION = "integration"
    TABLE = "table"
    FIELD = "field"
    RESOURCE = "resource"


@dataclass(frozen=True)
class Subject:
    """What a finding is about."""

    kind: SubjectKind
    id: str
    name: str

    @staticmethod
    def member(id: str, name: str) -> Subject:
        """A member, by user id (or email, for an invitation) and name."""
        return Subject(SubjectKind.MEMBER, id, name)

    @staticmethod
    def integration(id: str, name: str) -> Subject:
        """An integration (``aa_…``)."""
        return Subject(SubjectKind.INTEGRATION, id, name)

    @staticmethod
    def workspace(id: int, name: str) -> Subject:
        """The workspace itself."""
        return Subject(SubjectKind.WORKSPACE, str(id), name)

    @staticmethod
    def table(id: str, name: str) -> Subject:
        """A table (``t_…``)."""
        return Subject(SubjectKind.TABLE, id, name)

    @staticmethod
    def field(id: str, name: str) -> Subject:
        """A column (``f_…``)."""
        return Subject(SubjectKind.FIELD, id, name)

    @staticmethod
    def resource(id: str, name: str) -> Subject:
        """A folder, workbook or table as a node of the resource tree."""
        return Subject(SubjectKind.RESOURCE, id, name)


@dataclass
class Finding:
    severity: Severity
    #: A stable machine-readable code, e.g. ``seat.single-admin``.
    code: str
    subject: Subject
    message: str = ""
    #: Key/value facts that back the finding.
    evidence: List[Tuple[str, str]] = field(default_factory=list)


@dataclass
class AuditReport:
    """The report as it crosses into the host (see :class:`kiln_sdk.Report` to build one)."""

    summary: str
    findings: List[Finding]


class LogLevel(enum.Enum):
    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


__all__ = [
    "ActionConfig",
    "AuditReport",
    "AuditScope",
    "Cell",
    "CellInput",
    "CellStatus",
    "CreditEntity",
    "CreditReport",
    "CreditSubentity",
    "Field",
    "FieldKind",
    "Finding",
    "Folder",
    "Integration",
    "IntegrationType",
    "Json",
    "LogLevel",
    "Member",
    "MemberCredits",
    "MemberStatus",
    "NewRow",
    "RecordsTarget",
    "Resource",
    "ResourceKind",
    "ResourceRef",
    "Role",
    "Row",
    "RunMode",
    "RunResult",
    "RunTarget",
    "Severity",
    "Source",
    "StatusKind",
    "Subject",
    "SubjectKind",
    "TableInfo",
    "TableKind",
    "TimeRange",
    "Timestamp",
    "TransformContext",
    "Value",
    "View",
    "ViewTopRecords",
    "ViewTopTarget",
    "Workbook",
    "Workspace",
]
