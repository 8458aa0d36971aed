// The one piece of module state: the Clay interfaces the plugin runs against. Inside kiln the
// generated entry hands them to `bind` (kiln-sdk/guest.js); under node, kiln-sdk/testing.js
// swaps in a MockWorkspace's. Nothing here imports `clay:api/...`, so the SDK loads under
// plain node.

/**
 * @typedef {object} Runtime
 * @property {Record<string, any>} interfaces the bound interfaces by name (`credits`, `log`…)
 * @property {string} origin who bound them, for error messages ("kiln", "MockWorkspace")
 */

// Kept on globalThis under a registered symbol, so that two copies of kiln-sdk bundled into
// one plugin (a project's own and one a dependency brought) still share the interfaces kiln
// bound, rather than one copy calling Clay with nothing bound.
const KEY = Symbol.for('kiln-sdk.runtime');
const slot = /** @type {{current: Runtime | null}} */ (
  /** @type {any} */ (globalThis)[KEY] ??= { current: null }
);

/** @returns {Runtime | null} */
export function runtime() {
  return slot.current;
}

/**
 * Makes `next` the runtime and returns the previous one (to restore it).
 * @param {Runtime | null} next
 * @returns {Runtime | null}
 */
export function swapRuntime(next) {
  const previous = slot.current;
  slot.current = next;
  return previous;
}

export const LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error']);

/**
 * Writes a log line through Clay's `log` interface; with none bound (plain node, no mock) it
 * goes to stderr, as the Rust SDK prints natively.
 * @param {'trace' | 'debug' | 'info' | 'warn' | 'error'} level
 * @param {string} message
 */
export function emit(level, message) {
  const log = slot.current?.interfaces.log;
  if (log && typeof log.log === 'function') {
    log.log(level, String(message));
  } else {
    console.error(`[${level}] ${message}`);
  }
}
