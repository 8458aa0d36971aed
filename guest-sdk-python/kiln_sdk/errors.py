"""What a plugin fails with: an error from Clay, a bad setting, or its own complaint.

Mirrors ``kiln_guest::Error``. The distinction matters at the boundary: an :class:`Error`
raised by an auditor becomes the audit's ``clay-error`` result (a :class:`ClayError` as
itself, anything else as ``invalid``), and one raised by :meth:`Transformer.setup` fails
every row of the batch with its message. Any *other* exception is a bug in the plugin: the
SDK logs its traceback and lets it trap the instance, as a panic does in Rust.
"""

from __future__ import annotations

import enum
from typing import Optional, Union


class Error(Exception):
    """The plugin's own complaint; raise it with a message (``raise Error("no Leads table")``).

    The base of every error the SDK treats as an expected failure rather than a bug.
    """

    def into_clay(self) -> ClayError:
        """The error as it crosses back into the host: a Clay error as itself, anything else
        as ``invalid`` with this error's message."""
        return ClayError.invalid(str(self))


class ConfigError(Error):
    """A config key has a value the plugin cannot use (or is unset, with no default)."""

    def __init__(self, key: str, value: Optional[str], reason: str) -> None:
        self.key = key
        #: The value it has; ``None`` when the key is not set at all.
        self.value = value
        self.reason = reason
        # The constructor's arguments, so that copying and pickling rebuild the error.
        super().__init__(key, value, reason)

    def __str__(self) -> str:
        if self.value is None:
            return f"config key `{self.key}` is not set: {self.reason}"
        return f"config key `{self.key}` has value `{self.value}`: {self.reason}"


class MissingCapability(Error):
    """The plugin called a Clay interface its ``kiln.toml`` does not request, so kiln left it
    out of the plugin's world; the message says which line to add."""

    def __init__(self, interface: str, access: str = "read") -> None:
        self.interface = interface
        self.access = access
        super().__init__(interface, access)

    def __str__(self) -> str:
        return (
            f"the plugin calls clay `{self.interface}` but its kiln.toml does not request it; "
            f'add `{self.interface} = "{self.access}"` under [capabilities]'
        )


class ClayErrorKind(enum.Enum):
    """The cases of WIT's ``clay-error``."""

    #: The id does not exist (or is not visible to this plugin).
    NOT_FOUND = "not-found"
    #: The operator did not grant this capability, table or column.
    DENIED = "denied"
    #: The request is malformed: a bad id, an empty batch, a limit exceeded.
    INVALID = "invalid"
    #: Clay (or kiln's own limiter) asked to slow down; the value is ms to wait.
    RATE_LIMITED = "rate-limited"
    #: The call would spend more credits than a budget allows; nothing was spent.
    BUDGET_EXHAUSTED = "budget-exhausted"
    #: The call conflicts with the current state (e.g. a name already exists).
    CONFLICT = "conflict"
    #: Clay answered with an error of its own.
    UPSTREAM = "upstream"
    #: The backend cannot be reached right now.
    UNAVAILABLE = "unavailable"


class ClayError(Error):
    """A Clay call failed: WIT's ``clay-error``, as an exception.

    ``kind`` says which case; ``value`` is its message (an ``int`` of milliseconds for
    :attr:`ClayErrorKind.RATE_LIMITED`). ``str(e)`` reads like ``kiln_guest::describe``.
    """

    def __init__(self, kind: ClayErrorKind, value: Union[str, int]) -> None:
        self.kind = kind
        self.value = value
        super().__init__(kind, value)

    def __str__(self) -> str:
        k, v = self.kind, self.value
        if k is ClayErrorKind.RATE_LIMITED:
            return f"rate limited, retry after {v} ms"
        prefix = {
            ClayErrorKind.NOT_FOUND: "not found",
            ClayErrorKind.DENIED: "denied",
            ClayErrorKind.INVALID: "invalid",
            ClayErrorKind.BUDGET_EXHAUSTED: "credit budget exhausted",
            ClayErrorKind.CONFLICT: "conflict",
            ClayErrorKind.UPSTREAM: "Clay error",
            ClayErrorKind.UNAVAILABLE: "unavailable",
        }[k]
        return f"{prefix}: {v}"

    def __repr__(self) -> str:
        return f"ClayError({self.kind.name}, {self.value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClayError):
            return NotImplemented
        return (self.kind, self.value) == (other.kind, other.value)

    def __hash__(self) -> int:
        return hash((self.kind, self.value))

    def into_clay(self) -> ClayError:
        return self

    @property
    def retry_after_ms(self) -> Optional[int]:
        """For a rate-limited call, how long to wait before retrying."""
        return int(self.value) if self.kind is ClayErrorKind.RATE_LIMITED else None

    @staticmethod
    def not_found(message: str) -> ClayError:
        return ClayError(ClayErrorKind.NOT_FOUND, message)

    @staticmethod
    def denied(message: str) -> ClayError:
        return ClayError(ClayErrorKind.DENIED, message)

    @staticmethod
    def invalid(message: str) -> ClayError:
        return ClayError(ClayErrorKind.INVALID, message)

    @staticmethod
    def rate_limited(retry_after_ms: int) -> ClayError:
        return ClayError(ClayErrorKind.RATE_LIMITED, retry_after_ms)

    @staticmethod
    def budget_exhausted(message: str) -> ClayError:
        return ClayError(ClayErrorKind.BUDGET_EXHAUSTED, message)

    @staticmethod
    def conflict(message: str) -> ClayError:
        return ClayError(ClayErrorKind.CONFLICT, message)

    @staticmethod
    def upstream(message: str) -> ClayError:
        return ClayError(ClayErrorKind.UPSTREAM, message)

    @staticmethod
    def unavailable(message: str) -> ClayError:
        return ClayError(ClayErrorKind.UNAVAILABLE, message)


class NoWorkspace(RuntimeError):
    """Clay (or its config) was reached outside kiln with no mock workspace installed: a
    mistake in the test, not a failure the plugin should handle, hence not an :class:`Error`."""
