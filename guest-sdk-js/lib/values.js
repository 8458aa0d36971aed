// Cell values between plain JavaScript and the WIT `cell-value` variant ({tag, val}).
//
// Authors read and write plain values: a string is text, a number a number, a boolean a
// boolean, null/undefined an empty cell, and an object or array is JSON (stringified). A JSON
// cell reads back parsed. `json(text)` writes JSON text as it is.

const JSON_TEXT = Symbol('kiln-sdk.json');

/**
 * A JSON cell whose text is given as it is (not stringified again).
 * @param {string | unknown} textOrValue JSON text, or any value to stringify
 * @returns {{[JSON_TEXT]: string}}
 */
export function json(textOrValue) {
  const text = typeof textOrValue === 'string' ? textOrValue : JSON.stringify(textOrValue);
  return Object.freeze({ [JSON_TEXT]: text, toJSON: () => text });
}

/**
 * A plain value as a cell-value.
 * @param {unknown} value
 * @param {string} [column] for the error
 * @returns {import('./batch.js').CellValue}
 */
export function toCellValue(value, column) {
  switch (typeof value) {
    case 'string': return { tag: 'text', val: value };
    case 'number': return { tag: 'number', val: value };
    case 'boolean': return { tag: 'boolean', val: value };
    case 'undefined': return { tag: 'null' };
    case 'bigint': {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new RangeError(`${column ? `column \`${column}\`: ` : ''}${value} cannot be a number cell exactly; write it as text`);
      }
      return { tag: 'number', val: Number(value) };
    }
    case 'object': {
      if (value === null) return { tag: 'null' };
      if (JSON_TEXT in value) return { tag: 'json', val: /** @type {any} */ (value)[JSON_TEXT] };
      // Clay keeps dates as text.
      if (value instanceof Date) return { tag: 'text', val: value.toISOString() };
      return { tag: 'json', val: JSON.stringify(value) };
    }
    default:
      throw new TypeError(`${column ? `column \`${column}\`: ` : ''}a ${typeof value} cannot be a cell value`);
  }
}

/**
 * A cell-value as a plain value: JSON parsed (its text as it is when it does not parse),
 * null as undefined.
 * @param {import('./batch.js').CellValue | undefined} value
 * @returns {unknown}
 */
export function fromCellValue(value) {
  switch (value?.tag) {
    case 'text':
    case 'number':
    case 'boolean':
      return value.val;
    case 'json':
      try {
        return JSON.parse(value.val);
      } catch {
        return value.val;
      }
    default:
      return undefined;
  }
}

/**
 * Whether two cell-values are the same (a write of the value a cell has is no change). As
 * Rust's `PartialEq` on f64: NaN differs from itself, 0 equals -0.
 * @param {import('./batch.js').CellValue} a
 * @param {import('./batch.js').CellValue} b
 */
export function sameValue(a, b) {
  return a.tag === b.tag && /** @type {any} */ (a).val === /** @type {any} */ (b).val;
}

/**
 * A number as Rust's `f64` Display writes it: never in exponent form, `inf`, `NaN`.
 * @param {number} n
 * @returns {string}
 */
export function formatFloat(n) {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, lead, frac = '', e] = m;
  const digits = lead + frac;
  const exp = Number(e);
  if (exp >= 0) {
    const intLen = exp + 1;
    return sign + (digits.length <= intLen ? digits + '0'.repeat(intLen - digits.length) : `${digits.slice(0, intLen)}.${digits.slice(intLen)}`);
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}

/**
 * A cell as text, as the Rust SDK's `RowRef::text`: text and JSON as they are, whole numbers
 * below 1e15 without a fraction, other numbers as Rust formats them, booleans `true`/`false`.
 * @param {import('./batch.js').CellValue | undefined} value
 * @returns {string | undefined}
 */
export function cellText(value) {
  switch (value?.tag) {
    case 'text':
    case 'json':
      return value.val;
    case 'number': {
      const n = value.val;
      return Number.isInteger(n) && Math.abs(n) < 1e15 ? String(n === 0 ? 0 : n) : formatFloat(n);
    }
    case 'boolean':
      return value.val ? 'true' : 'false';
    default:
      return undefined;
  }
}

/**
 * A cell as a number: number cells, and text that parses as one (Rust's f64 parse).
 * @param {import('./batch.js').CellValue | undefined} value
 * @returns {number | undefined}
 */
export function cellNumber(value) {
  if (value?.tag === 'number') return value.val;
  if (value?.tag === 'text') {
    const t = value.val.trim();
    if (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(t)) return Number(t);
    if (/^[+-]?(?:inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
    if (/^[+-]?nan$/i.test(t)) return NaN;
  }
  return undefined;
}
