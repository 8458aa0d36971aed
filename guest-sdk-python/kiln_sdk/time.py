"""Time helpers: Clay timestamps are milliseconds since the Unix epoch (``kiln_guest::time``).

A plugin has no clock of its own (``--stub-wasi`` traps on one): use the audit scope's
``now``, or a row's stamps."""

from __future__ import annotations

#: One day in milliseconds.
DAY_MS = 24 * 3600 * 1000


def days_between(earlier: int, later: int) -> int:
    """Whole days from ``earlier`` to ``later`` (negative if reversed), rounded down."""
    return (later - earlier) // DAY_MS
