import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoTime } from './iso-time.js';

test('isoTime is toISOString of the instant, also when asked again or for another instant', () => {
  for (const ms of [0, 1_764_500_000_123, 1_764_500_000_123, 1_764_500_000_124, 1_764_500_000_123, 86_400_000.5]) {
    assert.equal(isoTime(ms), new Date(ms).toISOString());
  }
  assert.throws(() => isoTime(Number.NaN), RangeError, 'an invalid instant throws as toISOString does');
});
