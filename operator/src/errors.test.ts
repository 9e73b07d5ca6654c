import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import { TalonError, TerminalError, fromKubeError, terminalUnlessRetryable } from './errors.js';

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

test('Kubernetes API errors map by status code', () => {
  const table: [number, string, boolean][] = [
    [400, 'BadRequest', false],
    [401, 'Unauthorized', false],
    [403, 'Forbidden', false],
    [404, 'NotFound', false],
    [409, 'Conflict', true],
    [410, 'Gone', true],
    [418, 'ClientError', false],
    [422, 'Invalid', false],
    [429, 'TooManyRequests', true],
    [500, 'ServerError', true],
    [503, 'ServerError', true],
    [504, 'ServerError', true],
  ];
  for (const [code, name, retryable] of table) {
    const e = fromKubeError(new ApiException(code, 'x', status(code, 'R', `message ${code}`), {}));
    assert.equal(e.code, name, String(code));
    assert.equal(e.retryable, retryable, String(code));
    assert.equal(e.status, code);
    assert.equal(e.message, `message ${code}`);
    assert.ok(e.cause instanceof ApiException);
  }
});

test('the body may be JSON text, or absent', () => {
  const e = fromKubeError(new ApiException(404, 'x', JSON.stringify(status(404, 'NotFound', 'pods "a" not found')), {}));
  assert.equal(e.message, 'pods "a" not found');
  assert.equal(fromKubeError(new ApiException(502, 'x', '<html>bad gateway</html>', {})).message, 'HTTP 502');
  assert.equal(fromKubeError({ statusCode: 409 }).code, 'Conflict');
  assert.equal(fromKubeError({ response: { statusCode: 429 } }).code, 'TooManyRequests');
});

test('a 403 names the missing verb, resource and namespace', () => {
  const msg = 'pods "web-1" is forbidden: User "system:serviceaccount:talon:talon" cannot delete resource "pods" in API group "" in the namespace "default"';
  const e = fromKubeError(new ApiException(403, 'x', status(403, 'Forbidden', msg), {}));
  assert.equal(e.message, `missing RBAC permission: cannot delete pods in namespace "default": ${msg}`);
  const g = fromKubeError(
    new ApiException(403, 'x', status(403, 'Forbidden', 'User "u" cannot create resource "networkpolicies" in API group "crd.projectcalico.org" in the namespace "x"'), {}),
  );
  assert.match(g.message, /^missing RBAC permission: cannot create networkpolicies \(API group "crd.projectcalico.org"\) in namespace "x": /);
  const node = fromKubeError(
    new ApiException(403, 'x', status(403, 'Forbidden', 'nodes "n1" is forbidden: User "u" cannot patch resource "nodes" in API group "" at the cluster scope'), {}),
  );
  assert.match(node.message, /^missing RBAC permission: cannot patch nodes at the cluster scope: /);
  const evict = fromKubeError(
    new ApiException(403, 'x', status(403, 'Forbidden', 'User "u" cannot create resource "pods/eviction" in API group "" in the namespace "web"'), {}),
  );
  assert.match(evict.message, /^missing RBAC permission: cannot create pods\/eviction in namespace "web": /);
  assert.equal(fromKubeError(new ApiException(403, 'x', status(403, 'Forbidden', 'no'), {})).message, 'no');
});

test('429 carries Retry-After', () => {
  const e = fromKubeError(new ApiException(429, 'x', status(429, 'TooManyRequests', 'slow down'), { 'retry-after': '2' }));
  assert.equal(e.retryAfterMs, 2000);
});

test('network errors are retryable, through cause chains', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
  const e = fromKubeError(refused);
  assert.equal(e.code, 'NetworkError');
  assert.equal(e.retryable, true);
  const wrapped = new Error('request to https://k failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) });
  assert.equal(fromKubeError(wrapped).code, 'NetworkError');
  const fetchError = Object.assign(new Error('request failed'), { type: 'system', errno: 'ETIMEDOUT', code: 'ETIMEDOUT' });
  assert.equal(fromKubeError(fetchError).retryable, true);
});

test('aborts, unknown errors and TalonErrors', () => {
  const abort = fromKubeError(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
  assert.equal(abort.code, 'Aborted');
  assert.equal(abort.retryable, false);
  const unknown = fromKubeError(new TypeError('boom'));
  assert.equal(unknown.code, 'Unknown');
  assert.ok(unknown instanceof TerminalError);
  assert.equal(fromKubeError('text').message, 'text');
  const mine = new TalonError('Conflict', 'stale', { retryable: true });
  assert.equal(fromKubeError(mine), mine);
});

test('TerminalError is never retryable', () => {
  const e = new TerminalError('Invalid', 'bad');
  assert.ok(e instanceof TalonError && e instanceof Error);
  assert.equal(e.retryable, false);
  assert.equal(e.name, 'TerminalError');
});

test('terminalUnlessRetryable: retryable failures stay retryable, the rest become terminal', () => {
  const conflict = terminalUnlessRetryable({ code: 409, body: { message: 'conflict' } });
  assert.ok(!(conflict instanceof TerminalError));
  assert.equal(conflict.code, 'Conflict');
  assert.equal(conflict.retryable, true);
  assert.ok(!(terminalUnlessRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' })) instanceof TerminalError));
  const invalid = terminalUnlessRetryable({ code: 422, body: { message: 'status.conditions: Too many: 9' } });
  assert.ok(invalid instanceof TerminalError);
  assert.equal(invalid.code, 'Invalid');
  assert.equal(invalid.status, 422);
  assert.equal(invalid.message, 'status.conditions: Too many: 9');
  assert.ok(terminalUnlessRetryable({ code: 403, body: {} }) instanceof TerminalError);
  assert.ok(terminalUnlessRetryable(new TypeError('bug')) instanceof TerminalError);
  const t = new TerminalError('Invalid', 'x');
  assert.equal(terminalUnlessRetryable(t), t);
});
