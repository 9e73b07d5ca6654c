/**
 * What active-active coordination costs (issue 13, docs/replicas.md), against a real
 * kube-apiserver, in one run:
 *   - Lease API calls per destructive action with two coordinated replicas, each alert posted
 *     to both (the operators' own talon_coordination_requests_total, by operation and answer,
 *     divided by the terminations they ran);
 *   - alert → effect latency of kubernetes:terminate with one uncoordinated replica vs two
 *     coordinated replicas: from just before the POST (to both, for the pair) until a watch
 *     delivers the pod's DELETED event. Blocks of alerts alternate between the two set-ups so
 *     that both see the same machine load; the first block of each is a warm-up.
 *
 *   npm run build && node dist/bench/replicas.bench.js
 *
 * Needs the local control plane (bash e2e/cluster/up.sh, kubeconfig at $TALON_E2E_DIR/kubeconfig).
 * Environment: REPLICAS_BENCH_ALERTS (measured alerts per set-up, default 200),
 * REPLICAS_BENCH_RATE (alerts/s, default 20), REPLICAS_BENCH_BLOCK (alerts per block, default 20).
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, podManifest } from '../e2e/support/cluster.js';
import { OperatorProcess, installCRDs } from '../e2e/support/operator.js';
import { CLUSTER, Talon } from '../e2e/support/talon.js';
import { applyRuleLoaded, inline, podAlert, postAccepted, watchPods } from '../e2e/support/alerts.js';
import { operatorEnv, connectControlPlane, summary } from './latency.bench.js';

const ALERTS = Number(process.env.REPLICAS_BENCH_ALERTS ?? 200);
const RATE = Number(process.env.REPLICAS_BENCH_RATE ?? 20);
const BLOCK = Number(process.env.REPLICAS_BENCH_BLOCK ?? 20);
const RULE = 'Bench replicas terminate';

type Mode = 'one replica' | 'two replicas';

/** Lease requests by `op answer`, from the talon_coordination_requests_total samples. */
function leaseCalls(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^talon_coordination_requests_total\{(.*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const op = /op="([^"]+)"/.exec(m[1]!)?.[1] ?? '?';
    const answer = /answer="([^"]+)"/.exec(m[1]!)?.[1] ?? '?';
    out.set(`${op} ${answer}`, (out.get(`${op} ${answer}`) ?? 0) + Number(m[2]));
  }
  return out;
}

function terminations(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('talon_actions_total{') && line.includes('actionner="kubernetes:terminate"')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

async function main(): Promise<void> {
  const kc = await connectControlPlane('replicas bench');
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  const blocks = Math.ceil(ALERTS / BLOCK) + 1; // + the warm-up block
  const perMode = blocks * BLOCK;
  console.log(`replicas bench: kubernetes:terminate, ${RATE} alerts/s, blocks of ${BLOCK} alternating between one replica and two coordinated replicas (each alert to both); ${ALERTS} measured alerts per set-up after a warm-up block`);
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`);

  await installCRDs(kc);
  const ns = await createNamespace(core, 'bench-replicas');
  const leaseNs = await createNamespace(core, 'bench-replicas-leases');
  const ops: OperatorProcess[] = [];
  try {
    const names = (mode: Mode) => Array.from({ length: perMode }, (_, i) => `${mode === 'one replica' ? 'one' : 'two'}-${String(i).padStart(4, '0')}`);
    const all = [...names('one replica'), ...names('two replicas')];
    for (const [i, name] of all.entries()) await core.createNamespacedPod({ namespace: ns, body: podManifest(name, { node: i % 2 === 0 ? 'kwok-node-0' : 'kwok-node-1', labels: { app: name, bench: 'replicas' } }) });
    await eventually(`${all.length} pods Running`, async () => {
      const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'bench=replicas' });
      return pods.items.filter((p) => p.status?.phase === 'Running').length === all.length;
    }, 300_000, 1000);

    const base = { safety: { destructiveActionsPerMinute: 10_000 }, queue: { concurrency: 64 } };
    const coordinated = { ...base, coordination: { enabled: true, namespace: leaseNs } };
    const starts = await Promise.allSettled([
      OperatorProcess.start({ config: base, env: { ...operatorEnv(), POD_NAME: 'bench-one' } }),
      OperatorProcess.start({ config: coordinated, env: { ...operatorEnv(), POD_NAME: 'bench-two-a' } }),
      OperatorProcess.start({ config: coordinated, env: { ...operatorEnv(), POD_NAME: 'bench-two-b' } }),
    ]);
    for (const s of starts) if (s.status === 'fulfilled') ops.push(s.value);
    const failed = starts.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const [one, a, b] = ops;
    await applyRuleLoaded(kc, talon, CLUSTER, 'bench-replicas-terminate', { match: { rules: [RULE] }, actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0, ignoreStandalonePods: false })] }, 'cluster');

    const sent = new Map<string, { at: number; mode: Mode; measured: boolean }>();
    const latencies: Record<Mode, number[]> = { 'one replica': [], 'two replicas': [] };
    let unexpected = 0;
    const watch = await watchPods(kc, ns, 'bench=replicas', (type, pod, at) => {
      if (type !== 'DELETED') return;
      const s = sent.get(pod.metadata?.name ?? '');
      if (s === undefined) {
        unexpected++;
        return;
      }
      sent.delete(pod.metadata!.name!);
      if (s.measured) latencies[s.mode].push(at - s.at);
    });
    const before = { calls: leaseCalls((await a!.metrics()) + (await b!.metrics())), pairActions: terminations((await a!.metrics()) + (await b!.metrics())) };
    try {
      const next: Record<Mode, number> = { 'one replica': 0, 'two replicas': 0 };
      const interval = 1000 / RATE;
      let due = performance.now();
      const posts: Promise<unknown>[] = [];
      for (let block = 0; block < 2 * blocks; block++) {
        const mode: Mode = block % 2 === 0 ? 'one replica' : 'two replicas';
        const measured = block >= 2;
        for (let k = 0; k < BLOCK; k++) {
          due += interval;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const pod = names(mode)[next[mode]++]!;
          const alert = podAlert({ rule: RULE, namespace: ns, pod });
          sent.set(pod, { at: performance.now(), mode, measured });
          posts.push(mode === 'one replica' ? postAccepted(one!, alert) : Promise.all([postAccepted(a!, alert), postAccepted(b!, alert)]));
        }
      }
      await Promise.all(posts);
      await eventually('every pod deleted', () => sent.size === 0, 60_000, 50).catch(() => undefined);
    } finally {
      watch.stop();
    }
    const pairText = (await a!.metrics()) + (await b!.metrics());
    const pairActions = terminations(pairText) - before.pairActions;
    const calls = leaseCalls(pairText);
    const oneCalls = [...leaseCalls(await one!.metrics()).values()].reduce((x, y) => x + y, 0);

    console.log('\nalert → effect (pod DELETED seen by a watch), kubernetes:terminate:');
    for (const mode of ['one replica', 'two replicas'] as const) console.log(`  ${mode.padEnd(13)} ${summary(latencies[mode])}`);
    const p50 = (v: number[]) => [...v].sort((x, y) => x - y)[Math.ceil(v.length / 2) - 1] ?? NaN;
    console.log(`  ratio two/one at p50: ${(p50(latencies['two replicas']) / p50(latencies['one replica'])).toFixed(2)}`);
    console.log(`\nLease calls of the two replicas over ${pairActions} terminations (each alert posted to both; budget slots and sweeps included):`);
    let total = 0;
    for (const [k, v] of [...calls].sort()) {
      const d = v - (before.calls.get(k) ?? 0);
      if (d === 0) continue;
      total += d;
      console.log(`  ${k.padEnd(18)} ${String(d).padStart(6)}   ${(d / pairActions).toFixed(2)} per action`);
    }
    console.log(`  ${'total'.padEnd(18)} ${String(total).padStart(6)}   ${(total / pairActions).toFixed(2)} per action`);
    console.log(`one replica (coordination off): ${oneCalls} Lease calls`);
    if (unexpected > 0 || sent.size > 0) console.log(`(${unexpected} deletions not caused by an alert; ${sent.size} alerts without an effect)`);
  } finally {
    await Promise.all(ops.map((op) => op.stop()));
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
    await deleteNamespace(core, leaseNs);
  }
}

await main();
