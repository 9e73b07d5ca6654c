/**
 * The operator as production runs it, beside a bare node:http server, in one command.
 *
 *   make cluster-up && make build && node dist/bench/operator.bench.js
 *
 * Needs the local control plane (like the e2e tests). The operator is the real process
 * (`node <the image's V8 flags> dist/operator/src/cli.js run`, no source maps, as the image
 * runs it), with its
 * crash-safe journal on (default fsync policy: every 1 s), `logLevel: info`, rules as custom
 * resources: 100 cluster TalonRules naming other Falco rules and one matching every alert,
 * in dry run (a label action). Each server runs in its own process; CPU and memory are read
 * from /proc/<pid> (utime + stime; VmRSS sampled every 100 ms, VmHWM).
 *
 *   1. intake, ROUNDS rounds, engines alternating, SECONDS each after a warm-up run
 *      (autocannon, keep-alive, 20 connections):
 *        distinct alerts   a counter in `output` and `evt.time`, the pod round-robin over
 *                          100 pods, so dedup absorbs none: each one matched and recorded
 *                          (DryRun outcome, Event, rule status, journal records, a log line);
 *        dedup path        the same alert repeated.
 *      The operator's CPU per request counts everything from the run's start until the
 *      accepted alerts are finished (journal `D` records written), not only the 202s.
 *   2. alert to effect: a label rule pair (alternating values) at 100 and at 300 alerts/s,
 *      round-robin over 100 pods (latency.bench.ts's phase: from just before the POST until
 *      a pod watch sees the label); CPU per label effect = operator CPU over the phase /
 *      alerts sent (each one changes the label); "missing" counts measured alerts whose effect
 *      never showed (seen + missing = measured; warm-up alerts are in neither); under the
 *      table, when each row's effects over 50 ms were sent (counted by the second of the row: a
 *      cause that recurs every few seconds shows as evenly spaced seconds, as the Event writes'
 *      did every 10 s, RESULTS.md §14), and that CPU split into the main
 *      thread's user and system time and its sleeps per alert, and the other threads'; the
 *      operator's CPU per second while it takes no alert (during the smallest effect's row); and
 *      V8's collections over its row (count, time, how many over 10 ms) and its Event API calls
 *      (creations, series updates). Before
 *      each rate, the control plane's floor: the bench PATCHes the same labels itself at that
 *      rate and times them the same way; then the smallest label effect node can do
 *      (effect-floor.ts: the same alerts parsed, answered 202, the same PATCH sent; nothing
 *      else), warmed, timed the same way, its CPU per effect the floor under the operator's.
 *      After the operator's row, the same alerts at the same rate for its dry-run rule: the
 *      alert's whole path (intake, journal, match, dispatch, a DryRun outcome with its Event
 *      and status) without the PATCH, its CPU per alert split the same way under the table;
 *      then the same in bursts of ten at the same mean rate (a lone alert's cost against the
 *      same work done a few at a time).
 *      Before the rates, the floors under the CPU per effect, each in its own warmed process at
 *      100 and 300/s: a lone request to the bare server, and a lone label PATCH sent with the
 *      operator's own client (patch-floor.ts).
 *      First, EFFECT_WARMUP seconds of label actions at EFFECT_WARMUP_RATE/s (default 300),
 *      printed as their own row: V8 compiles the hot functions during the first thousands of
 *      alerts (the optimizing compiler was 14 % of the operator's CPU in the first 20 s at
 *      100/s, 5 % after), and code fed one alert at a time tiers up slowly, so the measured rows
 *      are a warmed-up process, as a long-running operator is.
 *   3. storm: a fresh operator process, its RSS after SETTLE s idle, then STORM distinct alerts
 *      for STORM_TARGETS pods as fast as it takes them, drained, then RSS again after SETTLE s.
 *
 * Environment: OPERATOR_BENCH_SECONDS (per intake run, default 10), OPERATOR_BENCH_ROUNDS
 * (default 2), OPERATOR_BENCH_EFFECT_WARMUP (seconds of label actions before the effect
 * phase's measured rows, default 30; 0 for none), OPERATOR_BENCH_EFFECT_WARMUP_RATE (their rate, default 300/s), OPERATOR_BENCH_STORM (default 100000), OPERATOR_BENCH_STORM_TARGETS (10000), OPERATOR_BENCH_SETTLE (seconds, default 20),
 * OPERATOR_BENCH_CONFIG (JSON merged into the
 * operator's config, for experiments, e.g. '{"journal":{"fsync":"never"}}'), OPERATOR_BENCH_ONLY (comma list of intake,effect,storm; `distinct` or `dedup`
 * alone for one intake path, e.g. to profile it), OPERATOR_BENCH_NODE_ARGS (node
 * options for the operator process after the image's V8 flags (lib/node-flags.ts), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` — the profile is written when the operator exits at the
 * end of the bench — or `--max-semi-space-size=16 --heap-growing-percent=0` for V8's defaults), LATENCY_BENCH_SECONDS (per rate of
 * the effect phase, default 20 at 100/s; 10 at 300/s), OPERATOR_BENCH_PROFILE (a directory: instead
 * of the figures, profile the three paths, each in its own operator process under --cpu-prof,
 * and write their text summaries there, e.g. bench/profiles).
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually } from '../e2e/support/cluster.js';
import { OperatorProcess, installCRDs } from '../e2e/support/operator.js';
import { CLUSTER, Talon } from '../e2e/support/talon.js';
import { applyRuleLoaded, inline, metricSum, podAlert, watchPods } from '../e2e/support/alerts.js';
import { apiPath, MERGE_PATCH, RawClient } from '../operator/src/kube/raw.js';
import { KeepAliveKubeConfig, authSourceOf } from '../operator/src/kube/transport.js';
import { NODE_FLAGS, NODE_PROCESS_ENV } from '../operator/src/lib/node-flags.js';
import type { AutocannonResult } from './intake.bench.js';
import type { FloorAnswer, FloorRequest } from './patch-floor.js';
import type { EffectFloorRequest } from './effect-floor.js';
import { openLoop } from './pacing.js';
import { summarise } from './profile-summary.js';
import { connectControlPlane, createBenchPods, dryRunPhase, histogramQuantiles, labelPhase, LABEL, measured, measuredLeft, PODS, podName, quantile, SECONDS as LATENCY_SECONDS, slowBySecond } from './latency.bench.js';

const SECONDS = Number(process.env.OPERATOR_BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.OPERATOR_BENCH_ROUNDS ?? 2);
const STORM = Number(process.env.OPERATOR_BENCH_STORM ?? 100_000);
const STORM_TARGETS = Number(process.env.OPERATOR_BENCH_STORM_TARGETS ?? 10_000);
const ONLY = new Set((process.env.OPERATOR_BENCH_ONLY ?? 'intake,effect,storm').split(',').map((s) => s.trim()));
const PROFILE_DIR = process.env.OPERATOR_BENCH_PROFILE || undefined;
const SETTLE_SECONDS = Number(process.env.OPERATOR_BENCH_SETTLE ?? 20);
const NODE_ARGS = (process.env.OPERATOR_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const CONNECTIONS = 20;
const WARMUP_SECONDS = 2;
/** Label actions before the effect phase's measured rates (the label path's JIT warm-up): seconds, and their rate per second. */
const EFFECT_WARMUP_SECONDS = Number(process.env.OPERATOR_BENCH_EFFECT_WARMUP ?? 30);
const EFFECT_WARMUP_RATE = Number(process.env.OPERATOR_BENCH_EFFECT_WARMUP_RATE ?? 300);
/** The label rules of the effect phase: TalonRule, the Falco rule it matches, the label value its effect sets. */
const LABEL_RULES: readonly (readonly [name: string, rule: string, value: string])[] = [
  ['bench-label-a', 'Bench label A', 'a'],
  ['bench-label-b', 'Bench label B', 'b'],
];
const RULE_PAIR = [LABEL_RULES[0]![1], LABEL_RULES[1]![1]] as const;
/** Seconds of label effects at EFFECT_WARMUP_RATE that warm the smallest effect before its rows (not printed). */
const FLOOR_WARMUP_SECONDS = 20;
/** The dry-run rows' second pass sends its alerts this many at a time, at the same mean rate. */
const DRY_RUN_BURST = 10;
/** An effect slower than this (the p99 target at 100/s) is counted in the row's slow-effects timeline. */
const SLOW_MS = 50;
const MATCHING_RULE = 'Bench intake';
const OTHER_RULES = 100;

// ---------------------------------------------------------------------------------------
// /proc readings

const TICK_MICROS = 1e6 / 100; // USER_HZ: 100 on Linux

/** The fields of a stat(5) file after the command name: [11] is utime, [12] stime (ticks). */
function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process, µs. */
function cpuMicros(pid: number): number {
  const fields = statFields(`/proc/${pid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) * TICK_MICROS; // fields 14 and 15 of stat(5)
}

/**
 * One thread of a process: its user and system CPU (µs) and its voluntary context switches —
 * the times it went to sleep waiting (for a socket, a timer, a lock) and was woken again.
 */
function threadTimes(pid: number, tid: number): { user: number; system: number; sleeps: number } {
  const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
  const sleeps = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
  return { user: Number(fields[11]) * TICK_MICROS, system: Number(fields[12]) * TICK_MICROS, sleeps: Number(sleeps?.[1] ?? NaN) };
}

/** A process's CPU so far: its main thread's times and sleeps, and the whole process's CPU (µs). */
interface CpuReading {
  readonly main: ReturnType<typeof threadTimes>;
  readonly all: number;
}

function cpuReading(pid: number): CpuReading {
  return { main: threadTimes(pid, pid), all: cpuMicros(pid) };
}

/**
 * A process's CPU per alert over a row, from readings before and after it: the main thread's
 * user and system time and sleeps, and the other threads' time.
 */
function cpuSplit(before: CpuReading, after: CpuReading, sent: number): string {
  const user = after.main.user - before.main.user;
  const system = after.main.system - before.main.system;
  const sleeps = after.main.sleeps - before.main.sleeps;
  // Each reading is in clock ticks: with no other thread busy the difference can come out a tick below zero.
  const others = Math.max(0, after.all - before.all - user - system);
  const per = (us: number): string => fmt(us / 1000 / sent, 2);
  return `main thread ${per(user)} ms user + ${per(system)} ms system, ${fmt(sleeps / sent, 1)} sleeps (voluntary context switches); its other threads (V8's GC and compiler, libuv's pool) ${per(others)} ms`;
}

/** The machine's idle and total CPU time so far (/proc/stat, ticks). */
function machineTicks(): { idle: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: cpu[3]! + cpu[4]!, total: cpu.reduce((a, b) => a + b, 0) };
}

/** A /proc/<pid>/status size line (VmRSS, VmHWM), MiB. */
function statusMiB(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${key}:`));
  return line === undefined ? NaN : Number(line.split(/\s+/)[1]) / 1024;
}

/** Samples VmRSS every 100 ms until stopped; returns the peak, MiB. */
function rssSampler(pid: number): { stop(): number } {
  let peak = statusMiB(pid, 'VmRSS');
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, statusMiB(pid, 'VmRSS'));
    } catch {
      // exited
    }
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

// ---------------------------------------------------------------------------------------
// load

type Autocannon = (opts: Record<string, unknown>, done: (err: Error | null, r: AutocannonResult) => void) => unknown;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** An alert body generator: `distinct` alerts differ in `output` and `evt.time` and go round-robin over the pods. */
function bodies(ns: string, pods: number, podOf: (i: number) => string, rule = MATCHING_RULE): { distinct: () => string; same: string } {
  const template = JSON.stringify(podAlert({ rule, namespace: ns, pod: '@@POD@@', evtTime: 1 }))
    .replace('k8s.pod=@@POD@@)', 'k8s.pod=@@POD@@ n=@@N@@)')
    .replace('"evt.time":1', '"evt.time":@@T@@');
  const pieces = template.split(/(@@POD@@|@@N@@|@@T@@)/);
  const base = Date.now() * 1_000_000;
  let n = 0;
  return {
    same: JSON.stringify(podAlert({ rule, namespace: ns, pod: podOf(0) })),
    distinct() {
      n++;
      const pod = podOf(n % pods);
      let out = '';
      for (const piece of pieces) out += piece === '@@POD@@' ? pod : piece === '@@N@@' ? String(n) : piece === '@@T@@' ? String(base + n) : piece;
      return out;
    },
  };
}

interface Run {
  readonly requests: number;
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly failures: number;
}

function load(port: number, body: string | (() => string), seconds: number, amount?: number): Promise<Run> {
  return new Promise((done, fail) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}/`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        connections: CONNECTIONS,
        ...(amount === undefined ? { duration: seconds } : { amount }),
        ...(typeof body === 'string' ? { body } : { requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: body() }) }] }),
      },
      (err, r) => {
        if (err) return fail(err);
        const ok = r.statusCodeStats?.['202']?.count ?? 0;
        done({ requests: ok, reqPerSec: ok / r.duration, p50: r.latency.p50, p99: r.latency.p99, failures: r.non2xx + r.errors + r.timeouts });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------
// servers

/** A server in a forked child: the port it sends once it listens, its pid, and `stop` (sends `'stop'`, waits for its exit). */
interface ChildServer {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

async function childServer(child: ChildProcess, what: string): Promise<ChildServer> {
  const port = await new Promise<number>((done, fail) => {
    child.once('message', (m: { port?: number }) => (m.port ? done(m.port) : fail(new Error(`${what}: no port`))));
    child.once('exit', (code) => fail(new Error(`${what} exited with ${code}`)));
  });
  return {
    port,
    pid: child.pid!,
    stop: () => new Promise<void>((done) => (child.once('exit', () => done()), child.send('stop'))),
  };
}

/** The bare server of intake.bench.ts (node:http, read the body, JSON.parse, 202) in a child process. */
function bareServer(): Promise<ChildServer> {
  return childServer(fork(fileURLToPath(new URL('./intake.bench.js', import.meta.url)), ['--serve', 'bare'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), 'bare server');
}

/** Waits until the operator has finished every accepted alert (journal unfinished 0, queue empty). */
async function drained(op: OperatorProcess, timeoutMs = 300_000): Promise<void> {
  await eventually(
    'the operator drained',
    async () => {
      const text = await op.metrics();
      const value = (name: string): number => {
        const line = text.split('\n').find((l) => l.startsWith(`${name} `));
        return line === undefined ? 0 : Number(line.slice(name.length + 1));
      };
      return value('talon_alerts_unfinished') === 0 && value('talon_queue_depth') === 0;
    },
    timeoutMs,
    100,
  );
}

interface Measured extends Run {
  readonly cpuMicrosPerRequest: number;
  readonly rssPeakMiB: number;
  /** Share of the machine's CPU left idle during the run (both cores), and the load generator's (this process's) CPU per request. */
  readonly machineIdle: number;
  readonly generatorMicrosPerRequest: number;
}

async function measure(pid: number, port: number, body: string | (() => string), settle?: () => Promise<void>): Promise<Measured> {
  const rss = rssSampler(pid);
  const cpu0 = cpuMicros(pid);
  const machine0 = machineTicks();
  const generator0 = process.cpuUsage();
  const run = await load(port, body, SECONDS);
  const generator = process.cpuUsage(generator0);
  const machine1 = machineTicks();
  await settle?.();
  const cpu = cpuMicros(pid) - cpu0;
  const n = Math.max(1, run.requests);
  return {
    ...run,
    cpuMicrosPerRequest: cpu / n,
    rssPeakMiB: rss.stop(),
    machineIdle: (machine1.idle - machine0.idle) / Math.max(1, machine1.total - machine0.total),
    generatorMicrosPerRequest: (generator.user + generator.system) / n,
  };
}

// ---------------------------------------------------------------------------------------

const fmt = (v: number, d = 0): string => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');

async function applyRules(kc: k8s.KubeConfig, talon: Talon): Promise<void> {
  for (let i = 0; i < OTHER_RULES; i++) {
    await talon.applyRule(CLUSTER, `bench-other-${i}`, { match: { rules: [`Bench other ${i}`] }, actions: [inline('mark', 'kubernetes:label', { labels: { [LABEL]: 'x' } })] });
  }
  await applyRuleLoaded(kc, talon, CLUSTER, 'bench-intake', { match: { rules: [MATCHING_RULE] }, dryRun: true, actions: [inline('mark', 'kubernetes:label', { labels: { [LABEL]: 'dry' } })] }, 'cluster');
  for (const [name, rule, value] of LABEL_RULES) {
    await applyRuleLoaded(kc, talon, CLUSTER, name, { match: { rules: [rule] }, actions: [inline('mark', 'kubernetes:label', { labels: { [LABEL]: value } })] }, 'cluster');
  }
}

function startOperator(nodeArgs: readonly string[] = NODE_ARGS): Promise<OperatorProcess> {
  return OperatorProcess.start({
    config: { safety: { destructiveActionsPerMinute: 1_000_000 }, queue: { concurrency: 64 }, ...(JSON.parse(process.env.OPERATOR_BENCH_CONFIG ?? '{}') as Record<string, unknown>) },
    nodeArgs,
  });
}

/**
 * OPERATOR_BENCH_PROFILE=DIR: each of the three paths (a deduplicated alert, a matched
 * dry-run alert, a label action) in its own operator process under --cpu-prof; the text
 * summary of each profile (profile-summary.ts) goes to DIR/<path>.txt.
 */
async function profiles(kc: k8s.KubeConfig, ns: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const raw = mkdtempSync(join(tmpdir(), 'talon-prof-'));
  for (const path of ['dedup', 'distinct', 'effect'] as const) {
    const out = join(raw, path);
    const op = await startOperator(['--cpu-prof', `--cpu-prof-dir=${out}`]);
    const log: string[] = [];
    const print = console.log;
    console.log = (...args: unknown[]) => {
      log.push(args.join(' '));
      print(...args);
    };
    try {
      if (path === 'effect') await effect(kc, op, ns);
      else await intake(op, ns, new Set([path]), 1);
    } finally {
      console.log = print;
      await op.stop();
    }
    const file = readdirSync(out).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`no profile written in ${out}`);
    const what = { dedup: 'a deduplicated alert (the same alert repeated)', distinct: 'a matched dry-run alert (distinct alerts, one dry-run rule of 101)', effect: 'a label action (alert to effect at 100 and 300/s)' }[path];
    const text = [
      `# CPU profile: ${what}`,
      '',
      `${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
      'Command: `OPERATOR_BENCH_PROFILE=bench/profiles node dist/bench/operator.bench.js` (the operator process under --cpu-prof; the profile covers its whole life, start-up included).',
      '',
      'What the bench measured in this run (profiling slows the operator):',
      '',
      ...log.filter((l) => l.startsWith('|')),
      '',
      '```',
      summarise(JSON.parse(readFileSync(join(out, file), 'utf8')) as Parameters<typeof summarise>[0], 30),
      '```',
      '',
    ].join('\n');
    writeFileSync(join(dir, `${path}.txt`), text);
    console.log(`profile summary written: ${join(dir, `${path}.txt`)}`);
  }
}

async function intake(op: OperatorProcess, ns: string, paths: ReadonlySet<string> = ONLY, rounds = ROUNDS): Promise<void> {
  const bare = await bareServer();
  const pid = op.pid!;
  const { distinct, same } = bodies(ns, PODS, podName);
  try {
    // Warm-up (not counted): both servers, the bodies measured.
    await load(bare.port, distinct, WARMUP_SECONDS);
    const both = paths.has('intake');
    if (both || paths.has('distinct')) await load(op.port, distinct, WARMUP_SECONDS);
    await load(op.port, same, 1);
    await drained(op);
    const rows: [string, Measured, Measured][] = [];
    for (let round = 1; round <= rounds; round++) {
      if (both || paths.has('distinct')) {
        const b = await measure(bare.pid, bare.port, distinct);
        const t = await measure(pid, op.port, distinct, () => drained(op));
        rows.push([`distinct alerts, round ${round}`, b, t]);
      }
      if (both || paths.has('dedup')) {
        const bs = await measure(bare.pid, bare.port, same);
        const ts = await measure(pid, op.port, same, () => drained(op));
        rows.push([`same alert repeated (dedup), round ${round}`, bs, ts]);
      }
    }
    console.log(`\n## 1. intake (${SECONDS} s per run, ${CONNECTIONS} connections, keep-alive)\n`);
    console.log('| run | bare req/s | talon req/s | **ratio** | bare µs CPU/req | talon µs CPU/req | talon p50 / p99 ms | talon non-202 | RSS peak bare / talon MiB | machine idle bare / talon | generator µs CPU/req bare / talon |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const pct = (v: number): string => `${Math.round(v * 100)} %`;
    for (const [name, b, t] of rows) {
      console.log(
        `| ${name} | ${fmt(b.reqPerSec)} | ${fmt(t.reqPerSec)} | **${fmt(t.reqPerSec / b.reqPerSec, 2)}** | ${fmt(b.cpuMicrosPerRequest)} | ${fmt(t.cpuMicrosPerRequest)} | ${t.p50} / ${t.p99} | ${t.failures} | ${fmt(b.rssPeakMiB)} / ${fmt(t.rssPeakMiB)} | ${pct(b.machineIdle)} / ${pct(t.machineIdle)} | ${fmt(b.generatorMicrosPerRequest)} / ${fmt(t.generatorMicrosPerRequest)} |`,
      );
    }
    console.log(`\noperator VmHWM (peak RSS since start): ${fmt(statusMiB(pid, 'VmHWM'))} MiB; bare ${fmt(statusMiB(bare.pid, 'VmHWM'))} MiB`);
    console.log('targets: distinct ratio ≥ 0.5; operator RSS peak ≤ 150 MiB');
  } finally {
    await bare.stop();
  }
}

/**
 * The control plane's own floor for the effect phase: the bench PATCHes the same labels
 * itself at the same rate (the same raw JSON merge patch with a metadata-only answer, over one
 * keep-alive pool: the operator's RawClient), no operator involved, and the same pod watch
 * sees the effects. What is left between this row and the operator's is the operator's doing
 * (its own CPU included: on 2 cores it competes with the API server for the same time).
 */
async function directPhase(kc: k8s.KubeConfig, ns: string, rate: number, seconds: number): Promise<{ measured: number; latencies: number[]; sentAt: number[]; missing: number; failures: number }> {
  // The operator's own pooled config: auth material computed once a second, one keep-alive pool.
  const pooled = new KeepAliveKubeConfig();
  pooled.loadFromString(kc.exportConfig());
  const raw = new RawClient(authSourceOf(pooled));
  const pending = new Map<string, { sentAt: number; measured: boolean; value: string }>();
  const latencies: number[] = [];
  const sentAt: number[] = [];
  const watch = await watchPods(kc, ns, 'bench=latency', (type, pod, at) => {
    const name = pod.metadata?.name ?? '';
    const p = pending.get(name);
    if (type !== 'MODIFIED' || p === undefined || pod.metadata?.labels?.[LABEL] !== p.value) return;
    pending.delete(name);
    if (p.measured) {
      latencies.push(at - p.sentAt);
      sentAt.push(p.sentAt);
    }
  });
  const warm = WARMUP_SECONDS * rate;
  const total = warm + seconds * rate;
  let missing = 0;
  let failures = 0;
  try {
    await openLoop(rate, total, (i) => {
      const pod = podName(i % PODS);
      const value = Math.floor(i / PODS) % 2 === 0 ? 'c' : 'd';
      if (pending.get(pod)?.measured === true) missing++;
      pending.set(pod, { sentAt: performance.now(), measured: i >= warm, value });
      return raw
        .request({ method: 'PATCH', path: apiPath('api', 'v1', 'namespaces', ns, 'pods', pod), body: { metadata: { labels: { [LABEL]: value } } }, contentType: MERGE_PATCH, metadataOnly: true })
        .catch(() => void failures++);
    });
    await eventually('the last direct effects', () => pending.size === 0, 10_000, 20).catch(() => undefined);
    missing += measuredLeft(pending);
    return { measured: total - warm, latencies, sentAt, missing, failures };
  } finally {
    watch.stop();
    pooled.destroyAgent();
  }
}

/**
 * The bare server's CPU per request when requests come one at a time at `rate`/s (one POST
 * every 1000/rate ms over keep-alive connections), not back to back: what a lone request costs
 * a warmed process on this machine, the floor under the operator's CPU per effect at 100/s (an
 * effect takes at least two lone wake-ups: the alert, the API server's answer).
 *
 * The server is warmed first with BARE_WARMUP requests back to back. Without that, its code is
 * still in V8's lower tiers and a lone request costs 5× more — 400–550 µs at 100/s after 50
 * requests, 72–94 µs after 10,000–30,000 (bench/RESULTS.md §8) — and code sent one request at a
 * time tiers up slowly (still 250–300 µs after 6,000 requests at 100/s). Earlier passes read
 * the unwarmed figure (0.54–0.60 ms) as this machine's cost of a wake-up; it was mostly
 * unoptimised JavaScript.
 */
const BARE_WARMUP = 30_000;

async function bareAtRate(rate: number, seconds: number): Promise<number> {
  const bare = await bareServer();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  const body = bodies('bench', 100, podName).same;
  const post = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: bare.port, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => resolve());
      req.end(body);
    });
  try {
    for (let done = 0; done < BARE_WARMUP; done += 100) await Promise.all(Array.from({ length: 100 }, post));
    const total = rate * seconds;
    const c0 = cpuMicros(bare.pid);
    await openLoop(rate, total, post);
    return (cpuMicros(bare.pid) - c0) / total;
  } finally {
    agent.destroy();
    await bare.stop();
  }
}

/**
 * The operator's label PATCH alone (patch-floor.ts), in a child process with the operator's V8
 * flags, warmed, one PATCH at a time at each rate: its CPU per PATCH (µs). With
 * `bareAtRate`'s lone request, the floor under the operator's CPU per label effect: an effect
 * is one alert in and one PATCH out and its answer, whatever the operator does besides.
 */
async function patchFloor(kc: k8s.KubeConfig, ns: string, rates: readonly number[], seconds: number): Promise<FloorAnswer['floors']> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./patch-floor.js', import.meta.url)), [], { execArgv: [...NODE_FLAGS], env: { ...process.env, ...NODE_PROCESS_ENV }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const answer = new Promise<FloorAnswer>((done, fail) => {
    child.once('message', (m: FloorAnswer) => done(m));
    child.once('exit', (code) => fail(new Error(`patch floor exited with ${code}`)));
  });
  const request: FloorRequest = { kubeconfig: kc.exportConfig(), namespace: ns, pods: Array.from({ length: PODS }, (_, i) => podName(i)), rates, seconds };
  child.send(request);
  return (await answer).floors;
}

/** Per kind of V8 collection (prom-client's `nodejs_gc_duration_seconds`): how many, their total and how many took over 10 ms. */
function gcCounts(metricsText: string): Map<string, { count: number; sumMs: number; over10ms: number }> {
  const out = new Map<string, { count: number; sumMs: number; over10ms: number }>();
  const at = (kind: string): { count: number; sumMs: number; over10ms: number } => {
    let k = out.get(kind);
    if (k === undefined) out.set(kind, (k = { count: 0, sumMs: 0, over10ms: 0 }));
    return k;
  };
  const within10ms = new Map<string, number>();
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('nodejs_gc_duration_seconds')) continue;
    const kind = /kind="([^"]+)"/.exec(line)?.[1];
    if (kind === undefined) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('nodejs_gc_duration_seconds_count')) at(kind).count = value;
    else if (line.startsWith('nodejs_gc_duration_seconds_sum')) at(kind).sumMs = value * 1000;
    else if (line.includes('le="0.01"')) within10ms.set(kind, value);
  }
  for (const [kind, k] of out) k.over10ms = k.count - (within10ms.get(kind) ?? 0);
  return out;
}

/** What V8's collections cost the operator between two readings of its metrics, one line. */
function gcBetween(before: string, after: string): string {
  const a = gcCounts(before);
  const parts: string[] = [];
  for (const [kind, k] of gcCounts(after)) {
    const b = a.get(kind) ?? { count: 0, sumMs: 0, over10ms: 0 };
    if (k.count === b.count) continue;
    parts.push(`${kind} ${fmt(k.count - b.count)} (${fmt(k.sumMs - b.sumMs, 1)} ms, ${fmt(k.over10ms - b.over10ms)} over 10 ms)`);
  }
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** The operator's Kubernetes Event API calls between two readings of its metrics (`talon_kube_event_writes_total`), one line. */
function eventWritesBetween(before: string, after: string, alerts: number): string {
  const calls = (text: string, verb: string): number => metricSum(text, 'talon_kube_event_writes_total', { verb });
  const created = calls(after, 'create') - calls(before, 'create');
  const updated = calls(after, 'update') - calls(before, 'update');
  return `${fmt(created)} created, ${fmt(updated)} updated (${fmt((created + updated) / alerts, 2)} calls per alert)`;
}

/**
 * The smallest label effect in node (effect-floor.ts), a child process with the operator's V8
 * flags taking the same alerts: the floor under the operator's row at the same rate, its CPU
 * read from /proc like the operator's.
 */
async function effectFloor(kc: k8s.KubeConfig): Promise<ChildServer & { readonly url: string }> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./effect-floor.js', import.meta.url)), [], { execArgv: [...NODE_FLAGS], env: { ...process.env, ...NODE_PROCESS_ENV }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.send({ kubeconfig: kc.exportConfig(), labels: Object.fromEntries(LABEL_RULES.map(([, rule, value]) => [rule, { [LABEL]: value }])) } satisfies EffectFloorRequest);
  const server = await childServer(child, 'effect floor');
  return { ...server, url: `http://127.0.0.1:${server.port}` };
}

async function effect(kc: k8s.KubeConfig, op: OperatorProcess, ns: string): Promise<void> {
  console.log('\n## 2. alert to effect (kubernetes:label, every alert changes the label)\n');
  console.log('| rate | who | alerts / PATCHes measured | effects seen | missing | p50 ms | p90 ms | p99 ms | max ms | CPU per label effect | machine idle |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const idle = (a: { idle: number; total: number }, b: { idle: number; total: number }): string => `${Math.round((100 * (b.idle - a.idle)) / Math.max(1, b.total - a.total))} %`;
  /** A row's latency cells: p50, p90, p99 and max, ms. */
  const latencyCells = (latencies: readonly number[]): string => {
    const s = [...latencies].sort((a, b) => a - b);
    return [quantile(s, 0.5), quantile(s, 0.9), quantile(s, 0.99), s[s.length - 1] ?? NaN].map((v) => fmt(v, 1)).join(' | ');
  };
  /** The answers other than 202 of a phase, after its missing count. */
  const notAccepted = (failures: ReadonlyMap<string, number>): string => (failures.size === 0 ? '' : ` (${[...failures].map(([k, n]) => `${n}× ${k}`).join(', ')})`);
  if (EFFECT_WARMUP_SECONDS > 0) {
    const m0 = machineTicks();
    const w = await measured(op, 'kubernetes:label', () => labelPhase(kc, op, ns, RULE_PAIR, 'kubernetes:label', EFFECT_WARMUP_RATE, EFFECT_WARMUP_SECONDS));
    const m1 = machineTicks();
    console.log(
      `| ${EFFECT_WARMUP_RATE}/s | operator: its first ${EFFECT_WARMUP_SECONDS} s of label actions (JIT warm-up) | ${w.measured} | ${w.latencies.length} | ${w.missing} | ${latencyCells(w.latencies)} | ${fmt(((w.operator?.cpuSeconds ?? NaN) * 1000) / w.sent, 2)} ms | ${idle(m0, m1)} |`,
    );
  }
  // The smallest label effect, warmed like the operator (its code in V8's optimising tier) at
  // the warm-up's rate: here, so that the API server has drained that load by the rows below.
  const floor = await effectFloor(kc);
  // Where an effect's CPU goes, printed under the table: the main thread's user and system
  // time and its sleeps (each lone alert and each PATCH answer wakes it), the other threads.
  const anatomy: string[] = [];
  // When the slow effects were sent, per row: a periodic cause shows as evenly spaced seconds.
  const timeline: string[] = [];
  const pid = op.pid!;
  try {
    await labelPhase(kc, floor, ns, RULE_PAIR, 'kubernetes:label', EFFECT_WARMUP_RATE, FLOOR_WARMUP_SECONDS);
    for (const rate of [100, 300]) {
      console.log(`| ${rate}/s | the bare node:http server, warmed, one POST at a time (the floor of a lone request) | ${fmt(rate * 10)} | | | | | | | ${fmt((await bareAtRate(rate, 10)) / 1000, 2)} ms per request | |`);
    }
    for (const f of await patchFloor(kc, ns, [100, 300], 10)) {
      console.log(`| ${f.rate}/s | the operator's label PATCH alone, warmed, one at a time (the floor of a lone outbound PATCH) | ${fmt(f.rate * 10)}${f.failures ? ` (${f.failures} failed)` : ''} | | | | | | | ${fmt(f.cpuMicrosPerPatch / 1000, 2)} ms per PATCH | |`);
    }
    for (const [rate, seconds] of [
      [100, LATENCY_SECONDS],
      [300, Math.max(5, Math.round(LATENCY_SECONDS / 2))],
    ] as const) {
      const m0 = machineTicks();
      const d = await directPhase(kc, ns, rate, seconds);
      const m1 = machineTicks();
      console.log(
        `| ${rate}/s | the bench PATCHing directly (control-plane floor) | ${d.measured} | ${d.latencies.length} | ${d.missing}${d.failures ? ` (${d.failures} failed)` : ''} | ${latencyCells(d.latencies)} | | ${idle(m0, m1)} |`,
      );
      const f0 = cpuReading(floor.pid);
      const idle0 = { cpu: cpuMicros(pid), at: performance.now() };
      const f = await labelPhase(kc, floor, ns, RULE_PAIR, 'kubernetes:label', rate, seconds);
      const f1 = cpuReading(floor.pid);
      const fCpu = f1.all - f0.all;
      // The operator took no alert meanwhile: what it spends with nothing to do (timers, leases).
      const idleMsPerSecond = (cpuMicros(pid) - idle0.cpu) / (performance.now() - idle0.at);
      const m1f = machineTicks();
      console.log(
        `| ${rate}/s | the smallest label effect in node (effect-floor.ts: parse, 202, the same PATCH; no journal, matching, outcome or Event) | ${f.measured} | ${f.latencies.length} | ${f.missing}${notAccepted(f.failures)} | ${latencyCells(f.latencies)} | ${fmt(fCpu / 1000 / f.sent, 2)} ms | ${idle(m1, m1f)} |`,
      );
      const gc0 = await op.metrics();
      const o0 = cpuReading(pid);
      const r = await measured(op, 'kubernetes:label', () => labelPhase(kc, op, ns, RULE_PAIR, 'kubernetes:label', rate, seconds));
      const m2 = machineTicks();
      const o1 = cpuReading(pid);
      const gc1 = await op.metrics();
      timeline.push(
        `${rate}/s, effects over ${SLOW_MS} ms by the second of the row they were sent in: control plane alone ${slowBySecond(d, SLOW_MS)}; smallest effect ${slowBySecond(f, SLOW_MS)}; operator ${slowBySecond(r, SLOW_MS)}`,
      );
      anatomy.push(`the smallest effect at ${rate}/s, per alert sent: ${cpuSplit(f0, f1, f.sent)}`);
      anatomy.push(
        `operator at ${rate}/s, per alert sent: ${cpuSplit(o0, o1, r.sent)}; with no alert (during the smallest effect's row) it spent ${fmt(idleMsPerSecond, 1)} ms of CPU per second, ${fmt(idleMsPerSecond / rate, 2)} ms per alert at this rate; V8's collections over the row: ${gcBetween(gc0, gc1)}; Kubernetes Events over the row: ${eventWritesBetween(gc0, gc1, r.sent)}`,
      );
      console.log(
        `| ${rate}/s | **operator** (alert → label) | ${r.measured} | ${r.latencies.length} | ${r.missing}${notAccepted(r.failures)} | ${latencyCells(r.latencies)} | ${fmt(((r.operator?.cpuSeconds ?? NaN) * 1000) / r.sent, 2)} ms | ${idle(m1f, m2)} |`,
      );
      // The same process, the same pods and pacing, its dry-run rule: the alert's whole path
      // (intake, journal, match, dispatch, a DryRun outcome with its Event and status) without
      // the PATCH — what the operator spends on a lone alert before and after its effect's I/O.
      // Then the same in bursts of DRY_RUN_BURST at the same mean rate: the same work, not
      // alone — how much dearer an alert is when it comes by itself.
      for (const burst of [1, DRY_RUN_BURST]) {
        const d0 = cpuReading(pid);
        const dry = await dryRunPhase(op, ns, MATCHING_RULE, rate, seconds, burst);
        const d1 = cpuReading(pid);
        const how = burst === 1 ? 'one at a time' : `in bursts of ${burst}`;
        anatomy.push(`operator at ${rate}/s, its dry-run rule (no PATCH), ${how}, per alert sent: ${cpuSplit(d0, d1, dry.sent)}`);
        console.log(
          `| ${rate}/s | operator, the same alerts for its dry-run rule, ${how} (no PATCH: intake, journal, match, a DryRun outcome) | ${fmt(dry.sent)}${notAccepted(dry.failures)} | | | | | | | ${fmt((d1.all - d0.all) / 1000 / dry.sent, 2)} ms per alert | |`,
        );
      }
    }
  } finally {
    await floor.stop();
  }
  console.log('');
  for (const line of [...timeline, ...anatomy]) console.log(line);
  for (const [line, name] of [
    ['accepted → action start', 'talon_ingest_to_action_seconds'],
    ['action duration (the PATCH)', 'talon_action_duration_seconds'],
  ] as const) {
    console.log(`operator's own histogram over both rates, ${line}: ${histogramQuantiles(await op.metrics(), name, 'kubernetes:label')}`);
  }
  console.log('targets: 100/s p50 ≤ 10 ms, p99 ≤ 50 ms, every effect seen; 300/s every effect seen, p99 ≤ 250 ms; CPU per label effect ≤ 1 ms');
}

async function storm(ns: string): Promise<void> {
  const op = await startOperator();
  try {
    const pid = op.pid!;
    await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
    const idle = statusMiB(pid, 'VmRSS');
    const { distinct } = bodies(ns, STORM_TARGETS, (i) => `s-${String(i).padStart(5, '0')}`);
    const rss = rssSampler(pid);
    const started = Date.now();
    const run = await load(op.port, distinct, 0, STORM);
    const sentMs = Date.now() - started;
    await drained(op, 600_000);
    const drainMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
    const after = statusMiB(pid, 'VmRSS');
    const peak = rss.stop();
    console.log(`\n## 3. storm: ${fmt(STORM)} distinct alerts for ${fmt(STORM_TARGETS)} targets (a fresh operator process)\n`);
    console.log(`| accepted | non-202 | sent in | drained after | RSS idle | RSS peak | RSS ${SETTLE_SECONDS} s after drain | **growth over idle** |`);
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
    console.log(`| ${fmt(run.requests)} | ${run.failures} | ${fmt(sentMs / 1000, 1)} s | ${fmt(drainMs / 1000, 1)} s | ${fmt(idle)} MiB | ${fmt(peak)} MiB | ${fmt(after)} MiB | **${fmt((after - idle) * 1.048576)} MB** |`);
    console.log('target: growth ≤ 50 MB');
  } finally {
    await op.stop();
  }
}

async function main(): Promise<void> {
  const kc = await connectControlPlane('operator bench');
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  console.log(`operator bench: the real operator process (journal on, logLevel info, ${OTHER_RULES + 3} TalonRules) beside a bare node:http server`);
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}; operator node flags: ${[...NODE_FLAGS, ...NODE_ARGS].join(' ')}, environment ${Object.entries(NODE_PROCESS_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  await installCRDs(kc);
  const ns = await createNamespace(core, 'bench');
  let op: OperatorProcess | undefined;
  try {
    await createBenchPods(core, ns);
    op = await startOperator();
    await applyRules(kc, talon);
    if (PROFILE_DIR !== undefined) {
      await op.stop();
      op = undefined;
      await profiles(kc, ns, PROFILE_DIR);
      return;
    }
    if (ONLY.has('intake') || ONLY.has('distinct') || ONLY.has('dedup')) await intake(op, ns);
    if (ONLY.has('effect')) await effect(kc, op, ns);
    await op.stop();
    op = undefined;
    if (ONLY.has('storm')) await storm(ns);
  } finally {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  }
}

await main();
