/**
 * Running a command in a pod's containers and capturing what it printed: the shared part of
 * kubernetes:exec and kubernetes:script (and the container choice and pod read that
 * kubernetes:log and kubernetes:download share).
 *
 * Output is captured up to a cap per stream and container (the rest is counted, not kept);
 * the outcome message carries the exit code first (so it survives the 1 KiB Event note and
 * the 512-character status entry), then an excerpt of stdout and stderr with control
 * characters and terminal escapes removed. When the action has an output, the whole capture
 * becomes a text artifact.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { Writable } from 'node:stream';
import { fromKubeError } from '../../errors.js';
import { artifactFromBuffer, type Artifact } from '../../lib/artifact.js';
import type { PodStreams } from '../../kube/pod-streams.js';
import { failed, ok, type ActionContext, type ActionResult, type ObjectRef } from '../types.js';
import { apiFailure, isNotFound, podRef, podTarget, requestOptions } from './common.js';

/** Characters of each stream's excerpt in the outcome message. */
export const MESSAGE_EXCERPT_CHARS = 1024;
/** Characters of why a command did not run (API or runtime text, which may repeat the whole argv). */
export const PROBLEM_CHARS = 300;

/** A writable keeping the first `cap` bytes it receives and counting the rest. */
export class CappedCapture extends Writable {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte received, kept or not. */
  total = 0;

  constructor(private readonly cap: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.add(chunk);
    cb();
  }

  /** Takes `chunk` synchronously (what `write` does, without the stream machinery). */
  add(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.cap - this.kept;
    if (room > 0) {
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      this.chunks.push(Buffer.from(part));
      this.kept += part.length;
    }
  }

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get truncated(): boolean {
    return this.total > this.kept;
  }
}

/** Text fit for a message: UTF-8 decoded, terminal escapes removed, other control characters (but tab and newline) shown as U+FFFD, trailing newlines trimmed, cut to `max` characters. */
export function printable(data: Buffer, max = MESSAGE_EXCERPT_CHARS): string {
  const text = data
    .toString('utf8')
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '\uFFFD')
    .replace(/\n+$/, '');
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Every container name of a pod: its containers, then init and ephemeral containers. */
export function containerNames(pod: V1Pod): string[] {
  const spec = pod.spec;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? []), ...(spec?.ephemeralContainers ?? [])].map((c) => c.name);
}

export interface ContainerChoice {
  /** A container by name (any of the pod's containers, init or ephemeral); absent = the first container. */
  readonly container?: string;
  /** Every regular container, in spec order (exec and script only). */
  readonly allContainers?: boolean;
}

/** The containers to act in, or the result when the pod has none of that name. */
export function chooseContainers(pod: V1Pod, choice: ContainerChoice): { ok: true; names: string[] } | { ok: false; result: ActionResult } {
  const regular = (pod.spec?.containers ?? []).map((c) => c.name);
  const where = `pod '${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}'`;
  if (choice.allContainers === true) {
    return regular.length > 0 ? { ok: true, names: regular } : { ok: false, result: failed('ContainerNotFound', `${where} has no containers`) };
  }
  if (choice.container !== undefined) {
    const all = containerNames(pod);
    if (all.includes(choice.container)) return { ok: true, names: [choice.container] };
    return { ok: false, result: failed('ContainerNotFound', `${where} has no container '${choice.container}' (it has: ${all.join(', ') || 'none'})`) };
  }
  const first = regular[0];
  return first !== undefined ? { ok: true, names: [first] } : { ok: false, result: failed('ContainerNotFound', `${where} has no containers`) };
}

/** The alert's pod, read now (with its uid for the outcome), or the result when it is gone or unreadable. */
export async function readTargetPod(ctx: Pick<ActionContext, 'target' | 'kube' | 'signal'>): Promise<{ ok: true; pod: V1Pod; ref: ObjectRef } | { ok: false; result: ActionResult }> {
  const { namespace, name } = podTarget(ctx.target);
  try {
    const pod = await ctx.kube.core.readNamespacedPod({ name, namespace }, requestOptions(ctx.signal));
    return { ok: true, pod, ref: podRef(pod, namespace, name) };
  } catch (err) {
    if (isNotFound(err)) return { ok: false, result: { status: 'skipped', reason: 'PodNotFound', message: `pod '${name}' in namespace '${namespace}' does not exist` } };
    return { ok: false, result: apiFailure(`reading pod '${name}' in namespace '${namespace}'`, err) };
  }
}

/** What one command run in one container gave. */
export interface ContainerRun {
  readonly container: string;
  readonly stdout: CappedCapture;
  readonly stderr: CappedCapture;
  /** Set when the command ended. */
  readonly exitCode?: number;
  readonly success: boolean;
  /** Why it failed when it did not exit 0: the status message, a timeout, an error. */
  readonly problem?: string;
  /** The session could not be opened (nothing ran); `retryable` says whether trying again can help. */
  readonly notStarted?: { readonly code: string; readonly retryable: boolean };
  readonly timedOut?: boolean;
}

export interface RunInput {
  readonly streams: PodStreams;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly argv: readonly string[];
  /** Bytes kept of each stream. */
  readonly maxOutputBytes: number;
  /** The run's deadline and shutdown. */
  readonly signal: AbortSignal;
  /** Aborts when the command's own timeout passed (a subset of `signal`). */
  readonly timeout: AbortSignal;
}

/** Runs `argv` in one container; never throws except when `signal` aborted for another reason than `timeout`. */
export async function runInContainer(input: RunInput): Promise<ContainerRun> {
  const stdout = new CappedCapture(input.maxOutputBytes);
  const stderr = new CappedCapture(input.maxOutputBytes);
  const base = { container: input.container, stdout, stderr };
  try {
    const status = await input.streams.exec({
      namespace: input.namespace,
      pod: input.pod,
      container: input.container,
      command: input.argv,
      stdout,
      stderr,
      signal: input.signal,
    });
    return {
      ...base,
      success: status.success,
      ...(status.exitCode !== undefined ? { exitCode: status.exitCode } : {}),
      ...(status.success ? {} : { problem: status.message }),
    };
  } catch (err) {
    if (input.timeout.aborted) return { ...base, success: false, timedOut: true, problem: 'the command did not finish in time; the session was closed' };
    if (input.signal.aborted) throw err;
    const e = fromKubeError(err);
    const started = stdout.total > 0 || stderr.total > 0;
    return {
      ...base,
      success: false,
      problem: e.message,
      ...(started ? {} : { notStarted: { code: e.code, retryable: e.retryable } }),
    };
  }
}

/** One container's run as a message part: exit code first, then the excerpts. */
export function runSummary(r: ContainerRun): string {
  const head = r.timedOut === true ? 'timed out' : r.exitCode !== undefined ? `exit code ${r.exitCode}` : `not run`;
  const parts = [`container '${r.container}': ${head}`];
  if (!r.success && r.problem !== undefined && r.problem !== '' && r.timedOut !== true && r.exitCode === undefined) parts.push(printable(Buffer.from(r.problem), PROBLEM_CHARS));
  for (const [label, cap] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
    if (cap.total === 0) continue;
    const more = cap.truncated ? ` [${cap.total} bytes, kept ${cap.data.length}]` : '';
    parts.push(`${label}: ${printable(cap.data)}${more}`);
  }
  return parts.join('; ');
}

/** The whole capture of every container as a text report (the artifact). */
export function runReport(title: string, runs: readonly ContainerRun[]): Buffer {
  const out: Buffer[] = [Buffer.from(`# ${title}\n`)];
  for (const r of runs) {
    const end = r.timedOut === true ? 'timed out' : r.exitCode !== undefined ? `exit code ${r.exitCode}` : `not run: ${r.problem ?? ''}`;
    out.push(Buffer.from(`\n## container ${r.container}: ${end}\n### stdout${r.stdout.truncated ? ` (first ${r.stdout.data.length} of ${r.stdout.total} bytes)` : ''}\n`));
    out.push(r.stdout.data);
    out.push(Buffer.from(`\n### stderr${r.stderr.truncated ? ` (first ${r.stderr.data.length} of ${r.stderr.total} bytes)` : ''}\n`));
    out.push(r.stderr.data);
    out.push(Buffer.from('\n'));
  }
  return Buffer.concat(out);
}

export interface CommandRunParams extends ContainerChoice {
  readonly timeoutSeconds: number;
  readonly maxOutputBytes: number;
}

/**
 * Runs `argv` in the chosen containers of the alert's pod, one after the other, under one
 * command timeout, and turns what happened into the action's result:
 * - every command exited 0: Succeeded/Executed;
 * - one exited non-zero or could not run: Failed/CommandFailed (never retried: a command may
 *   have had effects), unless nothing ran at all and the error was transient (retryable);
 * - the timeout passed: Failed/CommandTimeout, with what was printed until then;
 * - the pod is gone: Skipped/PodNotFound; no such container: Failed/ContainerNotFound.
 * `what` names the command in the message (e.g. "command [id]"), `note` is appended (skipped
 * alert fields), `artifactName` names the report given to the action's output.
 */
export async function runCommand(
  ctx: ActionContext<CommandRunParams>,
  argv: readonly string[],
  what: string,
  note: string,
  artifactName: string,
): Promise<ActionResult> {
  const read = await readTargetPod(ctx);
  if (!read.ok) return read.result;
  const { pod, ref } = read;
  const chosen = chooseContainers(pod, ctx.params);
  if (!chosen.ok) return chosen.result;
  const { namespace, name } = podTarget(ctx.target);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error(`the command timeout of ${ctx.params.timeoutSeconds}s passed`)), ctx.params.timeoutSeconds * 1000);
  const timeout = deadline.signal;
  const signal = AbortSignal.any([ctx.signal, timeout]);
  const runs: ContainerRun[] = [];
  try {
    for (const container of chosen.names) {
      if (timeout.aborted) break;
      runs.push(await runInContainer({ streams: ctx.kube.streams, namespace, pod: name, container, argv, maxOutputBytes: ctx.params.maxOutputBytes, signal, timeout }));
    }
  } finally {
    clearTimeout(timer);
  }
  const summary = runs.map(runSummary).join(' | ');
  const message = `${what} in pod '${namespace}/${name}': ${summary}${note === '' ? '' : `; ${note}`}`;
  const artifact: Artifact | undefined = ctx.hasOutput === true ? artifactFromBuffer(artifactName, 'text/plain; charset=utf-8', runReport(`${what} in pod ${namespace}/${name}`, runs)) : undefined;
  const withArtifact = (r: ActionResult): ActionResult => (artifact ? { ...r, artifact } : r);
  const objects = [ref];
  if (runs.some((r) => r.timedOut === true) || runs.length < chosen.names.length) {
    return withArtifact({ ...failed('CommandTimeout', `${message}; the command timeout of ${ctx.params.timeoutSeconds}s passed`), objects });
  }
  if (runs.every((r) => r.success)) return withArtifact(ok('Executed', message, objects));
  const first = runs[0];
  const nothingRan = runs.length === 1 && first?.notStarted !== undefined;
  return withArtifact({ ...failed('CommandFailed', message, nothingRan && first.notStarted.retryable), objects });
}
