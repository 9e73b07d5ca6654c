/**
 * Webhook intake throughput and latency.
 *
 *   npm run build && node dist/bench/intake.bench.js
 *
 * One run measures (keep-alive, 20 connections, 10 s each after a 2 s warm-up; autocannon
 * for a–c), POSTing operator/test/fixtures/events/terminal-shell-in-container.json:
 *   (a) a bare node:http server that reads the body, JSON.parse's it and answers 202;
 *   (b) the operator's createServer, whose ingest does what production does cheaply;
 *   (c) (b) again at half of its measured rate (autocannon overallRate), for latency when not saturated;
 *   (d) the same rate evenly paced (open loop), since autocannon's rate limit is bursty.
 * Each server runs in a child process so the load generator does not share its event loop.
 * Also prints parseAlert's cost per alert against JSON.parse.
 *
 * Environment:
 *   INTAKE_BENCH_SECONDS  seconds per measured run (default 10)
 *   INTAKE_BENCH_INGEST   path of an ES module exporting `createIngest(): (ev: FalcoEvent) => void`
 *                         to replace (b)'s ingest (e.g. dedup + RuleIndex matching + queueing).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { createHistogram, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../operator/src/config/load.js';
import type { FalcoEvent } from '../operator/src/falco/event.js';
import { parseAlert } from '../operator/src/falco/parse.js';
import { createServer } from '../operator/src/http/server.js';
import { createLogger } from '../operator/src/observability/logger.js';
import { createMetrics } from '../operator/src/observability/metrics.js';

/** What a custom ingest module exports (INTAKE_BENCH_INGEST). */
export type IngestFactory = () => (ev: FalcoEvent) => void;

const CONNECTIONS = 20;
const WARMUP_SECONDS = 2;
const SECONDS = Number(process.env.INTAKE_BENCH_SECONDS ?? 10);
const SAMPLE = join('operator', 'test', 'fixtures', 'events', 'terminal-shell-in-container.json');

// ---------------------------------------------------------------------------------------
// autocannon (untyped): the part of its programmatic API used here

interface AutocannonOptions {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: Buffer;
  connections: number;
  duration: number;
  overallRate?: number;
}
/** The part of autocannon's result the benches read (operator.bench.ts too). */
export interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  resets: number;
  duration: number;
  /** Answers by status code (autocannon's own runs; absent from the paced generator's). */
  statusCodeStats?: Record<string, { count: number }>;
}
interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void): void;
}
type Autocannon = (opts: AutocannonOptions, done: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

// ---------------------------------------------------------------------------------------
// servers (child side)

type ServerKind = 'bare' | 'talon';

interface ChildStats {
  readonly ingested: number;
  readonly cpuMicros: number;
}

/** Production-like cheap ingest: queue the event; a drain on the next turn takes it off. */
function queueingIngest(): { ingest: (ev: FalcoEvent) => void; count: () => number } {
  let pending: FalcoEvent[] = [];
  let drained = 0;
  let scheduled = false;
  const drain = (): void => {
    scheduled = false;
    drained += pending.length;
    pending = [];
  };
  return {
    ingest(ev) {
      pending.push(ev);
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    },
    count: () => drained + pending.length,
  };
}

function bareServer(): { server: http.Server; count: () => number } {
  let parsed = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
        parsed++;
        res.writeHead(202, { 'content-type': 'application/json', 'content-length': '21' });
        res.end('{"status":"accepted"}');
      } catch {
        res.writeHead(400);
        res.end();
      }
    });
  });
  server.keepAliveTimeout = 125_000;
  return { server, count: () => parsed };
}

async function talonServer(): Promise<{ server: http.Server; count: () => number }> {
  const r = loadConfig({ env: { TALON_AUTH_MODE: 'none' } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  let ingest: (ev: FalcoEvent) => void;
  let count: () => number;
  const custom = process.env.INTAKE_BENCH_INGEST;
  if (custom !== undefined && custom !== '') {
    const mod = (await import(pathToFileURL(resolve(custom)).href)) as { createIngest: IngestFactory };
    let n = 0;
    const inner = mod.createIngest();
    ingest = (ev) => {
      n++;
      inner(ev);
    };
    count = () => n;
  } else {
    ({ ingest, count } = queueingIngest());
  }
  const server = createServer({
    config: r.config,
    logger: createLogger({ level: r.config.logLevel, format: 'json' }),
    metrics: createMetrics(),
    ingest,
    isReady: () => ({ ready: true, reasons: [] }),
  }) as http.Server;
  return { server, count };
}

async function serve(kind: ServerKind): Promise<void> {
  const { server, count } = kind === 'bare' ? bareServer() : await talonServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  let cpuStart = process.cpuUsage();
  let countStart = count();
  process.on('message', (msg: string) => {
    if (msg === 'reset') {
      cpuStart = process.cpuUsage();
      countStart = count();
      process.send?.({ reset: true });
    } else if (msg === 'stats') {
      const cpu = process.cpuUsage(cpuStart);
      const stats: ChildStats = { ingested: count() - countStart, cpuMicros: cpu.user + cpu.system };
      process.send?.({ stats });
    } else if (msg === 'stop') {
      server.closeAllConnections();
      server.close(() => process.exit(0));
    }
  });
  process.send?.({ port: (server.address() as AddressInfo).port });
}

// ---------------------------------------------------------------------------------------
// load generator (parent side)

interface Child {
  readonly port: number;
  ask<T>(msg: string, key: string): Promise<T>;
  stop(): Promise<void>;
}

async function spawn(kind: ServerKind): Promise<Child> {
  const proc: ChildProcess = fork(fileURLToPath(import.meta.url), ['--serve', kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (key: string) =>
    new Promise<Record<string, unknown>>((done, fail) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (key in m) {
          proc.off('message', onMessage);
          done(m);
        }
      };
      proc.on('message', onMessage);
      proc.once('exit', (code) => fail(new Error(`${kind} server exited with ${code}`)));
    });
  const { port } = (await next('port')) as { port: number };
  return {
    port,
    async ask<T>(msg: string, key: string) {
      const reply = next(key);
      proc.send(msg);
      return (await reply)[key] as T;
    },
    stop: () =>
      new Promise<void>((done) => {
        proc.once('exit', () => done());
        proc.send('stop');
      }),
  };
}

interface LoadResult {
  readonly result: AutocannonResult;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly note: string;
}

interface Measurement {
  readonly reqPerSec: number;
  readonly total: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** autocannon's own p99 (whole ms, coordinated-omission corrected) or the paced generator's send lag p99. */
  readonly note: string;
  readonly failures: number;
  readonly cpuMicrosPerRequest: number;
}

function load(port: number, body: Buffer, seconds: number, overallRate?: number): Promise<LoadResult> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const histogram = createHistogram();
  return new Promise((done, fail) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}/`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections: CONNECTIONS,
        duration: seconds,
        ...(overallRate === undefined ? {} : { overallRate }),
      },
      (err, result) => {
        if (err) fail(err);
        else done({ result, p50Ms: histogram.percentile(50) / 1e6, p99Ms: histogram.percentile(99) / 1e6, note: `autocannon p99 ${result.latency.p99} ms` });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status === 202) histogram.record(Math.max(1, Math.round(ms * 1e6)));
    });
  });
}

/**
 * Open-loop load at an even pace (autocannon's rate limit sends each connection's per-second
 * quota back to back, so its "half rate" is half-second bursts at full speed). Raw keep-alive
 * sockets, one request in flight each; every millisecond the requests due by then are queued
 * and sent as sockets free up. Latency runs from the write, as autocannon's does; how late
 * requests left (generator lag plus queueing) is reported apart.
 */
function pacedLoad(port: number, body: Buffer, seconds: number, rate: number): Promise<LoadResult> {
  const request = Buffer.concat([
    Buffer.from(`POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`),
    body,
  ]);
  const histogram = createHistogram();
  const lateness = createHistogram();
  const due: number[] = [];
  const idle: Socket[] = [];
  let scheduled = 0;
  let answered = 0;
  let failed = 0;
  const start = performance.now();

  const send = (socket: Socket): void => {
    const dueAt = due.shift();
    if (dueAt === undefined) {
      idle.push(socket);
      return;
    }
    const sentAt = performance.now();
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const headerEnd = buffered.indexOf('\r\n\r\n');
      if (headerEnd === -1) return;
      const head = buffered.subarray(0, headerEnd).toString('latin1');
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < headerEnd + 4 + length) return;
      socket.off('data', onData);
      lateness.record(Math.max(1, Math.round((sentAt - dueAt) * 1e6)));
      if (head.startsWith('HTTP/1.1 202')) histogram.record(Math.max(1, Math.round((performance.now() - sentAt) * 1e6)));
      else failed++;
      answered++;
      send(socket);
    };
    socket.on('data', onData);
    socket.write(request);
  };

  return new Promise((resolve, reject) => {
    let open = 0;
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = connect(port, '127.0.0.1', () => {
        socket.setNoDelay(true);
        idle.push(socket);
        if (++open === CONNECTIONS) tick();
      });
      socket.on('error', reject);
    }
    const timer = setInterval(() => tick(), 1);
    const tick = (): void => {
      const elapsed = performance.now() - start;
      const target = Math.floor((Math.min(elapsed, seconds * 1000) * rate) / 1000);
      for (; scheduled < target; scheduled++) due.push(start + (scheduled * 1000) / rate);
      while (due.length > 0 && idle.length > 0) send(idle.pop()!);
      if (elapsed >= seconds * 1000 && answered === scheduled) {
        clearInterval(timer);
        for (const s of idle) s.destroy();
        const result = {
          requests: { average: answered / seconds, total: answered },
          latency: { p50: NaN, p99: NaN },
          non2xx: failed,
          errors: 0,
          timeouts: 0,
          resets: 0,
          duration: seconds,
        };
        const lagMs = lateness.percentile(99) / 1e6;
        resolve({ result, p50Ms: histogram.percentile(50) / 1e6, p99Ms: histogram.percentile(99) / 1e6, note: `send lag p99 ${fmt(lagMs, 1)} ms` });
      }
    };
  });
}

type Pacing = { kind: 'closed' } | { kind: 'autocannon-rate'; rate: number } | { kind: 'even'; rate: number };

async function measure(server: ServerKind, body: Buffer, pacing: Pacing = { kind: 'closed' }): Promise<Measurement> {
  const run = (seconds: number) =>
    pacing.kind === 'even' ? pacedLoad(child.port, body, seconds, pacing.rate) : load(child.port, body, seconds, pacing.kind === 'closed' ? undefined : pacing.rate);
  const child = await spawn(server);
  try {
    await run(WARMUP_SECONDS);
    await child.ask('reset', 'reset');
    const { result, p50Ms, p99Ms, note } = await run(SECONDS);
    const stats = await child.ask<ChildStats>('stats', 'stats');
    const failures = result.non2xx + result.errors + result.timeouts + result.resets;
    if (stats.ingested < result.requests.total - failures) {
      throw new Error(`${server}: ${result.requests.total} requests answered but only ${stats.ingested} ingested`);
    }
    return {
      reqPerSec: result.requests.total / result.duration,
      total: result.requests.total,
      p50Ms,
      p99Ms,
      note,
      failures,
      cpuMicrosPerRequest: stats.cpuMicros / Math.max(1, stats.ingested),
    };
  } finally {
    await child.stop();
  }
}

/** Best (lowest) µs per call over several rounds; robust to a noisy machine. */
function microsPerCall(fn: () => unknown): number {
  const n = 20_000;
  for (let i = 0; i < n; i++) fn();
  let best = Infinity;
  for (let round = 0; round < 10; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n / 1000);
  }
  return best;
}

function findSample(): string {
  for (const start of [process.cwd(), dirname(fileURLToPath(import.meta.url))]) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (existsSync(join(dir, SAMPLE))) return join(dir, SAMPLE);
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error(`cannot find ${SAMPLE}: run from the repository root`);
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const body = readFileSync(findSample());
  const ctx = { receivedAt: 0, traceId: 'bench' };
  const jsonUs = microsPerCall(() => JSON.parse(body.toString('utf8')));
  const parseUs = microsPerCall(() => parseAlert(body, ctx));

  console.log(`intake bench: ${SAMPLE} (${body.length} B), ${CONNECTIONS} connections, keep-alive, ${SECONDS} s per run after ${WARMUP_SECONDS} s warm-up`);
  console.log(`node ${process.version}, ${process.env.INTAKE_BENCH_INGEST ? `ingest from ${process.env.INTAKE_BENCH_INGEST}` : 'ingest = queue + drain on next turn'}\n`);
  console.log(`parse, µs per alert (best of 10 rounds): JSON.parse ${fmt(jsonUs, 2)}  parseAlert ${fmt(parseUs, 2)}  (${fmt(parseUs / jsonUs, 2)}×)\n`);

  const bare = await measure('bare', body);
  const talon = await measure('talon', body);
  const halfRate = Math.floor(talon.reqPerSec / 2);
  const paced = await measure('talon', body, { kind: 'autocannon-rate', rate: halfRate });
  const even = await measure('talon', body, { kind: 'even', rate: halfRate });

  const rows: [string, Measurement][] = [
    ['(a) bare node:http + JSON.parse', bare],
    ['(b) talon createServer', talon],
    [`(c) talon, autocannon overallRate ${fmt(halfRate)} (½ of b)`, paced],
    [`(d) talon, evenly paced ${fmt(halfRate)} req/s`, even],
  ];
  console.log('| run | req/s | p50 ms | p99 ms | server CPU µs/req | non-2xx+errors | note |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const [name, m] of rows) {
    console.log(`| ${name} | ${fmt(m.reqPerSec)} | ${fmt(m.p50Ms, 3)} | ${fmt(m.p99Ms, 3)} | ${fmt(m.cpuMicrosPerRequest, 1)} | ${m.failures} | ${m.note} |`);
  }
  console.log('\np50/p99: per-response times from the write to the full answer, µs resolution.');
  console.log(`\nthroughput ratio (b)/(a): ${fmt(talon.reqPerSec / bare.reqPerSec, 2)}; server CPU per request (b)/(a): ${fmt(talon.cpuMicrosPerRequest / bare.cpuMicrosPerRequest, 2)}`);
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt !== -1) {
  await serve(process.argv[serveAt + 1] === 'bare' ? 'bare' : 'talon');
} else {
  await main();
}
