// The plugin's settings: its manifest's defaults merged with what the operator passed
// (`kiln run -c key=value`), as guest-sdk/src/config.rs. Values are text; the typed getters
// parse them as Rust's `str::parse` would, so a JavaScript plugin accepts and refuses the
// same values as its Rust twin, with the same words.

import { ConfigError } from './errors.js';
import { runtime } from './runtime.js';

const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;
const INTEGER = /^[+-]?\d+$/;

export class Config {
  /**
   * @param {Iterable<[string, string]> | Record<string, string | number | boolean> | Map<string, string>} [pairs]
   */
  constructor(pairs = []) {
    /** @type {Map<string, string>} */
    this.values = new Map();
    const entries = pairs instanceof Map || Symbol.iterator in Object(pairs)
      ? /** @type {Iterable<[string, string]>} */ (pairs)
      : Object.entries(pairs);
    for (const [k, v] of entries) this.values.set(String(k), String(v));
  }

  /**
   * Settings from key/value pairs or an object (tests).
   * @param {Iterable<[string, string]> | Record<string, string | number | boolean>} pairs
   */
  static from(pairs) {
    return new Config(pairs);
  }

  /**
   * The settings the host holds (manifest defaults and the operator's values); under node,
   * those of the MockWorkspace in use (none when there is none).
   */
  static fromHost() {
    const config = runtime()?.interfaces.config;
    return new Config(config ? config.all() : []);
  }

  /**
   * The value as text; `fallback` (or undefined) when the key is unset.
   * @param {string} key
   * @param {string} [fallback]
   * @returns {string | undefined}
   */
  get(key, fallback) {
    const v = this.values.get(key);
    return v === undefined ? fallback : v;
  }

  /**
   * Whether the key is set.
   * @param {string} key
   */
  has(key) {
    return this.values.has(key);
  }

  /**
   * The value as a number (Rust's f64 parse: `1.5`, `-2`, `1e3`, `inf`), or `fallback` when
   * unset; a value that does not parse is a ConfigError naming the key.
   * @param {string} key
   * @param {number} fallback
   * @returns {number}
   */
  number(key, fallback) {
    const v = this.values.get(key);
    if (v === undefined) return fallback;
    const t = v.trim();
    if (t === '') throw new ConfigError(key, v, 'cannot parse float from empty string');
    if (FLOAT.test(t)) return Number(t);
    if (SPECIAL.test(t)) return /nan/i.test(t) ? NaN : t.startsWith('-') ? -Infinity : Infinity;
    throw new ConfigError(key, v, 'invalid float literal');
  }

  /**
   * The value as a whole number, or `fallback` when unset (Rust's integer parse: digits with
   * an optional sign). `min`/`max` bound it: `integer('min_admins', 2, {min: 0})` refuses
   * `-1` as Rust's `usize` does.
   * @param {string} key
   * @param {number} fallback
   * @param {{min?: number, max?: number}} [bounds]
   * @returns {number}
   */
  integer(key, fallback, bounds = {}) {
    const v = this.values.get(key);
    if (v === undefined) return fallback;
    const t = v.trim();
    if (t === '') throw new ConfigError(key, v, 'cannot parse integer from empty string');
    if (!INTEGER.test(t)) throw new ConfigError(key, v, 'invalid digit found in string');
    const n = Number(t);
    if (!Number.isSafeInteger(n)) throw new ConfigError(key, v, 'number too large to fit in target type');
    const { min, max } = bounds;
    // With `min: 0` the setting is unsigned, and Rust's unsigned parse refuses any minus
    // sign (even `-0`) with these words.
    if (min === 0 && t.startsWith('-')) throw new ConfigError(key, v, 'invalid digit found in string');
    if (min !== undefined && n < min) throw new ConfigError(key, v, `must be at least ${min}`);
    if (max !== undefined && n > max) throw new ConfigError(key, v, `must be at most ${max}`);
    return n;
  }

  /**
   * The value as a boolean: exactly `true` or `false` (Rust's bool parse), or `fallback`.
   * @param {string} key
   * @param {boolean} fallback
   * @returns {boolean}
   */
  bool(key, fallback) {
    const v = this.values.get(key);
    if (v === undefined) return fallback;
    const t = v.trim();
    if (t === 'true') return true;
    if (t === 'false') return false;
    throw new ConfigError(key, v, 'provided string was not `true` or `false`');
  }

  /**
   * The value split on commas, trimmed, empty items dropped; `fallback` when unset.
   * @param {string} key
   * @param {string[]} [fallback]
   * @returns {string[]}
   */
  list(key, fallback = []) {
    const v = this.values.get(key);
    if (v === undefined) return fallback;
    return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  }

  /**
   * Every setting, sorted by key.
   * @returns {Array<[string, string]>}
   */
  entries() {
    return [...this.values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
