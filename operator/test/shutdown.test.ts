/**
 * The webhook's side of the 202 promise (issue 12), over real sockets: a refused alert is
 * answered 503 with Retry-After and counted; `closeGracefully` does not wait for idle or
 * half-sent connections (Node stops its header-timeout sweep once a server is closing, which
 * used to hold a SIGTERM-ed process 41–90 s), while a request in flight still gets its answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { loadConfig } from '../src/config/load.js';
import type { FalcoEvent } from '../src/falco/event.js';
import { closeGracefully, createServer } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';

const ALERT = JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', output: 'x', time: '2026-01-01T00:00:00Z', output_fields: {} });

function webhook(ingest: (ev: FalcoEvent, body: Buffer) => { reason: string; retryAfterSeconds: number } | undefined) {
  const loaded = loadConfig({ env: { TALON_AUTH_MODE: 'none' } });
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  const metrics = createMetrics({ defaultMetrics: false });
  const server = createServer({
    config: loaded.config,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics,
    ingest,
    isReady: () => ({ ready: true, reasons: [] }),
    credentialReloadMs: 0,
  }) as http.Server;
  return { server, metrics };
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

test('an alert the ingest refuses is answered 503 with Retry-After, counted as refused', async () => {
  let refuse = false;
  const { server, metrics } = webhook(() => (refuse ? { reason: 'the budget is full', retryAfterSeconds: 7 } : undefined));
  const port = await listen(server);
  try {
    const ok = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: ALERT });
    assert.equal(ok.status, 202);
    refuse = true;
    const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: ALERT });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '7');
    assert.match(await r.text(), /alert not accepted: the budget is full/);
    const text = await metrics.text();
    assert.match(text, /talon_events_received_total\{result="refused"\} 1/);
    assert.match(text, /talon_events_received_total\{result="accepted"\} 1/);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('closeGracefully: idle and half-sent connections do not hold the close; a request in flight is answered', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // A slow route stands for a request in flight at SIGTERM.
  const { server } = webhook(() => undefined);
  const slow = http.createServer(async (_req, res) => {
    await gate;
    res.end('done');
  });
  const port = await listen(server);
  const slowPort = await listen(slow);
  const sockets: Socket[] = [];
  const ended: Promise<void>[] = [];
  const open = (p: number, first?: string): Promise<Socket> =>
    new Promise((r) => {
      const s = connect(p, '127.0.0.1', () => {
        if (first) s.write(first);
        r(s);
      });
      s.on('error', () => undefined);
      ended.push(new Promise((done) => s.once('close', () => done())));
      sockets.push(s);
    });
  try {
    await open(port);
    await open(port, 'POST / HTTP/1.1\r\nHost: x\r\n');
    // A keep-alive connection (fetch keeps it) that already carried one request.
    const first = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: ALERT });
    assert.equal(first.status, 202);
    // Resolves only once every connection is gone: the idle and the half-sent one were closed by the server.
    await closeGracefully(server, 2_000);
    await Promise.all(ended);

    const inflight = fetch(`http://127.0.0.1:${slowPort}/`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 50));
    const closingSlow = closeGracefully(slow, 5_000);
    release();
    assert.equal(await inflight, 'done', 'the request in flight got its answer');
    await closingSlow;
  } finally {
    for (const s of sockets) s.destroy();
  }
});
