// kiln-sdk/testing.js: an in-memory Clay workspace, so plugin logic runs under `node --test`
// with no kiln and no WebAssembly (guest-sdk/src/testing/ in JavaScript).
//
//   import { MockWorkspace, runAudit, runTransform } from 'kiln-sdk/testing.js';
//
//   const out = runTransform(Plugin, { columns: ['Email'], rows: [{ Email: ' Ada@X.io ' }] });
//   assert.equal(out[0].cells.Email, 'ada@x.io');
//
//   const ws = new MockWorkspace('Acme');
//   ws.addMember('maya@acme.io', 'Maya', 'admin', 'active');
//   const report = runAudit(Plugin, { workspace: ws, config: { min_admins: '2' } });
//   assert.equal(report.withCode('seat.single-admin').length, 1);
//
// The mock answers through the same interfaces componentize-js binds inside a component
// (BigInt for u64/s64, {tag, val} variants, clay-errors thrown with a `payload`), and the
// runners go through the same code the component's exports run: a transform encodes a real
// batch buffer, runs the guest side and decodes the outcomes buffer as the host does. So the
// SDK's conversions and codec are under test whenever a plugin's tests run. It follows the
// embedded workspace's semantics (read and add limits, idempotent row ids, run conditions,
// the credit ledger behind every report); enrichment values are placeholders
// (`"<action-key>(<inputs>)"`).

import { Report } from './lib/audit.js';
import { decodeOutcomes, encodeBatch } from './lib/batch.js';
import { ClayError } from './lib/errors.js';
import { LEVELS, swapRuntime } from './lib/runtime.js';
import { runAuditor } from './lib/audit.js';
import { runTransformer } from './lib/transform.js';
import { formatFloat, toCellValue } from './lib/values.js';
import { toNumbers } from './lib/wit.js';

/** The mock's default clock: a fixed instant, so tests are reproducible. */
export const DEFAULT_NOW = 1_800_000_000_000;
const DAY_MS = 24 * 3600 * 1000;
const MAX_READ = 200;
const MAX_ADD = 50;

/** @type {Record<string, string>} */
const ROLE_NAMES = {
  admin: 'workspace-admin',
  member: 'workspace-member',
  viewer: 'workspace-viewer',
  'sales-rep': 'workspace-sales-rep',
};
const MEMBER_STATUSES = ['active', 'pending', 'removed'];
const CELL_STATUSES = ['success', 'pending', 'run-condition-not-met'];

/**
 * What componentize-js throws for an import's `err`: not an Error, its clay-error in `payload`.
 */
class ComponentError {
  /** @param {{tag: string, val?: unknown}} payload */
  constructor(payload) {
    this.payload = payload;
    this.message = '[object Object] (see error.payload)';
  }
}

const CELL = Symbol('kiln-sdk.testing.cell');

/**
 * A cell with a status, for a test row: `cell('a@b.io', 'success')`,
 * `cell(null, {tag: 'error', val: 'ERROR_TIMEOUT'})`.
 * @param {unknown} value
 * @param {'success' | 'pending' | 'run-condition-not-met' | {tag: string, val?: string}} [status]
 */
export function cell(value, status) {
  return { [CELL]: true, value, status };
}

/** @param {unknown} status */
function toStatus(status) {
  if (status === undefined || status === null) return undefined;
  if (typeof status === 'string' && CELL_STATUSES.includes(status)) return { tag: status };
  const s = /** @type {any} */ (status);
  if (s && CELL_STATUSES.includes(s.tag)) return { tag: s.tag };
  if (s && s.tag === 'error') return { tag: 'error', val: String(s.val ?? '') };
  throw new TypeError(`not a cell status: ${JSON.stringify(status)}; use 'success', 'pending', 'run-condition-not-met' or {tag: 'error', val: code}`);
}

/** @param {unknown} v @param {string} what */
function needBig(v, what) {
  if (typeof v !== 'bigint') {
    // The bindings take u64/s64 as BigInt; kiln-sdk converts authors' Numbers. A Number here
    // means something bypassed that conversion.
    throw new TypeError(`MockWorkspace: ${what} arrived as ${typeof v}, but the component bindings take u64/s64 as BigInt`);
  }
  return v;
}

/** @param {string} what @param {string} id */
const notFound = (what, id) => new ComponentError({ tag: 'not-found', val: `${what} ${id}` });
/** @param {string} message */
const invalid = (message) => new ComponentError({ tag: 'invalid', val: message });

/** @param {any} value a cell-value */
function isEmpty(value) {
  return !value || value.tag === 'null' || (value.tag === 'text' && value.val.trim() === '');
}

/** @param {any} value a cell-value, as text (the mock's `text`) */
function valueText(value) {
  switch (value?.tag) {
    case 'text':
    case 'json': return value.val;
    case 'number': return formatFloat(value.val);
    case 'boolean': return String(value.val);
    default: return '';
  }
}

/** @param {any} value a cell-value, as a plain value (null stays null) */
function plain(value) {
  if (!value) return undefined;
  if (value.tag === 'null') return null;
  if (value.tag === 'json') {
    try {
      return JSON.parse(value.val);
    } catch {
      return value.val;
    }
  }
  return value.val;
}

/**
 * An in-memory Clay workspace: build it, run a plugin against it with runAudit/runTransform,
 * then inspect what the plugin read, wrote, spent and logged.
 */
export class MockWorkspace {
  /**
   * An empty workspace (id 1) with 10,000 credits in its pool and the clock at DEFAULT_NOW.
   * @param {string} [name]
   */
  constructor(name = 'Acme') {
    // The workspace's data, in binding form where Clay's records have u64/s64 (kept as
    // numbers here, made BigInts where a record leaves through an interface). Internal.
    this.s = {
      workspace: { id: 1n, name, creditBalance: 10_000 },
      now: DEFAULT_NOW,
      nextId: 1,
      /** @type {string | undefined} */
      acting: undefined,
      /** @type {any[]} */ members: [],
      /** @type {any[]} every folder, workbook and table, trashed ones included */ resources: [],
      /** @type {Map<string, any>} */ workbooks: new Map(),
      /** @type {Map<string, {info: any, rows: any[], sources: any[]}>} */ tables: new Map(),
      /** @type {any[]} */ integrations: [],
      /** @type {any[]} */ types: [],
      /** @type {Array<{at: number, user?: string, pkg: string, table?: string, credits: number}>} */ ledger: [],
      spent: 0,
      /** @type {Map<string, string>} */ config: new Map(),
      /** @type {Array<[string, string]>} */ logs: [],
      /** @type {string[]} */ calls: [],
      /** @type {Map<string, {tag: string, val?: unknown}>} */ failures: new Map(),
    };
  }

  // ---- the workspace, as a test sets it up and reads it back ----

  /** The workspace's id (what an audit scope or a table names). */
  get workspaceId() {
    return Number(this.s.workspace.id);
  }

  /** The mock's clock (ms): new resources and credit use are stamped with it. */
  now() {
    return this.s.now;
  }

  /** @param {number} now */
  setNow(now) {
    this.s.now = now;
  }

  /** Credits left in the pool; an enrichment run that would overdraw it spends nothing. */
  creditBalance() {
    return this.s.workspace.creditBalance;
  }

  /** @param {number} credits */
  setCreditBalance(credits) {
    this.s.workspace.creditBalance = credits;
  }

  /** Credits spent through tables.runColumn since the workspace was made. */
  creditsSpent() {
    return this.s.spent;
  }

  /**
   * A plugin setting, as the operator's `-c key=value` would give it.
   * @param {string} key
   * @param {string | number | boolean} value
   */
  setConfig(key, value) {
    this.s.config.set(key, String(value));
  }

  /** What the plugin logged, as [level, message] pairs. */
  logs() {
    return this.s.logs.map(([l, m]) => /** @type {[string, string]} */ ([l, m]));
  }

  /** Every Clay call made so far, as `"interface.function"`, in order. */
  calls() {
    return [...this.s.calls];
  }

  /**
   * Makes every later call to `call` (e.g. `"credits.integrations"`) fail with `error`.
   * @param {string} call
   * @param {ClayError | {tag: string, val?: unknown}} error
   */
  fail(call, error) {
    const payload = error instanceof ClayError ? error.payload : { tag: error.tag, val: error.val };
    this.s.failures.set(call, payload);
  }

  /** @param {string} prefix @private */
  id(prefix) {
    return `${prefix}_${String(this.s.nextId++).padStart(6, '0')}`;
  }

  /**
   * Adds a member and returns their user id.
   * @param {string} email
   * @param {string} name
   * @param {'admin' | 'member' | 'viewer' | 'sales-rep'} role
   * @param {'active' | 'pending' | 'removed'} status
   */
  addMember(email, name, role, status) {
    if (!(role in ROLE_NAMES)) throw new TypeError(`unknown role ${role}`);
    if (!MEMBER_STATUSES.includes(status)) throw new TypeError(`unknown member status ${status}`);
    const id = String(1000 + this.s.members.length);
    // A pending invitation has no user id in Clay.
    this.s.members.push({ userId: status === 'pending' ? undefined : id, email, name, role, roleName: ROLE_NAMES[role], status });
    return id;
  }

  /**
   * The member whose credits enrichment runs spend and who creates what is created.
   * @param {string} userId
   */
  actAs(userId) {
    this.s.acting = userId;
  }

  /** @param {string} id @param {string} [name] @private */
  ensureType(id, name) {
    const t = this.s.types.find((t) => t.id === id);
    if (t) {
      if (name !== undefined) t.name = name;
    } else {
      this.s.types.push({ id, name: name ?? id, providerName: name ?? id, authenticationType: 'api_key' });
    }
  }

  /**
   * Registers an integration type (`actionPackageId`) with a display name.
   * @param {string} id
   * @param {string} name
   */
  addIntegrationType(id, name) {
    this.ensureType(id, name);
  }

  /**
   * Adds an integration of type `typeId` authenticated by `owner`; returns its id (`aa_…`).
   * @param {string} name
   * @param {string} typeId
   * @param {string | null} [owner]
   */
  addIntegration(name, typeId, owner) {
    this.ensureType(typeId);
    const id = this.id('aa');
    this.s.integrations.push({ id, name, typeId, ownerId: owner ?? undefined, shared: false, createdAt: this.s.now });
    return id;
  }

  /**
   * Adds a Clay-managed integration shared by the whole workspace (no owner).
   * @param {string} name
   * @param {string} typeId
   */
  addSharedIntegration(name, typeId) {
    const id = this.addIntegration(name, typeId);
    this.s.integrations[this.s.integrations.length - 1].shared = true;
    return id;
  }

  /** @param {string} kind @param {string} prefix @param {string} name @param {string | null | undefined} parent @private */
  addResource(kind, prefix, name, parent) {
    const id = this.id(prefix);
    this.s.resources.push({
      id, name, kind, parentId: parent ?? undefined, createdBy: this.s.acting,
      createdAt: this.s.now, updatedAt: this.s.now, deleted: false,
    });
    return id;
  }

  /**
   * Adds a folder (created by the acting member, now) and returns its id.
   * @param {string} name
   * @param {string | null} [parentFolderId]
   */
  addFolder(name, parentFolderId) {
    return this.addResource('folder', 'f', name, parentFolderId);
  }

  /**
   * Adds a workbook and returns its id.
   * @param {string} name
   * @param {string | null} [parentFolderId]
   * @param {boolean} [autoRun]
   */
  addWorkbook(name, parentFolderId, autoRun = false) {
    const id = this.addResource('workbook', 'wb', name, parentFolderId);
    this.s.workbooks.set(id, { id, name, workspaceId: this.s.workspace.id, parentFolderId: parentFolderId ?? undefined, autoRun });
    return id;
  }

  /**
   * Adds a spreadsheet table (in `workbookId`, or at the top level) with one text column per
   * name and a default view; returns the table id.
   * @param {string} name
   * @param {string | null | undefined} workbookId
   * @param {string[]} columns
   */
  addTable(name, workbookId, columns) {
    const id = this.addResource('table', 't', name, workbookId);
    const view = this.id('gv');
    const fields = columns.map((c) => ({ id: this.id('f'), name: c, kind: 'text', action: undefined }));
    const info = {
      id, name, kind: 'spreadsheet', workspaceId: this.s.workspace.id, workbookId: workbookId ?? undefined,
      firstViewId: view, views: [{ id: view, name: 'Default view' }], fields,
    };
    this.s.tables.set(id, { info, rows: [], sources: [] });
    return id;
  }

  /** @param {string} tableId @private */
  tableOf(tableId) {
    const t = this.s.tables.get(tableId);
    if (!t) throw new Error(`MockWorkspace: no table ${tableId}`);
    return t;
  }

  /**
   * Adds an enrichment column running `actionKey` of integration type `packageId` (with
   * integration `authAccountId`'s credentials), charging `creditCost` per row filled from the
   * `inputs` columns (names or ids). Returns the field id.
   * @param {string} tableId
   * @param {string} name
   * @param {string} actionKey
   * @param {string} packageId
   * @param {string | null | undefined} authAccountId
   * @param {number} creditCost
   * @param {string[]} inputs
   */
  addActionColumn(tableId, name, actionKey, packageId, authAccountId, creditCost, inputs) {
    this.ensureType(packageId);
    const id = this.id('f');
    const table = this.tableOf(tableId);
    const inputFieldIds = inputs.map((i) => {
      const f = fieldOf(table.info, i);
      if (!f) throw new Error(`MockWorkspace: no column ${i}`);
      return f;
    });
    table.info.fields.push({
      id, name, kind: 'action',
      action: { actionKey, packageId, authAccountId: authAccountId ?? undefined, creditCost, inputFieldIds },
    });
    return id;
  }

  /**
   * Adds a row from `{column: value}` (names or ids; `cell(value, status)` for a status) and
   * returns its id.
   * @param {string} tableId
   * @param {Record<string, unknown> | Array<[string, unknown]>} cells
   */
  addRow(tableId, cells = {}) {
    const id = this.id('r');
    const table = this.tableOf(tableId);
    const pairs = Array.isArray(cells) ? cells : Object.entries(cells);
    table.rows.push({
      id,
      cells: pairs.map(([column, v]) => {
        const fieldId = fieldOf(table.info, column);
        if (!fieldId) throw new Error(`MockWorkspace: table ${table.info.name} has no column ${column}`);
        const given = v && typeof v === 'object' && CELL in v ? /** @type {any} */ (v) : { value: v };
        return { fieldId, value: toCellValue(given.value, column), status: toStatus(given.status) };
      }),
      createdAt: this.s.now,
      updatedAt: this.s.now,
    });
    return id;
  }

  /**
   * Records credit use by `user` (or unattributed) on integration type `packageId` at `at`,
   * on no table: the workspace report counts it as unattributed.
   * @param {string | null | undefined} user
   * @param {string} packageId
   * @param {number} credits
   * @param {number} at
   */
  recordUsage(user, packageId, credits, at) {
    this.recordTableUsage(user, packageId, undefined, credits, at);
  }

  /**
   * Records credit use on a table: the workspace report puts it on the table's workbook (and
   * that workbook's folder), as Clay's does.
   * @param {string | null | undefined} user
   * @param {string} packageId
   * @param {string | null | undefined} tableId
   * @param {number} credits
   * @param {number} at
   */
  recordTableUsage(user, packageId, tableId, credits, at) {
    this.ensureType(packageId);
    this.s.ledger.push({ at, user: user ?? undefined, pkg: packageId, table: tableId ?? undefined, credits });
  }

  /**
   * Changes who created a resource and when.
   * @param {string} resourceId
   * @param {string | null | undefined} by
   * @param {number} at
   */
  setCreated(resourceId, by, at) {
    const r = this.s.resources.find((r) => r.id === resourceId);
    if (!r) throw new Error(`MockWorkspace: no resource ${resourceId}`);
    r.createdBy = by ?? undefined;
    r.createdAt = at;
    r.updatedAt = at;
  }

  /**
   * The id of a table's column, by name (any case) or id.
   * @param {string} tableId
   * @param {string} column
   */
  fieldId(tableId, column) {
    const t = this.s.tables.get(tableId);
    return t ? fieldOf(t.info, column) : undefined;
  }

  /**
   * The table's current rows, as Clay's `row` records.
   * @param {string} tableId
   */
  rows(tableId) {
    return structuredClone(this.tableOf(tableId).rows);
  }

  /**
   * A cell's current value by row id and column: plain (null for an empty cell), undefined
   * when the row, column or cell is missing.
   * @param {string} tableId
   * @param {string} rowId
   * @param {string} column
   */
  cell(tableId, rowId, column) {
    return plain(this.rawCell(tableId, rowId, column)?.value);
  }

  /**
   * A cell as Clay's `cell` record ({fieldId, value: {tag, val}, status}).
   * @param {string} tableId
   * @param {string} rowId
   * @param {string} column
   */
  rawCell(tableId, rowId, column) {
    const t = this.s.tables.get(tableId);
    if (!t) return undefined;
    const field = fieldOf(t.info, column);
    const row = t.rows.find((r) => r.id === rowId);
    const c = row?.cells.find((/** @type {any} */ c) => c.fieldId === field);
    return c && structuredClone(c);
  }

  /** Every resource (folders, workbooks, tables), trashed ones included. */
  resources() {
    return structuredClone(this.s.resources);
  }

  /**
   * Makes this workspace answer kiln-sdk's `clay` calls and `log`/config reads until the
   * returned function is called (for plugin logic called directly, outside the runners).
   * @param {{config?: Record<string, unknown>, capabilities?: string[]}} [options]
   * @returns {() => void} uninstalls it
   */
  install(options = {}) {
    const previous = swapRuntime({ interfaces: this.interfaces(options), origin: 'MockWorkspace' });
    return () => {
      swapRuntime(previous);
    };
  }

  /**
   * The workspace as component bindings: `{workspaces, folders, resources, workbooks, tables,
   * credits, log, config}`, each function taking and returning what componentize-js's would.
   * `capabilities` leaves out the Clay interfaces a narrow world would not import.
   * @param {{config?: Record<string, unknown>, capabilities?: string[]}} [options]
   */
  interfaces(options = {}) {
    const config = new Map(this.s.config);
    for (const [k, v] of Object.entries(options.config ?? {})) config.set(k, String(v));
    const wanted = options.capabilities;
    /** @type {Record<string, any>} */
    const out = {
      log: {
        /** @param {string} level @param {string} message */
        log: (level, message) => {
          if (!LEVELS.includes(level)) throw new TypeError(`"${level}" is not one of the cases of level`);
          this.s.logs.push([level, message]);
        },
      },
      config: {
        /** @param {string} key */
        get: (key) => config.get(key),
        all: () => [...config.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      },
    };
    for (const [iface, fns] of Object.entries(API)) {
      if (wanted && !wanted.includes(iface)) continue;
      /** @type {Record<string, Function>} */
      const bound = {};
      for (const [name, fn] of Object.entries(fns)) {
        const call = `${iface}.${name}`;
        bound[name] = (/** @type {unknown[]} */ ...args) => {
          this.s.calls.push(call);
          const failure = this.s.failures.get(call);
          if (failure) throw new ComponentError(structuredClone(failure));
          return structuredClone(/** @type {Function} */ (fn).apply(this, args));
        };
      }
      out[iface] = bound;
    }
    return out;
  }

  // ---- the Clay API's semantics, in binding form (BigInt u64/s64) ----

  /** @param {bigint} workspaceId @private */
  checkWorkspace(workspaceId) {
    if (needBig(workspaceId, 'workspaceId') !== this.s.workspace.id) throw notFound('workspace', String(workspaceId));
  }

  /** @param {string} id @param {string} kind @private */
  live(id, kind) {
    return this.s.resources.find((r) => r.id === id && r.kind === kind && !r.deleted);
  }

  /** @param {string} tableId @private */
  liveTable(tableId) {
    const t = this.s.tables.get(tableId);
    if (!t || !this.s.resources.some((r) => r.id === tableId && !r.deleted)) throw notFound('table', tableId);
    return t;
  }

  /** The resource and everything under it. @param {string} id @private */
  subtree(id) {
    const out = [id];
    for (let i = 0; i < out.length; i++) {
      for (const r of this.s.resources) if (r.parentId === out[i]) out.push(r.id);
    }
    return out;
  }

  /** @param {string[]} ids @param {boolean} permanent @private */
  removeResources(ids, permanent) {
    if (permanent) {
      this.s.resources = this.s.resources.filter((r) => !ids.includes(r.id));
      for (const id of ids) {
        this.s.tables.delete(id);
        this.s.workbooks.delete(id);
      }
    } else {
      for (const r of this.s.resources) if (ids.includes(r.id)) r.deleted = true;
    }
  }

  /** A resource record in binding form. @param {any} r @private */
  resourceOut(r) {
    return { ...r, createdAt: r.createdAt === undefined ? undefined : BigInt(r.createdAt), updatedAt: r.updatedAt === undefined ? undefined : BigInt(r.updatedAt) };
  }

  /** A row in binding form. @param {any} row @private */
  rowOut(row) {
    return { ...row, createdAt: row.createdAt === undefined ? undefined : BigInt(row.createdAt), updatedAt: row.updatedAt === undefined ? undefined : BigInt(row.updatedAt) };
  }

  /** An integration in binding form. @param {any} i @private */
  integrationOut(i) {
    return { ...i, createdAt: i.createdAt === undefined ? undefined : BigInt(i.createdAt) };
  }

  /** @param {{start: bigint, end: bigint}} range @private */
  inRange(range) {
    const start = Number(needBig(range?.start, 'range.start'));
    const end = Number(needBig(range?.end, 'range.end'));
    return this.s.ledger.filter((u) => u.at >= start && u.at < end);
  }

  /**
   * Clay's workspace report: what each folder (its workbooks as sub-entities) or top-level
   * workbook spent; spending on no table is unattributed.
   * @param {bigint} workspaceId
   * @param {{start: bigint, end: bigint}} range
   * @param {string[] | undefined} owners
   * @param {string[] | undefined} packages
   * @private
   */
  resourceReport(workspaceId, range, owners, packages) {
    this.checkWorkspace(workspaceId);
    if (needBig(range.end, 'range.end') < needBig(range.start, 'range.start')) throw invalid('the time range ends before it starts');
    const parent = (/** @type {string} */ id) => this.s.resources.find((r) => r.id === id)?.parentId;
    /** @type {Map<string, {spend: [number, number], subs: Map<string, [number, number]>}>} */
    const perEntity = new Map();
    /** @type {[number, number]} */
    const unattributed = [0, 0];
    const add = (/** @type {[number, number]} */ s, /** @type {number} */ credits) => {
      s[0] += credits;
      s[1] += 1;
    };
    const entity = (/** @type {string} */ id) => {
      let e = perEntity.get(id);
      if (!e) perEntity.set(id, (e = { spend: [0, 0], subs: new Map() }));
      return e;
    };
    for (const u of this.inRange(range)) {
      if (packages && !packages.includes(u.pkg)) continue;
      if (owners && !(u.user !== undefined && owners.includes(u.user))) continue;
      const workbook = u.table === undefined ? undefined : parent(u.table);
      if (workbook === undefined) {
        add(unattributed, u.credits);
        continue;
      }
      const folder = parent(workbook);
      if (folder !== undefined) {
        const e = entity(folder);
        add(e.spend, u.credits);
        if (!e.subs.has(workbook)) e.subs.set(workbook, [0, 0]);
        add(/** @type {[number, number]} */ (e.subs.get(workbook)), u.credits);
      } else {
        add(entity(workbook).spend, u.credits);
      }
    }
    const describe = (/** @type {string} */ id) => {
      const r = this.s.resources.find((r) => r.id === id);
      return r ? { name: r.name, kind: r.kind, isDeleted: r.deleted } : { name: id, kind: 'resource', isDeleted: true };
    };
    // Clay's report (and the Rust mock's BTreeMap) lists entities by id.
    const byId = (/** @type {[string, any]} */ [a], /** @type {[string, any]} */ [b]) => (a < b ? -1 : a > b ? 1 : 0);
    const entities = [...perEntity.entries()].sort(byId).map(([id, { spend, subs }]) => ({
      id, ...describe(id), credits: spend[0], actionExecutions: BigInt(spend[1]),
      subentities: [...subs.entries()].sort(byId).map(([sub, [credits, n]]) => ({
        id: sub, ...describe(sub), credits, actionExecutions: BigInt(n),
      })),
    }));
    return {
      range: { start: range.start, end: range.end },
      entities,
      unattributedCredits: unattributed[0],
      unattributedActionExecutions: BigInt(unattributed[1]),
    };
  }

  /** @param {string} account @private */
  checkIntegration(account) {
    const integration = this.s.integrations.find((i) => i.id === account);
    if (!integration) throw notFound('integration', account);
    const removed = integration.ownerId !== undefined && this.s.members.some((m) => m.userId === integration.ownerId && m.status === 'removed');
    if (removed) {
      throw new ComponentError({ tag: 'upstream', val: `integration ${account} was authenticated by a removed member; reconnect it with another member's credentials` });
    }
  }
}

/**
 * @param {any} info a table-info
 * @param {string} column
 * @returns {string | undefined}
 */
function fieldOf(info, column) {
  const byId = info.fields.find((/** @type {any} */ f) => f.id === column);
  if (byId) return byId.id;
  const lower = String(column).toLowerCase();
  return info.fields.find((/** @type {any} */ f) => f.name.toLowerCase() === lower)?.id;
}

/**
 * The Clay interfaces, in binding form: called with `this` the MockWorkspace.
 * @type {Record<string, Record<string, (this: any, ...args: any[]) => any>>}
 */
const API = {
  workspaces: {
    list() {
      return [this.s.workspace];
    },
  },
  folders: {
    create(workspaceId, name, parent) {
      this.checkWorkspace(workspaceId);
      if (!name.trim()) throw invalid('a folder needs a name');
      if (parent !== undefined && !this.live(parent, 'folder')) throw notFound('folder', parent);
      const taken = this.s.resources.some((/** @type {any} */ r) => !r.deleted && r.kind === 'folder' && r.parentId === parent && r.name === name);
      if (taken) throw new ComponentError({ tag: 'conflict', val: `a folder named \`${name}\` already exists there` });
      const id = this.addResource('folder', 'f', name, parent);
      return { id, name, workspaceId, parentFolderId: parent };
    },
    delete(workspaceId, folderIds, permanent) {
      this.checkWorkspace(workspaceId);
      const doomed = [];
      for (const id of folderIds) {
        if (!this.s.resources.some((/** @type {any} */ r) => r.id === id && r.kind === 'folder')) throw notFound('folder', id);
        doomed.push(...this.subtree(id));
      }
      this.removeResources(doomed, permanent);
    },
  },
  resources: {
    list(workspaceId, parent, kinds) {
      this.checkWorkspace(workspaceId);
      if (parent !== undefined && !this.live(parent.id, parent.kind)) throw notFound('resource', parent.id);
      const parentId = parent?.id;
      return this.s.resources
        .filter((/** @type {any} */ r) => !r.deleted && r.parentId === parentId && (kinds.length === 0 || kinds.includes(r.kind)))
        .map((/** @type {any} */ r) => this.resourceOut(r));
    },
    search(workspaceId, query) {
      this.checkWorkspace(workspaceId);
      const q = query.toLowerCase();
      return this.s.resources.filter((/** @type {any} */ r) => !r.deleted && r.name.toLowerCase().includes(q)).map((/** @type {any} */ r) => this.resourceOut(r));
    },
  },
  workbooks: {
    create(workspaceId, name, autoRun, parent) {
      this.checkWorkspace(workspaceId);
      if (parent !== undefined && !this.live(parent, 'folder')) throw notFound('folder', parent);
      const id = this.addWorkbook(name, parent, autoRun);
      return this.s.workbooks.get(id);
    },
    delete(workbookId) {
      if (!this.live(workbookId, 'workbook')) throw notFound('workbook', workbookId);
      this.removeResources(this.subtree(workbookId), true);
    },
  },
  tables: {
    get(tableId) {
      return this.liveTable(tableId).info;
    },
    recordIds(tableId, viewId) {
      const t = this.liveTable(tableId);
      if (!t.info.views.some((/** @type {any} */ v) => v.id === viewId)) throw notFound('view', viewId);
      return t.rows.map((/** @type {any} */ r) => r.id);
    },
    readRecords(tableId, recordIds) {
      if (recordIds.length > MAX_READ) throw invalid(`at most ${MAX_READ} records per read, got ${recordIds.length}`);
      const t = this.liveTable(tableId);
      return recordIds.flatMap((/** @type {string} */ id) => {
        const row = t.rows.find((/** @type {any} */ r) => r.id === id);
        return row ? [this.rowOut(row)] : [];
      });
    },
    addRows(tableId, rows) {
      if (rows.length === 0 || rows.length > MAX_ADD) throw invalid(`add between 1 and ${MAX_ADD} rows per call, got ${rows.length}`);
      const t = this.liveTable(tableId);
      // Validate everything before adding anything: a bad row adds none.
      for (const row of rows) {
        for (const c of row.cells) {
          if (!t.info.fields.some((/** @type {any} */ f) => f.id === c.fieldId)) throw invalid(`table \`${t.info.name}\` has no field ${c.fieldId}`);
        }
      }
      return rows.map((/** @type {any} */ n) => {
        const existing = n.id !== undefined ? t.rows.find((/** @type {any} */ r) => r.id === n.id) : undefined;
        if (existing) return this.rowOut(existing);
        const row = {
          id: n.id ?? this.id('r'),
          cells: n.cells.map((/** @type {any} */ c) => ({ fieldId: c.fieldId, value: c.value, status: undefined })),
          createdAt: this.s.now,
          updatedAt: this.s.now,
        };
        t.rows.push(row);
        return this.rowOut(row);
      });
    },
    deleteRows(tableId, recordIds) {
      const t = this.liveTable(tableId);
      t.rows = t.rows.filter((/** @type {any} */ r) => !recordIds.includes(r.id));
    },
    deleteAllRows(tableId, viewId) {
      const t = this.liveTable(tableId);
      if (viewId !== undefined && !t.info.views.some((/** @type {any} */ v) => v.id === viewId)) throw notFound('view', viewId);
      t.rows = [];
    },
    runColumn(tableId, fieldIds, target, force) {
      if (fieldIds.length === 0) throw invalid('name at least one enrichment column to run');
      const now = this.s.now;
      const actor = this.s.acting;
      const t = this.liveTable(tableId);
      const actions = fieldIds.map((/** @type {string} */ id) => {
        const field = t.info.fields.find((/** @type {any} */ f) => f.id === id);
        if (!field) throw invalid(`table \`${t.info.name}\` has no field ${id}`);
        if (field.kind !== 'action' || !field.action) throw invalid(`\`${field.name}\` (${id}) is not an enrichment column`);
        if (field.action.authAccountId !== undefined) this.checkIntegration(field.action.authAccountId);
        return [field.id, field.action];
      });
      let ids;
      let mode;
      if (target.tag === 'records') {
        ids = target.val;
        mode = 'individual';
      } else {
        if (!t.info.views.some((/** @type {any} */ v) => v.id === target.val.viewId)) throw notFound('view', target.val.viewId);
        ids = t.rows.map((/** @type {any} */ r) => r.id);
        if (target.val.numRecords !== undefined) ids = ids.slice(0, target.val.numRecords);
        mode = 'bulk';
      }
      // Work out the whole run first: one that would overdraw the pool spends nothing.
      const writes = [];
      for (const row of t.rows) {
        if (!ids.includes(row.id)) continue;
        const cells = [];
        let cost = 0;
        let charged = false;
        for (const [fieldId, action] of actions) {
          const current = row.cells.find((/** @type {any} */ c) => c.fieldId === fieldId);
          const done = !isEmpty(current?.value) && (current?.status === undefined || current.status.tag === 'success');
          if (done && !force) continue;
          const inputs = action.inputFieldIds.map((/** @type {string} */ f) => valueText(row.cells.find((/** @type {any} */ c) => c.fieldId === f)?.value));
          if (inputs.some((/** @type {string} */ i) => i.trim() === '')) {
            cells.push({ fieldId, value: { tag: 'null' }, status: { tag: 'run-condition-not-met' } });
            continue;
          }
          cells.push({ fieldId, value: { tag: 'text', val: `${action.actionKey}(${inputs.join(', ')})` }, status: { tag: 'success' } });
          cost += action.creditCost ?? 0;
          charged = true;
        }
        if (cells.length) writes.push({ row, cells, cost, charged });
      }
      const total = writes.reduce((sum, w) => sum + w.cost, 0);
      if (total > this.s.workspace.creditBalance) {
        throw new ComponentError({ tag: 'budget-exhausted', val: `the run needs ${formatFloat(total)} credits and the pool has ${formatFloat(this.s.workspace.creditBalance)}` });
      }
      let ran = 0;
      for (const { row, cells, charged } of writes) {
        for (const c of cells) {
          const at = row.cells.findIndex((/** @type {any} */ x) => x.fieldId === c.fieldId);
          if (at >= 0) row.cells[at] = c;
          else row.cells.push(c);
        }
        row.updatedAt = now;
        if (charged) ran += 1;
      }
      for (const { cells } of writes) {
        for (const c of cells.filter((c) => c.status.tag === 'success')) {
          const action = actions.find((/** @type {[string, any]} */ [f]) => f === c.fieldId)?.[1];
          if (action) this.s.ledger.push({ at: now, user: actor, pkg: action.packageId, table: tableId, credits: action.creditCost ?? 0 });
        }
      }
      this.s.workspace.creditBalance -= total;
      this.s.spent += total;
      if (ran === 0) return { mode: 'none', recordCount: 0, creditsSpent: 0 };
      return { mode, recordCount: ran, creditsSpent: total };
    },
    countRows(tableId) {
      return BigInt(this.liveTable(tableId).rows.length);
    },
    listSources(tableId) {
      return this.liveTable(tableId).sources;
    },
    addWebhookSource(tableId, name) {
      const t = this.liveTable(tableId);
      const id = this.id('s');
      const source = { id, name, tableId, kind: 'webhook', url: `https://api.clay.com/v3/sources/webhook/${id}`, recordsReceived: 0n };
      t.sources.push(source);
      return source;
    },
    deleteSource(sourceId) {
      // The mock does not track which source brought a row in: nothing more to delete.
      for (const t of this.s.tables.values()) {
        const i = t.sources.findIndex((/** @type {any} */ s) => s.id === sourceId);
        if (i >= 0) {
          t.sources.splice(i, 1);
          return;
        }
      }
      throw notFound('source', sourceId);
    },
  },
  credits: {
    permissions(workspaceId) {
      this.checkWorkspace(workspaceId);
      return this.s.members;
    },
    workspaceReport(workspaceId, range) {
      return this.resourceReport(workspaceId, range, undefined, undefined);
    },
    userReport(workspaceId, range, ownerIds) {
      return this.resourceReport(workspaceId, range, ownerIds, undefined);
    },
    memberUsage(workspaceId, range, userIds) {
      // The way the host computes it: one filtered report each.
      return userIds.map((/** @type {string} */ id) => {
        const r = this.resourceReport(workspaceId, range, [id], undefined);
        return {
          userId: id,
          credits: r.entities.reduce((/** @type {number} */ s, /** @type {any} */ e) => s + e.credits, 0) + r.unattributedCredits,
          actionExecutions: r.entities.reduce((/** @type {bigint} */ s, /** @type {any} */ e) => s + e.actionExecutions, 0n) + r.unattributedActionExecutions,
        };
      });
    },
    integrationReport(workspaceId, range) {
      this.checkWorkspace(workspaceId);
      /** @type {Map<string, Map<string | undefined, [number, number]>>} */
      const perPkg = new Map();
      for (const u of this.inRange(range)) {
        if (!perPkg.has(u.pkg)) perPkg.set(u.pkg, new Map());
        const users = /** @type {Map<string | undefined, [number, number]>} */ (perPkg.get(u.pkg));
        if (!users.has(u.user)) users.set(u.user, [0, 0]);
        const e = /** @type {[number, number]} */ (users.get(u.user));
        e[0] += u.credits;
        e[1] += 1;
      }
      // As the Rust mock's BTreeMaps: packages by id, a package's unattributed use first.
      const byKey = (/** @type {any} */ a, /** @type {any} */ b) => (a[0] === b[0] ? 0 : a[0] === undefined ? -1 : b[0] === undefined ? 1 : a[0] < b[0] ? -1 : 1);
      const entities = [...perPkg.entries()].sort(byKey).map(([pkg, users]) => {
        const subentities = [...users.entries()].sort(byKey).map(([user, [credits, n]]) => {
          const m = user === undefined ? undefined : this.s.members.find((/** @type {any} */ m) => m.userId === user);
          return {
            id: user ?? '',
            name: user === undefined ? 'unattributed' : m?.name ?? user,
            kind: 'user',
            isDeleted: user === undefined ? false : !m || m.status === 'removed',
            credits,
            actionExecutions: BigInt(n),
          };
        });
        return {
          id: pkg,
          name: this.s.types.find((/** @type {any} */ t) => t.id === pkg)?.name ?? pkg,
          kind: 'integration',
          isDeleted: false,
          credits: subentities.reduce((s, e) => s + e.credits, 0),
          actionExecutions: subentities.reduce((s, e) => s + e.actionExecutions, 0n),
          subentities,
        };
      });
      return { range: { start: range.start, end: range.end }, entities, unattributedCredits: 0, unattributedActionExecutions: 0n };
    },
    integrationSpecificReport(workspaceId, range, integrationIds) {
      return this.resourceReport(workspaceId, range, undefined, integrationIds);
    },
    userResources(workspaceId, ownerIds) {
      this.checkWorkspace(workspaceId);
      return this.s.resources.filter((/** @type {any} */ r) => r.createdBy !== undefined && ownerIds.includes(r.createdBy)).map((/** @type {any} */ r) => this.resourceOut(r));
    },
    integrations(workspaceId) {
      this.checkWorkspace(workspaceId);
      return this.s.integrations.map((/** @type {any} */ i) => this.integrationOut(i));
    },
    getIntegrationType(typeId) {
      const t = this.s.types.find((/** @type {any} */ t) => t.id === typeId);
      if (!t) throw notFound('integration type', typeId);
      return t;
    },
    listIntegrationTypes() {
      return this.s.types;
    },
  },
};

/**
 * @typedef {{rowId: string, kind: 'unchanged' | 'set' | 'delete' | 'error',
 *   cells?: Record<string, unknown>, message?: string}} RowResult
 */

/**
 * Runs a transformer over a table as kiln would: batches encoded as the host does, the
 * component's `transform` code, the outcome buffer read back as the host reads it. Returns
 * one result per row, in order, cells by column name; unless `dryRun`, the effects are
 * applied to the workspace's table.
 *
 * `table` is a table id of `options.workspace`, or a quick table: `{name?, columns, rows}`,
 * rows as `{column: value}` (then `result.workspace` is the workspace made for it).
 * @param {any} Plugin the plugin class (or an instance of it)
 * @param {string | {name?: string, columns: string[], rows?: Array<Record<string, unknown>>}} table
 * @param {{workspace?: MockWorkspace, config?: Record<string, unknown>, columns?: string[],
 *   batchSize?: number, dryRun?: boolean, capabilities?: string[]}} [options]
 * @returns {RowResult[] & {workspace: MockWorkspace, tableId: string}}
 */
export function runTransform(Plugin, table, options = {}) {
  const ws = options.workspace ?? new MockWorkspace();
  let tableId;
  if (typeof table === 'string') {
    tableId = table;
  } else {
    tableId = ws.addTable(table.name ?? 'Leads', undefined, table.columns);
    for (const row of table.rows ?? []) ws.addRow(tableId, row);
  }
  const t = /** @type {any} */ (ws).tableOf(tableId);
  // The host sends only the fields the plugin may see (kiln.toml's [capabilities.tables]).
  const visible = options.columns
    ? t.info.fields.filter((/** @type {any} */ f) => options.columns?.some((c) => c === f.id || c.toLowerCase() === f.name.toLowerCase()))
    : t.info.fields;
  const position = new Map(visible.map((/** @type {any} */ f, /** @type {number} */ i) => [f.id, i]));
  const info = { ...structuredClone(t.info), fields: structuredClone(visible) };
  const batchSize = Math.max(1, options.batchSize ?? 1000);
  const dryRun = options.dryRun ?? false;
  const state = typeof Plugin === 'function' ? { Plugin } : { Plugin: Plugin.constructor, instance: Plugin };
  const rows = [...t.rows];
  /** @type {RowResult[]} */
  const results = [];
  const restore = ws.install({ config: options.config, capabilities: options.capabilities ?? ['tables'] });
  try {
    for (let start = 0, n = 0; start < rows.length; start += batchSize, n++) {
      const chunk = rows.slice(start, start + batchSize);
      const buffer = encodeBatch(
        chunk.map((row) => {
          /** @type {any[]} */
          const cells = new Array(visible.length).fill(undefined);
          for (const c of row.cells) {
            const i = position.get(c.fieldId);
            if (i !== undefined && cells[i] === undefined) cells[i] = { value: c.value, status: c.status };
          }
          return { id: row.id, createdAt: row.createdAt, updatedAt: row.updatedAt, cells };
        }),
        visible.length,
      );
      const ctx = { workspaceId: ws.s.workspace.id, table: info, batchIndex: n, totalRows: BigInt(rows.length), dryRun };
      const out = runTransformer(state, buffer, structuredClone(ctx));
      const outcomes = decodeOutcomes(out, chunk.length);
      chunk.forEach((row, i) => {
        const o = outcomes[i] ?? { kind: 'error', message: 'the plugin returned no outcome for this row' };
        if (o.kind === 'set') {
          /** @type {Record<string, unknown>} */
          const cells = {};
          for (const [f, value] of o.cells) {
            if (f >= visible.length) throw new Error(`the plugin set field #${f}, past the batch's ${visible.length} fields`);
            cells[visible[f].name] = plain(value);
          }
          results.push({ rowId: row.id, kind: 'set', cells });
          if (!dryRun) {
            for (const [f, value] of o.cells) {
              const at = row.cells.findIndex((/** @type {any} */ c) => c.fieldId === visible[f].id);
              const next = { fieldId: visible[f].id, value, status: undefined };
              if (at >= 0) row.cells[at] = next;
              else row.cells.push(next);
            }
            row.updatedAt = ws.now();
          }
        } else if (o.kind === 'error') {
          results.push({ rowId: row.id, kind: 'error', message: o.message });
        } else {
          results.push({ rowId: row.id, kind: o.kind });
          if (o.kind === 'delete' && !dryRun) t.rows = t.rows.filter((/** @type {any} */ r) => r.id !== row.id);
        }
      });
    }
  } finally {
    restore();
  }
  Object.defineProperty(results, 'workspace', { value: ws, enumerable: false });
  Object.defineProperty(results, 'tableId', { value: tableId, enumerable: false });
  return /** @type {any} */ (results);
}

/**
 * Runs an auditor against the workspace as kiln would (the component's `audit` code, the
 * scope in binding form) and returns its Report; a failed audit throws the ClayError the
 * host would get.
 * @param {any} Plugin the plugin class (or an instance of it)
 * @param {{workspace?: MockWorkspace, config?: Record<string, unknown>, now?: number,
 *   periodDays?: number, period?: {start: number, end: number}, capabilities?: string[]}} [options]
 * @returns {Report}
 */
export function runAudit(Plugin, options = {}) {
  const ws = options.workspace ?? new MockWorkspace();
  const now = options.now ?? ws.now();
  const period = options.period ?? { start: now - (options.periodDays ?? 90) * DAY_MS, end: now };
  const scope = { workspaceId: ws.s.workspace.id, period: { start: BigInt(period.start), end: BigInt(period.end) }, now: BigInt(now) };
  const state = typeof Plugin === 'function' ? { Plugin } : { Plugin: Plugin.constructor, instance: Plugin };
  const restore = ws.install({ config: options.config, capabilities: options.capabilities });
  try {
    return Report.from(toNumbers(runAuditor(state, scope)));
  } finally {
    restore();
  }
}

export { ClayError };
