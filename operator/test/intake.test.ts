/**
 * The webhook against real HTTP clients on loopback: every sample alert, Talon's own curl
 * examples, the body limit, methods, encodings, management endpoints and metrics.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http, { type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { FalcoEvent } from '../src/falco/event.js';
import { createServer, createMetricsServer } from '../src/http/server.js';
import { answerAtEndOfTurn } from '../src/http/routes/falco.js';
import { sendJson } from '../src/http/respond.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics, type Metrics } from '../src/observability/metrics.js';
import { eventsDir } from './builders.js';


function config(env: Record<string, string> = {}): Config {
  const r = loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_BODYLIMIT: '16KiB', ...env } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function request(port: number, agent: http.Agent, method: string, path: string, body?: Buffer | string, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Harness {
  readonly port: number;
  readonly metrics: Metrics;
  readonly accepted: FalcoEvent[];
  readonly agent: http.Agent;
  post(body: Buffer | string, headers?: http.OutgoingHttpHeaders, path?: string): Promise<Reply>;
  get(path: string): Promise<Reply>;
  counter(result: string): Promise<number>;
  close(): Promise<void>;
}

interface HarnessOptions {
  readonly env?: Record<string, string>;
  readonly ingest?: (ev: FalcoEvent) => void;
  readonly ready?: () => { ready: boolean; reasons: string[] };
}

async function start(options: HarnessOptions = {}): Promise<Harness> {
  const metrics = createMetrics({ defaultMetrics: false });
  const accepted: FalcoEvent[] = [];
  const server = createServer({
    config: config(options.env),
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics,
    ingest: options.ingest ?? ((ev) => void accepted.push(ev)),
    isReady: options.ready ?? (() => ({ ready: true, reasons: [] })),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  return {
    port,
    metrics,
    accepted,
    agent,
    post: (body, headers = { 'content-type': 'application/json' }, path = '/') => request(port, agent, 'POST', path, body, headers),
    get: (path) => request(port, agent, 'GET', path),
    async counter(result) {
      const m = new RegExp(`^talon_events_received_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(await metrics.text());
      return m === null ? 0 : Number(m[1]);
    },
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const FIXTURES = eventsDir();
const SAMPLES = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();

describe('intake: sample alerts', () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(() => h.close());

  test('every sample is accepted and handed to ingest exactly once', async () => {
    const traceIds: string[] = [];
    for (const name of SAMPLES) {
      const r = await h.post(readFileSync(join(FIXTURES, name)));
      assert.equal(r.status, 202, `${name}: ${r.body}`);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/);
      const body = JSON.parse(r.body) as { status: string; traceId: string };
      assert.equal(body.status, 'accepted');
      assert.match(body.traceId, /^[0-9a-f]{32}$/, 'a W3C trace id');
      traceIds.push(body.traceId);
    }
    assert.deepEqual(h.accepted.map((e) => e.traceId), traceIds);
    assert.deepEqual(
      h.accepted.map((e) => e.rule),
      SAMPLES.map((name) => (JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as { rule: string }).rule),
    );
    const shell = h.accepted[SAMPLES.indexOf('terminal-shell-in-container.json')]!;
    assert.equal(shell.outputFields['evt.time'], 1685022245478445995n);
    assert.ok(Object.isFrozen(shell));
    assert.equal(await h.counter('accepted'), SAMPLES.length);
    assert.equal(await h.counter('rejected'), 0);
  });

  test('bad alerts are 400 with a message, counted, and never reach ingest', async () => {
    const before = h.accepted.length;
    const rejectedBefore = await h.counter('rejected');
    const cases: [string, string][] = [
      ['{}', 'missing required field "rule"'],
      ['not json', 'body is not valid JSON'],
      ['', 'body is empty'],
      ['{"rule":"R","priority":"loud"}', 'field "priority" must be one of'],
      ['{"rule":"R","output_fields":{"k8s":{"pod":"x"}}}', 'output_fields["k8s"]: nested objects are not allowed'],
    ];
    for (const [body, message] of cases) {
      const r = await h.post(body);
      assert.equal(r.status, 400, body);
      assert.ok((JSON.parse(r.body) as { error: string }).error.startsWith(message), r.body);
    }
    assert.equal(h.accepted.length, before);
    assert.equal(await h.counter('rejected'), rejectedBefore + cases.length);
  });
});

/** Verbatim from falco-talon's examples.txt. */
const TALON_CURL_EXAMPLES = [
  `curl -XPOST "http://localhost:2803/" -d'{"output":"Test","priority":"Critical","Rule":"Test Terminate","time":"2019-05-17T15:31:56.746609046Z", "output_fields": {"k8s.pod.name":"test", "k8s.ns.name":"default"}}'`,
  `curl -XPOST "http://localhost:2803/" -d'{"output":"Test","priority":"Warning","Rule":"Test Label","time":"2019-05-17T15:31:56.746609046Z", "output_fields": {"k8s.pod.name":"test", "k8s.ns.name":"default"}}'`,
  `curl -XPOST "http://localhost:2803/" -d'{"output":"Test","priority":"Critical","Rule":"Test NetworkPolicy","time":"2019-05-17T15:31:56.746609046Z", "output_fields": {"k8s.pod.name":"static-web", "k8s.ns.name":"default", "fd.rip":"8.8.8.8", "fd.rport":"8888"}}'`,
  `curl -XPOST "http://localhost:2803/" -d'{"output":"Test","priority":"Warning","Rule":"Test Exec","time":"2019-05-17T15:31:56.746609046Z", "output_fields": {"k8s.pod.name":"static-web", "k8s.ns.name":"default"}}'`,
  `curl -XPOST "http://localhost:2803/" -d'{"output":"Test script","priority":"Warning","Rule":"Test Script","time":"2019-05-17T15:31:56.746609046Z", "output_fields": {"k8s.pod.name":"alpine", "k8s.ns.name":"default"}}'`,
  `curl -XPOST "http://localhost:2803/" -d'{"output":"Test invoke lambda","priority":"Warning","Rule":"Test invoke lambda","time":"2019-05-17T15:31:56.746609046Z", "output_fields": {"lambda_name":"abcd"}}'`,
];

describe("intake: Talon's curl examples, unchanged", () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(() => h.close());

  const examples = TALON_CURL_EXAMPLES.map((line) => {
    const m = /^curl -XPOST "([^"]+)" -d'(.*)'$/.exec(line);
    if (m === null) throw new Error(`unexpected example: ${line}`);
    return { url: m[1]!, body: m[2]! };
  });
  const expectedRules = examples.map((e) => (JSON.parse(e.body) as { Rule: string }).Rule);

  test('with the curl binary', { skip: !existsSync('/usr/bin/curl') && 'curl is not installed' }, async () => {
    const run = promisify(execFile);
    h.accepted.length = 0;
    for (const { url, body } of examples) {
      const local = url.replace('localhost:2803', `127.0.0.1:${h.port}`);
      const { stdout } = await run('curl', ['-XPOST', local, `-d${body}`, '-s', '-o', '/dev/null', '-w', '%{http_code}']);
      assert.equal(stdout, '202');
    }
    assert.deepEqual(h.accepted.map((e) => e.rule), expectedRules);
  });

  test('as curl sends them (form-urlencoded)', async () => {
    h.accepted.length = 0;
    for (const { body } of examples) {
      const r = await h.post(body, { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'curl/8.5.0', accept: '*/*' });
      assert.equal(r.status, 202, r.body);
    }
    assert.deepEqual(h.accepted.map((e) => e.rule), expectedRules);
    assert.equal(h.accepted[2]!.outputFields['fd.rport'], '8888');
    assert.equal(h.accepted[0]!.priority, 'Critical');
  });
});

describe('intake: limits, methods, encodings', () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(() => h.close());

  const big = (bytes: number): string => JSON.stringify({ rule: 'R', output: 'x'.repeat(bytes) });

  test('413 over the limit, declared or streamed; the connection survives', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const declared = await request(h.port, agent, 'POST', '/', big(20_000));
      assert.equal(declared.status, 413);
      assert.deepEqual(JSON.parse(declared.body), { error: 'body exceeds the limit of 16384 bytes' });
      const chunked = await request(h.port, agent, 'POST', '/', big(20_000), { 'transfer-encoding': 'chunked' });
      assert.equal(chunked.status, 413);
      const justUnder = await request(h.port, agent, 'POST', '/', big(16 * 1024 - 30));
      assert.equal(justUnder.status, 202, justUnder.body);
      assert.equal(Object.values(agent.freeSockets).flat().length + Object.values(agent.sockets).flat().length, 1);
      assert.equal(await h.counter('too_large'), 2);
    } finally {
      agent.destroy();
    }
  });

  test('a huge declared body is refused before it is sent, and the connection closed', async () => {
    const reply = await new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/', agent: false, headers: { 'content-length': 50_000_000 } });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection });
        req.destroy();
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.deepEqual(reply, { status: 413, connection: 'close' });
  });

  test('gzip and deflate bodies; a decompression bomb is 413; unknown encodings 415', async () => {
    const alert = readFileSync(join(FIXTURES, 'terminal-shell-in-container.json'));
    assert.equal((await h.post(gzipSync(alert), { 'content-encoding': 'gzip' })).status, 202);
    const { deflateSync } = await import('node:zlib');
    assert.equal((await h.post(deflateSync(alert), { 'content-encoding': 'deflate' })).status, 202);
    const bomb = gzipSync(Buffer.from(big(5_000_000)));
    assert.ok(bomb.length < 16 * 1024);
    assert.equal((await h.post(bomb, { 'content-encoding': 'gzip' })).status, 413);
    const notGzip = await h.post(alert, { 'content-encoding': 'gzip' });
    assert.equal(notGzip.status, 400);
    assert.match(notGzip.body, /not valid gzip data/);
    assert.equal((await h.post(alert, { 'content-encoding': 'br' })).status, 415);
  });

  test('405 for other methods on the ingest path; any path ingests', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const r = await request(h.port, h.agent, method, '/', method === 'GET' ? undefined : '{"rule":"R"}');
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'POST');
    }
    assert.equal((await h.post('{"rule":"R"}', {}, '/some/path?x=1')).status, 202);
  });

  test('Expect: 100-continue is answered before the body is sent', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/', headers: { expect: '100-continue', 'content-length': 12 } });
      req.on('continue', () => req.end('{"rule":"R"}'));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(status, 202);
  });
});

describe('intake: management endpoints', () => {
  test('healthz, readyz, metrics; management paths are not ingested', async () => {
    let state = { ready: false, reasons: ['informers not synced'] };
    const h = await start({ ready: () => state });
    try {
      const health = await h.get('/healthz');
      assert.deepEqual([health.status, JSON.parse(health.body)], [200, { status: 'ok' }]);
      const notReady = await h.get('/readyz');
      assert.deepEqual([notReady.status, JSON.parse(notReady.body)], [503, { status: 'not ready', reasons: ['informers not synced'] }]);
      state = { ready: true, reasons: [] };
      const ready = await h.get('/readyz?verbose');
      assert.deepEqual([ready.status, JSON.parse(ready.body)], [200, { status: 'ready' }]);
      assert.equal((await h.post('{"rule":"R"}', {}, '/healthz')).status, 405);
      const metrics = await h.get('/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers['content-type'] ?? '', /^text\/plain/);
      assert.match(metrics.body, /^# TYPE talon_events_received_total counter$/m);
      assert.equal(h.accepted.length, 0);
    } finally {
      await h.close();
    }
  });

  test('a throwing readiness check is 503', async () => {
    const h = await start({
      ready: () => {
        throw new Error('boom');
      },
    });
    try {
      const r = await h.get('/readyz');
      assert.deepEqual([r.status, JSON.parse(r.body)], [503, { status: 'not ready', reasons: ['readiness check failed: boom'] }]);
    } finally {
      await h.close();
    }
  });

  test('metrics on their own port', async () => {
    const h = await start({ env: { TALON_METRICS_PORT: '9999' } });
    const metricsServer = createMetricsServer({ logger: createLogger({ level: 'error', format: 'json', silent: true }), metrics: h.metrics });
    await new Promise<void>((resolve) => metricsServer.listen(0, '127.0.0.1', resolve));
    try {
      assert.equal((await h.post('{"rule":"R"}')).status, 202);
      assert.equal((await h.get('/metrics')).status, 404);
      const port = (metricsServer.address() as AddressInfo).port;
      const r = await request(port, h.agent, 'GET', '/metrics');
      assert.equal(r.status, 200);
      assert.match(r.body, /^talon_events_received_total\{result="accepted"\} 1$/m);
      assert.equal((await request(port, h.agent, 'POST', '/', '{"rule":"R"}')).status, 404);
    } finally {
      metricsServer.closeAllConnections();
      metricsServer.close();
      await h.close();
    }
  });
});

describe('intake: ingest failures', () => {
  test('a throwing ingest answers 500, is counted, and the server keeps serving', async () => {
    let fail = true;
    const seen: string[] = [];
    const h = await start({
      ingest: (ev) => {
        if (fail) throw new Error('queue exploded');
        seen.push(ev.rule);
      },
    });
    try {
      const r = await h.post('{"rule":"A"}');
      assert.equal(r.status, 500);
      assert.match(r.body, /not queued/);
      assert.equal(await h.counter('error'), 1);
      fail = false;
      assert.equal((await h.post('{"rule":"B"}')).status, 202);
      assert.deepEqual(seen, ['B']);
    } finally {
      await h.close();
    }
  });
});

describe('intake: the 202s of one event-loop turn are written together', () => {
  /** A stand-in for a ServerResponse that records what was written. */
  function response(name: string, written: string[], fail = false) {
    const res = {
      headersSent: false,
      destroyed: false,
      writeHead(status: number) {
        if (fail) throw new Error('socket gone');
        written.push(`${name} ${status}`);
      },
      end() {
        res.headersSent = true;
      },
    };
    return res as unknown as ServerResponse;
  }

  test('nothing is written during the turn; then the turn is settled once and every answer written, in order; one that throws costs the others nothing', async () => {
    const written: string[] = [];
    const errors: string[] = [];
    let settled = 0;
    const answer = answerAtEndOfTurn(
      () => {
        settled++;
        return (res) => sendJson(res, 202, '{}');
      },
      (err) => errors.push(err.message),
    );
    answer(response('a', written), 't1');
    answer(response('b', written, true), 't2');
    answer(response('c', written), 't3');
    assert.deepEqual(written, []);
    assert.equal(settled, 0);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(written, ['a 202', 'c 202']);
    assert.deepEqual(errors, ['socket gone']);
    assert.equal(settled, 1, 'one settle (the journal commit) for the whole turn');
    answer(response('d', written), 't4');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(written, ['a 202', 'c 202', 'd 202']);
    assert.equal(settled, 2);
  });

  test('a settle that throws answers every alert of the turn 500', async () => {
    const written: string[] = [];
    const errors: string[] = [];
    const answer = answerAtEndOfTurn(
      () => {
        throw new Error('commit exploded');
      },
      (err) => errors.push(err.message),
    );
    answer(response('a', written), 't1');
    answer(response('b', written), 't2');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(written, ['a 500', 'b 500']);
    assert.deepEqual(errors, ['commit exploded']);
  });

  test('alerts pipelined on one connection, and alerts on many at once, each get their own 202 in order', async () => {
    const h = await start();
    try {
      const alert = (i: number) => JSON.stringify({ rule: `R${i}`, output: `n=${i}`, priority: 'Warning', time: '2024-03-05T10:11:12.345Z' });
      // Five requests in one write: the server reads them in one turn.
      const answers = await new Promise<string>((resolve, reject) => {
        const socket = connect(h.port, '127.0.0.1');
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString();
          if ((text.match(/HTTP\/1\.1 /g) ?? []).length === 5) {
            socket.end();
            resolve(text);
          }
        });
        socket.on('error', reject);
        socket.write(
          Array.from({ length: 5 }, (_, i) => `POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(alert(i))}\r\n\r\n${alert(i)}`)
            .join(''),
        );
      });
      assert.deepEqual(answers.match(/HTTP\/1\.1 \d+/g), Array(5).fill('HTTP/1.1 202'));
      assert.deepEqual(h.accepted.map((e) => e.rule), ['R0', 'R1', 'R2', 'R3', 'R4']);
      const ids = [...answers.matchAll(/"traceId":"([0-9a-f]+)"/g)].map((m) => m[1]);
      assert.deepEqual(ids, h.accepted.map((e) => e.traceId), 'each answer carries its own alert’s trace id, in order');
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => h.post(alert(100 + i))));
      assert.deepEqual(many.map((r) => r.status), Array(20).fill(202));
      assert.equal(new Set(many.map((r) => JSON.parse(r.body).traceId)).size, 20);
      assert.equal(await h.counter('accepted'), 25);
    } finally {
      await h.close();
    }
  });
});
