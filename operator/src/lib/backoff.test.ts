import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.js';

test('bounds grow exponentially up to maxMs with the top of the jitter range', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 1 });
  assert.deepEqual(
    Array.from({ length: 7 }, () => b.next()),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  assert.equal(b.attempts, 7);
});

test('full jitter draws uniformly between minMs and the bound', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, minMs: 10, random: () => 0.5 });
  assert.deepEqual([b.next(), b.next(), b.next()], [55, 105, 205]);
  const zero = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
  assert.deepEqual([zero.next(), zero.next()], [0, 0]);
});

test('reset starts over from the first bound', () => {
  const b = new Backoff({ initialMs: 50, maxMs: 400, factor: 3, random: () => 1 });
  assert.deepEqual([b.next(), b.next(), b.next()], [50, 150, 400]);
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.next(), 50);
});

test('many attempts never overflow past maxMs', () => {
  const b = new Backoff({ initialMs: 1, maxMs: 30_000, random: () => 1 });
  let last = 0;
  for (let i = 0; i < 5000; i++) last = b.next();
  assert.equal(last, 30_000);
});

test('rejects inconsistent options', () => {
  assert.throws(() => new Backoff({ initialMs: 0, maxMs: 10 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 5 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 50, minMs: 11 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 50, factor: 0.5 }), RangeError);
});
