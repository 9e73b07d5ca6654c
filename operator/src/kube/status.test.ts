import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import { RawClient } from './raw.js';
import { authSourceOf } from './transport.js';
import { FakeApiServer } from '../../test/fakes/apiserver.js';
import { patchStatus, type CustomObjectRef } from './status.js';

const rawOf = (server: FakeApiServer): RawClient => new RawClient(authSourceOf(server.kubeConfig()));

const RULES = '/apis/talon.dev/v1alpha1/talonrules';
const ref: CustomObjectRef = { group: 'talon.dev', version: 'v1alpha1', plural: 'talonrules', namespace: 'ns1', name: 'r1' };

async function serverWithRule(t: TestContext): Promise<FakeApiServer> {
  const server = await FakeApiServer.start();
  t.after(() => server.close());
  server.put(RULES, {
    apiVersion: 'talon.dev/v1alpha1',
    kind: 'TalonRule',
    metadata: { namespace: 'ns1', name: 'r1' },
    spec: { order: 1 },
    status: { matchedEvents: 3, conditions: [{ type: 'Ready', status: 'False' }, { type: 'Accepted', status: 'False' }] },
  } as never);
  return server;
}

test('merge-patches the status subresource: maps merge, arrays are replaced', async (t) => {
  const server = await serverWithRule(t);
  const returned = await patchStatus(rawOf(server), ref, {
    conditions: [{ type: 'Ready', status: 'True' }],
    lastMatchedTime: '2024-01-01T00:00:00Z',
  });

  const stored = server.get(RULES, 'ns1', 'r1')!;
  assert.deepEqual(stored.status, {
    matchedEvents: 3,
    conditions: [{ type: 'Ready', status: 'True' }],
    lastMatchedTime: '2024-01-01T00:00:00Z',
  });
  assert.deepEqual(stored.spec, { order: 1 });
  assert.equal(returned.metadata?.resourceVersion, stored.metadata?.resourceVersion);
  const [req] = server.requestsOf('patch', RULES);
  assert.equal(req!.path, '/apis/talon.dev/v1alpha1/namespaces/ns1/talonrules/r1/status');
  assert.equal(req!.headers['content-type'], 'application/merge-patch+json');
});

test('a resourceVersion precondition turns a stale write into a 409', async (t) => {
  const server = await serverWithRule(t);
  const custom = rawOf(server);
  const current = server.get(RULES, 'ns1', 'r1')!.metadata!.resourceVersion!;

  await patchStatus(custom, ref, { matchedEvents: 4 }, { resourceVersion: current });
  await assert.rejects(
    patchStatus(custom, ref, { matchedEvents: 5 }, { resourceVersion: current }),
    (err: unknown) => err instanceof ApiException && err.code === 409,
  );
  assert.equal((server.get(RULES, 'ns1', 'r1')!.status as { matchedEvents: number }).matchedEvents, 4);
});

test('a missing object fails with the API status code', async (t) => {
  const server = await serverWithRule(t);
  await assert.rejects(
    patchStatus(rawOf(server), { ...ref, name: 'nope' }, { matchedEvents: 1 }),
    (err: unknown) => err instanceof ApiException && err.code === 404,
  );
});

test('cluster-scoped objects are patched without a namespace segment', async (t) => {
  const server = await FakeApiServer.start();
  t.after(() => server.close());
  const CLUSTERED = '/apis/example.dev/v1/widgets';
  server.put(CLUSTERED, { apiVersion: 'example.dev/v1', kind: 'Widget', metadata: { name: 'w' } });
  await patchStatus(rawOf(server), { group: 'example.dev', version: 'v1', plural: 'widgets', name: 'w' }, { ok: true });
  assert.deepEqual(server.get(CLUSTERED, undefined, 'w')!.status, { ok: true });
  assert.equal(server.requestsOf('patch', CLUSTERED)[0]!.path, '/apis/example.dev/v1/widgets/w/status');
});
