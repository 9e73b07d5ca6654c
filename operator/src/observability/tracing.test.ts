import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newTraceId } from '../lib/trace-id.js';
import { alertSpanId, sampled } from './tracing.js';

test('sampling is decided from the trace id alone: the same answer for every span of an alert, about the ratio overall', () => {
  const ids = Array.from({ length: 4000 }, newTraceId);
  assert.ok(ids.every((id) => sampled(id, 1)));
  assert.ok(ids.every((id) => !sampled(id, 0)));
  const half = ids.filter((id) => sampled(id, 0.5)).length;
  assert.ok(half > 1700 && half < 2300, `${half} of 4000 sampled at 0.5`);
  for (const id of ids.slice(0, 50)) assert.equal(sampled(id, 0.3), sampled(id, 0.3));
  assert.equal(sampled('0af7651916cd43dd8448eb2100000000', 0.01), true);
  assert.equal(sampled('0af7651916cd43dd8448eb21ffffffff', 0.99), false);
});

test('the alert span id is the trace id’s last 16 hex digits', () => {
  assert.equal(alertSpanId('4bf92f3577b34da6a3ce929d0e0e4736'), 'a3ce929d0e0e4736');
});
