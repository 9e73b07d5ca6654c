/**
 * The floor of a lone outbound PATCH (operator.bench.ts §2): a child process that sends the
 * operator's own label PATCH (kube/raw.ts RawClient over the operator's keep-alive pool: a
 * merge patch, a metadata-only answer) one at a time at a given rate, and reports the CPU it
 * spent per PATCH. Nothing else runs in it, so what it spends is what node's TLS and HTTP
 * client cost for one request and its answer, each a lone wake-up, on this machine.
 *
 * Warmed first like the operator is (its code in V8's optimising tier): WARM requests eight
 * at a time, then a few seconds at the measured rate, not counted. It runs with the operator's
 * V8 flags (forked with them by the parent).
 *
 * Protocol: the parent sends `{ kubeconfig, namespace, pods, rates, seconds }` over IPC; the
 * child answers `{ floors: [{ rate, cpuMicrosPerPatch, failures }] }` and exits.
 */
import { apiPath, MERGE_PATCH, RawClient } from '../operator/src/kube/raw.js';
import { KeepAliveKubeConfig, authSourceOf } from '../operator/src/kube/transport.js';
import { openLoop } from './pacing.js';

export interface FloorRequest {
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly pods: readonly string[];
  readonly rates: readonly number[];
  readonly seconds: number;
}

export interface FloorAnswer {
  readonly floors: readonly { readonly rate: number; readonly cpuMicrosPerPatch: number; readonly failures: number }[];
}

/** Label the floor's PATCHes set (not the one the effect phases watch). */
const FLOOR_LABEL = 'bench-floor';
const WARM = 8_000;
const WARM_CONCURRENCY = 8;
const SETTLE_SECONDS = 3;

const cpuMicros = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function floors(req: FloorRequest): Promise<FloorAnswer> {
  const pooled = new KeepAliveKubeConfig();
  pooled.loadFromString(req.kubeconfig);
  const raw = new RawClient(authSourceOf(pooled));
  let n = 0;
  let failures = 0;
  const patch = (): Promise<void> => {
    const i = n++;
    const pod = req.pods[i % req.pods.length]!;
    return raw
      .request({ method: 'PATCH', path: apiPath('api', 'v1', 'namespaces', req.namespace, 'pods', pod), body: { metadata: { labels: { [FLOOR_LABEL]: String(Math.floor(i / req.pods.length) % 2) } } }, contentType: MERGE_PATCH, metadataOnly: true })
      .then(
        () => undefined,
        () => void failures++,
      );
  };
  const paced = (rate: number, seconds: number): Promise<void> => openLoop(rate, rate * seconds, patch);
  try {
    let started = 0;
    await Promise.all(
      Array.from({ length: WARM_CONCURRENCY }, async () => {
        while (started++ < WARM) await patch();
      }),
    );
    const out: { rate: number; cpuMicrosPerPatch: number; failures: number }[] = [];
    for (const rate of req.rates) {
      await paced(rate, SETTLE_SECONDS);
      failures = 0;
      const c0 = cpuMicros();
      await paced(rate, req.seconds);
      out.push({ rate, cpuMicrosPerPatch: (cpuMicros() - c0) / (rate * req.seconds), failures });
    }
    return { floors: out };
  } finally {
    pooled.destroyAgent();
  }
}

process.once('message', (m: FloorRequest) => {
  floors(m).then(
    (answer) => process.send!(answer, () => process.exit(0)),
    (err: unknown) => {
      console.error('patch floor failed:', err);
      process.exit(1);
    },
  );
});
