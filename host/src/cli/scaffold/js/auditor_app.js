// __NAME__: a kiln auditor. It reports invitations nobody accepted and who spent the most
// credits in the audit's period.
//
// Config keys (defaults): `top_spenders` (3).

import { Auditor, Report, Subject, finding } from 'kiln-sdk';

export default class __CLASS__ extends Auditor {
  /** @param {import('kiln-sdk').Config} [config] */
  constructor(config) {
    super(config);
    // A bad value fails the audit with a message naming the key.
    this.topSpenders = this.config.integer('top_spenders', 3, { min: 0 });
  }

  /**
   * @param {import('kiln-sdk').AuditScope} scope
   * @param {import('kiln-sdk').Clay} clay Clay's API: only the capabilities kiln.toml asks for
   */
  audit(scope, clay) {
    const ws = scope.workspaceId;
    const report = new Report();

    const members = clay.credits.permissions(ws);
    const pending = members.filter((m) => m.status === 'pending');
    for (const m of pending) {
      report.push(
        // An invitation has no user id yet: its email names it.
        finding('low', 'seat.pending-invite', Subject.member(m.email, m.name))
          .message(`${m.name} (${m.email}) was invited but has not joined.`),
      );
    }

    // Clay's workspace report is by folder and workbook; what each member spent is their
    // own report's, one call per member.
    const spend = clay.credits.spendByMember(ws, scope.period, members);
    const usage = members
      .map((m) => ({ m, credits: m.userId === undefined ? 0 : spend.get(m.userId)?.credits ?? 0 }))
      .filter(({ credits }) => credits > 0)
      .sort((a, b) => b.credits - a.credits);
    for (const { m, credits } of usage.slice(0, this.topSpenders)) {
      report.push(
        finding('info', 'credits.top-spender', Subject.member(m.userId ?? '', m.name))
          .message(`${m.name} spent ${credits.toFixed(0)} credits in the period.`)
          .evidence('credits', credits.toFixed(0)),
      );
    }

    report.summary = `${members.length} members, pending invitations: ${pending.length}`;
    return report;
  }
}
