"""The glue between kiln's generated entry module and a plugin's ``app.py``.

kiln builds a Python plugin by writing this ``kiln_entry.py`` and running componentize-py
on it (``--stub-wasi``)::

    import wit_world
    from kiln_sdk import _guest
    import app as _app
    _plugin = _guest.plugin_of(_app)
    class WitWorld(wit_world.WitWorld):
        def transform(self, batch, ctx):
            return _guest.transform(_plugin, batch, ctx)
        # an auditor's: def audit(self, scope): return _guest.audit(_plugin, scope)

componentize-py runs that module once at build time and snapshots the interpreter, so
:func:`plugin_of` runs (and the plugin is instantiated) then, before any host is there; the
plugin's ``setup`` runs on the first call instead, when its settings can be read.

``--stub-wasi`` makes every WASI import trap: there is no stdout, stderr, clock, randomness
or file system. So, inside a component, importing this module sends ``sys.stdout`` to
clay's ``log`` at info level and ``sys.stderr`` at warn, line by line (lines written at
build time are held and sent on the first call, since no host answers at build time); and
an exception escaping the plugin is logged with its traceback at error level before it is
re-raised to trap the instance, because a trap carries no message of its own.

Outside a component (pytest) importing this module changes nothing.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import traceback
from types import ModuleType
from typing import Any, List, Union

from . import _runtime
from .audit import Auditor
from .audit import run as _run_audit
from .errors import Error
from .transform import Transformer
from .transform import run as _run_transform
from .types import LogLevel

Plugin = Union[Transformer, Auditor]


class LogWriter(io.TextIOBase):
    """A text stream that sends each line written to it to clay's ``log`` at one level."""

    def __init__(self, level: LogLevel, name: str) -> None:
        super().__init__()
        self.level = level
        self.name = name
        self._partial = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        text = self._partial + s
        *lines, self._partial = text.split("\n")
        for line in lines:
            _runtime.log_line(self.level, line.rstrip("\r"))
        return len(s)

    def flush(self) -> None:
        if self._partial:
            line, self._partial = self._partial, ""
            _runtime.log_line(self.level, line)


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def format_exception(e: BaseException) -> str:
    """A traceback without source lines: reading them (``linecache``) would open the
    plugin's files, and with ``--stub-wasi`` that traps before the message is out."""
    parts: List[str] = []
    seen: set[int] = set()

    def walk(exc: BaseException) -> None:
        seen.add(id(exc))
        if exc.__cause__ is not None and id(exc.__cause__) not in seen:
            walk(exc.__cause__)
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
            )
        elif (
            exc.__context__ is not None
            and not exc.__suppress_context__
            and id(exc.__context__) not in seen
        ):
            walk(exc.__context__)
            parts.append(
                "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        parts.append("Traceback (most recent call last):\n")
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            parts.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}\n')
            tb = tb.tb_next
        parts.extend(traceback.format_exception_only(type(exc), exc))

    walk(e)
    return "".join(parts).rstrip()


def _report_crash(e: BaseException) -> None:
    """Logs an exception escaping the plugin, traceback included, before it traps."""
    _flush_streams()
    _runtime.log_line(
        LogLevel.ERROR, f"the plugin raised an exception and stopped:\n{format_exception(e)}"
    )


def _enter_component() -> None:
    # Everything a call needs is imported now, at build time: see kiln_sdk._host.preload.
    from . import _host

    _runtime.enter_component(_host.HostBackend())
    sys.stdout = LogWriter(LogLevel.INFO, "<kiln stdout>")
    sys.stderr = LogWriter(LogLevel.WARN, "<kiln stderr>")


if importlib.util.find_spec("wit_world") is not None:
    _enter_component()


def plugin_of(module: ModuleType) -> Plugin:
    """The plugin ``module`` defines: the one class defined in it that subclasses
    :class:`~kiln_sdk.Transformer` or :class:`~kiln_sdk.Auditor` (a base class that another
    such class there extends does not count), instantiated with no arguments. Raises
    ``TypeError`` with what to fix otherwise; at build time, that fails the build."""
    where = getattr(module, "__file__", None) or module.__name__
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, (Transformer, Auditor))
        and obj.__module__ == module.__name__
    ]
    leaves = [c for c in found if not any(o is not c and issubclass(o, c) for o in found)]
    if not leaves:
        raise TypeError(
            f"{where} defines no plugin: add a class that subclasses kiln_sdk.Transformer "
            "(and overrides transform_row) or kiln_sdk.Auditor (and overrides audit)"
        )
    if len(leaves) > 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise TypeError(
            f"{where} defines more than one plugin ({names}); a plugin project has exactly one"
        )
    cls = leaves[0]
    if issubclass(cls, Transformer) and issubclass(cls, Auditor):
        raise TypeError(f"{cls.__name__} subclasses both Transformer and Auditor; pick one")
    if issubclass(cls, Transformer):
        if (
            cls.transform_row is Transformer.transform_row
            and cls.transform_batch is Transformer.transform_batch
        ):
            raise TypeError(f"{cls.__name__} must override transform_row(self, row, ctx)")
    elif cls.audit is Auditor.audit:
        raise TypeError(f"{cls.__name__} must override audit(self, scope, clay)")
    try:
        return cls()
    except TypeError as e:
        raise TypeError(
            f"kiln creates {cls.__name__} with no arguments, and that failed: {e}. "
            "Read settings in setup(self) from self.config, not in __init__"
        ) from e


def _expect(plugin: Any, kind: type, world: str) -> None:
    if not isinstance(plugin, kind):
        other = "auditor" if world == "transformer" else "transformer"
        raise TypeError(
            f'kiln.toml says world = "{world}", but the plugin {type(plugin).__name__} is '
            f"a kiln_sdk.{'Auditor' if kind is Transformer else 'Transformer'} (an {other})"
        )


def transform(plugin: Plugin, batch: bytes, ctx: Any) -> bytes:
    """The ``transform`` export: ``ctx`` is the bindings' ``TransformContext``."""
    _runtime.go_live()
    try:
        from ._host import from_wit

        _expect(plugin, Transformer, "transformer")
        return _run_transform(plugin, bytes(batch), from_wit(ctx))  # type: ignore[arg-type]
    except BaseException as e:
        _report_crash(e)
        raise
    finally:
        _flush_streams()


def audit(plugin: Plugin, scope: Any) -> Any:
    """The ``audit`` export: ``scope`` is the bindings' ``AuditScope``; returns their
    ``AuditReport`` or raises their ``Err(ClayError)``."""
    _runtime.go_live()
    try:
        from ._host import clay_error_to_wit, from_wit, to_wit

        _expect(plugin, Auditor, "auditor")
        try:
            return to_wit(_run_audit(plugin, from_wit(scope)))  # type: ignore[arg-type]
        except Error as e:
            from componentize_py_types import Err

            raise Err(clay_error_to_wit(e.into_clay())) from None
    except Exception as e:
        if type(e).__name__ == "Err" and type(e).__module__ == "componentize_py_types":
            raise
        _report_crash(e)
        raise
    except BaseException as e:
        _report_crash(e)
        raise
    finally:
        _flush_streams()
