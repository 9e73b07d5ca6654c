/**
 * gcp:gcs — stores artifacts as objects in a Google Cloud Storage bucket, streamed
 * (`file.createWriteStream({resumable: false})`: one multipart request whose media part is the
 * stream, CRC32C computed on the way and checked against what the server stored).
 *
 * Split of powers as aws:s3: an action chooses the bucket, the prefix and a profile BY NAME;
 * the project, the credentials file and the API endpoint live only in the operator config
 * (`outputs["gcp:gcs"].profiles.<name>`). Credentials: the service-account key file the
 * profile names (read by the Google client, never printed), else Application Default
 * Credentials (GKE workload identity, GOOGLE_APPLICATION_CREDENTIALS).
 *
 * Key: `objectKey` (keys.ts) under the action's prefix; created only when no object has that
 * name (`ifGenerationMatch: 0`), never overwriting. The size cap is enforced while streaming
 * (`truncated`). A failed or aborted upload stores nothing (a simple upload is atomic); an
 * upload that completed after the action was aborted is deleted. Location: `gs://<bucket>/<key>`.
 *
 * The Google client library and a profile's `Storage` are loaded by the first store through
 * that profile (lib/first-use.ts), so an operator that stores nothing does not carry them. A
 * failed load fails that store, naming the package.
 */
import { addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Storage, StorageOptions } from '@google-cloud/storage';
import { Type, type Static } from '@sinclair/typebox';
import { TalonError } from '../../errors.js';
import { capStream } from '../capped.js';
import { alertKeyParts, metadataValue, objectKey, PREFIX_MAX, PREFIX_PATTERN, PROFILE_NAME } from '../keys.js';
import type { Artifact, ArtifactLocation, Output, OutputDeps, StoreContext } from '../types.js';
import { firstUse, memoAsync } from '../../lib/first-use.js';

const storageSdk = firstUse('@google-cloud/storage', () => import('@google-cloud/storage'));

const MiB = 1024 * 1024;

/** GCS bucket names: 3–63 characters (up to 222 with dots), lower case, digits, `-`, `_`, `.`. */
const BUCKET = '^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$';

const GcsParamsSchema = Type.Object(
  {
    bucket: Type.String({ pattern: BUCKET, description: 'Bucket to store into (it must exist).' }),
    prefix: Type.String({ default: '', maxLength: PREFIX_MAX, pattern: PREFIX_PATTERN, description: "Object name prefix (a folder), e.g. 'talon/' ('' = the bucket's root)." }),
    profile: Type.String({ default: 'default', pattern: PROFILE_NAME, description: 'Which profile of the operator config (outputs["gcp:gcs"].profiles) to use.' }),
  },
  { additionalProperties: false },
);
export type GcsParams = Static<typeof GcsParamsSchema>;

const GcsProfileSchema = Type.Object(
  {
    projectId: Type.Optional(Type.String({ minLength: 1, description: 'Project id (default: from the credentials).' })),
    credentialsFile: Type.Optional(Type.String({ minLength: 1, description: 'Service-account key file (JSON); absent = Application Default Credentials.' })),
    apiEndpoint: Type.Optional(Type.String({ pattern: '^https?://[^\\s/?#]+$', description: 'API endpoint (an emulator, a private endpoint); default https://storage.googleapis.com.' })),
    useAuthWithCustomEndpoint: Type.Boolean({ default: true, description: 'Send credentials to apiEndpoint too; false for an emulator that needs none.' }),
    buckets: Type.Array(Type.String({ pattern: BUCKET }), { default: [], description: 'Buckets actions may name with this profile; [] = any the credentials reach.' }),
  },
  { additionalProperties: false },
);
export type GcsProfile = Static<typeof GcsProfileSchema>;

const GcsConfigSchema = Type.Object(
  {
    maxBytes: Type.Integer({ minimum: 0, default: 1024 * MiB, description: 'Largest object written; beyond, the artifact is truncated.' }),
    timeoutMs: Type.Integer({ minimum: 1000, default: 10 * 60 * 1000, description: 'Longest one upload may take (ms); the action’s own timeout also applies.' }),
    profiles: Type.Record(Type.String({ pattern: PROFILE_NAME }), GcsProfileSchema, {
      default: {},
      additionalProperties: false,
      description: 'Named projects, credentials and endpoints an action picks with `profile` (default: default); names are lower-case DNS labels.',
    }),
  },
  { additionalProperties: false },
);
export type GcsConfig = Static<typeof GcsConfigSchema>;

interface GcsProfileState {
  /** The profile's client, built (and the library loaded) by the first store through it. */
  readonly storage: () => Promise<Storage>;
  readonly buckets: ReadonlySet<string>;
}

export interface GcsState {
  readonly profiles: ReadonlyMap<string, GcsProfileState>;
  readonly maxBytes: number;
  readonly timeoutMs: number;
  readonly now: () => number;
}

function init(config: GcsConfig, deps: OutputDeps): GcsState {
  const profiles = new Map<string, GcsProfileState>();
  for (const [name, p] of Object.entries(config.profiles)) {
    const options: StorageOptions = {
      ...(p.projectId !== undefined ? { projectId: p.projectId } : {}),
      ...(p.credentialsFile !== undefined ? { keyFilename: p.credentialsFile } : {}),
      ...(p.apiEndpoint !== undefined ? { apiEndpoint: p.apiEndpoint, useAuthWithCustomEndpoint: p.useAuthWithCustomEndpoint } : {}),
    };
    const storage = memoAsync(async () => new (await storageSdk()).Storage(options));
    profiles.set(name, { storage, buckets: new Set(p.buckets) });
    deps.log.debug('output profile ready', { output: 'gcp:gcs', profile: name, endpoint: p.apiEndpoint ?? 'google', credentials: p.credentialsFile !== undefined ? 'file' : 'adc' });
  }
  return { profiles, maxBytes: config.maxBytes, timeoutMs: config.timeoutMs, now: deps.now ?? Date.now };
}

const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new TalonError('Aborted', 'storing the artifact was aborted');

async function store(artifact: Artifact, ctx: StoreContext<GcsParams, GcsConfig, GcsState>): Promise<ArtifactLocation> {
  const { signal, params, state } = ctx;
  signal.throwIfAborted();
  const profile = state.profiles.get(params.profile);
  if (profile === undefined) {
    const known = [...state.profiles.keys()].sort();
    throw new Error(`no profile '${params.profile}' in outputs["gcp:gcs"].profiles (${known.length === 0 ? 'none configured' : `known: ${known.join(', ')}`})`);
  }
  if (profile.buckets.size > 0 && !profile.buckets.has(params.bucket)) {
    throw new Error(`bucket '${params.bucket}' is not among the buckets profile '${params.profile}' allows`);
  }
  const key = objectKey(params.prefix, { time: state.now(), ...alertKeyParts(ctx.event), traceId: ctx.event.traceId, artifact: artifact.name });
  let storage: Storage;
  try {
    storage = await profile.storage();
  } catch (err) {
    throw new Error(`gs://${params.bucket}/${key}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const file = storage.bucket(params.bucket).file(key);
  const capped = capStream(addAbortSignal(signal, artifact.stream), Math.min(artifact.maxBytes, state.maxBytes));
  const sink = file.createWriteStream({
    resumable: false,
    contentType: artifact.contentType,
    timeout: state.timeoutMs,
    preconditionOpts: { ifGenerationMatch: 0 },
    metadata: {
      metadata: {
        'talon-rule': metadataValue(ctx.rule.namespace === '' ? ctx.rule.name : `${ctx.rule.namespace}/${ctx.rule.name}`),
        'talon-action': metadataValue(ctx.action),
        'talon-trace-id': metadataValue(ctx.event.traceId),
      },
    },
  });
  try {
    await pipeline(capped.stream, sink, { signal });
  } catch (err) {
    capped.stream.destroy();
    if (signal.aborted) throw abortError(signal);
    throw new Error(`gs://${params.bucket}/${key}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (signal.aborted) {
    await file.delete({ ignoreNotFound: true }).catch(() => undefined);
    throw abortError(signal);
  }
  return { output: 'gcp:gcs', location: `gs://${params.bucket}/${key}`, bytes: capped.bytes(), truncated: capped.truncated() };
}

export const gcsOutput: Output<GcsParams, GcsConfig, GcsState> = {
  name: 'gcp:gcs',
  description: 'An object in a Google Cloud Storage bucket, through a profile of the operator config',
  paramsSchema: GcsParamsSchema,
  configSchema: GcsConfigSchema,
  example: { bucket: 'forensics', prefix: 'talon/', profile: 'default' },
  init,
  store,
};
