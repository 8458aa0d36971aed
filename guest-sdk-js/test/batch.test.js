// The codec against the layout in batch/src/lib.rs: buffers written out by hand (the same
// bytes as batch/src/tests.rs), so the JavaScript and Rust sides cannot drift apart.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BatchIndex, FormatError, decodeOutcomes, encodeBatch, encodeOutcomes } from '../lib/batch.js';

const ONE_ROW = Uint8Array.from([
  1, 0, 0, 0, // one row
  3, 0, 0, 0, // three fields
  3, 0, 0, 0, 0x72, 0x5f, 0x31, // "r_1"
  1, 0x10, 0, 0, 0, 0, 0, 0, 0, // created at 16 ms
  0, // updated at: unknown
  2, 2, 0, 0, 0, 0x68, 0x69, // field 0: text "hi"
  0, // field 1: absent
  0x0b, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // field 2: number 1.0 with a status…
  3, 4, 0, 0, 0, 0x45, 0x5f, 0x4e, 0x4f, // …error "E_NO"
]);

test('a hand-written batch reads as written, and the writer writes it byte for byte', () => {
  const index = new BatchIndex(ONE_ROW);
  assert.equal(index.rowCount, 1);
  assert.equal(index.fieldCount, 3);
  assert.equal(index.id(0), 'r_1');
  assert.equal(index.createdAt(0), 16);
  assert.equal(index.updatedAt(0), undefined);
  assert.deepEqual(index.value(0, 0), { tag: 'text', val: 'hi' });
  assert.equal(index.value(0, 1), undefined);
  assert.deepEqual(index.value(0, 2), { tag: 'number', val: 1 });
  assert.deepEqual(index.status(0, 2), { tag: 'error', val: 'E_NO' });
  assert.equal(index.status(0, 0), undefined);
  assert.equal(index.value(0, 3), undefined, 'past the last field');
  assert.equal(index.value(1, 0), undefined, 'past the last row');

  const written = encodeBatch(
    [{ id: 'r_1', createdAt: 16, cells: [{ value: { tag: 'text', val: 'hi' } }, undefined, { value: { tag: 'number', val: 1 }, status: { tag: 'error', val: 'E_NO' } }] }],
    3,
  );
  assert.deepEqual(written, ONE_ROW);
});

test('every kind of value and status survives the trip', () => {
  const values = [
    { tag: 'null' },
    { tag: 'text', val: 'é' },
    { tag: 'number', val: -2.5 },
    { tag: 'boolean', val: true },
    { tag: 'json', val: '{"a":1}' },
  ];
  const statuses = [undefined, { tag: 'success' }, { tag: 'pending' }, { tag: 'run-condition-not-met' }, { tag: 'error', val: 'ERROR_X' }];
  const rows = [0, 1].map((r) => ({ id: `r_${r}`, updatedAt: r, cells: values.map((value, i) => ({ value, status: statuses[i] })) }));
  const index = new BatchIndex(encodeBatch(/** @type {any} */ (rows), values.length));
  for (const r of [0, 1]) {
    assert.equal(index.updatedAt(r), r);
    assert.equal(index.createdAt(r), undefined);
    values.forEach((v, f) => {
      assert.deepEqual(index.value(r, f), v);
      assert.deepEqual(index.status(r, f), statuses[f]);
    });
  }
});

test('a status on an absent cell, and booleans written as any non-zero byte, read as the host writes them', () => {
  const buf = Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0x72, 0, 0, 0x08, 1, 4, 7]);
  const index = new BatchIndex(buf);
  assert.equal(index.value(0, 0), undefined);
  assert.deepEqual(index.status(0, 0), { tag: 'pending' });
  assert.deepEqual(index.value(0, 1), { tag: 'boolean', val: true });
});

test('UTF-8 of every width survives, and text that is not UTF-8 reads as missing', () => {
  const texts = ['plain', 'ümlaut', '✓ check', '😀 emoji', '', 'a\u0000b'];
  const buf = encodeBatch([{ id: 'r_✓', cells: texts.map((val) => ({ value: { tag: 'text', val } })) }], texts.length);
  const index = new BatchIndex(buf);
  assert.equal(index.id(0), 'r_✓');
  texts.forEach((t, f) => assert.deepEqual(index.value(0, f), { tag: 'text', val: t }));

  const bad = Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x72, 0, 0, 2, 1, 0, 0, 0, 0xff]);
  assert.equal(new BatchIndex(bad).value(0, 0), undefined);
});

test('stamps are little-endian i64 ms, negative ones included; one past 2^53 is refused', () => {
  const stamps = [0, 1_800_000_000_000, -86_400_000, Number.MAX_SAFE_INTEGER];
  const buf = encodeBatch(stamps.map((s, i) => ({ id: `r_${i}`, createdAt: s, updatedAt: -s, cells: [] })), 0);
  const index = new BatchIndex(buf);
  stamps.forEach((s, i) => {
    assert.equal(index.createdAt(i), s);
    assert.equal(index.updatedAt(i), -s === 0 ? 0 : -s);
  });
  const big = encodeBatch([{ id: 'r', createdAt: /** @type {any} */ (2n ** 60n), cells: [] }], 0);
  assert.throws(() => new BatchIndex(big), FormatError);
});

test('a batch claiming more rows or cells than its bytes is refused, and a truncated one says so', () => {
  assert.throws(() => new BatchIndex(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), /too large/);
  assert.throws(() => new BatchIndex(ONE_ROW.subarray(0, ONE_ROW.length - 1)), /ends inside a value/);
  const unknown = Uint8Array.from(ONE_ROW);
  unknown[25] = 6; // field 0's tag
  assert.throws(() => new BatchIndex(unknown), /unknown tag 6/);
});

const OUTCOMES = Uint8Array.from([
  0, // unchanged
  1, 2, 0, 0, 0, // set two cells:
  0, 0, 0, 0, 2, 1, 0, 0, 0, 0x78, //   field 0 = "x"
  4, 0, 0, 0, 4, 1, //   field 4 = true
  2, // delete
  3, 2, 0, 0, 0, 0x6e, 0x6f, // error "no"
]);

test('hand-written outcomes read as written, and the writer writes them byte for byte', () => {
  const expected = [
    { kind: 'unchanged' },
    { kind: 'set', cells: [[0, { tag: 'text', val: 'x' }], [4, { tag: 'boolean', val: true }]] },
    { kind: 'delete' },
    { kind: 'error', message: 'no' },
  ];
  assert.deepEqual(decodeOutcomes(OUTCOMES, 4), expected);
  assert.deepEqual(encodeOutcomes(/** @type {any} */ (expected)), OUTCOMES);
  assert.deepEqual(decodeOutcomes(OUTCOMES.subarray(0, 1), 4), [{ kind: 'unchanged' }]);
  assert.deepEqual(decodeOutcomes(new Uint8Array(0), 4), []);
});

test('every value kind round-trips through an outcome, numbers bit for bit', () => {
  const cells = [
    [0, { tag: 'null' }],
    [1, { tag: 'text', val: 'ünï ✓ 😀' }],
    [2, { tag: 'number', val: -0.1 }],
    [3, { tag: 'number', val: 1e300 }],
    [4, { tag: 'boolean', val: false }],
    [5, { tag: 'json', val: '[1,{"a":null}]' }],
  ];
  const back = decodeOutcomes(encodeOutcomes([{ kind: 'set', cells: /** @type {any} */ (cells) }]), 1);
  assert.deepEqual(back, [{ kind: 'set', cells }]);
  const nan = decodeOutcomes(encodeOutcomes([{ kind: 'set', cells: [[0, { tag: 'number', val: NaN }]] }]), 1);
  assert.ok(Number.isNaN(/** @type {any} */ (nan[0]).cells[0][1].val));
});

test('hostile outcomes are refused as the host refuses them', () => {
  assert.throws(() => decodeOutcomes(Uint8Array.from([0, 0, 0]), 2), /more outcomes than the batch's 2 rows/);
  assert.throws(() => decodeOutcomes(Uint8Array.from([1, 0xff, 0xff, 0xff, 0xff, 0]), 1), /ends inside a value/);
  assert.throws(() => decodeOutcomes(Uint8Array.from([3, 0xff, 0xff, 0xff, 0xff, 0x61]), 1), /ends inside a value/);
  assert.throws(() => decodeOutcomes(Uint8Array.from([3, 1, 0, 0, 0, 0xff]), 1), /not UTF-8/);
  assert.throws(() => decodeOutcomes(Uint8Array.from([9]), 1), /unknown tag 9/);
  assert.throws(() => decodeOutcomes(Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0, 0, 7]), 1), /unknown tag 7/);
  assert.throws(() => decodeOutcomes(Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0, 0, 4, 2]), 1), /unknown tag 2/);
  assert.throws(() => decodeOutcomes(Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]), 1), /unknown tag 0/);
  try {
    decodeOutcomes(Uint8Array.from([0, 0, 9]), 3);
    assert.fail('accepted');
  } catch (e) {
    assert.ok(e instanceof FormatError);
    assert.equal(e.at, 2);
    assert.equal(e.message, 'unknown tag 9 at byte 2');
  }
});

test('the writer grows past its first allocation', () => {
  const long = 'x'.repeat(100_000);
  const rows = Array.from({ length: 50 }, (_, i) => ({ id: `r_${i}`, cells: [{ value: { tag: 'text', val: long } }] }));
  const index = new BatchIndex(encodeBatch(/** @type {any} */ (rows), 1));
  assert.equal(index.rowCount, 50);
  assert.equal(/** @type {any} */ (index.value(49, 0)).val.length, 100_000);
});
