import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import type { ActionResult } from '../types.js';
import { isCIDR, networkPolicyActionner, NetworkPolicyParams } from './networkpolicy.js';

function params(p: Partial<NetworkPolicyParams> = {}): NetworkPolicyParams {
  const v = Value.Default(NetworkPolicyParams, structuredClone(p)) as NetworkPolicyParams;
  assert.ok(Value.Check(NetworkPolicyParams, v));
  return v;
}

function run(fake: FakeKube, p: Partial<NetworkPolicyParams>, pod = 'web-1'): Promise<ActionResult> {
  const event = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': pod });
  return networkPolicyActionner.run({
    event,
    target: targetOf(event, 'pod'),
    params: params(p),
    signal: new AbortController().signal,
    kube: fake.clients,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: 'talon-system', name: 'isolate-shells' },
    actionName: 'isolate',
  });
}

function withPods(): { fake: FakeKube; uid: string } {
  const fake = new FakeKube();
  const owner = { kind: 'ReplicaSet', name: 'web-rs' };
  const pod = fake.add('Pod', podFixture('default', 'web-1', { labels: { app: 'web' }, owner }));
  fake.add('Pod', podFixture('default', 'web-2', { labels: { app: 'web' }, owner }));
  return { fake, uid: pod.metadata?.uid as string };
}

test('the example and the defaults validate', () => {
  assert.ok(Value.Check(NetworkPolicyParams, Value.Default(NetworkPolicyParams, structuredClone(networkPolicyActionner.info.example))));
  assert.deepEqual(params(), { allowDNS: true, allowCIDRs: [], allowNamespaces: [] });
  assert.equal(Value.Check(NetworkPolicyParams, { ...params(), allow_cidr: [] }), false);
});

test('isolates exactly the one pod: quarantine label + policy selecting it, ingress and egress denied, DNS kept', async () => {
  const { fake, uid } = withPods();
  const r = await run(fake, {});
  assert.equal(r.status, 'success', r.message);
  const np = fake.get<V1NetworkPolicy>('NetworkPolicy', 'default', 'talon-quarantine-web-1');
  assert.ok(np);
  assert.deepEqual(np.spec?.podSelector, { matchLabels: { 'talon.dev/quarantine': uid } });
  assert.deepEqual(np.spec?.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(np.spec?.ingress, []);
  assert.deepEqual(np.spec?.egress, [
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    },
  ]);
  assert.deepEqual(np.metadata?.labels, { 'app.kubernetes.io/managed-by': 'talon-operator', 'talon.dev/rule': 'isolate-shells' });
  assert.deepEqual(
    np.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
    [['Pod', 'web-1', uid]],
  );
  assert.equal(np.metadata?.annotations?.['talon.dev/expires-at'], undefined);
  assert.equal(fake.get<V1Pod>('Pod', 'default', 'web-1')?.metadata?.labels?.['talon.dev/quarantine'], uid);
  assert.equal(fake.get<V1Pod>('Pod', 'default', 'web-2')?.metadata?.labels?.['talon.dev/quarantine'], undefined, 'siblings stay free');
});

test('allow lists: CIDR ipBlocks and namespaces by kubernetes.io/metadata.name; nothing allowed = all egress denied', async () => {
  const { fake } = withPods();
  await run(fake, { allowDNS: false, allowCIDRs: ['10.0.0.0/8', 'fd00::/8'], allowNamespaces: ['monitoring'] });
  const np = fake.get<V1NetworkPolicy>('NetworkPolicy', 'default', 'talon-quarantine-web-1');
  assert.deepEqual(np?.spec?.egress, [
    { to: [{ ipBlock: { cidr: '10.0.0.0/8' } }, { ipBlock: { cidr: 'fd00::/8' } }] },
    { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
  ]);
  const other = withPods();
  await run(other.fake, { allowDNS: false });
  assert.deepEqual(other.fake.get<V1NetworkPolicy>('NetworkPolicy', 'default', 'talon-quarantine-web-1')?.spec?.egress, []);
});

test('create-or-update is idempotent: a second identical run changes nothing, a changed one updates', async () => {
  const { fake } = withPods();
  await run(fake, {});
  const rv1 = fake.get<V1NetworkPolicy>('NetworkPolicy', 'default', 'talon-quarantine-web-1')?.metadata?.resourceVersion;
  const podRv1 = fake.get<V1Pod>('Pod', 'default', 'web-1')?.metadata?.resourceVersion;
  const again = await run(fake, {});
  assert.match(again.message, /\(unchanged\)/);
  assert.equal(fake.get<V1NetworkPolicy>('NetworkPolicy', 'default', 'talon-quarantine-web-1')?.metadata?.resourceVersion, rv1);
  assert.equal(fake.get<V1Pod>('Pod', 'default', 'web-1')?.metadata?.resourceVersion, podRv1);
  const changed = await run(fake, { allowCIDRs: ['192.168.0.0/16'] });
  assert.match(changed.message, /\(updated\)/);
  assert.equal(fake.list('NetworkPolicy').length, 1);
  assert.deepEqual(fake.get<V1NetworkPolicy>('NetworkPolicy', 'default', 'talon-quarantine-web-1')?.spec?.egress?.[1], { to: [{ ipBlock: { cidr: '192.168.0.0/16' } }] });
});

test('ttl sets the expiry annotation', async () => {
  for (const [ttl, ms] of [['1h30m', 5_400_000], ['2d', 172_800_000]] as const) {
    const { fake } = withPods();
    const before = Date.now();
    await run(fake, { ttl });
    const at = Date.parse(fake.get<V1NetworkPolicy>('NetworkPolicy', 'default', 'talon-quarantine-web-1')?.metadata?.annotations?.['talon.dev/expires-at'] ?? '');
    assert.ok(at >= before + ms && at <= Date.now() + ms, ttl);
  }
});

test('a missing pod is skipped without creating anything', async () => {
  const fake = new FakeKube();
  const r = await run(fake, {}, 'ghost');
  assert.equal(r.reason, 'PodNotFound');
  assert.equal(fake.list('NetworkPolicy').length, 0);
});

test('precheck refuses malformed CIDRs and a ttl past the longest duration; helpers parse CIDRs', () => {
  const ev = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'web-1' });
  const r = networkPolicyActionner.precheck(ev, targetOf(ev, 'pod'), params({ allowCIDRs: ['10.0.0.0/33'] }));
  assert.equal(r.ok, false);
  const long = networkPolicyActionner.precheck(ev, targetOf(ev, 'pod'), params({ ttl: '999999d' }));
  assert.ok(!long.ok && long.reason === 'InvalidParameters' && /ttl: .*longer than the longest duration/.test(long.message));
  assert.ok(networkPolicyActionner.precheck(ev, targetOf(ev, 'pod'), params({ ttl: '1.5h' })).ok);
  assert.equal(Value.Check(NetworkPolicyParams, { ...params(), ttl: '10' }), false, 'a unitless ttl fails the schema');
  assert.deepEqual(
    ['10.0.0.0/8', '::/0', '1.2.3.4', '1.2.3.4/40', 'x/1'].map(isCIDR),
    [true, true, false, false, false],
  );
});
