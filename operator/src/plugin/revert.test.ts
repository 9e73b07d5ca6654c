import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRevertArgs } from './revert.js';
import { runPlugin } from './kubectl-talon.js';

test('revert arguments: KIND/NAME with kubectl aliases, -n, --id, --timeout, --flag=value', () => {
  assert.deepEqual(parseRevertArgs(['po/web-1', '-n', 'shop', '--id', 'abc', '--timeout=10s']), { kind: 'pod', name: 'web-1', namespace: 'shop', id: 'abc', timeoutMs: 10_000 });
  assert.deepEqual(parseRevertArgs(['node/n1', '--kubeconfig', '/k']), { kind: 'node', name: 'n1', timeoutMs: 60_000, kubeconfig: '/k' });
  assert.equal((parseRevertArgs(['netpol/talon-quarantine-x']) as { kind: string }).kind, 'networkpolicy');
});

test('bad revert arguments say what is wrong', () => {
  assert.match(parseRevertArgs([]) as string, /KIND\/NAME/);
  assert.match(parseRevertArgs(['deployment/x']) as string, /is not pod\/NAME, node\/NAME or networkpolicy\/NAME/);
  assert.match(parseRevertArgs(['pod/x', '--timeout', 'soon']) as string, /--timeout/);
  assert.match(parseRevertArgs(['pod/x', '--force']) as string, /unknown flag '--force'/);
  assert.match(parseRevertArgs(['pod/x', 'pod/y']) as string, /unexpected argument/);
});

test('kubectl talon revert with bad arguments exits 2 with its usage, before reading any kubeconfig', async () => {
  let err = '';
  assert.equal(await runPlugin(['revert', 'pod'], { stdout: () => undefined, stderr: (t) => void (err += t) }), 2);
  assert.match(err, /usage: kubectl talon revert/);
});
