// The byte layout of clay:api 0.2.0's `transform`, as documented at the top of
// batch/src/lib.rs: the host hands the guest a batch as one buffer and takes one buffer of
// outcomes back. All integers little-endian; `str` is a u32 byte length then UTF-8.
//
//   batch   = u32 row-count, u32 field-count, row*
//   row     = str id, stamp created-at, stamp updated-at, cell{field-count}
//   stamp   = u8 0 | u8 1, i64 ms-since-epoch
//   cell    = u8 tag, payload, [status if tag & 0x08]
//             tag & 0x07: 0 absent, 1 null, 2 text (str), 3 number (f64), 4 boolean (u8),
//                         5 json (str)
//   status  = u8 0 success | 1 pending | 2 run-condition-not-met | 3 error, str code
//
//   outcome = u8 0 unchanged | u8 1 set-cells, u32 count, (u32 field-index, value){count}
//           | u8 2 delete | u8 3 error, str message
//   value   = u8 kind (1..=5 as in a cell), payload
//
// Values here are in the WIT form of `cell-value` and `cell-status` ({tag, val}), the form
// every other record of clay:api has in JavaScript. The reader indexes a batch once and
// decodes a string only when a plugin reads that cell, as the Rust SDK does: a plugin pays
// for the cells it looks at.

export const ABSENT = 0;
export const NULL = 1;
export const TEXT = 2;
export const NUMBER = 3;
export const BOOLEAN = 4;
export const JSON_TAG = 5;
const KIND = 0x07;
const HAS_STATUS = 0x08;

export const UNCHANGED = 0;
export const SET_CELLS = 1;
export const DELETE = 2;
export const ERROR = 3;

const VALUE_TAGS = ['absent', 'null', 'text', 'number', 'boolean', 'json'];
const STATUS_TAGS = ['success', 'pending', 'run-condition-not-met', 'error'];

const encoder = new TextEncoder();
// `fatal`: a string that is not UTF-8 reads as missing (as the Rust reader's `None`), never as
// text with replacement characters a plugin would then write back.
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A buffer that does not follow the layout, and where: the offset after the offending byte,
 * except for an unknown outcome tag, where it is the tag's own (as the Rust reader says).
 */
export class FormatError extends Error {
  /**
   * @param {string} what
   * @param {number} at
   */
  constructor(what, at) {
    super(`${what} at byte ${at}`);
    this.name = 'FormatError';
    this.what = what;
    this.at = at;
  }
}

/** A growable little-endian byte buffer. */
export class Writer {
  constructor(capacity = 256) {
    this.buf = new Uint8Array(Math.max(16, capacity));
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }

  /** @param {number} n */
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** @param {number} v */
  u8(v) {
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  /** @param {number} v */
  u32(v) {
    this.reserve(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
  }

  /** @param {number} v */
  f64(v) {
    this.reserve(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }

  /** @param {number | bigint} v */
  i64(v) {
    this.reserve(8);
    this.view.setBigInt64(this.len, BigInt(v), true);
    this.len += 8;
  }

  /** @param {string} s */
  str(s) {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: reserve that, encode in place.
    this.reserve(4 + s.length * 3);
    const { written = 0 } = encoder.encodeInto(s, this.buf.subarray(this.len + 4));
    this.view.setUint32(this.len, written, true);
    this.len += 4 + written;
  }

  /** @returns {Uint8Array} */
  finish() {
    return this.buf.slice(0, this.len);
  }
}

/**
 * @typedef {{tag: 'null'} | {tag: 'text', val: string} | {tag: 'number', val: number}
 *   | {tag: 'boolean', val: boolean} | {tag: 'json', val: string}} CellValue
 * @typedef {{tag: 'success'} | {tag: 'pending'} | {tag: 'run-condition-not-met'}
 *   | {tag: 'error', val: string}} CellStatus
 * @typedef {{value: CellValue, status?: CellStatus}} BatchCell
 * @typedef {{id: string, createdAt?: number, updatedAt?: number, cells: Array<BatchCell | undefined>}} BatchRow
 */

/**
 * @param {Writer} w
 * @param {CellValue} value
 * @param {number} flags
 */
function putValue(w, value, flags) {
  switch (value?.tag) {
    case 'null':
      w.u8(NULL | flags);
      return;
    case 'text':
      w.u8(TEXT | flags);
      w.str(value.val);
      return;
    case 'number':
      w.u8(NUMBER | flags);
      w.f64(value.val);
      return;
    case 'boolean':
      w.u8(BOOLEAN | flags);
      w.u8(value.val ? 1 : 0);
      return;
    case 'json':
      w.u8(JSON_TAG | flags);
      w.str(value.val);
      return;
    default:
      throw new TypeError(`not a cell-value: ${JSON.stringify(value)}`);
  }
}

/**
 * @param {Writer} w
 * @param {number | undefined} stamp
 */
function putStamp(w, stamp) {
  if (stamp === undefined || stamp === null) {
    w.u8(0);
  } else {
    w.u8(1);
    w.i64(stamp);
  }
}

/**
 * Writes a batch (what the host sends): each row's cells positional, `fieldCount` of them,
 * `undefined` for a field the row has no cell for.
 * @param {BatchRow[]} rows
 * @param {number} fieldCount
 * @returns {Uint8Array}
 */
export function encodeBatch(rows, fieldCount) {
  const w = new Writer(64 + rows.length * (16 + fieldCount * 8));
  w.u32(rows.length);
  w.u32(fieldCount);
  for (const row of rows) {
    w.str(row.id);
    putStamp(w, row.createdAt);
    putStamp(w, row.updatedAt);
    for (let f = 0; f < fieldCount; f++) {
      const cell = row.cells[f];
      const flags = cell?.status ? HAS_STATUS : 0;
      if (!cell) {
        w.u8(ABSENT);
        continue;
      }
      putValue(w, cell.value, flags);
      const s = cell.status;
      if (!s) continue;
      const code = STATUS_TAGS.indexOf(s.tag);
      if (code < 0) throw new TypeError(`not a cell-status: ${JSON.stringify(s)}`);
      w.u8(code);
      if (s.tag === 'error') w.str(/** @type {{val: string}} */ (s).val);
    }
  }
  return w.finish();
}

/** Reads a buffer front to back, every length checked against it. */
class Reader {
  /** @param {Uint8Array} buf */
  constructor(buf) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.at = 0;
  }

  /** @param {number} n */
  need(n) {
    if (this.at + n > this.buf.length) throw new FormatError('the buffer ends inside a value', this.at);
  }

  u8() {
    this.need(1);
    return this.buf[this.at++];
  }

  u32() {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  f64() {
    this.need(8);
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }

  /** A string's span, [start, length], not yet decoded. */
  span() {
    const len = this.u32();
    const start = this.at;
    this.need(len);
    this.at += len;
    return [start, len];
  }

  /** A string, decoded now (outcomes). */
  str() {
    const at = this.at;
    const [start, len] = this.span();
    try {
      return decoder.decode(this.buf.subarray(start, start + len));
    } catch {
      throw new FormatError('a string is not UTF-8', at);
    }
  }
}

/**
 * Where each row, id and cell of a batch buffer lies: built once, read through lazily.
 */
export class BatchIndex {
  /**
   * Indexes a batch buffer. The loop reads bytes inline rather than through Reader's
   * methods: inside a component the JavaScript is interpreted, and a method call (or an array
   * returned for a span) per cell made indexing 1,000 rows of a dozen columns cost ~80 ms.
   * @param {Uint8Array} buf
   */
  constructor(buf) {
    const n = buf.length;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const truncated = (/** @type {number} */ at) => new FormatError('the buffer ends inside a value', at);
    if (n < 8) throw truncated(n < 4 ? 0 : 4);
    const rows = (buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24)) >>> 0;
    const fields = (buf[4] | (buf[5] << 8) | (buf[6] << 16) | (buf[7] << 24)) >>> 0;
    // Every row takes at least 6 bytes and every cell one: counts the buffer cannot hold are
    // refused before anything is allocated for them.
    if (rows * fields > n || rows * 6 > n) throw new FormatError('row and field counts too large', 8);
    this.buf = buf;
    this.rowCount = rows;
    this.fieldCount = fields;
    const cells = rows * fields;
    /** Row id spans and stamps; NaN is "not given". */
    const idStart = (this.idStart = new Uint32Array(rows));
    const idLen = (this.idLen = new Uint32Array(rows));
    const created = (this.created = new Float64Array(rows));
    const updated = (this.updated = new Float64Array(rows));
    /** Each cell's kind (tag & 0x07). */
    const kinds = (this.kinds = new Uint8Array(cells));
    /** A number or boolean's value, or a string's start. */
    const a = (this.a = new Float64Array(cells));
    /** A string's length. */
    const b = (this.b = new Uint32Array(cells));
    /** @type {Map<number, CellStatus>} statuses are rare: by cell index */
    this.statuses = new Map();
    let at = 8;
    let c = 0;
    for (let row = 0; row < rows; row++) {
      if (at + 4 > n) throw truncated(at);
      let len = (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0;
      at += 4;
      if (at + len > n) throw truncated(at);
      idStart[row] = at;
      idLen[row] = len;
      at += len;
      for (let s = 0; s < 2; s++) {
        if (at + 1 > n) throw truncated(at);
        const tag = buf[at++];
        let stamp = NaN;
        if (tag === 1) {
          if (at + 8 > n) throw truncated(at);
          const lo = (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0;
          const hi = buf[at + 4] | (buf[at + 5] << 8) | (buf[at + 6] << 16) | (buf[at + 7] << 24);
          at += 8;
          stamp = hi * 4294967296 + lo;
          if (hi < -2097152 || hi >= 2097152 || !Number.isSafeInteger(stamp)) {
            throw new FormatError(`timestamp ${view.getBigInt64(at - 8, true)} is past Number.MAX_SAFE_INTEGER`, at);
          }
        } else if (tag !== 0) {
          throw new FormatError(`unknown tag ${tag}`, at);
        }
        if (s === 0) created[row] = stamp;
        else updated[row] = stamp;
      }
      for (let f = 0; f < fields; f++, c++) {
        if (at + 1 > n) throw truncated(at);
        const tag = buf[at++];
        const kind = tag & KIND;
        if (kind > JSON_TAG || (tag & ~(KIND | HAS_STATUS)) !== 0) throw new FormatError(`unknown tag ${tag}`, at);
        kinds[c] = kind;
        if (kind === TEXT || kind === JSON_TAG) {
          if (at + 4 > n) throw truncated(at);
          len = (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0;
          at += 4;
          if (at + len > n) throw truncated(at);
          a[c] = at;
          b[c] = len;
          at += len;
        } else if (kind === NUMBER) {
          if (at + 8 > n) throw truncated(at);
          a[c] = view.getFloat64(at, true);
          at += 8;
        } else if (kind === BOOLEAN) {
          if (at + 1 > n) throw truncated(at);
          a[c] = buf[at++] !== 0 ? 1 : 0;
        }
        if (tag & HAS_STATUS) {
          if (at + 1 > n) throw truncated(at);
          const status = buf[at++];
          if (status === 3) {
            if (at + 4 > n) throw truncated(at);
            len = (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0;
            at += 4;
            if (at + len > n) throw truncated(at);
            this.statuses.set(c, { tag: 'error', val: this.text(at, len) ?? '' });
            at += len;
          } else if (status <= 2) {
            this.statuses.set(c, /** @type {CellStatus} */ ({ tag: STATUS_TAGS[status] }));
          } else {
            throw new FormatError(`unknown tag ${status}`, at);
          }
        }
      }
    }
  }

  /**
   * @param {number} start
   * @param {number} len
   * @returns {string | undefined} undefined when the bytes are not UTF-8
   */
  text(start, len) {
    try {
      return decoder.decode(this.buf.subarray(start, start + len));
    } catch {
      return undefined;
    }
  }

  /** @param {number} row */
  id(row) {
    return this.text(this.idStart[row], this.idLen[row]) ?? '';
  }

  /** @param {number} row */
  createdAt(row) {
    const v = this.created[row];
    return Number.isNaN(v) ? undefined : v;
  }

  /** @param {number} row */
  updatedAt(row) {
    const v = this.updated[row];
    return Number.isNaN(v) ? undefined : v;
  }

  /**
   * Row `row`'s cell of field `field`; undefined when the row has none (or its text is not
   * UTF-8, or the indices are out of range).
   * @param {number} row
   * @param {number} field
   * @returns {CellValue | undefined}
   */
  value(row, field) {
    if (field < 0 || field >= this.fieldCount || row < 0 || row >= this.rowCount) return undefined;
    const c = row * this.fieldCount + field;
    switch (this.kinds[c]) {
      case NULL: return { tag: 'null' };
      case TEXT: {
        const s = this.text(this.a[c], this.b[c]);
        return s === undefined ? undefined : { tag: 'text', val: s };
      }
      case NUMBER: return { tag: 'number', val: this.a[c] };
      case BOOLEAN: return { tag: 'boolean', val: this.a[c] === 1 };
      case JSON_TAG: {
        const s = this.text(this.a[c], this.b[c]);
        return s === undefined ? undefined : { tag: 'json', val: s };
      }
      default: return undefined;
    }
  }

  /**
   * Row `row`'s cell status of field `field`, when Clay gave one.
   * @param {number} row
   * @param {number} field
   * @returns {CellStatus | undefined}
   */
  status(row, field) {
    if (field < 0 || field >= this.fieldCount || row < 0 || row >= this.rowCount) return undefined;
    const s = this.statuses.get(row * this.fieldCount + field);
    return s && { ...s };
  }
}

/**
 * @typedef {{kind: 'unchanged'} | {kind: 'set', cells: Array<[number, CellValue]>}
 *   | {kind: 'delete'} | {kind: 'error', message: string}} WireOutcome
 */

/**
 * Writes outcomes, one per row in the batch's order.
 * @param {WireOutcome[]} outcomes
 * @returns {Uint8Array}
 */
export function encodeOutcomes(outcomes) {
  const w = new Writer(outcomes.length * 2 + 16);
  for (const o of outcomes) {
    switch (o.kind) {
      case 'unchanged':
        w.u8(UNCHANGED);
        break;
      case 'delete':
        w.u8(DELETE);
        break;
      case 'error':
        w.u8(ERROR);
        w.str(o.message);
        break;
      case 'set':
        w.u8(SET_CELLS);
        w.u32(o.cells.length);
        for (const [field, value] of o.cells) {
          w.u32(field);
          putValue(w, value, 0);
        }
        break;
      default:
        throw new TypeError(`not an outcome: ${JSON.stringify(o)}`);
    }
  }
  return w.finish();
}

/**
 * Reads a guest's outcomes for a batch of `rows` rows, as the host does (read_outcomes):
 * every tag, length and string checked, at most `rows` outcomes.
 * @param {Uint8Array} buf
 * @param {number} rows
 * @returns {WireOutcome[]}
 */
export function decodeOutcomes(buf, rows) {
  const r = new Reader(buf);
  /** @type {WireOutcome[]} */
  const out = [];
  while (r.at < buf.length) {
    if (out.length === rows) throw new FormatError(`more outcomes than the batch's ${rows} rows`, r.at);
    const at = r.at;
    const tag = r.u8();
    if (tag === UNCHANGED) out.push({ kind: 'unchanged' });
    else if (tag === DELETE) out.push({ kind: 'delete' });
    else if (tag === ERROR) out.push({ kind: 'error', message: r.str() });
    else if (tag === SET_CELLS) {
      const count = r.u32();
      /** @type {Array<[number, CellValue]>} */
      const cells = [];
      for (let i = 0; i < count; i++) {
        const field = r.u32();
        const kind = r.u8();
        /** @type {CellValue} */
        let value;
        if (kind === NULL) value = { tag: 'null' };
        else if (kind === TEXT) value = { tag: 'text', val: r.str() };
        else if (kind === NUMBER) value = { tag: 'number', val: r.f64() };
        else if (kind === BOOLEAN) {
          const b = r.u8();
          if (b > 1) throw new FormatError(`unknown tag ${b}`, r.at);
          value = { tag: 'boolean', val: b === 1 };
        } else if (kind === JSON_TAG) value = { tag: 'json', val: r.str() };
        else throw new FormatError(`unknown tag ${kind}`, r.at);
        cells.push([field, value]);
      }
      out.push({ kind: 'set', cells });
    } else {
      throw new FormatError(`unknown tag ${tag}`, at);
    }
  }
  return out;
}

export { VALUE_TAGS, STATUS_TAGS };
