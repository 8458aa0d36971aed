"""Leveled logging into the host's log, tagged with the plugin's name.

Inside kiln a line goes to clay's ``log`` interface (``print`` works too: the SDK sends
stdout there at info level and stderr at warn, since a component built with
``--stub-wasi`` has no stdout of its own). Under pytest the installed
:class:`~kiln_sdk.testing.MockWorkspace` keeps the line for the test to assert on, and it is
printed to stderr either way, as the Rust SDK does natively.
"""

from __future__ import annotations

import sys

from . import _runtime
from .types import LogLevel

__all__ = ["LogLevel", "emit", "trace", "debug", "info", "warn", "error"]


def emit(level: LogLevel, message: str) -> None:
    """Logs ``message`` at ``level``."""
    _runtime.log_line(level, message)
    if not _runtime.in_component():
        print(f"[{level.value}] {message}", file=sys.stderr)


def trace(message: str) -> None:
    """Logs at trace level."""
    emit(LogLevel.TRACE, message)


def debug(message: str) -> None:
    """Logs at debug level."""
    emit(LogLevel.DEBUG, message)


def info(message: str) -> None:
    """Logs at info level."""
    emit(LogLevel.INFO, message)


def warn(message: str) -> None:
    """Logs at warn level."""
    emit(LogLevel.WARN, message)


def error(message: str) -> None:
    """Logs at error level."""
    emit(LogLevel.ERROR, message)
