"""Email helpers shared by the contact plugins (``kiln_guest::email``)."""

from __future__ import annotations

#: Domains of free-mail providers: an address there says nothing about the company.
FREE_MAIL_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "web.de",
)


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` (lower-case) belongs to a free-mail provider."""
    return domain in FREE_MAIL_DOMAINS
