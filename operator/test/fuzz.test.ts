/**
 * Thousands of hostile requests thrown at a real server over keep-alive connections (the
 * corpus of fuzz-corpus.ts: random bytes and JSON, mutated real alerts, deep nesting, huge
 * numbers, invalid UTF-8, bad gzip, prototype keys, giant field names), plus slow bodies and
 * idle sockets on raw connections. Every answer must be 202 exactly for a valid alert and a
 * 4xx otherwise (never a 5xx, a reset or a hang), everything answered 202 must have reached
 * `ingest` as a valid frozen event, nothing may reach Object.prototype, and the server must
 * still be healthy at the end. The bench (bench/fuzz.bench.ts) runs 100,000 and measures RSS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { loadConfig } from '../src/config/load.js';
import type { FalcoEvent } from '../src/falco/event.js';
import { createServer, type WebhookServer } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { expectedAnswer, idleSocket, PARTIAL_HEADERS, slowBody, upload, type Upload } from './fuzz-corpus.js';

const RUNS = 3000;
const LIMIT = 128 * 1024;


let server: WebhookServer;
let port = 0;
const accepted: FalcoEvent[] = [];

before(async () => {
  const r = loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_BODYLIMIT: String(LIMIT), TALON_WEBHOOK_IDLETIMEOUT: '500ms' } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  server = createServer({
    config: r.config,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics: createMetrics({ defaultMetrics: false }),
    ingest: (ev) => void accepted.push(ev),
    isReady: () => ({ ready: true, reasons: [] }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function post(agent: http.Agent, { body, gzip }: Upload): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test(`${RUNS} hostile bodies: 202 exactly for valid alerts, else 4xx; never 5xx or a reset`, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let answered202 = 0;
  let reused = 0;
  try {
    await fc.assert(
      fc.asyncProperty(upload, async (u) => {
        const r = await post(agent, u);
        assert.ok(r.status === 202 || (r.status >= 400 && r.status < 500), `status ${r.status}`);
        const expected = expectedAnswer(u, LIMIT);
        assert.equal(r.status === 202, expected === 'accepted', `status ${r.status} for a body the parser finds ${expected}`);
        if (expected === 'too large') assert.equal(r.status, 413);
        if (r.status === 202) answered202++;
        if (r.reused) reused++;
      }),
      { numRuns: RUNS },
    );
  } finally {
    agent.destroy();
  }
  assert.equal(accepted.length, answered202);
  assert.ok(answered202 > 0 && answered202 < RUNS, `${answered202} of ${RUNS} accepted: the generators must produce both valid and invalid alerts`);
  for (const ev of accepted) {
    assert.ok(Object.isFrozen(ev) && Object.isFrozen(ev.outputFields) && Object.isFrozen(ev.tags));
    assert.ok(typeof ev.rule === 'string' && ev.rule !== '');
    for (const v of Object.values(ev.outputFields)) assert.ok(v === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof v) || Array.isArray(v));
  }
  assert.ok(reused > RUNS / 2, `keep-alive was used for ${reused} of ${RUNS} requests`);
  const health = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => resolve(res.statusCode ?? 0)).on('error', reject);
  });
  assert.equal(health, 200);
  assert.equal(({} as Record<string, unknown>).rule, undefined, 'nothing reached Object.prototype');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('slow bodies are answered; idle sockets and partial headers are closed by the server', { timeout: 120_000 }, async () => {
  const slow = await Promise.all(Array.from({ length: 20 }, (_, i) => slowBody(port, 4 + (i % 4), 50)));
  for (const r of slow) assert.equal(r.status, 202);
  const idle = await Promise.all(Array.from({ length: 40 }, (_, i) => idleSocket(port, PARTIAL_HEADERS[i % PARTIAL_HEADERS.length]!)));
  for (const r of idle) {
    assert.ok(r.closedByServer, 'the server closed the idle socket');
    assert.ok(r.status === 0 || (r.status >= 400 && r.status < 500), `status ${r.status}`);
  }
  const health = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => resolve(res.statusCode ?? 0)).on('error', reject);
  });
  assert.equal(health, 200);
});
