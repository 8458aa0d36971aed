"""Where Clay calls, log lines and settings go: the host inside kiln, a mock under pytest.

Rust picks with ``cfg(target_arch = "wasm32")``; Python has one interpreter for both, so the
choice is made at run time: a :class:`~kiln_sdk.testing.MockWorkspace` installed in the
current context wins (so tests of the SDK itself can run anywhere), else the host when
:mod:`kiln_sdk._guest` found itself inside a component, else a :class:`NoWorkspace` error
that says how to install a mock.

Nothing here imports the generated bindings: the host backend is in :mod:`kiln_sdk._host`,
imported only once we know we are inside a component.
"""

from __future__ import annotations

import contextvars
from typing import Any, List, Optional, Protocol, Tuple

from .errors import NoWorkspace
from .types import LogLevel


class Backend(Protocol):
    """What answers the plugin's Clay calls, log lines and config reads."""

    def call(self, interface: str, function: str, *args: Any) -> Any:
        """Calls ``interface.function``; args and result are :mod:`kiln_sdk.types` values,
        and a failure raises :class:`~kiln_sdk.ClayError`."""
        ...

    def log(self, level: LogLevel, message: str) -> None: ...

    def config(self) -> List[Tuple[str, str]]: ...


#: The mock installed by ``MockWorkspace.install()`` in this context (thread or task).
installed: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "kiln_sdk_installed_workspace", default=None
)

_host: Backend | None = None


def enter_component(host: Backend) -> None:
    """Called by :mod:`kiln_sdk._guest` when it is imported inside a kiln component."""
    global _host
    _host = host


def in_component() -> bool:
    """Whether this interpreter runs inside a kiln component."""
    return _host is not None


def current() -> Backend | None:
    """The backend calls go to now, if any."""
    mock = installed.get()
    return mock if mock is not None else _host


def backend(what: str) -> Backend:
    """The backend for a call to ``what`` (named in the error when there is none)."""
    b = current()
    if b is None:
        raise NoWorkspace(
            f"kiln_sdk: {what} was reached outside kiln with no mock workspace installed. "
            "In a test, build a kiln_sdk.testing.MockWorkspace and run the plugin with "
            "ws.run_transform(...) / ws.run_audit(...), or wrap the call in "
            "`with ws.install():`."
        )
    return b


# ---- log lines inside a component ----

#: Lines logged before the first call into the component, when no host answers yet:
#: componentize-py runs the plugin's module at build time, and a host call then would fail
#: the build. They are sent on the first call (of every instance, since the snapshot holds
#: them).
pending: List[Tuple[LogLevel, str]] = []
live = False
_emitting = False


def go_live() -> None:
    """Marks the host as there (a call is under way) and sends the lines held until now."""
    global live
    if live:
        return
    live = True
    held = list(pending)
    pending.clear()
    for level, line in held:
        log_line(level, line)


def log_line(level: LogLevel, line: str) -> None:
    """Sends a log line to the current backend, holding it while a component is not live
    yet; a line that fails to send is dropped rather than logged about (which would
    recurse)."""
    global _emitting
    b = current()
    if b is None:
        return
    if b is _host and not live:
        pending.append((level, line))
        return
    if _emitting:
        return
    _emitting = True
    try:
        b.log(level, line)
    finally:
        _emitting = False


def held_lines() -> Optional[List[Tuple[LogLevel, str]]]:
    """The lines held for the first call, or ``None`` once it has come (for tests)."""
    return None if live else list(pending)
