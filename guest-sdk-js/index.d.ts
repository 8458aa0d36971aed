// Types for kiln-sdk (hand-written; the modules are plain JavaScript with JSDoc).
//
// Clay's records are those of wit/types.wit in camelCase, as the component bindings give
// them, except that every u64/s64 (ids, counts, timestamps in ms) is a number: the SDK
// converts, and throws a RangeError rather than round a value past Number.MAX_SAFE_INTEGER.
// Variants are `{tag, val}`; enums are their kebab-case names; an option is `T | undefined`.

// ---- Clay's records ----

/** Milliseconds since the Unix epoch, UTC. */
export type Timestamp = number;

/** A half-open interval `[start, end)`. */
export interface TimeRange {
  start: Timestamp;
  end: Timestamp;
}

export type CellValue =
  | { tag: 'null' }
  | { tag: 'text'; val: string }
  | { tag: 'number'; val: number }
  | { tag: 'boolean'; val: boolean }
  | { tag: 'json'; val: string };

export type CellStatus =
  | { tag: 'success' }
  | { tag: 'pending' }
  | { tag: 'run-condition-not-met' }
  | { tag: 'error'; val: string };

export interface Cell {
  fieldId: string;
  value: CellValue;
  status?: CellStatus;
}

/** A record (`r_…`). */
export interface RowRecord {
  id: string;
  cells: Cell[];
  createdAt?: Timestamp;
  updatedAt?: Timestamp;
}

export interface CellInput {
  fieldId: string;
  value: CellValue;
}

export interface NewRow {
  id?: string;
  cells: CellInput[];
}

export type FieldKind = 'text' | 'number' | 'url' | 'date' | 'formula' | 'action' | 'source';

export interface ActionConfig {
  actionKey: string;
  packageId: string;
  authAccountId?: string;
  creditCost?: number;
  inputFieldIds: string[];
}

/** A column (`f_…`). */
export interface Field {
  id: string;
  name: string;
  kind: FieldKind;
  action?: ActionConfig;
}

export interface View {
  id: string;
  name: string;
}

export type TableKind = 'spreadsheet' | 'company' | 'people' | 'jobs';

/** A table (`t_…`) with its fields and views. */
export interface TableInfo {
  id: string;
  name: string;
  kind: TableKind;
  workspaceId: number;
  workbookId?: string;
  firstViewId?: string;
  views: View[];
  fields: Field[];
}

export interface Workspace {
  id: number;
  name: string;
  creditBalance: number;
}

export interface Folder {
  id: string;
  name: string;
  workspaceId: number;
  parentFolderId?: string;
}

export interface Workbook {
  id: string;
  name: string;
  workspaceId: number;
  parentFolderId?: string;
  autoRun: boolean;
}

export type ResourceKind = 'folder' | 'workbook' | 'table';

export interface ResourceRef {
  id: string;
  kind: ResourceKind;
}

export interface Resource {
  id: string;
  name: string;
  kind: ResourceKind;
  parentId?: string;
  createdBy?: string;
  createdAt?: Timestamp;
  updatedAt?: Timestamp;
  deleted: boolean;
}

export type Role = 'admin' | 'member' | 'viewer' | 'sales-rep';
export type MemberStatus = 'active' | 'pending' | 'removed';

export interface Member {
  /** Clay's numeric user id, as text; undefined for a pending invitation. */
  userId?: string;
  email: string;
  name: string;
  role: Role;
  roleName: string;
  status: MemberStatus;
}

export interface MemberCredits {
  userId: string;
  credits: number;
  actionExecutions: number;
}

export interface CreditSubentity {
  id: string;
  name: string;
  kind: string;
  isDeleted: boolean;
  credits: number;
  actionExecutions: number;
}

export interface CreditEntity extends CreditSubentity {
  subentities: CreditSubentity[];
}

export interface CreditReport {
  range: TimeRange;
  entities: CreditEntity[];
  unattributedCredits: number;
  unattributedActionExecutions: number;
}

export interface Integration {
  id: string;
  name: string;
  typeId: string;
  ownerId?: string;
  shared: boolean;
  createdAt?: Timestamp;
}

export interface IntegrationType {
  id: string;
  name: string;
  providerName: string;
  authenticationType: string;
}

export interface Source {
  id: string;
  name: string;
  tableId: string;
  kind: string;
  url?: string;
  recordsReceived: number;
}

export type RunTarget =
  | { tag: 'records'; val: string[] }
  | { tag: 'view-top'; val: { viewId: string; numRecords?: number } };

export interface RunResult {
  mode: 'none' | 'individual' | 'bulk';
  recordCount: number;
  creditsSpent: number;
}

/** What a transformer is told about the batch it gets. */
export interface TransformContext {
  workspaceId: number;
  /** The table, with only the fields this plugin may see, in the order of every row's cells. */
  table: TableInfo;
  batchIndex: number;
  /** Rows in the whole run. */
  totalRows: number;
  dryRun: boolean;
}

export interface AuditScope {
  workspaceId: number;
  /** The period the audit looks at (e.g. the last 90 days). */
  period: TimeRange;
  /** The host's clock when the audit started. */
  now: Timestamp;
}

// ---- Clay's API ----

/** Ids and counts: a number, or a BigInt past Number.MAX_SAFE_INTEGER. */
type U64 = number | bigint;

export interface Clay {
  workspaces: {
    list(): Workspace[];
  };
  folders: {
    create(workspaceId: U64, name: string, parentFolderId?: string | null): Folder;
    delete(workspaceId: U64, folderIds: string[], permanent: boolean): void;
  };
  resources: {
    list(workspaceId: U64, parent?: ResourceRef | null, kinds?: ResourceKind[]): Resource[];
    search(workspaceId: U64, query: string): Resource[];
  };
  workbooks: {
    create(workspaceId: U64, name: string, autoRun: boolean, parentFolderId?: string | null): Workbook;
    delete(workbookId: string): void;
  };
  tables: {
    get(tableId: string): TableInfo;
    recordIds(tableId: string, viewId: string): string[];
    /** At most 200 ids per call. */
    readRecords(tableId: string, recordIds: string[]): RowRecord[];
    /** At most 50 rows per call. */
    addRows(tableId: string, rows: NewRow[]): RowRecord[];
    deleteRows(tableId: string, recordIds: string[]): void;
    deleteAllRows(tableId: string, viewId?: string | null): void;
    runColumn(tableId: string, fieldIds: string[], target: RunTarget, force: boolean): RunResult;
    countRows(tableId: string): number;
    listSources(tableId: string): Source[];
    addWebhookSource(tableId: string, name: string): Source;
    deleteSource(sourceId: string, deleteRecords: boolean): void;
  };
  credits: {
    permissions(workspaceId: U64): Member[];
    workspaceReport(workspaceId: U64, range: TimeRange): CreditReport;
    userReport(workspaceId: U64, range: TimeRange, ownerIds: string[]): CreditReport;
    /** At most 500 ids per call; see spendByMember. */
    memberUsage(workspaceId: U64, range: TimeRange, userIds: string[]): MemberCredits[];
    integrationReport(workspaceId: U64, range: TimeRange): CreditReport;
    integrationSpecificReport(workspaceId: U64, range: TimeRange, integrationIds: string[]): CreditReport;
    userResources(workspaceId: U64, ownerIds: string[]): Resource[];
    integrations(workspaceId: U64): Integration[];
    getIntegrationType(typeId: string): IntegrationType;
    listIntegrationTypes(): IntegrationType[];
    /** What each member with a user id spent, by user id: memberUsage in calls of at most 500. */
    spendByMember(workspaceId: U64, range: TimeRange, members: Member[]): Map<string, MemberCredits>;
  };
}

/**
 * Clay's API. Each call goes to the host (inside kiln) or the MockWorkspace in use (tests).
 * A capability missing from kiln.toml's [capabilities] throws ClayError `denied`.
 */
export const clay: Clay;

/** Members one memberUsage call takes. */
export const MEMBER_USAGE_BATCH: 500;

export interface ColumnRef {
  tableId: string;
  tableName: string;
  fieldId: string;
  fieldName: string;
}

/** Whole-workspace and whole-table reads. */
export const walk: {
  READ_CHUNK: 200;
  allTables(workspaceId: U64): TableInfo[];
  allRows(tableId: string, viewId: string): RowRecord[];
  columnsUsing(tables: TableInfo[], integrationId: string): ColumnRef[];
};

// ---- errors ----

export type ClayErrorKind =
  | 'not-found'
  | 'denied'
  | 'invalid'
  | 'rate-limited'
  | 'budget-exhausted'
  | 'conflict'
  | 'upstream'
  | 'unavailable';

/** A Clay call failed (the host's `clay-error`). Thrown from audit, it reaches the host as itself. */
export class ClayError extends Error {
  constructor(kind: ClayErrorKind, detail: string | number);
  readonly kind: ClayErrorKind;
  /** The message, or for 'rate-limited' the ms to wait. */
  readonly detail: string | number;
  /** For 'rate-limited': how long to wait before retrying, in ms. */
  readonly retryAfterMs: number | undefined;
  /** The clay-error in the bindings' form (`{tag, val}`), as it crosses the component boundary. */
  readonly payload: { tag: ClayErrorKind; val: string | bigint };
  static fromPayload(payload: { tag: string; val?: unknown }): ClayError;
  static notFound(message: string): ClayError;
  static denied(message: string): ClayError;
  static invalid(message: string): ClayError;
  static rateLimited(ms: number): ClayError;
  static budgetExhausted(message: string): ClayError;
  static conflict(message: string): ClayError;
  static upstream(message: string): ClayError;
  static unavailable(message: string): ClayError;
}

/** A config key has a value the plugin cannot use. */
export class ConfigError extends Error {
  constructor(key: string, value: string, reason: string);
  readonly key: string;
  readonly value: string;
  readonly reason: string;
}

/** A Clay error in words: `describe('rate-limited', 250)` is "rate limited, retry after 250 ms". */
export function describe(kind: ClayErrorKind, detail: string | number): string;

// ---- config ----

/** The plugin's settings: manifest defaults merged with the operator's `-c key=value`. */
export class Config {
  constructor(pairs?: Iterable<[string, string]> | Record<string, string | number | boolean>);
  static from(pairs: Iterable<[string, string]> | Record<string, string | number | boolean>): Config;
  /** The host's settings (the MockWorkspace's under node). */
  static fromHost(): Config;
  get(key: string): string | undefined;
  get(key: string, fallback: string): string;
  has(key: string): boolean;
  /** Parsed as Rust's f64 parse; a bad value throws ConfigError naming the key. */
  number(key: string, fallback: number): number;
  /** A whole number; `{min: 0}` makes it unsigned (a sign is refused, as Rust's usize). */
  integer(key: string, fallback: number, bounds?: { min?: number; max?: number }): number;
  /** Exactly `true` or `false`. */
  bool(key: string, fallback: boolean): boolean;
  /** Split on commas, trimmed, empty items dropped. */
  list(key: string, fallback?: string[]): string[];
  /** Every setting, sorted by key. */
  entries(): Array<[string, string]>;
}

// ---- transformers ----

/** A value a cell can be set to: objects and arrays become JSON, null/undefined an empty cell. */
export type CellInputValue = string | number | boolean | bigint | null | undefined | Date | object;

/** A JSON cell whose text is written as it is. */
export function json(textOrValue: string | unknown): object;

/** What the plugin declares for one row. */
export class Outcome {
  readonly kind: 'unchanged' | 'set' | 'delete' | 'error';
  /** For 'set': [column, value] pairs, in order. */
  readonly cells?: Array<[string, CellInputValue]>;
  /** For 'error'. */
  readonly message?: string;
  static set(cells: Record<string, CellInputValue> | Map<string, CellInputValue>): Outcome;
  static unchanged(): Outcome;
  static delete(): Outcome;
  static remove(): Outcome;
  static error(message: string): Outcome;
  /** Adds cells to set (on a deleted or failed row it does nothing). */
  set(cells: Record<string, CellInputValue> | Map<string, CellInputValue>): Outcome;
}

/** Sets cells by column name (any case) or field id. An unknown column fails the row. */
export function set(cells: Record<string, CellInputValue> | Map<string, CellInputValue>): Outcome;
/** Leaves the row as it is. */
export function unchanged(): Outcome;
/** Deletes the row. */
export function remove(): Outcome;
/** The row could not be processed; the rest of the batch goes on. */
export function error(message: string): Outcome;

/** One row of a batch, read by column name (any case) or field id. */
export class Row {
  readonly batch: Batch;
  /** The row's position in the batch. */
  readonly index: number;
  /** The record id (`r_…`). */
  readonly id: string;
  readonly createdAt: Timestamp | undefined;
  readonly updatedAt: Timestamp | undefined;
  /** The value: string, number, boolean, parsed JSON; undefined for an empty cell or unknown column. */
  get(column: string): unknown;
  /** Text and JSON as they are, numbers and booleans formatted. */
  text(column: string): string | undefined;
  /** Number cells, and text that parses as a number. */
  number(column: string): number | undefined;
  /** The cell-value as it is, null included. */
  raw(column: string): CellValue | undefined;
  status(column: string): CellStatus | undefined;
  cell(column: string): Cell | undefined;
  toRow(): RowRecord;
  toObject(): Record<string, unknown>;
}

/** A batch of rows with the table they come from. */
export class Batch {
  readonly context: TransformContext;
  readonly table: TableInfo;
  readonly rows: Row[];
  readonly length: number;
  field(column: string): Field | undefined;
  hasColumn(column: string): boolean;
}

/**
 * A row transformation: override `transformRow` (or `transformBatch` for logic across rows).
 * An exception in transformRow fails its own row (the first of a batch is logged with its
 * stack); one escaping an overridden transformBatch fails the whole batch.
 */
export class Transformer {
  /** The settings: the host's (or the MockWorkspace's) when omitted. */
  constructor(config?: Config | Record<string, string> | Iterable<[string, string]>);
  config: Config;
  transformRow(row: Row, ctx: TransformContext): Outcome;
  transformBatch(batch: Batch): Outcome[];
}

// ---- auditors ----

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export const Severity: {
  readonly Info: 'info';
  readonly Low: 'low';
  readonly Medium: 'medium';
  readonly High: 'high';
  readonly Critical: 'critical';
};

export type SubjectKind = 'workspace' | 'member' | 'integration' | 'table' | 'field' | 'resource';
export const SubjectKind: {
  readonly Workspace: 'workspace';
  readonly Member: 'member';
  readonly Integration: 'integration';
  readonly Table: 'table';
  readonly Field: 'field';
  readonly Resource: 'resource';
};

export interface SubjectRecord {
  kind: SubjectKind;
  id: string;
  name: string;
}

export const Subject: {
  of(kind: SubjectKind, id: string | number, name: string): SubjectRecord;
  workspace(id: number | string, name: string): SubjectRecord;
  member(id: string, name: string): SubjectRecord;
  integration(id: string, name: string): SubjectRecord;
  table(id: string, name: string): SubjectRecord;
  field(id: string, name: string): SubjectRecord;
  resource(id: string, name: string): SubjectRecord;
};

export interface Finding {
  severity: Severity;
  /** A stable machine-readable code, e.g. `seat.single-admin`. */
  code: string;
  subject: SubjectRecord;
  message: string;
  /** Key/value facts that back the finding. */
  evidence: Array<[string, string]>;
}

export class FindingBuilder {
  readonly finding: Finding;
  message(message: string): this;
  /** Numbers are written as Rust writes them (`60`, `1.5`). */
  evidence(key: string, value: unknown): this;
}

/** Starts a finding: `finding('high', 'seat.single-admin', Subject.workspace(1, 'Acme'))`. */
export function finding(severity: Severity, code: string, subject: SubjectRecord): FindingBuilder;

export class Report {
  constructor(summary?: string);
  summary: string;
  readonly findings: Finding[];
  setSummary(summary: string): this;
  push(finding: FindingBuilder | Finding): this;
  withCode(code: string): Finding[];
  static from(value: Report | { summary?: string; findings: Finding[] }): Report;
  toWire(): { summary: string; findings: Finding[] };
}

/** A workspace audit: override `audit`. Throwing fails the audit (a ClayError as itself). */
export class Auditor {
  constructor(config?: Config | Record<string, string> | Iterable<[string, string]>);
  config: Config;
  audit(scope: AuditScope, clay: Clay): Report | { summary: string; findings: Finding[] };
}

// ---- helpers ----

/** Leveled logging into the host's log, tagged with the plugin's name. */
export const log: {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
};

export const time: {
  readonly DAY_MS: 86400000;
  /** Whole days from `earlier` to `later`, rounding down. */
  daysBetween(earlier: Timestamp, later: Timestamp): number;
};

export const email: {
  readonly FREE_MAIL_DOMAINS: readonly string[];
  isFreeMail(domain: string): boolean;
};
