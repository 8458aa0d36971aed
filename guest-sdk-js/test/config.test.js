// Settings: text with typed getters that accept and refuse what the Rust SDK's `parse` does,
// with its words.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Auditor, Config, ConfigError, Report } from '../index.js';
import { MockWorkspace, runAudit } from '../testing.js';

test('values are text, with a fallback when unset', () => {
  const config = new Config({ column: 'Email', n: 3 });
  assert.equal(config.get('column'), 'Email');
  assert.equal(config.get('n'), '3');
  assert.equal(config.get('other'), undefined);
  assert.equal(config.get('other', 'Name'), 'Name');
  assert.equal(config.has('column'), true);
  assert.deepEqual(Config.from([['b', '2'], ['a', '1']]).entries(), [['a', '1'], ['b', '2']]);
});

test('numbers parse as Rust f64 does, and a bad one names its key', () => {
  const config = new Config({ a: ' 1.5 ', b: '-2', c: '1e3', d: '.5', e: 'inf', f: 'lots', g: '', h: '0x10', i: '1.' });
  assert.equal(config.number('a', 0), 1.5);
  assert.equal(config.number('b', 0), -2);
  assert.equal(config.number('c', 0), 1000);
  assert.equal(config.number('d', 0), 0.5);
  assert.equal(config.number('e', 0), Infinity);
  assert.equal(config.number('i', 0), 1);
  assert.equal(config.number('unset', 7), 7);
  assert.throws(() => config.number('f', 0), { name: 'ConfigError', message: 'config key `f` has value `lots`: invalid float literal' });
  assert.throws(() => config.number('g', 0), /cannot parse float from empty string/);
  assert.throws(() => config.number('h', 0), /invalid float literal/);
});

test('integers parse as Rust integers do; min 0 refuses a sign as usize does', () => {
  const config = new Config({ a: '60', b: '+5', c: '-1', d: '1.5', e: '99999999999999999999', f: ' ', g: '-0' });
  assert.equal(config.integer('a', 0), 60);
  assert.equal(config.integer('b', 0), 5);
  assert.equal(config.integer('c', 0), -1);
  assert.equal(config.integer('unset', 2), 2);
  assert.throws(() => config.integer('c', 0, { min: 0 }), { message: 'config key `c` has value `-1`: invalid digit found in string' });
  assert.throws(() => config.integer('g', 0, { min: 0 }), /invalid digit/);
  assert.throws(() => config.integer('a', 0, { min: 61 }), /must be at least 61/);
  assert.throws(() => config.integer('a', 0, { max: 10 }), /must be at most 10/);
  assert.throws(() => config.integer('d', 0), /invalid digit found in string/);
  assert.throws(() => config.integer('e', 0), /number too large to fit in target type/);
  assert.throws(() => config.integer('f', 0), /cannot parse integer from empty string/);
});

test('booleans are exactly true or false; lists split on commas', () => {
  const config = new Config({ a: 'true', b: ' false ', c: 'yes', l: ' a, b,,c ' });
  assert.equal(config.bool('a', false), true);
  assert.equal(config.bool('b', true), false);
  assert.equal(config.bool('unset', true), true);
  assert.throws(() => config.bool('c', false), /provided string was not `true` or `false`/);
  assert.deepEqual(config.list('l'), ['a', 'b', 'c']);
  assert.deepEqual(config.list('unset', ['x']), ['x']);
});

test('ConfigError carries its parts', () => {
  const e = new ConfigError('k', 'v', 'why');
  assert.ok(e instanceof Error);
  assert.deepEqual([e.key, e.value, e.reason], ['k', 'v', 'why']);
});

test('a plugin reads the host settings: the workspace’s, with the run’s on top', () => {
  /** @type {any} */
  let seen;
  class Reads extends Auditor {
    audit() {
      seen = this.config.entries();
      return new Report();
    }
  }
  const ws = new MockWorkspace();
  ws.setConfig('a', '1');
  ws.setConfig('b', 2);
  runAudit(Reads, { workspace: ws, config: { b: '3', c: true } });
  assert.deepEqual(seen, [['a', '1'], ['b', '3'], ['c', 'true']]);
  // Made directly, a plugin takes its settings as given; with none, the host's (none here).
  assert.equal(new Reads({ x: '1' }).config.get('x'), '1');
  assert.deepEqual(new Reads().config.entries(), []);
});
