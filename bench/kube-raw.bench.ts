/**
 * The operator's client CPU per API call on the label effect's path, typed vs raw, against the
 * local control plane: the label merge PATCH of a pod (client-node's CoreV1Api vs kube/raw.ts
 * asking for PartialObjectMetadata) and an Event create (EventsV1Api vs rawEventsPort). Both
 * use the operator's own KeepAliveKubeConfig (pooled keep-alive connection, auth material
 * cached), so the difference is the typed (de)serialisation alone. CPU is this process's
 * user+system time over the calls (the API server runs in other processes), so the figure
 * holds on a loaded machine better than latencies do; compare the two rows of one run.
 *
 *   make cluster-up && make build && node --expose-gc dist/bench/kube-raw.bench.js
 *
 * KUBE_RAW_BENCH_CALLS (default 2000 per row), KUBE_RAW_BENCH_CONCURRENCY (default 8).
 */
import { cpus, loadavg } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, e2eKubeconfigPath, podManifest } from '../e2e/support/cluster.js';
import { loadKubeConfig, makeClients } from '../operator/src/kube/client.js';
import { rawEventsPort, type EventBody } from '../operator/src/kube/event-recorder.js';
import { MERGE_PATCH, apiPath } from '../operator/src/kube/raw.js';

const CALLS = Number(process.env.KUBE_RAW_BENCH_CALLS ?? 2000);
const CONCURRENCY = Number(process.env.KUBE_RAW_BENCH_CONCURRENCY ?? 8);

/** µs of this process's CPU per call of `call(i)`, CONCURRENCY at a time. */
async function cpuPerCall(call: (i: number) => Promise<unknown>): Promise<{ us: number; user: number; ms: number }> {
  for (let i = 0; i < 50; i++) await call(i); // warm-up: JIT, connection
  let next = 0;
  const start = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CALLS) await call(next++);
    }),
  );
  const d = process.cpuUsage(start);
  return { us: (d.user + d.system) / CALLS, user: d.user / CALLS, ms: performance.now() - t0 };
}

async function main(): Promise<void> {
  const kc = loadKubeConfig({ kubeconfig: e2eKubeconfigPath() });
  const clients = makeClients(kc);
  console.log(`kube-raw bench: ${CALLS} calls per row, ${CONCURRENCY} in flight; client CPU (user+system) per call`);
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}\n`);
  const ns = await createNamespace(clients.core, 'kube-raw');
  try {
    const pods = Array.from({ length: CONCURRENCY }, (_, i) => `p-${i}`);
    for (const name of pods) await clients.core.createNamespacedPod({ namespace: ns, body: podManifest(name, { labels: { app: name } }) });
    const label = (i: number) => ({ metadata: { labels: { 'talon.dev/bench': i % 2 === 0 ? 'a' : 'b' } } });
    const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const event = (i: number): EventBody => ({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `kube-raw.${process.pid}.${i}.${Math.random().toString(16).slice(2, 8)}`, namespace: ns },
      eventTime: new Date().toISOString().replace('Z', '000Z'),
      reportingController: 'talon.dev/operator',
      reportingInstance: 'bench',
      action: 'kubernetes:label',
      reason: 'Succeeded',
      note: `the pod 'p-${i % CONCURRENCY}' in the namespace '${ns}' has been labeled`,
      type: 'Normal',
      regarding: { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: `p-${i % CONCURRENCY}` },
    });
    const port = rawEventsPort(clients.raw);
    const rows: [string, (i: number) => Promise<unknown>][] = [
      ['pod label PATCH, typed (CoreV1Api)', (i) => clients.core.patchNamespacedPod({ namespace: ns, name: pods[i % CONCURRENCY] as string, body: label(i) }, mergePatch)],
      ['pod label PATCH, raw (whole pod parsed)', (i) => clients.raw.request({ method: 'PATCH', path: apiPath('api', 'v1', 'namespaces', ns, 'pods', pods[i % CONCURRENCY] as string), body: label(i), contentType: MERGE_PATCH })],
      ['pod label PATCH, raw (metadata only)', (i) => clients.raw.request({ method: 'PATCH', path: apiPath('api', 'v1', 'namespaces', ns, 'pods', pods[i % CONCURRENCY] as string), body: label(i), contentType: MERGE_PATCH, metadataOnly: true })],
      ['Event create, typed (EventsV1Api)', (i) => clients.events.createNamespacedEvent({ namespace: ns, body: event(i) as never })],
      ['Event create, raw (answer not parsed)', (i) => port.create(ns, event(i + 1_000_000))],
    ];
    console.log('| call | µs client CPU per call | of which user | calls/s |');
    console.log('|---|---:|---:|---:|');
    for (const [name, call] of rows) {
      // The typed rows leave garbage behind; collect it so the next row does not pay for it.
      (globalThis as { gc?: () => void }).gc?.();
      const r = await cpuPerCall(call);
      console.log(`| ${name} | ${r.us.toFixed(0)} | ${r.user.toFixed(0)} | ${((CALLS / r.ms) * 1000).toFixed(0)} |`);
    }
  } finally {
    await deleteNamespace(clients.core, ns);
    kc.destroyAgent();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
