/**
 * kubernetes:cordon — mark the node of the alert's pod unschedulable (merge patch of
 * `spec.unschedulable`; no write when already cordoned).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { V1Node } from '@kubernetes/client-node';
import { ok, type ActionResult, type Actionner, type KubeClients, type ObjectRef } from '../types.js';
import { apiFailure, isNotFound, mergePatch, POD_FIELDS, podRef, refOf, requestOptions, requirePod } from './common.js';

export const CordonParams = Type.Object({}, { additionalProperties: false });
export type CordonParams = Static<typeof CordonParams>;

export type NodeLookup = { ok: true; node: string; pod: ObjectRef } | { ok: false; result: ActionResult };

/**
 * The node the alert's pod runs on, and the pod itself (with its uid, so the outcome's Event
 * regarding the pod is found by `kubectl describe pod`).
 */
export async function nodeOfPod(kube: KubeClients, namespace: string, name: string, signal: AbortSignal): Promise<NodeLookup> {
  try {
    const pod = await kube.core.readNamespacedPod({ name, namespace }, requestOptions(signal));
    const node = pod.spec?.nodeName;
    if (node === undefined || node === '') return { ok: false, result: { status: 'skipped', reason: 'PodNotScheduled', message: `pod '${name}' in namespace '${namespace}' is not on a node` } };
    return { ok: true, node, pod: podRef(pod, namespace, name) };
  } catch (err) {
    if (isNotFound(err)) return { ok: false, result: { status: 'skipped', reason: 'PodNotFound', message: `pod '${name}' in namespace '${namespace}' does not exist; its node is unknown` } };
    return { ok: false, result: apiFailure(`reading pod '${name}' in namespace '${namespace}'`, err) };
  }
}

/** Makes the node unschedulable; `changed` false when it already was. Throws API errors. */
export async function cordonNode(kube: KubeClients, node: string, signal: AbortSignal): Promise<{ changed: boolean; ref: ObjectRef }> {
  const current = await kube.core.readNode({ name: node }, requestOptions(signal));
  if (current.spec?.unschedulable === true) return { changed: false, ref: refOf('v1', 'Node', current, { name: node }) };
  const patched: V1Node = await kube.core.patchNode({ name: node, body: { spec: { unschedulable: true } } }, mergePatch(signal));
  return { changed: true, ref: refOf('v1', 'Node', patched, { name: node }) };
}

export const cordonActionner: Actionner<CordonParams> = {
  info: {
    name: 'kubernetes:cordon',
    description: "Cordon the node of the alert's pod (mark it unschedulable)",
    requiredFields: POD_FIELDS,
    defaultContinue: true,
    destructive: true,
    scope: 'node',
    output: 'none',
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
    ],
    example: {},
  },
  paramsSchema: CordonParams,

  precheck(_ev, target) {
    return requirePod(target);
  },

  async run(ctx) {
    const lookup = await nodeOfPod(ctx.kube, ctx.target.namespace as string, ctx.target.pod as string, ctx.signal);
    if (!lookup.ok) return lookup.result;
    try {
      const { changed, ref } = await cordonNode(ctx.kube, lookup.node, ctx.signal);
      return changed
        ? ok('Cordoned', `the node '${lookup.node}' has been cordoned`, [ref, lookup.pod])
        : ok('AlreadyCordoned', `the node '${lookup.node}' was already cordoned`, [ref, lookup.pod]);
    } catch (err) {
      if (isNotFound(err)) return { status: 'skipped', reason: 'NodeNotFound', message: `the node '${lookup.node}' does not exist` };
      return apiFailure(`cordoning the node '${lookup.node}'`, err);
    }
  },
};
