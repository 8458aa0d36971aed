"""Reports, findings and the auditor glue, mirroring ``guest-sdk/src/audit.rs``."""

import pytest

import kiln_sdk
from kiln_sdk import (
    AuditScope,
    Auditor,
    Clay,
    ClayError,
    ClayErrorKind,
    Error,
    Report,
    Severity,
    Subject,
    finding,
)
from kiln_sdk.audit import display
from kiln_sdk.testing import DAY_MS, MockWorkspace
from kiln_sdk.types import Finding, MemberStatus, Role, SubjectKind, TimeRange


def test_findings_are_built_and_pushed_in_order() -> None:
    report = Report()
    assert report.findings == [] and report.summary == ""
    report.set_summary("8 members, 2 findings")
    f = (
        finding(Severity.HIGH, "seat.single-admin", Subject.workspace(1, "Acme"))
        .message("Maya is the only admin.")
        .evidence("active admins", 1)
        .evidence("share", 0.5)
        .evidence("spent", 12.0)
        .evidence("ok", True)
    )
    report.push(f)
    report.push(
        finding(Severity.LOW, "b", Subject.member("2", "B"), message="m", evidence={"k": "v"})
    )
    report.add(Finding(Severity.INFO, "b", Subject.table("t_1", "Leads")))
    assert report.summary == "8 members, 2 findings"
    assert len(report) == 3 and [x.code for x in report] == ["seat.single-admin", "b", "b"]
    first = report.findings[0]
    assert first.subject == Subject(SubjectKind.WORKSPACE, "1", "Acme")
    assert first.message == "Maya is the only admin."
    assert first.evidence == [
        ("active admins", "1"),
        ("share", "0.5"),
        ("spent", "12"),
        ("ok", "true"),
    ]
    assert len(report.with_code("b")) == 2 and report.with_code("nope") == []
    record = report.to_record()
    assert record.summary == report.summary and record.findings == report.findings
    assert Report.from_record(record).findings == report.findings


def test_subjects_and_severities() -> None:
    assert Subject.integration("aa_1", "Hunter").kind is SubjectKind.INTEGRATION
    assert Subject.field("f_1", "Work Email").kind is SubjectKind.FIELD
    assert Subject.resource("wb_1", "Q3").kind is SubjectKind.RESOURCE
    assert Severity.INFO < Severity.LOW < Severity.CRITICAL
    assert max([Severity.MEDIUM, Severity.HIGH, Severity.LOW]) is Severity.HIGH
    assert display(None) == "" and display(3) == "3" and display(-0.0) == "-0"


class PendingAndTopSpenders(Auditor):
    """The scaffold's auditor, in Python."""

    def setup(self) -> None:
        self.top_spenders = self.config.get_int("top_spenders", 3)

    def audit(self, scope: AuditScope, clay: Clay) -> Report:
        report = Report()
        members = clay.credits.permissions(scope.workspace_id)
        pending = [m for m in members if m.status is MemberStatus.PENDING]
        for m in pending:
            report.push(
                finding(
                    Severity.LOW, "seat.pending-invite", Subject.member(m.email, m.name)
                ).message(f"{m.name} ({m.email}) was invited but has not joined.")
            )
        spend = clay.credits.spend_by_member(scope.workspace_id, scope.period, members)
        usage = [
            (m, spend[m.user_id].credits)
            for m in members
            if m.user_id in spend and spend[m.user_id].credits > 0
        ]
        usage.sort(key=lambda u: -u[1])
        for m, credits in usage[: self.top_spenders]:
            report.push(
                finding(
                    Severity.INFO, "credits.top-spender", Subject.member(m.user_id or "", m.name)
                )
                .message(f"{m.name} spent {credits:.0f} credits in the period.")
                .evidence("credits", f"{credits:.0f}")
            )
        report.set_summary(f"{len(members)} members, pending invitations: {len(pending)}")
        return report


def test_an_audit_runs_against_the_mock_with_a_90_day_scope() -> None:
    ws = MockWorkspace("Acme")
    maya = ws.add_member("maya@acme.io", "Maya", Role.ADMIN, MemberStatus.ACTIVE)
    ws.add_member("sam@acme.io", "Sam", Role.MEMBER, MemberStatus.PENDING)
    ws.record_usage(maya, "hunter", 120.0, ws.now - 1_000)
    ws.record_usage(maya, "hunter", 999.0, ws.now - 91 * DAY_MS)  # before the period
    report = ws.run_audit(PendingAndTopSpenders())
    assert [f.message for f in report.with_code("seat.pending-invite")] == [
        "Sam (sam@acme.io) was invited but has not joined."
    ]
    top = report.with_code("credits.top-spender")
    assert top[0].subject.name == "Maya" and top[0].evidence == [("credits", "120")]
    assert report.summary == "2 members, pending invitations: 1"
    assert ws.calls == ["credits::permissions", "credits::member_usage"]
    everything = ws.run_audit(PendingAndTopSpenders, period=TimeRange(0, ws.now))
    assert everything.with_code("credits.top-spender")[0].evidence == [("credits", "1119")]
    assert (
        ws.run_audit(PendingAndTopSpenders, config={"top_spenders": 0}).with_code(
            "credits.top-spender"
        )
        == []
    )


def test_errors_cross_as_the_clay_error_kiln_receives() -> None:
    ws = MockWorkspace("Acme")
    ws.fail("credits::permissions", ClayError.denied("credits"))
    with pytest.raises(ClayError) as e:
        ws.run_audit(PendingAndTopSpenders())
    assert e.value == ClayError.denied("credits") and str(e.value) == "denied: credits"

    class Complains(Auditor):
        def audit(self, scope: AuditScope, clay: Clay) -> Report:
            raise Error("no Leads table")

    with pytest.raises(ClayError) as e:
        ws.run_audit(Complains())
    assert e.value.kind is ClayErrorKind.INVALID and e.value.value == "no Leads table"

    # A bad setting fails the audit with the setting's own message, as kiln_guest does.
    with pytest.raises(ClayError) as e:
        ws.run_audit(PendingAndTopSpenders(), config={"top_spenders": "many"})
    assert (
        e.value.value
        == "config key `top_spenders` has value `many`: expected a whole number, e.g. 3"
    )


def test_a_bug_in_an_auditor_is_not_turned_into_a_clay_error() -> None:
    class Buggy(Auditor):
        def audit(self, scope: AuditScope, clay: Clay) -> Report:
            return {}["missing"]  # type: ignore[no-any-return]

    with pytest.raises(KeyError):
        MockWorkspace().run_audit(Buggy())

    class Forgets(Auditor):
        def audit(self, scope: AuditScope, clay: Clay) -> Report:
            return None  # type: ignore[return-value]

    with pytest.raises(TypeError, match="not a kiln_sdk.Report"):
        MockWorkspace().run_audit(Forgets())


@pytest.mark.parametrize(
    "error, text",
    [
        (ClayError.not_found("t_1"), "not found: t_1"),
        (ClayError.denied("credits"), "denied: credits"),
        (ClayError.invalid("bad"), "invalid: bad"),
        (ClayError.rate_limited(250), "rate limited, retry after 250 ms"),
        (ClayError.budget_exhausted("x"), "credit budget exhausted: x"),
        (ClayError.conflict("x"), "conflict: x"),
        (ClayError.upstream("x"), "Clay error: x"),
        (ClayError.unavailable("x"), "unavailable: x"),
    ],
)
def test_clay_errors_describe_themselves_like_kiln_guest(error: ClayError, text: str) -> None:
    assert str(error) == text
    assert error.into_clay() is error


def test_rate_limits_say_when_to_retry() -> None:
    assert ClayError.rate_limited(250).retry_after_ms == 250
    assert ClayError.denied("x").retry_after_ms is None
    assert kiln_sdk.Error("plain").into_clay() == ClayError.invalid("plain")
