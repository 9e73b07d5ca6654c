/**
 * What a dead notifier costs the actions: alert-to-effect latency with a hanging Slack
 * receiver configured vs no notifier, in the same run, against a real kube-apiserver.
 *
 *   npm run build && node dist/bench/notifier-latency.bench.js
 *
 * Needs the local control plane like bench/latency.bench.ts (whose label phase it reuses:
 * 100 pods, open-loop alerts at LATENCY_BENCH_RATE/s, latency from just before the POST to
 * the watch delivering the label change).
 *
 * One operator child process, configured with a `slack` instance whose webhook URL (in a
 * secret file) points at a loopback TCP server that accepts connections and never answers,
 * for the whole run (default router settings: timeout 10s, 2 retries, 4 in flight, queue
 * 1000). Two pairs of label rules, identical but for `notifiers`: the "none" pair names no
 * notifier; the "hanging" pair names `slack`, so each of its outcomes is queued for the dead
 * receiver (and, once the queue is full, dropped and counted). Phases alternate none,
 * hanging, none, hanging (LATENCY_BENCH_SECONDS each, default 10) so drift of the shared
 * machine hits both alike; the figures pool the two rounds of each condition.
 * Target: hanging / none ≤ 1.1 for p50 and p99.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace } from '../e2e/support/cluster.js';
import { OperatorProcess, installCRDs } from '../e2e/support/operator.js';
import { CLUSTER, Talon } from '../e2e/support/talon.js';
import { applyRuleLoaded, inline } from '../e2e/support/alerts.js';
import { LABEL, PODS, RATE, SECONDS, WARMUP, createBenchPods, labelPhase, measured, operatorEnv, quantile, connectControlPlane, summary, type PhaseResult } from './latency.bench.js';

const ROUNDS = Number(process.env.NOTIFIER_BENCH_ROUNDS ?? 2);

/** A TCP server that accepts every connection, reads what comes, and never answers. */
async function hangingReceiver(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function notificationCounts(op: OperatorProcess): Promise<string> {
  const text = await op.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith('talon_notifications_total{notifier="slack"'))
    .map((l) => `${/result="([^"]+)"/.exec(l)?.[1]}=${l.slice(l.lastIndexOf(' ') + 1)}`)
    .join(' ');
}

async function main(): Promise<void> {
  const kc = await connectControlPlane('notifier latency bench');
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  console.log(`notifier latency bench: ${RATE} alerts/s, ${ROUNDS} rounds of (none, hanging slack) × ${SECONDS}s (+${WARMUP}s warm-up each), round-robin over ${PODS} pods`);
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`);

  const hang = await hangingReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'talon-bench-slack-'));
  const urlFile = join(dir, 'slack-url');
  writeFileSync(urlFile, `http://127.0.0.1:${hang.port}/services/T0/B0/BENCH\n`);
  await installCRDs(kc);
  const ns = await createNamespace(core, 'bench');
  let op: OperatorProcess | undefined;
  try {
    await createBenchPods(core, ns);

    op = await OperatorProcess.start({
      config: { safety: { destructiveActionsPerMinute: 1_000_000 }, queue: { concurrency: 64 }, notifiers: { slack: { type: 'slack', webhookUrlFile: urlFile } } },
      env: operatorEnv(),
    });
    const rules = {
      none: ['Bench label A', 'Bench label B'] as const,
      hanging: ['Bench slack label A', 'Bench slack label B'] as const,
    };
    for (const [cond, [a, b]] of Object.entries(rules)) {
      const notifiers = cond === 'hanging' ? ['slack'] : [];
      await applyRuleLoaded(kc, talon, CLUSTER, `bench-${cond}-a`, { match: { rules: [a] }, actions: [inline('mark', 'kubernetes:label', { labels: { [LABEL]: 'a' } })], notifiers }, 'cluster');
      await applyRuleLoaded(kc, talon, CLUSTER, `bench-${cond}-b`, { match: { rules: [b] }, actions: [inline('mark', 'kubernetes:label', { labels: { [LABEL]: 'b' } })], notifiers }, 'cluster');
    }

    const pooled: Record<'none' | 'hanging', PhaseResult[]> = { none: [], hanging: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      for (const cond of ['none', 'hanging'] as const) {
        const r = await measured(op, 'kubernetes:label', () => labelPhase(kc, op!, ns, rules[cond], `${cond} (round ${round})`));
        pooled[cond].push(r);
        console.log(`\n${r.name}: ${r.measured} measured, ${r.latencies.length} effects, ${r.missing} missing; operator CPU ${r.operator?.cpuSeconds.toFixed(1)} s`);
        console.log(`  alert → effect  ${summary(r.latencies)}`);
        console.log(`  POST answered   ${summary(r.postLatencies)}`);
        console.log(`  slack notifications so far: ${await notificationCounts(op)}; connections the dead receiver accepted: ${hang.connections()}`);
      }
    }
    const all = (cond: 'none' | 'hanging') => pooled[cond].flatMap((r) => r.latencies).sort((x, y) => x - y);
    const none = all('none');
    const hanging = all('hanging');
    console.log('\npooled alert → effect:');
    console.log(`  none     ${summary(none)}`);
    console.log(`  hanging  ${summary(hanging)}`);
    const ratio = (q: number) => (quantile(hanging, q) / quantile(none, q)).toFixed(3);
    console.log(`  ratio hanging/none: p50 ${ratio(0.5)}  p90 ${ratio(0.9)}  p99 ${ratio(0.99)}   (target ≤ 1.1)`);
    console.log(`  missing effects: none ${pooled.none.reduce((n, r) => n + r.missing, 0)}, hanging ${pooled.hanging.reduce((n, r) => n + r.missing, 0)}`);
  } finally {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
    await hang.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
