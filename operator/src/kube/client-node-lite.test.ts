import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as lite from './client-node-lite.js';

test('the deep imports are the very values the package root exports (an upgrade that moves them fails here)', async () => {
  const root = await import('@kubernetes/client-node');
  assert.equal(lite.ApiException, root.ApiException);
  assert.equal(lite.Exec, root.Exec);
  assert.equal(lite.Observable, root.Observable);
  assert.equal(lite.PatchStrategy, root.PatchStrategy);
  assert.equal(lite.setHeaderOptions, root.setHeaderOptions);
  assert.ok(new lite.ApiException(404, 'x', {}, {}) instanceof root.ApiException);
});
