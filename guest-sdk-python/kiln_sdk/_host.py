"""The host backend: Clay calls, logs and settings through componentize-py's bindings.

Imported only inside a component (by :mod:`kiln_sdk._guest`), at build time: it imports the
generated ``wit_world`` interfaces then (:func:`preload`), one at a time, because kiln builds
each plugin against a narrow world holding only the interfaces its ``kiln.toml`` requests:
an interface left out has no module, and calling it must say what to add to the manifest
rather than fail with an ``ImportError``.

It also converts between the bindings' shapes and :mod:`kiln_sdk.types`. componentize-py
generates a dataclass per record with the same name and snake_case fields, an ``Enum`` per
enum with the same member names, and one class per variant case named ``Variant_Case``
(``CellValue_Text``), with the payload in ``.value``; results raise
``componentize_py_types.Err(value)``. The conversion goes by those names, so it needs no
table of its own to keep in step with the WIT.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple

from . import types as sdk
from ._clay import WRITE_FUNCTIONS
from .errors import ClayError, ClayErrorKind, MissingCapability

_PREFIX = "wit_world.imports."

_ERROR_CASES: Dict[str, ClayErrorKind] = {
    "NotFound": ClayErrorKind.NOT_FOUND,
    "Denied": ClayErrorKind.DENIED,
    "Invalid": ClayErrorKind.INVALID,
    "RateLimited": ClayErrorKind.RATE_LIMITED,
    "BudgetExhausted": ClayErrorKind.BUDGET_EXHAUSTED,
    "Conflict": ClayErrorKind.CONFLICT,
    "Upstream": ClayErrorKind.UPSTREAM,
    "Unavailable": ClayErrorKind.UNAVAILABLE,
}
_ERROR_CLASSES = {kind: f"ClayError_{case}" for case, kind in _ERROR_CASES.items()}

_STATUS_CASES = {
    "Success": sdk.StatusKind.SUCCESS,
    "Pending": sdk.StatusKind.PENDING,
    "RunConditionNotMet": sdk.StatusKind.RUN_CONDITION_NOT_MET,
    "Error": sdk.StatusKind.ERROR,
}


#: Every interface a world may import; which ones this plugin's world has is found once.
INTERFACES = (
    "types",
    "workspaces",
    "folders",
    "resources",
    "workbooks",
    "tables",
    "credits",
    "log",
    "config",
)

_modules: Dict[str, Optional[ModuleType]] = {}


def preload() -> None:
    """Imports the bindings of every interface the plugin's world has, and notes the ones
    it lacks. This must run at build time: componentize-py snapshots the interpreter then,
    and with ``--stub-wasi`` an import at run time would need the file system, which traps.
    """
    for name in INTERFACES:
        try:
            _modules[name] = importlib.import_module(_PREFIX + name)
        except ModuleNotFoundError as e:
            if e.name is None or not (_PREFIX + name).startswith(e.name):
                raise
            _modules[name] = None
    importlib.import_module("componentize_py_types")


def interface(name: str, function: str = "") -> ModuleType:
    """The bindings of one imported interface; :class:`MissingCapability` when the plugin's
    world does not import it."""
    if not _modules:
        preload()
    module = _modules.get(name)
    if module is None:
        access = "write" if (name, function) in WRITE_FUNCTIONS else "read"
        raise MissingCapability(name, access)
    return module


def _wit_types() -> ModuleType:
    return interface("types")


# ---- bindings → SDK ----


def from_wit(v: Any) -> Any:
    """A value of the bindings as the equivalent :mod:`kiln_sdk.types` value."""
    if v is None or isinstance(v, (str, bool, int, float, bytes)):
        return v
    if isinstance(v, list):
        return [from_wit(x) for x in v]
    if isinstance(v, tuple):
        return tuple(from_wit(x) for x in v)
    cls = type(v).__name__
    if isinstance(v, enum.Enum):
        return getattr(sdk, cls)[v.name]
    variant, _, case = cls.partition("_")
    if case:
        if variant == "CellValue":
            return cell_value_from_wit(v)
        if variant == "CellStatus":
            kind = _STATUS_CASES[case]
            return sdk.CellStatus(kind, v.value if kind is sdk.StatusKind.ERROR else None)
        if variant == "ClayError":
            return clay_error_from_wit(v)
        if variant == "RunTarget":
            if case == "Records":
                return sdk.RunTarget.records(list(v.value))
            return sdk.RunTarget.view_top(v.value.view_id, v.value.num_records)
    target: Any = getattr(sdk, cls, None)
    if not isinstance(target, type) or not dataclasses.is_dataclass(target):
        raise TypeError(f"kiln_sdk cannot convert a {cls} from the bindings")
    return target(**{f.name: from_wit(getattr(v, f.name)) for f in dataclasses.fields(target)})


def cell_value_from_wit(v: Any) -> sdk.Value:
    case = type(v).__name__.partition("_")[2]
    if case == "Null":
        return None
    if case == "Json":
        return sdk.Json(v.value)
    if case == "Number":
        return float(v.value)
    return v.value


def clay_error_from_wit(v: Any) -> ClayError:
    return ClayError(_ERROR_CASES[type(v).__name__.partition("_")[2]], v.value)


# ---- SDK → bindings ----


def to_wit(v: Any) -> Any:
    """A :mod:`kiln_sdk.types` value as the bindings' equivalent."""
    if v is None or isinstance(v, (str, bool, int, float, bytes)):
        return v
    if isinstance(v, list):
        return [to_wit(x) for x in v]
    if isinstance(v, tuple):
        return tuple(to_wit(x) for x in v)
    t = _wit_types()
    if isinstance(v, enum.Enum):
        return getattr(t, type(v).__name__)[v.name]
    if isinstance(v, sdk.RecordsTarget):
        return t.RunTarget_Records(list(v.record_ids))
    if isinstance(v, sdk.ViewTopTarget):
        return t.RunTarget_ViewTop(t.ViewTopRecords(v.view.view_id, v.view.num_records))
    if isinstance(v, sdk.CellInput):
        return t.CellInput(v.field_id, cell_value_to_wit(v.value))
    if isinstance(v, sdk.CellStatus):
        case = {s: c for c, s in _STATUS_CASES.items()}[v.kind]
        cls = getattr(t, "CellStatus_" + case)
        return cls(v.code or "") if v.kind is sdk.StatusKind.ERROR else cls()
    if isinstance(v, sdk.Cell):
        return t.Cell(v.field_id, cell_value_to_wit(v.value), to_wit(v.status))
    if isinstance(v, ClayError):
        return clay_error_to_wit(v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        target = getattr(t, type(v).__name__)
        return target(**{f.name: to_wit(getattr(v, f.name)) for f in dataclasses.fields(v)})
    raise TypeError(f"kiln_sdk cannot pass a {type(v).__name__} to the host")


def cell_value_to_wit(v: sdk.Value) -> Any:
    t = _wit_types()
    if v is None:
        return t.CellValue_Null()
    if isinstance(v, bool):
        return t.CellValue_Boolean(v)
    if isinstance(v, str):
        return t.CellValue_Text(v)
    if isinstance(v, (int, float)):
        return t.CellValue_Number(float(v))
    if isinstance(v, sdk.Json):
        return t.CellValue_Json(v.text)
    raise TypeError(
        f"a cell value must be None, str, int, float, bool or Json, not {type(v).__name__}"
    )


def clay_error_to_wit(e: ClayError) -> Any:
    return getattr(_wit_types(), _ERROR_CLASSES[e.kind])(e.value)


# ---- the backend ----


class HostBackend:
    """Answers Clay calls, log lines and config reads through the host's imports."""

    def __init__(self) -> None:
        preload()

    def call(self, interface_name: str, function: str, *args: Any) -> Any:
        fn = getattr(interface(interface_name, function), function)
        from componentize_py_types import Err  # preloaded; exists only inside a component

        try:
            result = fn(*[to_wit(a) for a in args])
        except Err as e:
            raise clay_error_from_wit(e.value) from None
        return from_wit(result)

    def log(self, level: sdk.LogLevel, message: str) -> None:
        log = interface("log")
        log.log(log.Level[level.name], message)

    def config(self) -> List[Tuple[str, str]]:
        return [(k, v) for k, v in interface("config").all()]
