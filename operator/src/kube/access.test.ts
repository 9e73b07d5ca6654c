import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException } from '@kubernetes/client-node';
import { FakeApiServer } from '../../test/fakes/apiserver.js';
import { lazyApi, loadKubeAccess, makeLazyClients } from './access.js';
import { REQUEST_SIGNAL, type RawKube, type RawRequest } from './raw.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function kubeconfig(t: TestContext, server: string, user: string): string {
  const file = join(tempDir(t), 'config');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]`,
      `users: [{name: u, user: ${user}}]`,
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n'),
  );
  return file;
}

async function fakeServer(t: TestContext): Promise<FakeApiServer> {
  const server = await FakeApiServer.start();
  t.after(() => server.close());
  server.put('/api/v1/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns1', name: 'p1', labels: { 'talon.dev/revert-pending': 'x' } } });
  return server;
}

test('a token kubeconfig is read without client-node: raw requests and the sweeps’ lists work, typed calls load it on first use', async (t) => {
  const server = await fakeServer(t);
  const access = await loadKubeAccess({ kubeconfig: kubeconfig(t, server.url, '{token: t0k3n}') });
  t.after(() => access.destroy());
  const clients = makeLazyClients(access);
  assert.equal(access.server, server.url);

  const listed = await clients.core.listPodForAllNamespaces({ labelSelector: 'talon.dev/revert-pending' });
  assert.deepEqual(listed.items.map((p) => p.metadata?.name), ['p1']);
  const req = server.requests.at(-1)!;
  assert.equal(req.headers.authorization, 'Bearer t0k3n');
  assert.equal(req.query.labelSelector, 'talon.dev/revert-pending');
  assert.equal(access.typedLoaded(), false, 'a sweep list is a raw request');

  const pods = await clients.core.listNamespacedPod({ namespace: 'ns1' });
  assert.deepEqual(pods.items.map((p) => p.metadata?.name), ['p1']);
  assert.equal(access.typedLoaded(), true, 'a typed call loads client-node');
  assert.equal(server.requests.at(-1)!.headers.authorization, 'Bearer t0k3n');
  await assert.rejects(
    clients.custom.getNamespacedCustomObject({ group: 'talon.dev', version: 'v1alpha1', plural: 'talonrules', namespace: 'ns1', name: 'x' }),
    (err: unknown) => err instanceof ApiException && err.code === 404,
  );
});

test('a token file is read again at each refresh (a projected token rotates)', async (t) => {
  const server = await fakeServer(t);
  const dir = tempDir(t);
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'first\n');
  const access = await loadKubeAccess({ kubeconfig: kubeconfig(t, server.url, `{token-file: "${tokenFile}"}`) });
  t.after(() => access.destroy());
  assert.equal((await access.authMaterial()).headers.authorization, 'Bearer first');
  writeFileSync(tokenFile, 'second\n');
  assert.equal((await access.authMaterial(true)).headers.authorization, 'Bearer second');
});

test('the in-cluster service account: server from the environment, token and CA from its directory', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'sa-token');
  const access = await loadKubeAccess({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, serviceAccountDir: dir });
  t.after(() => access.destroy());
  assert.equal(access.server, 'https://[fd00::1]:6443');
  const m = await access.authMaterial();
  assert.equal(m.headers.authorization, 'Bearer sa-token');
  assert.ok(m.agent, 'https goes through the keep-alive pool');
  assert.equal(access.typedLoaded(), false);
});

test('what this module does not read (an exec plugin) is left to client-node, loaded at once', async (t) => {
  const file = kubeconfig(t, 'https://127.0.0.1:1', '{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true}}');
  const access = await loadKubeAccess({ kubeconfig: file });
  t.after(() => access.destroy());
  assert.equal(access.typedLoaded(), true);
  assert.equal(access.server, 'https://127.0.0.1:1');
});

test('a kubeconfig without a current cluster, or unreadable, fails at load', async (t) => {
  const file = join(tempDir(t), 'config');
  writeFileSync(file, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  await assert.rejects(loadKubeAccess({ kubeconfig: file }), /no current cluster/);
  await assert.rejects(loadKubeAccess({ kubeconfig: '/nonexistent/kubeconfig' }), /ENOENT/);
});

test('lazyApi: one load for concurrent first calls, loaded again after a failure, raw methods carry the call’s signal', async () => {
  let loads = 0;
  let fail = true;
  const api = lazyApi<{ hello(n: number): Promise<string> }>(async () => {
    loads++;
    if (fail) throw new Error('cannot load');
    return { hello: async (n) => `hi ${n}` };
  });
  await assert.rejects(api.hello(1), /cannot load/);
  fail = false;
  assert.deepEqual(await Promise.all([api.hello(2), api.hello(3)]), ['hi 2', 'hi 3']);
  assert.equal(loads, 2);

  const seen: RawRequest[] = [];
  const raw: RawKube = { request: async <T>(r: RawRequest) => (seen.push(r), { items: [] }) as T };
  const ac = new AbortController();
  const lister = lazyApi<{ listThings(p: object, o?: object): Promise<unknown> }>(
    async () => assert.fail('not loaded for a raw method'),
    raw,
    { listThings: (r, params, signal) => r.request({ method: 'GET', path: `/things?labelSelector=${String((params as { labelSelector: string }).labelSelector)}`, ...(signal ? { signal } : {}) }) },
  );
  await lister.listThings({ labelSelector: 'a=b' }, { [REQUEST_SIGNAL]: ac.signal });
  assert.equal(seen[0]?.path, '/things?labelSelector=a=b');
  assert.equal(seen[0]?.signal, ac.signal);
});
