import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { V1Node } from '@kubernetes/client-node';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import type { ActionResult } from '../types.js';
import { cordonActionner, CordonParams } from './cordon.js';

function run(fake: FakeKube, pod = 'web-1'): Promise<ActionResult> {
  const event = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': pod });
  return cordonActionner.run({
    event,
    target: targetOf(event, 'node'),
    params: {},
    signal: new AbortController().signal,
    kube: fake.clients,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: 'talon-system', name: 'r' },
    actionName: 'cordon',
  });
}

test('the example validates', () => {
  assert.ok(Value.Check(CordonParams, cordonActionner.info.example));
});

test("marks the pod's node unschedulable, once", async () => {
  const fake = new FakeKube();
  fake.add('Node', { metadata: { name: 'node-7' }, spec: {} });
  fake.add('Node', { metadata: { name: 'node-8' }, spec: {} });
  fake.add('Pod', podFixture('default', 'web-1', { node: 'node-7' }));
  const r = await run(fake);
  assert.deepEqual([r.status, r.reason], ['success', 'Cordoned']);
  assert.equal(fake.get<V1Node>('Node', undefined, 'node-7')?.spec?.unschedulable, true);
  assert.equal(fake.get<V1Node>('Node', undefined, 'node-8')?.spec?.unschedulable, undefined);
  // The alert's pod is reported with its uid, so the Event regarding it shows in kubectl describe pod.
  const podUid = fake.get<{ metadata?: { uid?: string } }>('Pod', 'default', 'web-1')?.metadata?.uid;
  assert.ok(podUid);
  assert.ok(r.objects?.some((o) => o.kind === 'Pod' && o.name === 'web-1' && o.uid === podUid));
  const rv = fake.get<V1Node>('Node', undefined, 'node-7')?.metadata?.resourceVersion;
  const again = await run(fake);
  assert.equal(again.reason, 'AlreadyCordoned');
  assert.equal(fake.get<V1Node>('Node', undefined, 'node-7')?.metadata?.resourceVersion, rv);
});

test('a missing pod or node is skipped, not failed', async () => {
  const fake = new FakeKube();
  assert.equal((await run(fake, 'ghost')).reason, 'PodNotFound');
  fake.add('Pod', podFixture('default', 'web-1', { node: 'gone-node' }));
  assert.equal((await run(fake)).reason, 'NodeNotFound');
});
