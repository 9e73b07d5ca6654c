/**
 * kubernetes:cordon — mark the alert's node unschedulable (merge patch of `spec.unschedulable`;
 * no write when already cordoned). The node is the one the alert's pod runs on, else Falco's
 * hostname (falco/target.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { V1Node } from '@kubernetes/client-node';
import { ok, type ActionResult, type Actionner, type KubeClients, type ObjectRef, type ResolvedTarget } from '../types.js';
import { apiFailure, isNotFound, mergePatch, podRef, refOf, requestOptions } from './common.js';
import { madeByOf, recordedCordonPatch, revertCommand, type MadeBy } from '../revert.js';

export const CordonParams = Type.Object({}, { additionalProperties: false });
export type CordonParams = Static<typeof CordonParams>;

/** The node to act on, and the alert's pod it was found through (absent for a node named by hostname). */
export type NodeLookup = { ok: true; node: string; pod?: ObjectRef } | { ok: false; result: ActionResult };

/**
 * The node of a `node` target: the node the alert's pod runs on (read now; the pod is returned
 * with its uid, so the outcome's Event regarding it is found by `kubectl describe pod`), or the
 * node the alert names by hostname. Throws for another subject (a dispatcher contract violation).
 */
export async function nodeOfTarget(kube: KubeClients, target: ResolvedTarget, signal: AbortSignal): Promise<NodeLookup> {
  if (target.subject !== 'node') throw new Error(`expected a node target, got a ${target.subject} target`);
  if (target.pod === undefined) return { ok: true, node: target.object.name };
  const { namespace, name } = target.pod;
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

/**
 * Makes the node unschedulable; `changed` false when it already was. With `revert` the change
 * is recorded on the node for undo at `revert.afterMs` from now (actionners/revert.ts; the
 * patch is conditional on the node as read). Throws API errors.
 */
export async function cordonNode(
  kube: KubeClients,
  node: string,
  signal: AbortSignal,
  revert?: { readonly who: MadeBy; readonly afterMs: number },
): Promise<{ changed: boolean; ref: ObjectRef; note?: string }> {
  const current = await kube.core.readNode({ name: node }, requestOptions(signal));
  const recorded = revert ? recordedCordonPatch(current, revert.who, revert.afterMs, Date.now()) : undefined;
  if (recorded !== undefined) {
    const patched: V1Node = await kube.core.patchNode({ name: node, body: recorded.patch }, mergePatch(signal));
    const note = `; uncordoned at ${recorded.at} (now: ${revertCommand('Node', node, undefined, recorded.id)})`;
    return { changed: current.spec?.unschedulable !== true, ref: refOf('v1', 'Node', patched, { name: node }), note };
  }
  if (current.spec?.unschedulable === true) return { changed: false, ref: refOf('v1', 'Node', current, { name: node }) };
  const patched: V1Node = await kube.core.patchNode({ name: node, body: { spec: { unschedulable: true } } }, mergePatch(signal));
  return { changed: true, ref: refOf('v1', 'Node', patched, { name: node }) };
}

export const cordonActionner: Actionner<CordonParams> = {
  info: {
    name: 'kubernetes:cordon',
    description: "Cordon the node of the alert's pod, or the alert's hostname (mark it unschedulable)",
    requiredFields: [],
    defaultContinue: true,
    destructive: true,
    reversible: true,
    target: 'node',
    output: 'none',
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'patch'] },
    ],
    example: {},
  },
  paramsSchema: CordonParams,

  precheck() {
    return { ok: true };
  },

  async run(ctx) {
    const lookup = await nodeOfTarget(ctx.kube, ctx.target, ctx.signal);
    if (!lookup.ok) return lookup.result;
    try {
      const revert = ctx.revertAfterMs === undefined ? undefined : { who: madeByOf(ctx, 'kubernetes:cordon'), afterMs: ctx.revertAfterMs };
      const { changed, ref, note = '' } = await cordonNode(ctx.kube, lookup.node, ctx.signal, revert);
      const objects = lookup.pod !== undefined ? [ref, lookup.pod] : [ref];
      return changed
        ? ok('Cordoned', `the node '${lookup.node}' has been cordoned${note}`, objects)
        : ok('AlreadyCordoned', `the node '${lookup.node}' was already cordoned${note}`, objects);
    } catch (err) {
      if (isNotFound(err)) return { status: 'skipped', reason: 'NodeNotFound', message: `the node '${lookup.node}' does not exist` };
      return apiFailure(`cordoning the node '${lookup.node}'`, err);
    }
  },
};
