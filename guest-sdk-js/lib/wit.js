// The edge between the component model's JavaScript bindings and what plugin authors see.
//
// componentize-js gives every u64/s64 as a BigInt (ids, counts, timestamps). BigInts do not
// mix with Numbers (`1n + 1` throws) and JSON.stringify refuses them, so authors get Numbers
// throughout; a value a Number cannot hold exactly is a RangeError rather than a silently
// rounded id. The other way, Numbers authors pass are checked and made BigInts.

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const MIN = -MAX;
const U64_MAX = (1n << 64n) - 1n;

/**
 * A BigInt from the host as a Number; past Number.MAX_SAFE_INTEGER it is a RangeError.
 * @param {bigint} value
 * @param {string} [what]
 * @returns {number}
 */
export function bigToNumber(value, what = 'a 64-bit value from the host') {
  if (value > MAX || value < MIN) {
    throw new RangeError(`${what} (${value}) is past Number.MAX_SAFE_INTEGER and cannot be a Number exactly`);
  }
  return Number(value);
}

/**
 * A deep copy of a value from the host with every BigInt made a Number. Records, lists,
 * options and variants ({tag, val}) keep their shape.
 * @template T
 * @param {T} value
 * @param {string} [what]
 * @returns {any}
 */
export function toNumbers(value, what) {
  if (typeof value === 'bigint') return bigToNumber(value, what);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => toNumbers(v, what));
  if (ArrayBuffer.isView(value)) return value;
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const key of Object.keys(value)) out[key] = toNumbers(/** @type {any} */ (value)[key], what);
  return out;
}

/**
 * An unsigned 64-bit argument for an import (ids such as a workspace id).
 * @param {number | bigint} value
 * @param {string} name the parameter, for the error
 * @returns {bigint}
 */
export function toU64(value, name) {
  const big = toBig(value, name);
  if (big < 0n || big > U64_MAX) throw new RangeError(`${name} must be between 0 and 2^64-1, got ${value}`);
  return big;
}

/**
 * A signed 64-bit argument for an import (timestamps: ms since the epoch).
 * @param {number | bigint} value
 * @param {string} name
 * @returns {bigint}
 */
export function toS64(value, name) {
  const big = toBig(value, name);
  if (big < -(1n << 63n) || big >= 1n << 63n) throw new RangeError(`${name} does not fit in 64 bits: ${value}`);
  return big;
}

/**
 * @param {number | bigint} value
 * @param {string} name
 */
function toBig(value, name) {
  if (typeof value === 'bigint') return value;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${name} (${value}) is past Number.MAX_SAFE_INTEGER: pass it as a BigInt`);
  }
  return BigInt(value);
}

/**
 * A time-range argument ({start, end} in ms) for an import.
 * @param {{start: number | bigint, end: number | bigint}} range
 * @param {string} name
 */
export function toRange(range, name) {
  if (!range || typeof range !== 'object') throw new TypeError(`${name} must be {start, end} in ms since the epoch`);
  return { start: toS64(range.start, `${name}.start`), end: toS64(range.end, `${name}.end`) };
}

/**
 * An option argument: `null` means none as `undefined` does (the bindings want `undefined`).
 * @template T
 * @param {T | null | undefined} value
 * @returns {T | undefined}
 */
export function toOption(value) {
  return value === null ? undefined : value;
}
