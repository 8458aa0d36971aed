"""Clay's API: one object per capability, with the names and signatures of the ``clay:api``
WIT imports in snake_case.

``kiln_sdk.clay.tables.get(table_id)`` calls ``tables.get`` of ``wit/clay.wit``. Inside kiln
each call crosses into the host, which checks the plugin's grant (a capability the plugin
was not granted raises :class:`~kiln_sdk.ClayError` ``denied``; one its ``kiln.toml`` does
not request is not in its world at all, and raises :class:`~kiln_sdk.MissingCapability`
saying what to add). Under pytest each call goes to the installed
:class:`~kiln_sdk.testing.MockWorkspace`, so plugin logic runs without kiln.

Arguments and results are :mod:`kiln_sdk.types` values; every failure is a
:class:`~kiln_sdk.ClayError`. WIT ``option`` arguments default to ``None`` and flags to
``False``.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from . import _runtime
from .types import (
    CreditReport,
    Folder,
    Integration,
    IntegrationType,
    LogLevel,
    Member,
    MemberCredits,
    NewRow,
    Resource,
    ResourceKind,
    ResourceRef,
    Row,
    RunResult,
    RunTarget,
    Source,
    TableInfo,
    TimeRange,
    Workbook,
    Workspace,
)

#: The calls that change something: a plugin needs ``write`` access to make them.
WRITE_FUNCTIONS: FrozenSet[Tuple[str, str]] = frozenset(
    {
        ("folders", "create"),
        ("folders", "delete"),
        ("workbooks", "create"),
        ("workbooks", "delete"),
        ("tables", "add_rows"),
        ("tables", "delete_rows"),
        ("tables", "delete_all_rows"),
        ("tables", "run_column"),
        ("tables", "add_webhook_source"),
        ("tables", "delete_source"),
    }
)

#: Members one ``member_usage`` call takes (the host's cap).
MEMBER_USAGE_BATCH = 500


class _Interface:
    """One WIT interface; each method forwards to the current backend."""

    _name = ""

    def _call(self, function: str, *args: Any) -> Any:
        b = _runtime.backend(f"clay.{self._name}.{function}")
        return b.call(self._name, function, *args)

    def __repr__(self) -> str:
        return f"<clay.{self._name}>"


class Workspaces(_Interface):
    """The workspaces the acting account belongs to (``GET /v3/my-workspaces``)."""

    _name = "workspaces"

    def list(self) -> List[Workspace]:
        """Every workspace the acting member belongs to, with its credit balance."""
        return self._call("list")


class Folders(_Interface):
    """Folders (``POST /v3/workspaces/{ws}/folders``, ``DELETE …/resources/``)."""

    _name = "folders"

    def create(
        self, workspace_id: int, name: str, parent_folder_id: Optional[str] = None
    ) -> Folder:
        """Creates a folder at the top level or under ``parent_folder_id``; a sibling with
        the same name is a ``conflict``."""
        return self._call("create", workspace_id, name, parent_folder_id)

    def delete(self, workspace_id: int, folder_ids: Sequence[str], permanent: bool = False) -> None:
        """Moves folders (and what they contain) to the trash, or removes them for good when
        ``permanent``."""
        self._call("delete", workspace_id, list(folder_ids), permanent)


class Resources(_Interface):
    """The resource tree (``POST /v3/workspaces/{ws}/resources_v2/``)."""

    _name = "resources"

    def search(self, workspace_id: int, query: str) -> List[Resource]:
        """Resources anywhere in the workspace whose name contains ``query``
        (case-insensitive)."""
        return self._call("search", workspace_id, query)

    def list(
        self,
        workspace_id: int,
        parent: Optional[ResourceRef] = None,
        kinds: Sequence[ResourceKind] = (),
    ) -> List[Resource]:
        """One level of the tree: the children of ``parent``, or the top level when
        ``None``; ``kinds`` filters (empty means every kind). Trashed resources are left
        out."""
        return self._call("list", workspace_id, parent, [*kinds])


class Workbooks(_Interface):
    """Workbooks (``POST /v3/workbooks``, ``DELETE /v3/workbooks/{wb}``)."""

    _name = "workbooks"

    def create(
        self,
        workspace_id: int,
        name: str,
        auto_run: bool = False,
        parent_folder_id: Optional[str] = None,
    ) -> Workbook:
        """Creates a workbook at the top level or in a folder."""
        return self._call("create", workspace_id, name, auto_run, parent_folder_id)

    def delete(self, workbook_id: str) -> None:
        """Deletes a workbook and its tables."""
        self._call("delete", workbook_id)


class Tables(_Interface):
    """Tables, their records, enrichment runs and sources (``/v3/tables/…``)."""

    _name = "tables"

    def get(self, table_id: str) -> TableInfo:
        """The table with its fields and views."""
        return self._call("get", table_id)

    def record_ids(self, table_id: str, view_id: str) -> List[str]:
        """Every record id of a view, in insertion order (no paging)."""
        return self._call("record_ids", table_id, view_id)

    def read_records(self, table_id: str, record_ids: Sequence[str]) -> List[Row]:
        """Records by id, at most 200 per call; unknown ids are skipped."""
        return self._call("read_records", table_id, list(record_ids))

    def add_rows(self, table_id: str, rows: Sequence[NewRow]) -> List[Row]:
        """Adds rows (at most 50 per call) and returns them with their ids; a row whose
        ``id`` is already in the table is returned as it is, so retries are idempotent."""
        return self._call("add_rows", table_id, list(rows))

    def delete_rows(self, table_id: str, record_ids: Sequence[str]) -> None:
        """Deletes records by id."""
        self._call("delete_rows", table_id, list(record_ids))

    def delete_all_rows(self, table_id: str, view_id: Optional[str] = None) -> None:
        """Deletes every record of the table (a view's records when ``view_id`` is given)."""
        self._call("delete_all_rows", table_id, view_id)

    def run_column(
        self,
        table_id: str,
        field_ids: Sequence[str],
        target: RunTarget,
        force: bool = False,
    ) -> RunResult:
        """Runs enrichment columns over the target rows and spends credits. Mode ``NONE``
        means nothing ran and nothing was spent."""
        return self._call("run_column", table_id, list(field_ids), target, force)

    def count_rows(self, table_id: str) -> int:
        """How many records the table holds."""
        return self._call("count_rows", table_id)

    def list_sources(self, table_id: str) -> List[Source]:
        """The table's data sources."""
        return self._call("list_sources", table_id)

    def add_webhook_source(self, table_id: str, name: str) -> Source:
        """Adds a webhook source to the table; the result carries its inbound URL."""
        return self._call("add_webhook_source", table_id, name)

    def delete_source(self, source_id: str, delete_records: bool = False) -> None:
        """Removes a source, and the records it brought in when ``delete_records``."""
        self._call("delete_source", source_id, delete_records)


class Credits(_Interface):
    """Credit reports, permissions, integrations and who created what
    (``/v3/credit-reporting/…``, ``/v3/app-accounts…``)."""

    _name = "credits"

    def permissions(self, workspace_id: int) -> List[Member]:
        """Members with their roles and status (``GET /v3/workspaces/{ws}/permissions``)."""
        return self._call("permissions", workspace_id)

    def workspace_report(self, workspace_id: int, range: TimeRange) -> CreditReport:
        """What each folder and workbook spent in ``range``: entities are resources, never
        members (for those, use :meth:`member_usage`). Spending on no table is
        unattributed."""
        return self._call("workspace_report", workspace_id, range)

    def user_report(
        self, workspace_id: int, range: TimeRange, owner_ids: Sequence[str]
    ) -> CreditReport:
        """The workspace report restricted to what the given members spent; its entities
        are still resources."""
        return self._call("user_report", workspace_id, range, list(owner_ids))

    def member_usage(
        self, workspace_id: int, range: TimeRange, user_ids: Sequence[str]
    ) -> List[MemberCredits]:
        """What each member spent in ``range``, one entry per id asked, in order (at most
        500 a call): every credit of theirs, on a resource or not."""
        return self._call("member_usage", workspace_id, range, list(user_ids))

    def spend_by_member(
        self, workspace_id: int, range: TimeRange, members: Sequence[Member]
    ) -> Dict[str, MemberCredits]:
        """What each member with a user id spent in ``range``, keyed by user id:
        :meth:`member_usage` in calls of at most 500. Pending invitations are left out."""
        ids = [m.user_id for m in members if m.user_id is not None]
        out: Dict[str, MemberCredits] = {}
        for start in range_(0, len(ids), MEMBER_USAGE_BATCH):
            for usage in self.member_usage(
                workspace_id, range, ids[start : start + MEMBER_USAGE_BATCH]
            ):
                out[usage.user_id] = usage
        return out

    def integration_report(self, workspace_id: int, range: TimeRange) -> CreditReport:
        """Usage per integration type (entities of kind ``integration``)."""
        return self._call("integration_report", workspace_id, range)

    def integration_specific_report(
        self, workspace_id: int, range: TimeRange, integration_ids: Sequence[str]
    ) -> CreditReport:
        """Workspace usage restricted to the given integration types."""
        return self._call("integration_specific_report", workspace_id, range, list(integration_ids))

    def user_resources(self, workspace_id: int, owner_ids: Sequence[str]) -> List[Resource]:
        """Resources created by the given users."""
        return self._call("user_resources", workspace_id, list(owner_ids))

    def integrations(self, workspace_id: int) -> List[Integration]:
        """Integrations (authenticated app accounts) with the member who authenticated each."""
        return self._call("integrations", workspace_id)

    def get_integration_type(self, type_id: str) -> IntegrationType:
        """One integration type (``actionPackageId``)."""
        return self._call("get_integration_type", type_id)

    def list_integration_types(self) -> List[IntegrationType]:
        """Every integration type the workspace knows."""
        return self._call("list_integration_types")


range_ = range  # ``range`` is a parameter name above (as in the WIT); keep the builtin.


class Log:
    """Leveled logging into the host's log (the ``log`` interface); :mod:`kiln_sdk.log` has
    a function per level."""

    def log(self, level: LogLevel, message: str) -> None:
        """Logs ``message`` at ``level``."""
        from . import log

        log.emit(level, message)

    def __repr__(self) -> str:
        return "<clay.log>"


class ConfigInterface:
    """The plugin's settings as the ``config`` interface gives them; ``self.config`` (a
    :class:`~kiln_sdk.Config`) is the usual way to read them."""

    def get(self, key: str) -> Optional[str]:
        """One setting, if set."""
        return dict(self.all()).get(key)

    def all(self) -> List[Tuple[str, str]]:
        """Every setting, as ``(key, value)`` pairs."""
        return list(_runtime.backend("clay.config.all").config())

    def __repr__(self) -> str:
        return "<clay.config>"


class Clay:
    """Every ``clay:api`` interface; :data:`kiln_sdk.clay` is the one instance, and an
    auditor's ``audit`` gets it as its ``clay`` argument."""

    workspaces = Workspaces()
    folders = Folders()
    resources = Resources()
    workbooks = Workbooks()
    tables = Tables()
    credits = Credits()
    log = Log()
    config = ConfigInterface()

    def __repr__(self) -> str:
        return "<kiln_sdk.clay>"


#: The interfaces, in the order of ``wit/clay.wit``.
INTERFACES = ("workspaces", "folders", "resources", "workbooks", "tables", "credits")

clay = Clay()
