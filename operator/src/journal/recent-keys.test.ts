import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentKeys } from './recent-keys.js';

const keysOf = (r: RecentKeys): string[] => [...r.batches(3)].flatMap((b) => b.keys);

test('trim forgets keys past the window, then the oldest beyond the cap; what stays is in order', () => {
  const r = new RecentKeys();
  for (let i = 0; i < 10; i++) r.push(`k${i}`, 1000 + i * 100);
  r.trim(2000, 600, 100); // k0..k4 are ≥ 600 ms old
  assert.deepEqual(keysOf(r), ['k5', 'k6', 'k7', 'k8', 'k9']);
  r.trim(2000, 600, 2);
  assert.deepEqual(keysOf(r), ['k8', 'k9']);
  r.trim(2000, 600, 0);
  assert.equal(r.size, 0);
  r.push('k10', 2100);
  assert.deepEqual(keysOf(r), ['k10']);
});

test('a long queue compacts its consumed front and keeps every live key', () => {
  const r = new RecentKeys();
  for (let i = 0; i < 50_000; i++) r.push(`k${i}`, i);
  for (let cut = 1000; cut <= 45_000; cut += 1000) r.trim(cut + 10_000, 10_000, Infinity);
  assert.equal(r.size, 4999); // a key exactly windowMs old is past the window
  const keys = keysOf(r);
  assert.equal(keys[0], 'k45001');
  assert.equal(keys.at(-1), 'k49999');
  // the consumed front was dropped: the arrays hold about the live keys, not all 50,000
  assert.ok((r as unknown as { keys: string[] }).keys.length < 12_000);
});
