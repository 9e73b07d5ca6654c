/**
 * The guards run before each action (DESIGN.md §2 "Scope and tenancy", §4 "Per action"), on
 * exactly the object that action will touch: the dispatcher resolves the action's target once
 * (falco/target.ts, for the subject its use declares) and hands the same resolved object to
 * these guards and to the actionner.
 *
 * In order; the first refusal wins and the action is Skipped with its reason:
 * 1. `MissingFields` — the alert lacks a field the actionner requires, or names no object of
 *    the subject the use acts on (no pod, no audited object, no node).
 * 2. `OutOfScope` — tenant rules only (`rule.scope === 'tenant'`): a node use; a cloud use
 *    outside `safety.cloudNamespaces`; an object in another namespace, or a cluster-scoped one.
 * 3. `SelfProtection` — the operator's own pod (POD_NAME/POD_NAMESPACE) or its own ClusterRole
 *    or ClusterRoleBinding (`OperatorIdentity.rbacNames`).
 * 4. `ProtectedObject` — a `system:` ClusterRole or ClusterRoleBinding, or one of the
 *    bootstrap roles every cluster relies on (cluster-admin, admin, edit, view).
 * 5. `ProtectedNamespace` — an object in a protected namespace, or a protected Namespace itself.
 *
 * 3–5 hold for every rule, cluster-wide ones included, whatever the rule says. They are
 * checked before the protected namespace so that the more specific reason is reported (the
 * operator's own namespace is always protected). A node has no namespace: a node found
 * through a pod of a protected namespace is not protected by that namespace (drain still
 * never evicts pods of protected namespaces, nor the operator's pod).
 */
import { cloudUseText, DEFAULT_OPERATOR_RBAC_NAME, type ActionnerInfo, type ActionnerUse, type OperatorIdentity } from '../actionners/types.js';
import { field, type FalcoEvent } from '../falco/event.js';
import { objectText, targetText, type ResolvedTarget, type TargetObject, type TargetResolution } from '../falco/target.js';
import type { CompiledRule } from '../rules/types.js';

export type GuardReason = 'MissingFields' | 'OutOfScope' | 'SelfProtection' | 'ProtectedObject' | 'ProtectedNamespace';

export interface GuardRefusal {
  readonly reason: GuardReason;
  readonly message: string;
}

export interface GuardDeps {
  readonly identity: OperatorIdentity;
  /** Namespaces whose tenant rules may use `cloud` uses (safety.cloudNamespaces). */
  readonly cloudNamespaces?: ReadonlySet<string>;
}

/** One action about to run: the alert, its rule, the actionner, its use and the resolved target. */
export interface GuardInput {
  readonly event: FalcoEvent;
  readonly rule: Pick<CompiledRule, 'scope' | 'namespace'>;
  readonly actionner: Pick<ActionnerInfo, 'name' | 'requiredFields'>;
  readonly use: ActionnerUse;
  readonly resolution: TargetResolution;
}

const refuse = (reason: GuardReason, message: string): GuardRefusal => ({ reason, message });

/** Built-in ClusterRoles every cluster relies on, besides the `system:` ones. */
const BOOTSTRAP_CLUSTER_ROLES: ReadonlySet<string> = new Set(['cluster-admin', 'admin', 'edit', 'view']);
const BOOTSTRAP_CLUSTER_ROLE_BINDINGS: ReadonlySet<string> = new Set(['cluster-admin']);

const isClusterRbac = (o: TargetObject): boolean => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding';

/** The target an action may run on, or the first guard's refusal. */
export type GuardResult = { readonly ok: true; readonly target: ResolvedTarget } | ({ readonly ok: false } & GuardRefusal);

/** Every guard in order, on the action's resolved target. */
export function checkGuards(input: GuardInput, deps: GuardDeps): GuardResult {
  const missing = requiredFieldsGuard(input.event, input.actionner);
  if (missing) return { ok: false, ...missing };
  if (!input.resolution.ok) return { ok: false, ...refuse('MissingFields', `${input.resolution.message}, which ${input.actionner.name} needs`) };
  const target = input.resolution.target;
  const refusal =
    tenancyGuard(input.rule, input.actionner.name, input.use, target, deps.cloudNamespaces ?? new Set()) ??
    selfProtectionGuard(target, deps.identity) ??
    protectedObjectGuard(target) ??
    protectedNamespaceGuard(target, deps.identity.protectedNamespaces);
  return refusal !== undefined ? { ok: false, ...refusal } : { ok: true, target };
}

/** The alert carries one of the alternatives of every field group the actionner requires. */
export function requiredFieldsGuard(ev: FalcoEvent, actionner: Pick<ActionnerInfo, 'name' | 'requiredFields'>): GuardRefusal | undefined {
  for (const alternatives of actionner.requiredFields) {
    if (!alternatives.some((k) => isPresent(field(ev, k)))) return refuse('MissingFields', `the alert lacks ${alternatives.join(' or ')}, which ${actionner.name} needs`);
  }
  return undefined;
}

/**
 * A tenant rule acts only inside its namespace: never on a node, on cloud resources only where
 * the config allows, and only on namespaced objects of its own namespace. Cluster-wide rules pass.
 */
export function tenancyGuard(
  rule: Pick<CompiledRule, 'scope' | 'namespace'>,
  actionner: string,
  use: ActionnerUse,
  target: ResolvedTarget,
  cloudNamespaces: ReadonlySet<string>,
): GuardRefusal | undefined {
  if (rule.scope !== 'tenant') return undefined;
  if (use.scope === 'node') return refuse('OutOfScope', `${actionner} acts on a node (${targetText(target)}), which only cluster-wide rules may do`);
  if (use.scope === 'cloud' && !cloudNamespaces.has(rule.namespace)) {
    return refuse('OutOfScope', `${actionner} ${cloudUseText(actionner)}, which rules in namespace '${rule.namespace}' may not (safety.cloudNamespaces)`);
  }
  const o = target.object;
  if (o === undefined) return undefined;
  if (o.namespace === undefined) {
    return refuse('OutOfScope', `the action's target ${objectText(o)} is cluster-scoped; a rule in namespace '${rule.namespace}' may only act there`);
  }
  if (o.namespace !== rule.namespace) {
    return refuse('OutOfScope', `the action's target ${objectText(o)} is in namespace '${o.namespace}'; a rule in namespace '${rule.namespace}' may only act there`);
  }
  return undefined;
}

/** The operator never acts on its own pod nor on its own ClusterRole/ClusterRoleBinding. */
export function selfProtectionGuard(target: ResolvedTarget, identity: OperatorIdentity): GuardRefusal | undefined {
  const o = target.object;
  if (o === undefined) return undefined;
  if (o.kind === 'Pod' && identity.podName !== undefined && o.name === identity.podName && (identity.podNamespace === undefined || o.namespace === identity.podNamespace)) {
    return refuse('SelfProtection', `${objectText(o)} is the operator's own pod`);
  }
  const rbacNames = identity.rbacNames ?? new Set([DEFAULT_OPERATOR_RBAC_NAME]);
  if (isClusterRbac(o) && rbacNames.has(o.name)) return refuse('SelfProtection', `${objectText(o)} is the operator's own RBAC`);
  return undefined;
}

/** `system:` ClusterRoles and ClusterRoleBindings and the bootstrap roles are never touched. */
export function protectedObjectGuard(target: ResolvedTarget): GuardRefusal | undefined {
  const o = target.object;
  if (o === undefined || !isClusterRbac(o)) return undefined;
  const bootstrap = o.kind === 'ClusterRole' ? BOOTSTRAP_CLUSTER_ROLES : BOOTSTRAP_CLUSTER_ROLE_BINDINGS;
  if (o.name.startsWith('system:')) return refuse('ProtectedObject', `${objectText(o)} belongs to Kubernetes (system:) and is never acted upon`);
  if (bootstrap.has(o.name)) return refuse('ProtectedObject', `${objectText(o)} is part of Kubernetes' bootstrap RBAC and is never acted upon`);
  return undefined;
}

/** Nothing in a protected namespace, and no protected Namespace itself, is acted upon. */
export function protectedNamespaceGuard(target: ResolvedTarget, protectedNamespaces: ReadonlySet<string>): GuardRefusal | undefined {
  const o = target.object;
  if (o === undefined) return undefined;
  const ns = o.kind === 'Namespace' && o.namespace === undefined ? o.name : o.namespace;
  if (ns !== undefined && protectedNamespaces.has(ns)) return refuse('ProtectedNamespace', `namespace '${ns}' is protected: ${objectText(o)} is never acted upon`);
  return undefined;
}

function isPresent(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}
