/**
 * kubernetes:sysdig — capture the syscalls of the alert's pod (or of its whole node) with a
 * short-lived privileged Job pinned to the pod's node, as Talon v0.3.0 does.
 *
 * The Job `talon-sysdig-<10 hex>` runs in the operator's own namespace (POD_NAMESPACE; the
 * pod's namespace when the operator does not know its own) — not in the alert's namespace as
 * Talon does, where anyone allowed to exec into pods there could take over a privileged pod and
 * with it the node. Its pod is pinned with `nodeName` (no scheduler involved, so cordoned or
 * full nodes are still reached), tolerates every taint, runs privileged as root with the host's
 * PID namespace and the host paths sysdig reads (read-only /proc, /boot, /lib/modules, /usr,
 * /etc; /dev; the CRI socket), no service-account token, and only `sleep <lifetime>`:
 * `activeDeadlineSeconds` and `ttlSecondsAfterFinished` bound it even if the operator dies.
 * When its pod runs, the operator execs `sysdig --modern-bpf -M <duration> … -w <file>` in it
 * (scope `pod` adds the filter `container.id in (…)` built from the pod's status, as one argv
 * entry), then streams the file back with `cat` through pods/exec (capture.ts says why), and
 * deletes the Job as soon as the stream closes — and on every early return, abort included.
 *
 * Node-scoped (`target: 'node'`): the compiler refuses it for tenant rules (ScopeNotAllowed).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { V1Job, V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { failed, type ActionResult, type Actionner, type KubeClients, type ObjectRef } from '../types.js';
import { sleep } from '../../lib/sleep.js';
import { apiFailure, isNotFound, podRef, refOf } from './common.js';
import { managedLabels, managedMetadata } from './managed.js';
import { captureKubeOf, describeEnd, runCommand, streamCommand, uniqueCaptureName, waitForRunning, type CaptureKube, type ExecEnd } from './capture.js';
import { IMAGE_PATTERN } from './tcpdump.js';
import { labelValue } from '../../lib/clip.js';

/** Talon's default image (sysdig with the modern eBPF probe, busybox `sleep` and `cat`); pin a digest in production. */
export const DEFAULT_SYSDIG_IMAGE = 'issif/sysdig:latest';
export const SYSDIG_JOB_PREFIX = 'talon-sysdig';
/** Label on the Job and its pod naming the capture (the Job's name). */
export const CAPTURE_LABEL = 'talon.dev/capture';
export const SYSDIG_ARTIFACT = 'sysdig.scap.gz';
/** Where sysdig writes the capture inside the Job's container. */
export const SYSDIG_CAPTURE_FILE = '/tmp/talon.scap.gz';
const CONTAINER = 'sysdig';
const MiB = 1024 * 1024;

export const SysdigParams = Type.Object(
  {
    image: Type.String({ default: DEFAULT_SYSDIG_IMAGE, pattern: IMAGE_PATTERN, maxLength: 512, description: 'Image with sysdig, sleep and cat.' }),
    duration: Type.Integer({ minimum: 1, maximum: 30, default: 5, description: 'Seconds to capture (sysdig -M).' }),
    bufferSize: Type.Integer({ minimum: 128, maximum: 65536, default: 2048, description: 'Bytes of each I/O buffer kept (sysdig -s).' }),
    scope: Type.Union([Type.Literal('pod'), Type.Literal('node')], { default: 'pod', description: "'pod': the pod's containers only; 'node': every process of the node." }),
    criSocket: Type.String({ default: '/run/containerd/containerd.sock', pattern: '^(/[A-Za-z0-9._-]+)+$', maxLength: 256, description: "The container runtime's socket on the node (sysdig --cri)." }),
    maxBytes: Type.Integer({ minimum: 1024, maximum: 1024 * MiB, default: 100 * MiB, description: 'Cap of the scap artifact.' }),
    startTimeoutSeconds: Type.Integer({ minimum: 5, maximum: 600, default: 60, description: "How long to wait for the Job's pod to run." }),
  },
  { additionalProperties: false },
);
export type SysdigParams = Static<typeof SysdigParams>;

/** Seconds the Job's pod lives at most (its `sleep` and `activeDeadlineSeconds`). */
export function sysdigLifetime(p: SysdigParams): number {
  return p.startTimeoutSeconds + p.duration + 60;
}

/** Host paths mounted under /host (SYSDIG_HOST_ROOT): [host path, read-only, hostPath type]. */
function hostMounts(p: SysdigParams): [string, boolean, string][] {
  return [
    ['/proc', true, 'Directory'],
    ['/boot', true, ''],
    ['/lib/modules', true, ''],
    ['/usr', true, 'Directory'],
    ['/etc', true, 'Directory'],
    ['/dev', false, 'Directory'],
    [p.criSocket, false, 'Socket'],
  ];
}

/** The Job that hosts the capture; `node` pins it, `ruleName` labels it. */
export function sysdigJob(name: string, namespace: string, node: string, ruleName: string, p: SysdigParams): V1Job {
  const life = sysdigLifetime(p);
  const labels = managedLabels(ruleName, { [CAPTURE_LABEL]: name });
  const mounts = hostMounts(p);
  const volumes: V1Volume[] = mounts.map(([path, , type], i) => ({ name: `host-${i}`, hostPath: { path, ...(type !== '' ? { type } : {}) } }));
  const volumeMounts: V1VolumeMount[] = mounts.map(([path, readOnly], i) => ({ name: `host-${i}`, mountPath: `/host${path}`, readOnly }));
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    // In the operator's namespace, so no owner reference to the alert's pod; the Job ends itself
    // (activeDeadlineSeconds) and is removed (ttlSecondsAfterFinished, and by the actionner).
    metadata: managedMetadata({ name, namespace, ruleName, labels: { [CAPTURE_LABEL]: name } }),
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: life,
      ttlSecondsAfterFinished: 300,
      template: {
        metadata: { labels },
        spec: {
          nodeName: node,
          restartPolicy: 'Never',
          tolerations: [{ operator: 'Exists' }],
          hostPID: true,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: CONTAINER,
              image: p.image,
              imagePullPolicy: 'IfNotPresent',
              command: ['sleep', String(life)],
              env: [{ name: 'SYSDIG_HOST_ROOT', value: '/host' }],
              securityContext: { privileged: true, runAsUser: 0, runAsNonRoot: false },
              volumeMounts,
            },
          ],
          volumes,
        },
      },
    },
  };
}

/** The 12-character container ids of a pod's running containers (from its status, never from the alert). */
export function containerIdsOf(pod: V1Pod): string[] {
  const ids: string[] = [];
  for (const s of [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]) {
    const m = /^[a-z0-9-]+:\/\/([0-9a-f]{12})[0-9a-f]*$/.exec(s.containerID ?? '');
    if (m?.[1] !== undefined) ids.push(m[1]);
  }
  return ids;
}

/** The capture command, one argv entry per word; `ids` restricts it to those containers. */
export function sysdigCommand(p: SysdigParams, ids: readonly string[] | undefined): string[] {
  return [
    'sysdig', '--modern-bpf', '--cri', `/host${p.criSocket}`,
    '-M', String(p.duration), '-s', String(p.bufferSize), '-z', '-w', SYSDIG_CAPTURE_FILE,
    ...(ids !== undefined ? [`container.id in (${ids.join(',')})`] : []),
  ];
}

/** Waits for the Job's pod to exist and run; its name, or why not. */
async function waitForJobPod(kube: CaptureKube, namespace: string, job: string, timeoutMs: number, signal: AbortSignal): Promise<{ ok: true; pod: string } | { ok: false; message: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await kube.listPods(namespace, `${CAPTURE_LABEL}=${job}`, signal);
    const pod = pods[0]?.metadata?.name;
    if (pod !== undefined) {
      const w = await waitForRunning(kube, namespace, pod, CONTAINER, { ephemeral: false, timeoutMs: Math.max(0, deadline - Date.now()), signal });
      return w.state === 'running' ? { ok: true, pod } : { ok: false, message: `its pod '${pod}' did not run: ${w.message}` };
    }
    if (Date.now() + 1000 > deadline) return { ok: false, message: `no pod was created within ${Math.round(timeoutMs / 1000)} s` };
    await sleep(1000, signal);
  }
}

export function makeSysdigActionner(portOf: (kube: KubeClients) => CaptureKube = captureKubeOf): Actionner<SysdigParams> {
  return {
    info: {
      name: 'kubernetes:sysdig',
      description: "Capture the syscalls of the alert's pod (or its node) with a privileged sysdig Job pinned to the pod's node, streamed to the action's output",
      requiredFields: [],
      defaultContinue: false,
      destructive: false,
      target: 'node',
      output: 'required',
      rbac: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'delete'] },
      ],
      example: { duration: 10, scope: 'pod' },
    },
    paramsSchema: SysdigParams,

    precheck(_event, target, params) {
      if (params.scope === 'pod' && target.subject === 'node' && target.pod === undefined) {
        return { ok: false, reason: 'MissingFields', message: "scope 'pod' needs the alert's pod (k8s.pod.name and k8s.ns.name); the alert names only a node" };
      }
      return { ok: true };
    },

    async run(ctx): Promise<ActionResult> {
      if (ctx.target.subject !== 'node') throw new Error(`expected a node target, got a ${ctx.target.subject} target`);
      const p = ctx.params;
      const kube = portOf(ctx.kube);
      const objects: ObjectRef[] = [];
      let node: string;
      let ids: string[] | undefined;
      let jobNamespace = ctx.identity.podNamespace;
      const alertPod = ctx.target.pod;
      if (alertPod !== undefined) {
        const { namespace, name } = alertPod;
        let pod: V1Pod;
        try {
          pod = await kube.readPod(namespace, name, ctx.signal);
        } catch (err) {
          if (isNotFound(err)) return { status: 'skipped', reason: 'PodNotFound', message: `pod '${name}' in namespace '${namespace}' does not exist; its node is unknown` };
          return apiFailure(`reading pod '${name}' in namespace '${namespace}'`, err);
        }
        objects.push(podRef(pod, namespace, name));
        const onNode = pod.spec?.nodeName;
        if (onNode === undefined || onNode === '') return { status: 'skipped', reason: 'PodNotScheduled', message: `pod '${name}' in namespace '${namespace}' is not on a node`, objects };
        node = onNode;
        jobNamespace ??= namespace;
        if (p.scope === 'pod') {
          ids = containerIdsOf(pod);
          if (ids.length === 0) return { ...failed('CaptureNotStarted', `no capture: pod '${name}' in namespace '${namespace}' reports no container id to filter on (scope 'pod')`), objects };
        }
      } else {
        node = ctx.target.object.name;
      }
      if (jobNamespace === undefined) return failed('CaptureNotStarted', "no capture: the operator's namespace (POD_NAMESPACE) is unknown and the alert names no pod, so there is no namespace for the capture Job");

      const jobName = uniqueCaptureName(SYSDIG_JOB_PREFIX);
      const job = sysdigJob(jobName, jobNamespace, node, ctx.rule.name, p);
      let handedOver = false;
      const cleanup = (): void => {
        kube.deleteJob(jobNamespace, jobName).catch(() => undefined);
      };
      try {
        const created = await kube.createJob(jobNamespace, job, ctx.signal);
        objects.push(refOf('batch/v1', 'Job', created, { namespace: jobNamespace, name: jobName }));
      } catch (err) {
        return { ...apiFailure(`creating the capture Job '${jobName}' in namespace '${jobNamespace}'`, err), objects };
      }
      const where = `the capture Job '${jobName}' (image ${p.image}) in namespace '${jobNamespace}' on node '${node}'`;
      try {
        let started: Awaited<ReturnType<typeof waitForJobPod>>;
        try {
          started = await waitForJobPod(kube, jobNamespace, jobName, p.startTimeoutSeconds * 1000, ctx.signal);
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          return { ...apiFailure(`waiting for the pod of ${where}`, err), objects };
        }
        if (!started.ok) return { ...failed('CaptureNotStarted', `no capture: ${where}: ${started.message}`), objects };
        const exec = { namespace: jobNamespace, pod: started.pod, container: CONTAINER };
        let res: ExecEnd;
        try {
          res = await runCommand(kube, { ...exec, command: sysdigCommand(p, ids) }, ctx.signal);
        } catch (err) {
          return { ...failed('CaptureFailed', `no capture: running sysdig in ${where}: ${err instanceof Error ? err.message : String(err)}`), objects };
        }
        if (res.exitCode !== 0) {
          return { ...failed('CaptureFailed', `no capture: in ${where}, ${describeEnd('sysdig', res)}`), objects };
        }
        try {
          const artifact = await streamCommand(
            kube,
            { ...exec, command: ['cat', SYSDIG_CAPTURE_FILE] },
            { name: SYSDIG_ARTIFACT, contentType: 'application/gzip', maxBytes: p.maxBytes, okCodes: new Set([0]), signal: ctx.signal, onClose: cleanup },
          );
          handedOver = true;
          const what = ids !== undefined ? `the containers of pod '${alertPod?.name ?? ''}'` : `every process of node '${node}'`;
          return { status: 'success', reason: 'Captured', message: `captured ${p.duration} s of syscalls of ${what} with ${where}`, objects, artifact };
        } catch (err) {
          return { ...failed('CaptureFailed', `no capture: reading the capture back from ${where}: ${err instanceof Error ? err.message : String(err)}`), objects };
        }
      } finally {
        if (!handedOver) cleanup();
      }
    },
  };
}

export const sysdigActionner = makeSysdigActionner();
