// The MockWorkspace follows the embedded workspace's semantics (guest-sdk/src/testing/tests.rs
// in JavaScript), answering through component-style bindings.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ClayError, clay } from '../index.js';
import { MockWorkspace } from '../testing.js';

/**
 * Runs `fn` with `ws` installed.
 * @param {MockWorkspace} ws
 * @param {() => void} fn
 */
function installed(ws, fn) {
  const uninstall = ws.install();
  try {
    fn();
  } finally {
    uninstall();
  }
}

/** @param {MockWorkspace} ws */
function leads(ws) {
  const t = ws.addTable('Leads', null, ['Email']);
  const f = ws.addActionColumn(t, 'Phone', 'find-mobile', 'lusha', null, 2, ['Email']);
  return [t, f];
}

test('enrichment runs fill cells, charge the actor and skip rows already done', () => {
  const ws = new MockWorkspace('Acme');
  const maya = ws.addMember('maya@acme.io', 'Maya', 'admin', 'active');
  ws.actAs(maya);
  const [t, f] = leads(ws);
  const a = ws.addRow(t, { Email: 'a@b.io' });
  const blank = ws.addRow(t, { Email: ' ' });
  installed(ws, () => {
    const view = clay.tables.get(t).firstViewId;
    const all = { tag: 'view-top', val: { viewId: view } };
    const first = clay.tables.runColumn(t, [f], all, false);
    assert.deepEqual(first, { mode: 'bulk', recordCount: 1, creditsSpent: 2 });
    assert.equal(ws.cell(t, a, 'Phone'), 'find-mobile(a@b.io)');
    assert.equal(ws.cell(t, blank, 'Phone'), null);
    assert.deepEqual(ws.rawCell(t, blank, 'Phone')?.status, { tag: 'run-condition-not-met' });

    // Done rows are not charged again unless forced.
    assert.equal(clay.tables.runColumn(t, [f], all, false).mode, 'none');
    assert.equal(ws.creditsSpent(), 2);
    clay.tables.runColumn(t, [f], all, true);
    assert.equal(ws.creditsSpent(), 4);
    assert.equal(ws.creditBalance(), 10_000 - 4);

    const range = { start: 0, end: ws.now() + 1 };
    // The workspace report is by resource; what Maya spent is her own report's.
    const report = clay.credits.workspaceReport(1, range);
    assert.ok(report.entities.every((/** @type {any} */ e) => e.kind !== 'user'));
    assert.deepEqual(clay.credits.memberUsage(1, range, [maya]), [{ userId: maya, credits: 4, actionExecutions: 2 }]);
    assert.equal(clay.credits.integrationReport(1, range).entities[0].id, 'lusha');
  });
});

test('a run that would overdraw the pool spends nothing', () => {
  const ws = new MockWorkspace();
  const [t, f] = leads(ws);
  const r = ws.addRow(t, { Email: 'a@b.io' });
  ws.setCreditBalance(1);
  installed(ws, () => {
    assert.throws(() => clay.tables.runColumn(t, [f], { tag: 'records', val: [r] }, false), (e) => e instanceof ClayError && e.kind === 'budget-exhausted');
  });
  assert.equal(ws.creditsSpent(), 0);
  assert.equal(ws.cell(t, r, 'Phone'), undefined);
});

test("a removed owner's integration fails like Clay", () => {
  const ws = new MockWorkspace();
  const sam = ws.addMember('sam@acme.io', 'Sam', 'member', 'removed');
  const aa = ws.addIntegration('Hunter', 'hunter', sam);
  const t = ws.addTable('Leads', null, ['Email']);
  const f = ws.addActionColumn(t, 'Work', 'find-work-email', 'hunter', aa, 1, ['Email']);
  installed(ws, () => {
    assert.throws(() => clay.tables.runColumn(t, [f], { tag: 'records', val: [] }, false), (e) => e instanceof ClayError && e.kind === 'upstream');
  });
});

test("rows follow Clay's limits, and ids make adds idempotent", () => {
  const ws = new MockWorkspace();
  const t = ws.addTable('Leads', null, ['Email']);
  const email = ws.fieldId(t, 'email');
  installed(ws, () => {
    const row = { id: 'r_client', cells: [{ fieldId: email, value: { tag: 'text', val: 'x@y.io' } }] };
    clay.tables.addRows(t, [row]);
    const again = clay.tables.addRows(t, [row]);
    assert.equal(typeof again[0].createdAt, 'number');
    assert.equal(clay.tables.countRows(t), 1);
    assert.throws(() => clay.tables.addRows(t, Array(51).fill(row)), (e) => e instanceof ClayError && e.kind === 'invalid');
    const ids = Array.from({ length: 201 }, (_, i) => `r_${i}`);
    assert.throws(() => clay.tables.readRecords(t, ids), (e) => e instanceof ClayError && e.kind === 'invalid');
    assert.throws(() => clay.tables.addRows(t, [{ cells: [{ fieldId: 'f_nope', value: { tag: 'null' } }] }]));
    assert.equal(clay.tables.countRows(t), 1);
  });
});

test('trashing a folder hides what it contains', () => {
  const ws = new MockWorkspace();
  const folder = ws.addFolder('Outbound');
  const wb = ws.addWorkbook('Q3', folder);
  const t = ws.addTable('Leads', wb, ['Email']);
  installed(ws, () => {
    assert.throws(() => clay.folders.create(1, 'Outbound'), (e) => e instanceof ClayError && e.kind === 'conflict');
    clay.folders.delete(1, [folder], false);
    assert.deepEqual(clay.resources.list(1), []);
    assert.deepEqual(clay.resources.search(1, 'leads'), []);
    assert.throws(() => clay.tables.get(t), (e) => e instanceof ClayError && e.kind === 'not-found');
  });
  assert.ok(ws.resources().every((r) => r.deleted));
});

test('sources, workbooks, integration types and who created what', () => {
  const ws = new MockWorkspace();
  const maya = ws.addMember('maya@acme.io', 'Maya', 'admin', 'active');
  ws.actAs(maya);
  const t = ws.addTable('Leads', null, ['Email']);
  ws.addIntegrationType('hunter', 'Hunter.io');
  const shared = ws.addSharedIntegration('Clay OpenAI', 'openai');
  installed(ws, () => {
    const source = clay.tables.addWebhookSource(t, 'Signups');
    assert.match(source.url, /webhook/);
    assert.equal(source.recordsReceived, 0);
    assert.equal(clay.tables.listSources(t).length, 1);
    clay.tables.deleteSource(source.id, false);
    assert.throws(() => clay.tables.deleteSource(source.id, false), ClayError);
    const wb = clay.workbooks.create(1, 'Outbound', true);
    assert.deepEqual({ ...wb, id: '' }, { id: '', name: 'Outbound', workspaceId: 1, parentFolderId: undefined, autoRun: true });
    clay.workbooks.delete(wb.id);
    assert.equal(clay.credits.getIntegrationType('hunter').name, 'Hunter.io');
    assert.equal(clay.credits.listIntegrationTypes().length, 2);
    const made = clay.credits.userResources(1, [maya]);
    assert.deepEqual(made.map((/** @type {any} */ r) => [r.name, typeof r.createdAt]), [['Leads', 'number']]);
    assert.deepEqual(clay.credits.integrations(1).map((/** @type {any} */ i) => [i.id, i.shared, i.ownerId]), [[shared, true, undefined]]);
    clay.tables.deleteAllRows(t);
    assert.equal(clay.credits.userReport(1, { start: 0, end: 1 }, [maya]).entities.length, 0);
    assert.equal(clay.credits.integrationSpecificReport(1, { start: 0, end: 1 }, ['hunter']).unattributedCredits, 0);
  });
  assert.deepEqual(ws.calls().slice(0, 3), ['tables.addWebhookSource', 'tables.listSources', 'tables.deleteSource']);
});

test('the bindings the mock presents are the component’s: BigInt u64s, ComponentError-style failures', () => {
  const ws = new MockWorkspace();
  const b = ws.interfaces();
  assert.equal(b.workspaces.list()[0].id, 1n);
  assert.throws(() => b.credits.permissions(1), /arrived as number, but the component bindings take u64\/s64 as BigInt/);
  try {
    b.credits.permissions(2n);
    assert.fail('accepted');
  } catch (e) {
    assert.ok(!(e instanceof Error), 'componentize-js throws a ComponentError, which is not an Error');
    assert.deepEqual(/** @type {any} */ (e).payload, { tag: 'not-found', val: 'workspace 2' });
  }
  assert.throws(() => b.log.log('loud', 'x'), /"loud" is not one of the cases of level/);
  ws.setConfig('b', '2');
  ws.setConfig('a', '1');
  assert.deepEqual(b.config.all(), []);
  assert.deepEqual(ws.interfaces().config.all(), [['a', '1'], ['b', '2']]);
  assert.deepEqual(Object.keys(ws.interfaces({ capabilities: ['credits'] })).sort(), ['config', 'credits', 'log']);
});
