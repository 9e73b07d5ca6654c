/**
 * Webhook authentication against real HTTP(S) clients: bearer tokens (Falcosidekick's custom
 * header) and mutual TLS (Falco's http_output), with probes left open.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { FalcoEvent } from '../src/falco/event.js';
import { bearerCredential, createAuthenticator, warnIfUnauthenticated } from '../src/http/auth.js';
import { createServer, type WebhookServer } from '../src/http/server.js';
import { createLogger, type Logger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { createTestPki, type TestPki } from './certs.js';

const ALERT = '{"rule":"Terminal shell in container","priority":"Critical","output_fields":{"k8s.pod.name":"p"}}';
const silent = (): Logger => createLogger({ level: 'error', format: 'json', silent: true });

function config(env: Record<string, string>): Config {
  const r = loadConfig({ env });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
}

interface Target {
  readonly port: number;
  readonly accepted: FalcoEvent[];
  readonly server: WebhookServer;
  close(): Promise<void>;
}

async function start(cfg: Config): Promise<Target> {
  const accepted: FalcoEvent[] = [];
  const server = createServer({
    config: cfg,
    logger: silent(),
    metrics: createMetrics({ defaultMetrics: false }),
    ingest: (ev) => void accepted.push(ev),
    isReady: () => ({ ready: true, reasons: [] }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Options = http.RequestOptions & https.RequestOptions;

function send(module: typeof http | typeof https, options: Options, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = module.request({ host: '127.0.0.1', agent: false, ...options }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('token mode', () => {
  let dir = '';
  let target: Target;
  const post = (headers: http.OutgoingHttpHeaders) => send(http, { port: target.port, method: 'POST', path: '/', headers }, ALERT);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'talon-token-'));
    writeFileSync(join(dir, 'token'), 'correct-horse-battery-staple\n');
    target = await start(config({ TALON_AUTH_MODE: 'token', TALON_AUTH_TOKENFILE: join(dir, 'token') }));
  });
  after(async () => {
    await target.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the right bearer token is accepted (scheme in any case)', async () => {
    assert.equal((await post({ authorization: 'Bearer correct-horse-battery-staple' })).status, 202);
    assert.equal((await post({ authorization: 'bearer  correct-horse-battery-staple ' })).status, 202);
    assert.equal(target.accepted.length, 2);
  });

  test('wrong, missing, empty or other-scheme credentials are 401 and never ingested', async () => {
    const before = target.accepted.length;
    for (const authorization of [undefined, 'Bearer wrong', 'Bearer correct-horse-battery-stapl', 'Bearer', 'Bearer ', 'Basic Y29ycmVjdC1ob3JzZQ==', 'correct-horse-battery-staple']) {
      const r = await post(authorization === undefined ? {} : { authorization });
      assert.equal(r.status, 401, String(authorization));
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="talon"');
      assert.equal(r.headers.connection, 'close', 'a refused client does not keep its connection');
    }
    assert.equal(target.accepted.length, before);
  });

  test('probes stay open', async () => {
    assert.equal((await send(http, { port: target.port, path: '/healthz' })).status, 200);
    assert.equal((await send(http, { port: target.port, path: '/readyz' })).status, 200);
  });
});

describe('token rotation', () => {
  test('reload picks up a rotated token; emptying or deleting the file revokes it until a token is written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'talon-rotate-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'one');
    const auth = createAuthenticator({ config: config({ TALON_AUTH_MODE: 'token', TALON_AUTH_TOKENFILE: file }), logger: silent(), reloadIntervalMs: 0 });
    const allows = (token: string) => auth.allows({ headers: { authorization: `Bearer ${token}` } } as IncomingMessage);
    try {
      assert.ok(allows('one'));
      writeFileSync(file, 'two\n');
      auth.reload();
      assert.ok(allows('two') && !allows('one'));
      writeFileSync(file, '');
      auth.reload();
      assert.ok(!allows('two') && !allows('one') && !allows(''), 'an emptied file revokes the token');
      writeFileSync(file, 'three');
      auth.reload();
      assert.ok(allows('three') && !allows('two'));
      rmSync(file);
      auth.reload();
      assert.ok(!allows('three'), 'a deleted file revokes the token');
      writeFileSync(file, 'four');
      auth.reload();
      assert.ok(allows('four'));
    } finally {
      auth.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bearerCredential', () => {
    assert.equal(bearerCredential('Bearer abc'), 'abc');
    assert.equal(bearerCredential('BEARER abc'), 'abc');
    assert.equal(bearerCredential('Bearer'), undefined);
    assert.equal(bearerCredential('Token abc'), undefined);
    assert.equal(bearerCredential(undefined), undefined);
  });

  test('none mode is accepted but warned about', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc: string, done: () => void) {
        lines.push(chunk.toString());
        done();
      },
    });
    warnIfUnauthenticated(config({ TALON_AUTH_MODE: 'none' }), createLogger({ level: 'info', format: 'json', stream }));
    assert.equal(lines.length, 1);
    assert.deepEqual(
      (({ level, message, auth_mode }) => ({ level, message, auth_mode }))(JSON.parse(lines[0]!) as Record<string, unknown>),
      { level: 'warn', message: 'webhook accepts alerts without authentication', auth_mode: 'none' },
    );
  });
});

describe('TLS', () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.remove());

  test('token mode with a certificate serves HTTPS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'talon-token-tls-'));
    writeFileSync(join(dir, 'token'), 't0k3n');
    const target = await start(
      config({ TALON_AUTH_MODE: 'token', TALON_AUTH_TOKENFILE: join(dir, 'token'), TALON_TLS_CERTFILE: pki.server.certFile, TALON_TLS_KEYFILE: pki.server.keyFile }),
    );
    try {
      const opts = { port: target.port, method: 'POST', path: '/', ca: pki.ca.cert };
      assert.equal((await send(https, { ...opts, headers: { authorization: 'Bearer t0k3n' } }, ALERT)).status, 202);
      assert.equal((await send(https, opts, ALERT)).status, 401);
      await assert.rejects(send(http, { port: target.port, path: '/healthz' }));
    } finally {
      await target.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('rotated certificate files are served without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'talon-rotate-tls-'));
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    writeFileSync(certFile, pki.server.cert);
    writeFileSync(keyFile, pki.server.key);
    const cfg = config({ TALON_AUTH_MODE: 'none', TALON_TLS_CERTFILE: certFile, TALON_TLS_KEYFILE: keyFile });
    const server = createServer({
      config: cfg,
      logger: silent(),
      metrics: createMetrics({ defaultMetrics: false }),
      ingest: () => undefined,
      isReady: () => ({ ready: true, reasons: [] }),
      credentialReloadMs: 20,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const healthz = (ca: string) => send(https, { port, path: '/healthz', ca }).then((r) => r.status, () => 0);
    try {
      assert.equal(await healthz(pki.ca.cert), 200);
      writeFileSync(keyFile, pki.otherServer.key);
      writeFileSync(certFile, pki.otherServer.cert);
      while ((await healthz(pki.otherCa.cert)) !== 200) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(await healthz(pki.ca.cert), 0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('mtls mode', () => {
    let target: Target;
    before(async () => {
      target = await start(
        config({
          TALON_AUTH_MODE: 'mtls',
          TALON_TLS_CERTFILE: pki.server.certFile,
          TALON_TLS_KEYFILE: pki.server.keyFile,
          TALON_TLS_CLIENTCAFILE: pki.ca.certFile,
        }),
      );
    });
    after(() => target.close());

    const post = (client?: { cert: string; key: string }) =>
      send(https, { port: target.port, method: 'POST', path: '/', ca: pki.ca.cert, ...(client ? { cert: client.cert, key: client.key } : {}) }, ALERT);

    test('a client certificate from the configured CA is accepted', async () => {
      assert.equal((await post(pki.client)).status, 202);
      assert.equal(target.accepted.length, 1);
    });

    test('no client certificate: 401 on ingest, probes open', async () => {
      assert.equal((await post()).status, 401);
      assert.equal((await send(https, { port: target.port, path: '/healthz', ca: pki.ca.cert })).status, 200);
      assert.equal((await send(https, { port: target.port, path: '/readyz', ca: pki.ca.cert })).status, 200);
    });

    test('a certificate from another CA is rejected', async () => {
      const before = target.accepted.length;
      assert.equal((await post(pki.otherClient)).status, 401);
      assert.equal((await post({ cert: pki.otherCa.cert, key: pki.otherCa.key })).status, 401);
      assert.equal(target.accepted.length, before);
    });
  });
});
