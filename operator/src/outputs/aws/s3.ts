/**
 * aws:s3 — stores artifacts as objects in an S3 bucket or an S3-compatible store (MinIO,
 * Ceph, … — what Talon's `minio:s3` maps to), streamed with a multipart upload of unknown
 * length (multipart.ts): at most `(queueSize + 1) × partSize` bytes are in memory.
 *
 * Split of powers: an action chooses the bucket, the prefix, server-side encryption and a
 * profile BY NAME; where the requests go (endpoint, region, path style) and with which
 * credentials live only in the operator config, `outputs["aws:s3"].profiles.<name>`. A rule can
 * therefore never send the operator's credentials to an endpoint of its choosing. A profile may
 * also restrict the buckets actions may name (`buckets`).
 *
 * Credentials: the standard AWS chain (environment, web identity / IRSA, ECS, instance
 * metadata, shared files) unless the profile names `accessKeyIdFile` + `secretAccessKeyFile`
 * (+ `sessionTokenFile`), read through `Secret` (never printed) at start and again every few
 * minutes, so a rotated Kubernetes Secret is picked up.
 *
 * Key: `objectKey` (keys.ts) under the action's prefix. The size cap (the artifact's
 * `maxBytes`, or `maxBytes` here if lower) is enforced while streaming; the location says
 * `truncated` when there was more. A failed or aborted upload aborts its multipart upload (no
 * parts left behind); an upload that completed after the action was aborted is deleted.
 * Location: `s3://<bucket>/<key>`.
 *
 * Settings (credential files included) are checked at start; the SDK and a profile's client
 * are loaded by the first store through that profile (lib/first-use.ts), so an operator that
 * stores nothing does not carry them. A failed load fails that store, naming the package.
 */
import { addAbortSignal } from 'node:stream';
import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { Type, type Static } from '@sinclair/typebox';
import { TalonError } from '../../errors.js';
import { capStream } from '../capped.js';
import { s3Sdk, streamedUpload } from './multipart.js';
import { alertKeyParts, metadataValue, objectKey, PREFIX_MAX, PREFIX_PATTERN, PROFILE_NAME } from '../keys.js';
import type { Artifact, ArtifactLocation, Output, OutputDeps, StoreContext } from '../types.js';
import { awsFileCredentials } from '../../lib/aws-credentials.js';
import { memoAsync } from '../../lib/first-use.js';

const MiB = 1024 * 1024;

/** S3 bucket names (the general-purpose rules, dots allowed). */
const BUCKET = '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';

const S3ParamsSchema = Type.Object(
  {
    bucket: Type.String({ pattern: BUCKET, description: 'Bucket to store into (it must exist).' }),
    prefix: Type.String({
      default: '',
      maxLength: PREFIX_MAX,
      pattern: PREFIX_PATTERN,
      description: "Key prefix (a folder), e.g. 'talon/captures/' ('' = the bucket's root).",
    }),
    profile: Type.String({ default: 'default', pattern: PROFILE_NAME, description: 'Which profile of the operator config (outputs["aws:s3"].profiles) to use.' }),
    serverSideEncryption: Type.Optional(
      Type.Union([Type.Literal('AES256'), Type.Literal('aws:kms')], { description: 'Server-side encryption: AES256 (SSE-S3) or aws:kms (SSE-KMS).' }),
    ),
    kmsKeyId: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'KMS key id or ARN; only with serverSideEncryption aws:kms (else the bucket’s default key).' })),
  },
  { additionalProperties: false },
);
export type S3Params = Static<typeof S3ParamsSchema>;

const S3ProfileSchema = Type.Object(
  {
    region: Type.String({ minLength: 1, default: 'us-east-1', description: 'Region of the bucket (S3-compatible stores: any value they accept).' }),
    endpoint: Type.Optional(Type.String({ pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$', description: 'Endpoint of an S3-compatible store, e.g. http://minio.storage:9000 (default: AWS).' })),
    forcePathStyle: Type.Boolean({ default: false, description: 'Path-style requests (http://host/bucket/key), as most S3-compatible stores want.' }),
    accessKeyIdFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the access key id (with secretAccessKeyFile); absent = the standard AWS credential chain.' })),
    secretAccessKeyFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the secret access key.' })),
    sessionTokenFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding a session token (temporary credentials).' })),
    buckets: Type.Array(Type.String({ pattern: BUCKET }), { default: [], description: 'Buckets actions may name with this profile; [] = any the credentials reach.' }),
  },
  { additionalProperties: false },
);
export type S3Profile = Static<typeof S3ProfileSchema>;

const S3ConfigSchema = Type.Object(
  {
    maxBytes: Type.Integer({ minimum: 0, default: 1024 * MiB, description: 'Largest object written; beyond, the artifact is truncated.' }),
    partSize: Type.Integer({ minimum: 5 * MiB, maximum: 512 * MiB, default: 8 * MiB, description: 'Multipart part size (bytes, ≥ 5 MiB); smaller artifacts go in one PutObject.' }),
    queueSize: Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'Parts uploaded in parallel per artifact (memory: (queueSize + 1) × partSize).' }),
    profiles: Type.Record(Type.String({ pattern: PROFILE_NAME }), S3ProfileSchema, {
      default: {},
      additionalProperties: false,
      description: 'Named endpoints and credentials an action picks with `profile` (default: default); names are lower-case DNS labels.',
    }),
  },
  { additionalProperties: false },
);
export type S3Config = Static<typeof S3ConfigSchema>;

interface S3ProfileState {
  /** The profile's client, built (and the SDK loaded) by the first store through it. */
  readonly client: () => Promise<S3Client>;
  readonly buckets: ReadonlySet<string>;
}

export interface S3State {
  readonly profiles: ReadonlyMap<string, S3ProfileState>;
  readonly maxBytes: number;
  readonly partSize: number;
  readonly queueSize: number;
  readonly now: () => number;
}

/** The credentials of a profile (lib/aws-credentials.ts). */
export function fileCredentials(name: string, p: S3Profile, now: () => number) {
  return awsFileCredentials(`profile '${name}'`, p, now);
}

function init(config: S3Config, deps: OutputDeps): S3State {
  const now = deps.now ?? Date.now;
  const profiles = new Map<string, S3ProfileState>();
  for (const [name, p] of Object.entries(config.profiles)) {
    const credentials = fileCredentials(name, p, now);
    const client = memoAsync(async () => {
      const { S3Client } = await s3Sdk();
      return new S3Client({
        region: p.region,
        ...(p.endpoint !== undefined ? { endpoint: p.endpoint } : {}),
        forcePathStyle: p.forcePathStyle,
        ...(credentials ? { credentials } : {}),
        maxAttempts: 3,
      });
    });
    profiles.set(name, { client, buckets: new Set(p.buckets) });
    deps.log.debug('output profile ready', { output: 'aws:s3', profile: name, endpoint: p.endpoint ?? 'aws', region: p.region, credentials: credentials ? 'files' : 'chain' });
  }
  return { profiles, maxBytes: config.maxBytes, partSize: config.partSize, queueSize: config.queueSize, now };
}

const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new TalonError('Aborted', 'storing the artifact was aborted');

async function store(artifact: Artifact, ctx: StoreContext<S3Params, S3Config, S3State>): Promise<ArtifactLocation> {
  const { signal, params, state } = ctx;
  signal.throwIfAborted();
  const profile = state.profiles.get(params.profile);
  if (profile === undefined) {
    const known = [...state.profiles.keys()].sort();
    throw new Error(`no profile '${params.profile}' in outputs["aws:s3"].profiles (${known.length === 0 ? 'none configured' : `known: ${known.join(', ')}`})`);
  }
  if (profile.buckets.size > 0 && !profile.buckets.has(params.bucket)) {
    throw new Error(`bucket '${params.bucket}' is not among the buckets profile '${params.profile}' allows`);
  }
  if (params.kmsKeyId !== undefined && params.serverSideEncryption !== 'aws:kms') {
    throw new Error('kmsKeyId needs serverSideEncryption: aws:kms');
  }
  const key = objectKey(params.prefix, { time: state.now(), ...alertKeyParts(ctx.event), traceId: ctx.event.traceId, artifact: artifact.name });
  const capped = capStream(addAbortSignal(signal, artifact.stream), Math.min(artifact.maxBytes, state.maxBytes));
  const input: Omit<PutObjectCommandInput, 'Body'> = {
    Bucket: params.bucket,
    Key: key,
    ContentType: artifact.contentType,
    Metadata: {
      'talon-rule': metadataValue(ctx.rule.namespace === '' ? ctx.rule.name : `${ctx.rule.namespace}/${ctx.rule.name}`),
      'talon-action': metadataValue(ctx.action),
      'talon-trace-id': metadataValue(ctx.event.traceId),
    },
    ...(params.serverSideEncryption !== undefined ? { ServerSideEncryption: params.serverSideEncryption } : {}),
    ...(params.kmsKeyId !== undefined ? { SSEKMSKeyId: params.kmsKeyId } : {}),
  };
  let client: S3Client;
  try {
    client = await profile.client();
    await streamedUpload(client, input, capped.stream, { partSize: state.partSize, queueSize: state.queueSize, signal });
  } catch (err) {
    capped.stream.destroy();
    if (signal.aborted) throw abortError(signal);
    throw new Error(`s3://${params.bucket}/${key}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (signal.aborted) {
    // Completed after the action gave up: nobody will report it, so it must not stay.
    const { DeleteObjectCommand } = await s3Sdk();
    await client.send(new DeleteObjectCommand({ Bucket: params.bucket, Key: key })).catch(() => undefined);
    throw abortError(signal);
  }
  return { output: 'aws:s3', location: `s3://${params.bucket}/${key}`, bytes: capped.bytes(), truncated: capped.truncated() };
}

export const s3Output: Output<S3Params, S3Config, S3State> = {
  name: 'aws:s3',
  description: 'An object in an S3 bucket or an S3-compatible store (MinIO), through a profile of the operator config',
  paramsSchema: S3ParamsSchema,
  configSchema: S3ConfigSchema,
  example: { bucket: 'forensics', prefix: 'talon/', profile: 'default', serverSideEncryption: 'aws:kms', kmsKeyId: 'alias/talon-artifacts' },
  init,
  store,
};
