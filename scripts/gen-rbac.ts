/**
 * Writes config/rbac/role.yaml: the operator's ClusterRole, the union of every built-in
 * actionner's declared RBAC and the controller's own needs, merged and in a deterministic order.
 *
 *   node dist/scripts/gen-rbac.js            write the file (run from the repository root)
 *   node dist/scripts/gen-rbac.js --check    exit 1 when the committed file differs
 */
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import type { V1PolicyRule } from '@kubernetes/client-node';
import { builtinActionners } from '../operator/src/actionners/index.js';
import { DEFAULT_OPERATOR_RBAC_NAME, type Actionner } from '../operator/src/actionners/types.js';
import { ALL_KIND_SCHEMAS, GROUP } from '../operator/src/api/v1alpha1/types.js';
import { APPROVE_VERB, ISSUE_VERB, TALON_APPROVAL_PLURAL } from '../operator/src/api/v1alpha1/approval.js';
import { COORDINATION_RBAC } from '../operator/src/coordination/rbac.js';
import { runGenerator, type GeneratedFile } from './gen-crds.js';

/** The operator's guards never act on this ClusterRole (nor its binding): see OperatorIdentity.rbacNames. */
export const CLUSTER_ROLE_NAME = DEFAULT_OPERATOR_RBAC_NAME;

const TALON_PLURALS = ALL_KIND_SCHEMAS.map((k) => k.plural);

/**
 * What the console (console/, off by default) needs: reading the Events the operator wrote and
 * the TalonApprovals, checking a signed-in user's token (TokenReview) and their RBAC
 * (SubjectAccessReview). Approval decisions are written with the user's own token, not these.
 */
export const CONSOLE_RULES: readonly V1PolicyRule[] = [
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['list'] },
  { apiGroups: [GROUP], resources: ['talonapprovals'], verbs: ['get', 'list'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/**
 * What the operator needs whatever actionners run: the four kinds (TalonRule, TalonAction,
 * ClusterTalonRule, ClusterTalonAction) and their status, Events, Leases, pods.
 */
export const CONTROLLER_RULES: readonly V1PolicyRule[] = [
  { apiGroups: [GROUP], resources: TALON_PLURALS, verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: TALON_PLURALS.map((p) => `${p}/status`), verbs: ['get', 'patch', 'update'] },
  // TalonApprovals (docs/approvals.md): created (custom verb issue, checked by the admission
  // policy), watched, their status written, deleted after retention. Never `approve`.
  { apiGroups: [GROUP], resources: [TALON_APPROVAL_PLURAL], verbs: ['get', 'list', 'watch', 'create', 'delete', ISSUE_VERB] },
  { apiGroups: [GROUP], resources: [`${TALON_APPROVAL_PLURAL}/status`], verbs: ['get', 'patch', 'update'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // Claims and budget slots of active-active replicas (coordination/, docs/replicas.md).
  ...COORDINATION_RBAC,
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
  // The k8snode additional context reads the labels of the alert pod's node.
  { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
  ...CONSOLE_RULES,
];

const VERB_ORDER = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
const byVerbOrder = (a: string, b: string) => {
  const ia = VERB_ORDER.indexOf(a);
  const ib = VERB_ORDER.indexOf(b);
  if (ia === -1 && ib === -1) return a.localeCompare(b);
  if (ia === -1) return 1;
  if (ib === -1) return -1;
  return ia - ib;
};

/**
 * Merges policy rules: verbs are unioned per (apiGroup, resource, resourceNames), then resources
 * of one apiGroup with the same verbs are grouped into one rule. Output is sorted (core group
 * first, then by group, then by resources) so it is stable whatever the input order.
 * Non-resource URL rules are not allowed here (the operator needs none).
 */
export function mergeRules(rules: readonly V1PolicyRule[]): V1PolicyRule[] {
  const verbsByKey = new Map<string, Set<string>>();
  for (const r of rules) {
    if (r.nonResourceURLs?.length) throw new Error('nonResourceURLs rules are not supported');
    for (const group of r.apiGroups ?? ['']) {
      for (const resource of r.resources ?? []) {
        const key = JSON.stringify([group, resource, [...(r.resourceNames ?? [])].sort()]);
        const set = verbsByKey.get(key) ?? new Set<string>();
        for (const v of r.verbs) set.add(v);
        verbsByKey.set(key, set);
      }
    }
  }
  const grouped = new Map<string, { group: string; names: string[]; verbs: string[]; resources: string[] }>();
  for (const [key, verbs] of verbsByKey) {
    const [group, resource, names] = JSON.parse(key) as [string, string, string[]];
    const sortedVerbs = verbs.has('*') ? ['*'] : [...verbs].sort(byVerbOrder);
    const gk = JSON.stringify([group, names, sortedVerbs]);
    const g = grouped.get(gk) ?? { group, names, verbs: sortedVerbs, resources: [] };
    g.resources.push(resource);
    grouped.set(gk, g);
  }
  const out = [...grouped.values()].map((g) => ({ ...g, resources: g.resources.sort() }));
  out.sort(
    (a, b) =>
      a.group.localeCompare(b.group) ||
      a.resources.join(',').localeCompare(b.resources.join(',')) ||
      a.verbs.join(',').localeCompare(b.verbs.join(',')),
  );
  return out.map((g) => ({
    apiGroups: [g.group],
    resources: g.resources,
    ...(g.names.length ? { resourceNames: g.names } : {}),
    verbs: g.verbs,
  }));
}

/** The operator's ClusterRole for a list of actionners. */
export function buildClusterRole(actionners: readonly Actionner[]): Record<string, unknown> {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: {
      name: CLUSTER_ROLE_NAME,
      labels: { 'app.kubernetes.io/name': 'talon-operator', 'app.kubernetes.io/component': 'rbac' },
    },
    rules: mergeRules([...CONTROLLER_RULES, ...actionners.flatMap((a) => a.info.rbac)]),
  };
}

/** The example approver ClusterRole: read approvals and decide them (`kubectl talon approve|reject`). */
export const APPROVER_ROLE_NAME = 'talon-approver';
export const APPROVER_RULES: readonly V1PolicyRule[] = [
  { apiGroups: [GROUP], resources: [TALON_APPROVAL_PLURAL], verbs: ['get', 'list', 'watch', 'update', 'patch', APPROVE_VERB] },
];

/** The approver ClusterRole; bind it with a RoleBinding to let a person decide one namespace's approvals. */
export function buildApproverRole(): Record<string, unknown> {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: APPROVER_ROLE_NAME, labels: { 'app.kubernetes.io/name': 'talon-operator', 'app.kubernetes.io/component': 'rbac' } },
    rules: APPROVER_RULES,
  };
}

const HEADER =
  '# Code generated by scripts/gen-rbac.ts from the controller needs and each actionner info.rbac. DO NOT EDIT.\n';

export function rbacFiles(actionners: readonly Actionner[] = builtinActionners()): GeneratedFile[] {
  return [
    { path: 'config/rbac/role.yaml', content: HEADER + '---\n' + stringify(buildClusterRole(actionners), { lineWidth: 0 }) },
    {
      path: 'config/rbac/approver.yaml',
      content:
        '# Code generated by scripts/gen-rbac.ts. DO NOT EDIT.\n' +
        '# Example: who may approve or reject TalonApprovals (docs/approvals.md). Bind it per namespace:\n' +
        '#   kubectl create rolebinding alice-approves --clusterrole=talon-approver --user=alice -n <namespace>\n' +
        '---\n' +
        stringify(buildApproverRole(), { lineWidth: 0 }),
    },
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runGenerator('gen-rbac', rbacFiles(), process.argv.slice(2));
}
