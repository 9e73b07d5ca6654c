/**
 * What the journal costs and how fast it recovers (issue 12).
 *
 *   npm run build && node dist/bench/journal.bench.js
 *
 * (a) Intake throughput, same run, one child process per mode: the operator's createServer
 *     whose ingest stages the alert in the Ledger and commits once per turn, as the operator
 *     does (the journal's group commit) — journal off (memory accounting only),
 *     or on with fsync never / interval (1 s, the default) / always — and finishes it at the
 *     next turn of the event loop (an `A` and a `D` record per alert, as for an alert that
 *     matched nothing). autocannon, keep-alive, 20 connections, POSTing the Falco sample
 *     alert. The modes are interleaved — JOURNAL_BENCH_ROUNDS rounds (default 4) of
 *     JOURNAL_BENCH_SECONDS (default 3) per mode, after a 2 s warm-up each — so a change in
 *     the machine's load hits every mode alike; the server's CPU time per request is printed
 *     too, being less sensitive to that load than throughput.
 * (b) The fsync cost alone: appends of one accepted-alert record with and without fdatasync.
 * (c) Recovery: Journal.open (read, check, replay) of a journal holding N accepted alerts, a
 *     tenth of them unfinished.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../operator/src/config/load.js';
import { Deduplicator } from '../operator/src/dispatch/dedup.js';
import type { FalcoEvent } from '../operator/src/falco/event.js';
import { createServer } from '../operator/src/http/server.js';
import { Journal } from '../operator/src/journal/journal.js';
import { Ledger } from '../operator/src/journal/ledger.js';
import { SegmentStore } from '../operator/src/journal/segments.js';
import { createLogger } from '../operator/src/observability/logger.js';
import { createMetrics } from '../operator/src/observability/metrics.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const SAMPLE = readFileSync(join(root, 'operator', 'test', 'fixtures', 'events', 'terminal-shell-in-container.json'));
const SECONDS = Number(process.env.JOURNAL_BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.JOURNAL_BENCH_ROUNDS ?? 4);
const MODES = ['off', 'never', 'interval', 'always'] as const;
type Mode = (typeof MODES)[number];

interface AutocannonResult {
  readonly requests: { readonly average: number; readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly non2xx: number;
  readonly errors: number;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, r: AutocannonResult) => void) => unknown;

/** Child side: one webhook server for `mode`; prints its port on the IPC channel. */
async function serve(mode: Mode): Promise<void> {
  const loaded = loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_LOGLEVEL: 'error' } });
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  const dir = mkdtempSync(join(tmpdir(), 'talon-journal-bench-'));
  const journal = mode === 'off' ? undefined : Journal.open({ dir, fsync: mode, fsyncIntervalMs: 1000, keyWindowMs: 10_000 }).journal;
  const ledger = new Ledger({ ...(journal ? { journal } : {}), maxBytes: 32 << 20, maxHeldBytes: 8 << 20 });
  ledger.setIndexLoaded();
  const dedup = new Deduplicator(10_000);
  let staged: FalcoEvent[] = [];
  const server = createServer({
    config: loaded.config,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics: createMetrics({ defaultMetrics: false }),
    // As the operator: each alert staged, one commit (one write) per event-loop turn before the 202s.
    ingest: (ev, body) => {
      const refusal = ledger.stage(ev, dedup.keyOf(ev), body);
      if (refusal === undefined) staged.push(ev);
      return refusal;
    },
    commit: () => {
      const batch = staged;
      staged = [];
      const refusal = ledger.commit();
      if (refusal === undefined) setImmediate(() => batch.forEach((ev) => ledger.settled(ev)));
      return refusal;
    },
    isReady: () => ({ ready: true, reasons: [] }),
  }) as http.Server;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let served = 0;
  server.on('request', () => served++);
  process.on('message', (m: string) => {
    if (m === 'stats') {
      const cpu = process.cpuUsage();
      process.send?.({ stats: { served, cpuMicros: cpu.user + cpu.system } });
      return;
    }
    if (m !== 'stop') return;
    server.closeAllConnections();
    server.close(() => {
      journal?.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
  process.send?.({ port: (server.address() as AddressInfo).port });
}

function load(port: number, seconds: number): Promise<AutocannonResult> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  return new Promise((res, rej) => {
    autocannon({ url: `http://127.0.0.1:${port}/`, method: 'POST', body: SAMPLE, headers: { 'content-type': 'application/json' }, connections: 20, duration: seconds }, (err, r) => (err ? rej(err) : res(r)));
  });
}

interface Stats {
  readonly served: number;
  readonly cpuMicros: number;
}

interface Server {
  readonly port: number;
  stats(): Promise<Stats>;
  stop(): Promise<void>;
}

async function server(mode: Mode): Promise<Server> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((r) => child.once('message', (m: { port: number }) => r(m.port)));
  return {
    port,
    stats: () =>
      new Promise<Stats>((r) => {
        const on = (m: { stats?: Stats }) => {
          if (m.stats === undefined) return;
          child.off('message', on);
          r(m.stats);
        };
        child.on('message', on);
        child.send('stats');
      }),
    stop: () =>
      new Promise<void>((done) => {
        child.once('exit', () => done());
        child.send('stop');
      }),
  };
}

interface Totals {
  requests: number;
  seconds: number;
  cpuMicros: number;
  p99: number[];
  failures: number;
}

function fsyncCost(): { readonly plainUs: number; readonly syncedUs: number } {
  const record = { type: 'A' as const, header: { id: 1, tr: 'bench', t: Date.now(), k: 'key' }, body: SAMPLE };
  const time = (fsync: 'never' | 'always', n: number): number => {
    const dir = mkdtempSync(join(tmpdir(), 'talon-fsync-bench-'));
    const { store } = SegmentStore.open({ dir, fsync, segmentBytes: 1 << 30 });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) store.append([record]);
    const us = ((performance.now() - t0) * 1000) / n;
    store.close();
    rmSync(dir, { recursive: true, force: true });
    return us;
  };
  return { plainUs: time('never', 20_000), syncedUs: time('always', 2_000) };
}

function recovery(n: number): { readonly ms: number; readonly unfinished: number; readonly records: number } {
  const dir = mkdtempSync(join(tmpdir(), 'talon-replay-bench-'));
  const { journal } = Journal.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000 });
  for (let i = 0; i < n; i++) {
    const id = journal.accept({ traceId: `t${i}`, key: `k${i}`, body: SAMPLE });
    if (i % 10 !== 0) journal.done(id);
  }
  journal.close();
  const t0 = performance.now();
  const opened = Journal.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000 });
  const ms = performance.now() - t0;
  opened.journal.close();
  rmSync(dir, { recursive: true, force: true });
  return { ms, unfinished: opened.pending.length, records: opened.records };
}

async function main(): Promise<void> {
  const modeArg = process.argv.indexOf('--serve');
  if (modeArg !== -1) return serve(process.argv[modeArg + 1] as Mode);
  console.log(`journal bench: ${SAMPLE.length}-byte alert, ${SECONDS} s per mode, 20 connections`);
  const servers = new Map<Mode, Server>();
  const totals = new Map<Mode, Totals>();
  for (const mode of MODES) {
    const s = await server(mode);
    servers.set(mode, s);
    totals.set(mode, { requests: 0, seconds: 0, cpuMicros: 0, p99: [], failures: 0 });
    await load(s.port, 2);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of MODES) {
      const s = servers.get(mode)!;
      const t = totals.get(mode)!;
      const before = await s.stats();
      const r = await load(s.port, SECONDS);
      const after = await s.stats();
      t.requests += after.served - before.served;
      t.cpuMicros += after.cpuMicros - before.cpuMicros;
      t.seconds += SECONDS;
      t.p99.push(r.latency.p99);
      t.failures += r.non2xx + r.errors;
    }
  }
  for (const s of servers.values()) await s.stop();
  const rate = (m: Mode): number => totals.get(m)!.requests / totals.get(m)!.seconds;
  for (const mode of MODES) {
    const t = totals.get(mode)!;
    console.log(
      `(a) journal ${mode.padEnd(8)} ${Math.round(rate(mode)).toString().padStart(6)} req/s  ${(t.cpuMicros / t.requests).toFixed(0).padStart(4)} µs CPU/request  p99 per round ${t.p99.join('/')} ms  failures ${t.failures}`,
    );
  }
  const cpuOff = totals.get('off')!.cpuMicros / totals.get('off')!.requests;
  for (const mode of MODES.slice(1)) {
    const t = totals.get(mode)!;
    console.log(`(a) journal ${mode}: ${((rate(mode) / rate('off')) * 100).toFixed(0)}% of the throughput without journal; CPU per request ×${(t.cpuMicros / t.requests / cpuOff).toFixed(2)}`);
  }
  const f = fsyncCost();
  console.log(`(b) append of one ${SAMPLE.length}-byte record: ${f.plainUs.toFixed(1)} µs without fdatasync, ${f.syncedUs.toFixed(1)} µs with (fsync cost ${(f.syncedUs - f.plainUs).toFixed(1)} µs per alert)`);
  for (const n of [10_000, 100_000]) {
    const r = recovery(n);
    console.log(`(c) replay of ${n} accepted alerts (${r.records} records, ${r.unfinished} unfinished): ${r.ms.toFixed(0)} ms`);
  }
}

await main();
