"""The Rust plugin's tests (``plugins/normalize-contacts/src/lib.rs``), in Python, run through
the SDK's mock workspace: the same buffers kiln uses, the manifest's defaults applied."""

from typing import Dict, List, Optional

import pytest

from app import (
    NormalizeContacts,
    company_domain,
    email_problem,
    normalize_email,
    normalize_phone,
    split_name,
)
from kiln_sdk.testing import MockWorkspace, RowResult

COLUMNS = [
    "Full Name",
    "Email",
    "Phone",
    "First Name",
    "Last Name",
    "Company Domain",
    "Email Status",
]


def run(*rows: Dict[str, str], config: Optional[Dict[str, str]] = None) -> List[RowResult]:
    ws = MockWorkspace()
    ws.add_table("Leads", COLUMNS)
    for cells in rows:
        ws.add_row("Leads", cells)
    return ws.run_transform(NormalizeContacts(), "Leads", config=config)


def test_messy_email_comes_out_trimmed_lowercased_with_domain() -> None:
    (out,) = run({"Email": "  Ada.Lovelace@Analytical.ENGINE.com "})
    assert out["Email"] == "ada.lovelace@analytical.engine.com"
    assert out["Email Status"] == "valid"
    assert out["Company Domain"] == "analytical.engine.com"


@pytest.mark.parametrize(
    "bad, why",
    [
        ("ada.lovelace.example.com", "no @"),
        ("ada@@example.com", "more than one @"),
        ("ada@example", "the domain has no top-level domain"),
        ("ada l@example.com", "contains spaces"),
    ],
)
def test_invalid_email_is_flagged_and_left_intact(bad: str, why: str) -> None:
    (out,) = run({"Email": bad})
    assert "Email" not in out, f"{bad} must not be rewritten"
    assert out["Email Status"] == f"invalid: {why}"


def test_free_mail_has_no_company_domain() -> None:
    (out,) = run({"Email": "someone@gmail.com"})
    assert "Company Domain" not in out  # null, as the cell already is: no write
    assert out["Email Status"] == "valid"


def test_names_are_split_and_single_case_names_title_cased() -> None:
    assert split_name("  Ada   Lovelace ") == ("Ada", "Lovelace")
    assert split_name("grace hopper") == ("Grace", "Hopper")
    assert split_name("ALAN TURING") == ("Alan", "Turing")
    assert split_name("Ada King Lovelace") == ("Ada", "King Lovelace")
    assert split_name("Prince") == ("Prince", "")
    assert split_name("   ") is None
    assert split_name("tim berners-lee") == ("Tim", "Berners-Lee")


@pytest.mark.parametrize(
    "raw, e164",
    [
        ("(415) 555-0134", "+14155550134"),
        ("+1 415.555.0134", "+14155550134"),
        ("415-555-0134", "+14155550134"),
        ("1-415-555-0134", "+14155550134"),
        ("00 44 20 7946 0958", "+442079460958"),
        ("+44 20 7946 0958", "+442079460958"),
        ("n/a", None),
        ("12", None),
    ],
)
def test_phones_become_e164(raw: str, e164: Optional[str]) -> None:
    assert normalize_phone(raw, "1") == e164


def test_unparseable_phone_is_left_alone_and_the_row_still_succeeds() -> None:
    (out,) = run({"Phone": "call reception", "Email": "a@b.co"})
    assert "Phone" not in out
    assert out.is_set


def test_running_on_its_own_output_changes_nothing() -> None:
    (out,) = run(
        {
            "Full Name": "Ada Lovelace",
            "First Name": "Ada",
            "Last Name": "Lovelace",
            "Email": "ada@analytical.io",
            "Email Status": "valid",
            "Company Domain": "analytical.io",
            "Phone": "+14155550134",
        }
    )
    assert out.is_unchanged


def test_a_second_run_over_the_first_runs_effects_changes_nothing() -> None:
    ws = MockWorkspace()
    ws.add_table("Leads", COLUMNS)
    ws.add_row(
        "Leads", {"Full Name": "GRACE HOPPER", "Email": " Grace@Navy.MIL ", "Phone": "415 555 0134"}
    )
    first = ws.run_transform(NormalizeContacts(), "Leads")
    assert first[0].cells == {
        "Email": "grace@navy.mil",
        "Email Status": "valid",
        "Company Domain": "navy.mil",
        "First Name": "Grace",
        "Last Name": "Hopper",
        "Phone": "+14155550134",
    }
    assert ws.run_transform(NormalizeContacts(), "Leads")[0].is_unchanged


def test_an_empty_email_is_missing_and_a_one_word_name_clears_the_last_name() -> None:
    ws = MockWorkspace()
    t = ws.add_table("Leads", COLUMNS)
    r = ws.add_row(t, {"Email": "  ", "Full Name": "Prince", "Last Name": "Nelson"})
    (out,) = ws.run_transform(NormalizeContacts(), t)
    assert out.cells == {"Email Status": "missing", "First Name": "Prince", "Last Name": None}
    assert ws.value(t, r, "Last Name") is None


def test_a_missing_column_fails_each_row_naming_the_config_key() -> None:
    ws = MockWorkspace()
    ws.add_table("Leads", ["Email"])
    ws.add_row("Leads", {"Email": "a@b.co"})
    ws.add_row("Leads", {"Email": "c@d.co"})
    out = ws.run_transform(NormalizeContacts(), "Leads")
    assert len(out.errors) == 2
    message = out[0].message or ""
    assert "phone_column" in message
    assert message.startswith(
        "table `Leads` has no column `Email Status` (set config `email_status_column`), "
    )


def test_a_bad_country_code_is_a_config_error() -> None:
    out = run({"Email": "a@b.co"}, config={"default_country_code": "+1"})
    assert out[0].message == (
        "the plugin could not start: config key `default_country_code` has value `+1`: expected digits, e.g. 1 or 44"
    )


def test_another_country_code_and_renamed_columns() -> None:
    ws = MockWorkspace()
    columns = ["Name", "Mail", "Tel", "Given", "Family", "Domain", "Status"]
    ws.add_table("People", columns)
    ws.add_row("People", {"Mail": "x@acme.co.uk", "Tel": "20 7946 0958", "Name": "ada"})
    config = dict(
        zip(
            [
                "name_column",
                "email_column",
                "phone_column",
                "first_name_column",
                "last_name_column",
                "domain_column",
                "email_status_column",
            ],
            columns,
        )
    )
    (out,) = ws.run_transform(
        NormalizeContacts(), "People", config={**config, "default_country_code": "44"}
    )
    assert out.cells == {
        "Status": "valid",
        "Domain": "acme.co.uk",
        "Given": "Ada",
        "Tel": "+442079460958",
    }


def test_helpers_match_the_rust_ones() -> None:
    assert normalize_email("  A@B.CO ") == ("a@b.co", None)
    assert email_problem("@b.co") == "nothing before the @"
    assert email_problem("a@.b.co") == "malformed domain"
    assert email_problem("a@b..co") == "malformed domain"
    assert email_problem("a@b.c") == "malformed top-level domain"
    assert email_problem("a@b.c0m") == "malformed top-level domain"
    assert email_problem("a\u2003b@c.de") == "contains spaces"
    assert email_problem("a\x1cb@c.de") is None  # not White_Space, as in Rust
    assert company_domain("a@gmail.com") is None and company_domain("nobody") is None
    assert normalize_phone("\x1c4155550134", "1") == "+14155550134"
