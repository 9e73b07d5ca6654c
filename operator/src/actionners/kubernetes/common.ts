/**
 * Shared pieces of the Kubernetes actionners: request options (abort signal, patch content
 * type), error mapping onto results, owner/replica guards, the resolved target's pod, and the
 * delete calls of the resources `kubernetes:delete` supports (their kinds and scopes are in
 * falco/target.ts `AUDIT_RESOURCES`).
 */
import type {
  ConfigurationOptions,
  KubernetesObject,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
  V1OwnerReference,
  V1Pod,
} from '@kubernetes/client-node';
import { Observable, PatchStrategy } from '../../kube/client-node-lite.js';
import { REQUEST_SIGNAL } from '../../kube/raw.js';
import { fromKubeError } from '../../errors.js';
import { failed, type ActionResult, type KubeClients, type ObjectRef, type OutcomeReason, type ResolvedTarget } from '../types.js';
import type { PodObject } from '../../falco/target.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'talon-operator';
export const RULE_LABEL = 'talon.dev/rule';
export const QUARANTINE_LABEL = 'talon.dev/quarantine';
export const EXPIRES_AT_ANNOTATION = 'talon.dev/expires-at';
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/**
 * Per-request options: `signal` aborts the HTTP call; `contentType` sets the patch type
 * (client-node 1.x otherwise sends `application/json-patch+json`).
 */
export function requestOptions(signal?: AbortSignal, contentType?: PatchStrategy): ConfigurationOptions {
  const middleware: ObservableMiddleware[] = [];
  if (signal !== undefined || contentType !== undefined) {
    middleware.push({
      pre: (ctx: RequestContext) => {
        if (signal !== undefined) ctx.setSignal(signal);
        if (contentType !== undefined) ctx.setHeaderParam('Content-Type', contentType);
        return new Observable(Promise.resolve(ctx));
      },
      post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
    });
  }
  const options: ConfigurationOptions & { [REQUEST_SIGNAL]?: AbortSignal } = { middleware, middlewareMergeStrategy: 'append' };
  if (signal !== undefined) options[REQUEST_SIGNAL] = signal;
  return options;
}

export const mergePatch = (signal?: AbortSignal): ConfigurationOptions => requestOptions(signal, PatchStrategy.MergePatch);

/** HTTP status of a client error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  return fromKubeError(err).status;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;

/**
 * A failure result for an API error while `doing` something: 409, 429, 5xx and transient
 * network errors are retryable; a 403 names the missing permission.
 */
export function apiFailure(doing: string, err: unknown): ActionResult {
  const e = fromKubeError(err);
  return failed(e.code, `${doing}: ${e.message}`, e.retryable);
}

/** The controller owner reference of an object, else its first owner reference. */
export function ownerOf(obj: KubernetesObject): V1OwnerReference | undefined {
  const refs = obj.metadata?.ownerReferences ?? [];
  return refs.find((r) => r.controller === true) ?? refs[0];
}

export function isMirrorPod(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined;
}

export function isPodReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** A reference to a stored object, with its uid when known (Events need it). */
export function refOf(apiVersion: string, kind: string, obj: KubernetesObject | undefined, fallback: { namespace?: string; name: string }): ObjectRef {
  const uid = obj?.metadata?.uid;
  const namespace = obj?.metadata?.namespace ?? fallback.namespace;
  return {
    apiVersion,
    kind,
    name: obj?.metadata?.name ?? fallback.name,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(uid !== undefined ? { uid } : {}),
  } as ObjectRef;
}

export const podRef = (pod: V1Pod | undefined, namespace: string, name: string): ObjectRef => refOf('v1', 'Pod', pod, { namespace, name });

/** `minHealthyReplicas`: an absolute count ("2") or a percentage of the desired replicas ("50%"). */
export const MIN_HEALTHY_PATTERN = '^(0|[1-9][0-9]*|([0-9]|[1-9][0-9]|100)%)$';

/** Replicas that must stay ready: the count, or the percentage of `desired` rounded up. */
export function requiredReplicas(spec: string, desired: number): number {
  if (spec.endsWith('%')) return Math.ceil((Number(spec.slice(0, -1)) * desired) / 100);
  return Number(spec);
}

export interface ReplicaCounts {
  readonly kind: string;
  readonly name: string;
  readonly desired: number;
  readonly ready: number;
}

/**
 * The desired and ready replicas of the workload owning a pod: the Deployment above its
 * ReplicaSet when there is one, else the ReplicaSet, StatefulSet or DaemonSet itself.
 * Undefined for standalone pods and other owner kinds. Throws API errors (404 included).
 */
export async function workloadReplicas(kube: KubeClients, pod: V1Pod, signal: AbortSignal): Promise<ReplicaCounts | undefined> {
  const owner = ownerOf(pod);
  const namespace = pod.metadata?.namespace ?? '';
  const opts = requestOptions(signal);
  if (owner === undefined) return undefined;
  switch (owner.kind) {
    case 'ReplicaSet': {
      const rs = await kube.apps.readNamespacedReplicaSet({ name: owner.name, namespace }, opts);
      const dep = ownerOf(rs);
      if (dep?.kind === 'Deployment') {
        const d = await kube.apps.readNamespacedDeployment({ name: dep.name, namespace }, opts);
        return { kind: 'Deployment', name: dep.name, desired: d.spec?.replicas ?? 1, ready: d.status?.readyReplicas ?? 0 };
      }
      return { kind: 'ReplicaSet', name: owner.name, desired: rs.spec?.replicas ?? 1, ready: rs.status?.readyReplicas ?? 0 };
    }
    case 'StatefulSet': {
      const s = await kube.apps.readNamespacedStatefulSet({ name: owner.name, namespace }, opts);
      return { kind: 'StatefulSet', name: owner.name, desired: s.spec?.replicas ?? 1, ready: s.status?.readyReplicas ?? 0 };
    }
    case 'DaemonSet': {
      const d = await kube.apps.readNamespacedDaemonSet({ name: owner.name, namespace }, opts);
      return { kind: 'DaemonSet', name: owner.name, desired: d.status?.desiredNumberScheduled ?? 0, ready: d.status?.numberReady ?? 0 };
    }
    default:
      return undefined;
  }
}

/**
 * The minHealthyReplicas guard: a reason to spare the pod, or undefined to go ahead. The pod
 * about to go counts as already gone when it is ready: spare it if ready − 1 < required.
 */
export async function minHealthyGuard(kube: KubeClients, pod: V1Pod, spec: string, signal: AbortSignal): Promise<string | undefined> {
  const w = await workloadReplicas(kube, pod, signal);
  if (w === undefined) return undefined;
  const required = requiredReplicas(spec, w.desired);
  const remaining = w.ready - (isPodReady(pod) ? 1 : 0);
  if (remaining >= required) return undefined;
  return `${w.kind} '${w.name}' would have ${remaining} ready of ${w.desired} desired replicas, below minHealthyReplicas ${spec} (${required})`;
}

/** A pod's owner class for the ignore* guards. */
export type PodClass = 'DaemonSet' | 'StatefulSet' | 'Standalone' | 'Other';

export function classifyPod(pod: V1Pod): PodClass {
  const owner = ownerOf(pod);
  if (owner === undefined) return 'Standalone';
  if (owner.kind === 'DaemonSet') return 'DaemonSet';
  if (owner.kind === 'StatefulSet') return 'StatefulSet';
  return 'Other';
}

export interface IgnoreFlags {
  readonly ignoreDaemonSets: boolean;
  readonly ignoreStatefulSets: boolean;
  readonly ignoreStandalonePods: boolean;
}

/** The skip reason when an ignore* flag spares the pod, else undefined. */
export function ignoredBy(pod: V1Pod, flags: IgnoreFlags): { reason: OutcomeReason; what: string } | undefined {
  const c = classifyPod(pod);
  if (c === 'DaemonSet' && flags.ignoreDaemonSets) return { reason: 'IgnoredDaemonSet', what: 'it belongs to a DaemonSet and ignoreDaemonSets is set' };
  if (c === 'StatefulSet' && flags.ignoreStatefulSets) return { reason: 'IgnoredStatefulSet', what: 'it belongs to a StatefulSet and ignoreStatefulSets is set' };
  if (c === 'Standalone' && flags.ignoreStandalonePods) return { reason: 'IgnoredStandalonePod', what: 'it has no owner and ignoreStandalonePods is set' };
  return undefined;
}

/** How `kubernetes:delete` deletes one audited resource (`namespace` is '' for cluster-scoped kinds). */
export type Deleter = (kube: KubeClients, namespace: string, name: string, signal: AbortSignal) => Promise<unknown>;

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/**
 * The audited resources (`ka.target.resource`) that `kubernetes:delete` supports, Talon's set
 * plus services and serviceaccounts; each is also in falco/target.ts `AUDIT_RESOURCES`, which
 * gives its kind and scope (a unit test keeps the two in step).
 */
export const DELETABLE_RESOURCES: ReadonlyMap<string, Deleter> = new Map<string, Deleter>([
  ['namespaces', (k, _ns, name, s) => k.core.deleteNamespace({ name }, requestOptions(s))],
  ['configmaps', (k, namespace, name, s) => k.core.deleteNamespacedConfigMap({ name, namespace }, requestOptions(s))],
  ['secrets', (k, namespace, name, s) => k.core.deleteNamespacedSecret({ name, namespace }, requestOptions(s))],
  ['services', (k, namespace, name, s) => k.core.deleteNamespacedService({ name, namespace }, requestOptions(s))],
  ['serviceaccounts', (k, namespace, name, s) => k.core.deleteNamespacedServiceAccount({ name, namespace }, requestOptions(s))],
  ['deployments', (k, namespace, name, s) => k.apps.deleteNamespacedDeployment({ name, namespace }, requestOptions(s))],
  ['daemonsets', (k, namespace, name, s) => k.apps.deleteNamespacedDaemonSet({ name, namespace }, requestOptions(s))],
  ['statefulsets', (k, namespace, name, s) => k.apps.deleteNamespacedStatefulSet({ name, namespace }, requestOptions(s))],
  ['replicasets', (k, namespace, name, s) => k.apps.deleteNamespacedReplicaSet({ name, namespace }, requestOptions(s))],
  ['roles', (k, namespace, name, s) => k.custom.deleteNamespacedCustomObject({ group: RBAC_GROUP, version: 'v1', plural: 'roles', namespace, name }, requestOptions(s))],
  ['clusterroles', (k, _ns, name, s) => k.custom.deleteClusterCustomObject({ group: RBAC_GROUP, version: 'v1', plural: 'clusterroles', name }, requestOptions(s))],
]);

/** A Kubernetes object name: `prefix` + `name`, cut to 253 characters with a stable hash suffix when too long. */
export function boundedName(prefix: string, name: string, max = 253): string {
  const full = `${prefix}${name}`;
  if (full.length <= max) return full;
  let h = 2166136261;
  for (let i = 0; i < full.length; i++) h = Math.imul(h ^ full.charCodeAt(i), 16777619) >>> 0;
  const suffix = `-${h.toString(16).padStart(8, '0')}`;
  return `${full.slice(0, max - suffix.length).replace(/[-.]+$/, '')}${suffix}`;
}

/**
 * The pod of a `pod` target. The dispatcher hands each actionner the subject its use declares,
 * so another subject is a programming error: it throws (and the dispatcher records a failure).
 */
export function podTarget(target: ResolvedTarget): PodObject {
  if (target.subject !== 'pod') throw new Error(`expected a pod target, got a ${target.subject} target`);
  return target.object;
}
