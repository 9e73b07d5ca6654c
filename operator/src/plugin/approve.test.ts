import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDecideArgs } from './approve.js';

test('parseDecideArgs: name, namespace, reason and kubeconfig, as separate or = values', () => {
  assert.deepEqual(parseDecideArgs(['kill-x', '-n', 'shop', '--reason', 'confirmed by on-call']), { name: 'kill-x', namespace: 'shop', reason: 'confirmed by on-call' });
  assert.deepEqual(parseDecideArgs(['--namespace=shop', 'kill-x', '--kubeconfig=/k']), { name: 'kill-x', namespace: 'shop', kubeconfig: '/k' });
  assert.equal(parseDecideArgs([]), 'missing the TalonApproval NAME');
  assert.equal(parseDecideArgs(['a', '--reason']), '--reason needs a value');
  assert.equal(parseDecideArgs(['a', '-x', '1']), 'unknown flag -x');
  assert.equal(parseDecideArgs(['a', 'b']), "one TalonApproval at a time (got 'a' and 'b')");
});
