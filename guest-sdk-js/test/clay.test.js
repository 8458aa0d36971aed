// Typed Clay calls: arguments checked and made BigInts for u64/s64, results with Numbers,
// clay-errors as ClayError, a missing capability as `denied`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ClayError, clay, describe, walk } from '../index.js';
import { swapRuntime } from '../lib/runtime.js';
import { MockWorkspace } from '../testing.js';

/**
 * Runs `fn` with fake component bindings: `impl` by interface, as componentize-js binds them.
 * @param {Record<string, any>} impl
 * @param {() => void} fn
 */
function withBindings(impl, fn) {
  const previous = swapRuntime({ interfaces: impl, origin: 'test' });
  try {
    fn();
  } finally {
    swapRuntime(previous);
  }
}

test('u64 results are Numbers, deep in records and lists', () => {
  withBindings(
    {
      workspaces: { list: () => [{ id: 7n, name: 'Acme', creditBalance: 12.5 }] },
      credits: {
        workspaceReport: () => ({
          range: { start: 1n, end: 2n },
          entities: [{ id: 'f', name: 'F', kind: 'folder', isDeleted: false, credits: 3, actionExecutions: 4n, subentities: [{ id: 'w', name: 'W', kind: 'workbook', isDeleted: false, credits: 3, actionExecutions: 4n }] }],
          unattributedCredits: 0,
          unattributedActionExecutions: 0n,
        }),
      },
      tables: { countRows: () => 3n },
    },
    () => {
      assert.deepEqual(clay.workspaces.list(), [{ id: 7, name: 'Acme', creditBalance: 12.5 }]);
      const r = clay.credits.workspaceReport(7, { start: 1, end: 2 });
      assert.equal(r.entities[0].subentities[0].actionExecutions, 4);
      assert.equal(typeof r.unattributedActionExecutions, 'number');
      assert.deepEqual(r.range, { start: 1, end: 2 });
      assert.equal(clay.tables.countRows('t_1'), 3);
    },
  );
});

test('a u64 past Number.MAX_SAFE_INTEGER is a RangeError, never a rounded id', () => {
  withBindings({ workspaces: { list: () => [{ id: 2n ** 53n, name: 'Big', creditBalance: 0 }] } }, () => {
    assert.throws(() => clay.workspaces.list(), { name: 'RangeError', message: /9007199254740992.*past Number.MAX_SAFE_INTEGER/ });
  });
});

test('Numbers passed for u64/s64 arrive as BigInts; BigInts pass through; options take null', () => {
  /** @type {any[]} */
  const calls = [];
  withBindings(
    {
      credits: { memberUsage: (/** @type {any[]} */ ...a) => (calls.push(a), []) },
      folders: { create: (/** @type {any[]} */ ...a) => (calls.push(a), { id: 'f_1', name: 'n', workspaceId: a[0], parentFolderId: a[2] }) },
      resources: { list: (/** @type {any[]} */ ...a) => (calls.push(a), []) },
      tables: { runColumn: (/** @type {any[]} */ ...a) => (calls.push(a), { mode: 'none', recordCount: 0, creditsSpent: 0 }) },
    },
    () => {
      clay.credits.memberUsage(1, { start: -5, end: 2n ** 60n }, ['1']);
      assert.deepEqual(clay.folders.create(1, 'n', null), { id: 'f_1', name: 'n', workspaceId: 1, parentFolderId: undefined });
      clay.resources.list(1);
      clay.tables.runColumn('t', ['f'], { tag: 'view-top', val: { viewId: 'gv', numRecords: null } }, false);
    },
  );
  assert.deepEqual(calls[0], [1n, { start: -5n, end: 2n ** 60n }, ['1']]);
  assert.deepEqual(calls[1], [1n, 'n', undefined]);
  assert.deepEqual(calls[2], [1n, undefined, []]);
  assert.deepEqual(calls[3], ['t', ['f'], { tag: 'view-top', val: { viewId: 'gv', numRecords: undefined } }, false]);
});

test('bad arguments are refused before the call, naming the parameter', () => {
  withBindings({ credits: { permissions: () => [] }, tables: { readRecords: () => [], runColumn: () => ({}) } }, () => {
    assert.throws(() => clay.credits.permissions(1.5), { name: 'TypeError', message: /clay\.credits\.permissions: workspaceId must be an integer, got 1\.5/ });
    assert.throws(() => clay.credits.permissions('1'), /must be an integer, got "1"/);
    assert.throws(() => clay.credits.permissions(-1), /between 0 and 2\^64-1/);
    assert.throws(() => clay.credits.permissions(2 ** 60), { name: 'RangeError', message: /pass it as a BigInt/ });
    assert.throws(() => clay.tables.readRecords('t', 'r_1'), /recordIds must be a list of strings/);
    assert.throws(() => clay.tables.readRecords('t', [1]), /recordIds\[0\] must be a string/);
    assert.throws(() => clay.tables.runColumn('t', ['f'], { tag: 'all' }, false), /target must be/);
  });
});

test('a clay-error the import throws (a ComponentError, not an Error) becomes a ClayError', () => {
  const componentError = (/** @type {any} */ payload) => Object.assign(Object.create({ constructor: { name: 'ComponentError' } }), { payload, message: '[object Object] (see error.payload)' });
  withBindings(
    {
      credits: {
        permissions: () => { throw componentError({ tag: 'denied', val: 'credits' }); },
        integrations: () => { throw componentError({ tag: 'rate-limited', val: 250n }); },
        listIntegrationTypes: () => { throw new TypeError('not a clay-error'); },
      },
    },
    () => {
      assert.throws(() => clay.credits.permissions(1), (e) => {
        assert.ok(e instanceof ClayError && e instanceof Error);
        assert.equal(e.kind, 'denied');
        assert.equal(e.detail, 'credits');
        assert.equal(e.message, 'denied: credits');
        return true;
      });
      assert.throws(() => clay.credits.integrations(1), (e) => {
        assert.ok(e instanceof ClayError);
        assert.equal(e.retryAfterMs, 250);
        assert.equal(e.message, 'rate limited, retry after 250 ms');
        return true;
      });
      assert.throws(() => clay.credits.listIntegrationTypes(), TypeError);
    },
  );
});

test('ClayError words every kind as the Rust SDK does, and carries its WIT payload', () => {
  assert.equal(describe('not-found', 'x'), 'not found: x');
  assert.equal(describe('budget-exhausted', 'x'), 'credit budget exhausted: x');
  assert.equal(describe('upstream', 'x'), 'Clay error: x');
  assert.equal(ClayError.unavailable('down').message, 'unavailable: down');
  assert.deepEqual(ClayError.rateLimited(5).payload, { tag: 'rate-limited', val: 5n });
  assert.deepEqual(ClayError.conflict('dup').payload, { tag: 'conflict', val: 'dup' });
  assert.deepEqual(ClayError.fromPayload({ tag: 'invalid', val: 'no' }).message, 'invalid: no');
  assert.throws(() => new ClayError(/** @type {any} */ ('oops'), 'x'), /unknown clay-error kind/);
});

test('a capability kiln.toml does not ask for is denied, saying how to ask for it', () => {
  withBindings({ credits: { permissions: () => [] } }, () => {
    assert.throws(() => clay.tables.get('t_1'), (e) => {
      assert.ok(e instanceof ClayError);
      assert.equal(e.kind, 'denied');
      assert.match(e.message, /`tables` capability is not in this plugin's kiln\.toml: add `tables = "read"`/);
      return true;
    });
  });
});

test('calling Clay under plain node with nothing bound says how to test instead', () => {
  const previous = swapRuntime(null);
  try {
    assert.throws(() => clay.workspaces.list(), /outside kiln with no MockWorkspace.*runAudit\/runTransform/);
  } finally {
    swapRuntime(previous);
  }
});

test('spendByMember asks memberUsage for at most 500 members a call and skips pending invitations', () => {
  const ws = new MockWorkspace();
  for (let i = 0; i < 1201; i++) ws.addMember(`m${i}@acme.io`, `M${i}`, 'member', i === 0 ? 'pending' : 'active');
  ws.recordUsage('1005', 'hunter', 4, ws.now() - 10);
  const uninstall = ws.install();
  try {
    const members = clay.credits.permissions(ws.workspaceId);
    const spend = clay.credits.spendByMember(ws.workspaceId, { start: 0, end: ws.now() }, members);
    assert.equal(spend.size, 1200);
    assert.deepEqual(spend.get('1005'), { userId: '1005', credits: 4, actionExecutions: 1 });
    assert.equal(ws.calls().filter((c) => c === 'credits.memberUsage').length, 3);
  } finally {
    uninstall();
  }
});

test('walk finds every table under the tree, every row in chunks of 200, and the columns an integration runs', () => {
  const ws = new MockWorkspace();
  const folder = ws.addFolder('Sales');
  const wb = ws.addWorkbook('Q3', folder);
  const leads = ws.addTable('Leads', wb, ['Email']);
  ws.addTable('Top', null, ['Name']);
  const aa = ws.addIntegration('Hunter', 'hunter', null);
  ws.addActionColumn(leads, 'Work Email', 'find', 'hunter', aa, 1, ['Email']);
  for (let i = 0; i < 450; i++) ws.addRow(leads, { Email: `${i}@x.io` });
  const uninstall = ws.install();
  try {
    const tables = walk.allTables(ws.workspaceId);
    assert.deepEqual(tables.map((t) => t.name).sort(), ['Leads', 'Top']);
    const info = /** @type {any} */ (tables.find((t) => t.name === 'Leads'));
    assert.equal(walk.allRows(leads, info.firstViewId).length, 450);
    assert.equal(ws.calls().filter((c) => c === 'tables.readRecords').length, 3);
    assert.deepEqual(walk.columnsUsing(tables, aa), [{ tableId: leads, tableName: 'Leads', fieldId: ws.fieldId(leads, 'Work Email'), fieldName: 'Work Email' }]);
  } finally {
    uninstall();
  }
});
