/**
 * local:file — stores artifacts as files under one base directory of the operator's file
 * system (`outputs["local:file"].directory`; in the chart an emptyDir unless you mount a
 * volume there).
 *
 * Layout: `<directory>/<rule namespace, or _cluster>/<parameters.path>/<file>`, the file named
 * `<UTC time>_<rule>_<action>_<trace id>_<artifact name>`. A rule's files stay under its own
 * namespace's directory: nothing in an artifact name or in a rule's parameters can reach
 * outside it (names are reduced to `[A-Za-z0-9._-]` and may not start with a dot, `path` may
 * hold only such segments, and the resolved directory — symlinks followed — must still be
 * inside the base). Files are created new (never overwriting or following a link), 0600, in
 * directories created 0700. The size cap (the artifact's `maxBytes`, or `maxBytes` here if
 * lower) is enforced while streaming; what is beyond is not read and the location says
 * `truncated`. A failed or aborted write removes its partial file.
 */
import { constants } from 'node:fs';
import { mkdir, open, realpath, unlink, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import { TalonError } from '../../errors.js';
import type { Artifact, ArtifactLocation, Output, OutputDeps, StoreContext } from '../types.js';
import { safeSegment } from '../keys.js';

export { safeSegment } from '../keys.js';

/** One path segment: no separators, not `.` or `..`, no leading dot. */
const SEGMENT = '[A-Za-z0-9_][A-Za-z0-9._-]{0,62}';

const LocalFileParamsSchema = Type.Object(
  {
    path: Type.String({
      default: '',
      maxLength: 256,
      pattern: `^(${SEGMENT}(/${SEGMENT})*)?$`,
      description: "Sub-directory under the rule's namespace directory, e.g. captures/shells ('' = none).",
    }),
  },
  { additionalProperties: false },
);
export type LocalFileParams = Static<typeof LocalFileParamsSchema>;

const LocalFileConfigSchema = Type.Object(
  {
    directory: Type.String({ minLength: 1, default: '/tmp/talon-artifacts', description: 'Absolute base directory; created (0700) when missing.' }),
    maxBytes: Type.Integer({ minimum: 0, default: 100 * 1024 * 1024, description: 'Largest file written; beyond, the artifact is truncated.' }),
  },
  { additionalProperties: false },
);
export type LocalFileConfig = Static<typeof LocalFileConfigSchema>;

interface LocalFileState {
  readonly base: string;
  readonly maxBytes: number;
  readonly now: () => number;
}


const inside = (base: string, p: string): boolean => {
  const r = relative(base, p);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
};

/** `20240101T120000.000Z`: sortable, no characters file systems dislike. */
const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:]/g, '');

async function createExclusive(dir: string, name: string): Promise<{ file: string; fh: FileHandle }> {
  for (let i = 0; ; i++) {
    const file = join(dir, i === 0 ? name : `${name}.${i}`);
    try {
      const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
      return { file, fh };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 9) throw err;
    }
  }
}

async function store(artifact: Artifact, ctx: StoreContext<LocalFileParams, LocalFileConfig, LocalFileState>): Promise<ArtifactLocation> {
  const { base, maxBytes, now } = ctx.state;
  const { signal } = ctx;
  signal.throwIfAborted();
  const scope = ctx.rule.namespace === '' ? '_cluster' : safeSegment(ctx.rule.namespace, 63);
  const sub = ctx.params.path === '' ? [] : ctx.params.path.split('/');
  if (sub.some((s) => !new RegExp(`^${SEGMENT}$`).test(s))) throw new Error(`path '${ctx.params.path}' is not a relative path of plain names`);
  const dir = resolve(base, scope, ...sub);
  if (!inside(base, dir)) throw new Error(`'${dir}' is outside the base directory ${base}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const realBase = await realpath(base);
  const realDir = await realpath(dir);
  if (!inside(realBase, realDir)) throw new Error(`'${dir}' leads outside the base directory ${base} (a symbolic link)`);

  const name = [stamp(now()), safeSegment(ctx.rule.name, 63), safeSegment(ctx.action, 63), safeSegment(ctx.event.traceId, 36), safeSegment(artifact.name, 64)].join('_');
  const { file, fh } = await createExclusive(realDir, name);
  const cap = Math.max(0, Math.min(artifact.maxBytes, maxBytes));
  let bytes = 0;
  let truncated = false;
  let ok = false;
  try {
    const source = addAbortSignal(signal, artifact.stream);
    for await (const chunk of source) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
      const room = cap - bytes;
      if (buf.length > room) {
        if (room > 0) await fh.write(buf.subarray(0, room));
        bytes = cap;
        truncated = true;
        break;
      }
      await fh.write(buf);
      bytes += buf.length;
      signal.throwIfAborted();
    }
    signal.throwIfAborted();
    ok = true;
  } catch (err) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new TalonError('Aborted', 'storing the artifact was aborted');
    throw err;
  } finally {
    await fh.close().catch(() => undefined);
    if (!ok) await unlink(file).catch(() => undefined);
  }
  return { output: 'local:file', location: file, bytes, truncated };
}

export const localFileOutput: Output<LocalFileParams, LocalFileConfig, LocalFileState> = {
  name: 'local:file',
  description: "A file under the operator's base directory, per rule namespace",
  paramsSchema: LocalFileParamsSchema,
  configSchema: LocalFileConfigSchema,
  example: { path: 'captures/shells' },
  init: (config: LocalFileConfig, deps: OutputDeps): LocalFileState => {
    if (!isAbsolute(config.directory)) throw new Error(`directory '${config.directory}' must be an absolute path`);
    return { base: resolve(config.directory), maxBytes: config.maxBytes, now: deps.now ?? Date.now };
  },
  store,
};
