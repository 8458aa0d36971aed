// The Rust plugin's tests (plugins/seat-audit/src/lib.rs), in JavaScript: the decisions over
// plain facts, then the whole plugin against kiln-sdk's in-memory workspace.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Config, time } from 'kiln-sdk';
import { MockWorkspace, runAudit } from 'kiln-sdk/testing.js';

import SeatAudit, { auditFacts, settingsFrom } from './app.js';

const NOW = 1_800_000_000_000;
const { DAY_MS } = time;

/** @returns {import('kiln-sdk').Member} */
function member(/** @type {string} */ id, /** @type {string} */ name, /** @type {any} */ role, /** @type {any} */ status) {
  return { userId: id, email: `${name.toLowerCase()}@example.com`, name, role, roleName: '', status };
}

/** @param {Array<[string, number]>} spend */
function spendOf(spend) {
  return new Map(spend.map(([id, credits]) => [id, { userId: id, credits, actionExecutions: 1 }]));
}

function facts() {
  return {
    workspaceId: 1,
    workspaceName: 'Acme',
    now: NOW,
    members: [
      member('1', 'Maya', 'admin', 'active'),
      member('2', 'Jonas', 'member', 'active'),
      member('3', 'Sam', 'member', 'removed'),
      member('4', 'Ines', 'member', 'active'),
    ],
    recentSpend: spendOf([['1', 5], ['2', 40]]),
    resources: [
      /** @type {import('kiln-sdk').Resource} */ ({
        id: 'wb_1', name: 'Old', kind: 'workbook', parentId: undefined, createdBy: '4',
        createdAt: NOW - 100 * DAY_MS, updatedAt: NOW - 100 * DAY_MS, deleted: false,
      }),
    ],
  };
}

const settings = () => settingsFrom(new Config());

test('a single admin is a high finding', () => {
  const f = auditFacts(facts(), settings()).withCode('seat.single-admin');
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'high');
  assert.match(f[0].message, /Maya/);
});

test('two admins are fine', () => {
  const fx = facts();
  fx.members[1].role = 'admin';
  assert.equal(auditFacts(fx, settings()).withCode('seat.single-admin').length, 0);
});

test('inactive means no spend and nothing created in the window', () => {
  const r = auditFacts(facts(), settings());
  assert.deepEqual(r.withCode('seat.inactive').map((f) => f.subject.id), ['4']);
  assert.deepEqual(r.withCode('seat.inactive')[0].evidence, [['credits spent', '0'], ['window days', '60'], ['last created something', '100 days ago']]);
  // Creating something recently makes a member active again.
  const fx = facts();
  fx.resources[0].createdAt = NOW - DAY_MS;
  assert.equal(auditFacts(fx, settings()).withCode('seat.inactive').length, 0);
});

test('the whole plugin against the mock workspace', () => {
  const ws = new MockWorkspace('Acme');
  ws.setNow(NOW);
  const maya = ws.addMember('maya@example.com', 'Maya', 'admin', 'active');
  ws.addMember('sam@example.com', 'Sam', 'member', 'active');
  const leo = ws.addMember('leo@example.com', 'Leo', 'viewer', 'active');
  ws.actAs(maya);
  const outbound = ws.addFolder('Outbound');
  // Leo's spend sits on a workbook's table: the workspace report shows the folder, and only
  // the per-member report says it was Leo's.
  const wb = ws.addWorkbook('Q3', outbound);
  const table = ws.addTable('Leads', wb, ['Email']);
  ws.recordTableUsage(leo, 'hunter', table, 2000, NOW - DAY_MS);

  // Only the capabilities kiln.toml asks for, as the component imports them.
  const r = runAudit(SeatAudit, { workspace: ws, now: NOW, capabilities: ['workspaces', 'credits'] });

  assert.equal(r.withCode('seat.single-admin').length, 1);
  // Maya created a folder just now; Sam did nothing at all.
  assert.deepEqual(r.withCode('seat.inactive').map((f) => f.subject.name), ['Sam']);
  assert.equal(r.summary, '3 seats (3 active, 1 admin), 2 findings');
  assert.ok(ws.calls().includes('credits.permissions'));
  assert.equal(ws.creditsSpent(), 0, 'an audit spends nothing');
});

test('only seat codes, so other auditors are not repeated', () => {
  assert.ok(auditFacts(facts(), settings()).findings.every((f) => f.code.startsWith('seat.')));
});

test('bad settings name their key', () => {
  assert.throws(() => settingsFrom(new Config({ inactive_days: 'soon' })), /inactive_days/);
  assert.throws(() => settingsFrom(new Config({ inactive_days: '0' })), /at least 1/);
  assert.throws(() => settingsFrom(new Config({ min_admins: '-1' })), {
    message: 'config key `min_admins` has value `-1`: invalid digit found in string',
  });
  // Through the host, a bad setting fails the audit with the same words.
  assert.throws(() => runAudit(SeatAudit, { config: { inactive_days: '0' } }), {
    message: 'invalid: config key `inactive_days` has value `0`: must be at least 1',
  });
});
