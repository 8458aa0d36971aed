// __NAME__: a kiln transformer. It trims and lower-cases the email column of every row.
//
// Config keys (defaults): `column` ("Email").

import { Transformer, error, set, unchanged } from 'kiln-sdk';

export default class __CLASS__ extends Transformer {
  /** @param {import('kiln-sdk').Config} [config] */
  constructor(config) {
    super(config);
    // Settings come from kiln.toml's [config] defaults and `-c key=value`.
    this.column = this.config.get('column', 'Email');
  }

  /**
   * One outcome per row: set({...}) cells by column name, unchanged(), remove() or error(message).
   * @param {import('kiln-sdk').Row} row
   */
  transformRow(row) {
    const email = row.text(this.column);
    if (email === undefined) return unchanged();
    // A failed row is reported and skipped; the rest of the batch goes on.
    if (email.trim() === '') return error('the email is blank');
    // Writing the value a cell already has is not a change: no need to compare first.
    return set({ [this.column]: email.trim().toLowerCase() });
  }
}
