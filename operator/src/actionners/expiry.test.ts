import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { FakeKube, podFixture } from '../../test/fakes/kube.js';
import { ExpirySweeper, type ExpiryHandler } from './expiry.js';
import { quarantineExpiry } from './kubernetes/networkpolicy.js';

const T0 = Date.parse('2024-06-01T12:00:00Z');

function policy(name: string, quarantine: string, expiresAt: string | undefined, managed = true): V1NetworkPolicy {
  return {
    metadata: {
      name,
      namespace: 'app',
      labels: managed ? { 'app.kubernetes.io/managed-by': 'talon-operator' } : ({ team: 'x' } as Record<string, string>),
      ...(expiresAt !== undefined ? { annotations: { 'talon.dev/expires-at': expiresAt } } : {}),
    },
    spec: { podSelector: { matchLabels: { 'talon.dev/quarantine': quarantine } }, policyTypes: ['Ingress', 'Egress'] },
  };
}

test('deletes expired managed policies and releases their pods; keeps the rest', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('app', 'old', { labels: { app: 'web', 'talon.dev/quarantine': 'q-old' } }));
  fake.add('Pod', podFixture('app', 'fresh', { labels: { app: 'web', 'talon.dev/quarantine': 'q-fresh' } }));
  fake.add('NetworkPolicy', policy('talon-quarantine-old', 'q-old', '2024-06-01T11:59:59Z'));
  fake.add('NetworkPolicy', policy('talon-quarantine-fresh', 'q-fresh', '2024-06-01T13:00:00Z'));
  fake.add('NetworkPolicy', policy('talon-quarantine-forever', 'q-none', undefined));
  fake.add('NetworkPolicy', policy('not-ours', 'q-old', '2000-01-01T00:00:00Z', false));
  fake.add('NetworkPolicy', policy('talon-quarantine-orphan', 'q-gone', '2024-06-01T00:00:00Z'));
  const sweeper = new ExpirySweeper({ kube: fake.clients, handlers: [quarantineExpiry], now: () => T0 });
  const r = await sweeper.sweep();
  assert.deepEqual(
    fake
      .list('NetworkPolicy')
      .map((p) => p.metadata?.name)
      .sort(),
    ['not-ours', 'talon-quarantine-forever', 'talon-quarantine-fresh'],
  );
  assert.deepEqual(fake.get<V1Pod>('Pod', 'app', 'old')?.metadata?.labels, { app: 'web' });
  assert.equal(fake.get<V1Pod>('Pod', 'app', 'fresh')?.metadata?.labels?.['talon.dev/quarantine'], 'q-fresh');
  assert.equal(r.errors, 0);
  assert.deepEqual([...r.deleted].sort(), ['NetworkPolicy app/talon-quarantine-old', 'NetworkPolicy app/talon-quarantine-orphan']);

  const again = await sweeper.sweep();
  assert.deepEqual(again.deleted, [], 'a second sweep has nothing to do');
});

test('a failing delete is counted and retried by the next sweep', async () => {
  const fake = new FakeKube();
  fake.add('NetworkPolicy', policy('talon-quarantine-old', 'q-old', '2024-06-01T11:00:00Z'));
  fake.failNext('networking.deleteNamespacedNetworkPolicy', 503);
  const sweeper = new ExpirySweeper({ kube: fake.clients, handlers: [quarantineExpiry], now: () => T0 });
  assert.equal((await sweeper.sweep()).errors, 1);
  assert.equal(fake.list('NetworkPolicy').length, 1);
  await sweeper.sweep();
  assert.equal(fake.list('NetworkPolicy').length, 0);
});

test('every handler is swept; one failing kind does not stop the others; two handlers for one kind are refused', async () => {
  const removed: string[] = [];
  const obj = (name: string, expires: string) => ({ metadata: { namespace: 'ns', name, annotations: { 'talon.dev/expires-at': expires } } });
  const widgets: ExpiryHandler = {
    kind: 'Widget',
    list: async () => [obj('w-old', '2024-06-01T11:00:00Z'), obj('w-new', '2024-06-02T00:00:00Z')],
    remove: async (_k, o) => {
      removed.push(`Widget ${o.metadata?.name}`);
      return [];
    },
  };
  const broken: ExpiryHandler = {
    kind: 'Broken',
    list: async () => {
      throw new Error('boom');
    },
    remove: async () => [],
  };
  const fake = new FakeKube();
  const r = await new ExpirySweeper({ kube: fake.clients, handlers: [broken, widgets], now: () => T0 }).sweep();
  assert.deepEqual(removed, ['Widget w-old']);
  assert.deepEqual(r.deleted, ['Widget ns/w-old']);
  assert.equal(r.errors, 1);
  assert.throws(() => new ExpirySweeper({ kube: fake.clients, handlers: [widgets, widgets] }), /two expiry handlers for kind Widget/);
});
