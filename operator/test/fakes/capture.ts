/**
 * A state-based fake of the capture actionners' port (actionners/kubernetes/capture.ts
 * `CaptureKube`): pods and Jobs kept in maps, execs answered from scripts.
 */
import type { Writable } from 'node:stream';
import type { V1EphemeralContainer, V1Job, V1Pod } from '@kubernetes/client-node';
import { apiError } from './kube.js';
import type { CaptureKube, ExecRequest, ExecSession } from '../../src/actionners/kubernetes/capture.js';

/** What a fake exec does: the stdout chunks it writes, then its exit code (or a connection error). */
export interface ExecScript {
  readonly chunks?: readonly Buffer[];
  readonly exitCode?: number;
  readonly statusMessage?: string;
  readonly stderr?: string;
  readonly connectionError?: string;
  /** The exec cannot be opened at all. */
  readonly refuse?: string;
  /** The command runs until the signal aborts (then the session fails). */
  readonly hang?: boolean;
}

/**
 * A state-based fake of the capture port: pods and Jobs in maps (an added ephemeral container
 * lands in the stored pod's spec), container states set by `onPatch`/`onJob` hooks, execs
 * recorded and answered from `scripts` (by argv[0]).
 */
export class FakeCaptureKube implements CaptureKube {
  readonly pods = new Map<string, V1Pod>();
  readonly jobs = new Map<string, V1Job>();
  readonly deletedJobs: string[] = [];
  readonly execs: ExecRequest[] = [];
  /** How many times a session was paused for backpressure. */
  pauses = 0;
  scripts = new Map<string, ExecScript>();
  /** Called after an ephemeral container was added (tests make it run, or not). */
  onPatch: ((pod: V1Pod, c: V1EphemeralContainer) => void) | undefined;
  /** Called after a Job was created (tests create its pod). */
  onJob: ((job: V1Job) => void) | undefined;
  rejectPatch: Error | undefined;

  static key = (ns: string, name: string): string => `${ns}/${name}`;

  addPod(pod: V1Pod): void {
    this.pods.set(FakeCaptureKube.key(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''), structuredClone(pod));
  }
  pod(ns: string, name: string): V1Pod | undefined {
    return this.pods.get(FakeCaptureKube.key(ns, name));
  }

  async readPod(namespace: string, name: string): Promise<V1Pod> {
    const p = this.pod(namespace, name);
    if (!p) throw apiError(404, `pods "${name}" not found`);
    return structuredClone(p);
  }
  async addEphemeralContainer(namespace: string, name: string, c: V1EphemeralContainer): Promise<V1Pod> {
    if (this.rejectPatch) throw this.rejectPatch;
    const p = this.pod(namespace, name);
    if (!p) throw apiError(404, `pods "${name}" not found`);
    const list = (p.spec!.ephemeralContainers ??= []);
    // As the API server: a name already used by any container of the pod is refused.
    if ([...list, ...(p.spec!.containers ?? [])].some((x) => x.name === c.name)) throw apiError(422, `ephemeral container name ${c.name} is not unique`);
    list.push(structuredClone(c));
    this.onPatch?.(p, c);
    return structuredClone(p);
  }
  async createJob(namespace: string, job: V1Job): Promise<V1Job> {
    const key = FakeCaptureKube.key(namespace, job.metadata?.name ?? '');
    if (this.jobs.has(key)) throw apiError(409, 'exists');
    const stored = structuredClone(job);
    stored.metadata = { ...stored.metadata, uid: `uid-${job.metadata?.name}` };
    this.jobs.set(key, stored);
    this.onJob?.(stored);
    return structuredClone(stored);
  }
  async deleteJob(namespace: string, name: string): Promise<void> {
    this.deletedJobs.push(name);
    this.jobs.delete(FakeCaptureKube.key(namespace, name));
    for (const [k, p] of this.pods) if (p.metadata?.namespace === namespace && p.metadata?.labels?.['job-name'] === name) this.pods.delete(k);
  }
  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    const [k, v] = labelSelector.split('=');
    return [...this.pods.values()].filter((p) => p.metadata?.namespace === namespace && p.metadata?.labels?.[k ?? ''] === v).map((p) => structuredClone(p));
  }
  async exec(req: ExecRequest, stdout: Writable, signal: AbortSignal): Promise<ExecSession> {
    this.execs.push({ ...req, command: [...req.command] });
    const s = this.scripts.get(req.command[0] ?? '') ?? { exitCode: 0 };
    if (s.refuse !== undefined) throw new Error(s.refuse);
    let closed = false;
    let paused = false;
    let resumed: (() => void) | undefined;
    const done = (async () => {
      if (s.hang === true) {
        await new Promise<void>((_r, reject) => signal.addEventListener('abort', () => reject(new Error('the command was abandoned')), { once: true }));
      }
      for (const c of s.chunks ?? []) {
        if (closed) break;
        // As a socket: nothing is read from the connection while the session is paused.
        while (paused) await new Promise<void>((r) => (resumed = r));
        await new Promise<void>((r) => stdout.write(c, () => r()));
        await new Promise((r) => setImmediate(r));
      }
      stdout.end();
      if (s.connectionError !== undefined) throw new Error(s.connectionError);
      return { exitCode: s.exitCode, ...(s.statusMessage !== undefined ? { statusMessage: s.statusMessage } : {}), stderr: s.stderr ?? '' };
    })();
    done.catch(() => undefined);
    return {
      done,
      pause: () => {
        paused = true;
        this.pauses += 1;
      },
      resume: () => {
        paused = false;
        resumed?.();
      },
      close: () => (closed = true),
    };
  }
}

export function runningEphemeral(pod: V1Pod, name: string): void {
  const st = (pod.status ??= {});
  (st.ephemeralContainerStatuses ??= []).push({ name, image: 'x', imageID: 'x', ready: false, restartCount: 0, state: { running: { startedAt: new Date() } } });
}

