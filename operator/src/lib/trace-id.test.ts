import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newTraceId, TRACE_ID_PATTERN } from './trace-id.js';

test('trace ids are W3C trace-ids: 32 lowercase hex digits, not all zeros, distinct', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = newTraceId();
    assert.match(id, TRACE_ID_PATTERN);
    assert.notEqual(id, '0'.repeat(32));
    seen.add(id);
  }
  assert.equal(seen.size, 1000);
});
