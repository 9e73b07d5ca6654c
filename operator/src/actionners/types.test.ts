import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failed, ok, skipped } from './types.js';

test('results carry catalogued reasons; an unknown reason does not compile', () => {
  assert.deepEqual(ok('Terminated', 'gone', [{ kind: 'Pod', namespace: 'ns', name: 'p' }]), {
    status: 'success',
    reason: 'Terminated',
    message: 'gone',
    objects: [{ kind: 'Pod', namespace: 'ns', name: 'p' }],
  });
  assert.deepEqual(skipped('IgnoredDaemonSet', 'spared'), { status: 'skipped', reason: 'IgnoredDaemonSet', message: 'spared' });
  assert.deepEqual(failed('Conflict', 'stale', true), { status: 'failure', reason: 'Conflict', message: 'stale', retryable: true });
  // @ts-expect-error 'Done' is not in api/v1alpha1/reasons.ts
  const unknown = ok('Done', 'done');
  // @ts-expect-error reasons are case-sensitive
  const lower = skipped('terminated', 'x');
  assert.equal(unknown.status, 'success');
  assert.equal(lower.status, 'skipped');
});
