// Auditors: the report builders, and what crosses back to the host when an audit fails.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Auditor, ClayError, Report, Severity, Subject, finding } from '../index.js';
import { MockWorkspace, runAudit } from '../testing.js';

test('findings are built as in the Rust SDK; evidence is text, numbers written as Rust writes them', () => {
  const report = new Report();
  report.push(
    finding(Severity.High, 'seat.single-admin', Subject.workspace(1, 'Acme'))
      .message('Maya is the only admin.')
      .evidence('active admins', 1)
      .evidence('share', 0.25)
      .evidence('huge', 1e21)
      .evidence('ok', true),
  );
  report.push(finding('low', 'b', Subject.member('2', 'B')));
  report.setSummary('2 findings');
  assert.deepEqual(report.findings[0], {
    severity: 'high',
    code: 'seat.single-admin',
    subject: { kind: 'workspace', id: '1', name: 'Acme' },
    message: 'Maya is the only admin.',
    evidence: [['active admins', '1'], ['share', '0.25'], ['huge', '1000000000000000000000'], ['ok', 'true']],
  });
  assert.equal(report.withCode('b').length, 1);
  assert.equal(report.summary, '2 findings');
  assert.deepEqual(Subject.of('field', 'f_1', 'Work Email'), { kind: 'field', id: 'f_1', name: 'Work Email' });
  assert.throws(() => finding(/** @type {any} */ ('severe'), 'x', Subject.member('1', 'A')), /unknown severity `severe`/);
  assert.throws(() => Subject.of(/** @type {any} */ ('user'), '1', 'A'), /unknown subject kind `user`/);
});

test('an audit may return a plain {summary, findings}; a malformed one is refused, saying which finding', () => {
  class Plain extends Auditor {
    audit() {
      return { summary: 's', findings: [{ severity: 'info', code: 'c', subject: { kind: 'table', id: 't', name: 'T' }, message: 'm', evidence: [['k', 3]] }] };
    }
  }
  const report = runAudit(Plain);
  assert.deepEqual(report.findings[0].evidence, [['k', '3']]);

  class Bad extends Auditor {
    audit() {
      return { summary: 's', findings: [{ severity: 'urgent', code: 'x.y', subject: { kind: 'table', id: 't', name: 'T' } }] };
    }
  }
  assert.throws(() => runAudit(Bad), (e) => {
    assert.ok(e instanceof ClayError);
    assert.equal(e.kind, 'invalid');
    assert.match(e.message, /finding 0 \(x\.y\) has severity `urgent`/);
    return true;
  });
});

test('a ClayError from a Clay call fails the audit as itself, and is logged with its stack', () => {
  class Reads extends Auditor {
    /** @param {any} scope @param {any} clay */
    audit(scope, clay) {
      clay.credits.integrations(scope.workspaceId);
      return new Report();
    }
  }
  const ws = new MockWorkspace();
  ws.fail('credits.integrations', ClayError.denied('credits'));
  assert.throws(() => runAudit(Reads, { workspace: ws }), (e) => {
    assert.ok(e instanceof ClayError);
    assert.deepEqual(e.payload, { tag: 'denied', val: 'credits' });
    return true;
  });
  assert.equal(ws.logs()[0][0], 'error');
  assert.match(ws.logs()[0][1], /^Reads\.audit failed: denied: credits\n.*audit\.test\.js/s);
});

test('any other exception fails the audit as invalid(message), the Rust SDK’s Error::into_clay', () => {
  class Crashes extends Auditor {
    audit() {
      return /** @type {any} */ (null).x;
    }
  }
  assert.throws(() => runAudit(Crashes), (e) => {
    assert.ok(e instanceof ClayError);
    assert.equal(e.kind, 'invalid');
    assert.match(String(e.detail), /^TypeError: /);
    return true;
  });
});

test('a bad setting fails the audit naming the key, logged as the plugin not starting', () => {
  class Strict extends Auditor {
    /** @param {any} config */
    constructor(config) {
      super(config);
      this.days = this.config.integer('days', 60);
    }

    audit() {
      return new Report();
    }
  }
  const ws = new MockWorkspace();
  assert.throws(() => runAudit(Strict, { workspace: ws, config: { days: 'soon' } }), {
    message: 'invalid: config key `days` has value `soon`: invalid digit found in string',
  });
  assert.match(ws.logs()[0][1], /^Strict could not start: config key `days`/);
});

test('async audits are refused with a clear message (kiln plugins are synchronous)', () => {
  class Async extends Auditor {
    async audit() {
      return new Report();
    }
  }
  assert.throws(() => runAudit(Async), /audit\(\) returned a Promise: kiln plugins are synchronous/);
});

test('a class that is not an Auditor, run as one, says what kiln.toml expects', () => {
  class NotAnAuditor {}
  assert.throws(() => runAudit(NotAnAuditor), /world = "auditor", but the plugin's default export, `NotAnAuditor`, is not a class extending Auditor/);
});

test('the scope arrives with Numbers; capabilities limit what Clay the plugin reaches', () => {
  /** @type {any} */
  let seen;
  class Scoped extends Auditor {
    /** @param {any} scope @param {any} clay */
    audit(scope, clay) {
      seen = scope;
      clay.folders.create(scope.workspaceId, 'x');
      return new Report();
    }
  }
  const ws = new MockWorkspace();
  assert.throws(() => runAudit(Scoped, { workspace: ws, now: 5 * 86_400_000, periodDays: 2, capabilities: ['credits'] }), /`folders` capability is not in this plugin's kiln\.toml/);
  assert.deepEqual(seen, { workspaceId: 1, period: { start: 3 * 86_400_000, end: 5 * 86_400_000 }, now: 5 * 86_400_000 });
});
