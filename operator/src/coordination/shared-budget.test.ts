import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeLeases } from '../../test/fakes/leases.js';
import { BUDGET_WINDOW_MS, LeaseBudget } from './shared-budget.js';

test('two replicas share one budget: N takes in all, then none until a minute has passed', async () => {
  const leases = new FakeLeases();
  const clock = { t: 5_000_000 };
  const a = new LeaseBudget({ api: leases, identity: 'a', perMinute: 5, now: () => clock.t });
  const b = new LeaseBudget({ api: leases, identity: 'b', perMinute: 5, now: () => clock.t });
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).tryTake()));
  assert.equal(results.filter(Boolean).length, 5);
  assert.equal(await a.tryTake(), false);
  assert.equal(await b.tryTake(), false);
  clock.t += BUDGET_WINDOW_MS;
  assert.equal(await a.tryTake(), true);
});

test('a refund frees the slot for any replica', async () => {
  const leases = new FakeLeases();
  const clock = { t: 5_000_000 };
  const a = new LeaseBudget({ api: leases, identity: 'a', perMinute: 1, now: () => clock.t });
  const b = new LeaseBudget({ api: leases, identity: 'b', perMinute: 1, now: () => clock.t });
  assert.equal(await a.tryTake(), true);
  assert.equal(await b.tryTake(), false);
  await a.refund();
  clock.t += 1001; // b looks again at most once a second
  assert.equal(await b.tryTake(), true);
});

test('steady state: one take costs one write; a spent budget costs no call within a second', async () => {
  const leases = new FakeLeases();
  const clock = { t: 5_000_000 };
  const a = new LeaseBudget({ api: leases, identity: 'a', perMinute: 3, now: () => clock.t });
  await a.tryTake(); // first take lists the slots
  const before = { ...leases.calls };
  await a.tryTake();
  await a.tryTake();
  assert.equal(leases.calls.create - before.create, 2);
  assert.equal(leases.calls.list, before.list);
  const spent = { ...leases.calls };
  assert.equal(await a.tryTake(), false);
  assert.deepEqual({ ...leases.calls }, spent);
});

test('0 refuses everything; an unavailable API refuses (fail closed) and never throws', async () => {
  const leases = new FakeLeases();
  assert.equal(await new LeaseBudget({ api: leases, identity: 'a', perMinute: 0 }).tryTake(), false);
  leases.failWith = 500;
  assert.equal(await new LeaseBudget({ api: leases, identity: 'a', perMinute: 3 }).tryTake(), false);
  assert.throws(() => new LeaseBudget({ api: leases, identity: 'a', perMinute: 1.5 }), /integer/);
});
