import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PatchStrategy, RequestContext } from '@kubernetes/client-node';
import { boundedName, classifyPod, requestOptions, requiredReplicas } from './common.js';
import { podFixture } from '../../../test/fakes/kube.js';
import { ActionnerRegistry } from '../registry.js';
import type { Actionner } from '../types.js';
import { cordonActionner } from './cordon.js';
import { deleteActionner } from './delete.js';
import { drainActionner } from './drain.js';
import { networkPolicyActionner } from './networkpolicy.js';
import { terminateActionner } from './terminate.js';

test('requestOptions sets the abort signal and the patch Content-Type on the request', async () => {
  const ac = new AbortController();
  const ctx = new RequestContext('http://x', 'PATCH' as never);
  for (const mw of requestOptions(ac.signal, PatchStrategy.MergePatch).middleware ?? []) await mw.pre(ctx).toPromise();
  assert.equal(ctx.getHeaders()['Content-Type'], 'application/merge-patch+json');
  assert.equal(ctx.getSignal(), ac.signal);
  assert.deepEqual(requestOptions().middleware, []);
});

test('requiredReplicas: counts as given, percentages of desired rounded up', () => {
  assert.deepEqual(
    [requiredReplicas('2', 10), requiredReplicas('50%', 3), requiredReplicas('33%', 10), requiredReplicas('100%', 4), requiredReplicas('0%', 4)],
    [2, 2, 4, 4, 0],
  );
});

test('boundedName keeps short names and cuts long ones to 253 characters with a stable suffix', () => {
  assert.equal(boundedName('talon-quarantine-', 'web-1'), 'talon-quarantine-web-1');
  const long = 'a'.repeat(300);
  const n = boundedName('talon-quarantine-', long);
  assert.equal(n.length, 253);
  assert.equal(n, boundedName('talon-quarantine-', long));
  assert.notEqual(n, boundedName('talon-quarantine-', `${long}b`));
});

test('classifyPod by controller owner', () => {
  assert.equal(classifyPod(podFixture('a', 'p')), 'Standalone');
  assert.equal(classifyPod(podFixture('a', 'p', { owner: { kind: 'DaemonSet', name: 'd' } })), 'DaemonSet');
  assert.equal(classifyPod(podFixture('a', 'p', { owner: { kind: 'StatefulSet', name: 's' } })), 'StatefulSet');
  assert.equal(classifyPod(podFixture('a', 'p', { owner: { kind: 'ReplicaSet', name: 'r' } })), 'Other');
});

test('the actionners of this package register, and their examples and defaults pass the registry', () => {
  const list: Actionner[] = [terminateActionner, networkPolicyActionner, deleteActionner, cordonActionner, drainActionner];
  const reg = new ActionnerRegistry(list);
  for (const a of list) {
    const ex = reg.validateParams(a.info.name, a.info.example, 'parameters');
    assert.ok(ex.ok, `${a.info.name} example: ${JSON.stringify(ex)}`);
    assert.ok(reg.validateParams(a.info.name, {}, 'parameters').ok, `${a.info.name} defaults`);
    assert.ok(a.info.rbac.length > 0);
  }
  const d = reg.validateParams('kubernetes:networkpolicy', {}, 'parameters');
  assert.deepEqual(d.ok && d.params, { allowDNS: true, allowCIDRs: [], allowNamespaces: [] });
});
