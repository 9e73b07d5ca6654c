/**
 * kubernetes:drain — cordon the alert's node (its pod's node, else Falco's hostname), then
 * evict its pods through the policy/v1 Eviction API so PodDisruptionBudgets are respected
 * (talon-compat §4; unlike Talon it cordons first, so evicted pods do not land back on the
 * node).
 *
 * Never evicted: mirror (static) pods, the operator's own pod, pods in protected namespaces,
 * pods already terminating or completed; DaemonSet/StatefulSet/standalone pods per the
 * ignore* flags; pods whose workload would drop below minHealthyReplicas (counting the pods
 * this drain evicts). An eviction refused by a PDB (429) or a transient error is retried with
 * backoff until `maxWaitSeconds` has passed; pods still not evicted then make the result a
 * failure naming them.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { V1Pod } from '@kubernetes/client-node';
import { fromKubeError } from '../../errors.js';
import { Backoff } from '../../lib/backoff.js';
import { failed, ok, type Actionner, type ActionContext, type ObjectRef } from '../types.js';
import {
  apiFailure,
  ignoredBy,
  isMirrorPod,
  isNotFound,
  isPodReady,
  MIN_HEALTHY_PATTERN,
  podRef,
  requestOptions,
  requiredReplicas,
  workloadReplicas,
  type ReplicaCounts,
} from './common.js';
import { sleep } from '../../lib/sleep.js';
import { cordonNode, nodeOfTarget } from './cordon.js';

export const DrainParams = Type.Object(
  {
    ignoreDaemonSets: Type.Boolean({ default: true, description: 'Do not evict pods owned by a DaemonSet.' }),
    ignoreStatefulSets: Type.Boolean({ default: false, description: 'Do not evict pods owned by a StatefulSet.' }),
    ignoreStandalonePods: Type.Boolean({ default: false, description: 'Do not evict pods without an owner (they are not recreated elsewhere).' }),
    minHealthyReplicas: Type.Optional(
      Type.String({ pattern: MIN_HEALTHY_PATTERN, description: 'Ready replicas each workload must keep: a count ("2") or a percentage of its desired replicas ("50%", rounded up).' }),
    ),
    maxWaitSeconds: Type.Integer({
      minimum: 0,
      maximum: 3600,
      default: 30,
      description: 'How long evictions refused by a PodDisruptionBudget are retried; 0 tries once. Bounded by the action timeout.',
    }),
  },
  { additionalProperties: false },
);
export type DrainParams = Static<typeof DrainParams>;

const EVICTION_CONCURRENCY = 4;

interface Skip {
  readonly pod: string;
  readonly why: string;
}

function podKey(p: V1Pod): string {
  return `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
}

/** Why the pod stays on the node, or undefined when it is to be evicted (minHealthyReplicas aside). */
function staysBecause(pod: V1Pod, ctx: ActionContext<DrainParams>): string | undefined {
  const ns = pod.metadata?.namespace ?? '';
  if (isMirrorPod(pod)) return 'mirror pod';
  if (ctx.identity.podName !== undefined && pod.metadata?.name === ctx.identity.podName && ns === (ctx.identity.podNamespace ?? ns)) return 'the operator itself';
  if (ctx.identity.protectedNamespaces.has(ns)) return 'protected namespace';
  if (pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) return 'already terminating';
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return 'completed';
  const ignored = ignoredBy(pod, ctx.params);
  if (ignored) return ignored.reason;
  return undefined;
}

/** Picks the pods to evict: guards, then minHealthyReplicas with the evictions of this drain counted. */
async function selectPods(pods: readonly V1Pod[], ctx: ActionContext<DrainParams>): Promise<{ evict: V1Pod[]; skips: Skip[] }> {
  const evict: V1Pod[] = [];
  const skips: Skip[] = [];
  const workloads = new Map<string, { counts: ReplicaCounts | undefined; ready: number }>();
  for (const pod of pods) {
    const why = staysBecause(pod, ctx);
    if (why !== undefined) {
      skips.push({ pod: podKey(pod), why });
      continue;
    }
    const spec = ctx.params.minHealthyReplicas;
    if (spec !== undefined) {
      const ownerUid = pod.metadata?.ownerReferences?.[0]?.uid ?? podKey(pod);
      let w = workloads.get(ownerUid);
      if (w === undefined) {
        const counts = await workloadReplicas(ctx.kube, pod, ctx.signal);
        w = { counts, ready: counts?.ready ?? 0 };
        workloads.set(ownerUid, w);
      }
      if (w.counts !== undefined) {
        const remaining = w.ready - (isPodReady(pod) ? 1 : 0);
        if (remaining < requiredReplicas(spec, w.counts.desired)) {
          skips.push({ pod: podKey(pod), why: `minHealthyReplicas of ${w.counts.kind} '${w.counts.name}'` });
          continue;
        }
        w.ready = remaining;
      }
    }
    evict.push(pod);
  }
  return { evict, skips };
}

type EvictionResult = { ok: true; gone: boolean } | { ok: false; why: string };

async function evictWithRetry(pod: V1Pod, ctx: ActionContext<DrainParams>, deadline: number): Promise<EvictionResult> {
  const name = pod.metadata?.name ?? '';
  const namespace = pod.metadata?.namespace ?? '';
  const backoff = new Backoff({ initialMs: 500, maxMs: 5000, minMs: 100 });
  for (;;) {
    try {
      await ctx.kube.core.createNamespacedPodEviction(
        { name, namespace, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } } },
        requestOptions(ctx.signal),
      );
      return { ok: true, gone: false };
    } catch (err) {
      if (isNotFound(err)) return { ok: true, gone: true };
      const e = fromKubeError(err);
      const why = e.status === 429 ? `disruption budget: ${e.message}` : `${e.code}: ${e.message}`;
      if (!e.retryable) return { ok: false, why };
      const left = deadline - Date.now();
      if (left <= 0) return { ok: false, why };
      await sleep(Math.min(left, Math.max(backoff.next(), e.retryAfterMs ?? 0)), ctx.signal);
    }
  }
}

export const drainActionner: Actionner<DrainParams> = {
  info: {
    name: 'kubernetes:drain',
    description: "Cordon the node of the alert's pod (or the alert's hostname) and evict its pods, respecting PodDisruptionBudgets",
    requiredFields: [],
    defaultContinue: true,
    destructive: true,
    target: 'node',
    output: 'none',
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
      { apiGroups: ['apps'], resources: ['replicasets', 'deployments', 'statefulsets', 'daemonsets'], verbs: ['get'] },
    ],
    example: { ignoreDaemonSets: true, ignoreStatefulSets: false, minHealthyReplicas: '50%', maxWaitSeconds: 60 },
  },
  paramsSchema: DrainParams,

  precheck() {
    return { ok: true };
  },

  async run(ctx) {
    const lookup = await nodeOfTarget(ctx.kube, ctx.target, ctx.signal);
    if (!lookup.ok) return lookup.result;
    const node = lookup.node;
    const deadline = Date.now() + ctx.params.maxWaitSeconds * 1000;

    let nodeRef: ObjectRef;
    try {
      nodeRef = (await cordonNode(ctx.kube, node, ctx.signal)).ref;
    } catch (err) {
      return apiFailure(`cordoning the node '${node}'`, err);
    }

    let pods: V1Pod[];
    let selection: { evict: V1Pod[]; skips: Skip[] };
    try {
      pods = (await ctx.kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` }, requestOptions(ctx.signal))).items;
      selection = await selectPods(pods, ctx);
    } catch (err) {
      return apiFailure(`listing the pods of the node '${node}'`, err);
    }

    const results = new Map<V1Pod, EvictionResult>();
    const todo = [...selection.evict];
    const worker = async (): Promise<void> => {
      for (let pod = todo.shift(); pod !== undefined; pod = todo.shift()) results.set(pod, await evictWithRetry(pod, ctx, deadline));
    };
    await Promise.all(Array.from({ length: Math.min(EVICTION_CONCURRENCY, todo.length) }, worker));

    const evicted: ObjectRef[] = [];
    const blocked: string[] = [];
    for (const pod of selection.evict) {
      const r = results.get(pod);
      if (r?.ok) evicted.push(podRef(pod, pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''));
      else blocked.push(`${podKey(pod)} (${r?.why ?? 'not attempted'})`);
    }
    const kept = selection.skips.length === 0 ? '' : `; left in place: ${selection.skips.map((s) => `${s.pod} (${s.why})`).join(', ')}`;
    const alertPod = lookup.pod;
    const alertPodEvicted = alertPod !== undefined && evicted.some((o) => o.name === alertPod.name && o.namespace === alertPod.namespace);
    const objects = [nodeRef, ...evicted, ...(alertPod === undefined || alertPodEvicted ? [] : [alertPod])];
    if (blocked.length > 0) {
      return {
        ...failed('EvictionIncomplete', `the node '${node}' is cordoned; evicted ${evicted.length} of ${selection.evict.length} pods; could not evict: ${blocked.join(', ')}${kept}`),
        objects,
      };
    }
    return ok('Drained', `the node '${node}' is cordoned and drained: evicted ${evicted.length} pods${kept}`, objects);
  },
};
