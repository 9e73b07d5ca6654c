/**
 * What an alert points at (DESIGN.md §3 "Target resolution"), worked out in one place.
 *
 * An actionner declares what it acts on (a `TargetSubject`: the alert's pod, that pod's node,
 * the audited object of a k8s_audit alert, or nothing in the cluster); `resolveTarget` turns
 * the alert into exactly that object, once per action. The dispatcher's guards and the
 * actionner then see the same resolved object, so a guard can never check one object while
 * the action touches another.
 *
 * Fallbacks (Talon's, DESIGN.md §3):
 * - pod: name = `k8s.pod.name` ‖ `ka.target.pod.name` ‖ `ka.target.name` when
 *   `ka.target.resource` is `pods`; namespace = `k8s.ns.name` ‖ `ka.target.namespace`.
 * - audited object: `ka.target.resource` / `ka.target.name` / `ka.target.namespace` only (never
 *   `k8s.*`); the kind and scope come from `AUDIT_RESOURCES`; a namespaced kind needs
 *   `ka.target.namespace`, a cluster-scoped kind has no namespace whatever the alert says.
 * - node: the node of the alert's pod (looked up through the API at run time), else Falco's
 *   `hostname` (the node name on Helm installs).
 */
import { fieldText, type FalcoEvent } from './event.js';

/** What one configured use of an actionner acts on. */
export type TargetSubject = 'pod' | 'node' | 'audited' | 'none';

export const TARGET_SUBJECTS: readonly TargetSubject[] = ['pod', 'node', 'audited', 'none'];

/**
 * A Kubernetes object named by an alert. `namespace` is absent for cluster-scoped objects;
 * `apiVersion` is absent for audited resources `AUDIT_RESOURCES` does not know (their `kind` is
 * then the resource plural as Falco sent it).
 */
export interface TargetObject {
  readonly apiVersion?: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface PodObject extends TargetObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Pod';
  readonly namespace: string;
}

/**
 * The object one action acts on. `object` is that object whenever the alert names it; a node
 * found through the alert's pod has no `object` (its name is known only at run time) and
 * carries the `pod` instead.
 */
export type ResolvedTarget =
  | { readonly subject: 'pod'; readonly object: PodObject }
  | { readonly subject: 'node'; readonly object: TargetObject; readonly pod?: undefined }
  | { readonly subject: 'node'; readonly object?: undefined; readonly pod: PodObject }
  | { readonly subject: 'audited'; readonly object: TargetObject; readonly resource: string }
  | { readonly subject: 'none'; readonly object?: undefined };

/** A resolved target, or why the alert does not name one (the guard's MissingFields message). */
export type TargetResolution = { readonly ok: true; readonly target: ResolvedTarget } | { readonly ok: false; readonly message: string };

/** Kind and scope of an audited resource plural. */
export interface ResourceKind {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

const RBAC = 'rbac.authorization.k8s.io/v1';

/**
 * Audited resources (`ka.target.resource`) whose kind and scope are known: what
 * `kubernetes:delete` supports, plus pods, nodes and the RBAC bindings (so that guards know
 * their scope). Anything else resolves with its plural as kind and the alert's namespace.
 */
export const AUDIT_RESOURCES: ReadonlyMap<string, ResourceKind> = new Map<string, ResourceKind>([
  ['pods', { apiVersion: 'v1', kind: 'Pod', namespaced: true }],
  ['nodes', { apiVersion: 'v1', kind: 'Node', namespaced: false }],
  ['namespaces', { apiVersion: 'v1', kind: 'Namespace', namespaced: false }],
  ['configmaps', { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true }],
  ['secrets', { apiVersion: 'v1', kind: 'Secret', namespaced: true }],
  ['services', { apiVersion: 'v1', kind: 'Service', namespaced: true }],
  ['serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', namespaced: true }],
  ['deployments', { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true }],
  ['daemonsets', { apiVersion: 'apps/v1', kind: 'DaemonSet', namespaced: true }],
  ['statefulsets', { apiVersion: 'apps/v1', kind: 'StatefulSet', namespaced: true }],
  ['replicasets', { apiVersion: 'apps/v1', kind: 'ReplicaSet', namespaced: true }],
  ['roles', { apiVersion: RBAC, kind: 'Role', namespaced: true }],
  ['rolebindings', { apiVersion: RBAC, kind: 'RoleBinding', namespaced: true }],
  ['clusterroles', { apiVersion: RBAC, kind: 'ClusterRole', namespaced: false }],
  ['clusterrolebindings', { apiVersion: RBAC, kind: 'ClusterRoleBinding', namespaced: false }],
]);

/** Kind and scope of an audited resource plural; undefined for plurals the table does not know. */
export function kindOfResource(plural: string): ResourceKind | undefined {
  return AUDIT_RESOURCES.get(plural);
}

const PODS = 'pods';

/** The pod the alert names, with whatever of name and namespace it carries. */
function podFields(ev: FalcoEvent): { name?: string; namespace?: string } {
  const name =
    fieldText(ev, 'k8s.pod.name') ??
    fieldText(ev, 'ka.target.pod.name') ??
    (fieldText(ev, 'ka.target.resource') === PODS ? fieldText(ev, 'ka.target.name') : undefined);
  const namespace = fieldText(ev, 'k8s.ns.name') ?? fieldText(ev, 'ka.target.namespace');
  // By assignment: the conditional spreads were 1.5 % of a matched alert's CPU (issue 15).
  const p: { name?: string; namespace?: string } = {};
  if (name !== undefined) p.name = name;
  if (namespace !== undefined) p.namespace = namespace;
  return p;
}

/** The alert's pod when it names both the pod and its namespace. */
function podOf(ev: FalcoEvent): PodObject | undefined {
  const p = podFields(ev);
  if (p.name === undefined || p.namespace === undefined) return undefined;
  return { apiVersion: 'v1', kind: 'Pod', namespace: p.namespace, name: p.name };
}

type Audited = { ok: true; object: TargetObject; resource: string } | { ok: false; message: string };

/** The audited object of a k8s_audit alert. */
function auditedOf(ev: FalcoEvent): Audited {
  const resource = fieldText(ev, 'ka.target.resource');
  const name = fieldText(ev, 'ka.target.name');
  if (resource === undefined || name === undefined) return { ok: false, message: 'the alert names no audited object (ka.target.resource, ka.target.name)' };
  const namespace = fieldText(ev, 'ka.target.namespace');
  const k = kindOfResource(resource);
  if (k === undefined) return { ok: true, resource, object: { kind: resource, name, ...(namespace !== undefined ? { namespace } : {}) } };
  if (!k.namespaced) return { ok: true, resource, object: { apiVersion: k.apiVersion, kind: k.kind, name } };
  if (namespace === undefined) return { ok: false, message: `the alert names ${resource} '${name}' without its namespace (ka.target.namespace)` };
  return { ok: true, resource, object: { apiVersion: k.apiVersion, kind: k.kind, namespace, name } };
}

function hostnameNode(ev: FalcoEvent): TargetObject | undefined {
  return ev.hostname === '' ? undefined : { apiVersion: 'v1', kind: 'Node', name: ev.hostname };
}

function resolved(target: ResolvedTarget): TargetResolution {
  return Object.freeze({ ok: true, target: Object.freeze(target) });
}

/** The object an action whose use acts on `subject` acts on, or why the alert names none. */
export function resolveTarget(ev: FalcoEvent, subject: TargetSubject): TargetResolution {
  switch (subject) {
    case 'pod': {
      const pod = podOf(ev);
      if (pod === undefined) return { ok: false, message: 'the alert names no pod and namespace (k8s.pod.name, k8s.ns.name)' };
      return resolved({ subject, object: pod });
    }
    case 'node': {
      const pod = podOf(ev);
      if (pod !== undefined) return resolved({ subject, pod });
      const node = hostnameNode(ev);
      if (node === undefined) return { ok: false, message: "the alert names no pod (k8s.pod.name, k8s.ns.name) and no hostname, so no node" };
      return resolved({ subject, object: node });
    }
    case 'audited': {
      const a = auditedOf(ev);
      if (!a.ok) return a;
      return resolved({ subject, object: a.object, resource: a.resource });
    }
    case 'none':
      return resolved({ subject });
  }
}

/**
 * The object an alert is mainly about, for the work-queue and cooldown key: its pod, else its
 * audited object, else its node (hostname); undefined when it names none of them.
 */
export function alertObject(ev: FalcoEvent): TargetObject | undefined {
  const p = podFields(ev);
  if (p.name !== undefined) {
    const pod: { -readonly [K in keyof TargetObject]: TargetObject[K] } = { apiVersion: 'v1', kind: 'Pod', name: p.name };
    if (p.namespace !== undefined) pod.namespace = p.namespace;
    return pod;
  }
  const a = auditedOf(ev);
  if (a.ok) return a.object;
  return hostnameNode(ev);
}

/**
 * The namespace whose tenant rules an alert selects (DESIGN.md §2): the namespace of the alert's
 * pod (`k8s.ns.name`, else `ka.target.namespace` when the alert names a pod), else — a
 * k8s_audit alert without a pod — the audited object's namespace (none for a cluster-scoped
 * object). Undefined: only cluster-wide rules apply. Each action's guard still checks its own
 * resolved object against the rule's namespace.
 */
export function alertNamespace(ev: FalcoEvent): string | undefined {
  const k8sNamespace = fieldText(ev, 'k8s.ns.name');
  if (k8sNamespace !== undefined) return k8sNamespace;
  const p = podFields(ev);
  if (p.name !== undefined) return p.namespace;
  const a = auditedOf(ev);
  return a.ok ? a.object.namespace : undefined;
}

/** A stable key for an object (`Kind/namespace/name`), 'event' when there is none. */
export function objectKey(o: TargetObject | undefined): string {
  return o === undefined ? 'event' : `${o.kind}/${o.namespace ?? ''}/${o.name}`;
}

/** "Pod default/web-1", "ClusterRole admin". */
export function objectText(o: TargetObject): string {
  return `${o.kind} ${o.namespace !== undefined ? `${o.namespace}/` : ''}${o.name}`;
}

/** The resolved target in words, for messages. */
export function targetText(t: ResolvedTarget): string {
  if (t.object !== undefined) return objectText(t.object);
  if (t.subject === 'node') return `the node of ${objectText(t.pod)}`;
  return 'the alert (no Kubernetes object)';
}
