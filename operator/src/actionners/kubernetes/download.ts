/**
 * kubernetes:download — copy one file out of a container of the alert's pod to the action's
 * output (talon-compat §4; an output is required).
 *
 * The file is read with pods/exec running `cat -- <path>`: the path is ONE argv entry, never
 * part of a shell string, whether it comes from the rule (`file`) or from an alert field
 * (`fileFromField`, e.g. `fd.name`). It must be absolute and free of NUL. The bytes stream
 * from the exec session to the output with back-pressure (the session stops reading while the
 * output is slow), so the file is never held whole in memory; at most `maxBytes` are stored
 * (one byte more is passed so the output reports `truncated`, then the session is closed).
 *
 * The run returns as soon as the first bytes arrived (or `cat` ended): a `cat` that fails
 * before printing anything (no such file, permission denied) is Failed/DownloadFailed with its
 * stderr; one that fails later breaks the artifact's stream, so the output stores nothing and
 * the outcome says ArtifactNotStored. The artifact is named after the file's base name,
 * reduced to `[A-Za-z0-9._-]` (never a path, never dot-led).
 */
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import { field, type FalcoEvent } from '../../falco/event.js';
import type { PodExecStatus } from '../../kube/pod-streams.js';
import { fromKubeError } from '../../errors.js';
import { failed, ok, type ActionResult, type Actionner, type PrecheckResult } from '../types.js';
import { podTarget } from './common.js';
import { EXEC_RBAC } from './exec.js';
import { CappedCapture, chooseContainers, printable, readTargetPod } from './exec-run.js';

/** A Falco field name (`fd.name`, `proc.aname[2]`). */
const FIELD_PATTERN = '^[A-Za-z0-9_.\\-]+(\\[[^\\]]*\\])?$';

export const DownloadParams = Type.Object(
  {
    file: Type.Optional(Type.String({ minLength: 2, maxLength: 4096, pattern: '^/[^\\u0000]*$', description: 'Absolute path of the file in the container.' })),
    fileFromField: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: FIELD_PATTERN, description: 'Take the path from this alert field instead, e.g. fd.name (must hold an absolute path).' })),
    container: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: "The container (any of the pod's containers, init or ephemeral); default: the first container." })),
    maxBytes: Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024 * 1024, default: 100 * 1024 * 1024, description: 'Largest file stored; beyond, the artifact is truncated.' }),
  },
  { additionalProperties: false },
);
export type DownloadParams = Static<typeof DownloadParams>;

/**
 * A file name fit for an artifact: `[A-Za-z0-9._-]` only, no leading dot, at most 64
 * characters (a long name keeps its extension of up to 10 characters), never empty.
 */
export function safeArtifactName(text: string, fallback = 'download'): string {
  let s = text.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  if (s.length > 64) {
    const ext = /\.[A-Za-z0-9_-]{1,9}$/.exec(s)?.[0] ?? '';
    s = `${s.slice(0, 64 - ext.length)}${ext}`;
  }
  return s === '' || /^_*$/.test(s) ? fallback : s;
}

/** The path to read: the rule's `file`, or the alert field's text; an error text when neither is usable. */
export function downloadPath(event: FalcoEvent, params: DownloadParams): { ok: true; path: string } | { ok: false; reason: 'InvalidParameters' | 'MissingFields'; message: string } {
  if ((params.file === undefined) === (params.fileFromField === undefined)) {
    return { ok: false, reason: 'InvalidParameters', message: "set exactly one of 'file' and 'fileFromField'" };
  }
  if (params.file !== undefined) return { ok: true, path: params.file };
  const key = params.fileFromField as string;
  const v = field(event, key);
  if (typeof v !== 'string' || v === '') return { ok: false, reason: 'MissingFields', message: `the alert has no text in field '${key}' to take the file path from` };
  if (!v.startsWith('/') || v.includes('\0')) return { ok: false, reason: 'InvalidParameters', message: `field '${key}' does not hold an absolute path without NUL` };
  return { ok: true, path: v };
}

/**
 * Forwards writes into `target` with its back-pressure, but never ends it: whoever owns
 * `target` ends it (clean end of the file) or destroys it (a failed read), so a failed `cat`
 * can never look like a complete file.
 */
class ForwardNoEnd extends Writable {
  constructor(private readonly target: Writable) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.target.destroyed || this.target.writableEnded) return cb();
    if (this.target.write(chunk)) return cb();
    const done = (): void => {
      this.target.off('drain', done);
      this.target.off('close', done);
      cb();
    };
    this.target.on('drain', done);
    this.target.on('close', done);
  }
}

export const downloadActionner: Actionner<DownloadParams> = {
  info: {
    name: 'kubernetes:download',
    description: "Copy a file out of a container of the alert's pod to the action's output",
    requiredFields: [],
    defaultContinue: true,
    destructive: false,
    target: 'pod',
    output: 'required',
    rbac: EXEC_RBAC,
    example: { fileFromField: 'fd.name', maxBytes: 10485760 },
  },
  paramsSchema: DownloadParams,

  precheck(event, _target, params): PrecheckResult {
    const p = downloadPath(event, params);
    return p.ok ? { ok: true } : { ok: false, reason: p.reason, message: p.message };
  },

  async run(ctx) {
    const where = downloadPath(ctx.event, ctx.params);
    if (!where.ok) return { status: 'skipped', reason: where.reason, message: where.message };
    const read = await readTargetPod(ctx);
    if (!read.ok) return read.result;
    const chosen = chooseContainers(read.pod, ctx.params.container !== undefined ? { container: ctx.params.container } : {});
    if (!chosen.ok) return chosen.result;
    const container = chosen.names[0] as string;
    const { namespace, name } = podTarget(ctx.target);
    const path = where.path;
    const what = `file '${path}' of container '${container}' of pod '${namespace}/${name}'`;
    const objects = [read.ref];
    const cap = ctx.params.maxBytes;

    const stop = new AbortController();
    let passed = 0;
    let full = false;
    let onFirst: () => void = () => undefined;
    const firstBytes = new Promise<'data'>((resolve) => (onFirst = () => resolve('data')));
    const body = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        if (full) return cb();
        onFirst();
        const room = cap + 1 - passed;
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        passed += part.length;
        if (passed > cap) {
          full = true;
          stop.abort();
        }
        cb(null, part);
      },
    });
    // The output stopped reading (stored enough, failed, or the artifact was discarded): close the session.
    body.on('close', () => stop.abort());
    // A failed read may destroy the stream before (or without) anyone reading it; whoever reads
    // later still sees the error (the stream is errored), but it must never be an unhandled 'error'.
    body.on('error', () => undefined);
    const stderr = new CappedCapture(4096);
    const session: Promise<PodExecStatus> = ctx.kube.streams.exec({
      namespace,
      pod: name,
      container,
      command: ['cat', '--', path],
      stdout: new ForwardNoEnd(body),
      stderr,
      signal: AbortSignal.any([ctx.signal, stop.signal]),
    });
    const failure = (status: PodExecStatus): string => {
      const err = printable(stderr.data, 512);
      return `cat ${status.exitCode !== undefined ? `exited ${status.exitCode}` : `did not run (${status.message})`}${err !== '' ? `: ${err}` : ''}`;
    };
    // Settle the stream with the session, whenever it ends.
    const settled = session.then(
      (status) => {
        if (status.success || full) {
          if (!body.writableEnded && !body.destroyed) body.end();
        } else if (!body.destroyed) body.destroy(new Error(`reading the ${what}: ${failure(status)}`));
        return { status } as const;
      },
      (err: unknown) => {
        if (full && !ctx.signal.aborted) {
          if (!body.writableEnded && !body.destroyed) body.end();
        } else if (!body.destroyed) body.destroy(err instanceof Error ? err : new Error(String(err)));
        return { err } as const;
      },
    );
    const first = await Promise.race([firstBytes, settled]);
    if (first !== 'data') {
      if ('err' in first && !full) {
        const e = fromKubeError(first.err);
        return { ...failed(e.code === 'Unknown' ? 'DownloadFailed' : e.code, `reading the ${what}: ${e.message}`, e.retryable), objects };
      }
      if ('status' in first && !first.status.success && !full) {
        return { ...failed('DownloadFailed', `reading the ${what}: ${failure(first.status)}`), objects };
      }
    }
    const result: ActionResult = { ...ok('Downloaded', `downloaded the ${what}`, objects), artifact: { name: safeArtifactName(path.split('/').pop() ?? ''), contentType: 'application/octet-stream', stream: body, maxBytes: cap } };
    return result;
  },
};
