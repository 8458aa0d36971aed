// Runs the plugin under node's test runner, with no kiln and no WebAssembly: runAudit answers
// its Clay calls from an in-memory workspace.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MockWorkspace, runAudit } from 'kiln-sdk/testing.js';

import __CLASS__ from './app.js';

test('pending invites and top spenders are reported', () => {
  const ws = new MockWorkspace('Acme');
  const maya = ws.addMember('maya@acme.io', 'Maya', 'admin', 'active');
  ws.addMember('sam@acme.io', 'Sam', 'member', 'pending');
  ws.recordUsage(maya, 'hunter', 120, ws.now() - 1_000);

  // Only the capabilities kiln.toml asks for, as inside kiln.
  const report = runAudit(__CLASS__, { workspace: ws, capabilities: ['credits'] });

  const pending = report.withCode('seat.pending-invite');
  assert.equal(pending.length, 1);
  assert.match(pending[0].message, /Sam/);
  const top = report.withCode('credits.top-spender');
  assert.equal(top[0].subject.name, 'Maya');
  assert.equal(report.summary, '2 members, pending invitations: 1');
});

test('a bad setting names its key', () => {
  assert.throws(() => runAudit(__CLASS__, { config: { top_spenders: 'lots' } }), /top_spenders/);
});
