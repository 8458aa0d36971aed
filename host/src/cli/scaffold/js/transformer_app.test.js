// Runs the plugin under node's test runner, with no kiln and no WebAssembly: runTransform
// encodes the rows as kiln's host does, runs the plugin and reads its outcomes back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runTransform } from 'kiln-sdk/testing.js';

import __CLASS__ from './app.js';

test('emails are trimmed and lower-cased', () => {
  const out = runTransform(__CLASS__, {
    columns: ['Email'],
    rows: [{ Email: '  Ada@Example.COM ' }, { Email: 'ok@example.com' }, { Email: '   ' }, {}],
  });

  assert.equal(out[0].kind, 'set');
  assert.deepEqual(out[0].cells, { Email: 'ada@example.com' });
  // Writing the value a cell already has is not a change.
  assert.equal(out[1].kind, 'unchanged');
  assert.equal(out[2].kind, 'error');
  assert.match(out[2].message, /blank/);
  // A row with no email is left alone.
  assert.equal(out[3].kind, 'unchanged');
});

test('the column comes from the settings', () => {
  const out = runTransform(__CLASS__, { columns: ['Work Email'], rows: [{ 'Work Email': 'X@Y.IO' }] }, {
    config: { column: 'Work Email' },
  });
  assert.deepEqual(out[0].cells, { 'Work Email': 'x@y.io' });
});
