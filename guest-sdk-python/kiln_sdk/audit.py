"""Workspace audits: :class:`Auditor`, the :class:`Report` it returns and the
:func:`finding` builder.

Mirrors ``kiln_guest``'s ``audit.rs``. An auditor reads Clay through the ``clay`` argument
(or :data:`kiln_sdk.clay`) and returns a report; raising :class:`kiln_sdk.Error` fails the
audit with a ``clay-error`` (a :class:`~kiln_sdk.ClayError` as itself, anything else as
``invalid``), which kiln reports; any other exception is a bug and traps, with its
traceback in the log.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

from ._clay import Clay
from .config import Config
from .types import AuditReport, AuditScope, Finding, Severity, Subject


def display(value: Any) -> str:
    """A value as evidence text, written as Rust's ``to_string`` writes it, so a Python
    auditor's report reads like a Rust one's (``1.0`` → ``1``, ``True`` → ``true``)."""
    from .transform import format_number

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_number(value)
    if value is None:
        return ""
    return str(value)


class FindingBuilder:
    """A finding under construction: chain :meth:`message` and :meth:`evidence`, then hand
    it to :meth:`Report.push`."""

    __slots__ = ("finding",)

    def __init__(self, finding: Finding) -> None:
        self.finding = finding

    def message(self, message: str) -> FindingBuilder:
        """What was found and what to do about it, in a sentence or two."""
        self.finding.message = str(message)
        return self

    def evidence(self, key: str, value: Any) -> FindingBuilder:
        """A fact backing the finding (the value is written as text)."""
        self.finding.evidence.append((str(key), display(value)))
        return self

    def build(self) -> Finding:
        """The finding."""
        return self.finding


def finding(
    severity: Severity,
    code: str,
    subject: Subject,
    message: str = "",
    evidence: Union[Sequence[Tuple[str, Any]], dict[str, Any], None] = None,
) -> FindingBuilder:
    """Starts a finding: ``finding(Severity.HIGH, "seat.single-admin", subject)
    .message("…").evidence("active admins", 1)``; ``message`` and ``evidence`` may also be
    given here."""
    pairs = evidence.items() if isinstance(evidence, dict) else (evidence or ())
    return FindingBuilder(
        Finding(
            severity=severity,
            code=code,
            subject=subject,
            message=str(message),
            evidence=[(str(k), display(v)) for k, v in pairs],
        )
    )


class Report:
    """What an audit found: a summary line and findings, in the order they were pushed."""

    def __init__(self, summary: str = "", findings: Optional[Sequence[Finding]] = None) -> None:
        #: One line that sums the audit up, shown above the findings.
        self.summary = summary
        self._findings: List[Finding] = list(findings or [])

    def set_summary(self, summary: str) -> None:
        """Sets the summary line."""
        self.summary = str(summary)

    def push(self, finding: Union[FindingBuilder, Finding]) -> None:
        """Adds a finding."""
        self._findings.append(finding.finding if isinstance(finding, FindingBuilder) else finding)

    add = push

    @property
    def findings(self) -> List[Finding]:
        """The findings, in the order they were pushed."""
        return self._findings

    def with_code(self, code: str) -> List[Finding]:
        """The findings with this code (handy in tests)."""
        return [f for f in self._findings if f.code == code]

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._findings)

    def __len__(self) -> int:
        return len(self._findings)

    def to_record(self) -> AuditReport:
        """The report as it crosses into the host."""
        return AuditReport(summary=self.summary, findings=list(self._findings))

    @classmethod
    def from_record(cls, record: AuditReport) -> Report:
        return cls(record.summary, record.findings)

    def __repr__(self) -> str:
        return f"Report({self.summary!r}, {len(self._findings)} findings)"


class Auditor:
    """A workspace audit. Subclass it once in ``app.py`` and override :meth:`audit`.

    kiln creates one instance per plugin instance, when the component is built, with no
    arguments; before the first audit it sets :attr:`config` and calls :meth:`setup`.
    """

    _kiln_config: Optional[Config] = None
    _kiln_started: bool = False

    @property
    def config(self) -> Config:
        """The plugin's settings (manifest defaults merged with ``kiln audit -c``)."""
        if self._kiln_config is None:
            self._kiln_config = Config.from_host()
        return self._kiln_config

    def setup(self) -> None:
        """Reads and checks settings before the first audit; raise
        :class:`kiln_sdk.Error` (e.g. the :class:`~kiln_sdk.ConfigError` a typed getter
        raises) to fail the audit with its message."""

    def audit(self, scope: AuditScope, clay: Clay) -> Report:
        """Audits the workspace in ``scope``; raise :class:`kiln_sdk.Error` to fail it."""
        raise NotImplementedError(f"{type(self).__name__} must override audit(self, scope, clay)")


def run(plugin: Auditor, scope: AuditScope) -> AuditReport:
    """The guest side of one ``audit`` call: start the plugin, audit, return the report as
    it crosses into the host. :class:`kiln_sdk.Error` propagates for the caller to turn into
    the ``clay-error`` result; so does any other exception (a bug)."""
    from ._clay import clay
    from .transform import start

    problem = start(plugin)
    if problem is not None:
        # As ``kiln_guest``: the setting's own message, e.g. "config key `x` has value …".
        raise problem
    report = plugin.audit(scope, clay)
    if not isinstance(report, Report):
        raise TypeError(
            f"{type(plugin).__name__}.audit returned a {type(report).__name__}, not a kiln_sdk.Report"
        )
    return report.to_record()


__all__ = ["Auditor", "FindingBuilder", "Report", "display", "finding"]
