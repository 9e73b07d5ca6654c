/**
 * What one webhook client can hold, against the real server on loopback: silent sockets are
 * closed, connections beyond the cap are refused while the others keep working, a client over
 * its rate gets 429 while probes stay open.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config/load.js';
import { createServer, type WebhookServer } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';

const ALERT = '{"rule":"Terminal shell in container","priority":"Warning","output_fields":{"k8s.pod.name":"p"}}';

async function start(env: Record<string, string>): Promise<{ server: WebhookServer; port: number; close(): Promise<void> }> {
  const cfg = loadConfig({ env: { TALON_AUTH_MODE: 'none', ...env } });
  if (!cfg.ok) throw new Error(cfg.errors.join('\n'));
  const server = createServer({
    config: cfg.config,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics: createMetrics({ defaultMetrics: false }),
    ingest: () => undefined,
    isReady: () => ({ ready: true, reasons: [] }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

const closed = (s: net.Socket): Promise<void> => new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

function request(port: number, agent: http.Agent | false, method: string, path: string, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('webhook limits', () => {
  test('silent sockets are closed after webhook.idleTimeout; a socket that sent a request is not', { timeout: 60_000 }, async () => {
    const h = await start({ TALON_WEBHOOK_IDLETIMEOUT: '300ms' });
    try {
      const silent = await Promise.all(Array.from({ length: 50 }, () => connect(h.port)));
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      assert.equal((await request(h.port, agent, 'POST', '/', ALERT)).status, 202);
      await Promise.all(silent.map(closed));
      // the keep-alive connection outlives the idle deadline (keepAliveTimeout is 125 s)
      await new Promise((r) => setTimeout(r, 600));
      assert.equal((await request(h.port, agent, 'POST', '/', ALERT)).status, 202);
      const open = await new Promise<number>((resolve) => h.server.getConnections((_e, n) => resolve(n)));
      assert.equal(open, 1, 'only the keep-alive connection that sent requests remains');
      agent.destroy();
    } finally {
      await h.close();
    }
  });

  test('connections beyond webhook.maxConnections are closed at once; the others keep working', { timeout: 60_000 }, async () => {
    const h = await start({ TALON_WEBHOOK_MAXCONNECTIONS: '5', TALON_WEBHOOK_IDLETIMEOUT: '0s' });
    try {
      const held = await Promise.all(Array.from({ length: 5 }, () => connect(h.port)));
      const extra = await Promise.all(Array.from({ length: 10 }, () => connect(h.port).catch(() => undefined)));
      await Promise.all(extra.map((s) => (s === undefined ? undefined : closed(s))));
      // a held connection still answers
      const reply = await new Promise<string>((resolve) => {
        const s = held[0]!;
        let text = '';
        s.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('\r\n\r\n')) resolve(text);
        });
        s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${ALERT.length}\r\n\r\n${ALERT}`);
      });
      assert.match(reply, /^HTTP\/1\.1 202/);
      for (const s of held) s.destroy();
    } finally {
      await h.close();
    }
  });

  test('a client over webhook.perClientRequestsPerSecond gets 429 with Retry-After; probes are never limited', { timeout: 60_000 }, async () => {
    const h = await start({ TALON_WEBHOOK_PERCLIENTREQUESTSPERSECOND: '1', TALON_WEBHOOK_PERCLIENTBURST: '3' });
    try {
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let i = 0; i < 6; i++) {
        const r = await request(h.port, false, 'POST', '/', ALERT);
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers['retry-after'] as string;
      }
      assert.deepEqual(statuses.slice(0, 3), [202, 202, 202]);
      assert.ok(statuses.slice(3).includes(429), JSON.stringify(statuses));
      assert.equal(retryAfter, '1');
      for (let i = 0; i < 20; i++) assert.equal((await request(h.port, false, 'GET', '/healthz')).status, 200);
    } finally {
      await h.close();
    }
  });
});
