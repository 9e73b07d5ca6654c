/**
 * The webhook under 100,000 hostile requests (issue 14): the corpus of
 * operator/test/fuzz-corpus.ts (random bytes and JSON, mutated and truncated real alerts, deep
 * nesting, huge numbers, invalid UTF-8, bad gzip, prototype keys, giant field names, bodies
 * around the limit), wrong tokens, slow bodies and idle sockets, against the real server in a
 * child process with the production ingest (1,000 compiled rules, dry-run dispatch) and the
 * default limits (1 MiB body, token auth, 1,024 connections, 10 s idle deadline).
 *
 *   npm run build && node dist/bench/fuzz.bench.js
 *
 * Prints: requests by answer, answers that disagree with the parser (202 for an invalid
 * alert or a 4xx for a valid one), 5xx and resets, slow bodies answered, idle sockets closed
 * by the server, the server's RSS before and after (after a GC, both), and whether it is
 * still up and healthy.
 *
 * Environment: FUZZ_BENCH_REQUESTS (default 100000), FUZZ_BENCH_SEED (default 14).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { loadConfig } from '../operator/src/config/load.js';
import { createServer } from '../operator/src/http/server.js';
import { createLogger } from '../operator/src/observability/logger.js';
import { createMetrics } from '../operator/src/observability/metrics.js';
import { expectedAnswer, idleSocket, PARTIAL_HEADERS, slowBody, upload, type Upload } from '../operator/test/fuzz-corpus.js';
import { createIngest } from './production-ingest.js';

const REQUESTS = Number(process.env.FUZZ_BENCH_REQUESTS ?? 100_000);
const SEED = Number(process.env.FUZZ_BENCH_SEED ?? 14);
const CONNECTIONS = 16;
const BATCH = 500;
const LIMIT = 1024 * 1024;
const TOKEN = 'fuzz-bench-token';
const SLOW_EVERY = 200;
const IDLE_SOCKETS = 600;

interface ServerStats {
  readonly rss: number;
  readonly heapUsed: number;
  readonly ingested: number;
  readonly prototypeClean: boolean;
}

// --- the server (child process) ------------------------------------------------------------

async function serve(tokenFile: string): Promise<void> {
  const cfg = loadConfig({ env: { TALON_AUTH_MODE: 'token', TALON_AUTH_TOKENFILE: tokenFile } });
  if (!cfg.ok) throw new Error(cfg.errors.join('\n'));
  const ingest = createIngest();
  let ingested = 0;
  const server = createServer({
    config: cfg.config,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics: createMetrics({ defaultMetrics: false }),
    ingest: (ev) => {
      ingested++;
      ingest(ev);
    },
    isReady: () => ({ ready: true, reasons: [] }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.on('message', (msg: string) => {
    if (msg !== 'stats') return;
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    const probe = {} as Record<string, unknown>;
    const stats: ServerStats = { rss: m.rss, heapUsed: m.heapUsed, ingested, prototypeClean: probe.rule === undefined && probe.polluted === undefined };
    process.send?.({ stats });
  });
  process.send?.({ port: (server.address() as AddressInfo).port });
}

// --- the load (parent) -------------------------------------------------------------------

function startServer(tokenFile: string): Promise<{ proc: ChildProcess; port: number }> {
  const proc = fork(fileURLToPath(import.meta.url), ['--serve', tokenFile], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', (m: { port: number }) => resolve({ proc, port: m.port }));
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function stats(proc: ChildProcess): Promise<ServerStats> {
  return new Promise((resolve) => {
    const on = (m: { stats?: ServerStats }): void => {
      if (m.stats === undefined) return;
      proc.off('message', on);
      resolve(m.stats);
    };
    proc.on('message', on);
    proc.send('stats');
  });
}

function post(port: number, agent: http.Agent, u: Upload, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(u.gzip ? { 'content-encoding': 'gzip' } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(-1));
      },
    );
    req.on('error', () => resolve(-1));
    req.end(u.body);
  });
}

const get = (port: number, path: string): Promise<number> =>
  new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(-1));
  });

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'talon-fuzz-bench-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, TOKEN);
  const { proc, port } = await startServer(tokenFile);
  let exited: number | null | undefined;
  proc.on('exit', (code) => (exited = code));
  const before = await stats(proc);

  const byStatus = new Map<number, number>();
  let disagreements = 0;
  let wrongToken = 0;
  const examples: string[] = [];
  let sent = 0;
  let bytes = 0;
  const started = performance.now();

  // Idle sockets and partial headers, all through the run: the server must close each.
  const idle = Promise.all(Array.from({ length: IDLE_SOCKETS }, (_, i) => idleSocket(port, PARTIAL_HEADERS[i % PARTIAL_HEADERS.length]!)));
  const slow: Promise<{ status: number }>[] = [];

  const agents = Array.from({ length: CONNECTIONS }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  let batchNo = 0;
  while (sent < REQUESTS) {
    const inputs = fc.sample(upload, { numRuns: Math.min(BATCH, REQUESTS - sent), seed: SEED + batchNo++ });
    let next = 0;
    await Promise.all(
      agents.map(async (agent, a) => {
        while (next < inputs.length) {
          const i = next++;
          const u = inputs[i]!;
          const n = sent + i;
          const bad = n % 50 === 7;
          const status = await post(port, agent, u, bad ? 'wrong-token' : TOKEN);
          bytes += u.body.length;
          byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
          const expected = bad ? 'unauthorized' : expectedAnswer(u, LIMIT);
          const ok =
            expected === 'unauthorized' ? status === 401 : expected === 'accepted' ? status === 202 : expected === 'too large' ? status === 413 : status >= 400 && status < 500;
          if (bad) wrongToken++;
          if (!ok) {
            disagreements++;
            if (examples.length < 5) examples.push(`#${n} agent ${a}: ${status} for ${expected} (${u.body.length} B${u.gzip ? ', gzip' : ''})`);
          }
          if (n % SLOW_EVERY === 0) slow.push(slowBody(port, 5, 20, `Authorization: Bearer ${TOKEN}\r\n`));
        }
      }),
    );
    sent += inputs.length;
    if (batchNo % 20 === 0) process.stderr.write(`  ${sent} requests, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  for (const agent of agents) agent.destroy();
  const slowResults = await Promise.all(slow);
  const idleResults = await idle;
  await new Promise((r) => setTimeout(r, 2000));
  const health = await get(port, '/healthz');
  const after = await stats(proc);

  const statuses = [...byStatus.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s === -1 ? 'reset' : s}: ${n}`);
  const fiveHundreds = [...byStatus.entries()].filter(([s]) => s >= 500).reduce((t, [, n]) => t + n, 0);
  console.log(`fuzz bench: ${sent} hostile requests (seed ${SEED}) in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)} req/s, ${mb(bytes)} MiB of bodies), ${CONNECTIONS} keep-alive connections`);
  console.log(`  answers: ${statuses.join(', ')}`);
  console.log(`  202 accepted (valid alerts): ${byStatus.get(202) ?? 0}; ingested by the server: ${after.ingested}`);
  console.log(`  wrong tokens sent: ${wrongToken}; answers disagreeing with the parser/limits: ${disagreements}${examples.length ? ` (${examples.join('; ')})` : ''}`);
  console.log(`  5xx: ${fiveHundreds}; resets: ${byStatus.get(-1) ?? 0}`);
  console.log(`  slow bodies: ${slowResults.length}, answered 202: ${slowResults.filter((r) => r.status === 202).length}`);
  console.log(`  idle sockets / partial headers: ${idleResults.length}, closed by the server: ${idleResults.filter((r) => r.closedByServer).length}`);
  console.log(`  server RSS before ${mb(before.rss)} MiB, after ${mb(after.rss)} MiB (Δ ${mb(after.rss - before.rss)} MiB); heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MiB`);
  console.log(`  server up: ${exited === undefined ? 'yes' : `no (exit ${exited})`}; /healthz ${health}; Object.prototype clean: ${after.prototypeClean}`);
  proc.kill();
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) await serve(process.argv[serveAt + 1]!);
else await main();
