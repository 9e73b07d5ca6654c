/**
 * The metadata of every object an actionner creates (quarantine NetworkPolicies, Calico and
 * Cilium policies, capture Jobs and their pods), in one place so that each carries the same
 * marks:
 *
 * - `app.kubernetes.io/managed-by: talon-operator` and `talon.dev/rule` — whose it is (expiry
 *   and cleanup select on the first);
 * - an owner reference to the alert's pod where the object lives in the pod's namespace, so
 *   the garbage collector removes it with the pod and GitOps tools show it as the pod's child;
 * - GitOps annotations, so that a cluster managed by Argo CD or Flux leaves the response alone:
 *   Argo CD does not count it against an application's sync status even when it ends up
 *   tracked (`compare-options: IgnoreExtraneous`) and never prunes it (`sync-options:
 *   Prune=false`); Flux's kustomize-controller never garbage-collects it
 *   (`kustomize.toolkit.fluxcd.io/prune: disabled`). docs/gitops.md explains each.
 */
import type { V1ObjectMeta, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, RULE_LABEL } from './common.js';
import { labelValue } from '../../lib/clip.js';

/** The annotations that keep Argo CD and Flux from pruning or fighting what the operator creates. */
export const GITOPS_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({
  'argocd.argoproj.io/compare-options': 'IgnoreExtraneous',
  'argocd.argoproj.io/sync-options': 'Prune=false',
  'kustomize.toolkit.fluxcd.io/prune': 'disabled',
});

/** The labels of an object created for `ruleName` (label values are at most 63 characters). */
export function managedLabels(ruleName: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [RULE_LABEL]: labelValue(ruleName), ...extra };
}

/** An owner reference to `pod` that never blocks the pod's deletion. */
export function podOwnerReference(pod: V1Pod): V1OwnerReference {
  return { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '', blockOwnerDeletion: false };
}

export interface ManagedMetadataOptions {
  readonly name: string;
  readonly namespace: string;
  readonly ruleName: string;
  /** The owner, when it lives in `namespace` (owner references cannot cross namespaces). */
  readonly owner?: V1Pod;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Metadata of an object the operator creates: its labels, the GitOps annotations, and the owner reference when there is one. */
export function managedMetadata(o: ManagedMetadataOptions): V1ObjectMeta {
  return {
    name: o.name,
    namespace: o.namespace,
    labels: managedLabels(o.ruleName, o.labels),
    annotations: { ...GITOPS_ANNOTATIONS, ...o.annotations },
    ...(o.owner !== undefined ? { ownerReferences: [podOwnerReference(o.owner)] } : {}),
  };
}
