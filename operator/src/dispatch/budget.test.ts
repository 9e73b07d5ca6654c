import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucketBudget } from './budget.js';

test('allows perMinute actions at once, then refills continuously', () => {
  let t = 0;
  const b = new TokenBucketBudget(3, () => t);
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), false);
  t += 19_999;
  assert.equal(b.tryTake(), false);
  t += 1;
  assert.equal(b.tryTake(), true);
  t += 10 * 60_000;
  assert.equal(b.available(), 3);
});

test('refund gives a token back, never beyond the bucket size', () => {
  const b = new TokenBucketBudget(1, () => 0);
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), false);
  b.refund();
  b.refund();
  assert.equal(b.available(), 1);
});

test('0 refuses everything; Infinity allows everything', () => {
  assert.equal(new TokenBucketBudget(0, () => 0).tryTake(), false);
  const inf = new TokenBucketBudget(Infinity, () => 0);
  for (let i = 0; i < 1000; i++) assert.equal(inf.tryTake(), true);
});
