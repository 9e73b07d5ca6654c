/**
 * What the coordination room needs of the API (scripts/gen-rbac.ts folds it into the
 * operator's ClusterRole): Leases for claims and budget slots (create/get/update to claim and
 * renew, list/delete to sweep), plus watch/patch for client-side tools that follow them.
 */
import type { V1PolicyRule } from '@kubernetes/client-node';

export const COORDINATION_RBAC: readonly V1PolicyRule[] = Object.freeze([
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
]);
