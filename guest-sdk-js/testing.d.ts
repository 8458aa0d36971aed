// Types for kiln-sdk/testing.js: an in-memory Clay workspace and runners for node's test runner.

import type { Cell, ClayError, Report, Resource, Role, MemberStatus, RowRecord } from './index.js';

export { ClayError } from './index.js';

/** The mock's default clock (ms). */
export const DEFAULT_NOW: 1800000000000;

/** A test cell with a status: `cell('a@b.io', 'success')`. */
export function cell(
  value: unknown,
  status?: 'success' | 'pending' | 'run-condition-not-met' | { tag: string; val?: string },
): object;

export interface InstallOptions {
  /** Settings on top of the workspace's (setConfig). */
  config?: Record<string, string | number | boolean>;
  /** Only these Clay interfaces, as kiln.toml's [capabilities] would give (all by default). */
  capabilities?: Array<'workspaces' | 'folders' | 'resources' | 'workbooks' | 'tables' | 'credits'>;
}

export class MockWorkspace {
  constructor(name?: string);
  readonly workspaceId: number;
  now(): number;
  setNow(now: number): void;
  creditBalance(): number;
  setCreditBalance(credits: number): void;
  creditsSpent(): number;
  setConfig(key: string, value: string | number | boolean): void;
  /** What the plugin logged, as [level, message]. */
  logs(): Array<[string, string]>;
  /** Every Clay call, as "interface.function", in order. */
  calls(): string[];
  /** Makes later calls to `call` (e.g. "credits.integrations") fail with `error`. */
  fail(call: string, error: ClayError | { tag: string; val?: unknown }): void;
  addMember(email: string, name: string, role: Role, status: MemberStatus): string;
  actAs(userId: string): void;
  addIntegrationType(id: string, name: string): void;
  addIntegration(name: string, typeId: string, owner?: string | null): string;
  addSharedIntegration(name: string, typeId: string): string;
  addFolder(name: string, parentFolderId?: string | null): string;
  addWorkbook(name: string, parentFolderId?: string | null, autoRun?: boolean): string;
  addTable(name: string, workbookId: string | null | undefined, columns: string[]): string;
  addActionColumn(
    tableId: string,
    name: string,
    actionKey: string,
    packageId: string,
    authAccountId: string | null | undefined,
    creditCost: number,
    inputs: string[],
  ): string;
  addRow(tableId: string, cells?: Record<string, unknown> | Array<[string, unknown]>): string;
  recordUsage(user: string | null | undefined, packageId: string, credits: number, at: number): void;
  recordTableUsage(user: string | null | undefined, packageId: string, tableId: string | null | undefined, credits: number, at: number): void;
  setCreated(resourceId: string, by: string | null | undefined, at: number): void;
  fieldId(tableId: string, column: string): string | undefined;
  rows(tableId: string): RowRecord[];
  /** A cell's value (null for an empty cell), undefined when missing. */
  cell(tableId: string, rowId: string, column: string): unknown;
  rawCell(tableId: string, rowId: string, column: string): Cell | undefined;
  resources(): Resource[];
  /** Answers kiln-sdk's clay calls until the returned function is called. */
  install(options?: InstallOptions): () => void;
  /** The workspace as component bindings (BigInt u64s, {tag, val} variants). */
  interfaces(options?: InstallOptions): Record<string, Record<string, Function>>;
}

export interface RowResult {
  rowId: string;
  kind: 'unchanged' | 'set' | 'delete' | 'error';
  /** For 'set': the cells written, by column name (null for a cleared cell). */
  cells?: Record<string, unknown>;
  message?: string;
}

export interface QuickTable {
  name?: string;
  columns: string[];
  /** Rows as {column: value}; cell(value, status) for a status. */
  rows?: Array<Record<string, unknown>>;
}

export interface TransformOptions extends InstallOptions {
  workspace?: MockWorkspace;
  /** The columns the plugin may see (kiln.toml's [capabilities.tables] columns); all by default. */
  columns?: string[];
  batchSize?: number;
  /** Leave the table as it is (the effects are applied otherwise). */
  dryRun?: boolean;
}

/** Runs a transformer over a table as kiln would; one result per row, in order. */
export function runTransform(
  Plugin: Function | object,
  table: string | QuickTable,
  options?: TransformOptions,
): RowResult[] & { workspace: MockWorkspace; tableId: string };

export interface AuditOptions extends InstallOptions {
  workspace?: MockWorkspace;
  now?: number;
  periodDays?: number;
  period?: { start: number; end: number };
}

/** Runs an auditor as kiln would; a failed audit throws the ClayError the host would get. */
export function runAudit(Plugin: Function | object, options?: AuditOptions): Report;
