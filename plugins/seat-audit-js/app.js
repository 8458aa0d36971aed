// seat-audit (JavaScript): who holds a seat and who administers the workspace — the
// questions Clay's Settings → Team page cannot answer. A port of plugins/seat-audit (Rust):
// the same findings, in the same order, with the same words.
//
// Config keys (defaults): `inactive_days` (60), `min_admins` (2).
//
// Finding codes: `seat.roles`, `seat.single-admin`, `seat.inactive`. Integrations are
// integration-ownership's (`integration.*`), credit use is credit-governance's (`credits.*`),
// so the bundled auditors never report the same thing twice.

import { Auditor, ConfigError, Report, Subject, finding, time } from 'kiln-sdk';

const { DAY_MS } = time;

/**
 * The plugin's settings, checked.
 * @param {import('kiln-sdk').Config} config
 * @returns {{inactiveDays: number, minAdmins: number}}
 */
export function settingsFrom(config) {
  const settings = {
    inactiveDays: config.integer('inactive_days', 60),
    // A count: like the Rust plugin's usize, a negative value does not parse.
    minAdmins: config.integer('min_admins', 2, { min: 0 }),
  };
  if (settings.inactiveDays < 1) {
    throw new ConfigError('inactive_days', String(settings.inactiveDays), 'must be at least 1');
  }
  return settings;
}

/**
 * @typedef {object} Facts everything the audit looks at, gathered from the host
 * @property {number} workspaceId
 * @property {string} workspaceName
 * @property {number} now
 * @property {import('kiln-sdk').Member[]} members
 * @property {Map<string, import('kiln-sdk').MemberCredits>} recentSpend what each member spent
 *   over the inactivity window, by user id
 * @property {import('kiln-sdk').Resource[]} resources resources created by members
 */

/**
 * The decisions, over plain data (unit-tested without a workspace).
 * @param {Facts} facts
 * @param {{inactiveDays: number, minAdmins: number}} settings
 * @returns {Report}
 */
export function auditFacts(facts, settings) {
  const report = new Report();
  const active = facts.members.filter((m) => m.status === 'active');
  const admins = active.filter((m) => m.role === 'admin');
  const count = (/** @type {string} */ status) => facts.members.filter((m) => m.status === status).length;
  const withRole = (/** @type {string} */ role) => active.filter((m) => m.role === role).length;
  // Clay's member list leaves out those who left; they hold no seat either way.
  const seats = facts.members.length - count('removed');
  const workspace = Subject.workspace(facts.workspaceId, facts.workspaceName);

  report.push(
    finding('info', 'seat.roles', workspace)
      .message(
        `${seats} seats: ${active.length} active (${admins.length} admin, ${withRole('member')} member, ` +
          `${withRole('viewer')} viewer, ${withRole('sales-rep')} sales rep), ${count('pending')} pending`,
      )
      .evidence('admins', names(admins)),
  );

  if (admins.length < settings.minAdmins) {
    let message;
    if (admins.length === 0) {
      message = 'No active admin: nobody can manage seats, billing or integrations.';
    } else if (admins.length === 1) {
      message = `${admins[0].name} is the only active admin. If they leave or lose access, nobody can manage seats, billing or integrations; promote a second admin.`;
    } else {
      message = `Only ${admins.length} active admins; the policy asks for ${settings.minAdmins}.`;
    }
    report.push(
      finding('high', 'seat.single-admin', workspace)
        .message(message)
        .evidence('active admins', admins.length)
        .evidence('minimum', settings.minAdmins),
    );
  }

  // Inactive seats: nothing spent and nothing created in the window.
  const windowStart = facts.now - settings.inactiveDays * DAY_MS;
  for (const m of active) {
    // An active member without a user id is not something Clay sends; nothing to match.
    const userId = m.userId;
    if (userId === undefined) continue;
    const spent = facts.recentSpend.get(userId)?.credits ?? 0;
    const created = facts.resources.filter((r) => r.createdBy === userId);
    // An unknown creation time is no evidence of activity, nor of its absence.
    const createdRecently = created.some((r) => r.createdAt === undefined || r.createdAt >= windowStart);
    if (spent > 0 || createdRecently) continue;
    const stamps = created.map((r) => r.createdAt).filter((t) => t !== undefined);
    const lastCreated = stamps.length ? Math.max(...stamps) : undefined;
    report.push(
      finding('medium', 'seat.inactive', Subject.member(userId, m.name))
        .message(
          `${m.name} (${m.email}) has spent no credits and created nothing in ${settings.inactiveDays} days: a seat that may not be needed.`,
        )
        .evidence('credits spent', 0)
        .evidence('window days', settings.inactiveDays)
        .evidence(
          'last created something',
          // Whole days, truncated as the Rust plugin's integer division does.
          lastCreated === undefined ? 'never' : `${Math.trunc((facts.now - lastCreated) / DAY_MS)} days ago`,
        ),
    );
  }

  const flagged = report.findings.filter((f) => f.severity !== 'info').length;
  report.summary = `${seats} seats (${active.length} active, ${admins.length} admin), ${flagged} findings`;
  return report;
}

/** @param {import('kiln-sdk').Member[]} members */
function names(members) {
  if (members.length === 0) return 'none';
  return members.map((m) => `${m.name} (${m.email})`).join(', ');
}

export default class SeatAudit extends Auditor {
  /** @param {import('kiln-sdk').Config} [config] */
  constructor(config) {
    super(config);
    this.settings = settingsFrom(this.config);
  }

  /**
   * @param {import('kiln-sdk').AuditScope} scope
   * @param {import('kiln-sdk').Clay} clay
   */
  audit(scope, clay) {
    const ws = scope.workspaceId;
    const workspaceName = clay.workspaces.list().find((w) => w.id === ws)?.name ?? `workspace ${ws}`;
    const members = clay.credits.permissions(ws);
    const ids = members.flatMap((m) => (m.userId === undefined ? [] : [m.userId]));
    const window = { start: scope.now - this.settings.inactiveDays * DAY_MS, end: scope.now };
    const recentSpend = clay.credits.spendByMember(ws, window, members);
    const resources = clay.credits.userResources(ws, ids);
    return auditFacts({ workspaceId: ws, workspaceName, now: scope.now, members, recentSpend, resources }, this.settings);
  }
}
