"""Tests for __NAME__: plain pytest, no wasm. The mock workspace runs the plugin through the
same buffers kiln uses and applies its effects, with kiln.toml's config defaults."""

from app import __CLASS__
from kiln_sdk.testing import MockWorkspace


def test_emails_are_trimmed_and_lower_cased() -> None:
    ws = MockWorkspace("Acme")
    leads = ws.add_table("Leads", ["Email"])
    messy = ws.add_row(leads, {"Email": "  Ada@Example.COM "})
    ok = ws.add_row(leads, {"Email": "ok@example.com"})
    blank = ws.add_row(leads, {"Email": "   "})

    out = ws.run_transform(__CLASS__(), "Leads")

    assert out.by_id(messy)["Email"] == "ada@example.com"
    # Writing the value a cell already has is not a change.
    assert out.by_id(ok).is_unchanged
    assert out.by_id(blank).is_error
    assert ws.value(leads, messy, "Email") == "ada@example.com"
