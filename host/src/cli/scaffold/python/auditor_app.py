"""__NAME__: a kiln auditor. It reports invitations nobody accepted and who spent the most
credits in the audit's period.

Config keys (defaults): ``top_spenders`` (3).
"""

from __future__ import annotations

import kiln_sdk
from kiln_sdk import AuditScope, Clay, Report, Severity, Subject, finding
from kiln_sdk.types import MemberStatus


class __CLASS__(kiln_sdk.Auditor):
    """kiln creates one instance when it builds the component; ``setup`` runs before the
    audit, once the settings can be read."""

    def setup(self) -> None:
        self.top_spenders = self.config.get_int("top_spenders", 3)

    def audit(self, scope: AuditScope, clay: Clay) -> Report:
        ws = scope.workspace_id
        report = Report()

        members = clay.credits.permissions(ws)
        pending = [m for m in members if m.status is MemberStatus.PENDING]
        for m in pending:
            report.push(
                # An invitation has no user id yet: its email names it.
                finding(
                    Severity.LOW, "seat.pending-invite", Subject.member(m.email, m.name)
                ).message(f"{m.name} ({m.email}) was invited but has not joined.")
            )

        # Clay's workspace report is by folder and workbook; what each member spent is
        # their own report's, one call per member.
        spend = clay.credits.spend_by_member(ws, scope.period, members)
        usage = [
            (m, spend[m.user_id].credits)
            for m in members
            if m.user_id in spend and spend[m.user_id].credits > 0
        ]
        usage.sort(key=lambda u: u[1], reverse=True)
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
