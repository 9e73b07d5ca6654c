import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { TSchema } from '@sinclair/typebox';
import { apiError, FakeKube, falcoEvent, podFixture, targetOf } from '../../test/fakes/kube.js';
import type { ActionResult, Actionner, KubeClients } from './types.js';
import { useOf } from './types.js';
import { CALICO_V1, CALICO_V3, calicoExpiry, calicoPolicyName, calicoKind, calicoNetworkPolicyActionner, CalicoParams, resolveCalicoKind, type CalicoPolicy } from './calico/networkpolicy.js';
import { ciliumExpiry, ciliumNetworkPolicyActionner, CiliumParams } from './cilium/networkpolicy.js';
import { mergeCIDRs, nextExpiry, remoteCIDR } from './remote-deny.js';
import { ExpirySweeper } from './expiry.js';
import type { Outcome } from '../api/v1alpha1/outcome.js';

const V1 = 'crd.projectcalico.org/networkpolicies';
const CNP = 'cilium.io/ciliumnetworkpolicies';

function params<P>(schema: TSchema, p: Record<string, unknown>): P {
  const v = Value.Default(schema, structuredClone(p)) as P;
  assert.ok(Value.Check(schema, v), JSON.stringify([...Value.Errors(schema, v)]));
  return v;
}

/** The fake's clients as a cluster with the Calico CRDs but no Calico API server (v3 discovery answers 404). */
const crdsOnlyCache = new WeakMap<FakeKube, KubeClients>();
function crdsOnly(fake: FakeKube): KubeClients {
  let k = crdsOnlyCache.get(fake);
  if (k === undefined) {
    const base = fake.clients;
    k = { ...base, custom: new Proxy(base.custom, { get: (t, p) => (p === 'listClusterCustomObject' ? async () => Promise.reject(apiError(404, 'not found')) : Reflect.get(t, p)) }) } as KubeClients;
    crdsOnlyCache.set(fake, k);
  }
  return k;
}

function withPods(): { fake: FakeKube; uid: string } {
  const fake = new FakeKube();
  const owner = { kind: 'ReplicaSet', name: 'web-rs' };
  const pod = fake.add('Pod', podFixture('default', 'web-1', { labels: { app: 'web' }, owner }));
  fake.add('Pod', podFixture('default', 'web-2', { labels: { app: 'web' }, owner }));
  return { fake, uid: pod.metadata?.uid as string };
}

function run<P>(a: Actionner<P>, kube: KubeClients, ip: Record<string, string>, p: Record<string, unknown> = {}, revertAfterMs?: number): Promise<ActionResult> {
  const event = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'web-1', ...ip });
  const ps = params<P>(a.paramsSchema, p);
  const pre = a.precheck(event, targetOf(event, 'pod'), ps);
  if (!pre.ok) return Promise.resolve({ status: 'skipped', reason: pre.reason, message: pre.message });
  return a.run({
    event,
    target: targetOf(event, 'pod'),
    params: ps,
    signal: new AbortController().signal,
    kube,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: 'talon-system', name: 'deny-c2' },
    actionName: 'deny',
    ...(revertAfterMs !== undefined ? { revertAfterMs } : {}),
  });
}

test('remote CIDR: fd.rip before fd.sip, /32 for IPv4, /128 for IPv6, nothing for a non-IP', () => {
  assert.equal(remoteCIDR(falcoEvent({ 'fd.rip': '203.0.113.7', 'fd.sip': '10.0.0.1' })), '203.0.113.7/32');
  assert.equal(remoteCIDR(falcoEvent({ 'fd.sip': '2001:db8::1' })), '2001:db8::1/128');
  assert.equal(remoteCIDR(falcoEvent({ 'fd.rip': 'evil.example', 'fd.sip': '198.51.100.2' })), '198.51.100.2/32');
  assert.equal(remoteCIDR(falcoEvent({ 'fd.rip': '1.2.3.4/8' })), undefined);
  assert.deepEqual(mergeCIDRs(['b/32', 'a/32'], ['a/32']), ['a/32', 'b/32']);
});

test('examples validate; both are cloud-scoped pod uses needing fd.rip or fd.sip', () => {
  for (const a of [calicoNetworkPolicyActionner, ciliumNetworkPolicyActionner] as Actionner[]) {
    assert.ok(Value.Check(a.paramsSchema, Value.Default(a.paramsSchema, structuredClone(a.info.example))), a.info.name);
    assert.deepEqual(useOf(a, {}), { target: 'pod', scope: 'cloud' });
    assert.deepEqual(a.info.requiredFields, [['fd.rip', 'fd.sip']]);
  }
  assert.equal(Value.Check(CalicoParams, { ...params<Record<string, unknown>>(CalicoParams, {}), allow_cidr: [] }), false);
});

test('calico: an IPv4 alert then an IPv6 alert for the same pod merge into one v1 policy selecting only that pod', async () => {
  const { fake, uid } = withPods();
  const r1 = await run(calicoNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' }, { order: 10 });
  assert.equal(r1.status, 'success', r1.message);
  assert.equal(r1.reason, 'EgressDenied');
  const r2 = await run(calicoNetworkPolicyActionner, crdsOnly(fake), { 'fd.sip': '2001:db8::1' }, { order: 10 });
  assert.equal(r2.status, 'success', r2.message);
  const np = fake.get<CalicoPolicy>(V1, 'default', 'default.talon-deny-web-1');
  assert.ok(np);
  assert.equal(np.apiVersion, 'crd.projectcalico.org/v1');
  assert.equal(np.spec.tier, 'default');
  assert.equal(np.spec.order, 10);
  assert.equal(np.spec.selector, `talon.dev/quarantine == '${uid}'`);
  assert.deepEqual(np.spec.types, ['Egress']);
  assert.deepEqual(np.spec.egress, [
    { action: 'Deny', destination: { nets: ['203.0.113.7/32'] } },
    { action: 'Deny', destination: { nets: ['2001:db8::1/128'] } },
    { action: 'Pass' },
  ]);
  assert.equal(np.metadata?.labels?.['app.kubernetes.io/managed-by'], 'talon-operator');
  assert.equal(np.metadata?.labels?.['talon.dev/rule'], 'deny-c2');
  assert.deepEqual(np.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid]), [['Pod', 'web-1', uid]]);
  assert.equal(np.metadata?.annotations?.['talon.dev/expires-at'], undefined);
  // only the alert's pod carries the selected label
  assert.equal(fake.get<KubernetesObject>('Pod', 'default', 'web-1')?.metadata?.labels?.['talon.dev/quarantine'], uid);
  assert.equal(fake.get<KubernetesObject>('Pod', 'default', 'web-2')?.metadata?.labels?.['talon.dev/quarantine'], undefined);
  // the same IP again: no duplicate, object unchanged
  const rv = np.metadata?.resourceVersion;
  const r3 = await run(calicoNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' }, { order: 10 });
  assert.match(r3.message, /unchanged/);
  assert.equal(fake.get<CalicoPolicy>(V1, 'default', 'default.talon-deny-web-1')?.metadata?.resourceVersion, rv);
});

test('calico: allow lists keep DNS and use the namespace label Calico sets', async () => {
  const { fake } = withPods();
  const r = await run(calicoNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' }, { allowCIDRs: ['10.0.0.0/8', 'fd00::/8'], allowNamespaces: ['monitoring'] });
  assert.equal(r.status, 'success', r.message);
  const np = fake.get<CalicoPolicy>(V1, 'default', 'default.talon-deny-web-1');
  assert.deepEqual(np?.spec.egress, [
    { action: 'Deny', destination: { nets: ['203.0.113.7/32'] } },
    { action: 'Allow', protocol: 'UDP', destination: { selector: "k8s-app == 'kube-dns'", namespaceSelector: "projectcalico.org/name == 'kube-system'", ports: [53] } },
    { action: 'Allow', protocol: 'TCP', destination: { selector: "k8s-app == 'kube-dns'", namespaceSelector: "projectcalico.org/name == 'kube-system'", ports: [53] } },
    { action: 'Allow', destination: { nets: ['10.0.0.0/8'] } },
    { action: 'Allow', destination: { nets: ['fd00::/8'] } },
    { action: 'Allow', destination: { namespaceSelector: "projectcalico.org/name == 'monitoring'" } },
  ]);
  const bad = await run(calicoNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' }, { allowCIDRs: ['10.0.0.0'] });
  assert.equal(bad.reason, 'InvalidParameters');
  const noIP = await run(calicoNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': 'not-an-ip' });
  assert.equal(noIP.reason, 'InvalidRemoteIP');
});

test('calico: v3 when the Calico API server answers, unprefixed name and no tier; v1 otherwise', async () => {
  const { fake, uid } = withPods();
  const base = fake.clients;
  const withServer = { ...base, custom: new Proxy(base.custom, { get: (t, p) => (p === 'listClusterCustomObject' ? async () => ({ items: [] }) : Reflect.get(t, p)) }) } as KubeClients;
  assert.deepEqual(await resolveCalicoKind(withServer), CALICO_V3);
  const answering = (code: number) =>
    ({ ...base, custom: new Proxy(base.custom, { get: (t, p) => (p === 'listClusterCustomObject' ? async () => Promise.reject(apiError(code, 'x')) : Reflect.get(t, p)) }) }) as KubeClients;
  assert.deepEqual(await resolveCalicoKind(answering(404)), CALICO_V1);
  assert.deepEqual(await resolveCalicoKind(answering(403)), CALICO_V1);
  const flaky = answering(503);
  await assert.rejects(resolveCalicoKind(flaky));
  const failed = await run(calicoNetworkPolicyActionner, flaky, { 'fd.rip': '203.0.113.7' });
  assert.equal(failed.status, 'failure');
  assert.equal(failed.retryable, true);
  const r = await run(calicoNetworkPolicyActionner, withServer, { 'fd.rip': '203.0.113.7' });
  assert.equal(r.status, 'success', r.message);
  const np = fake.get<CalicoPolicy>('projectcalico.org/networkpolicies', 'default', 'talon-deny-web-1');
  assert.ok(np);
  assert.equal(np.apiVersion, 'projectcalico.org/v3');
  assert.equal(np.spec.tier, undefined);
  assert.equal(np.spec.selector, `talon.dev/quarantine == '${uid}'`);
  assert.equal(fake.get(V1, 'default', 'default.talon-deny-web-1'), undefined);
  assert.deepEqual(calicoKind.deniedOf(np), ['203.0.113.7/32']);
  // names stay within 253 characters, prefix included
  const long = 'p'.repeat(253);
  for (const k of [CALICO_V1, CALICO_V3]) assert.ok(calicoPolicyName(k, long).length <= 253);
  assert.match(calicoPolicyName(CALICO_V1, long), /^default\.talon-deny-p+-[0-9a-f]{8}$/);
});

test('cilium: merges CIDRs into one egressDeny rule, no duplicates; DNS untouched without allow lists', async () => {
  const { fake, uid } = withPods();
  await run(ciliumNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' });
  await run(ciliumNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '2001:db8::1' });
  await run(ciliumNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' });
  const cnp = fake.get<KubernetesObject & { spec: Record<string, unknown> }>(CNP, 'default', 'talon-deny-web-1');
  assert.ok(cnp);
  assert.equal(cnp.apiVersion, 'cilium.io/v2');
  assert.deepEqual(cnp.spec.endpointSelector, { matchLabels: { 'talon.dev/quarantine': uid } });
  assert.deepEqual(cnp.spec.egressDeny, [{ toCIDR: ['2001:db8::1/128', '203.0.113.7/32'] }]);
  assert.deepEqual(cnp.spec.enableDefaultDeny, { egress: false, ingress: false });
  assert.equal(cnp.spec.egress, undefined);
  assert.deepEqual(cnp.metadata?.ownerReferences?.map((o) => o.uid), [uid]);
});

test('cilium: allow lists allow-list egress but keep DNS to kube-dns, namespaces by Cilium label', async () => {
  const { fake } = withPods();
  await run(ciliumNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' }, { allowCIDRs: ['10.0.0.0/8'], allowNamespaces: ['monitoring'] });
  const cnp = fake.get<KubernetesObject & { spec: Record<string, unknown> }>(CNP, 'default', 'talon-deny-web-1');
  assert.deepEqual(cnp?.spec.enableDefaultDeny, { egress: true, ingress: false });
  assert.deepEqual(cnp?.spec.egress, [
    {
      toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s:k8s-app': 'kube-dns' } }],
      toPorts: [{ ports: [{ port: '53', protocol: 'UDP' }, { port: '53', protocol: 'TCP' }] }],
    },
    { toCIDR: ['10.0.0.0/8'] },
    { toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'monitoring' } }] },
  ]);
});

test('ttl: annotated, pushed out never in, and the sweeper removes expired policies of both kinds', async () => {
  assert.equal(nextExpiry(undefined, undefined, 0), undefined);
  assert.equal(nextExpiry('1970-01-01T02:00:00.000Z', '1h', 0), '1970-01-01T02:00:00.000Z');
  assert.equal(nextExpiry('1970-01-01T00:30:00.000Z', '1h', 0), '1970-01-01T01:00:00.000Z');
  const { fake } = withPods();
  await run(calicoNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' }, { ttl: '1h' });
  await run(ciliumNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' }, { ttl: '1h' });
  const np = fake.get<KubernetesObject>(V1, 'default', 'default.talon-deny-web-1');
  const at = Date.parse(np?.metadata?.annotations?.['talon.dev/expires-at'] ?? '');
  assert.ok(at > Date.now() + 59 * 60_000);
  const early = new ExpirySweeper({ kube: crdsOnly(fake), handlers: [calicoExpiry, ciliumExpiry], now: () => at - 1000 });
  assert.deepEqual((await early.sweep()).deleted, []);
  const late = new ExpirySweeper({ kube: crdsOnly(fake), handlers: [calicoExpiry, ciliumExpiry], now: () => at + 60_000 });
  const res = await late.sweep();
  assert.equal(res.errors, 0);
  assert.deepEqual([...res.deleted].sort(), ['CiliumNetworkPolicy default/talon-deny-web-1', 'NetworkPolicy.projectcalico.org default/default.talon-deny-web-1']);
  assert.equal(fake.get(V1, 'default', 'default.talon-deny-web-1'), undefined);
  assert.equal(fake.get(CNP, 'default', 'talon-deny-web-1'), undefined);
});

test('a missing pod is skipped', async () => {
  const fake = new FakeKube();
  const r = await run(ciliumNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' });
  assert.equal(r.reason, 'PodNotFound');
});

test('revertAfter is the ttl mechanism: the policy expires then, and its removal is an outcome of the rule and action that made it', async () => {
  const { fake } = withPods();
  await run(ciliumNetworkPolicyActionner, crdsOnly(fake), { 'fd.rip': '203.0.113.7' }, {}, 5_000);
  const cnp = fake.get<KubernetesObject>(CNP, 'default', 'talon-deny-web-1');
  const at = Date.parse(cnp?.metadata?.annotations?.['talon.dev/expires-at'] ?? '');
  assert.ok(at > Date.now() && at <= Date.now() + 5_000);
  const outcomes: Outcome[] = [];
  await new ExpirySweeper({ kube: crdsOnly(fake), handlers: [ciliumExpiry], record: (o) => outcomes.push(o), now: () => at }).sweep();
  assert.equal(fake.get(CNP, 'default', 'talon-deny-web-1'), undefined);
  assert.equal(outcomes.length, 1);
  const o = outcomes[0]!;
  assert.deepEqual(
    [o.result, o.reason, o.rule, o.action, o.actionner, o.target.kind, o.target.name],
    ['Succeeded', 'Reverted', { kind: 'TalonRule', namespace: 'talon-system', name: 'deny-c2' }, 'deny', 'cilium:networkpolicy', 'Pod', 'web-1'],
  );
  assert.match(o.message, /^reverted at its expiry .*: CiliumNetworkPolicy 'talon-deny-web-1' in namespace 'default' removed$/);
});
