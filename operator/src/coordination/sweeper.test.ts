import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeLeases } from '../../test/fakes/leases.js';
import { LeaseClaims } from './claims.js';
import { LeaseBudget, BUDGET_WINDOW_MS } from './shared-budget.js';
import { sweepLeases } from './sweeper.js';

test('the sweep deletes done claims past their window, abandoned claims and old budget slots; keeps the rest', async () => {
  const leases = new FakeLeases();
  const clock = { t: 9_000_000 };
  const now = () => clock.t;
  const claims = new LeaseClaims({ api: leases, identity: 'a', leaseMs: 2000, now });
  const done = await claims.claim({ ruleKey: 'r', targetKey: 'done', windowMs: 5000 });
  if (done.kind === 'acquired') await done.claim.release();
  await claims.claim({ ruleKey: 'r', targetKey: 'crashed', windowMs: 5000 }); // never released
  await new LeaseBudget({ api: leases, identity: 'a', perMinute: 2, now }).tryTake();
  leases.leases.set('unrelated', { name: 'unrelated', resourceVersion: '1', holder: 'x', acquireTime: 0, renewTime: 0, leaseDurationSeconds: 1, transitions: 0, labels: {}, annotations: {} });
  assert.equal(await sweepLeases(leases, now), 0);
  clock.t += 5000; // the done claim's window is over; the crashed one's lease + window is not
  assert.equal(await sweepLeases(leases, now), 1);
  clock.t += 2000;
  assert.equal(await sweepLeases(leases, now), 1);
  clock.t += BUDGET_WINDOW_MS;
  assert.equal(await sweepLeases(leases, now), 1);
  assert.deepEqual([...leases.leases.keys()], ['unrelated']);
});
