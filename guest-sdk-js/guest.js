// The glue `kiln build` bundles around a plugin. Its generated entry imports the Clay
// interfaces the manifest asks for and this module, then:
//
//   __bind({ log: __log, config: __config, credits: __credits, ... }, Plugin);
//   export function audit(scope) { return __audit(scope); }            // an auditor
//   export function transform(batch, ctx) { return __transform(batch, ctx); }  // a transformer
//
// Interfaces arrive only through `bind`, never through an import of `clay:api/...` here, so
// the SDK loads under plain node, where kiln-sdk/testing.js binds a MockWorkspace instead.
// `bind` runs when the component is pre-initialized (at build time): it only records what it
// is given. The plugin is created on the first call, when its settings can be read.

import { runAuditor } from './lib/audit.js';
import { swapRuntime } from './lib/runtime.js';
import { WORLD, runTransformer } from './lib/transform.js';

/** @type {{Plugin: any, instance?: any}} */
let state = { Plugin: undefined };

/**
 * Records the Clay interfaces the component imports and the plugin class.
 * @param {Record<string, any>} interfaces the import namespaces, by interface name
 * @param {Function} Plugin the main module's default export
 */
export function bind(interfaces, Plugin) {
  // This runs while the component is built: a main module without a plugin class fails the
  // build here, with this message, rather than every call later.
  if (typeof Plugin !== 'function' || !(/** @type {any} */ (Plugin)[WORLD])) {
    const what = Plugin === undefined ? 'missing' : typeof Plugin === 'function' ? `\`${Plugin.name || 'an anonymous function'}\`` : `${typeof Plugin === 'object' ? 'an' : 'a'} ${typeof Plugin}`;
    throw new TypeError(
      `kiln-sdk: the plugin's main module must default-export a class extending Transformer or Auditor from kiln-sdk (\`export default class extends Transformer {...}\`); its default export is ${what}`,
    );
  }
  swapRuntime({ interfaces: { ...interfaces }, origin: 'kiln' });
  state = { Plugin, instance: undefined };
}

/**
 * The `transform` export: a batch buffer in, an outcomes buffer out (batch/src/lib.rs).
 * @param {Uint8Array} batch
 * @param {any} ctx the transform-context, as the bindings give it
 * @returns {Uint8Array}
 */
export function transform(batch, ctx) {
  return runTransformer(state, batch, ctx);
}

/**
 * The `audit` export: the report, or a thrown clay-error (its `payload`).
 * @param {any} scope the audit-scope, as the bindings give it
 */
export function audit(scope) {
  return runAuditor(state, scope);
}
