/**
 * Raw API requests (kube/raw.ts) against a real HTTPS peer on loopback: they share the typed
 * clients' pooled connection, send JSON with the given Content-Type, and their failures map
 * through fromKubeError exactly as the typed clients' do (status → code/retryable, the
 * Status message, Retry-After, network errors, aborts). Auth material is computed once per
 * AUTH_REFRESH_MS (a changed token shows after it; a 401 forces it at once and the request
 * is sent again), and a changed client certificate swaps the connection pool.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { CoreV1Api } from '@kubernetes/client-node';
import { AUTH_REFRESH_MS, KeepAliveKubeConfig, authSourceOf } from '../src/kube/transport.js';
import { MERGE_PATCH, METADATA_ONLY_ACCEPT, RawClient, apiPath } from '../src/kube/raw.js';
import { fromKubeError } from '../src/errors.js';
import { loadKubeAccess } from '../src/kube/access.js';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, type TestPki } from './certs.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly body: string;
  readonly auth: string | undefined;
  readonly contentType: string | undefined;
  readonly accept: string | undefined;
  /** Fingerprint of the client certificate of the connection. */
  readonly peer: string | undefined;
}

const status = (code: number, reason: string, message: string) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code, message });

describe('raw API requests', () => {
  let pki: TestPki;
  let server: https.Server;
  let port = 0;
  let connections = 0;
  const seen: Seen[] = [];
  /** The bearer token the server accepts (undefined: any). */
  let acceptedToken: string | undefined;

  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const kubeconfig = (kc: KeepAliveKubeConfig, user: Record<string, string>) =>
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: b64(pki.ca.cert), skipTLSVerify: false }],
      users: [{ name: 'u', ...user }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });

  before(async () => {
    pki = createTestPki();
    // Client certificates are asked for but any is accepted: the test reads which one came.
    server = https.createServer({ cert: pki.server.cert, key: pki.server.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const peer = (req.socket as TLSSocket).getPeerCertificate().fingerprint256;
        seen.push({ method: req.method ?? '', url: req.url ?? '', body, auth: req.headers.authorization, contentType: req.headers['content-type'], accept: req.headers.accept, peer });
        const reply = (code: number, text: string, headers: Record<string, string> = {}) => {
          res.writeHead(code, { 'content-type': 'application/json', ...headers });
          res.end(text);
        };
        if (acceptedToken !== undefined && req.headers.authorization !== `Bearer ${acceptedToken}`) return reply(401, status(401, 'Unauthorized', 'Unauthorized'));
        const name = decodeURIComponent(req.url?.split('/').pop() ?? '');
        if (name === 'slow') return; // never answers: the caller aborts
        if (name === 'missing') return reply(404, status(404, 'NotFound', 'pods "missing" not found'));
        if (name === 'conflict') return reply(409, status(409, 'Conflict', 'the object has been modified'));
        if (name === 'busy') return reply(429, status(429, 'TooManyRequests', 'slow down'), { 'retry-after': '3' });
        if (name === 'broken') return reply(500, status(500, 'InternalError', 'etcd unhappy'));
        if (name === 'invalid') return reply(422, status(422, 'Invalid', 'metadata.labels: Invalid value'));
        if (name === 'forbidden') return reply(403, status(403, 'Forbidden', 'pods "forbidden" is forbidden: User "x" cannot patch resource "pods" in API group "" in the namespace "ns"'));
        reply(200, JSON.stringify({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name, namespace: 'ns', uid: `uid-${name}`, labels: body ? JSON.parse(body).metadata?.labels : undefined } }));
      });
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    pki.remove();
  });

  const certUser = { certData: '', keyData: '' };
  const fresh = () => {
    const kc = new KeepAliveKubeConfig();
    kubeconfig(kc, { ...certUser, certData: b64(pki.client.cert), keyData: b64(pki.client.key) });
    return kc;
  };

  it('sends JSON with its Content-Type over the connection the typed clients use, and reads the answer', async () => {
    const kc = fresh();
    const raw = new RawClient(authSourceOf(kc));
    const before = connections;
    const got = await raw.request<{ metadata: { uid: string; labels: Record<string, string> } }>({
      method: 'PATCH',
      path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'web-1'),
      body: { metadata: { labels: { a: 'b' } } },
      contentType: MERGE_PATCH,
      metadataOnly: true,
    });
    assert.equal(got.metadata.uid, 'uid-web-1');
    assert.deepEqual(got.metadata.labels, { a: 'b' });
    const last = seen.at(-1);
    assert.equal(last?.url, '/api/v1/namespaces/ns/pods/web-1');
    assert.equal(last?.contentType, MERGE_PATCH);
    assert.equal(last?.accept, METADATA_ONLY_ACCEPT);
    assert.equal(await raw.request({ method: 'PATCH', path: apiPath('api', 'v1', 'nodes', 'n1'), body: {}, contentType: MERGE_PATCH, discard: true }), undefined);
    const core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 5; i++) {
      await core.readNamespacedPod({ name: `p${i}`, namespace: 'ns' });
      await raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', `p${i}`) });
    }
    assert.equal(connections - before, 1, 'one TLS handshake for raw and typed calls alike');
    // Segments are encoded: a name from an alert cannot change the path.
    await raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'a/../b') });
    assert.equal(seen.at(-1)?.url, '/api/v1/namespaces/ns/pods/a%2F..%2Fb');
    kc.destroyAgent();
  });

  it('failures map through fromKubeError as the typed clients do', async () => {
    const kc = fresh();
    const raw = new RawClient(authSourceOf(kc));
    const fail = async (name: string) => {
      try {
        await raw.request({ method: 'PATCH', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', name), body: {}, contentType: MERGE_PATCH });
      } catch (err) {
        return fromKubeError(err);
      }
      assert.fail(`${name} succeeded`);
    };
    const cases: [string, string, boolean, number][] = [
      ['missing', 'NotFound', false, 404],
      ['conflict', 'Conflict', true, 409],
      ['busy', 'TooManyRequests', true, 429],
      ['broken', 'ServerError', true, 500],
      ['invalid', 'Invalid', false, 422],
      ['forbidden', 'Forbidden', false, 403],
    ];
    for (const [name, code, retryable, httpStatus] of cases) {
      const e = await fail(name);
      assert.deepEqual([e.code, e.retryable, e.status], [code, retryable, httpStatus], name);
    }
    assert.equal((await fail('missing')).message, 'pods "missing" not found');
    assert.equal((await fail('busy')).retryAfterMs, 3000);
    assert.match((await fail('forbidden')).message, /^missing RBAC permission: cannot patch pods in namespace "ns": /);

    // An aborted call is Aborted (terminal) and the pool keeps working.
    const ctrl = new AbortController();
    const pending = raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'slow'), signal: ctrl.signal });
    setTimeout(() => ctrl.abort(), 30);
    const aborted = await pending.then(
      () => assert.fail('resolved'),
      (err: unknown) => fromKubeError(err),
    );
    assert.deepEqual([aborted.code, aborted.retryable], ['Aborted', false]);
    assert.ok(await raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'after') }));
    kc.destroyAgent();

    // Nobody listening: a retryable NetworkError.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const dead = new KeepAliveKubeConfig();
    dead.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${deadPort}`, caData: b64(pki.ca.cert), skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const net = await new RawClient(authSourceOf(dead)).request({ method: 'GET', path: '/api' }).then(
      () => assert.fail('resolved'),
      (err: unknown) => fromKubeError(err),
    );
    assert.deepEqual([net.code, net.retryable], ['NetworkError', true]);
    dead.destroyAgent();
  });

  it('auth material is reused for AUTH_REFRESH_MS, then computed again; a 401 computes it at once and resends', async (t) => {
    const clock = { t: 1_000_000 };
    t.after(() => (acceptedToken = undefined));
    const kc = new KeepAliveKubeConfig();
    kc.now = () => clock.t;
    kubeconfig(kc, { token: 'one' });
    const raw = new RawClient(authSourceOf(kc));
    const core = kc.makeApiClient(CoreV1Api);
    const get = () => raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'p') });
    await get();
    assert.equal(seen.at(-1)?.auth, 'Bearer one');
    // The token changes (a rotated token file, a new exec credential): within the period the old one is still sent…
    kubeconfig(kc, { token: 'two' });
    clock.t += AUTH_REFRESH_MS - 1;
    await get();
    await core.readNamespacedPod({ name: 'p', namespace: 'ns' });
    assert.deepEqual(seen.slice(-2).map((s) => s.auth), ['Bearer one', 'Bearer one']);
    // …and after it the new one, by raw and typed calls alike.
    clock.t += 1;
    await get();
    await core.readNamespacedPod({ name: 'p', namespace: 'ns' });
    assert.deepEqual(seen.slice(-2).map((s) => s.auth), ['Bearer two', 'Bearer two']);

    // The server stops accepting the cached token: one 401, the material is computed again, the request resent.
    acceptedToken = 'three';
    kubeconfig(kc, { token: 'three' });
    const n = seen.length;
    await get();
    assert.deepEqual(seen.slice(n).map((s) => s.auth), ['Bearer two', 'Bearer three']);
    // Neither the cached token nor a fresh one is accepted: Unauthorized after one resend, terminal.
    acceptedToken = 'five';
    kubeconfig(kc, { token: 'four' });
    const m = seen.length;
    const e = await get().then(
      () => assert.fail('resolved'),
      (err: unknown) => fromKubeError(err),
    );
    assert.deepEqual([e.code, e.retryable, seen.length - m], ['Unauthorized', false, 2]);
    assert.deepEqual(seen.slice(m).map((s) => s.auth), ['Bearer three', 'Bearer four']);
    kc.destroyAgent();
  });

  it('a rotated client certificate swaps the pool: new connections present the new certificate', async () => {
    const clock = { t: 1_000_000 };
    const kc = fresh();
    kc.now = () => clock.t;
    const raw = new RawClient(authSourceOf(kc));
    const get = () => raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'p') });
    await get();
    const first = seen.at(-1)?.peer;
    assert.ok(first);
    kubeconfig(kc, { certData: b64(pki.otherClient.cert), keyData: b64(pki.otherClient.key) });
    clock.t += AUTH_REFRESH_MS;
    const before = connections;
    await get();
    await get();
    assert.notEqual(seen.at(-1)?.peer, first);
    assert.equal(connections - before, 1, 'one new connection for the new certificate');
    kc.destroyAgent();
  });
  it('a burst that opens several connections builds the TLS context once: each presents the client certificate and checks the CA', async (t) => {
    const kc = fresh();
    const raw = new RawClient(authSourceOf(kc));
    await raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'warm') });
    // node:tls's own connect() calls this export when it is not given a context.
    const built = t.mock.method(tls, 'createSecureContext');
    const before = connections;
    await Promise.all(Array.from({ length: 6 }, (_, i) => raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', `burst-${i}`) })));
    assert.ok(connections - before >= 3, `${connections - before} new connections: the burst must open several`);
    assert.equal(built.mock.callCount(), 0, 'no TLS context built per connection');
    const client = seen.find((s) => s.url.endsWith('/warm'))?.peer;
    for (const s of seen.filter((x) => x.url.includes('/burst-'))) assert.equal(s.peer, client);
    kc.destroyAgent();
    // The context still carries the CA: a pool that trusts another CA is refused.
    const wrong = new KeepAliveKubeConfig();
    wrong.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: b64(pki.otherCa.cert), skipTLSVerify: false }],
      users: [{ name: 'u', certData: b64(pki.client.cert), keyData: b64(pki.client.key) }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    await assert.rejects(new RawClient(authSourceOf(wrong)).request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'p') }));
    wrong.destroyAgent();
  });
  it('the operator’s own kubeconfig reader (kube/access.ts): CA and client certificate files, relative to the kubeconfig; a rotated certificate file swaps the pool', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'access-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    copyFileSync(pki.ca.certFile, join(dir, 'ca.crt'));
    copyFileSync(pki.client.certFile, join(dir, 'client.crt'));
    copyFileSync(pki.client.keyFile, join(dir, 'client.key'));
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", certificate-authority: ca.crt}}]`,
        'users: [{name: u, user: {client-certificate: client.crt, client-key: client.key}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    const access = await loadKubeAccess({ kubeconfig: file });
    t.after(() => access.destroy());
    assert.equal(access.typedLoaded(), false, 'read without client-node');
    const raw = new RawClient(access);
    const get = () => raw.request({ method: 'GET', path: apiPath('api', 'v1', 'namespaces', 'ns', 'pods', 'p') });
    await get();
    const first = seen.at(-1)?.peer;
    assert.ok(first, 'the client certificate was presented');
    copyFileSync(pki.otherClient.certFile, join(dir, 'client.crt'));
    copyFileSync(pki.otherClient.keyFile, join(dir, 'client.key'));
    await access.authMaterial(true);
    const before = connections;
    await get();
    assert.notEqual(seen.at(-1)?.peer, first);
    assert.equal(connections - before, 1, 'one new connection for the new certificate');

    // The CA file is what verifies the server: one that did not sign its certificate is refused.
    copyFileSync(pki.otherCa.certFile, join(dir, 'ca.crt'));
    await access.authMaterial(true);
    await assert.rejects(get(), (err: NodeJS.ErrnoException) => /certificate/i.test(err.message));
  });
});
