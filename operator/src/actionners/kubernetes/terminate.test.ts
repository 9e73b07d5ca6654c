import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import type { FieldValue } from '../../falco/event.js';
import { useOf, type ActionResult, type OperatorIdentity } from '../types.js';
import { terminateActionner, TerminateParams } from './terminate.js';

const identity: OperatorIdentity = { protectedNamespaces: new Set(['kube-system']) };

function params(p: Partial<TerminateParams> = {}): TerminateParams {
  const v = Value.Default(TerminateParams, structuredClone(p)) as TerminateParams;
  assert.ok(Value.Check(TerminateParams, v), 'params must validate');
  return v;
}

function run(fake: FakeKube, p: Partial<TerminateParams>, pod = 'web-1', ns = 'default', extra: Record<string, FieldValue> = {}): Promise<ActionResult> {
  const event = falcoEvent({ 'k8s.ns.name': ns, 'k8s.pod.name': pod, ...extra });
  return terminateActionner.run({
    event,
    target: targetOf(event, 'pod'),
    params: params(p),
    signal: new AbortController().signal,
    kube: fake.clients,
    identity,
    rule: { namespace: 'talon-system', name: 'r' },
    actionName: 'kill',
  });
}

function deployment(fake: FakeKube, desired: number, ready: number): void {
  fake.add('Deployment', { metadata: { name: 'web', namespace: 'default', uid: 'uid-web' }, spec: { replicas: desired, selector: {}, template: {} }, status: { readyReplicas: ready } });
  fake.add('ReplicaSet', {
    metadata: { name: 'web-rs', namespace: 'default', uid: 'uid-web-rs', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true }] },
    spec: { replicas: desired, selector: {} },
    status: { replicas: desired, readyReplicas: ready },
  });
}

test('the example and the defaults validate', () => {
  assert.ok(Value.Check(TerminateParams, Value.Default(TerminateParams, structuredClone(terminateActionner.info.example))));
  assert.deepEqual(params(), { gracePeriodSeconds: 0, ignoreDaemonSets: false, ignoreStatefulSets: false, ignoreStandalonePods: false });
  assert.equal(Value.Check(TerminateParams, { ...params(), grace_period_seconds: 1 }), false, 'unknown keys are refused');
  for (const bad of ['101%', '-1', 'half', '1.5']) assert.equal(Value.Check(TerminateParams, { ...params(), minHealthyReplicas: bad }), false, bad);
});

test('deletes the pod with the grace period, preconditioned on its uid', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'web-1'));
  const r = await run(fake, { gracePeriodSeconds: 7 });
  assert.equal(r.status, 'success');
  assert.equal(r.reason, 'Terminated');
  assert.equal(fake.get('Pod', 'default', 'web-1'), undefined);
  assert.equal(fake.deleted.get('Pod/default/web-1')?.gracePeriodSeconds, 7);
});

test('a pod already gone is success (idempotent)', async () => {
  const r = await run(new FakeKube(), {});
  assert.deepEqual([r.status, r.reason], ['success', 'AlreadyGone']);
});

test('ignore flags spare DaemonSet, StatefulSet and standalone pods, and say why', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'agent-x', { owner: { kind: 'DaemonSet', name: 'agent' } }));
  fake.add('Pod', podFixture('default', 'db-0', { owner: { kind: 'StatefulSet', name: 'db' } }));
  fake.add('Pod', podFixture('default', 'lonely'));
  const ds = await run(fake, { ignoreDaemonSets: true }, 'agent-x');
  const sts = await run(fake, { ignoreStatefulSets: true }, 'db-0');
  const solo = await run(fake, { ignoreStandalonePods: true }, 'lonely');
  assert.deepEqual(
    [ds, sts, solo].map((r) => `${r.status}:${r.reason}`),
    ['skipped:IgnoredDaemonSet', 'skipped:IgnoredStatefulSet', 'skipped:IgnoredStandalonePod'],
  );
  assert.match(ds.message, /DaemonSet/);
  assert.equal(fake.list('Pod').length, 3, 'no pod was deleted');
  const killed = await run(fake, { ignoreStatefulSets: true }, 'agent-x');
  assert.equal(killed.reason, 'Terminated');
  assert.equal(fake.get('Pod', 'default', 'agent-x'), undefined);
});

test('minHealthyReplicas: percentages of the desired replicas, rounded up, counting the killed pod as gone', async () => {
  const cases: { desired: number; ready: number; spec: string; killed: boolean }[] = [
    { desired: 4, ready: 4, spec: '75%', killed: true },
    { desired: 4, ready: 3, spec: '75%', killed: false },
    { desired: 3, ready: 3, spec: '50%', killed: true },
    { desired: 3, ready: 2, spec: '50%', killed: false },
    { desired: 4, ready: 4, spec: '4', killed: false },
    { desired: 4, ready: 4, spec: '3', killed: true },
    { desired: 1, ready: 1, spec: '0', killed: true },
  ];
  for (const c of cases) {
    const fake = new FakeKube();
    deployment(fake, c.desired, c.ready);
    fake.add('Pod', podFixture('default', 'web-1', { owner: { kind: 'ReplicaSet', name: 'web-rs', uid: 'uid-web-rs' } }));
    const r = await run(fake, { minHealthyReplicas: c.spec });
    assert.equal(fake.get('Pod', 'default', 'web-1') === undefined, c.killed, JSON.stringify(c));
    if (!c.killed) {
      assert.equal(r.reason, 'MinHealthyReplicas');
      assert.match(r.message, /Deployment 'web'/);
    }
  }
});

test('an unready pod does not count against minHealthyReplicas', async () => {
  const fake = new FakeKube();
  deployment(fake, 3, 2);
  fake.add('Pod', podFixture('default', 'web-1', { owner: { kind: 'ReplicaSet', name: 'web-rs' }, ready: false }));
  const r = await run(fake, { minHealthyReplicas: '2' });
  assert.equal(r.reason, 'Terminated');
});

test('a StatefulSet owner is resolved for minHealthyReplicas', async () => {
  const fake = new FakeKube();
  fake.add('StatefulSet', { metadata: { name: 'db', namespace: 'default' }, spec: { replicas: 3, selector: {}, serviceName: 'db', template: {} }, status: { replicas: 3, readyReplicas: 2 } });
  fake.add('Pod', podFixture('default', 'db-0', { owner: { kind: 'StatefulSet', name: 'db' } }));
  const r = await run(fake, { minHealthyReplicas: '2' }, 'db-0');
  assert.equal(r.reason, 'MinHealthyReplicas');
  assert.ok(fake.get('Pod', 'default', 'db-0'));
});

test('a pod no longer running the alerting container is not killed', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'db-0', { containerIDs: ['containerd://bbbbbbbbbbbb1234'] }));
  const r = await run(fake, {}, 'db-0', 'default', { 'container.id': 'aaaaaaaaaaaa' });
  assert.equal(r.reason, 'PodReplaced');
  assert.ok(fake.get('Pod', 'default', 'db-0'));
  const r2 = await run(fake, {}, 'db-0', 'default', { 'container.id': 'bbbbbbbbbbbb' });
  assert.equal(r2.reason, 'Terminated');
});

test('API failures are failures, retryable for 5xx, with the permission named for 403', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'web-1'));
  fake.failNext('core.deleteNamespacedPod', 503);
  const r = await run(fake, {});
  assert.deepEqual([r.status, r.retryable], ['failure', true]);
  fake.failNext('core.deleteNamespacedPod', 403, 1, 'pods "web-1" is forbidden: User "x" cannot delete resource "pods" in API group "" in the namespace "default"');
  const r2 = await run(fake, {});
  assert.deepEqual([r2.status, r2.reason, r2.retryable], ['failure', 'Forbidden', false]);
  assert.match(r2.message, /missing RBAC permission: cannot delete pods/);
  assert.ok(fake.get('Pod', 'default', 'web-1'));
});

test('acts on the pod it is handed, never on what the alert says elsewhere', async () => {
  assert.equal(useOf(terminateActionner, params()).target, 'pod');
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'web-1'));
  fake.add('Pod', podFixture('app', 'handed'));
  const event = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'web-1' });
  const r = await terminateActionner.run({
    event,
    target: { subject: 'pod', object: { apiVersion: 'v1', kind: 'Pod', namespace: 'app', name: 'handed' } },
    params: params(),
    signal: new AbortController().signal,
    kube: fake.clients,
    identity,
    rule: { namespace: 'talon-system', name: 'r' },
    actionName: 'kill',
  });
  assert.equal(r.reason, 'Terminated');
  assert.equal(fake.get('Pod', 'app', 'handed'), undefined);
  assert.ok(fake.get('Pod', 'default', 'web-1'));
});
