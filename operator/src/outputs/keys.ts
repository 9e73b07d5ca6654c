/**
 * Names of stored artifacts, shared by the outputs: safe name components, the prefix of an
 * object store, and the object key layout of `aws:s3` and `gcp:gcs`.
 *
 * Object key (Talon's layout, DESIGN/talon-compat §5.2, plus the trace id so that two
 * artifacts of the same second never overwrite each other):
 *
 *     <prefix><2006-01-02T15-04-05Z>_<namespace>_<pod>_<trace id>_<artifact name>
 *
 * Every component after the prefix is reduced to `[A-Za-z0-9._-]`, may not start with a dot
 * and is bounded, so the part after the prefix is ONE path segment: whatever an alert field
 * or an artifact name holds (`../../etc/passwd`, `/abs`, NUL, newlines, 10 kB of text), the key
 * stays directly under the prefix. The prefix itself (a rule parameter) may hold only plain
 * segments; it is checked by the parameter schema and again here.
 */
import { resolveTarget, alertNamespace } from '../falco/target.js';
import type { FalcoEvent } from '../falco/event.js';

/** One plain path segment: no separators, not `.`/`..`, no leading dot, ≤ 63 characters. */
export const SEGMENT = '[A-Za-z0-9_][A-Za-z0-9._-]{0,62}';

/** Schema pattern of an object-store prefix: plain segments joined by `/`, optionally ending in `/`; '' = none. */
export const PREFIX_PATTERN = `^(${SEGMENT}(/${SEGMENT})*/?)?$`;

/** Names of the operator config's output profiles (what an action's `profile` may say): DNS labels. */
export const PROFILE_NAME = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';

/** Longest prefix accepted (characters). */
export const PREFIX_MAX = 256;

/** Bounds of the key components after the prefix. */
/** Bounds of the key components after the prefix: together at most 250 characters, so the
 * object's name is also a valid file name when a bucket is synced to a file system. */
const LIMITS = { namespace: 63, pod: 63, traceId: 36, artifact: 64 } as const;

/** A name reduced to a safe file-name component of at most `max` characters (never empty, never dot-led). */
export function safeSegment(text: string, max: number): string {
  const s = text.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length)).slice(0, max);
  return s === '' ? '_' : s;
}

const SEGMENT_RE = new RegExp(`^${SEGMENT}$`);

/**
 * A prefix as the key's folder: '' or `a/b/` (a trailing `/` added). Throws when it holds
 * anything but plain segments (`..`, a leading `/`, empty segments, control characters) or is
 * longer than PREFIX_MAX — a prefix that skipped parameter validation is still refused.
 */
export function normalisePrefix(prefix: string): string {
  if (prefix === '') return '';
  const body = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (prefix.length > PREFIX_MAX || !body.split('/').every((s) => SEGMENT_RE.test(s))) {
    throw new Error(`prefix '${JSON.stringify(prefix).slice(1, -1).slice(0, 80)}' is not a relative path of plain names`);
  }
  return `${body}/`;
}

/** Talon's time stamp: `2006-01-02T15-04-05Z` (UTC, whole seconds, no colons). */
export function keyStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}

/** What a key is built from. */
export interface KeyParts {
  /** ms since the epoch. */
  readonly time: number;
  /** The alert's namespace; undefined when it names none. */
  readonly namespace: string | undefined;
  /** The alert's pod; undefined when it names none. */
  readonly pod: string | undefined;
  readonly traceId: string;
  readonly artifact: string;
}

/** The alert-derived parts of a key: the alert's pod and namespace as target resolution sees them. */
export function alertKeyParts(event: FalcoEvent): Pick<KeyParts, 'namespace' | 'pod'> {
  const pod = resolveTarget(event, 'pod');
  if (pod.ok && pod.target.subject === 'pod') return { namespace: pod.target.object.namespace, pod: pod.target.object.name };
  return { namespace: alertNamespace(event), pod: undefined };
}

/**
 * `<prefix><stamp>_<namespace>_<pod>_<trace id>_<artifact>`; `_` stands for a missing
 * namespace or pod. The result starts with the normalised prefix, and the rest contains no `/`.
 */
export function objectKey(prefix: string, parts: KeyParts): string {
  const name = [
    keyStamp(parts.time),
    safeSegment(parts.namespace ?? '', LIMITS.namespace),
    safeSegment(parts.pod ?? '', LIMITS.pod),
    safeSegment(parts.traceId, LIMITS.traceId),
    safeSegment(parts.artifact, LIMITS.artifact),
  ].join('_');
  return `${normalisePrefix(prefix)}${name}`;
}

/**
 * Object metadata values (S3 `x-amz-meta-*`, GCS custom metadata): printable ASCII only, no
 * control characters, bounded, so a header can carry them whatever the alert said.
 */
export function metadataValue(text: string, max = 256): string {
  return text.replace(/[^\x20-\x7e]/g, '_').slice(0, max);
}
