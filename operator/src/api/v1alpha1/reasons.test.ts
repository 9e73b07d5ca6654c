import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES } from '../../errors.js';
import { ERROR_REASONS, isOutcomeReason, OUTCOME_REASONS, reasonRows, type ReasonBy, type SuppressReason } from './reasons.js';

test('every reason is CamelCase with a one-line meaning and the results it appears with', () => {
  const rows = reasonRows();
  assert.ok(rows.length >= 40, 'the catalogue holds every reason of the tree');
  for (const { reason, info } of rows) {
    assert.match(reason, /^[A-Z][a-zA-Z]+$/, reason);
    assert.match(info.meaning, /^[A-Z"'`a-z].*\.$/, `${reason}: a sentence`);
    assert.ok(!info.meaning.includes('\n') && info.meaning.length <= 160, `${reason}: one line`);
    assert.ok(info.by.length > 0, `${reason}: who sets it`);
    const suppression = info.by.includes('suppression');
    assert.equal(info.results.length === 0, suppression, `${reason}: results unless a suppression (which records no outcome)`);
    assert.equal(new Set(info.results).size, info.results.length, `${reason}: results listed once`);
  }
});

test('every TalonError code is a reason set by the Kubernetes API, with result Failed', () => {
  assert.deepEqual(ERROR_REASONS, ERROR_CODES);
  for (const code of ERROR_CODES) {
    const info = OUTCOME_REASONS[code];
    assert.ok(info.by.includes('api' as never), code);
    assert.ok(info.results.includes('Failed' as never), code);
  }
});

test('isOutcomeReason knows the catalogue, not the prototype', () => {
  assert.equal(isOutcomeReason('Terminated'), true);
  assert.equal(isOutcomeReason('ProtectedNamespace'), true);
  assert.equal(isOutcomeReason('terminated'), false);
  assert.equal(isOutcomeReason('toString'), false);
  assert.equal(isOutcomeReason(''), false);
});

test('the suppression reasons are exactly Cooldown, Merged, Claimed and EscalationWait', () => {
  const both: readonly SuppressReason[] = ['Cooldown', 'Merged', 'Claimed', 'EscalationWait'];
  // @ts-expect-error a dispatcher verdict is not a suppression
  const notOne: SuppressReason = 'QueueFull';
  const byDispatcher: ReasonBy<'dispatcher'> = 'ProtectedNamespace';
  assert.deepEqual(
    reasonRows().filter((r) => r.info.by.includes('suppression')).map((r) => r.reason),
    [...both],
  );
  assert.ok(notOne && byDispatcher);
});
