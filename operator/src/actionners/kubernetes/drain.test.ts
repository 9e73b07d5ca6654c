import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { V1Node } from '@kubernetes/client-node';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import type { ActionResult } from '../types.js';
import { drainActionner, DrainParams } from './drain.js';

function params(p: Partial<DrainParams> = {}): DrainParams {
  const v = Value.Default(DrainParams, structuredClone(p)) as DrainParams;
  assert.ok(Value.Check(DrainParams, v));
  return v;
}

function run(fake: FakeKube, p: Partial<DrainParams>): Promise<ActionResult> {
  const event = falcoEvent({ 'k8s.ns.name': 'app', 'k8s.pod.name': 'bad' });
  return drainActionner.run({
    event,
    target: targetOf(event, 'node'),
    params: params(p),
    signal: new AbortController().signal,
    kube: fake.clients,
    identity: { protectedNamespaces: new Set(['kube-system', 'talon-system']), podName: 'talon-0', podNamespace: 'talon-system' },
    rule: { namespace: 'talon-system', name: 'r' },
    actionName: 'drain',
  });
}

function node(fake: FakeKube, name: string): void {
  fake.add('Node', { metadata: { name }, spec: {} });
}

const remaining = (fake: FakeKube): string[] =>
  fake
    .list('Pod')
    .map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)
    .sort();

test('the example and the defaults validate', () => {
  assert.ok(Value.Check(DrainParams, Value.Default(DrainParams, structuredClone(drainActionner.info.example))));
  assert.deepEqual(params(), { ignoreDaemonSets: true, ignoreStatefulSets: false, ignoreStandalonePods: false, maxWaitSeconds: 30 });
});

test('cordons the node, then evicts its pods except the ones that must stay', async () => {
  const fake = new FakeKube();
  node(fake, 'node-1');
  node(fake, 'node-2');
  const rs = { kind: 'ReplicaSet', name: 'web-rs' };
  fake.add('Pod', podFixture('app', 'bad', { owner: rs }));
  fake.add('Pod', podFixture('app', 'web-2', { owner: rs }));
  fake.add('Pod', podFixture('app', 'lonely'));
  fake.add('Pod', podFixture('app', 'agent', { owner: { kind: 'DaemonSet', name: 'agent' } }));
  fake.add('Pod', podFixture('app', 'static', { annotations: { 'kubernetes.io/config.mirror': 'x' } }));
  fake.add('Pod', podFixture('app', 'done', { owner: { kind: 'Job', name: 'j' }, phase: 'Succeeded' }));
  fake.add('Pod', podFixture('kube-system', 'coredns', { owner: rs }));
  fake.add('Pod', podFixture('talon-system', 'talon-0', { owner: rs }));
  fake.add('Pod', podFixture('app', 'elsewhere', { node: 'node-2', owner: rs }));
  const r = await run(fake, {});
  assert.equal(r.status, 'success', r.message);
  assert.equal(fake.get<V1Node>('Node', undefined, 'node-1')?.spec?.unschedulable, true);
  assert.equal(fake.get<V1Node>('Node', undefined, 'node-2')?.spec?.unschedulable, undefined);
  assert.deepEqual(remaining(fake), ['app/agent', 'app/done', 'app/elsewhere', 'app/static', 'kube-system/coredns', 'talon-system/talon-0']);
  assert.equal(fake.deleted.get('Pod/app/bad')?.evicted, true, 'removed through the Eviction API');
  assert.match(r.message, /evicted 3 pods/);
  assert.match(r.message, /app\/agent \(IgnoredDaemonSet\)/);
});

test('ignore flags keep StatefulSet and standalone pods', async () => {
  const fake = new FakeKube();
  node(fake, 'node-1');
  fake.add('Pod', podFixture('app', 'bad', { owner: { kind: 'ReplicaSet', name: 'rs' } }));
  fake.add('Pod', podFixture('app', 'db-0', { owner: { kind: 'StatefulSet', name: 'db' } }));
  fake.add('Pod', podFixture('app', 'lonely'));
  await run(fake, { ignoreStatefulSets: true, ignoreStandalonePods: true });
  assert.deepEqual(remaining(fake), ['app/db-0', 'app/lonely']);
});

test('a PodDisruptionBudget that never allows the eviction makes the drain fail, naming the pod', async () => {
  const fake = new FakeKube();
  node(fake, 'node-1');
  fake.add('Pod', podFixture('app', 'bad', { labels: { app: 'other' } }));
  fake.add('Pod', podFixture('app', 'db-0', { labels: { app: 'db' }, owner: { kind: 'StatefulSet', name: 'db' } }));
  fake.add('PodDisruptionBudget', { metadata: { name: 'db', namespace: 'app' }, spec: { selector: { matchLabels: { app: 'db' } } }, status: { disruptionsAllowed: 0 } });
  const r = await run(fake, { maxWaitSeconds: 0 });
  assert.deepEqual([r.status, r.reason], ['failure', 'EvictionIncomplete']);
  assert.match(r.message, /could not evict: app\/db-0 \(disruption budget/);
  assert.deepEqual(remaining(fake), ['app/db-0']);
  assert.equal(fake.get<V1Node>('Node', undefined, 'node-1')?.spec?.unschedulable, true);
});

test('an eviction refused by a PDB is retried until the budget allows it', async () => {
  const fake = new FakeKube();
  node(fake, 'node-1');
  fake.add('Pod', podFixture('app', 'bad', { labels: { app: 'db' }, owner: { kind: 'StatefulSet', name: 'db' } }));
  fake.add('PodDisruptionBudget', { metadata: { name: 'db', namespace: 'app' }, spec: { selector: { matchLabels: { app: 'db' } } }, status: { disruptionsAllowed: 0 } });
  fake.beforeEvict = (ns, _name, attempt) => {
    if (attempt === 2) fake.set('PodDisruptionBudget', { metadata: { name: 'db', namespace: ns }, spec: { selector: { matchLabels: { app: 'db' } } }, status: { disruptionsAllowed: 1 } });
  };
  const r = await run(fake, { maxWaitSeconds: 30 });
  assert.equal(r.status, 'success', r.message);
  assert.deepEqual(remaining(fake), []);
});

test('minHealthyReplicas counts the pods this drain evicts', async () => {
  const fake = new FakeKube();
  node(fake, 'node-1');
  fake.add('Deployment', { metadata: { name: 'web', namespace: 'app', uid: 'uid-web' }, spec: { replicas: 3, selector: {}, template: {} }, status: { readyReplicas: 3 } });
  fake.add('ReplicaSet', {
    metadata: { name: 'web-rs', namespace: 'app', uid: 'uid-rs', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true }] },
    spec: { replicas: 3, selector: {} },
    status: { replicas: 3, readyReplicas: 3 },
  });
  const rs = { kind: 'ReplicaSet', name: 'web-rs', uid: 'uid-rs' };
  for (const n of ['bad', 'web-2', 'web-3']) fake.add('Pod', podFixture('app', n, { owner: rs }));
  const r = await run(fake, { minHealthyReplicas: '2' });
  assert.equal(r.status, 'success');
  assert.equal(remaining(fake).length, 2, 'only one of three replicas may go');
  assert.match(r.message, /minHealthyReplicas of Deployment 'web'/);
});
