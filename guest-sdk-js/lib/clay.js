// Clay's API, one object per capability, with the names of the `clay:api` WIT imports in
// camelCase (as the component bindings spell them): `clay.credits.memberUsage(...)`.
//
// Each call goes to the interface kiln bound (or a MockWorkspace's under node). Arguments are
// checked and converted here (Numbers to BigInt for u64/s64, null to undefined for options),
// results come back with Numbers for every u64/s64, and a clay-error the import throws is
// rethrown as a ClayError. The argument kinds below are the WIT signatures in wit/clay.wit.

import { ClayError } from './errors.js';
import { runtime } from './runtime.js';
import { toNumbers, toOption, toRange, toS64, toU64 } from './wit.js';

/** Argument converters by the WIT type they stand for. */
const ARG = {
  /** @param {any} v @param {string} n */ u64: (v, n) => toU64(v, n),
  /** @param {any} v @param {string} n */ range: (v, n) => toRange(v, n),
  /** @param {any} v */ option: (v) => toOption(v),
  /** @param {any} v @param {string} n */ strings: (v, n) => strings(v, n),
  /** @param {any} v @param {string} n */ string: (v, n) => string(v, n),
  /** @param {any} v @param {string} n */ bool: (v, n) => bool(v, n),
  /** @param {any} v @param {string} n */ target: (v, n) => runTarget(v, n),
  /** @param {any} v @param {string} n */ parent: (v, n) => resourceRef(v, n),
  /** @param {any} v */ kinds: (v) => (v == null ? [] : Array.from(v)),
  /** @param {any} v @param {string} n */ newRows: (v, n) => newRows(v, n),
};

/**
 * Every import of clay:api 0.2.0, as [function, [parameter, kind]...].
 * @type {Record<string, Record<string, Array<[string, keyof typeof ARG]>>>}
 */
const SIGNATURES = {
  workspaces: {
    list: [],
  },
  folders: {
    create: [['workspaceId', 'u64'], ['name', 'string'], ['parentFolderId', 'option']],
    delete: [['workspaceId', 'u64'], ['folderIds', 'strings'], ['permanent', 'bool']],
  },
  resources: {
    list: [['workspaceId', 'u64'], ['parent', 'parent'], ['kinds', 'kinds']],
    search: [['workspaceId', 'u64'], ['query', 'string']],
  },
  workbooks: {
    create: [['workspaceId', 'u64'], ['name', 'string'], ['autoRun', 'bool'], ['parentFolderId', 'option']],
    delete: [['workbookId', 'string']],
  },
  tables: {
    get: [['tableId', 'string']],
    recordIds: [['tableId', 'string'], ['viewId', 'string']],
    readRecords: [['tableId', 'string'], ['recordIds', 'strings']],
    addRows: [['tableId', 'string'], ['rows', 'newRows']],
    deleteRows: [['tableId', 'string'], ['recordIds', 'strings']],
    deleteAllRows: [['tableId', 'string'], ['viewId', 'option']],
    runColumn: [['tableId', 'string'], ['fieldIds', 'strings'], ['target', 'target'], ['force', 'bool']],
    countRows: [['tableId', 'string']],
    listSources: [['tableId', 'string']],
    addWebhookSource: [['tableId', 'string'], ['name', 'string']],
    deleteSource: [['sourceId', 'string'], ['deleteRecords', 'bool']],
  },
  credits: {
    permissions: [['workspaceId', 'u64']],
    workspaceReport: [['workspaceId', 'u64'], ['range', 'range']],
    userReport: [['workspaceId', 'u64'], ['range', 'range'], ['ownerIds', 'strings']],
    memberUsage: [['workspaceId', 'u64'], ['range', 'range'], ['userIds', 'strings']],
    integrationReport: [['workspaceId', 'u64'], ['range', 'range']],
    integrationSpecificReport: [['workspaceId', 'u64'], ['range', 'range'], ['integrationIds', 'strings']],
    userResources: [['workspaceId', 'u64'], ['ownerIds', 'strings']],
    integrations: [['workspaceId', 'u64']],
    getIntegrationType: [['typeId', 'string']],
    listIntegrationTypes: [],
  },
};

/** The capabilities a manifest may list under [capabilities], as named in kiln.toml. */
export const CAPABILITIES = Object.freeze(Object.keys(SIGNATURES));

/**
 * @param {unknown} v
 * @param {string} name
 * @returns {string}
 */
function string(v, name) {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string, got ${describeValue(v)}`);
  return v;
}

/**
 * @param {unknown} v
 * @param {string} name
 */
function bool(v, name) {
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be true or false, got ${describeValue(v)}`);
  return v;
}

/**
 * @param {unknown} v
 * @param {string} name
 * @returns {string[]}
 */
function strings(v, name) {
  if (v == null || typeof v === 'string' || typeof (/** @type {any} */ (v))[Symbol.iterator] !== 'function') {
    throw new TypeError(`${name} must be a list of strings, got ${describeValue(v)}`);
  }
  const out = Array.from(/** @type {Iterable<unknown>} */ (v));
  out.forEach((s, i) => string(s, `${name}[${i}]`));
  return /** @type {string[]} */ (out);
}

/**
 * @param {any} v
 * @param {string} name
 */
function resourceRef(v, name) {
  if (v == null) return undefined;
  return { id: string(v.id, `${name}.id`), kind: string(v.kind, `${name}.kind`) };
}

/**
 * A run-target: `{tag: 'records', val: ids}` or `{tag: 'view-top', val: {viewId, numRecords}}`.
 * @param {any} v
 * @param {string} name
 */
function runTarget(v, name) {
  if (v?.tag === 'records') return { tag: 'records', val: strings(v.val, `${name}.val`) };
  if (v?.tag === 'view-top') {
    const top = v.val ?? {};
    const n = toOption(top.numRecords);
    if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > 0xffffffff)) {
      throw new RangeError(`${name}.val.numRecords must be a u32, got ${n}`);
    }
    return { tag: 'view-top', val: { viewId: string(top.viewId, `${name}.val.viewId`), numRecords: n } };
  }
  throw new TypeError(`${name} must be {tag: 'records', val: [ids]} or {tag: 'view-top', val: {viewId, numRecords}}`);
}

/**
 * New rows: `{id?, cells: [{fieldId, value: {tag, val}}]}`.
 * @param {any} v
 * @param {string} name
 */
function newRows(v, name) {
  if (!Array.isArray(v)) throw new TypeError(`${name} must be a list of {id?, cells}`);
  return v.map((row, i) => ({
    id: toOption(row?.id),
    cells: Array.from(row?.cells ?? [], (c) => ({ fieldId: string(c?.fieldId, `${name}[${i}].cells[].fieldId`), value: c.value })),
  }));
}

/** @param {unknown} v */
function describeValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  return v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);
}

/**
 * Calls `iface.fn` on the bound interfaces with converted arguments.
 * @param {string} iface
 * @param {string} fn
 * @param {Array<[string, keyof typeof ARG]>} params
 * @param {unknown[]} args
 */
function call(iface, fn, params, args) {
  const rt = runtime();
  if (!rt) {
    throw new Error(
      `kiln-sdk: clay.${iface}.${fn} was called outside kiln with no MockWorkspace. ` +
        `In a test, run the plugin with runAudit/runTransform from 'kiln-sdk/testing.js', ` +
        `or call workspace.install() first.`,
    );
  }
  const bound = rt.interfaces[iface];
  if (!bound) {
    // kiln imports only the interfaces kiln.toml asks for, so this one is not in the component.
    throw new ClayError(
      'denied',
      `the \`${iface}\` capability is not in this plugin's kiln.toml: add \`${iface} = "read"\` ` +
        `(or "write") under [capabilities] to call clay.${iface}.${fn}`,
    );
  }
  const converted = params.map(([name, kind], i) => ARG[kind](args[i], `clay.${iface}.${fn}: ${name}`));
  let result;
  try {
    result = bound[fn](...converted);
  } catch (e) {
    throw asClayError(e);
  }
  return toNumbers(result, `clay.${iface}.${fn}'s result`);
}

/**
 * What an import threw, as a ClayError when it is a clay-error (componentize-js throws a
 * ComponentError, which is not an Error, with the variant in `payload`).
 * @param {unknown} e
 * @returns {unknown}
 */
export function asClayError(e) {
  if (e instanceof ClayError) return e;
  const payload = e && typeof e === 'object' ? /** @type {any} */ (e).payload : undefined;
  if (payload && typeof payload.tag === 'string') return ClayError.fromPayload(payload);
  return e;
}

/** @type {Record<string, Record<string, Function>>} */
const facade = {};
for (const [iface, fns] of Object.entries(SIGNATURES)) {
  /** @type {Record<string, Function>} */
  const obj = {};
  for (const [fn, params] of Object.entries(fns)) {
    obj[fn] = (/** @type {unknown[]} */ ...args) => call(iface, fn, params, args);
  }
  facade[iface] = obj;
}

/** Members one `memberUsage` call takes (the host's cap). */
export const MEMBER_USAGE_BATCH = 500;

/**
 * What each member with a user id spent in `range`, keyed by user id: memberUsage in calls of
 * at most 500. Pending invitations (no user id) are left out.
 * @param {number} workspaceId
 * @param {{start: number, end: number}} range
 * @param {Array<{userId?: string}>} members
 * @returns {Map<string, {userId: string, credits: number, actionExecutions: number}>}
 */
facade.credits.spendByMember = function spendByMember(workspaceId, range, members) {
  const ids = members.map((m) => m.userId).filter((id) => id !== undefined && id !== null);
  const out = new Map();
  for (let i = 0; i < ids.length; i += MEMBER_USAGE_BATCH) {
    for (const usage of facade.credits.memberUsage(workspaceId, range, ids.slice(i, i + MEMBER_USAGE_BATCH))) {
      out.set(usage.userId, usage);
    }
  }
  return out;
};

/** Clay's bulk-fetch limit per request. */
export const READ_CHUNK = 200;

/**
 * Whole-workspace and whole-table reads that several plugins need (guest-sdk/src/walk.rs).
 */
export const walk = Object.freeze({
  READ_CHUNK,
  /**
   * Every table in the workspace, walking the resource tree level by level.
   * @param {number} workspaceId
   */
  allTables(workspaceId) {
    const found = [];
    const seen = new Set();
    /** @type {Array<{id: string, kind: string} | undefined>} */
    const frontier = [undefined];
    while (frontier.length) {
      const parent = frontier.pop();
      for (const r of facade.resources.list(workspaceId, parent, [])) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        if (r.kind === 'table') found.push(facade.tables.get(r.id));
        else frontier.push({ id: r.id, kind: r.kind });
      }
    }
    return found;
  },
  /**
   * Every row of a table's view, in insertion order.
   * @param {string} tableId
   * @param {string} viewId
   */
  allRows(tableId, viewId) {
    const ids = facade.tables.recordIds(tableId, viewId);
    const rows = [];
    for (let i = 0; i < ids.length; i += READ_CHUNK) {
      rows.push(...facade.tables.readRecords(tableId, ids.slice(i, i + READ_CHUNK)));
    }
    return rows;
  },
  /**
   * The action columns of `tables` that run with integration `integrationId`'s credentials.
   * @param {Array<{id: string, name: string, fields: Array<any>}>} tables
   * @param {string} integrationId
   */
  columnsUsing(tables, integrationId) {
    const out = [];
    for (const t of tables) {
      for (const f of t.fields) {
        if (f.kind === 'action' && f.action?.authAccountId === integrationId) {
          out.push({ tableId: t.id, tableName: t.name, fieldId: f.id, fieldName: f.name });
        }
      }
    }
    return out;
  },
});

/**
 * Clay's API: `clay.workspaces`, `clay.folders`, `clay.resources`, `clay.workbooks`,
 * `clay.tables`, `clay.credits`, each function as in wit/clay.wit.
 */
export const clay = /** @type {any} */ (Object.freeze(facade));
