"""The plugin's settings: its manifest defaults merged with what the operator passed.

Mirrors ``kiln_guest::Config``. Inside kiln the host has already applied the ``[config.*]``
defaults of ``kiln.toml`` (and ``kiln run -c key=value`` on top), so a plugin reads plain
strings; the typed getters parse them the way Rust's ``FromStr`` does, so that a value means
the same thing to a Python plugin as to a Rust one (``"1_000"`` is not a number, ``"True"``
is not a boolean), and a value that does not parse is a :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, Iterator, Mapping, Optional, Tuple, TypeVar, Union

from . import _runtime
from .errors import ConfigError

T = TypeVar("T")

_INT = re.compile(r"[+-]?[0-9]+\Z")
# Rust's f64 grammar: decimal with optional exponent, or inf/infinity/nan in any case.
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z",
    re.IGNORECASE,
)
#: Unicode ``White_Space``, what Rust's ``str::trim`` strips (Python's ``str.strip`` also
#: strips U+001C..U+001F, which Rust keeps).
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_UNSET = object()


def parse_int(text: str) -> int:
    """An integer as Rust's ``i64::from_str`` reads it (after trimming); ``ValueError``
    otherwise."""
    s = text.strip(RUST_WHITESPACE)
    if not _INT.match(s):
        raise ValueError("expected a whole number, e.g. 3")
    return int(s)


def parse_float(text: str) -> float:
    """A number as Rust's ``f64::from_str`` reads it (after trimming); ``ValueError``
    otherwise."""
    s = text.strip(RUST_WHITESPACE)
    if not _FLOAT.match(s):
        raise ValueError("expected a number, e.g. 0.5")
    return float(s)


def parse_bool(text: str) -> bool:
    """``true`` or ``false``, as Rust's ``bool::from_str`` reads them (after trimming)."""
    s = text.strip(RUST_WHITESPACE)
    if s == "true":
        return True
    if s == "false":
        return False
    raise ValueError("expected `true` or `false`")


class Config(Mapping[str, str]):
    """The plugin's settings, a read-only mapping of key to text.

    ``config.get("column", "Email")`` reads text with a fallback; :meth:`get_int`,
    :meth:`get_float` and :meth:`get_bool` parse, and :meth:`parse` takes any parser.
    The fallback matters only outside kiln (tests) or for keys the manifest leaves without a
    default: inside kiln the manifest's default is already in the mapping.
    """

    def __init__(
        self, values: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None
    ) -> None:
        items = values.items() if isinstance(values, Mapping) else (values or ())
        self._values: Dict[str, str] = {str(k): str(v) for k, v in items}

    @classmethod
    def from_host(cls) -> Config:
        """The settings kiln passes the plugin (inside kiln), or those of the installed
        :class:`~kiln_sdk.testing.MockWorkspace` (under pytest)."""
        if _runtime.in_component() and not _runtime.live:
            # componentize-py runs app.py when it builds the component: no host, no settings.
            raise RuntimeError(
                "kiln_sdk: the plugin read its settings while kiln was building it; read "
                "self.config in setup(self), not at import time or in __init__"
            )
        return cls(_runtime.backend("config").config())

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Config({dict(sorted(self._values.items()))!r})"

    def parse(self, key: str, parser: Callable[[str], T], default: object = _UNSET) -> T:
        """The value run through ``parser``; ``default`` when the key is unset. A value the
        parser rejects (``ValueError``), or an unset key with no default, is a
        :class:`ConfigError` naming the key."""
        raw = self._values.get(key)
        if raw is None:
            if default is _UNSET:
                raise ConfigError(key, None, "it has no default; set it in kiln.toml or with -c")
            return default  # type: ignore[return-value]
        try:
            return parser(raw)
        except ValueError as e:
            raise ConfigError(key, raw, str(e)) from None

    def require(self, key: str) -> str:
        """The value; a :class:`ConfigError` when the key is unset."""
        return self.parse(key, str)

    def get_int(self, key: str, default: object = _UNSET) -> int:
        """The value as an integer (``"3"``, ``"-2"``, ``"+7"``)."""
        return self.parse(key, parse_int, default)

    def get_float(self, key: str, default: object = _UNSET) -> float:
        """The value as a number (``"0.5"``, ``"1e3"``, ``"inf"``)."""
        return self.parse(key, parse_float, default)

    def get_bool(self, key: str, default: object = _UNSET) -> bool:
        """The value as a boolean: exactly ``true`` or ``false``."""
        return self.parse(key, parse_bool, default)

    def get_list(self, key: str, default: Optional[list[str]] = None) -> list[str]:
        """The value as a comma-separated list, items trimmed, empty items dropped."""
        raw = self._values.get(key)
        if raw is None:
            return list(default or [])
        return [p.strip(RUST_WHITESPACE) for p in raw.split(",") if p.strip(RUST_WHITESPACE)]
