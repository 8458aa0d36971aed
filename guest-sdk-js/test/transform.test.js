// Transformers: rows read by column name, outcomes resolved to field positions, and what
// happens when a plugin gets something wrong. Runs through runTransform, so every case goes
// through a real batch buffer and a real outcomes buffer.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Outcome, Transformer, error, json, remove, set, unchanged } from '../index.js';
import { MockWorkspace, cell, runTransform } from '../testing.js';

/** A transformer whose transformRow is `fn`. */
const plugin = (/** @type {(row: any, ctx: any) => any} */ fn) =>
  class extends Transformer {
    /** @param {any} row @param {any} ctx */
    transformRow(row, ctx) {
      return fn(row, ctx);
    }
  };

test('cells are read by name as spelled, in any case, or by field id; the first of two same-named columns wins', () => {
  const ws = new MockWorkspace();
  const t = ws.addTable('Leads', null, ['Email', 'Full Name', 'Phone', 'email']);
  ws.addRow(t, { Email: 'a@b.io', Phone: '555' });
  const emailId = /** @type {string} */ (ws.fieldId(t, 'Email'));
  /** @type {any[]} */
  const seen = [];
  runTransform(plugin((row) => {
    seen.push([row.get('Email'), row.get('EMAIL'), row.get(emailId), row.get('phone'), row.get('Full Name'), row.get('Nope')]);
    return unchanged();
  }), t, { workspace: ws });
  assert.deepEqual(seen, [['a@b.io', 'a@b.io', 'a@b.io', '555', undefined, undefined]]);
});

test('values read as plain JavaScript: text, numbers, booleans, parsed JSON; null and absent are undefined', () => {
  /** @type {any} */
  let got;
  runTransform(plugin((row) => {
    got = {
      text: row.get('T'), num: row.get('N'), bool: row.get('B'), json: row.get('J'), badJson: row.get('X'), nul: row.get('Z'), absent: row.get('A'),
      rawNull: row.raw('Z'), numText: row.text('N'), boolText: row.text('B'), jsonText: row.text('J'),
      parsed: row.number('S'), notNumber: row.number('T'),
      obj: row.toObject(),
    };
    return unchanged();
  }), {
    columns: ['T', 'N', 'B', 'J', 'X', 'Z', 'A', 'S'],
    rows: [{ T: 'hi', N: 42, B: false, J: { a: [1] }, X: json('{not json'), Z: null, S: ' 2.5 ' }],
  });
  assert.deepEqual(got, {
    text: 'hi', num: 42, bool: false, json: { a: [1] }, badJson: '{not json', nul: undefined, absent: undefined,
    rawNull: { tag: 'null' }, numText: '42', boolText: 'false', jsonText: '{"a":[1]}',
    parsed: 2.5, notNumber: undefined,
    obj: { T: 'hi', N: 42, B: false, J: { a: [1] }, X: '{not json', S: ' 2.5 ' },
  });
});

test('numbers as text follow the Rust SDK: whole numbers below 1e15 without a fraction, others never in exponent form', () => {
  const values = [3, -0, 7.5, 1e15, 1e21, 1.5e-7, 123456789012345];
  /** @type {any[]} */
  const out = [];
  runTransform(plugin((row) => { out.push(row.text('N')); return unchanged(); }), { columns: ['N'], rows: values.map((N) => ({ N })) });
  assert.deepEqual(out, ['3', '0', '7.5', '1000000000000000', '1000000000000000000000', '0.00000015', '123456789012345']);
});

test('a row keeps its id, stamps, statuses and every cell as Clay records', () => {
  const ws = new MockWorkspace();
  ws.setNow(1_700_000_000_000);
  const t = ws.addTable('Leads', null, ['Score', 'Ok', 'Data', 'Phone']);
  const id = ws.addRow(t, { Score: cell(7.5, { tag: 'error', val: 'ERROR_X' }), Ok: true, Data: cell(json('{}'), 'success'), Phone: cell(null, 'run-condition-not-met') });
  /** @type {any} */
  let got;
  runTransform(plugin((row) => {
    got = { id: row.id, created: row.createdAt, updated: row.updatedAt, statuses: ['Score', 'Ok', 'Data', 'Phone'].map((c) => row.status(c)), cell: row.cell('score'), record: row.toRow() };
    return unchanged();
  }), t, { workspace: ws });
  const f = (/** @type {string} */ c) => ws.fieldId(t, c);
  assert.equal(got.id, id);
  assert.equal(got.created, 1_700_000_000_000);
  assert.equal(got.updated, 1_700_000_000_000);
  assert.deepEqual(got.statuses, [{ tag: 'error', val: 'ERROR_X' }, undefined, { tag: 'success' }, { tag: 'run-condition-not-met' }]);
  assert.deepEqual(got.cell, { fieldId: f('Score'), value: { tag: 'number', val: 7.5 }, status: { tag: 'error', val: 'ERROR_X' } });
  assert.deepEqual(got.record, {
    id,
    cells: [
      { fieldId: f('Score'), value: { tag: 'number', val: 7.5 }, status: { tag: 'error', val: 'ERROR_X' } },
      { fieldId: f('Ok'), value: { tag: 'boolean', val: true }, status: undefined },
      { fieldId: f('Data'), value: { tag: 'json', val: '{}' }, status: { tag: 'success' } },
      { fieldId: f('Phone'), value: { tag: 'null' }, status: { tag: 'run-condition-not-met' } },
    ],
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
  });
});

test('every kind of outcome reaches the host, and the effects are applied unless dry-run', () => {
  const Plugin = plugin((row) => {
    switch (row.get('Name')) {
      case 'set': return set({ name: 'Ada', Score: 9.5, Ok: true, Data: { x: 1 }, Empty: null });
      case 'delete': return remove();
      case 'static': return Outcome.delete();
      case 'error': return error('bad row ✗');
      default: return unchanged();
    }
  });
  const table = { columns: ['Name', 'Score', 'Ok', 'Data', 'Empty'], rows: [{ Name: 'set', Empty: 'x' }, { Name: 'delete' }, { Name: 'static' }, { Name: 'error' }, { Name: 'same' }] };
  const out = runTransform(Plugin, table);
  assert.deepEqual(out.map((o) => o.kind), ['set', 'delete', 'delete', 'error', 'unchanged']);
  assert.deepEqual(out[0].cells, { Name: 'Ada', Score: 9.5, Ok: true, Data: { x: 1 }, Empty: null });
  assert.equal(out[3].message, 'bad row ✗');
  const rows = out.workspace.rows(out.tableId);
  assert.equal(rows.length, 3);
  assert.equal(out.workspace.cell(out.tableId, out[0].rowId, 'Name'), 'Ada');
  assert.equal(out.workspace.cell(out.tableId, out[0].rowId, 'Empty'), null);

  const dry = runTransform(Plugin, table, { dryRun: true });
  assert.equal(dry.workspace.rows(dry.tableId).length, 5);
  assert.equal(dry.workspace.cell(dry.tableId, dry[0].rowId, 'Name'), 'set');
});

test('a write of the value a cell has is no change, and the last write of a column wins', () => {
  const out = runTransform(plugin(() => set({ Email: 'a@b.io', Score: 1 }).set({ score: 2, SCORE: 3 })), {
    columns: ['Email', 'Score'],
    rows: [{ Email: 'a@b.io', Score: 3 }, { Email: 'a@b.io', Score: 1 }, {}],
  });
  assert.deepEqual(out.map((o) => o.kind), ['unchanged', 'set', 'set']);
  assert.deepEqual(out[1].cells, { Score: 3 });
  assert.deepEqual(out[2].cells, { Email: 'a@b.io', Score: 3 });
  // Null on an empty cell is no change either.
  assert.equal(runTransform(plugin(() => set({ A: null })), { columns: ['A'], rows: [{}] })[0].kind, 'unchanged');
});

test('set on a deleted or failed row does nothing, as in the Rust SDK', () => {
  assert.equal(remove().set({ A: 1 }).kind, 'delete');
  assert.equal(error('x').set({ A: 1 }).kind, 'error');
  assert.equal(unchanged().set({ A: 1 }).kind, 'set');
});

test('an unknown or invisible column fails only its row, naming the column', () => {
  const ws = new MockWorkspace();
  const t = ws.addTable('Leads', null, ['Email', 'Secret']);
  ws.addRow(t, { Email: 'a@b.io' });
  ws.addRow(t, { Email: 'c@d.io' });
  const out = runTransform(plugin((row) => (row.get('Email') === 'a@b.io' ? set({ Secret: 'x' }) : set({ Email: 'x@y.io' }))), t, {
    workspace: ws,
    columns: ['Email'],
  });
  assert.equal(out[0].kind, 'error');
  assert.match(/** @type {string} */ (out[0].message), /table `Leads` has no column `Secret` this plugin can see/);
  assert.deepEqual(out[1], { rowId: out[1].rowId, kind: 'set', cells: { Email: 'x@y.io' } });
});

test('a value that cannot be a cell, or something that is not an outcome, fails its row with a clear message', () => {
  const out = runTransform(plugin((row) => {
    switch (row.get('K')) {
      case 'fn': return set({ K: () => 1 });
      case 'undefined': return undefined;
      case 'promise': return Promise.resolve(unchanged());
      case 'string': return 'unchanged';
      default: return set({ K: 2n ** 60n });
    }
  }), { columns: ['K'], rows: ['fn', 'undefined', 'promise', 'string', 'bigint'].map((K) => ({ K })) });
  assert.match(/** @type {string} */ (out[0].message), /a function cannot be a cell value/);
  assert.match(/** @type {string} */ (out[1].message), /returned undefined \(return unchanged\(\)/);
  assert.match(/** @type {string} */ (out[2].message), /a Promise \(kiln plugins are synchronous/);
  assert.match(/** @type {string} */ (out[3].message), /returned a string, not an outcome/);
  assert.match(/** @type {string} */ (out[4].message), /write it as text/);
});

test('an exception in one row fails that row alone; the first is logged with its stack, the rest counted', () => {
  const ws = new MockWorkspace();
  const out = runTransform(plugin((row) => {
    if (row.get('N') % 2) throw new TypeError(`odd ${row.get('N')}`);
    return unchanged();
  }), { columns: ['N'], rows: [1, 2, 3, 4, 5].map((N) => ({ N })) }, { workspace: ws });
  assert.deepEqual(out.map((o) => o.kind), ['error', 'unchanged', 'error', 'unchanged', 'error']);
  assert.equal(out[0].message, 'TypeError: odd 1');
  const logs = ws.logs();
  assert.equal(logs.length, 2);
  assert.equal(logs[0][0], 'error');
  assert.match(logs[0][1], /transformRow threw on row r_\d+: TypeError: odd 1\n/);
  assert.match(logs[0][1], /transform\.test\.js/, 'the stack is logged');
  assert.match(logs[1][1], /threw on 3 rows of this batch/);
});

test('an exception in transformBatch is logged with its stack, then rethrown: the batch fails whole', () => {
  class Broken extends Transformer {
    transformBatch() {
      throw new Error('batch-level bug');
    }
  }
  const ws = new MockWorkspace();
  assert.throws(() => runTransform(Broken, { columns: ['A'], rows: [{}] }, { workspace: ws }), /batch-level bug/);
  assert.equal(ws.logs()[0][0], 'error');
  assert.match(ws.logs()[0][1], /Broken\.transformBatch threw: batch-level bug\n.*transform\.test\.js/s);
});

test('transformBatch returns one outcome per row in order; a row left without one fails alone', () => {
  class Dedupe extends Transformer {
    /** @param {import('../index.js').Batch} batch */
    transformBatch(batch) {
      const seen = new Set();
      const out = batch.rows.map((row) => {
        const email = row.text('Email');
        if (seen.has(email)) return remove();
        seen.add(email);
        return unchanged();
      });
      return out.slice(0, -1);
    }
  }
  const out = runTransform(Dedupe, { columns: ['Email'], rows: [{ Email: 'a' }, { Email: 'a' }, { Email: 'b' }, { Email: 'c' }] });
  assert.deepEqual(out.map((o) => o.kind), ['unchanged', 'delete', 'unchanged', 'error']);
  assert.equal(out[3].message, 'the plugin returned no outcome for this row');
});

test('settings reach the constructor; a bad one fails every row and the plugin is made again next batch', () => {
  let made = 0;
  class Strict extends Transformer {
    /** @param {any} config */
    constructor(config) {
      super(config);
      made++;
      this.factor = this.config.number('factor', 1);
    }

    /** @param {any} row */
    transformRow(row) {
      return set({ N: row.get('N') * this.factor });
    }
  }
  const ok = runTransform(Strict, { columns: ['N'], rows: [{ N: 2 }] }, { config: { factor: '3' } });
  assert.deepEqual(ok[0].cells, { N: 6 });

  const ws = new MockWorkspace();
  made = 0;
  const bad = runTransform(Strict, { columns: ['N'], rows: [{ N: 1 }, { N: 2 }, { N: 3 }] }, { workspace: ws, config: { factor: 'lots' }, batchSize: 2 });
  assert.deepEqual(bad.map((o) => o.message), Array(3).fill('the plugin could not start: config key `factor` has value `lots`: invalid float literal'));
  assert.equal(made, 2, 'once per batch while it cannot start');
  assert.match(ws.logs()[0][1], /could not start.*\n.*Strict/s);
});

test('one plugin instance serves every batch of a run, and the context says which batch', () => {
  /** @type {any[]} */
  const seen = [];
  class Counter extends Transformer {
    count = 0;
    /** @param {any} _row @param {any} ctx */
    transformRow(_row, ctx) {
      seen.push([ctx.batchIndex, ctx.totalRows, ctx.dryRun, ctx.workspaceId, ++this.count, typeof ctx.table.workspaceId]);
      return unchanged();
    }
  }
  runTransform(Counter, { columns: ['A'], rows: [{}, {}, {}] }, { batchSize: 2, dryRun: true });
  assert.deepEqual(seen, [[0, 3, true, 1, 1, 'number'], [0, 3, true, 1, 2, 'number'], [1, 3, true, 1, 3, 'number']]);
});

test('a class that is not a Transformer fails every row saying what kiln.toml expects', () => {
  class NotOne {}
  const out = runTransform(NotOne, { columns: ['A'], rows: [{}] });
  assert.match(/** @type {string} */ (out[0].message), /world = "transformer", but the plugin's default export, `NotOne`, is not a class extending Transformer/);
});

test('set takes a Map as well as an object, and refuses anything else', () => {
  assert.deepEqual(set(new Map([['A', 1]])).cells, [['A', 1]]);
  assert.throws(() => set(/** @type {any} */ ('A')), /takes an object of column names/);
  assert.throws(() => set(/** @type {any} */ ([['A', 1]])), /takes an object of column names/);
});

test('an override calling super.transformBatch keeps one row’s exception to that row', () => {
  class Wrapped extends Transformer {
    /** @param {any} batch */
    transformBatch(batch) {
      return super.transformBatch(batch).map((o) => o);
    }

    /** @param {any} row */
    transformRow(row) {
      if (row.get('A') === 'bad') return JSON.parse('{oops');
      return unchanged();
    }
  }
  const ws = new MockWorkspace();
  const out = runTransform(Wrapped, { columns: ['A'], rows: [{ A: 'bad' }, { A: 'ok' }] }, { workspace: ws });
  assert.deepEqual(out.map((o) => o.kind), ['error', 'unchanged']);
  assert.match(/** @type {string} */ (out[0].message), /^SyntaxError: /);
  assert.match(ws.logs()[0][1], /^Wrapped\.transformRow threw on row/);
});
