/**
 * The console's cost on the intake path: the webhook's throughput with the console off and
 * on, in the same run, alternating (off, on, off, on) so machine load drifts hit both alike.
 *
 *   npm run build && node dist/bench/console-intake.bench.js
 *
 * Each round forks a server process holding the operator's real webhook (`createServer`, with
 * a counting ingest) and, for "on", the real console app (`createConsoleApp`) in a worker
 * thread as the operator runs it (bench/console-worker.ts: 1,000 outcome Events over 20
 * namespaces in memory instead of the Kubernetes reads; TokenReview/SubjectAccessReview by an
 * allow-all port), while two signed-in
 * users reload the timeline page (rendered HTML + chart data) every 500 ms. autocannon drives
 * the webhook: keep-alive, 20 connections, CONSOLE_BENCH_SECONDS (default 10) after a 2 s
 * warm-up, CONSOLE_BENCH_ROUNDS (default 3) rounds of off / on idle / on with users, posting operator/test/fixtures/events/terminal-shell-in-container.json.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../operator/src/config/load.js';
import { createServer } from '../operator/src/http/server.js';
import { createLogger } from '../operator/src/observability/logger.js';
import { createMetrics } from '../operator/src/observability/metrics.js';

const SECONDS = Number(process.env.CONSOLE_BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.CONSOLE_BENCH_ROUNDS ?? 3);
const BODY = readFileSync(join('operator', 'test', 'fixtures', 'events', 'terminal-shell-in-container.json'));

async function serve(withConsole: boolean): Promise<void> {
  const r = loadConfig({ env: { TALON_AUTH_MODE: 'none' } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  let ingested = 0;
  const server = createServer({
    config: r.config,
    logger: createLogger({ level: 'error', format: 'json' }),
    metrics: createMetrics(),
    ingest: () => void ingested++,
    isReady: () => ({ ready: true, reasons: [] }),
  }) as http.Server;
  server.keepAliveTimeout = 125_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  let consolePort = 0;
  if (withConsole) {
    // As in production (console/host.ts startConsoleWorker): the console in a worker thread.
    const worker = new Worker(new URL('./console-worker.js', import.meta.url));
    consolePort = await new Promise<number>((done) => worker.once('message', (m: { port: number }) => done(m.port)));
  }
  process.on('message', (msg: string) => {
    if (msg === 'stop') process.send?.({ ingested }, () => process.exit(0));
  });
  process.send?.({ port: (server.address() as AddressInfo).port, consolePort });
}

interface Autocannon {
  (opts: Record<string, unknown>, done: (err: Error | null, result: { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }) => void): unknown;
}

/** Two users reloading the timeline every 500 ms until `stop` (run in a process of its own: `--browse`). */
async function browse(port: number): Promise<{ stop: () => Promise<number> }> {
  const login = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=bench' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  let pages = 0;
  let running = true;
  const user = async (): Promise<void> => {
    while (running) {
      const r = await fetch(`http://127.0.0.1:${port}/timeline`, { headers: { cookie, accept: 'text/html' } });
      if (r.status !== 200) throw new Error(`timeline answered ${r.status}`);
      await r.text();
      pages++;
      await new Promise((done) => setTimeout(done, 500));
    }
  };
  const users = [user(), user()];
  return {
    stop: async () => {
      running = false;
      await Promise.all(users);
      return pages;
    },
  };
}

type Mode = 'off' | 'on, idle' | 'on, 2 users';

async function round(mode: Mode): Promise<{ reqPerSec: number; p50: number; p99: number; failures: number; pages: number }> {
  const withConsole = mode !== 'off';
  const proc = fork(fileURLToPath(import.meta.url), ['--serve', withConsole ? 'on' : 'off'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port, consolePort } = await new Promise<{ port: number; consolePort: number }>((done) => proc.once('message', (m) => done(m as { port: number; consolePort: number })));
  // The users browse from a process of their own, so the load generator's loop is not theirs.
  const browser = mode === 'on, 2 users' ? fork(fileURLToPath(import.meta.url), ['--browse', String(consolePort)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }) : undefined;
  if (browser) await new Promise((done) => browser.once('message', done));
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const run = (duration: number) =>
    new Promise<Parameters<Parameters<Autocannon>[1]>[1]>((done, fail) =>
      autocannon({ url: `http://127.0.0.1:${port}/`, method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY, connections: 20, duration }, (err, res) => (err ? fail(err) : done(res))),
    );
  await run(2);
  const res = await run(SECONDS);
  const pages = browser
    ? await new Promise<number>((done) => {
        browser.once('message', (m) => done((m as { pages: number }).pages));
        browser.send('stop');
      })
    : 0;
  await new Promise<void>((done) => {
    proc.once('exit', () => done());
    proc.send('stop');
  });
  return { reqPerSec: res.requests.average, p50: res.latency.p50, p99: res.latency.p99, failures: res.non2xx + res.errors, pages };
}

async function main(): Promise<void> {
  console.log(`node ${process.version}; webhook load: 20 connections, ${SECONDS} s per round after 2 s warm-up; console on = 2 users reloading /timeline (1,000 Events) every 500 ms\n`);
  console.log('| round | console | webhook req/s | p50 ms | p99 ms | non-2xx+errors | timeline pages served |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  const rates = new Map<Mode, number[]>();
  for (let i = 1; i <= ROUNDS; i++) {
    for (const mode of ['off', 'on, idle', 'on, 2 users'] as const) {
      const r = await round(mode);
      rates.set(mode, [...(rates.get(mode) ?? []), r.reqPerSec]);
      console.log(`| ${i} | ${mode} | ${Math.round(r.reqPerSec).toLocaleString('en-US')} | ${r.p50} | ${r.p99} | ${r.failures} | ${r.pages} |`);
    }
  }
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const spread = (xs: readonly number[]) => (Math.max(...xs) - Math.min(...xs)) / mean(xs);
  const off = rates.get('off')!;
  console.log(`\nround-to-round spread of 'off': ${(100 * spread(off)).toFixed(1)} %`);
  for (const mode of ['on, idle', 'on, 2 users'] as const) console.log(`ratio (${mode}) / off, mean req/s: ${(mean(rates.get(mode)!) / mean(off)).toFixed(3)}`);
}

const serveAt = process.argv.indexOf('--serve');
const browseAt = process.argv.indexOf('--browse');
if (serveAt !== -1) await serve(process.argv[serveAt + 1] === 'on');
else if (browseAt !== -1) {
  const b = await browse(Number(process.argv[browseAt + 1]));
  process.on('message', () => void b.stop().then((pages) => process.send?.({ pages }, () => process.exit(0))));
  process.send?.({ browsing: true });
} else await main();
