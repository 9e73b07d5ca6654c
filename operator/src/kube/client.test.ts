import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException } from '@kubernetes/client-node';
import type { KubeClients } from './client.js';
import { FakeApiServer } from '../../test/fakes/apiserver.js';
import { loadKubeConfig, makeClients } from './client.js';

function kubeconfigFile(t: TestContext, server: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "' + server + '", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: t0k3n}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n'),
  );
  return file;
}

/** Sets environment variables for the duration of the test. */
function withEnv(t: TestContext, vars: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>): void => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  };
  apply(vars);
  t.after(() => apply(saved));
}

test('an explicit kubeconfig path wins over in-cluster and KUBECONFIG', (t) => {
  const explicit = kubeconfigFile(t, 'https://explicit.example:6443');
  withEnv(t, {
    KUBERNETES_SERVICE_HOST: '10.0.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBECONFIG: kubeconfigFile(t, 'https://env.example:6443'),
  });
  assert.equal(loadKubeConfig({ kubeconfig: explicit }).getCurrentCluster()?.server, 'https://explicit.example:6443');
});

test('in-cluster configuration when KUBERNETES_SERVICE_HOST is set', (t) => {
  withEnv(t, {
    KUBERNETES_SERVICE_HOST: '10.0.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBECONFIG: kubeconfigFile(t, 'https://env.example:6443'),
  });
  assert.equal(loadKubeConfig().getCurrentCluster()?.server, 'https://10.0.0.1:443');
});

test('KUBECONFIG otherwise', (t) => {
  withEnv(t, { KUBERNETES_SERVICE_HOST: undefined, KUBECONFIG: kubeconfigFile(t, 'https://env.example:6443') });
  assert.equal(loadKubeConfig().getCurrentCluster()?.server, 'https://env.example:6443');
});

test('an unreadable explicit path throws', () => {
  assert.throws(() => loadKubeConfig({ kubeconfig: '/nonexistent/kubeconfig' }));
});

test('makeClients talks to the configured server with its credentials', async (t) => {
  const server = await FakeApiServer.start();
  t.after(() => server.close());
  server.put('/api/v1/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns1', name: 'p1' } });
  const clients = makeClients(loadKubeConfig({ kubeconfig: kubeconfigFile(t, server.url) }));
  const asPorts: KubeClients = clients;

  const pods = await asPorts.core.listNamespacedPod({ namespace: 'ns1' });
  assert.deepEqual(pods.items.map((p) => p.metadata?.name), ['p1']);
  assert.equal(server.requests.at(-1)!.headers.authorization, 'Bearer t0k3n');
  await assert.rejects(
    clients.custom.getNamespacedCustomObject({ group: 'talon.dev', version: 'v1alpha1', plural: 'talonrules', namespace: 'ns1', name: 'x' }),
    (err: unknown) => err instanceof ApiException && err.code === 404,
  );
  for (const k of ['core', 'apps', 'networking', 'policy', 'custom', 'events', 'apiext', 'coordination', 'kubeConfig'] as const) {
    assert.ok(clients[k], k);
  }
});
