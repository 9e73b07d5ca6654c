/**
 * kubernetes:tcpdump — capture the alert's pod's traffic with an ephemeral container.
 *
 * Adds an ephemeral container named `talon-tcpdump-<10 hex>` (unique: ephemeral containers can
 * never be removed, so a second capture on the same pod gets another name) to the pod through
 * its `ephemeralcontainers` subresource, targeting the chosen container (default: the first)
 * so it shares its process namespace, and the pod's network namespace as every container does.
 * Its own process is `sleep <startTimeoutSeconds + duration + 30>`: it stops by itself.
 * Once it runs, the operator starts `timeout -s INT <duration> tcpdump … -w -` in it through
 * pods/exec and streams the pcap from stdout into the artifact, live and size-capped
 * (capture.ts says why exec rather than logs or attach). Every parameter is its own argv entry;
 * the BPF filter is one argv entry after `--`, never seen by a shell nor read as an option.
 *
 * Outcomes: Succeeded/Captured (the output stored the pcap); Failed/CaptureNotStarted when the
 * ephemeral container does not run within `startTimeoutSeconds` (the API server accepted it
 * but no kubelet started it, the image cannot be pulled...); Failed/CaptureFailed when the exec
 * cannot be opened; Failed/ArtifactNotStored (from the dispatcher) when tcpdump exits with an
 * error mid-stream. The action's `timeoutSeconds` must cover startTimeoutSeconds + duration.
 *
 * Tenancy: declared `cloud` — it acts beyond Kubernetes' built-in `edit` role (which grants
 * pods/exec but not pods/ephemeralcontainers, and adds no NET_RAW/NET_ADMIN container to a
 * running pod), so a tenant rule may use it only in the namespaces `safety.cloudNamespaces` lists
 * (DESIGN.md §2: tenant rules do nothing `edit` does not already allow).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { V1EphemeralContainer, V1Pod } from '@kubernetes/client-node';
import { failed, type ActionResult, type Actionner, type KubeClients } from '../types.js';
import { apiFailure, isNotFound, podRef, podTarget } from './common.js';
import { captureKubeOf, streamCommand, uniqueCaptureName, waitForRunning, type CaptureKube, type ContainerWait } from './capture.js';

/** Talon's default image (alpine with tcpdump, busybox `sleep` and `timeout`); pin a digest in production. */
export const DEFAULT_TCPDUMP_IMAGE = 'issif/tcpdump:latest';
export const TCPDUMP_CONTAINER_PREFIX = 'talon-tcpdump';
export const TCPDUMP_ARTIFACT = 'tcpdump.pcap';
const MiB = 1024 * 1024;

/** An image reference: no whitespace or control characters, not an option. */
export const IMAGE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._/:@-]*$';

export const TcpdumpParams = Type.Object(
  {
    image: Type.String({ default: DEFAULT_TCPDUMP_IMAGE, pattern: IMAGE_PATTERN, maxLength: 512, description: 'Image with tcpdump, sleep and timeout.' }),
    duration: Type.Integer({ minimum: 1, maximum: 300, default: 5, description: 'Seconds to capture.' }),
    snaplen: Type.Integer({ minimum: 0, maximum: 262144, default: 4096, description: 'Bytes kept per packet (tcpdump -s; 0 = whole packet).' }),
    interface: Type.String({ default: 'any', pattern: '^[A-Za-z0-9_.:@][A-Za-z0-9_.:@-]{0,63}$', description: 'Interface to capture on (tcpdump -i).' }),
    filter: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, pattern: '^[^\\x00-\\x1f-][^\\x00-\\x1f]*$', description: 'BPF filter expression, passed as one argv entry after `--`.' }),
    ),
    packetCount: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000, description: 'Stop after this many packets (tcpdump -c).' }),
    maxBytes: Type.Integer({ minimum: 1024, maximum: 1024 * MiB, default: 50 * MiB, description: 'Cap of the pcap artifact; the capture is cut there.' }),
    container: Type.Optional(Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63, description: 'Container to target (default: the first).' })),
    startTimeoutSeconds: Type.Integer({ minimum: 5, maximum: 600, default: 60, description: 'How long to wait for the ephemeral container to run.' }),
  },
  { additionalProperties: false },
);
export type TcpdumpParams = Static<typeof TcpdumpParams>;

/** Seconds the ephemeral container's `sleep` lasts: long enough to start, capture and drain. */
export function tcpdumpLifetime(p: TcpdumpParams): number {
  return p.startTimeoutSeconds + p.duration + 30;
}

/** The ephemeral container added to the pod (no shell anywhere: `command` is argv). */
export function tcpdumpContainer(name: string, target: string, p: TcpdumpParams): V1EphemeralContainer {
  return {
    name,
    image: p.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sleep', String(tcpdumpLifetime(p))],
    targetContainerName: target,
    stdin: false,
    tty: false,
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { add: ['NET_RAW', 'NET_ADMIN'], drop: ['ALL'] },
    },
  };
}

/** The capture command run in the ephemeral container, one argv entry per word. */
export function tcpdumpCommand(p: TcpdumpParams): string[] {
  return [
    'timeout', '-s', 'INT', String(p.duration),
    'tcpdump', '-n', '-U', '-i', p.interface, '-s', String(p.snaplen), '-c', String(p.packetCount), '-w', '-',
    ...(p.filter !== undefined ? ['--', p.filter] : []),
  ];
}

/** The container to target: the named one if the pod has it, else the first. */
function chooseContainer(pod: V1Pod, wanted: string | undefined): string | undefined {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  if (wanted === undefined) return names[0];
  return names.includes(wanted) ? wanted : undefined;
}

/** Builds the actionner over a port (tests inject a fake; by default the real API through client-node). */
export function makeTcpdumpActionner(portOf: (kube: KubeClients) => CaptureKube = captureKubeOf): Actionner<TcpdumpParams> {
  return {
    info: {
      name: 'kubernetes:tcpdump',
      description: "Capture the alert's pod's network traffic (pcap) with an ephemeral tcpdump container, streamed to the action's output",
      requiredFields: [],
      defaultContinue: false,
      destructive: false,
      target: 'pod',
      cloud: true,
      output: 'required',
      rbac: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['patch'] },
        { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
      ],
      example: { duration: 10, snaplen: 262144, filter: 'not port 22' },
    },
    paramsSchema: TcpdumpParams,

    precheck() {
      return { ok: true };
    },

    async run(ctx): Promise<ActionResult> {
      const { namespace, name } = podTarget(ctx.target);
      const p = ctx.params;
      const kube = portOf(ctx.kube);
      let pod: V1Pod;
      try {
        pod = await kube.readPod(namespace, name, ctx.signal);
      } catch (err) {
        if (isNotFound(err)) return { status: 'skipped', reason: 'PodNotFound', message: `pod '${name}' in namespace '${namespace}' does not exist` };
        return apiFailure(`reading pod '${name}' in namespace '${namespace}'`, err);
      }
      const objects = [podRef(pod, namespace, name)];
      const target = chooseContainer(pod, p.container);
      if (target === undefined) {
        return { status: 'skipped', reason: 'ContainerNotFound', message: `pod '${name}' in namespace '${namespace}' has no container '${p.container ?? ''}'`, objects };
      }
      const container = uniqueCaptureName(TCPDUMP_CONTAINER_PREFIX);
      try {
        await kube.addEphemeralContainer(namespace, name, tcpdumpContainer(container, target, p), ctx.signal);
      } catch (err) {
        return { ...apiFailure(`adding the ephemeral container '${container}' to pod '${name}' in namespace '${namespace}'`, err), objects };
      }
      const where = `the ephemeral container '${container}' (image ${p.image}) of pod '${name}' in namespace '${namespace}'`;
      let wait: ContainerWait;
      try {
        wait = await waitForRunning(kube, namespace, name, container, { ephemeral: true, timeoutMs: p.startTimeoutSeconds * 1000, signal: ctx.signal });
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        if (isNotFound(err)) return { status: 'skipped', reason: 'PodNotFound', message: `pod '${name}' in namespace '${namespace}' was deleted before the capture started`, objects };
        return { ...apiFailure(`waiting for ${where}`, err), objects };
      }
      if (wait.state !== 'running') return { ...failed('CaptureNotStarted', `no capture: ${where} did not run: ${wait.message}`), objects };
      try {
        const artifact = await streamCommand(
          kube,
          { namespace, pod: name, container, command: tcpdumpCommand(p) },
          { name: TCPDUMP_ARTIFACT, contentType: 'application/vnd.tcpdump.pcap', maxBytes: p.maxBytes, signal: ctx.signal },
        );
        return {
          status: 'success',
          reason: 'Captured',
          message: `captured ${p.duration} s of traffic on '${p.interface}' of container '${target}' with ${where}`,
          objects,
          artifact,
        };
      } catch (err) {
        return { ...failed('CaptureFailed', `no capture: starting tcpdump in ${where}: ${err instanceof Error ? err.message : String(err)}`), objects };
      }
    },
  };
}

export const tcpdumpActionner = makeTcpdumpActionner();
