/**
 * What the capture actionners (kubernetes:tcpdump, kubernetes:sysdig) share: the port through
 * which they reach the API server (`CaptureKube`, a fake in unit tests), unique names for the
 * objects they create, the bounded wait for a capture container to run, and the streaming of a
 * command's stdout into a size-capped artifact.
 *
 * Why the bytes come back through pods/exec (the one WebSocket exec port, kube/pod-streams.ts) rather than
 * pods/log or pods/attach of the capture container:
 * - pods/log is not binary-safe: the CRI log format splits stdout into lines (containerd drops a
 *   `\r` before `\n`, adds a newline to an unterminated last line; docker's json-file driver
 *   replaces invalid UTF-8), and the kubelet rotates logs at 10 MiB — a pcap or scap would come
 *   back corrupted or cut.
 * - pods/attach is binary-safe but only carries what the process writes after the attach session
 *   is established; the capture starts when the kubelet starts the container, so its first bytes
 *   (the pcap global header) race the attach and are lost when the operator is late — nothing
 *   short of a shell in the container can delay the start.
 * - pods/exec starts the capture process with the stream already attached: every byte is
 *   carried, in order, unmodified; the exit code comes back on the status channel. The capture
 *   container's own process is a `sleep` bounded by the capture's duration, so it stops by itself.
 *   Each argv entry is one exec `command` parameter: nothing goes through a shell.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import type { BatchV1Api, KubeConfig, V1EphemeralContainer, V1Job, V1Pod, V1Status } from '@kubernetes/client-node';
import { PatchStrategy } from '../../kube/client-node-lite.js';
import type { Artifact } from '../../lib/artifact.js';
import { memoAsync } from '../../lib/first-use.js';
import { sleep } from '../../lib/sleep.js';
import { execStatusOf } from '../../kube/pod-streams.js';
import type { KubeClients } from '../types.js';
import { requestOptions } from './common.js';

/** One command run in a container through pods/exec. */
export interface ExecRequest {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  /** argv; each entry reaches the process as one argument (no shell). */
  readonly command: readonly string[];
}

/** A running exec session whose stdout goes to a writable the caller gave. */
export interface ExecSession {
  /**
   * Settles when the command ended: its exit code (undefined when the status carries none:
   * some kubelets — kwok — report a failed command as an InternalError), the status message
   * of a failure, and the first 4 KiB of its stderr. Rejects when the connection failed or
   * closed before the command ended.
   */
  readonly done: Promise<ExecEnd>;
  /** Stops reading from the connection (backpressure), and resumes. */
  pause(): void;
  resume(): void;
  /** Closes the connection (the artifact was cut at its cap, or abandoned). */
  close(): void;
}

/** How an exec'd command ended. */
export interface ExecEnd {
  readonly exitCode: number | undefined;
  /** The status message when the command did not succeed. */
  readonly statusMessage?: string;
  readonly stderr: string;
}

/** The API operations the capture actionners need; `captureKubeOf` builds it on the real clients. */
export interface CaptureKube {
  readPod(namespace: string, name: string, signal: AbortSignal): Promise<V1Pod>;
  /** Adds one ephemeral container (strategic merge patch of the pod's `ephemeralcontainers` subresource). */
  addEphemeralContainer(namespace: string, pod: string, container: V1EphemeralContainer, signal: AbortSignal): Promise<V1Pod>;
  createJob(namespace: string, job: V1Job, signal: AbortSignal): Promise<V1Job>;
  /** Deletes a Job and (background propagation) its pods; a Job already gone is not an error. */
  deleteJob(namespace: string, name: string): Promise<void>;
  /** Pods of a namespace matching a label selector. */
  listPods(namespace: string, labelSelector: string, signal: AbortSignal): Promise<V1Pod[]>;
  /** Starts a command; its stdout bytes are written to `stdout` as they arrive (the caller ends it). */
  exec(req: ExecRequest, stdout: Writable, signal: AbortSignal): Promise<ExecSession>;
}

/** The KubeConfig behind the clients, which streaming APIs and the batch client need. */
async function kubeConfigOf(kube: KubeClients): Promise<KubeConfig> {
  if (kube.kubeConfig === undefined) throw new Error('the Kubernetes clients carry no KubeConfig: the batch API is unavailable');
  return kube.kubeConfig();
}

const STDERR_KEEP = 4096;

/** The exit code an exec status reports (kube/pod-streams.ts reads it, kwok's form included). */
export function exitCodeOf(status: V1Status): number | undefined {
  return execStatusOf(status).exitCode;
}

/** The real port over client-node (CoreV1Api, BatchV1Api, Exec over WebSocket). */
export function captureKubeOf(kube: KubeClients): CaptureKube {
  // client-node's typed clients are loaded on first use (kube/client-node-lite.ts says why).
  const batchApi = memoAsync(async (): Promise<BatchV1Api> => {
    const [kc, k8s] = await Promise.all([kubeConfigOf(kube), import('@kubernetes/client-node')]);
    return kc.makeApiClient(k8s.BatchV1Api);
  });
  return {
    readPod: (namespace, name, signal) => kube.core.readNamespacedPod({ namespace, name }, requestOptions(signal)),
    addEphemeralContainer: (namespace, name, container, signal) =>
      kube.core.patchNamespacedPodEphemeralcontainers(
        { namespace, name, body: { spec: { ephemeralContainers: [container] } } },
        requestOptions(signal, PatchStrategy.StrategicMergePatch),
      ),
    createJob: async (namespace, body, signal) => (await batchApi()).createNamespacedJob({ namespace, body }, requestOptions(signal)),
    deleteJob: async (namespace, name) => {
      try {
        await (await batchApi()).deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
      }
    },
    listPods: async (namespace, labelSelector, signal) => (await kube.core.listNamespacedPod({ namespace, labelSelector }, requestOptions(signal))).items,
    exec: async (req, stdout, signal) => {
      // The one pods/exec path (kube/pod-streams.ts): back-pressure comes from `stdout` itself,
      // so pause/resume have nothing to do here.
      let stderr = '';
      const errSink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (stderr.length < STDERR_KEEP) stderr += chunk.toString('utf8').slice(0, STDERR_KEEP - stderr.length);
          cb();
        },
      });
      const ac = new AbortController();
      const onAbort = (): void => ac.abort(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      const text = (err: unknown): string => (err instanceof Error ? err.message : ((err as { message?: string } | null)?.message ?? String(err)));
      let isOpen = false;
      let opened: () => void = () => undefined;
      const open = new Promise<void>((resolve) => (opened = resolve));
      const done: Promise<ExecEnd> = kube.streams
        .exec({
          namespace: req.namespace,
          pod: req.pod,
          container: req.container,
          command: req.command,
          stdout,
          stderr: errSink,
          signal: ac.signal,
          onOpen: () => {
            isOpen = true;
            opened();
          },
        })
        .then(
          (st) => ({ exitCode: st.exitCode, ...(st.success ? {} : { statusMessage: st.message }), stderr: stderr.trim() }),
          (err: unknown) => {
            // Before the session opened, the API server refused the exec (403, 404, container not running).
            if (!isOpen) throw new Error(`pods/exec refused: ${text(err)}`);
            throw new Error(ac.signal.aborted ? 'the command was abandoned' : `pods/exec: ${text(err)}`);
          },
        )
        .finally(() => signal.removeEventListener('abort', onAbort));
      done.catch(() => undefined);
      // Resolve once the session is open; a refusal rejects here, as the contract says.
      await Promise.race([open, done.then(() => undefined)]);
      return { done, pause: () => undefined, resume: () => undefined, close: () => ac.abort(new Error('the capture was closed')) };
    },
  };
}

/**
 * A name for an object or ephemeral container the operator creates: `prefix-<10 hex>`, random
 * so two captures never collide (an ephemeral container can never be removed from its pod, so
 * its name is taken for the pod's lifetime). `prefix` must be a DNS label prefix.
 */
export function uniqueCaptureName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** How a wait for a capture container ended. */
export type ContainerWait =
  | { readonly state: 'running'; readonly pod: V1Pod }
  | { readonly state: 'ended'; readonly message: string }
  | { readonly state: 'timeout'; readonly message: string };

/** The status of a named container of a pod, among its regular or its ephemeral containers. */
function containerStatusOf(pod: V1Pod, container: string, ephemeral: boolean) {
  const list = ephemeral ? pod.status?.ephemeralContainerStatuses : pod.status?.containerStatuses;
  return list?.find((s) => s.name === container);
}

/**
 * Polls `pod` (every `pollMs`) until `container` runs, for at most `timeoutMs`. A container that
 * terminated, or waits with a reason other than the normal start-up ones (an image that cannot
 * be pulled...), ends the wait early with that reason. Rejects only when `signal` aborts or
 * the pod cannot be read.
 */
export async function waitForRunning(
  kube: CaptureKube,
  namespace: string,
  pod: string,
  container: string,
  opts: { ephemeral: boolean; timeoutMs: number; pollMs?: number; signal: AbortSignal },
): Promise<ContainerWait> {
  const deadline = Date.now() + opts.timeoutMs;
  const poll = opts.pollMs ?? 1000;
  let last = 'no status reported yet';
  for (;;) {
    const p = await kube.readPod(namespace, pod, opts.signal);
    const st = containerStatusOf(p, container, opts.ephemeral);
    if (st?.state?.running) return { state: 'running', pod: p };
    const term = st?.state?.terminated;
    if (term) return { state: 'ended', message: `it terminated (${term.reason ?? 'exit code ' + String(term.exitCode)}${term.message ? `: ${term.message}` : ''})` };
    const waiting = st?.state?.waiting;
    if (waiting?.reason) {
      last = `waiting: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`;
      if (FATAL_WAITING.has(waiting.reason)) return { state: 'ended', message: last };
    }
    if (Date.now() + poll > deadline) return { state: 'timeout', message: `it did not start within ${Math.round(opts.timeoutMs / 1000)} s (${last})` };
    await sleep(poll, opts.signal);
  }
}

/** Waiting reasons that will not resolve by themselves. */
const FATAL_WAITING = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/** Exit codes that end a capture normally: 0, and 124 (coreutils `timeout` stopped it at the duration). */
export const NORMAL_EXIT_CODES: ReadonlySet<number> = new Set([0, 124]);

/**
 * Runs `req` and exposes its stdout as an artifact stream, live: bytes flow to the artifact's
 * reader as the command writes them, with backpressure onto the connection. At `maxBytes` the
 * stream ends (the capture is cut there) and the session is closed. The stream ends when the
 * command exits with a code in `okCodes`; otherwise, or when the connection fails, it is
 * destroyed with an error naming the exit code and the first of stderr (so the output reports
 * the artifact as not stored). `onClose` runs once when the returned stream is finished or
 * destroyed. Rejects (without calling `onClose`) when the exec session cannot be opened.
 */
export async function streamCommand(
  kube: CaptureKube,
  req: ExecRequest,
  opts: { name: string; contentType: string; maxBytes: number; okCodes?: ReadonlySet<number>; signal: AbortSignal; onClose?: () => void },
): Promise<Artifact> {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  const okCodes = opts.okCodes ?? NORMAL_EXIT_CODES;
  let bytes = 0;
  let capped = false;
  let paused = false;
  let session: ExecSession | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (capped || out.destroyed) return cb();
      const room = opts.maxBytes - bytes;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      bytes += part.length;
      const more = out.write(part);
      if (bytes >= opts.maxBytes) {
        capped = true;
        out.end();
        session?.close();
      } else if (!more) {
        // Back-pressure: the write is acknowledged once the reader drained, so the exec
        // session (which honours its stdout's back-pressure) stops reading meanwhile.
        if (!paused) {
          paused = true;
          session?.pause();
        }
        out.once('drain', () => {
          paused = false;
          session?.resume();
          cb();
        });
        return;
      }
      cb();
    },
  });
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    opts.onClose?.();
  };
  out.once('close', close);
  out.once('end', close);
  try {
    session = await kube.exec(req, sink, opts.signal);
  } catch (err) {
    closed = true; // the caller learns of it from the rejection; onClose is for handed-over streams
    out.destroy();
    throw err;
  }
  const s = session;
  out.once('close', () => {
    if (!capped) s.close();
  });
  s.done.then(
    (end) => {
      if (capped || out.destroyed || out.writableEnded) return;
      if (end.exitCode !== undefined && okCodes.has(end.exitCode)) out.end();
      else out.destroy(new Error(describeEnd(req.command[0] ?? '', end)));
    },
    (err: unknown) => {
      if (capped || out.destroyed || out.writableEnded) return;
      out.destroy(err instanceof Error ? err : new Error(String(err)));
    },
  );
  return { name: opts.name, contentType: opts.contentType, stream: out, maxBytes: opts.maxBytes };
}

/** A failed command's end in words: `'cmd' exited with code N: <stderr>` or `'cmd' failed (<status>): <stderr>`. */
export function describeEnd(command: string, end: ExecEnd): string {
  const how = end.exitCode !== undefined ? `exited with code ${end.exitCode}` : `failed (${end.statusMessage ?? 'no exit status'})`;
  return `'${command}' ${how}${end.stderr ? `: ${end.stderr}` : ''}`;
}

/** Runs `req` to its end, discarding stdout; how it ended. */
export async function runCommand(kube: CaptureKube, req: ExecRequest, signal: AbortSignal): Promise<ExecEnd> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const session = await kube.exec(req, sink, signal);
  return session.done;
}
