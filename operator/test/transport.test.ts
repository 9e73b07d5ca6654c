/**
 * The Kubernetes API transport against a real HTTPS peer on loopback (client certificates
 * verified): API calls reuse one TLS connection, bodies and status codes round-trip, errors
 * surface as ApiException with the status code, and an aborted call rejects.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { KeepAliveKubeConfig } from '../src/kube/transport.js';
import { requestOptions } from '../src/actionners/kubernetes/common.js';
import { createTestPki, type TestPki } from './certs.js';

describe('KeepAliveKubeConfig transport', () => {
  let pki: TestPki;
  let server: https.Server;
  let connections = 0;
  const seen: { method: string; url: string; body: string; auth: string | undefined }[] = [];
  let kc: KeepAliveKubeConfig;

  before(async () => {
    pki = createTestPki();
    server = https.createServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body, auth: req.headers.authorization });
        if (req.url?.includes('/pods/missing')) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'pods "missing" not found' }));
          return;
        }
        if (req.url?.includes('/pods/slow')) return; // never answers: the caller aborts
        const name = req.url?.split('/').pop()?.split('?')[0] ?? '';
        res.writeHead(req.method === 'PATCH' ? 200 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', uid: `uid-${name}`, labels: body ? JSON.parse(body).metadata?.labels : undefined } }));
      });
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    kc = new KeepAliveKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(pki.ca.cert).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'u', certData: Buffer.from(pki.client.cert).toString('base64'), keyData: Buffer.from(pki.client.key).toString('base64') }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });
  after(async () => {
    kc.destroyAgent();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    pki.remove();
  });

  it('reuses one TLS connection across sequential calls and round-trips bodies', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const before = connections;
    for (let i = 0; i < 20; i++) {
      const pod = await core.readNamespacedPod({ name: `p${i}`, namespace: 'ns' });
      assert.equal(pod.metadata?.uid, `uid-p${i}`);
    }
    const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
    const patched = await core.patchNamespacedPod(
      { name: 'p0', namespace: 'ns', body: { metadata: { labels: { a: 'b' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    assert.deepEqual(patched.metadata?.labels, { a: 'b' });
    assert.equal(seen.at(-1)?.method, 'PATCH');
    assert.equal(connections - before, 1, 'one TLS handshake for 21 calls');
  });

  it('an error status becomes an ApiException with the code and body', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await assert.rejects(core.readNamespacedPod({ name: 'missing', namespace: 'ns' }), (err: unknown) => {
      assert.ok(err instanceof ApiException);
      assert.equal(err.code, 404);
      assert.match(String(err.body), /not found/);
      return true;
    });
  });

  it('an aborted call rejects and the pool keeps working', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const ctrl = new AbortController();
    const pending = core.readNamespacedPod({ name: 'slow', namespace: 'ns' }, requestOptions(ctrl.signal));
    setTimeout(() => ctrl.abort(), 50);
    await assert.rejects(pending);
    const pod = await core.readNamespacedPod({ name: 'after', namespace: 'ns' });
    assert.equal(pod.metadata?.name, 'after');
  });
});
