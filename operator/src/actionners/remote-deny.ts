/**
 * Shared pieces of the CNI policy actionners (calico:networkpolicy, cilium:networkpolicy): deny
 * egress from the alert's pod, and only that pod, to the alert's remote IP.
 *
 * - The IP is `fd.rip`, else `fd.sip`, validated with node:net `isIP`; IPv4 becomes a /32 and
 *   IPv6 a /128 (Talon used /32 for both, which Calico rejects for IPv6).
 * - The pod is selected through the quarantine label `talon.dev/quarantine=<pod uid>` that
 *   kubernetes:networkpolicy also uses (`labelForQuarantine`), never through the owner's labels.
 * - One policy object per pod and kind, named `talon-deny-<pod>`; a later alert for the same pod
 *   MERGES its CIDR into the denied set (sorted, no duplicates; same IP again = unchanged).
 * - The object is labelled as ours (managed-by, rule), owned by the pod (garbage-collected with
 *   it) and, with `ttl`, annotated `talon.dev/expires-at` for the one expiry sweeper
 *   (`customPolicyExpiry`). A later alert with a ttl pushes the expiry out, never in.
 * - The object is written through the CustomObjectsApi; a 409 (a concurrent writer) is a
 *   retryable failure and the retry merges again.
 */
import { isIP } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { fieldText, type FalcoEvent } from '../falco/event.js';
import { checkDuration, DURATION_PATTERN, parseDuration } from '../lib/duration.js';
import type { ExpiryHandler } from './expiry.js';
import { MADE_BY_ANNOTATION, madeByAnnotation, madeByOf } from './revert.js';
import { ok, skipped, type ActionContext, type ActionResult, type KubeClients, type PrecheckResult } from './types.js';
import {
  apiFailure,
  boundedName,
  EXPIRES_AT_ANNOTATION,
  isNotFound,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  podRef,
  podTarget,
  refOf,
  requestOptions,
  statusOf,
} from './kubernetes/common.js';
import { managedMetadata } from './kubernetes/managed.js';
import { isCIDR, labelForQuarantine, omit, quarantineValue } from './kubernetes/networkpolicy.js';
import { labelValue } from '../lib/clip.js';

/** Parameters common to both CNI policy actionners. */
export const remoteDenyFields = {
  allowCIDRs: Type.Array(Type.String({ minLength: 1 }), {
    default: [],
    description: 'Restrict the pod\'s egress to these CIDRs (plus DNS and allowNamespaces). Empty with empty allowNamespaces: everything but the denied IPs stays allowed.',
  }),
  allowNamespaces: Type.Array(Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }), {
    default: [],
    description: 'Restrict the pod\'s egress to pods of these namespaces (plus DNS and allowCIDRs).',
  }),
  ttl: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'Remove the policy after this long (e.g. "1h"); absent: keep it until the pod goes.' })),
};

export interface RemoteDenyParams {
  readonly allowCIDRs: readonly string[];
  readonly allowNamespaces: readonly string[];
  readonly ttl?: string;
}

/** A custom resource kind as the CustomObjectsApi addresses it. */
export interface CustomKind {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
}

export const apiVersionOf = (k: CustomKind): string => `${k.group}/${k.version}`;

/** The CIDR of the alert's remote IP (`fd.rip`, else `fd.sip`): /32 for IPv4, /128 for IPv6; undefined when neither is an IP. */
export function remoteCIDR(ev: FalcoEvent): string | undefined {
  for (const key of ['fd.rip', 'fd.sip']) {
    const ip = fieldText(ev, key);
    if (ip === undefined) continue;
    const family = isIP(ip);
    if (family === 4) return `${ip}/32`;
    if (family === 6) return `${ip}/128`;
  }
  return undefined;
}

/** Checks of the alert and parameters shared by both actionners. */
export function precheckRemoteDeny(ev: FalcoEvent, params: RemoteDenyParams): PrecheckResult {
  if (remoteCIDR(ev) === undefined) {
    const shown = fieldText(ev, 'fd.rip') ?? fieldText(ev, 'fd.sip') ?? '';
    return { ok: false, reason: 'InvalidRemoteIP', message: `neither fd.rip nor fd.sip is an IP address ('${shown.slice(0, 64)}')` };
  }
  const bad = params.allowCIDRs.find((c) => !isCIDR(c));
  if (bad !== undefined) return { ok: false, reason: 'InvalidParameters', message: `allowCIDRs: '${bad}' is not a CIDR block` };
  const ttl = params.ttl === undefined ? undefined : checkDuration(params.ttl);
  if (ttl !== undefined && !ttl.ok) return { ok: false, reason: 'InvalidParameters', message: `ttl: ${ttl.error}` };
  return { ok: true };
}

export const denyPolicyName = (pod: string): string => boundedName('talon-deny-', pod);

/** The union of two CIDR lists, sorted, without duplicates. */
export function mergeCIDRs(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

/**
 * The expiry of a policy written now: the later of the existing one and now + ttl (a duration
 * text, or ms: the action's revertAfter); none without ttl.
 */
export function nextExpiry(existing: string | undefined, ttl: string | number | undefined, now: number): string | undefined {
  if (ttl === undefined) return undefined;
  const wanted = now + (typeof ttl === 'number' ? ttl : (parseDuration(ttl) ?? 0));
  const had = Date.parse(existing ?? '');
  return new Date(Number.isNaN(had) ? wanted : Math.max(had, wanted)).toISOString();
}

/** The metadata every CNI policy object carries; `madeBy` names the rule and action for the outcome of its removal. */
export function policyMetadata(name: string, pod: V1Pod, ruleName: string, expiresAt: string | undefined, madeBy?: string): KubernetesObject['metadata'] {
  const annotations = {
    ...(expiresAt !== undefined ? { [EXPIRES_AT_ANNOTATION]: expiresAt } : {}),
    ...(madeBy !== undefined ? { [MADE_BY_ANNOTATION]: madeBy } : {}),
  };
  return managedMetadata({
    name,
    namespace: pod.metadata?.namespace ?? '',
    ruleName,
    owner: pod,
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  });
}

/** How one CNI actionner builds its object and reads back what it denies. */
export interface RemoteDenyKind<P extends RemoteDenyParams> {
  /** The kind to write for this run (Calico: v1 CRD or v3 API server). */
  resolve(kube: KubeClients, signal: AbortSignal): Promise<CustomKind>;
  /** The whole object for `pod`, denying `denied` (sorted, deduplicated). */
  build(kind: CustomKind, pod: V1Pod, quarantine: string, denied: readonly string[], params: P, metadata: KubernetesObject['metadata']): KubernetesObject & { spec: unknown };
  /** The object's name for the pod (default `denyPolicyName(pod)`). */
  nameOf?(kind: CustomKind, pod: string): string;
  /** The CIDRs an existing object of ours denies. */
  deniedOf(obj: KubernetesObject & { spec?: unknown }): string[];
}

/** The actionner that writes policies of `kind`: cilium:networkpolicy for cilium.io, else calico:networkpolicy. */
const actionnerOfKind = (kind: CustomKind): string => (kind.group === 'cilium.io' ? 'cilium:networkpolicy' : 'calico:networkpolicy');

/** Creates the pod's policy, or merges the alert's CIDR into the existing one; labels the pod. */
export async function applyRemoteDeny<P extends RemoteDenyParams>(ctx: ActionContext<P>, how: RemoteDenyKind<P>, now = Date.now()): Promise<ActionResult> {
  const { name, namespace } = podTarget(ctx.target);
  const what = `pod '${name}' in namespace '${namespace}'`;
  const opts = requestOptions(ctx.signal);
  const cidr = remoteCIDR(ctx.event);
  if (cidr === undefined) return skipped('InvalidRemoteIP', 'neither fd.rip nor fd.sip is an IP address');

  let pod: V1Pod;
  try {
    pod = await ctx.kube.core.readNamespacedPod({ name, namespace }, opts);
  } catch (err) {
    if (isNotFound(err)) return skipped('PodNotFound', `the ${what} does not exist; nothing to isolate`);
    return apiFailure(`reading the ${what}`, err);
  }
  let kind: CustomKind;
  try {
    kind = await how.resolve(ctx.kube, ctx.signal);
  } catch (err) {
    return apiFailure('discovering the policy API', err);
  }
  const policyName = how.nameOf?.(kind, name) ?? denyPolicyName(name);
  const where = `${kind.kind} '${policyName}' (${apiVersionOf(kind)}) in namespace '${namespace}'`;
  const address = { group: kind.group, version: kind.version, plural: kind.plural, namespace };

  let verb: 'created' | 'updated' | 'unchanged';
  let stored: KubernetesObject;
  let denied: string[];
  try {
    const existing = (await ctx.kube.custom.getNamespacedCustomObject({ ...address, name: policyName }, opts).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    })) as (KubernetesObject & { spec?: unknown }) | undefined;
    const had = existing?.metadata?.annotations?.[EXPIRES_AT_ANNOTATION];
    const expires = nextExpiry(had, ctx.revertAfterMs ?? ctx.params.ttl, now);
    denied = mergeCIDRs(existing === undefined ? [] : how.deniedOf(existing), [cidr]);
    const madeBy = madeByAnnotation(madeByOf(ctx, actionnerOfKind(kind)));
    const desired = how.build(kind, pod, quarantineValue(pod), denied, ctx.params, policyMetadata(policyName, pod, ctx.rule.name, expires, madeBy));
    if (existing === undefined) {
      stored = (await ctx.kube.custom.createNamespacedCustomObject({ ...address, body: desired }, opts)) as KubernetesObject;
      verb = 'created';
    } else if (JSON.stringify(existing.spec) === JSON.stringify(desired.spec) && had === expires) {
      stored = existing;
      verb = 'unchanged';
    } else {
      const body = {
        ...desired,
        metadata: {
          ...desired.metadata,
          resourceVersion: existing.metadata?.resourceVersion,
          labels: { ...existing.metadata?.labels, ...desired.metadata?.labels },
          annotations: { ...omit(existing.metadata?.annotations, EXPIRES_AT_ANNOTATION), ...desired.metadata?.annotations },
        },
      };
      stored = (await ctx.kube.custom.replaceNamespacedCustomObject({ ...address, name: policyName, body }, opts)) as KubernetesObject;
      verb = 'updated';
    }
  } catch (err) {
    return apiFailure(`writing ${where}`, err);
  }

  const labelled = await labelForQuarantine(ctx.kube, pod, ctx.signal);
  if ('result' in labelled) return labelled.result;
  const expires = stored.metadata?.annotations?.[EXPIRES_AT_ANNOTATION];
  return ok(
    'EgressDenied',
    `the ${what} may no longer reach ${denied.join(', ')}: ${where} ${verb}${expires ? `, until ${expires}` : ''}`,
    [podRef(labelled.pod, namespace, name), refOf(apiVersionOf(kind), kind.kind, stored, { namespace, name: policyName })],
  );
}

/**
 * The expiry handler of a CNI policy kind: lists our objects of the kind `resolve` names in
 * every namespace (none when the kind is not installed, 404, or our RBAC for it is switched
 * off, 403) and deletes an expired one. The quarantine label stays on the pod: other policies
 * (kubernetes:networkpolicy, the other CNI kind) may select it, and without a policy it does
 * nothing.
 */
export function customPolicyExpiry(handlerKind: string, resolve: (kube: KubeClients, signal?: AbortSignal) => Promise<CustomKind>): ExpiryHandler {
  return {
    kind: handlerKind,
    async list(kube, signal) {
      let kind: CustomKind;
      try {
        kind = await resolve(kube, signal);
        const res = (await kube.custom.listCustomObjectForAllNamespaces(
          { group: kind.group, version: kind.version, plural: kind.plural, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` },
          requestOptions(signal),
        )) as { items?: KubernetesObject[] };
        return (res.items ?? []).map((o) => ({ ...o, apiVersion: apiVersionOf(kind) }));
      } catch (err) {
        const status = statusOf(err);
        if (status === 404 || status === 403) return [];
        throw err;
      }
    },
    async remove(kube, obj, signal) {
      const [group, version] = (obj.apiVersion ?? '').split('/');
      const kind = await resolve(kube, signal);
      try {
        await kube.custom.deleteNamespacedCustomObject(
          { group: group || kind.group, version: version || kind.version, plural: kind.plural, namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' },
          requestOptions(signal),
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return [];
    },
  };
}
