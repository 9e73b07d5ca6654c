/**
 * kubernetes:networkpolicy — quarantine the alert's pod, and only that pod.
 *
 * Fixes Talon's defects (talon-compat §4, §10.5): the pod gets a quarantine label whose value
 * is its uid and the policy selects exactly that label (Talon selected the whole owner
 * workload); ingress and egress are both denied; DNS stays allowed unless `allowDNS: false`;
 * namespace allows use the real `kubernetes.io/metadata.name` key; the policy is owned by the
 * pod (garbage-collected with it), labelled as ours and optionally expires (`ttl`, removed by
 * the expiry sweeper through `quarantineExpiry`). Create-or-update is idempotent.
 */
import { isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import type { V1NetworkPolicy, V1NetworkPolicyEgressRule, V1Pod } from '@kubernetes/client-node';
import { checkDuration, DURATION_PATTERN, parseDuration } from '../../lib/duration.js';
import type { ExpiryHandler } from '../expiry.js';
import { ok, skipped, type ActionResult, type Actionner, type KubeClients } from '../types.js';
import {
  apiFailure,
  boundedName,
  EXPIRES_AT_ANNOTATION,
  isNotFound,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  mergePatch,
  podRef,
  podTarget,
  QUARANTINE_LABEL,
  refOf,
  requestOptions,
  RULE_LABEL,
} from './common.js';
import { labelValue } from '../../lib/clip.js';

export const NetworkPolicyParams = Type.Object(
  {
    allowDNS: Type.Boolean({ default: true, description: 'Keep egress to kube-dns (kube-system pods labelled k8s-app=kube-dns) on port 53 UDP/TCP.' }),
    allowCIDRs: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Egress allowed to these CIDRs (e.g. 10.0.0.0/8).' }),
    allowNamespaces: Type.Array(Type.String({ minLength: 1, maxLength: 63 }), { default: [], description: 'Egress allowed to pods of these namespaces.' }),
    ttl: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'Remove the quarantine after this long (e.g. "1h", "30m", "2d"); absent: keep it until the pod goes.' })),
  },
  { additionalProperties: false },
);
export type NetworkPolicyParams = Static<typeof NetworkPolicyParams>;

/** Whether `cidr` is an IPv4 or IPv6 CIDR block. */
export function isCIDR(cidr: string): boolean {
  const slash = cidr.indexOf('/');
  if (slash < 0) return false;
  const family = isIP(cidr.slice(0, slash));
  const bits = cidr.slice(slash + 1);
  if (family === 0 || !/^[0-9]{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

export const quarantinePolicyName = (pod: string): string => boundedName('talon-quarantine-', pod);

/** The egress rules the parameters allow (none: all egress denied). */
export function egressRules(params: NetworkPolicyParams): V1NetworkPolicyEgressRule[] {
  const rules: V1NetworkPolicyEgressRule[] = [];
  if (params.allowDNS) {
    rules.push({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    });
  }
  if (params.allowCIDRs.length > 0) rules.push({ to: params.allowCIDRs.map((cidr) => ({ ipBlock: { cidr } })) });
  if (params.allowNamespaces.length > 0) {
    rules.push({ to: params.allowNamespaces.map((ns) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } })) });
  }
  return rules;
}

function desiredPolicy(pod: V1Pod, quarantine: string, ruleName: string, params: NetworkPolicyParams, now: number): V1NetworkPolicy {
  const ttlMs = params.ttl === undefined ? undefined : parseDuration(params.ttl);
  const podName = pod.metadata?.name ?? '';
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: quarantinePolicyName(podName),
      namespace: pod.metadata?.namespace ?? '',
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [RULE_LABEL]: labelValue(ruleName) },
      ...(ttlMs !== undefined ? { annotations: { [EXPIRES_AT_ANNOTATION]: new Date(now + ttlMs).toISOString() } } : {}),
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: podName, uid: pod.metadata?.uid ?? '', blockOwnerDeletion: false }],
    },
    spec: {
      podSelector: { matchLabels: { [QUARANTINE_LABEL]: quarantine } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [],
      egress: egressRules(params),
    },
  };
}

/**
 * Expiry of quarantines: the managed NetworkPolicies are deleted, then the quarantine label
 * their pod selector names is removed from the pods still carrying it.
 */
export const quarantineExpiry: ExpiryHandler = {
  kind: 'NetworkPolicy',
  async list(kube, signal) {
    return (await kube.networking.listNetworkPolicyForAllNamespaces({ labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` }, requestOptions(signal))).items;
  },
  async remove(kube, obj, signal) {
    const np = obj as V1NetworkPolicy;
    const namespace = np.metadata?.namespace ?? '';
    const name = np.metadata?.name ?? '';
    try {
      await kube.networking.deleteNamespacedNetworkPolicy({ name, namespace }, requestOptions(signal));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const value = np.spec?.podSelector?.matchLabels?.[QUARANTINE_LABEL];
    if (value === undefined) return [];
    const released: string[] = [];
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: `${QUARANTINE_LABEL}=${value}` }, requestOptions(signal));
    for (const pod of pods.items) {
      const podName = pod.metadata?.name ?? '';
      try {
        await kube.core.patchNamespacedPod({ name: podName, namespace, body: { metadata: { labels: { [QUARANTINE_LABEL]: null } } } }, mergePatch(signal));
        released.push(`${namespace}/${podName}`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return released;
  },
};

export const networkPolicyActionner: Actionner<NetworkPolicyParams> = {
  info: {
    name: 'kubernetes:networkpolicy',
    description: 'Quarantine the pod of the alert: a NetworkPolicy denying its ingress and egress (DNS kept by default), optionally expiring',
    requiredFields: [],
    defaultContinue: true,
    destructive: false,
    target: 'pod',
    output: 'none',
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'patch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
    ],
    example: { allowDNS: true, allowCIDRs: ['10.0.0.0/8'], allowNamespaces: ['monitoring'], ttl: '1h' },
  },
  paramsSchema: NetworkPolicyParams,
  expiry: quarantineExpiry,

  precheck(_ev, _target, params) {
    const bad = params.allowCIDRs.find((c) => !isCIDR(c));
    if (bad !== undefined) return { ok: false, reason: 'InvalidParameters', message: `allowCIDRs: '${bad}' is not a CIDR block` };
    const ttl = params.ttl === undefined ? undefined : checkDuration(params.ttl);
    if (ttl !== undefined && !ttl.ok) return { ok: false, reason: 'InvalidParameters', message: `ttl: ${ttl.error}` };
    return { ok: true };
  },

  async run(ctx) {
    const { name, namespace } = podTarget(ctx.target);
    const what = `pod '${name}' in namespace '${namespace}'`;
    const opts = requestOptions(ctx.signal);

    let pod: V1Pod;
    try {
      pod = await ctx.kube.core.readNamespacedPod({ name, namespace }, opts);
    } catch (err) {
      if (isNotFound(err)) return skipped('PodNotFound', `the ${what} does not exist; nothing to isolate`);
      return apiFailure(`reading the ${what}`, err);
    }
    const quarantine = quarantineValue(pod);
    const desired = desiredPolicy(pod, quarantine, ctx.rule.name, ctx.params, Date.now());
    const policyName = desired.metadata?.name as string;

    let verb: 'created' | 'updated' | 'unchanged';
    let stored: V1NetworkPolicy;
    try {
      const existing = await ctx.kube.networking.readNamespacedNetworkPolicy({ name: policyName, namespace }, opts).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (existing === undefined) {
        stored = await ctx.kube.networking.createNamespacedNetworkPolicy({ namespace, body: desired }, opts);
        verb = 'created';
      } else if (
        JSON.stringify(existing.spec) === JSON.stringify(desired.spec) &&
        existing.metadata?.annotations?.[EXPIRES_AT_ANNOTATION] === desired.metadata?.annotations?.[EXPIRES_AT_ANNOTATION]
      ) {
        stored = existing;
        verb = 'unchanged';
      } else {
        const body: V1NetworkPolicy = {
          ...desired,
          metadata: {
            ...desired.metadata,
            resourceVersion: existing.metadata?.resourceVersion,
            labels: { ...existing.metadata?.labels, ...desired.metadata?.labels },
            annotations: { ...omit(existing.metadata?.annotations, EXPIRES_AT_ANNOTATION), ...desired.metadata?.annotations },
          },
        };
        stored = await ctx.kube.networking.replaceNamespacedNetworkPolicy({ name: policyName, namespace, body }, opts);
        verb = 'updated';
      }
    } catch (err) {
      return apiFailure(`writing NetworkPolicy '${policyName}' in namespace '${namespace}'`, err);
    }

    const labelled = await labelForQuarantine(ctx.kube, pod, ctx.signal);
    if ('result' in labelled) return labelled.result;
    pod = labelled.pod;

    const expires = desired.metadata?.annotations?.[EXPIRES_AT_ANNOTATION];
    const allowed = describeAllowed(ctx.params);
    return ok(
      'Isolated',
      `the ${what} is isolated by NetworkPolicy '${policyName}' (${verb}): all ingress denied, egress ${allowed}${expires ? `, until ${expires}` : ''}`,
      [podRef(pod, namespace, name), refOf('networking.k8s.io/v1', 'NetworkPolicy', stored, { namespace, name: policyName })],
    );
  },
};

/** The value of the quarantine label that selects exactly `pod`: its uid. */
export const quarantineValue = (pod: V1Pod): string => pod.metadata?.uid ?? pod.metadata?.name ?? '';

/**
 * Puts the quarantine label (value: the pod's uid) on `pod` unless it already has it, so that a
 * policy selecting `talon.dev/quarantine=<uid>` selects this pod and no other. Returns the
 * pod as stored, or the result to return (PodNotFound skipped, API failure).
 */
export async function labelForQuarantine(kube: KubeClients, pod: V1Pod, signal: AbortSignal): Promise<{ pod: V1Pod } | { result: ActionResult }> {
  const name = pod.metadata?.name ?? '';
  const namespace = pod.metadata?.namespace ?? '';
  const value = quarantineValue(pod);
  const what = `pod '${name}' in namespace '${namespace}'`;
  if (pod.metadata?.labels?.[QUARANTINE_LABEL] === value) return { pod };
  try {
    return { pod: await kube.core.patchNamespacedPod({ name, namespace, body: { metadata: { labels: { [QUARANTINE_LABEL]: value } } } }, mergePatch(signal)) };
  } catch (err) {
    if (isNotFound(err)) return { result: skipped('PodNotFound', `the ${what} disappeared before it could be labelled`) };
    return { result: apiFailure(`labelling the ${what}`, err) };
  }
}

export function omit(map: Record<string, string> | undefined, key: string): Record<string, string> {
  const out = { ...map };
  delete out[key];
  return out;
}

function describeAllowed(p: NetworkPolicyParams): string {
  const parts: string[] = [];
  if (p.allowDNS) parts.push('DNS');
  if (p.allowCIDRs.length > 0) parts.push(`CIDRs ${p.allowCIDRs.join(', ')}`);
  if (p.allowNamespaces.length > 0) parts.push(`namespaces ${p.allowNamespaces.join(', ')}`);
  return parts.length === 0 ? 'all denied' : `allowed only to ${parts.join('; ')}`;
}

