import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullGc, IdleCompactor } from './idle-compaction.js';

const MiB = 1024 * 1024;

function rig(o: { heap?: number; started?: boolean } = {}) {
  const s = { now: 0, activity: 0, drained: true, heap: o.heap ?? 70 * MiB, gcs: 0 };
  const c = new IdleCompactor({
    activity: () => s.activity,
    drained: () => s.drained,
    now: () => s.now,
    heapUsed: () => s.heap,
    gc: () => {
      s.gcs++;
      s.heap = 70 * MiB;
    },
    quietMs: 10_000,
    growthBytes: 32 * MiB,
  });
  if (o.started !== false) {
    // the compaction once quiet after start
    s.now = 10_000;
    assert.equal(c.tick(), true);
    s.gcs = 0;
  }
  return { s, c };
}

test('compacts once after a burst, when drained and quiet for quietMs, and not again while quiet', () => {
  const { s, c } = rig();
  s.activity = 60_000; // a burst arrived
  s.heap = 190 * MiB;
  s.now = 15_000;
  assert.equal(c.tick(), false, 'activity moved: not quiet yet');
  s.now = 20_000;
  assert.equal(c.tick(), false, 'quiet for 5 s only');
  s.now = 25_000;
  assert.equal(c.tick(), true);
  assert.equal(s.gcs, 2, "two full GCs: free, then compact");
  s.now = 60_000;
  assert.equal(c.tick(), false, 'the heap has not grown since');
  assert.equal(c.count(), 2);
});

test('never compacts while work is unfinished or alerts keep arriving', () => {
  const { s, c } = rig();
  s.heap = 300 * MiB;
  s.drained = false;
  for (s.now = 10_000; s.now <= 60_000; s.now += 5_000) c.tick();
  s.drained = true;
  for (; s.now <= 120_000; s.now += 5_000) {
    s.activity++;
    c.tick();
  }
  assert.equal(s.gcs, 0);
});

test('a heap that grew less than growthBytes is left alone', () => {
  const { s, c } = rig();
  s.heap = 90 * MiB;
  for (s.now = 10_000; s.now <= 60_000; s.now += 5_000) c.tick();
  assert.equal(s.gcs, 0);
});

test('the first quiet period after start compacts whatever the heap holds', () => {
  const { s, c } = rig({ started: false, heap: 60 * MiB });
  s.now = 5_000;
  assert.equal(c.tick(), false);
  s.now = 10_000;
  assert.equal(c.tick(), true);
  s.now = 30_000;
  assert.equal(c.tick(), false);
});

test('fullGc gives a callable full GC without --expose-gc on the command line', () => {
  const gc = fullGc();
  assert.equal(typeof gc, 'function');
  gc();
  assert.equal(fullGc(), gc, 'obtained once');
});

test('beforeCompaction runs on quiet, drained looks only, before the heap is measured', () => {
  let calls = 0;
  let heap = 200 * MiB;
  let activity = 0;
  let now = 0;
  const c = new IdleCompactor({
    activity: () => activity,
    drained: () => true,
    now: () => now,
    heapUsed: () => heap,
    gc: () => undefined,
    beforeCompaction: () => {
      calls++;
      heap = 10 * MiB; // what it dropped leaves too little to compact
    },
  });
  activity = 1;
  now = 20_000;
  assert.equal(c.tick(), false, 'activity moved');
  now = 25_000;
  assert.equal(c.tick(), false, 'quiet for 5 s only');
  assert.equal(calls, 0);
  now = 30_000;
  assert.equal(c.tick(), false, '10 MiB after the drop: below growthBytes');
  assert.equal(calls, 1);
});
