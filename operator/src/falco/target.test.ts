import { test } from 'node:test';
import assert from 'node:assert/strict';
import { falcoEvent } from '../../test/fakes/kube.js';
import type { FieldValue } from './event.js';
import { AUDIT_RESOURCES, alertNamespace, alertObject, kindOfResource, objectKey, resolveTarget, targetText, type TargetResolution, type TargetSubject } from './target.js';

const resolve = (fields: Record<string, FieldValue>, subject: TargetSubject, hostname = ''): TargetResolution => resolveTarget(falcoEvent(fields, { hostname }), subject);

function target(fields: Record<string, FieldValue>, subject: TargetSubject, hostname = '') {
  const r = resolve(fields, subject, hostname);
  if (!r.ok) assert.fail(`expected a ${subject} target, got: ${r.message}`);
  return r.target;
}

const failure = (fields: Record<string, FieldValue>, subject: TargetSubject, hostname = ''): string => {
  const r = resolve(fields, subject, hostname);
  if (r.ok) assert.fail(`expected no ${subject} target, got ${JSON.stringify(r.target)}`);
  return r.message;
};

const pod = (namespace: string, name: string) => ({ apiVersion: 'v1', kind: 'Pod', namespace, name });

test('pod: k8s.pod.name and k8s.ns.name', () => {
  assert.deepEqual(target({ 'k8s.pod.name': 'web-1', 'k8s.ns.name': 'shop' }, 'pod'), { subject: 'pod', object: pod('shop', 'web-1') });
});

test('pod: falls back to ka.target.pod.name, then to ka.target.name of a pods resource; namespace to ka.target.namespace', () => {
  assert.deepEqual(target({ 'ka.target.pod.name': 'exec-me', 'ka.target.namespace': 'app' }, 'pod').object, pod('app', 'exec-me'));
  assert.deepEqual(target({ 'ka.target.resource': 'pods', 'ka.target.name': 'audited', 'ka.target.namespace': 'app' }, 'pod').object, pod('app', 'audited'));
  // k8s.* wins over ka.* for both name and namespace.
  assert.deepEqual(target({ 'k8s.pod.name': 'a', 'ka.target.pod.name': 'b', 'k8s.ns.name': 'n1', 'ka.target.namespace': 'n2' }, 'pod').object, pod('n1', 'a'));
  assert.deepEqual(target({ 'ka.target.pod.name': 'b', 'ka.target.resource': 'pods', 'ka.target.name': 'c', 'ka.target.namespace': 'n2' }, 'pod').object, pod('n2', 'b'));
  // Numbers are names too (fields may arrive as numbers).
  assert.deepEqual(target({ 'k8s.pod.name': 42, 'k8s.ns.name': 'n' }, 'pod').object, pod('n', '42'));
});

test('pod: ka.target.name of another resource is never a pod; no name or no namespace is no target', () => {
  assert.match(failure({ 'ka.target.resource': 'configmaps', 'ka.target.name': 'cfg', 'ka.target.namespace': 'app' }, 'pod'), /names no pod and namespace/);
  assert.match(failure({ 'k8s.pod.name': 'web-1' }, 'pod'), /names no pod and namespace/);
  assert.match(failure({ 'k8s.ns.name': 'shop' }, 'pod'), /names no pod and namespace/);
  assert.match(failure({ 'k8s.pod.name': '', 'k8s.ns.name': 'shop' }, 'pod'), /names no pod/);
  assert.match(failure({ 'k8s.pod.name': null, 'k8s.ns.name': 'shop' }, 'pod'), /names no pod/);
});

test('the issue\'s alert: the pod is the k8s.* pod, the audited object the ka.target.* one', () => {
  const fields = { 'k8s.pod.name': 'coredns-abc', 'k8s.ns.name': 'kube-system', 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': 'default' };
  assert.deepEqual(target(fields, 'pod').object, pod('kube-system', 'coredns-abc'));
  assert.deepEqual(target(fields, 'audited'), { subject: 'audited', resource: 'configmaps', object: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'x' } });
});

test('audited: every known resource resolves to its kind, with the namespace only for namespaced kinds', () => {
  for (const [resource, k] of AUDIT_RESOURCES) {
    const t = target({ 'ka.target.resource': resource, 'ka.target.name': 'obj', 'ka.target.namespace': 'app' }, 'audited');
    assert.deepEqual(t.object, { apiVersion: k.apiVersion, kind: k.kind, name: 'obj', ...(k.namespaced ? { namespace: 'app' } : {}) }, resource);
  }
  assert.deepEqual(kindOfResource('clusterrolebindings'), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', namespaced: false });
  assert.equal(kindOfResource('widgets'), undefined);
});

test('audited: cluster-scoped kinds never take a namespace; namespaced kinds need one', () => {
  assert.deepEqual(target({ 'ka.target.resource': 'namespaces', 'ka.target.name': 'kube-system', 'ka.target.namespace': 'kube-system' }, 'audited').object, {
    apiVersion: 'v1',
    kind: 'Namespace',
    name: 'kube-system',
  });
  assert.deepEqual(target({ 'ka.target.resource': 'clusterroles', 'ka.target.name': 'system:basic-user' }, 'audited').object, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    name: 'system:basic-user',
  });
  assert.match(failure({ 'ka.target.resource': 'secrets', 'ka.target.name': 's' }, 'audited'), /secrets 's' without its namespace \(ka\.target\.namespace\)/);
});

test('audited: unknown resources keep their plural as kind and the alert\'s namespace; k8s.* fields are never used', () => {
  assert.deepEqual(target({ 'ka.target.resource': 'widgets', 'ka.target.name': 'w', 'ka.target.namespace': 'app' }, 'audited').object, { kind: 'widgets', namespace: 'app', name: 'w' });
  assert.deepEqual(target({ 'ka.target.resource': 'widgets', 'ka.target.name': 'w', 'k8s.ns.name': 'elsewhere' }, 'audited').object, { kind: 'widgets', name: 'w' });
  assert.match(failure({ 'k8s.pod.name': 'p', 'k8s.ns.name': 'n' }, 'audited'), /names no audited object \(ka\.target\.resource, ka\.target\.name\)/);
  assert.match(failure({ 'ka.target.resource': 'configmaps' }, 'audited'), /names no audited object/);
});

test('node: the pod (its node is looked up at run time), else the hostname, else nothing', () => {
  assert.deepEqual(target({ 'k8s.pod.name': 'p', 'k8s.ns.name': 'n' }, 'node', 'node-7'), { subject: 'node', pod: pod('n', 'p') });
  assert.deepEqual(target({}, 'node', 'node-7'), { subject: 'node', object: { apiVersion: 'v1', kind: 'Node', name: 'node-7' } });
  assert.deepEqual(target({ 'k8s.pod.name': 'p' }, 'node', 'node-7').object?.name, 'node-7');
  assert.match(failure({}, 'node', ''), /no pod .* and no hostname/);
});

test('none: always resolves, to no object', () => {
  assert.deepEqual(target({}, 'none'), { subject: 'none' });
});

test('resolved targets are frozen', () => {
  const t = target({ 'k8s.pod.name': 'p', 'k8s.ns.name': 'n' }, 'pod');
  assert.ok(Object.isFrozen(t));
});

test('alertObject (the work-queue key): the pod, else the audited object, else the hostname node', () => {
  const key = (fields: Record<string, FieldValue>, hostname = '') => objectKey(alertObject(falcoEvent(fields, { hostname })));
  assert.equal(key({ 'k8s.pod.name': 'web-1', 'k8s.ns.name': 'default', 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': 'app' }), 'Pod/default/web-1');
  assert.equal(key({ 'ka.target.resource': 'configmaps', 'ka.target.name': 'cfg', 'ka.target.namespace': 'app' }), 'ConfigMap/app/cfg');
  assert.equal(key({ 'ka.target.resource': 'namespaces', 'ka.target.name': 'kube-system' }), 'Namespace//kube-system');
  assert.equal(key({}, 'n1'), 'Node//n1');
  assert.equal(key({}), 'event');
});

test('alertNamespace (which tenant rules an alert selects): the pod\'s namespace, else the audited object\'s', () => {
  const ns = (fields: Record<string, FieldValue>) => alertNamespace(falcoEvent(fields));
  assert.equal(ns({ 'k8s.pod.name': 'p', 'k8s.ns.name': 'team-a', 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': 'team-b' }), 'team-a');
  // k8s.ns.name selects even when the audited object is elsewhere; each action's guard then checks its own object.
  assert.equal(ns({ 'k8s.ns.name': 'team-a', 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': 'team-b' }), 'team-a');
  assert.equal(ns({ 'ka.target.pod.name': 'p', 'ka.target.namespace': 'team-a' }), 'team-a');
  assert.equal(ns({ 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': 'team-b' }), 'team-b');
  assert.equal(ns({ 'ka.target.resource': 'namespaces', 'ka.target.name': 'team-b', 'ka.target.namespace': 'team-b' }), undefined, 'a cluster-scoped audited object selects no tenant');
  assert.equal(ns({ 'ka.target.resource': 'clusterroles', 'ka.target.name': 'admin' }), undefined);
  assert.equal(ns({}), undefined);
});

test('targetText', () => {
  assert.equal(targetText(target({ 'k8s.pod.name': 'p', 'k8s.ns.name': 'n' }, 'pod')), 'Pod n/p');
  assert.equal(targetText(target({ 'k8s.pod.name': 'p', 'k8s.ns.name': 'n' }, 'node', 'h')), 'the node of Pod n/p');
  assert.equal(targetText(target({}, 'node', 'h')), 'Node h');
  assert.equal(targetText(target({ 'ka.target.resource': 'clusterroles', 'ka.target.name': 'c' }, 'audited')), 'ClusterRole c');
  assert.equal(targetText(target({}, 'none')), 'the alert (no Kubernetes object)');
});
