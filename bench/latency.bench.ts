/**
 * Alert-to-effect latency against a real kube-apiserver.
 *
 *   npm run build && node dist/bench/latency.bench.js
 *
 * Needs the local control plane (`make cluster-up`, kubeconfig at
 * $TALON_E2E_DIR/kubeconfig, or TALON_E2E_KUBECONFIG), like the e2e tests.
 *
 * The operator runs as a child process (`cli.js run`, as in production and the e2e tests), so
 * the load generator and the watch that observes the effects do not share its event loop. An
 * in-process operator would let us hook the end of each API call, but would also put the
 * sender, the watch and the operator on one event loop and distort exactly what is measured.
 *
 * 100 pods in a fresh namespace; alerts are posted open-loop at 100/s, round-robin over the
 * pods, each alert distinct (own evt.time), after a warm-up that is not counted. Latency is
 * measured client-side on one clock (performance.now): from just before the POST is sent
 * until a watch on the pods delivers the effect, i.e. after the operator's API call has
 * completed and the API server has told a watcher (an upper bound of "call completed"):
 *   - kubernetes:label  two rules set talon.dev/bench=a / =b; consecutive rounds alternate
 *                       so that every alert changes the label (an unchanged label is invisible);
 *   - kubernetes:terminate  the pod's DELETED event; the bench replaces the pod at once (new
 *                       name) so that its slot's next alert, one round (1 s) later, has a pod to kill.
 * Also printed: the POST answer time, and the operator's own histograms
 * (talon_ingest_to_action_seconds: accepted → action start; talon_action_duration_seconds),
 * as bucket upper bounds.
 *
 * Environment: LATENCY_BENCH_SECONDS (measured seconds per actionner, default 20),
 * LATENCY_BENCH_RATE (alerts/s, default 100), LATENCY_BENCH_PODS (default 100),
 * LATENCY_BENCH_WARMUP (seconds, default 2), LATENCY_BENCH_OPERATOR_NODE_OPTIONS (added to the
 * operator child's NODE_OPTIONS, e.g. `--import file:///…/profiler.mjs`; --cpu-prof is not allowed there).
 *
 * Experiment: LATENCY_BENCH_KEEPALIVE=1 preloads (NODE_OPTIONS=--import) into the operator a
 * module that makes @kubernetes/client-node reuse one keep-alive https.Agent per KubeConfig.
 * client-node 1.x builds a new Agent for every request (KubeConfig.applySecurityAuthentication),
 * so every API call pays a TCP + TLS handshake with the client certificate; this measures what
 * the operator gains once its clients reuse connections. Off by default: the figures of record
 * are the operator as shipped.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, e2eKubeconfigPath, eventually, loadE2EKubeConfig, podManifest } from '../e2e/support/cluster.js';
import { OperatorProcess, installCRDs } from '../e2e/support/operator.js';
import { CLUSTER, Talon } from '../e2e/support/talon.js';
import { applyRuleLoaded, inline, podAlert, watchPods } from '../e2e/support/alerts.js';
import { openLoop } from './pacing.js';

export const SECONDS = Number(process.env.LATENCY_BENCH_SECONDS ?? 20);
export const RATE = Number(process.env.LATENCY_BENCH_RATE ?? 100);
export const PODS = Number(process.env.LATENCY_BENCH_PODS ?? 100);
export const WARMUP = Number(process.env.LATENCY_BENCH_WARMUP ?? 2);
const KEEPALIVE = process.env.LATENCY_BENCH_KEEPALIVE === '1';
export const LABEL = 'talon.dev/bench';

/** The --import option that makes client-node in the operator child reuse one keep-alive agent (the experiment). */
function keepAlivePreload(): string {
  const clientNode = import.meta.resolve('@kubernetes/client-node');
  const file = join(mkdtempSync(join(tmpdir(), 'talon-bench-')), 'keepalive.mjs');
  writeFileSync(
    file,
    [
      "import https from 'node:https';",
      `const { KubeConfig } = await import(${JSON.stringify(clientNode)});`,
      'const agents = new WeakMap();',
      'const apply = KubeConfig.prototype.applySecurityAuthentication;',
      'KubeConfig.prototype.applySecurityAuthentication = async function (ctx) {',
      '  await apply.call(this, ctx);',
      '  let agent = agents.get(this);',
      '  if (agent === undefined) agents.set(this, (agent = new https.Agent({ ...ctx.getAgent().options, keepAlive: true })));',
      '  ctx.setAgent(agent);',
      '};',
      '',
    ].join('\n'),
  );
  return `--import ${pathToFileURL(file).href}`;
}

/** The operator child's NODE_OPTIONS: the experiment's preload, and LATENCY_BENCH_OPERATOR_NODE_OPTIONS (e.g. --cpu-prof). */
export function operatorEnv(): Record<string, string> {
  const options = [process.env.NODE_OPTIONS, KEEPALIVE ? keepAlivePreload() : undefined, process.env.LATENCY_BENCH_OPERATOR_NODE_OPTIONS].filter((o) => o);
  return options.length > 0 ? { NODE_OPTIONS: options.join(' ') } : {};
}

interface Pending {
  readonly sentAt: number;
  readonly measured: boolean;
  readonly value?: string;
}

/** Measured alerts still waiting for their effect. */
export function measuredLeft(pending: ReadonlyMap<string, { readonly measured: boolean }>): number {
  let n = 0;
  for (const p of pending.values()) if (p.measured) n++;
  return n;
}

/**
 * When the slow effects were sent: the measured effects over `overMs`, counted by the second of
 * the row they were sent in (from the first measured alert), e.g. `11 s: 15, 21 s: 7` — a cause
 * that recurs every few seconds (a timer, a batch of writes) shows as evenly spaced seconds.
 */
export function slowBySecond(r: Pick<PhaseResult, 'latencies' | 'sentAt'>, overMs: number): string {
  if (r.sentAt.length === 0) return 'none measured';
  const start = Math.min(...r.sentAt);
  const bySecond = new Map<number, number>();
  r.latencies.forEach((ms, i) => {
    if (ms <= overMs) return;
    const second = Math.floor((r.sentAt[i]! - start) / 1000);
    bySecond.set(second, (bySecond.get(second) ?? 0) + 1);
  });
  if (bySecond.size === 0) return 'none';
  return [...bySecond].sort((a, b) => a[0] - b[0]).map(([second, n]) => `${second} s: ${n}`).join(', ');
}

export interface PhaseResult {
  readonly name: string;
  readonly sent: number;
  readonly measured: number;
  readonly latencies: number[];
  /** When each of `latencies`' alerts was sent (performance.now(), ms), in the same order. */
  readonly sentAt: number[];
  /** Measured alerts whose effect never showed (warm-up alerts are not counted): seen + missing = measured. */
  readonly missing: number;
  readonly postLatencies: number[];
  /** Answers other than 202 and transport errors, by status or error text. */
  readonly failures: Map<string, number>;
  /** Operator counters over the phase: actions run, matches suppressed (merged), CPU seconds used. */
  operator?: { actions: number; suppressed: number; cpuSeconds: number };
  /** CPU seconds this (load-generating and watching) process used over the phase. */
  benchCpuSeconds?: number;
}

/** Where a phase posts its alerts: the operator, or a floor standing in for it (effect-floor.ts). */
export interface AlertTarget {
  readonly url: string;
}

/** The operator counters a phase moves (from its /metrics). */
async function operatorCounters(op: OperatorProcess, actionner: string): Promise<{ actions: number; suppressed: number; cpuSeconds: number }> {
  const text = await op.metrics();
  let actions = 0;
  let suppressed = 0;
  let cpuSeconds = 0;
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('talon_actions_total{') && line.includes(`actionner="${actionner}"`)) actions += value;
    else if (line.startsWith('talon_events_suppressed_total ')) suppressed = value;
    else if (line.startsWith('process_cpu_seconds_total ')) cpuSeconds = value;
  }
  return { actions, suppressed, cpuSeconds };
}

/** Runs a phase and adds the operator's and this process's resource use over it. */
export async function measured(op: OperatorProcess, actionner: string, phase: () => Promise<PhaseResult>): Promise<PhaseResult> {
  const before = await operatorCounters(op, actionner);
  const cpu = process.cpuUsage();
  const r = await phase();
  const used = process.cpuUsage(cpu);
  const after = await operatorCounters(op, actionner);
  r.operator = { actions: after.actions - before.actions, suppressed: after.suppressed - before.suppressed, cpuSeconds: after.cpuSeconds - before.cpuSeconds };
  r.benchCpuSeconds = (used.user + used.system) / 1e6;
  return r;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const ms = (v: number): string => (Number.isNaN(v) ? '   n/a' : v.toFixed(2).padStart(7));

export function summary(values: readonly number[]): string {
  const s = [...values].sort((a, b) => a - b);
  return `p50 ${ms(quantile(s, 0.5))}  p90 ${ms(quantile(s, 0.9))}  p99 ${ms(quantile(s, 0.99))}  max ${ms(s[s.length - 1] ?? NaN)}  ms  (n=${s.length})`;
}

export const podName = (i: number): string => `b-${String(i).padStart(3, '0')}`;

/**
 * Posts `total` alerts open-loop at RATE/s; `alertFor(i)` names the pod and builds the alert;
 * `onSend` registers what the watch should see. Returns POST answer times and non-202 count.
 * `burst` > 1: the same mean rate, `burst` alerts sent together every `burst / rate` s.
 */
async function pace(
  op: AlertTarget,
  total: number,
  alertFor: (i: number) => { pod: string; body: unknown },
  onSend: (pod: string, i: number, at: number) => void,
  rate = RATE,
  burst = 1,
): Promise<{ post: number[]; failures: Map<string, number> }> {
  const post: number[] = [];
  const failures = new Map<string, number>();
  const fail = (what: string): void => void failures.set(what, (failures.get(what) ?? 0) + 1);
  const send = (i: number): Promise<void> => {
    const { pod, body } = alertFor(i);
    const text = JSON.stringify(body);
    const sentAt = performance.now();
    onSend(pod, i, sentAt);
    return fetch(`${op.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text })
      .then(async (r) => {
        await r.arrayBuffer();
        post.push(performance.now() - sentAt);
        if (r.status !== 202) fail(`HTTP ${r.status}`);
      })
      .catch((err: unknown) => fail(String((err as { cause?: unknown }).cause ?? err)));
  };
  await openLoop(rate / burst, Math.ceil(total / burst), (b) => Promise.all(Array.from({ length: Math.min(burst, total - b * burst) }, (_, k) => send(b * burst + k))));
  return { post, failures };
}

/**
 * Alerts for a dry-run rule, paced like the label phase (`rate` alerts/s for `seconds`, WARMUP s
 * more first) to the same pods: no effect to wait for, only the answers. `burst` > 1 sends them
 * that many at a time at the same mean rate. Resolves with how many were sent and the answers
 * other than 202.
 */
export async function dryRunPhase(op: AlertTarget, ns: string, rule: string, rate: number, seconds: number, burst = 1): Promise<{ sent: number; failures: Map<string, number> }> {
  const total = (WARMUP + seconds) * rate;
  const { failures } = await pace(
    op,
    total,
    (i) => {
      const pod = podName(i % PODS);
      return { pod, body: podAlert({ rule, namespace: ns, pod }) };
    },
    () => undefined,
    rate,
    burst,
  );
  return { sent: total, failures };
}

/**
 * The label phase; `rules` are the Falco rule names of the two label rules (A, B), `name` labels
 * the report; `rate` alerts/s for `seconds` (+ WARMUP s not counted).
 */
export async function labelPhase(
  kc: k8s.KubeConfig,
  op: AlertTarget,
  ns: string,
  rules: readonly [string, string] = ['Bench label A', 'Bench label B'],
  name = 'kubernetes:label',
  rate = RATE,
  seconds = SECONDS,
): Promise<PhaseResult> {
  const pending = new Map<string, Pending>();
  const latencies: number[] = [];
  const sentAt: number[] = [];
  const watch = await watchPods(kc, ns, 'bench=latency', (type, pod, at) => {
    if (type !== 'MODIFIED') return;
    const name = pod.metadata?.name ?? '';
    const p = pending.get(name);
    if (p === undefined || pod.metadata?.labels?.[LABEL] !== p.value) return;
    pending.delete(name);
    if (p.measured) {
      latencies.push(at - p.sentAt);
      sentAt.push(p.sentAt);
    }
  });
  const warm = WARMUP * rate;
  const total = warm + seconds * rate;
  let missing = 0;
  try {
    const { post, failures } = await pace(
      op,
      total,
      (i) => {
        const round = Math.floor(i / PODS);
        const pod = podName(i % PODS);
        return { pod, body: podAlert({ rule: round % 2 === 0 ? rules[0] : rules[1], namespace: ns, pod }) };
      },
      (pod, i, at) => {
        if (pending.get(pod)?.measured === true) missing++; // the previous round's effect never showed
        pending.set(pod, { sentAt: at, measured: i >= warm, value: Math.floor(i / PODS) % 2 === 0 ? 'a' : 'b' });
      },
      rate,
    );
    await eventually('the last label effects', () => pending.size === 0, 10_000, 20).catch(() => undefined);
    missing += measuredLeft(pending);
    return { name, sent: total, measured: total - warm, latencies, sentAt, missing, postLatencies: post.slice(warm), failures };
  } finally {
    watch.stop();
  }
}

async function terminatePhase(kc: k8s.KubeConfig, core: k8s.CoreV1Api, op: OperatorProcess, ns: string): Promise<PhaseResult> {
  // Each killed pod is replaced under a new name (b-SSS-gN): a replacement under the same name
  // can be deleted by kwok finishing the old pod's deletion, which would pass for an effect.
  const current = Array.from({ length: PODS }, (_, i) => podName(i));
  const generation = new Array<number>(PODS).fill(0);
  const pending = new Map<string, Pending>();
  const latencies: number[] = [];
  const sentAt: number[] = [];
  let recreateFailures = 0;
  let unexpected = 0;
  const watch = await watchPods(kc, ns, 'bench=latency', (type, pod, at) => {
    if (type !== 'DELETED') return;
    const name = pod.metadata?.name ?? '';
    const p = pending.get(name);
    if (p === undefined) {
      unexpected++;
      return;
    }
    pending.delete(name);
    if (p.measured) {
      latencies.push(at - p.sentAt);
      sentAt.push(p.sentAt);
    }
    const slot = Number(name.slice(2, 5));
    const next = `${podName(slot)}-g${++generation[slot]!}`;
    core.createNamespacedPod({ namespace: ns, body: benchPod(next) }).then(
      () => (current[slot] = next),
      () => recreateFailures++,
    );
  });
  const warm = WARMUP * RATE;
  const total = warm + SECONDS * RATE;
  let missing = 0;
  try {
    const { post, failures } = await pace(
      op,
      total,
      (i) => {
        const pod = current[i % PODS]!;
        return { pod, body: podAlert({ rule: 'Bench terminate', namespace: ns, pod }) };
      },
      (pod, i, at) => {
        if (pending.get(pod)?.measured === true) missing++; // its previous alert has not killed it yet, or it was not re-created in time
        pending.set(pod, { sentAt: at, measured: i >= warm });
      },
    );
    await eventually('the last deletions', () => pending.size === 0, 10_000, 20).catch(() => undefined);
    missing += measuredLeft(pending);
    if (recreateFailures + unexpected > 0) console.log(`  (terminate: ${unexpected} deletions not caused by an alert, ${recreateFailures} pod re-creations failed)`);
    return { name: 'kubernetes:terminate', sent: total, measured: total - warm, latencies, sentAt, missing, postLatencies: post.slice(warm), failures };
  } finally {
    watch.stop();
  }
}

/** Creates the PODS bench pods in `ns` and waits until every one is Running. */
export async function createBenchPods(core: k8s.CoreV1Api, ns: string): Promise<void> {
  for (let i = 0; i < PODS; i++) await core.createNamespacedPod({ namespace: ns, body: benchPod(podName(i)) });
  await eventually(`${PODS} pods Running`, async () => {
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'bench=latency' });
    return pods.items.filter((p) => p.status?.phase === 'Running').length === PODS;
  }, 120_000, 500);
}

export function benchPod(name: string): k8s.V1Pod {
  const i = Number(name.slice(2, 5));
  return podManifest(name, { node: i % 2 === 0 ? 'kwok-node-0' : 'kwok-node-1', labels: { app: name, bench: 'latency' } });
}

/**
 * Makes this process's API clients reuse one keep-alive agent (client-node 1.x builds one per
 * request), so re-creating pods in the terminate phase does not cost the load generator a TLS
 * handshake each.
 */
export function reuseConnections(kc: k8s.KubeConfig): void {
  const apply = kc.applySecurityAuthentication.bind(kc);
  let agent: https.Agent | undefined;
  kc.applySecurityAuthentication = async (ctx) => {
    await apply(ctx);
    agent ??= new https.Agent({ ...(ctx.getAgent() as https.Agent).options, keepAlive: true });
    ctx.setAgent(agent);
  };
}

/** Bucket upper bounds (ms) for p50/p90/p99 of a Prometheus histogram, from /metrics text. */
export function histogramQuantiles(text: string, name: string, actionner: string): string {
  const buckets: { le: number; count: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`) || !line.includes(`actionner="${actionner}"`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le !== undefined) buckets.push({ le: le === '+Inf' ? Infinity : Number(le) * 1000, count });
  }
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets[buckets.length - 1]?.count ?? 0;
  if (total === 0) return 'no samples';
  const q = (p: number): string => {
    const b = buckets.find((x) => x.count >= p * total);
    return b === undefined || b.le === Infinity ? '>max' : `≤${b.le}`;
  };
  return `p50 ${q(0.5)}  p90 ${q(0.9)}  p99 ${q(0.99)}  ms  (n=${total}, bucket upper bounds)`;
}

export function report(r: PhaseResult, metricsText: string): void {
  const failed = [...r.failures].map(([k, n]) => `${n}× ${k}`).join(', ');
  console.log(`\n${r.name}: ${r.sent} alerts sent (${r.measured} measured after ${WARMUP}s warm-up), ${r.latencies.length} effects observed, ${r.missing} missing${failed ? `; not accepted: ${failed}` : ''}`);
  if (r.operator) {
    console.log(
      `  operator: ${r.operator.actions} actions run, ${r.operator.suppressed} matches merged/suppressed, CPU ${r.operator.cpuSeconds.toFixed(1)} s (${((r.operator.cpuSeconds * 1000) / r.sent).toFixed(2)} ms per alert); bench process CPU ${r.benchCpuSeconds?.toFixed(1)} s`,
    );
  }
  console.log(`  alert → effect seen by watch  ${summary(r.latencies)}`);
  console.log(`  POST answered (202)           ${summary(r.postLatencies)}`);
  const actionner = r.name.split(' ')[0]!;
  console.log(`  operator ingest→action start  ${histogramQuantiles(metricsText, 'talon_ingest_to_action_seconds', actionner)}`);
  console.log(`  operator action duration      ${histogramQuantiles(metricsText, 'talon_action_duration_seconds', actionner)}`);
}

/**
 * The local control plane's kubeconfig, its connections reused; exits with what to do when the
 * plane does not answer (every bench that acts on the API server starts here).
 */
export async function connectControlPlane(bench: string): Promise<k8s.KubeConfig> {
  let kc: k8s.KubeConfig;
  try {
    kc = loadE2EKubeConfig();
    await kc.makeApiClient(k8s.CoreV1Api).listNode();
  } catch (err) {
    console.error(`${bench}: needs the local control plane (kubeconfig ${e2eKubeconfigPath()}): ${err instanceof Error ? err.message : String(err)}`);
    console.error("start it with 'make cluster-up' (or bash e2e/cluster/up.sh), or set TALON_E2E_KUBECONFIG");
    process.exit(1);
  }
  reuseConnections(kc);
  return kc;
}

async function main(): Promise<void> {
  const kc = await connectControlPlane('latency bench');
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  console.log(`latency bench: ${RATE} alerts/s for ${SECONDS}s (+${WARMUP}s warm-up) per actionner, round-robin over ${PODS} pods${KEEPALIVE ? '; EXPERIMENT: operator with keep-alive client agent' : ''}`);
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`);

  await installCRDs(kc);
  const ns = await createNamespace(core, 'bench');
  let op: OperatorProcess | undefined;
  try {
    await createBenchPods(core, ns);

    op = await OperatorProcess.start({
      config: { safety: { destructiveActionsPerMinute: 1_000_000 }, queue: { concurrency: 64 } },
      env: operatorEnv(),
    });
    for (const [name, rule, value] of [['bench-label-a', 'Bench label A', 'a'], ['bench-label-b', 'Bench label B', 'b']] as const) {
      await applyRuleLoaded(kc, talon, CLUSTER, name, { match: { rules: [rule] }, actions: [inline('mark', 'kubernetes:label', { labels: { [LABEL]: value } })] }, 'cluster');
    }
    await applyRuleLoaded(kc, talon, CLUSTER, 'bench-terminate', { match: { rules: ['Bench terminate'] }, actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })] }, 'cluster');

    const label = await measured(op, 'kubernetes:label', () => labelPhase(kc, op!, ns));
    report(label, await op.metrics());
    const terminate = await measured(op, 'kubernetes:terminate', () => terminatePhase(kc, core, op!, ns));
    report(terminate, await op.metrics());
    const messages = new Map<string, number>();
    for (const line of op.logs) {
      try {
        const l = JSON.parse(line) as { level?: string; message?: string };
        if (l.level === 'warn' || l.level === 'error') {
          messages.set(`${l.level}: ${l.message}`, (messages.get(`${l.level}: ${l.message}`) ?? 0) + 1);
        }
      } catch {
        // not JSON
      }
    }
    if (messages.size > 0) console.log(`\noperator warnings/errors (last ${op.logs.length} log lines): ${[...messages].map(([m, n]) => `${n}× ${m}`).join('; ')}`);
    console.log('\ntarget: alert → effect p50 ≤ 10 ms, p99 ≤ 50 ms');
  } finally {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  }
}

// Run only when executed, not when another bench imports the phases.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
