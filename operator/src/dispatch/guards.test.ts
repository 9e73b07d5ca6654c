import { test } from 'node:test';
import assert from 'node:assert/strict';
import { falcoEvent } from '../../test/fakes/kube.js';
import type { ActionnerUse, OperatorIdentity } from '../actionners/types.js';
import type { FieldValue } from '../falco/event.js';
import { resolveTarget, type ResolvedTarget, type TargetSubject } from '../falco/target.js';
import { checkGuards, protectedNamespaceGuard, type GuardResult, protectedObjectGuard, requiredFieldsGuard, selfProtectionGuard, tenancyGuard, type GuardInput } from './guards.js';

const identity: OperatorIdentity = {
  protectedNamespaces: new Set(['kube-system', 'talon-system']),
  podName: 'talon-operator-abc',
  podNamespace: 'talon-system',
};

function target(fields: Record<string, FieldValue>, subject: TargetSubject, hostname = 'node-1'): ResolvedTarget {
  const r = resolveTarget(falcoEvent(fields, { hostname }), subject);
  if (!r.ok) assert.fail(r.message);
  return r.target;
}

const podT = (ns: string, name: string) => target({ 'k8s.ns.name': ns, 'k8s.pod.name': name }, 'pod');
const audited = (resource: string, name: string, ns?: string) => target({ 'ka.target.resource': resource, 'ka.target.name': name, ...(ns !== undefined ? { 'ka.target.namespace': ns } : {}) }, 'audited');

const tenant = { scope: 'tenant' as const, namespace: 'team-a' };
const cluster = { scope: 'cluster' as const, namespace: 'talon-system' };
const reasonOf = (r: GuardResult): string | undefined => (r.ok ? undefined : r.reason);
const use = (target: TargetSubject, scope: ActionnerUse['scope']): ActionnerUse => ({ target, scope });

test('required fields: any alternative of every group must be present and non-empty', () => {
  const a = { name: 't:x', requiredFields: [['fd.sip', 'fd.rip'], ['proc.name']] };
  assert.equal(requiredFieldsGuard(falcoEvent({ 'fd.rip': '1.2.3.4', 'proc.name': 'sh' }), a), undefined);
  assert.deepEqual(requiredFieldsGuard(falcoEvent({ 'proc.name': 'sh' }), a), { reason: 'MissingFields', message: 'the alert lacks fd.sip or fd.rip, which t:x needs' });
  assert.equal(requiredFieldsGuard(falcoEvent({ 'fd.sip': '', 'fd.rip': null, 'proc.name': 'sh' }), a)?.reason, 'MissingFields');
});

test('tenancy: cluster-wide rules pass whatever the object', () => {
  assert.equal(tenancyGuard(cluster, 'k:del', use('audited', 'namespace'), audited('clusterroles', 'c'), new Set()), undefined);
  assert.equal(tenancyGuard(cluster, 'k:cordon', use('node', 'node'), target({}, 'node'), new Set()), undefined);
});

test('tenancy: a tenant rule acts only on objects of its own namespace', () => {
  assert.equal(tenancyGuard(tenant, 'k:kill', use('pod', 'pod'), podT('team-a', 'p'), new Set()), undefined);
  assert.equal(tenancyGuard(tenant, 'k:del', use('audited', 'namespace'), audited('configmaps', 'c', 'team-a'), new Set()), undefined);
  assert.deepEqual(tenancyGuard(tenant, 'k:kill', use('pod', 'pod'), podT('team-b', 'p'), new Set()), {
    reason: 'OutOfScope',
    message: "the action's target Pod team-b/p is in namespace 'team-b'; a rule in namespace 'team-a' may only act there",
  });
  assert.deepEqual(tenancyGuard(tenant, 'k:del', use('audited', 'namespace'), audited('namespaces', 'team-a'), new Set()), {
    reason: 'OutOfScope',
    message: "the action's target Namespace team-a is cluster-scoped; a rule in namespace 'team-a' may only act there",
  });
  assert.equal(tenancyGuard(tenant, 'k:del', use('audited', 'namespace'), audited('clusterroles', 'admin'), new Set())?.reason, 'OutOfScope');
});

test('tenancy: never a node use for a tenant rule, even through a pod of its namespace', () => {
  const r = tenancyGuard(tenant, 'kubernetes:cordon', use('node', 'node'), target({ 'k8s.ns.name': 'team-a', 'k8s.pod.name': 'p' }, 'node'), new Set(['team-a']));
  assert.deepEqual(r, { reason: 'OutOfScope', message: 'kubernetes:cordon acts on a node (the node of Pod team-a/p), which only cluster-wide rules may do' });
});

test('tenancy: cloud uses only in safety.cloudNamespaces, and their Kubernetes objects still in the namespace', () => {
  const none = target({}, 'none');
  assert.match(tenancyGuard(tenant, 'aws:lambda', use('none', 'cloud'), none, new Set())?.message ?? '', /cloud credentials, which rules in namespace 'team-a' may not \(safety\.cloudNamespaces\)/);
  assert.equal(tenancyGuard(tenant, 'aws:lambda', use('none', 'cloud'), none, new Set(['team-a'])), undefined);
  assert.equal(tenancyGuard(tenant, 'calico:np', use('pod', 'cloud'), podT('team-a', 'p'), new Set(['team-a'])), undefined);
  assert.equal(tenancyGuard(tenant, 'calico:np', use('pod', 'cloud'), podT('team-b', 'p'), new Set(['team-a']))?.reason, 'OutOfScope');
});

test('self-protection: the operator\'s own pod (by name and namespace) and its own RBAC', () => {
  assert.deepEqual(selfProtectionGuard(podT('talon-system', 'talon-operator-abc'), identity), { reason: 'SelfProtection', message: "Pod talon-system/talon-operator-abc is the operator's own pod" });
  assert.equal(selfProtectionGuard(podT('other', 'talon-operator-abc'), identity), undefined, 'same name in another namespace');
  assert.equal(selfProtectionGuard(podT('talon-system', 'talon-operator-abc'), { ...identity, podName: undefined }), undefined, 'POD_NAME unknown');
  assert.equal(selfProtectionGuard(podT('x', 'talon-operator-abc'), { ...identity, podNamespace: undefined })?.reason, 'SelfProtection', 'POD_NAMESPACE unknown: any namespace');
  // The audited pod is a pod too.
  assert.equal(selfProtectionGuard(audited('pods', 'talon-operator-abc', 'talon-system'), identity)?.reason, 'SelfProtection');
  // Default RBAC name, and a configured one.
  assert.deepEqual(selfProtectionGuard(audited('clusterroles', 'talon-operator'), identity), { reason: 'SelfProtection', message: "ClusterRole talon-operator is the operator's own RBAC" });
  assert.equal(selfProtectionGuard(audited('clusterrolebindings', 'talon-operator'), identity)?.reason, 'SelfProtection');
  const named = { ...identity, rbacNames: new Set(['rel-talon-operator']) };
  assert.equal(selfProtectionGuard(audited('clusterroles', 'rel-talon-operator'), named)?.reason, 'SelfProtection');
  assert.equal(selfProtectionGuard(audited('clusterroles', 'talon-operator'), named), undefined);
  // A Role of that name is not the operator's ClusterRole (its namespace decides).
  assert.equal(selfProtectionGuard(audited('roles', 'talon-operator', 'team-a'), identity), undefined);
});

test('protected objects: system: ClusterRoles/Bindings and the bootstrap roles', () => {
  assert.deepEqual(protectedObjectGuard(audited('clusterroles', 'system:basic-user')), {
    reason: 'ProtectedObject',
    message: 'ClusterRole system:basic-user belongs to Kubernetes (system:) and is never acted upon',
  });
  assert.equal(protectedObjectGuard(audited('clusterrolebindings', 'system:node'))?.reason, 'ProtectedObject');
  for (const name of ['cluster-admin', 'admin', 'edit', 'view']) assert.equal(protectedObjectGuard(audited('clusterroles', name))?.reason, 'ProtectedObject', name);
  assert.equal(protectedObjectGuard(audited('clusterrolebindings', 'cluster-admin'))?.reason, 'ProtectedObject');
  assert.equal(protectedObjectGuard(audited('clusterrolebindings', 'edit')), undefined, 'no built-in binding is called edit');
  assert.equal(protectedObjectGuard(audited('clusterroles', 'team-reader')), undefined);
  assert.equal(protectedObjectGuard(audited('roles', 'system:x', 'team-a')), undefined, 'namespaced Roles are left to namespace protection');
  assert.equal(protectedObjectGuard(podT('default', 'system:x')), undefined);
});

test('protected namespaces: objects in them, and the Namespace objects themselves', () => {
  const p = identity.protectedNamespaces;
  assert.deepEqual(protectedNamespaceGuard(podT('kube-system', 'coredns'), p), { reason: 'ProtectedNamespace', message: "namespace 'kube-system' is protected: Pod kube-system/coredns is never acted upon" });
  assert.equal(protectedNamespaceGuard(audited('configmaps', 'c', 'talon-system'), p)?.reason, 'ProtectedNamespace');
  assert.equal(protectedNamespaceGuard(audited('namespaces', 'kube-system'), p)?.reason, 'ProtectedNamespace');
  assert.equal(protectedNamespaceGuard(audited('namespaces', 'team-a'), p), undefined);
  assert.equal(protectedNamespaceGuard(podT('team-a', 'p'), p), undefined);
  // A node has no namespace: the pod it was found through does not protect it.
  assert.equal(protectedNamespaceGuard(target({ 'k8s.ns.name': 'kube-system', 'k8s.pod.name': 'p' }, 'node'), p), undefined);
  assert.equal(protectedNamespaceGuard(target({}, 'none'), p), undefined);
});

test('checkGuards: in order, on the resolved target; the first refusal wins', () => {
  const input = (over: Partial<GuardInput> & { fields?: Record<string, FieldValue>; subject?: TargetSubject }): GuardInput => {
    const ev = falcoEvent(over.fields ?? { 'k8s.ns.name': 'team-a', 'k8s.pod.name': 'p' });
    const subject = over.subject ?? 'pod';
    return {
      event: ev,
      rule: over.rule ?? cluster,
      actionner: over.actionner ?? { name: 'kubernetes:terminate', requiredFields: [] },
      use: over.use ?? use(subject, subject === 'audited' ? 'namespace' : subject === 'none' ? 'cloud' : subject),
      resolution: over.resolution ?? resolveTarget(ev, subject),
    };
  };
  const deps = { identity };
  const ok = checkGuards(input({}), deps);
  assert.deepEqual(ok, { ok: true, target: target({ 'k8s.ns.name': 'team-a', 'k8s.pod.name': 'p' }, 'pod') });
  assert.deepEqual(checkGuards(input({ fields: { 'k8s.ns.name': 'team-a' } }), deps), {
    ok: false,
    reason: 'MissingFields',
    message: 'the alert names no pod and namespace (k8s.pod.name, k8s.ns.name), which kubernetes:terminate needs',
  });
  assert.deepEqual(checkGuards(input({ actionner: { name: 'x', requiredFields: [['fd.sip']] } }), deps), { ok: false, reason: 'MissingFields', message: 'the alert lacks fd.sip, which x needs' });
  // Tenancy before protection: a tenant rule's kube-system target is OutOfScope.
  assert.equal(reasonOf(checkGuards(input({ rule: tenant, fields: { 'k8s.ns.name': 'kube-system', 'k8s.pod.name': 'p' } }), deps)), 'OutOfScope');
  // Self-protection before the protected namespace the operator lives in.
  assert.equal(reasonOf(checkGuards(input({ fields: { 'k8s.ns.name': 'talon-system', 'k8s.pod.name': 'talon-operator-abc' } }), deps)), 'SelfProtection');
  assert.equal(reasonOf(checkGuards(input({ fields: { 'k8s.ns.name': 'talon-system', 'k8s.pod.name': 'other' } }), deps)), 'ProtectedNamespace');
  // The alert, for an action on the pod and for one on the audited object.
  const mixed = { 'k8s.pod.name': 'coredns-abc', 'k8s.ns.name': 'kube-system', 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': 'default' };
  assert.equal(reasonOf(checkGuards(input({ fields: mixed }), deps)), 'ProtectedNamespace');
  assert.equal(checkGuards(input({ fields: mixed, subject: 'audited' }), deps).ok, true);
  // Cloud uses for tenant rules follow deps.cloudNamespaces (none by default).
  assert.equal(reasonOf(checkGuards(input({ rule: tenant, subject: 'none' }), deps)), 'OutOfScope');
  assert.equal(checkGuards(input({ rule: tenant, subject: 'none' }), { identity, cloudNamespaces: new Set(['team-a']) }).ok, true);
});
