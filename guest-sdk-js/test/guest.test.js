// The glue kiln's generated entry calls: bind, then the component's exports. Driven here with
// fake bindings shaped as componentize-js's, as the component would be.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { audit, bind, transform } from '../guest.js';
import { Auditor, Report, Transformer, clay, log, set } from '../index.js';
import { decodeOutcomes, encodeBatch } from '../lib/batch.js';
import { swapRuntime } from '../lib/runtime.js';

/** Fake log and config bindings, recording what they are given. */
function bindings(/** @type {Array<[string, string]>} */ config = []) {
  /** @type {Array<[string, string]>} */
  const logs = [];
  return {
    logs,
    interfaces: {
      log: { log: (/** @type {string} */ level, /** @type {string} */ message) => logs.push([level, message]) },
      config: { get: (/** @type {string} */ k) => config.find(([key]) => key === k)?.[1], all: () => config },
    },
  };
}

test('bind records the interfaces; transform takes a batch buffer and BigInt context, returns an outcomes buffer', (t) => {
  const previous = swapRuntime(null);
  t.after(() => swapRuntime(previous));
  class Upper extends Transformer {
    /** @param {any} row */
    transformRow(row) {
      log.info(`row ${row.id}`);
      return set({ [this.config.get('column', 'Name')]: String(row.get('Name')).toUpperCase() });
    }
  }
  const { logs, interfaces } = bindings([['column', 'Name']]);
  bind(interfaces, Upper);
  const table = { id: 't_1', name: 'Leads', kind: 'spreadsheet', workspaceId: 1n, workbookId: undefined, firstViewId: 'gv', views: [], fields: [{ id: 'f_1', name: 'Name', kind: 'text', action: undefined }] };
  const ctx = { workspaceId: 1n, table, batchIndex: 0, totalRows: 2n, dryRun: false };
  const batch = encodeBatch([{ id: 'r_1', cells: [{ value: { tag: 'text', val: 'ada' } }] }, { id: 'r_2', cells: [{ value: { tag: 'text', val: 'BOB' } }] }], 1);
  const out = transform(batch, ctx);
  assert.ok(out instanceof Uint8Array);
  assert.deepEqual(decodeOutcomes(out, 2), [{ kind: 'set', cells: [[0, { tag: 'text', val: 'ADA' }]] }, { kind: 'unchanged' }]);
  assert.deepEqual(logs, [['info', 'row r_1'], ['info', 'row r_2']]);
});

test('a batch the SDK cannot read gets no outcomes, and the log says why', (t) => {
  const previous = swapRuntime(null);
  t.after(() => swapRuntime(previous));
  const { logs, interfaces } = bindings();
  bind(interfaces, class extends Transformer {});
  const out = transform(Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0]), { workspaceId: 1n, table: { fields: [] }, batchIndex: 0, totalRows: 1n, dryRun: false });
  assert.equal(out.length, 0);
  assert.match(logs[0][1], /kiln-sdk cannot read the batch: FormatError: the buffer ends inside a value at byte 8/);
});

test('audit returns the report; a failure is thrown with the clay-error in `payload`, as componentize-js lowers it', (t) => {
  const previous = swapRuntime(null);
  t.after(() => swapRuntime(previous));
  /** @type {any[]} */
  const asked = [];
  class Names extends Auditor {
    /** @param {any} scope */
    audit(scope) {
      const ws = clay.workspaces.list().find((/** @type {any} */ w) => w.id === scope.workspaceId);
      return new Report(`${ws.name} at ${scope.now}`);
    }
  }
  const { logs, interfaces } = bindings();
  bind({ ...interfaces, workspaces: { list: () => (asked.push(1), [{ id: 3n, name: 'Acme', creditBalance: 1 }]) } }, Names);
  const scope = { workspaceId: 3n, period: { start: 0n, end: 10n }, now: 10n };
  assert.deepEqual(audit(scope), { summary: 'Acme at 10', findings: [] });
  audit(scope);
  assert.equal(asked.length, 2);

  bind({ ...interfaces, workspaces: { list: () => { throw Object.assign(Object.create(null), { payload: { tag: 'unavailable', val: 'down' } }); } } }, Names);
  assert.throws(() => audit(scope), (e) => {
    assert.deepEqual(/** @type {any} */ (e).payload, { tag: 'unavailable', val: 'down' });
    return true;
  });
  assert.match(logs.at(-1)?.[1] ?? '', /Names\.audit failed: unavailable: down/);
});

test('bind refuses a main module without a plugin class: kiln build fails saying so', (t) => {
  const previous = swapRuntime(null);
  t.after(() => swapRuntime(previous));
  assert.throws(() => bind({}, /** @type {any} */ (undefined)), /must default-export a class extending Transformer or Auditor.*its default export is missing/);
  assert.throws(() => bind({}, function helper() {}), /its default export is `helper`/);
  assert.throws(() => bind({}, /** @type {any} */ ({})), /its default export is an object/);
});
