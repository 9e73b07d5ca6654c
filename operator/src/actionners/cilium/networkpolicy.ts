/**
 * cilium:networkpolicy — deny egress from the alert's pod to the alert's remote IP with a
 * `cilium.io/v2` CiliumNetworkPolicy (shared behaviour: ../remote-deny.ts).
 *
 * Policy: `endpointSelector.matchLabels: {talon.dev/quarantine: <pod uid>}` (only that pod),
 * `egressDeny: [{toCIDR: [<denied CIDRs>]}]` — one deny rule whose CIDR list is merged on each
 * alert, so a second alert adds its CIDR and never a duplicate rule.
 *
 * DNS is not cut: deny rules alone put no endpoint in default-deny, and the policy says so
 * explicitly with `enableDefaultDeny: {egress: false, ingress: false}` when no allow list is given
 * (Cilium >= 1.15 reads the field; older versions ignore it and already behave so). With allow
 * lists the pod's egress becomes allow-listed (`enableDefaultDeny.egress: true`): the `egress`
 * section then always allows DNS to kube-dns (`k8s:io.kubernetes.pod.namespace: kube-system`,
 * `k8s-app: kube-dns`, port 53 UDP/TCP), plus `toCIDR` the allowed CIDRs and `toEndpoints`
 * the allowed namespaces through Cilium's namespace label `k8s:io.kubernetes.pod.namespace`.
 *
 * Tenancy: declared `cloud` (Cilium policy kinds are beyond Kubernetes' `edit` role).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Actionner } from '../types.js';
import { QUARANTINE_LABEL } from '../kubernetes/common.js';
import { applyRemoteDeny, customPolicyExpiry, precheckRemoteDeny, remoteDenyFields, type CustomKind, type RemoteDenyKind } from '../remote-deny.js';

export const CILIUM_V2: CustomKind = { group: 'cilium.io', version: 'v2', plural: 'ciliumnetworkpolicies', kind: 'CiliumNetworkPolicy' };
/** Cilium's label for an endpoint's namespace. */
export const CILIUM_NAMESPACE_LABEL = 'k8s:io.kubernetes.pod.namespace';

export const CiliumParams = Type.Object({ ...remoteDenyFields }, { additionalProperties: false });
export type CiliumParams = Static<typeof CiliumParams>;

interface CiliumEgress {
  toCIDR?: string[];
  toEndpoints?: { matchLabels: Record<string, string> }[];
  toPorts?: { ports: { port: string; protocol: 'UDP' | 'TCP' }[] }[];
}

export function ciliumSpec(quarantine: string, denied: readonly string[], params: CiliumParams): Record<string, unknown> {
  const restricted = params.allowCIDRs.length > 0 || params.allowNamespaces.length > 0;
  const egress: CiliumEgress[] = [];
  if (restricted) {
    egress.push({
      toEndpoints: [{ matchLabels: { [CILIUM_NAMESPACE_LABEL]: 'kube-system', 'k8s:k8s-app': 'kube-dns' } }],
      toPorts: [{ ports: [{ port: '53', protocol: 'UDP' }, { port: '53', protocol: 'TCP' }] }],
    });
    if (params.allowCIDRs.length > 0) egress.push({ toCIDR: [...params.allowCIDRs] });
    if (params.allowNamespaces.length > 0) egress.push({ toEndpoints: params.allowNamespaces.map((ns) => ({ matchLabels: { [CILIUM_NAMESPACE_LABEL]: ns } })) });
  }
  return {
    description: 'Egress denied by talon-operator to the remote IPs of Falco alerts',
    endpointSelector: { matchLabels: { [QUARANTINE_LABEL]: quarantine } },
    enableDefaultDeny: { egress: restricted, ingress: false },
    egressDeny: [{ toCIDR: [...denied] }],
    ...(restricted ? { egress } : {}),
  };
}

export const ciliumKind: RemoteDenyKind<CiliumParams> = {
  resolve: async () => CILIUM_V2,
  build(kind, _pod, quarantine, denied, params, metadata) {
    return { apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, metadata, spec: ciliumSpec(quarantine, denied, params) };
  },
  deniedOf(obj) {
    const rules = (obj.spec as { egressDeny?: { toCIDR?: string[] }[] } | undefined)?.egressDeny ?? [];
    return rules.flatMap((r) => r.toCIDR ?? []);
  },
};

export const ciliumExpiry = customPolicyExpiry('CiliumNetworkPolicy', async () => CILIUM_V2);

export const ciliumNetworkPolicyActionner: Actionner<CiliumParams> = {
  info: {
    name: 'cilium:networkpolicy',
    description: "Deny egress from the alert's pod to the alert's remote IP (fd.rip, else fd.sip) with a CiliumNetworkPolicy selecting only that pod, merged per pod, DNS kept, optionally expiring",
    requiredFields: [['fd.rip', 'fd.sip']],
    defaultContinue: true,
    destructive: false,
    reversible: true,
    target: 'pod',
    cloud: true,
    output: 'none',
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
      { apiGroups: ['cilium.io'], resources: ['ciliumnetworkpolicies'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] },
    ],
    example: { allowCIDRs: ['10.0.0.0/8'], allowNamespaces: ['monitoring'], ttl: '1h' },
  },
  paramsSchema: CiliumParams,
  expiry: ciliumExpiry,
  precheck: (ev, _target, params) => precheckRemoteDeny(ev, params),
  run: (ctx) => applyRemoteDeny(ctx, ciliumKind),
};
