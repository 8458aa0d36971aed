"""normalize-contacts, in Python: cleans the contact columns of a Clay table.

A port of ``plugins/normalize-contacts`` (Rust) with the same effects row for row. Per row:
trims and lower-cases the email (an invalid one is flagged in the status column and left
intact), derives the company domain (not for free-mail addresses), splits the full name into
first and last, and writes phone numbers in E.164.

Config keys (defaults): ``email_column`` (Email), ``email_status_column`` (Email Status),
``domain_column`` (Company Domain), ``name_column`` (Full Name), ``first_name_column``
(First Name), ``last_name_column`` (Last Name), ``phone_column`` (Phone),
``default_country_code`` (1).

Where Rust and Python disagree on text, this follows Rust, so both plugins agree on every
row: whitespace is Unicode ``White_Space`` (Python's ``str.strip``/``split`` also treat
U+001C..U+001F as space), "letter" and "digit" mean ASCII ones, and title-casing lowers
each character on its own (Rust's ``char::to_lowercase``, no final-sigma rule).
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

import kiln_sdk
from kiln_sdk import Batch, ConfigError, Outcome, Row
from kiln_sdk.config import RUST_WHITESPACE
from kiln_sdk.email import is_free_mail

_WORDS = re.compile(f"[^{re.escape(RUST_WHITESPACE)}]+")
_ASCII_DIGITS = "0123456789"


def _is_ascii_letter(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def email_problem(email: str) -> Optional[str]:
    """Why an email is not valid; ``None`` when it is."""
    if any(c in RUST_WHITESPACE for c in email):
        return "contains spaces"
    parts = email.split("@")
    if len(parts) != 2:
        return "more than one @" if "@" in email else "no @"
    local, domain = parts
    if not local:
        return "nothing before the @"
    host, dot, tld = domain.rpartition(".")
    if not dot:
        return "the domain has no top-level domain"
    if not host or host.startswith(".") or host.endswith(".") or ".." in host:
        return "malformed domain"
    if len(tld.encode("utf-8")) < 2 or not all(_is_ascii_letter(c) for c in tld):
        return "malformed top-level domain"
    return None


def normalize_email(raw: str) -> Tuple[str, Optional[str]]:
    """Trimmed and lower-cased, with its validity."""
    email = raw.strip(RUST_WHITESPACE).lower()
    return email, email_problem(email)


def company_domain(email: str) -> Optional[str]:
    """The company domain of a valid email, unless it is a free-mail provider."""
    _, at, domain = email.rpartition("@")
    if not at:
        return None
    return None if is_free_mail(domain) else domain


def _title_case(word: str) -> str:
    return "-".join(
        part[0].upper() + "".join(c.lower() for c in part[1:]) if part else ""
        for part in word.split("-")
    )


def split_name(raw: str) -> Optional[Tuple[str, str]]:
    """First name and the rest; names typed in one case are title-cased."""
    words = _WORDS.findall(raw)
    if not words:
        return None
    one_case = raw == raw.lower() or raw == raw.upper()

    def fix(w: str) -> str:
        return _title_case(w) if one_case else w

    return fix(words[0]), " ".join(fix(w) for w in words[1:])


def normalize_phone(raw: str, default_country_code: str) -> Optional[str]:
    """E.164 (``+14155550134``), or ``None`` when the text is not a phone number."""
    trimmed = raw.strip(RUST_WHITESPACE)
    if any(_is_ascii_letter(c) for c in trimmed):
        return None
    digits = "".join(c for c in trimmed if c in _ASCII_DIGITS)
    if trimmed.startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif len(digits) == 11 and default_country_code == "1" and digits.startswith("1"):
        international = digits
    elif len(digits) == 10:
        international = default_country_code + digits
    else:
        return None
    return f"+{international}" if 8 <= len(international) <= 15 else None


class NormalizeContacts(kiln_sdk.Transformer):
    """The transformer; column names come from its settings."""

    def setup(self) -> None:
        config = self.config
        country_code = config.get("default_country_code", "1")
        if not country_code or not all(c in _ASCII_DIGITS for c in country_code):
            raise ConfigError("default_country_code", country_code, "expected digits, e.g. 1 or 44")
        self.email = config.get("email_column", "Email")
        self.status = config.get("email_status_column", "Email Status")
        self.domain = config.get("domain_column", "Company Domain")
        self.name = config.get("name_column", "Full Name")
        self.first = config.get("first_name_column", "First Name")
        self.last = config.get("last_name_column", "Last Name")
        self.phone = config.get("phone_column", "Phone")
        self.country_code = country_code

    def _missing_columns(self, batch: Batch) -> Optional[str]:
        columns: List[Tuple[str, str]] = [
            ("email_column", self.email),
            ("email_status_column", self.status),
            ("domain_column", self.domain),
            ("name_column", self.name),
            ("first_name_column", self.first),
            ("last_name_column", self.last),
            ("phone_column", self.phone),
        ]
        missing = [
            f"`{column}` (set config `{key}`)"
            for key, column in columns
            if not batch.has_column(column)
        ]
        if not missing:
            return None
        return f"table `{batch.table.name}` has no column {', '.join(missing)}"

    def transform_batch(self, batch: Batch) -> Sequence[Outcome]:
        # The columns are checked once per batch: a missing one fails every row, naming
        # the setting to change.
        problem = self._missing_columns(batch)
        if problem is not None:
            return [kiln_sdk.error(problem) for _ in batch]
        return [self.transform_row(row, batch) for row in batch]

    def transform_row(self, row: Row, ctx: Batch) -> Outcome:
        out = kiln_sdk.unchanged()
        raw = row.text(self.email)
        if raw is not None and raw.strip(RUST_WHITESPACE):
            email, problem = normalize_email(raw)
            if problem is None:
                out = (
                    out.set(self.email, email)
                    .set(self.status, "valid")
                    .set(self.domain, company_domain(email))
                )
            else:
                # Flag it, keep what was typed: a person may know what was meant.
                out = out.set(self.status, f"invalid: {problem}")
        else:
            out = out.set(self.status, "missing")
        name = row.text(self.name)
        split = split_name(name) if name is not None else None
        if split is not None:
            first, last = split
            out = out.set(self.first, first).set(self.last, last or None)
        phone_text = row.text(self.phone)
        phone = normalize_phone(phone_text, self.country_code) if phone_text is not None else None
        if phone is not None:
            out = out.set(self.phone, phone)
        return out
