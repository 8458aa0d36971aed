"""Tests for __NAME__: plain pytest, no wasm. The mock workspace answers the plugin's Clay
calls and runs the audit with kiln.toml's config defaults."""

from app import __CLASS__
from kiln_sdk.testing import MockWorkspace
from kiln_sdk.types import MemberStatus, Role


def test_pending_invites_and_top_spenders_are_reported() -> None:
    ws = MockWorkspace("Acme")
    maya = ws.add_member("maya@acme.io", "Maya", Role.ADMIN, MemberStatus.ACTIVE)
    ws.add_member("sam@acme.io", "Sam", Role.MEMBER, MemberStatus.PENDING)
    ws.record_usage(maya, "hunter", 120.0, ws.now - 1_000)

    report = ws.run_audit(__CLASS__())

    pending = report.with_code("seat.pending-invite")
    assert len(pending) == 1
    assert "Sam" in pending[0].message
    top = report.with_code("credits.top-spender")
    assert top[0].subject.name == "Maya"
    assert report.summary == "2 members, pending invitations: 1"
