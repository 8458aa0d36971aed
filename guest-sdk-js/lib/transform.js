// Row transformations (guest-sdk/src/transform.rs in JavaScript).
//
// A plugin extends Transformer and returns one Outcome per row from `transformRow(row, ctx)`;
// the SDK reads the host's batch buffer, hands out Rows that read cells by column name, and
// writes the outcomes buffer with columns resolved to field positions. As in the Rust SDK, a
// write of the value a cell already has is no change, and an unknown column fails only its row.

import { BatchIndex, encodeOutcomes } from './batch.js';
import { Config } from './config.js';
import { messageOf } from './errors.js';
import { emit } from './runtime.js';
import { cellNumber, cellText, fromCellValue, sameValue, toCellValue } from './values.js';
import { toNumbers } from './wit.js';

/** Marks the base classes, across copies of the SDK (see runtime.js). */
export const WORLD = Symbol.for('kiln-sdk.world');

/**
 * What the plugin declares for one row. Make one with `set`, `unchanged`, `remove` (or
 * `Outcome.delete`) and `error`.
 */
export class Outcome {
  /**
   * @param {'unchanged' | 'set' | 'delete' | 'error'} kind
   * @param {{cells?: Array<[string, unknown]>, message?: string}} [payload]
   */
  constructor(kind, payload = {}) {
    /** @type {'unchanged' | 'set' | 'delete' | 'error'} */
    this.kind = kind;
    if (kind === 'set') {
      /** @type {Array<[string, unknown]>} column (name or id) and value, in order */
      this.cells = payload.cells ?? [];
    }
    if (kind === 'error') {
      /** @type {string} */
      this.message = payload.message ?? '';
    }
    Object.freeze(this);
  }

  /**
   * Sets cells by column name (any case) or field id: `set({Email: 'a@b.io'})`.
   * @param {Record<string, unknown> | Map<string, unknown>} cells
   */
  static set(cells) {
    return new Outcome('set', { cells: entries(cells) });
  }

  /** Leaves the row as it is. */
  static unchanged() {
    return UNCHANGED;
  }

  /** Deletes the row. */
  static delete() {
    return DELETED;
  }

  /** Deletes the row (`Outcome.delete`, under a name that is not a keyword). */
  static remove() {
    return DELETED;
  }

  /**
   * This row could not be processed; the rest of the batch goes on.
   * @param {string} message
   */
  static error(message) {
    return new Outcome('error', { message: String(message) });
  }

  /**
   * Adds cells to set: on an unchanged row it becomes a set, on a set the cells are added
   * (a later write of a column wins); on a deleted or failed row it does nothing.
   * @param {Record<string, unknown> | Map<string, unknown>} cells
   */
  set(cells) {
    if (this.kind === 'unchanged') return Outcome.set(cells);
    if (this.kind === 'set') return new Outcome('set', { cells: [...(this.cells ?? []), ...entries(cells)] });
    return this;
  }
}

/**
 * @param {Record<string, unknown> | Map<string, unknown>} cells
 * @returns {Array<[string, unknown]>}
 */
function entries(cells) {
  if (cells instanceof Map) return [...cells.entries()];
  if (!cells || typeof cells !== 'object' || Array.isArray(cells)) {
    throw new TypeError('set() takes an object of column names to values, e.g. set({Email: "a@b.io"})');
  }
  return Object.entries(cells);
}

const UNCHANGED = new Outcome('unchanged');
const DELETED = new Outcome('delete');

/** @param {Record<string, unknown> | Map<string, unknown>} cells */
export const set = (cells) => Outcome.set(cells);
export const unchanged = () => UNCHANGED;
export const remove = () => DELETED;
/** @param {string} message */
export const error = (message) => Outcome.error(message);

/** A table's columns by field id, by name as spelled, and by name in any case. */
class Columns {
  /** @param {Array<{id: string, name: string}>} fields */
  constructor(fields) {
    this.fields = fields.map((f) => [f.id, f.name]);
    /** @type {Map<string, number>} ids first, so an id wins over a name spelled like it */
    this.exact = new Map();
    fields.forEach((f, i) => { if (!this.exact.has(f.id)) this.exact.set(f.id, i); });
    fields.forEach((f, i) => { if (!this.exact.has(f.name)) this.exact.set(f.name, i); });
    /** @type {Map<string, number> | undefined} built on the first lookup that needs it */
    this.folded = undefined;
  }

  /** @param {Array<{id: string, name: string}>} fields */
  describes(fields) {
    return this.fields.length === fields.length && this.fields.every(([id, name], i) => fields[i].id === id && fields[i].name === name);
  }

  /**
   * @param {string} column
   * @returns {number | undefined}
   */
  index(column) {
    const i = this.exact.get(column);
    if (i !== undefined) return i;
    if (!this.folded) {
      this.folded = new Map();
      this.fields.forEach(([, name], j) => {
        const key = name.toLowerCase();
        if (!this.folded?.has(key)) this.folded?.set(key, j);
      });
    }
    return this.folded.get(String(column).toLowerCase());
  }
}

/** The last batch's columns: a plugin instance sees one table batch after batch. */
/** @type {Columns | undefined} */
let lastColumns;

/** @param {Array<{id: string, name: string}>} fields */
function columnsOf(fields) {
  if (!lastColumns || !lastColumns.describes(fields)) lastColumns = new Columns(fields);
  return lastColumns;
}

/**
 * A batch of rows with the table they come from; `rows` in the batch's order.
 */
export class Batch {
  /**
   * @param {Uint8Array} buffer the host's batch buffer
   * @param {any} context the transform context, with Numbers
   */
  constructor(buffer, context) {
    /** @type {any} What the host said: workspaceId, table, batchIndex, totalRows, dryRun. */
    this.context = context;
    /** @type {any} The table, with only the fields this plugin may see, in cell order. */
    this.table = context.table;
    this.index = new BatchIndex(buffer);
    this.columns = columnsOf(this.table.fields);
    /** @type {Row[]} */
    this.rows = Array.from({ length: this.index.rowCount }, (_, i) => new Row(this, i));
  }

  /** Rows in the batch. */
  get length() {
    return this.rows.length;
  }

  /**
   * A column (field record) by name (any case) or id.
   * @param {string} column
   */
  field(column) {
    const i = this.columns.index(column);
    return i === undefined ? undefined : this.table.fields[i];
  }

  /**
   * Whether the table has this column, and the plugin may see it.
   * @param {string} column
   */
  hasColumn(column) {
    return this.columns.index(column) !== undefined;
  }

  /**
   * One outcome resolved against the batch: columns become field positions, no-op writes are
   * dropped, an unknown column or a value that cannot be a cell fails the row.
   * @param {number} row
   * @param {unknown} outcome
   * @returns {import('./batch.js').WireOutcome}
   */
  resolve(row, outcome) {
    if (!(outcome instanceof Outcome)) {
      const got = outcome === undefined ? 'undefined (return unchanged() to leave a row as it is)' : describe(outcome);
      return { kind: 'error', message: `the plugin returned ${got}, not an outcome: return set({...}), unchanged(), remove() or error(message)` };
    }
    if (outcome.kind !== 'set') {
      return outcome.kind === 'error' ? { kind: 'error', message: outcome.message ?? '' } : { kind: outcome.kind };
    }
    /** @type {Array<[number, import('./batch.js').CellValue]>} */
    const sets = [];
    for (const [column, value] of outcome.cells ?? []) {
      const i = this.columns.index(column);
      if (i === undefined) {
        return {
          kind: 'error',
          message: `table \`${this.table.name}\` has no column \`${column}\` this plugin can see (a column it writes must exist and, when kiln.toml's [capabilities.tables] lists columns, be listed there)`,
        };
      }
      let cell;
      try {
        cell = toCellValue(value, column);
      } catch (e) {
        return { kind: 'error', message: messageOf(e) };
      }
      // The last write of a column decides it, as in the Rust and Python SDKs: drop an earlier
      // one first, then skip this one if it is what the cell already holds.
      const at = sets.findIndex(([f]) => f === i);
      if (at >= 0) sets.splice(at, 1);
      const current = this.index.value(row, i) ?? { tag: 'null' };
      if (!sameValue(current, cell)) sets.push([i, cell]);
    }
    return sets.length ? { kind: 'set', cells: sets } : { kind: 'unchanged' };
  }
}

/** @param {unknown} v */
function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'object' && v && typeof (/** @type {any} */ (v)).then === 'function') {
    return 'a Promise (kiln plugins are synchronous: drop `async`)';
  }
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** One row of a batch, readable by column name (any case) or field id. */
export class Row {
  /**
   * @param {Batch} batch
   * @param {number} index
   */
  constructor(batch, index) {
    this.batch = batch;
    /** The row's position in the batch. */
    this.index = index;
  }

  /** The record id (`r_…`). */
  get id() {
    return this.batch.index.id(this.index);
  }

  /** When the row was created (ms since the epoch), when Clay said. */
  get createdAt() {
    return this.batch.index.createdAt(this.index);
  }

  /** When the row last changed, when Clay said. */
  get updatedAt() {
    return this.batch.index.updatedAt(this.index);
  }

  /**
   * @param {string} column
   * @returns {import('./batch.js').CellValue | undefined}
   */
  raw(column) {
    const f = this.batch.columns.index(column);
    return f === undefined ? undefined : this.batch.index.value(this.index, f);
  }

  /**
   * The cell's value: a string, number or boolean, a JSON cell parsed; undefined when the
   * column does not exist (or the plugin may not see it) or the cell is empty.
   * @param {string} column
   */
  get(column) {
    return fromCellValue(this.raw(column));
  }

  /**
   * The cell as text: text and JSON as they are, numbers and booleans formatted.
   * @param {string} column
   * @returns {string | undefined}
   */
  text(column) {
    return cellText(this.raw(column));
  }

  /**
   * The cell as a number: number cells, and text that parses as one.
   * @param {string} column
   * @returns {number | undefined}
   */
  number(column) {
    return cellNumber(this.raw(column));
  }

  /**
   * Clay's status for the cell, when it gave one (enrichment columns):
   * `{tag: 'success'}`, `{tag: 'pending'}`, `{tag: 'run-condition-not-met'}` or
   * `{tag: 'error', val: code}`.
   * @param {string} column
   */
  status(column) {
    const f = this.batch.columns.index(column);
    return f === undefined ? undefined : this.batch.index.status(this.index, f);
  }

  /**
   * The cell as Clay's `cell` record: `{fieldId, value: {tag, val}, status}`; undefined
   * when the row has no cell for the column.
   * @param {string} column
   */
  cell(column) {
    const f = this.batch.columns.index(column);
    if (f === undefined) return undefined;
    const value = this.batch.index.value(this.index, f);
    if (!value) return undefined;
    return { fieldId: this.batch.table.fields[f].id, value, status: this.batch.index.status(this.index, f) };
  }

  /**
   * The row as Clay's `row` record (`{id, cells, createdAt, updatedAt}`), for a plugin that
   * keeps rows past the batch.
   */
  toRow() {
    const cells = [];
    for (let f = 0; f < this.batch.table.fields.length; f++) {
      const value = this.batch.index.value(this.index, f);
      if (!value) continue;
      cells.push({ fieldId: this.batch.table.fields[f].id, value, status: this.batch.index.status(this.index, f) });
    }
    return { id: this.id, cells, createdAt: this.createdAt, updatedAt: this.updatedAt };
  }

  /**
   * The row's non-empty cells as `{columnName: value}` (handy for logging and tests).
   * @returns {Record<string, unknown>}
   */
  toObject() {
    /** @type {Record<string, unknown>} */
    const out = {};
    this.batch.table.fields.forEach((/** @type {{name: string}} */ field, /** @type {number} */ f) => {
      const v = fromCellValue(this.batch.index.value(this.index, f));
      if (v !== undefined && !(field.name in out)) out[field.name] = v;
    });
    return out;
  }
}

/**
 * A row transformation. The SDK creates one instance per plugin instance (from its
 * settings) and calls `transformRow` for each row, or `transformBatch` once per batch when
 * the plugin overrides it.
 */
export class Transformer {
  /**
   * @param {Config | Record<string, string> | Iterable<[string, string]>} [config] the
   *   settings; the host's (or the MockWorkspace's) when omitted
   */
  constructor(config) {
    /** @type {Config} */
    this.config = config instanceof Config ? config : config == null ? Config.fromHost() : new Config(config);
  }

  /**
   * The outcome for one row. Override it.
   * @param {Row} row
   * @param {any} ctx the transform context: workspaceId, table, batchIndex, totalRows, dryRun
   * @returns {Outcome}
   */
  // eslint-disable-next-line no-unused-vars
  transformRow(row, ctx) {
    throw new Error(`${this.constructor.name} must override transformRow(row, ctx) or transformBatch(batch)`);
  }

  /**
   * One outcome per row of `batch.rows`, in order: `transformRow` for each. Override it for
   * logic across rows (duplicates, ranks); an exception escaping it fails the whole batch.
   *
   * Here an exception in one row fails that row alone, as a row error never fails the batch
   * (so an override calling `super.transformBatch(batch)` keeps that). The first is logged
   * with its stack; the rest are counted, not to flood the host's log cap.
   * @param {Batch} batch
   * @returns {Outcome[]}
   */
  transformBatch(batch) {
    const outcomes = new Array(batch.rows.length);
    let threw = 0;
    for (const row of batch.rows) {
      try {
        outcomes[row.index] = this.transformRow(row, batch.context);
      } catch (e) {
        const message = messageOf(e);
        outcomes[row.index] = Outcome.error(message);
        if (threw++ === 0) emit('error', `${methodOf(this.constructor, 'transformRow')} threw on row ${row.id}: ${message}${stackOf(e)}`);
      }
    }
    if (threw > 1) emit('error', `transformRow threw on ${threw} rows of this batch; each failed alone`);
    return outcomes;
  }
}
/** @type {any} */ (Transformer)[WORLD] = 'transformer';

/**
 * The plugin class's name for messages; undefined for an anonymous `export default class`
 * (which JavaScript names "default").
 * @param {unknown} Plugin
 * @returns {string | undefined}
 */
export function className(Plugin) {
  const name = typeof Plugin === 'function' ? Plugin.name : '';
  return name && name !== 'default' ? name : undefined;
}

/**
 * `Name.method`, or `method` when the class has no name.
 * @param {unknown} Plugin
 * @param {string} method
 */
export function methodOf(Plugin, method) {
  const name = className(Plugin);
  return name ? `${name}.${method}` : method;
}

/** @param {unknown} e */
function stackOf(e) {
  return e instanceof Error && e.stack ? `\n${e.stack}` : '';
}

/**
 * The transform export's work: reads the batch, runs the plugin, writes the outcomes.
 * `state.instance` holds the plugin between batches (one per component instance).
 * @param {{Plugin: any, instance?: any}} state
 * @param {Uint8Array} buffer
 * @param {any} rawContext the context as the bindings give it (BigInts)
 * @returns {Uint8Array}
 */
export function runTransformer(state, buffer, rawContext) {
  const context = toNumbers(rawContext, 'the transform context');
  let batch;
  try {
    batch = new Batch(buffer, context);
  } catch (e) {
    // The host wrote a batch this SDK cannot read: no row gets an outcome, and the host
    // reports each as missing one (as the Rust SDK does).
    emit('error', `kiln-sdk cannot read the batch: ${messageOf(e)}`);
    return new Uint8Array(0);
  }
  const { Plugin } = state;
  const failAll = (/** @type {string} */ message) => encodeOutcomes(batch.rows.map(() => ({ kind: 'error', message })));
  if (!Plugin || Plugin[WORLD] !== 'transformer') {
    const message = `kiln.toml says world = "transformer", but the plugin's default export${className(Plugin) ? `, \`${className(Plugin)}\`,` : ''} is not a class extending Transformer from kiln-sdk`;
    emit('error', message);
    return failAll(message);
  }
  if (!state.instance) {
    try {
      state.instance = new Plugin(Config.fromHost());
    } catch (e) {
      // Retried on the next batch, as the Rust SDK does; every row of this one fails.
      const message = `the plugin could not start: ${messageOf(e)}`;
      emit('error', message + stackOf(e));
      return failAll(message);
    }
  }
  const plugin = state.instance;
  /** @type {unknown} */
  let outcomes;
  try {
    outcomes = plugin.transformBatch(batch);
  } catch (e) {
    // Nothing of the batch can be trusted: log why, then let it trap (the host quotes this
    // log line, and applies nothing of the batch).
    emit('error', `${methodOf(Plugin, 'transformBatch')} threw: ${messageOf(e)}${stackOf(e)}`);
    throw e;
  }
  if (!Array.isArray(outcomes)) {
    const message = `transformBatch returned ${describe(outcomes)}, not an array of one outcome per row`;
    emit('error', message);
    return failAll(message);
  }
  const rows = outcomes;
  const wire = batch.rows.map((row) =>
    row.index < rows.length
      ? batch.resolve(row.index, rows[row.index])
      : /** @type {const} */ ({ kind: 'error', message: 'the plugin returned no outcome for this row' }),
  );
  if (rows.length > batch.rows.length) {
    emit('warn', `transformBatch returned ${rows.length} outcomes for ${batch.rows.length} rows; the extra ones were ignored`);
  }
  return encodeOutcomes(wire);
}
