"""__NAME__: a kiln transformer. It trims and lower-cases the email column of every row.

Config keys (defaults): ``column`` ("Email").
"""

from __future__ import annotations

import kiln_sdk
from kiln_sdk import Batch, Outcome, Row


class __CLASS__(kiln_sdk.Transformer):
    """kiln creates one instance when it builds the component; ``setup`` runs before the
    first batch, once the settings can be read."""

    def setup(self) -> None:
        self.column = self.config.get("column", "Email")

    def transform_row(self, row: Row, ctx: Batch) -> Outcome:
        email = row.text(self.column)
        if email is None:
            return kiln_sdk.unchanged()
        if not email.strip():
            return kiln_sdk.error("the email is blank")
        return kiln_sdk.set({self.column: email.strip().lower()})
