import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { fromKubeError } from '../errors.js';
import { execStatusOf, makePodStreams } from './pod-streams.js';

test('exit status from the v1 Status of the exec status channel', () => {
  assert.deepEqual(execStatusOf({ status: 'Success' }), { success: true, exitCode: 0, message: '' });
  assert.deepEqual(
    execStatusOf({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      message: 'command terminated with non-zero exit code: exit status 3',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    }),
    { success: false, exitCode: 3, message: 'command terminated with non-zero exit code: exit status 3' },
  );
  assert.deepEqual(execStatusOf({ status: 'Failure', reason: 'InternalError', message: 'exec: "nope": executable file not found in $PATH' }), {
    success: false,
    message: 'exec: "nope": executable file not found in $PATH',
  });
  assert.deepEqual(execStatusOf({ status: 'Failure', details: { causes: [{ reason: 'ExitCode', message: 'x' }] } }), { success: false, message: 'the command failed' });
  // kwok reports Go's error text only.
  const kwok = 'Internal error occurred: error executing command in container: cmd wait: sh -c echo hi; exit 3: exit status 3';
  assert.deepEqual(execStatusOf({ status: 'Failure', reason: 'InternalError', message: kwok, code: 500 }), { success: false, exitCode: 3, message: kwok });
  assert.equal(execStatusOf({ status: 'Failure', message: 'exit status 3 is not at the end' }).exitCode, undefined);
});

async function apiServer(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<KubeConfig> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  server.unref();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't0k3n' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

test('log: streams the body of a 200, with the query the request asks for and the credentials', async (t) => {
  let seen: { url?: string; auth?: string } = {};
  const kc = await apiServer(t, (req, res) => {
    seen = { url: req.url ?? '', auth: req.headers.authorization ?? '' };
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('line 1\n');
    setTimeout(() => res.end('line 2\n'), 10);
  });
  const body = await makePodStreams(kc).log({ namespace: 'ns 1', pod: 'web-1', container: 'main', tailLines: 5, sinceSeconds: 30, previous: true, timestamps: true, limitBytes: 101, signal: new AbortController().signal });
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), 'line 1\nline 2\n');
  const url = new URL(`http://x${seen.url}`);
  assert.equal(url.pathname, '/api/v1/namespaces/ns%201/pods/web-1/log');
  assert.deepEqual(Object.fromEntries(url.searchParams), { container: 'main', tailLines: '5', sinceSeconds: '30', previous: 'true', timestamps: 'true', limitBytes: '101' });
  assert.equal(seen.auth, 'Bearer t0k3n');
});

test("log: an error status rejects with the server's Status, mapped like any API error", async (t) => {
  const kc = await apiServer(t, (_req, res) => {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', status: 'Failure', code: 400, reason: 'BadRequest', message: 'previous terminated container "main" in pod "web-1" not found' }));
  });
  const err = await makePodStreams(kc)
    .log({ namespace: 'ns', pod: 'web-1', container: 'main', previous: true, signal: new AbortController().signal })
    .then(() => undefined, (e: unknown) => e);
  const e = fromKubeError(err);
  assert.equal(e.code, 'BadRequest');
  assert.equal(e.message, 'previous terminated container "main" in pod "web-1" not found');
});

test('log: aborting ends the request', async (t) => {
  const kc = await apiServer(t, (_req, res) => {
    res.writeHead(200);
    res.write('first\n');
    // never ends
  });
  const ac = new AbortController();
  const body = await makePodStreams(kc).log({ namespace: 'ns', pod: 'p', container: 'c', signal: ac.signal });
  const read = (async () => {
    for await (const _ of body) ac.abort();
  })();
  // Without the abort the body never ends: the read finishing at all is the proof.
  await assert.rejects(read);
});
