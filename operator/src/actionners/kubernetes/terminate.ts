/**
 * kubernetes:terminate — delete the alert's pod (talon-compat §4), with the ignore* and
 * minHealthyReplicas guards done right (percentages of the owner's desired replicas, rounded
 * up; the pod being killed counts as gone). The delete is preconditioned on the pod's uid so a
 * replacement pod with the same name (StatefulSet) is never killed for an older alert.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { V1Pod } from '@kubernetes/client-node';
import { fieldText } from '../../falco/event.js';
import { ok, skipped, type Actionner } from '../types.js';
import { apiFailure, ignoredBy, isNotFound, minHealthyGuard, MIN_HEALTHY_PATTERN, podRef, podTarget, requestOptions, statusOf } from './common.js';

export const TerminateParams = Type.Object(
  {
    gracePeriodSeconds: Type.Integer({ minimum: 0, default: 0, description: 'Seconds the pod gets to stop; 0 kills it immediately.' }),
    ignoreDaemonSets: Type.Boolean({ default: false, description: 'Leave pods owned by a DaemonSet alone.' }),
    ignoreStatefulSets: Type.Boolean({ default: false, description: 'Leave pods owned by a StatefulSet alone.' }),
    ignoreStandalonePods: Type.Boolean({ default: false, description: 'Leave pods without an owner alone.' }),
    minHealthyReplicas: Type.Optional(
      Type.String({
        pattern: MIN_HEALTHY_PATTERN,
        description: 'Ready replicas the owning workload must keep after the kill: a count ("2") or a percentage of its desired replicas ("50%", rounded up).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type TerminateParams = Static<typeof TerminateParams>;

/** Whether the pod still runs the container the alert came from (Falco's 12-char `container.id`). */
function runsContainer(pod: V1Pod, containerId: string): boolean | undefined {
  const statuses = [
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  const ids = statuses.map((s) => s.containerID?.replace(/^[a-z0-9-]+:\/\//, '')).filter((id): id is string => id !== undefined && id !== '');
  if (ids.length === 0) return undefined;
  return ids.some((id) => id.startsWith(containerId));
}

export const terminateActionner: Actionner<TerminateParams> = {
  info: {
    name: 'kubernetes:terminate',
    description: 'Terminate the pod of the alert',
    requiredFields: [],
    defaultContinue: false,
    destructive: true,
    target: 'pod',
    output: 'none',
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'delete'] },
      { apiGroups: ['apps'], resources: ['replicasets', 'deployments', 'statefulsets', 'daemonsets'], verbs: ['get'] },
    ],
    example: { gracePeriodSeconds: 0, ignoreDaemonSets: true, ignoreStatefulSets: true, minHealthyReplicas: '50%' },
  },
  paramsSchema: TerminateParams,

  precheck() {
    return { ok: true };
  },

  async run(ctx) {
    const { name, namespace } = podTarget(ctx.target);
    const what = `pod '${name}' in namespace '${namespace}'`;
    const opts = requestOptions(ctx.signal);

    let pod: V1Pod;
    try {
      pod = await ctx.kube.core.readNamespacedPod({ name, namespace }, opts);
    } catch (err) {
      if (isNotFound(err)) return ok('AlreadyGone', `the ${what} is already gone`);
      return apiFailure(`reading the ${what}`, err);
    }
    const ref = podRef(pod, namespace, name);

    const containerId = fieldText(ctx.event, 'container.id');
    if (containerId !== undefined && containerId !== 'host' && runsContainer(pod, containerId) === false) {
      return skipped('PodReplaced', `the ${what} no longer runs container ${containerId} from the alert; not terminating its replacement`);
    }

    const ignored = ignoredBy(pod, ctx.params);
    if (ignored) return skipped(ignored.reason, `the ${what} was not terminated: ${ignored.what}`);

    if (ctx.params.minHealthyReplicas !== undefined) {
      try {
        const why = await minHealthyGuard(ctx.kube, pod, ctx.params.minHealthyReplicas, ctx.signal);
        if (why !== undefined) return skipped('MinHealthyReplicas', `the ${what} was not terminated: ${why}`);
      } catch (err) {
        return apiFailure(`reading the owner of the ${what}`, err);
      }
    }

    const uid = pod.metadata?.uid;
    try {
      await ctx.kube.core.deleteNamespacedPod(
        {
          name,
          namespace,
          gracePeriodSeconds: ctx.params.gracePeriodSeconds,
          body: { gracePeriodSeconds: ctx.params.gracePeriodSeconds, ...(uid !== undefined ? { preconditions: { uid } } : {}) },
        },
        opts,
      );
    } catch (err) {
      if (isNotFound(err)) return ok('AlreadyGone', `the ${what} is already gone`, [ref]);
      if (statusOf(err) === 409 && uid !== undefined) return skipped('PodReplaced', `the ${what} was replaced by a new pod (uid changed); not terminating the replacement`);
      return apiFailure(`deleting the ${what}`, err);
    }
    return ok('Terminated', `the ${what} has been terminated (grace period ${ctx.params.gracePeriodSeconds}s)`, [ref]);
  },
};
