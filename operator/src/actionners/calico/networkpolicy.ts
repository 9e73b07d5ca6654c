/**
 * calico:networkpolicy — deny egress from the alert's pod to the alert's remote IP with a
 * Calico NetworkPolicy (shared behaviour: ../remote-deny.ts).
 *
 * API: `crd.projectcalico.org/v1` (the CRDs, no Calico API server; the object is named with the
 * tier prefix `default.` as Calico stores default-tier policies) unless discovery finds the
 * Calico API server's `projectcalico.org/v3` (then the object is written there, unprefixed).
 * Discovery lists `networkpolicies.projectcalico.org` once per client and caches the answer for
 * 5 minutes; 404 (not served) or 403 (not granted) means v1, other errors fail the action
 * retryably. v3 is covered by unit tests only.
 *
 * Policy: `selector: talon.dev/quarantine == '<pod uid>'`, `types: [Egress]`, `order` (default 0:
 * before Kubernetes NetworkPolicies, which Calico evaluates at 1000). Egress rules: `Deny` to the
 * denied nets (one rule per IP family: Calico refuses mixed families in one rule); then, when no
 * allow list is given, a final `Pass` so that the rest of the pod's traffic is decided by the
 * next tier or the namespace profile (without a terminal rule Calico's end-of-tier deny would
 * cut all egress; note Pass also skips later default-tier policies for this pod's egress);
 * with allow lists, `Allow` DNS to kube-dns (unless `allowDNS: false`), the CIDRs and the
 * namespaces (`namespaceSelector: projectcalico.org/name == '<ns>'`, the label Calico gives every
 * namespace), and the end-of-tier deny drops the rest.
 *
 * Tenancy: declared `cloud` (Calico policy kinds are beyond Kubernetes' `edit` role).
 */
import { isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Actionner, KubeClients } from '../types.js';
import { boundedName, requestOptions, QUARANTINE_LABEL, statusOf } from '../kubernetes/common.js';
import { applyRemoteDeny, customPolicyExpiry, denyPolicyName, precheckRemoteDeny, remoteDenyFields, type CustomKind, type RemoteDenyKind } from '../remote-deny.js';

export const CALICO_V1: CustomKind = { group: 'crd.projectcalico.org', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy' };
export const CALICO_V3: CustomKind = { group: 'projectcalico.org', version: 'v3', plural: 'networkpolicies', kind: 'NetworkPolicy' };

export const CalicoParams = Type.Object(
  {
    order: Type.Number({ default: 0, minimum: 0, description: 'Calico policy order (lower applies first; Kubernetes NetworkPolicies are at 1000).' }),
    allowDNS: Type.Boolean({ default: true, description: 'With allow lists: keep egress to kube-dns on port 53 UDP/TCP.' }),
    ...remoteDenyFields,
  },
  { additionalProperties: false },
);
export type CalicoParams = Static<typeof CalicoParams>;

interface CalicoRule {
  action: 'Allow' | 'Deny' | 'Pass';
  protocol?: 'TCP' | 'UDP';
  destination?: { nets?: string[]; selector?: string; namespaceSelector?: string; ports?: number[] };
}

/** Calico selector literal: single-quoted (label values never contain quotes). */
const quoted = (v: string): string => `'${v.replace(/'/g, '')}'`;

/** Splits CIDRs by IP family: Calico refuses a rule mixing IPv4 and IPv6 nets. */
function byFamily(cidrs: readonly string[]): string[][] {
  const v4 = cidrs.filter((c) => isIP(c.slice(0, c.indexOf('/'))) === 4);
  const v6 = cidrs.filter((c) => !v4.includes(c));
  return [v4, v6].filter((l) => l.length > 0);
}

/** The egress rules: deny the nets, then allow lists or a final Pass. */
export function calicoEgress(denied: readonly string[], params: CalicoParams): CalicoRule[] {
  const rules: CalicoRule[] = byFamily(denied).map((nets) => ({ action: 'Deny', destination: { nets } }));
  const restricted = params.allowCIDRs.length > 0 || params.allowNamespaces.length > 0;
  if (!restricted) return [...rules, { action: 'Pass' }];
  if (params.allowDNS) {
    for (const protocol of ['UDP', 'TCP'] as const) {
      rules.push({ action: 'Allow', protocol, destination: { selector: "k8s-app == 'kube-dns'", namespaceSelector: "projectcalico.org/name == 'kube-system'", ports: [53] } });
    }
  }
  for (const nets of byFamily(params.allowCIDRs)) rules.push({ action: 'Allow', destination: { nets } });
  for (const ns of params.allowNamespaces) rules.push({ action: 'Allow', destination: { namespaceSelector: `projectcalico.org/name == ${quoted(ns)}` } });
  return rules;
}

/** The object name: v1 CRD objects of the default tier carry the tier prefix, v3 ones do not. */
export const calicoPolicyName = (kind: CustomKind, pod: string): string => (kind.group === CALICO_V1.group ? boundedName('default.talon-deny-', pod) : denyPolicyName(pod));

const discovered = new WeakMap<KubeClients, { kind: CustomKind; at: number }>();
const DISCOVERY_TTL_MS = 5 * 60_000;

/** v3 when the Calico API server answers for `projectcalico.org/v3` networkpolicies, else v1 (cached per client). */
export async function resolveCalicoKind(kube: KubeClients, signal?: AbortSignal, now = Date.now()): Promise<CustomKind> {
  const hit = discovered.get(kube);
  if (hit !== undefined && now - hit.at < DISCOVERY_TTL_MS) return hit.kind;
  let kind: CustomKind;
  try {
    await kube.custom.listClusterCustomObject({ group: CALICO_V3.group, version: CALICO_V3.version, plural: CALICO_V3.plural, limit: 1 }, requestOptions(signal));
    kind = CALICO_V3;
  } catch (err) {
    const status = statusOf(err);
    // Not served (404) or not granted (403): the CRDs. Anything else is transient: the caller fails retryably.
    if (status !== 404 && status !== 403) throw err;
    kind = CALICO_V1;
  }
  discovered.set(kube, { kind, at: now });
  return kind;
}

export const calicoKind: RemoteDenyKind<CalicoParams> = {
  resolve: resolveCalicoKind,
  nameOf: calicoPolicyName,
  build(kind, _pod, quarantine, denied, params, metadata) {
    return {
      apiVersion: `${kind.group}/${kind.version}`,
      kind: kind.kind,
      metadata,
      spec: {
        ...(kind.group === CALICO_V1.group ? { tier: 'default' } : {}),
        order: params.order,
        selector: `${QUARANTINE_LABEL} == ${quoted(quarantine)}`,
        types: ['Egress'],
        egress: calicoEgress(denied, params),
      },
    };
  },
  deniedOf(obj) {
    const egress = (obj.spec as { egress?: CalicoRule[] } | undefined)?.egress ?? [];
    return egress.filter((r) => r.action === 'Deny').flatMap((r) => r.destination?.nets ?? []);
  },
};

export const calicoExpiry = customPolicyExpiry('NetworkPolicy.projectcalico.org', resolveCalicoKind);

export const calicoNetworkPolicyActionner: Actionner<CalicoParams> = {
  info: {
    name: 'calico:networkpolicy',
    description: "Deny egress from the alert's pod to the alert's remote IP (fd.rip, else fd.sip) with a Calico NetworkPolicy selecting only that pod, merged per pod, optionally expiring",
    requiredFields: [['fd.rip', 'fd.sip']],
    defaultContinue: true,
    destructive: false,
    reversible: true,
    target: 'pod',
    cloud: true,
    output: 'none',
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
      { apiGroups: ['crd.projectcalico.org', 'projectcalico.org'], resources: ['networkpolicies'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] },
    ],
    example: { order: 0, allowCIDRs: ['10.0.0.0/8'], allowNamespaces: ['monitoring'], ttl: '1h' },
  },
  paramsSchema: CalicoParams,
  expiry: calicoExpiry,
  precheck: (ev, _target, params) => precheckRemoteDeny(ev, params),
  run: (ctx) => applyRemoteDeny(ctx, calicoKind),
};

export type CalicoPolicy = KubernetesObject & { spec: { order: number; selector: string; types: string[]; egress: CalicoRule[]; tier?: string } };
