import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { FakeKube, falcoEvent, targetOf } from '../../../test/fakes/kube.js';
import type { FieldValue } from '../../falco/event.js';
import type { ActionResult } from '../types.js';
import { deleteActionner, DeleteParams } from './delete.js';
import { DELETABLE_RESOURCES } from './common.js';
import { kindOfResource } from '../../falco/target.js';

function run(fake: FakeKube, fields: Record<string, FieldValue>): Promise<ActionResult> {
  const event = falcoEvent(fields, { source: 'k8s_audit' });
  return deleteActionner.run({
    event,
    target: targetOf(event, 'audited'),
    params: {},
    signal: new AbortController().signal,
    kube: fake.clients,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: 'talon-system', name: 'r' },
    actionName: 'del',
  });
}

test('the example validates and no parameter is accepted', () => {
  assert.ok(Value.Check(DeleteParams, deleteActionner.info.example));
  assert.equal(Value.Check(DeleteParams, { force: true }), false);
});

test('deletes the audited namespaced object in its namespace', async () => {
  const fake = new FakeKube();
  fake.add('ServiceAccount', { metadata: { name: 'sneaky', namespace: 'app' } });
  fake.add('ServiceAccount', { metadata: { name: 'sneaky', namespace: 'other' } });
  const r = await run(fake, { 'ka.target.resource': 'serviceaccounts', 'ka.target.name': 'sneaky', 'ka.target.namespace': 'app' });
  assert.deepEqual([r.status, r.reason], ['success', 'Deleted']);
  assert.equal(fake.get('ServiceAccount', 'app', 'sneaky'), undefined);
  assert.ok(fake.get('ServiceAccount', 'other', 'sneaky'));
});

test('every supported kind is deleted', async () => {
  const kinds: [string, string, boolean][] = [
    ['configmaps', 'ConfigMap', true],
    ['secrets', 'Secret', true],
    ['services', 'Service', true],
    ['deployments', 'Deployment', true],
    ['daemonsets', 'DaemonSet', true],
    ['statefulsets', 'StatefulSet', true],
    ['replicasets', 'ReplicaSet', true],
    ['roles', 'Role', true],
    ['clusterroles', 'ClusterRole', false],
    ['namespaces', 'Namespace', false],
  ];
  for (const [resource, kind, namespaced] of kinds) {
    const fake = new FakeKube();
    fake.add(kind, { metadata: { name: 'x', ...(namespaced ? { namespace: 'app' } : {}) } });
    const r = await run(fake, { 'ka.target.resource': resource, 'ka.target.name': 'x', ...(namespaced ? { 'ka.target.namespace': 'app' } : {}) });
    assert.equal(r.status, 'success', `${resource}: ${r.message}`);
    assert.equal(fake.get(kind, namespaced ? 'app' : undefined, 'x'), undefined, resource);
  }
});

test('an object already gone is success', async () => {
  const r = await run(new FakeKube(), { 'ka.target.resource': 'configmaps', 'ka.target.name': 'gone', 'ka.target.namespace': 'app' });
  assert.deepEqual([r.status, r.reason], ['success', 'AlreadyGone']);
});

test('precheck refuses resources it cannot delete', () => {
  const check = (fields: Record<string, FieldValue>) => {
    const ev = falcoEvent(fields);
    return deleteActionner.precheck(ev, targetOf(ev, 'audited'), {});
  };
  assert.deepEqual(check({ 'ka.target.resource': 'nodes', 'ka.target.name': 'n1' }), {
    ok: false,
    reason: 'UnsupportedResource',
    message: "kubernetes:delete does not delete 'nodes' (supported: namespaces, configmaps, secrets, services, serviceaccounts, deployments, daemonsets, statefulsets, replicasets, roles, clusterroles)",
  });
  assert.equal(check({ 'ka.target.resource': 'widgets', 'ka.target.name': 'w', 'ka.target.namespace': 'app' }).ok, false);
  assert.equal(check({ 'ka.target.resource': 'clusterroles', 'ka.target.name': 'c' }).ok, true);
});

test('every deletable resource has a known kind and scope in falco/target.ts', () => {
  for (const plural of DELETABLE_RESOURCES.keys()) assert.ok(kindOfResource(plural), plural);
});

test('deletes the object it is handed, never what k8s.* fields of the alert name', async () => {
  const fake = new FakeKube();
  fake.add('ConfigMap', { metadata: { name: 'x', namespace: 'app' } });
  fake.add('Pod', { metadata: { name: 'x', namespace: 'app' } });
  const r = await run(fake, { 'k8s.ns.name': 'other', 'k8s.pod.name': 'x', 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': 'app' });
  assert.equal(r.reason, 'Deleted');
  assert.deepEqual(r.objects, [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', namespace: 'app' }]);
  assert.equal(fake.get('ConfigMap', 'app', 'x'), undefined);
  assert.ok(fake.get('Pod', 'app', 'x'));
});
