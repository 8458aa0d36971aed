// The glue `kiln build`'s generated entry uses; plugins do not import it.

/** Records the Clay interfaces the component imports (by interface name) and the plugin class. */
export function bind(interfaces: Record<string, unknown>, Plugin: Function): void;
/** The `transform` export: a batch buffer in, an outcomes buffer out. */
export function transform(batch: Uint8Array, ctx: unknown): Uint8Array;
/** The `audit` export: the report, or a thrown clay-error (its `payload`). */
export function audit(scope: unknown): { summary: string; findings: unknown[] };
