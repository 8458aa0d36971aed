// Workspace audits (guest-sdk/src/audit.rs in JavaScript): a plugin extends Auditor, reads
// Clay through `clay`, and returns a Report of findings.

import { clay } from './clay.js';
import { Config } from './config.js';
import { ClayError, messageOf } from './errors.js';
import { emit } from './runtime.js';
import { formatFloat } from './values.js';
import { WORLD, className, methodOf } from './transform.js';
import { toNumbers } from './wit.js';

/** A finding's severity (types.wit's `severity`). */
export const Severity = Object.freeze({
  Info: 'info',
  Low: 'low',
  Medium: 'medium',
  High: 'high',
  Critical: 'critical',
});

/** What a finding is about (types.wit's `subject-kind`). */
export const SubjectKind = Object.freeze({
  Workspace: 'workspace',
  Member: 'member',
  Integration: 'integration',
  Table: 'table',
  Field: 'field',
  Resource: 'resource',
});

/** @type {string[]} */
const SEVERITIES = Object.values(Severity);
/** @type {string[]} */
const SUBJECT_KINDS = Object.values(SubjectKind);

/**
 * @typedef {{kind: string, id: string, name: string}} SubjectRecord
 * @typedef {{severity: string, code: string, subject: SubjectRecord, message: string,
 *   evidence: Array<[string, string]>}} Finding
 */

/** Subjects of findings. */
export const Subject = Object.freeze({
  /**
   * A subject of any kind.
   * @param {string} kind
   * @param {string | number} id
   * @param {string} name
   * @returns {SubjectRecord}
   */
  of(kind, id, name) {
    if (!SUBJECT_KINDS.includes(kind)) {
      throw new TypeError(`unknown subject kind \`${kind}\`; expected one of ${SUBJECT_KINDS.join(', ')}`);
    }
    return { kind, id: String(id), name: String(name) };
  },
  /** The workspace itself. @param {number | string} id @param {string} name */
  workspace: (id, name) => Subject.of('workspace', id, name),
  /** A member, by user id and name. @param {string} id @param {string} name */
  member: (id, name) => Subject.of('member', id, name),
  /** An integration (`aa_…`). @param {string} id @param {string} name */
  integration: (id, name) => Subject.of('integration', id, name),
  /** A table (`t_…`). @param {string} id @param {string} name */
  table: (id, name) => Subject.of('table', id, name),
  /** A column (`f_…`). @param {string} id @param {string} name */
  field: (id, name) => Subject.of('field', id, name),
  /** A folder, workbook or other resource. @param {string} id @param {string} name */
  resource: (id, name) => Subject.of('resource', id, name),
});

/**
 * Evidence values as text: numbers as Rust writes them (`60`, `1.5`, never `1e+21`).
 * @param {unknown} value
 */
function evidenceText(value) {
  return typeof value === 'number' ? formatFloat(value) : String(value);
}

/** A finding under construction: `finding(severity, code, subject).message(…).evidence(k, v)`. */
export class FindingBuilder {
  /**
   * @param {string} severity
   * @param {string} code
   * @param {SubjectRecord} subject
   */
  constructor(severity, code, subject) {
    if (!SEVERITIES.includes(severity)) {
      throw new TypeError(`unknown severity \`${severity}\`; expected one of ${SEVERITIES.join(', ')}`);
    }
    /** @type {Finding} */
    this.finding = { severity, code: String(code), subject: { ...subject }, message: '', evidence: [] };
  }

  /**
   * What was found and what to do about it, in a sentence or two.
   * @param {string} message
   */
  message(message) {
    this.finding.message = String(message);
    return this;
  }

  /**
   * A fact backing the finding.
   * @param {string} key
   * @param {unknown} value
   */
  evidence(key, value) {
    this.finding.evidence.push([String(key), evidenceText(value)]);
    return this;
  }
}

/**
 * Starts a finding: `finding('high', 'seat.single-admin', Subject.workspace(1, 'Acme'))`.
 * @param {string} severity
 * @param {string} code
 * @param {SubjectRecord} subject
 */
export function finding(severity, code, subject) {
  return new FindingBuilder(severity, code, subject);
}

/**
 * @param {any} f
 * @param {number} i
 * @returns {Finding}
 */
function checkFinding(f, i) {
  const where = `finding ${i}${typeof f?.code === 'string' ? ` (${f.code})` : ''}`;
  if (!f || typeof f !== 'object') throw new TypeError(`${where} is not a finding`);
  if (!SEVERITIES.includes(f.severity)) throw new TypeError(`${where} has severity \`${f.severity}\`; expected one of ${SEVERITIES.join(', ')}`);
  if (typeof f.code !== 'string') throw new TypeError(`${where} has no code`);
  if (!f.subject || !SUBJECT_KINDS.includes(f.subject.kind)) throw new TypeError(`${where} has subject kind \`${f.subject?.kind}\`; expected one of ${SUBJECT_KINDS.join(', ')}`);
  const evidence = Array.from(f.evidence ?? [], (/** @type {any} */ e) => {
    if (!Array.isArray(e) || e.length !== 2) throw new TypeError(`${where} has evidence that is not [key, value] pairs`);
    return /** @type {[string, string]} */ ([String(e[0]), evidenceText(e[1])]);
  });
  return {
    severity: f.severity,
    code: f.code,
    subject: { kind: f.subject.kind, id: String(f.subject.id), name: String(f.subject.name) },
    message: String(f.message ?? ''),
    evidence,
  };
}

/** What an audit found. */
export class Report {
  /** @param {string} [summary] */
  constructor(summary = '') {
    /** One line that sums the audit up, shown above the findings. */
    this.summary = summary;
    /** @type {Finding[]} the findings, in the order they were pushed */
    this.findings = [];
  }

  /** @param {string} summary */
  setSummary(summary) {
    this.summary = String(summary);
    return this;
  }

  /**
   * Adds a finding (a FindingBuilder, or a finding record).
   * @param {FindingBuilder | Finding} f
   */
  push(f) {
    this.findings.push(checkFinding(f instanceof FindingBuilder ? f.finding : f, this.findings.length));
    return this;
  }

  /**
   * Findings with this code (handy in tests).
   * @param {string} code
   */
  withCode(code) {
    return this.findings.filter((f) => f.code === code);
  }

  /**
   * A report from what `audit` returned: a Report, or a plain `{summary, findings}`.
   * @param {any} value
   * @returns {Report}
   */
  static from(value) {
    if (value instanceof Report) return value;
    if (!value || typeof value !== 'object' || !Array.isArray(value.findings)) {
      throw new TypeError(`audit() must return a Report (or {summary, findings}), not ${value === undefined ? 'undefined' : typeof value}`);
    }
    const report = new Report(String(value.summary ?? ''));
    value.findings.forEach((/** @type {any} */ f) => report.push(f));
    return report;
  }

  /** The report as it crosses to the host (`audit-report`). */
  toWire() {
    return { summary: String(this.summary), findings: this.findings.map((f, i) => checkFinding(f, i)) };
  }
}

/**
 * A workspace audit. The SDK creates one instance per plugin instance (from its settings)
 * and calls `audit(scope, clay)`.
 */
export class Auditor {
  /**
   * @param {Config | Record<string, string> | Iterable<[string, string]>} [config] the
   *   settings; the host's (or the MockWorkspace's) when omitted
   */
  constructor(config) {
    /** @type {Config} */
    this.config = config instanceof Config ? config : config == null ? Config.fromHost() : new Config(config);
  }

  /**
   * Audits the workspace in `scope`; throwing fails the whole audit. Override it.
   * @param {{workspaceId: number, period: {start: number, end: number}, now: number}} scope
   * @param {typeof clay} clayApi
   * @returns {Report | {summary: string, findings: Finding[]}}
   */
  // eslint-disable-next-line no-unused-vars
  audit(scope, clayApi) {
    throw new Error(`${this.constructor.name} must override audit(scope, clay)`);
  }
}
/** @type {any} */ (Auditor)[WORLD] = 'auditor';

/**
 * The audit export's work. `state.instance` holds the plugin between calls.
 *
 * Whatever goes wrong is logged at error level with its stack (the host quotes the plugin's
 * log), then crosses as a clay-error, as the Rust SDK's `Error::into_clay`: a ClayError as
 * itself, anything else as `invalid(message)`. Thrown with `payload` set, componentize-js
 * returns it as the export's `err` rather than trapping.
 * @param {{Plugin: any, instance?: any}} state
 * @param {any} rawScope the scope as the bindings give it (BigInts)
 */
export function runAuditor(state, rawScope) {
  const { Plugin } = state;
  let starting = false;
  try {
    if (!Plugin || Plugin[WORLD] !== 'auditor') {
      throw new ClayError('invalid', `kiln.toml says world = "auditor", but the plugin's default export${className(Plugin) ? `, \`${className(Plugin)}\`,` : ''} is not a class extending Auditor from kiln-sdk`);
    }
    const scope = toNumbers(rawScope, 'the audit scope');
    if (!state.instance) {
      starting = true;
      state.instance = new Plugin(Config.fromHost());
      starting = false;
    }
    const result = state.instance.audit(scope, clay);
    if (result && typeof result.then === 'function') {
      throw new TypeError('audit() returned a Promise: kiln plugins are synchronous, drop `async` (Clay calls return their results directly)');
    }
    return Report.from(result).toWire();
  } catch (e) {
    emit('error', `${starting ? `${className(Plugin) ?? 'the plugin'} could not start` : `${methodOf(Plugin, 'audit')} failed`}: ${messageOf(e)}${e instanceof Error && e.stack ? `\n${e.stack}` : ''}`);
    throw e instanceof ClayError ? e : new ClayError('invalid', messageOf(e));
  }
}
