// kiln-sdk: write kiln plugins for Clay in JavaScript or TypeScript.
//
// A plugin's main module default-exports one class: a Transformer (row transformations) or an
// Auditor (workspace audits). kiln bundles it with this SDK and builds a WebAssembly
// component; the same class runs under node's test runner against kiln-sdk/testing.js's
// MockWorkspace. This mirrors the Rust SDK (guest-sdk/), names in camelCase.
//
//   import { Transformer, set, unchanged } from 'kiln-sdk';
//   export default class extends Transformer {
//     transformRow(row) {
//       const email = row.text('Email');
//       return email === undefined ? unchanged() : set({ Email: email.trim().toLowerCase() });
//     }
//   }

import { emit } from './lib/runtime.js';

export { Transformer, Batch, Row, Outcome, set, unchanged, remove, error } from './lib/transform.js';
export { Auditor, Report, FindingBuilder, finding, Subject, Severity, SubjectKind } from './lib/audit.js';
export { clay, walk, MEMBER_USAGE_BATCH } from './lib/clay.js';
export { Config } from './lib/config.js';
export { ClayError, ConfigError, describe } from './lib/errors.js';
export { json } from './lib/values.js';

/** Leveled logging into the host's log, tagged with the plugin's name. */
export const log = Object.freeze({
  /** @param {string} message */
  trace: (message) => emit('trace', message),
  /** @param {string} message */
  debug: (message) => emit('debug', message),
  /** @param {string} message */
  info: (message) => emit('info', message),
  /** @param {string} message */
  warn: (message) => emit('warn', message),
  /** @param {string} message */
  error: (message) => emit('error', message),
});

/** Time helpers: Clay timestamps are milliseconds since the Unix epoch. */
export const time = Object.freeze({
  /** One day in milliseconds. */
  DAY_MS: 24 * 3600 * 1000,
  /**
   * Whole days from `earlier` to `later` (negative if reversed), rounding down.
   * @param {number} earlier
   * @param {number} later
   */
  daysBetween: (earlier, later) => Math.floor((later - earlier) / (24 * 3600 * 1000)),
});

/** Domains of free-mail providers: an address there says nothing about the company. */
const FREE_MAIL_DOMAINS = Object.freeze([
  'gmail.com',
  'googlemail.com',
  'yahoo.com',
  'hotmail.com',
  'outlook.com',
  'live.com',
  'icloud.com',
  'aol.com',
  'proton.me',
  'protonmail.com',
  'gmx.de',
  'web.de',
]);

/** Email helpers shared by the contact plugins. */
export const email = Object.freeze({
  FREE_MAIL_DOMAINS,
  /**
   * Whether `domain` (lower-case) belongs to a free-mail provider.
   * @param {string} domain
   */
  isFreeMail: (domain) => FREE_MAIL_DOMAINS.includes(domain),
});
