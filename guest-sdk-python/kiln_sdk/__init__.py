"""kiln_sdk: write kiln plugins for Clay in Python.

A plugin is one class in ``app.py``: a :class:`Transformer` for row transformations or an
:class:`Auditor` for workspace audits. kiln builds it into a WebAssembly component with
componentize-py; the bindings stay out of sight::

    import kiln_sdk
    from kiln_sdk import Row, Batch, Outcome

    class Shout(kiln_sdk.Transformer):
        def setup(self) -> None:
            self.column = self.config.get("column", "Name")

        def transform_row(self, row: Row, ctx: Batch) -> Outcome:
            name = row.text(self.column)
            if name is None:
                return kiln_sdk.unchanged()
            return kiln_sdk.set({self.column: name.upper()})

The same code runs under plain pytest against :class:`kiln_sdk.testing.MockWorkspace`, which
drives it through the very buffers kiln uses. The Rust SDK (``kiln_guest``) is the model:
names, messages and semantics follow it, so a plugin ported from Rust behaves the same.
"""

from __future__ import annotations

from . import email, log, time, types, walk
from ._clay import Clay, clay
from .audit import Auditor, FindingBuilder, Report, finding
from .config import Config
from .errors import ClayError, ClayErrorKind, ConfigError, Error, MissingCapability, NoWorkspace
from .transform import Batch, Outcome, Row, Transformer, delete, error, set, set_cells, unchanged
from .types import (
    AuditScope,
    CellStatus,
    Json,
    Severity,
    Subject,
    SubjectKind,
    TimeRange,
    TransformContext,
    Value,
)

__version__ = "0.1.0"

__all__ = [
    "AuditScope",
    "Auditor",
    "Batch",
    "CellStatus",
    "Clay",
    "ClayError",
    "ClayErrorKind",
    "Config",
    "ConfigError",
    "Error",
    "FindingBuilder",
    "Json",
    "MissingCapability",
    "NoWorkspace",
    "Outcome",
    "Report",
    "Row",
    "Severity",
    "Subject",
    "SubjectKind",
    "TimeRange",
    "TransformContext",
    "Transformer",
    "Value",
    "clay",
    "delete",
    "email",
    "error",
    "finding",
    "log",
    "set",
    "set_cells",
    "time",
    "types",
    "unchanged",
    "walk",
]
