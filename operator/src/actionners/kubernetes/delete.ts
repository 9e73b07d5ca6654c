/**
 * kubernetes:delete — delete the audited object of a k8s_audit alert (`ka.target.resource`,
 * `ka.target.name`, `ka.target.namespace`, resolved by falco/target.ts): Talon's kinds plus
 * services and serviceaccounts.
 *
 * It acts on the audited object (`target: 'audited'`, scope `namespace`): the dispatcher's
 * guards see that object, so a tenant rule may delete only namespaced objects of its own
 * namespace (a cluster-scoped Namespace or ClusterRole is OutOfScope for it), and no rule
 * deletes a protected Namespace, an object in a protected namespace, a `system:` ClusterRole or
 * the operator's own RBAC. A 404 is success ("already gone").
 */
import { Type, type Static } from '@sinclair/typebox';
import { ok, skipped, type Actionner, type ObjectRef, type ResolvedTarget } from '../types.js';
import { apiFailure, DELETABLE_RESOURCES, isNotFound } from './common.js';

export const DeleteParams = Type.Object({}, { additionalProperties: false });
export type DeleteParams = Static<typeof DeleteParams>;

const SUPPORTED = [...DELETABLE_RESOURCES.keys()].join(', ');

function audited(target: ResolvedTarget): Extract<ResolvedTarget, { subject: 'audited' }> {
  if (target.subject !== 'audited') throw new Error(`expected an audited-object target, got a ${target.subject} target`);
  return target;
}

export const deleteActionner: Actionner<DeleteParams> = {
  info: {
    name: 'kubernetes:delete',
    description: `Delete the resource named by a k8s_audit alert (${SUPPORTED})`,
    requiredFields: [],
    defaultContinue: false,
    destructive: true,
    target: 'audited',
    output: 'none',
    rbac: [
      { apiGroups: [''], resources: ['namespaces', 'configmaps', 'secrets', 'services', 'serviceaccounts'], verbs: ['delete'] },
      { apiGroups: ['apps'], resources: ['deployments', 'daemonsets', 'statefulsets', 'replicasets'], verbs: ['delete'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'clusterroles'], verbs: ['delete'] },
    ],
    example: {},
  },
  paramsSchema: DeleteParams,

  precheck(_ev, target) {
    const { resource } = audited(target);
    if (!DELETABLE_RESOURCES.has(resource)) return { ok: false, reason: 'UnsupportedResource', message: `kubernetes:delete does not delete '${resource}' (supported: ${SUPPORTED})` };
    return { ok: true };
  },

  async run(ctx) {
    const { resource, object } = audited(ctx.target);
    const del = DELETABLE_RESOURCES.get(resource);
    if (del === undefined) return skipped('UnsupportedResource', `kubernetes:delete does not delete '${resource}'`);
    const { name, namespace } = object;
    const what = `${object.kind} '${name}'${namespace !== undefined ? ` in namespace '${namespace}'` : ''}`;
    const ref: ObjectRef = { ...(object.apiVersion !== undefined ? { apiVersion: object.apiVersion } : {}), kind: object.kind, name, ...(namespace !== undefined ? { namespace } : {}) };
    try {
      await del(ctx.kube, namespace ?? '', name, ctx.signal);
    } catch (err) {
      if (isNotFound(err)) return ok('AlreadyGone', `the ${what} is already gone`, [ref]);
      return apiFailure(`deleting the ${what}`, err);
    }
    return ok('Deleted', `the ${what} has been deleted`, [ref]);
  },
};
