"""Whole-workspace and whole-table reads that several plugins need: every table of a
workspace (walking the resource tree), every row of a table (ids, then bulk reads of at most
200), and the enrichment columns that run on an integration. Mirrors ``kiln_guest::walk``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Set

from ._clay import clay
from .types import FieldKind, ResourceKind, ResourceRef, Row, TableInfo

#: Clay's bulk-fetch limit per request.
READ_CHUNK = 200


def all_tables(workspace_id: int) -> List[TableInfo]:
    """Every table in the workspace, walking the resource tree level by level."""
    found: List[TableInfo] = []
    seen: Set[str] = set()
    frontier: List[Optional[ResourceRef]] = [None]
    while frontier:
        parent = frontier.pop()
        for r in clay.resources.list(workspace_id, parent, []):
            if r.id in seen:
                continue
            seen.add(r.id)
            if r.kind is ResourceKind.TABLE:
                found.append(clay.tables.get(r.id))
            else:
                frontier.append(ResourceRef(r.id, r.kind))
    return found


def all_rows(table_id: str, view_id: str) -> List[Row]:
    """Every row of a table's view, in insertion order."""
    ids = clay.tables.record_ids(table_id, view_id)
    rows: List[Row] = []
    for start in range(0, len(ids), READ_CHUNK):
        rows.extend(clay.tables.read_records(table_id, ids[start : start + READ_CHUNK]))
    return rows


@dataclass(frozen=True)
class ColumnRef:
    """An enrichment column and the table it sits in."""

    table_id: str
    table_name: str
    field_id: str
    field_name: str

    def __str__(self) -> str:
        """``table / column (t_…/f_…)``, the form findings quote."""
        return f"{self.table_name} / {self.field_name} ({self.table_id}/{self.field_id})"


def columns_using(tables: Sequence[TableInfo], integration_id: str) -> List[ColumnRef]:
    """The action columns of ``tables`` that run with the credentials of integration
    ``integration_id`` (``aa_…``)."""
    return [
        ColumnRef(t.id, t.name, f.id, f.name)
        for t in tables
        for f in t.fields
        if f.kind is FieldKind.ACTION
        and f.action is not None
        and f.action.auth_account_id == integration_id
    ]
