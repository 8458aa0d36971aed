// Errors a plugin meets: a Clay call that failed (ClayError), a setting it cannot use
// (ConfigError). Both mirror guest-sdk/src/error.rs, so a JavaScript plugin fails with the
// same words a Rust one does.

/** The kinds of clay-error (types.wit's `clay-error` variant), in WIT order. */
export const CLAY_ERROR_KINDS = Object.freeze([
  'not-found',
  'denied',
  'invalid',
  'rate-limited',
  'budget-exhausted',
  'conflict',
  'upstream',
  'unavailable',
]);

/**
 * A readable description of a Clay error, worded as the Rust SDK's `describe`.
 * @param {string} kind
 * @param {string | number} detail
 * @returns {string}
 */
export function describe(kind, detail) {
  switch (kind) {
    case 'not-found': return `not found: ${detail}`;
    case 'denied': return `denied: ${detail}`;
    case 'invalid': return `invalid: ${detail}`;
    case 'rate-limited': return `rate limited, retry after ${detail} ms`;
    case 'budget-exhausted': return `credit budget exhausted: ${detail}`;
    case 'conflict': return `conflict: ${detail}`;
    case 'upstream': return `Clay error: ${detail}`;
    case 'unavailable': return `unavailable: ${detail}`;
    default: return `${kind}: ${detail}`;
  }
}

/**
 * A Clay call failed: the host's `clay-error`, as an Error.
 *
 * `kind` is the variant's case (`'not-found'`, `'denied'`, …) and `detail` its payload: the
 * message, or for `'rate-limited'` the milliseconds to wait (a Number).
 *
 * Thrown out of `audit`, it crosses back to the host as that same clay-error: componentize-js
 * lowers a thrown value's `payload` property as the export's `err`, so `payload` holds the
 * WIT form (`{tag, val}`, with a BigInt for `rate-limited`).
 */
export class ClayError extends Error {
  /**
   * @param {string} kind one of CLAY_ERROR_KINDS
   * @param {string | number} detail
   */
  constructor(kind, detail) {
    if (!CLAY_ERROR_KINDS.includes(kind)) {
      throw new TypeError(`unknown clay-error kind \`${kind}\`; expected one of ${CLAY_ERROR_KINDS.join(', ')}`);
    }
    const value = kind === 'rate-limited' ? Number(detail) : String(detail);
    super(describe(kind, value));
    this.name = 'ClayError';
    /** @type {string} */
    this.kind = kind;
    /** @type {string | number} */
    this.detail = value;
    /** The clay-error as it crosses the component boundary (WIT binding form). */
    this.payload = { tag: kind, val: kind === 'rate-limited' ? BigInt(Math.max(0, Math.trunc(Number(value)))) : value };
  }

  /** For `'rate-limited'`, how long to wait before retrying, in ms. */
  get retryAfterMs() {
    return this.kind === 'rate-limited' ? /** @type {number} */ (this.detail) : undefined;
  }

  /**
   * A ClayError from the WIT binding form (`{tag, val}`), as an import throws it.
   * @param {{tag: string, val?: unknown}} payload
   */
  static fromPayload(payload) {
    const val = typeof payload.val === 'bigint' ? Number(payload.val) : payload.val;
    return new ClayError(payload.tag, /** @type {string | number} */ (val ?? ''));
  }

  /** @param {string} message */
  static notFound(message) { return new ClayError('not-found', message); }
  /** @param {string} message */
  static denied(message) { return new ClayError('denied', message); }
  /** @param {string} message */
  static invalid(message) { return new ClayError('invalid', message); }
  /** @param {number} ms */
  static rateLimited(ms) { return new ClayError('rate-limited', ms); }
  /** @param {string} message */
  static budgetExhausted(message) { return new ClayError('budget-exhausted', message); }
  /** @param {string} message */
  static conflict(message) { return new ClayError('conflict', message); }
  /** @param {string} message */
  static upstream(message) { return new ClayError('upstream', message); }
  /** @param {string} message */
  static unavailable(message) { return new ClayError('unavailable', message); }
}

/** A config key has a value the plugin cannot use (the Rust SDK's `Error::Config`). */
export class ConfigError extends Error {
  /**
   * @param {string} key
   * @param {string} value
   * @param {string} reason
   */
  constructor(key, value, reason) {
    super(`config key \`${key}\` has value \`${value}\`: ${reason}`);
    this.name = 'ConfigError';
    this.key = key;
    this.value = value;
    this.reason = reason;
  }
}

/**
 * What an uncaught error says in one line: the message, with the error's name when it is not
 * a plain Error (a TypeError says so).
 * @param {unknown} error
 * @returns {string}
 */
export function messageOf(error) {
  if (error instanceof ClayError || error instanceof ConfigError) return error.message;
  if (error instanceof Error) {
    return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
  }
  if (error && typeof error === 'object' && 'payload' in error) {
    // componentize-js's ComponentError is not an Error; its payload is the clay-error.
    const p = /** @type {{payload: any}} */ (error).payload;
    if (p && typeof p.tag === 'string') return describe(p.tag, typeof p.val === 'bigint' ? Number(p.val) : p.val);
  }
  return String(error);
}
