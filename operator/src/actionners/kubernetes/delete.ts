/**
 * kubernetes:delete — delete the audited resource of a k8s_audit alert (`ka.target.resource`,
 * `ka.target.name`, `ka.target.namespace`): Talon's kinds plus services and serviceaccounts.
 *
 * Tenancy: declared with scope 'namespace'. Namespaced kinds are deleted in the alert's
 * namespace; cluster-scoped kinds (namespaces, clusterroles) have no namespace, so the
 * dispatcher's run-time scope check skips them as OutOfScope for tenant rules, and refuses a
 * Namespace object that is protected. A 404 is success ("already gone").
 */
import { Type, type Static } from '@sinclair/typebox';
import { ok, skipped, type Actionner, type ObjectRef } from '../types.js';
import { apiFailure, DELETABLE_RESOURCES, isNotFound } from './common.js';

export const DeleteParams = Type.Object({}, { additionalProperties: false });
export type DeleteParams = Static<typeof DeleteParams>;

const SUPPORTED = [...DELETABLE_RESOURCES.keys()].join(', ');

export const deleteActionner: Actionner<DeleteParams> = {
  info: {
    name: 'kubernetes:delete',
    description: `Delete the resource named by a k8s_audit alert (${SUPPORTED})`,
    requiredFields: [['ka.target.resource'], ['ka.target.name']],
    defaultContinue: false,
    destructive: true,
    scope: 'namespace',
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
    const resource = target.auditResource;
    if (resource === undefined || target.auditName === undefined) return { ok: false, reason: 'MissingFields', message: 'the alert has no ka.target.resource and ka.target.name' };
    const r = DELETABLE_RESOURCES.get(resource);
    if (r === undefined) return { ok: false, reason: 'UnsupportedResource', message: `kubernetes:delete does not delete '${resource}' (supported: ${SUPPORTED})` };
    if (r.namespaced && target.auditNamespace === undefined) return { ok: false, reason: 'MissingFields', message: `the alert names ${resource} '${target.auditName}' without ka.target.namespace` };
    return { ok: true };
  },

  async run(ctx) {
    const resource = ctx.target.auditResource as string;
    const name = ctx.target.auditName as string;
    const r = DELETABLE_RESOURCES.get(resource);
    if (r === undefined) return skipped('UnsupportedResource', `kubernetes:delete does not delete '${resource}'`);
    const namespace = r.namespaced ? (ctx.target.auditNamespace as string) : undefined;
    const what = `${r.kind} '${name}'${namespace !== undefined ? ` in namespace '${namespace}'` : ''}`;
    const ref: ObjectRef = { apiVersion: r.apiVersion, kind: r.kind, name, ...(namespace !== undefined ? { namespace } : {}) };
    try {
      await r.delete(ctx.kube, namespace ?? '', name, ctx.signal);
    } catch (err) {
      if (isNotFound(err)) return ok('AlreadyGone', `the ${what} is already gone`, [ref]);
      return apiFailure(`deleting the ${what}`, err);
    }
    return ok('Deleted', `the ${what} has been deleted`, [ref]);
  },
};
