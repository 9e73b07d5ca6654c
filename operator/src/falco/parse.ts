/**
 * Falco alert parsing: lenient envelope, strict contents, lossless numbers (DESIGN.md §3).
 *
 * Envelope (as Talon, whose users' scripts rely on it): top-level keys match
 * case-insensitively as Go's encoding/json does, and as there the last key that matches wins
 * (`{"rule":"A","Rule":"B"}` is rule B), with Go's case folding (`ſ` is `s`, `ı` is `i`);
 * unknown keys are ignored; `null` for an optional field means absent; invalid
 * UTF-8 is decoded with U+FFFD replacement (rejecting it would let an attacker hide an
 * alert behind a binary process name).
 *
 * Contents:
 *  - the body is one JSON object;
 *  - `rule` is required and a non-empty string;
 *  - `priority` is optional (Talon accepts alerts without one; the event then has priority ""
 *    and level 0, which no priority criterion above level 0 matches); when present it is one
 *    of Falco's eight names, any case, normalised to Falco's casing;
 *  - `output`, `hostname`, `source`, `uuid` are strings; `source` defaults to "syscall";
 *  - `time` is an RFC 3339 timestamp;
 *  - `tags` is an array of strings;
 *  - `output_fields` is an object whose values are strings, finite numbers, booleans, null or
 *    arrays of those; nested objects are rejected naming the key. Keys stay flat.
 *
 * Numbers: integers beyond Number.MAX_SAFE_INTEGER become `bigint` with their exact value
 * (lossless-json.ts).
 */
import { PRIORITIES, priorityLevel, type FalcoEvent, type FieldValue } from './event.js';
import { integerValue, isMarker, JsonRejection, parseJson } from './lossless-json.js';

export interface ParseContext {
  /** performance.now() when the alert was received. */
  readonly receivedAt: number;
  readonly traceId: string;
}

export type ParseResult = { readonly ok: true; readonly event: FalcoEvent } | { readonly ok: false; readonly message: string };

/** Deepest array nesting accepted inside an output field value. */
const MAX_FIELD_DEPTH = 16;

const CANONICAL_PRIORITY: ReadonlyMap<string, string> = new Map(PRIORITIES.map((p) => [p.toLowerCase(), p]));

type EnvelopeKey = 'rule' | 'priority' | 'output' | 'hostname' | 'source' | 'time' | 'tags' | 'output_fields' | 'uuid';
const ENVELOPE_KEYS: ReadonlySet<string> = new Set<EnvelopeKey>([
  'rule',
  'priority',
  'output',
  'hostname',
  'source',
  'time',
  'tags',
  'output_fields',
  'uuid',
]);

/** An input error; caught in parseAlert and returned as `{ok: false}`. */
class Rejection extends Error {}

/**
 * Parses one Falco alert. Bad input is `{ok: false, message}` naming the field at fault, never
 * a throw. The returned event and everything in it are frozen.
 */
export function parseAlert(body: Buffer | string, ctx: ParseContext): ParseResult {
  try {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const { value, markers } = parseJson(text);
    return { ok: true, event: toEvent(value, markers, ctx) };
  } catch (err) {
    if (err instanceof Rejection || err instanceof JsonRejection) return { ok: false, message: err.message };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// value → FalcoEvent

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

function quoteKey(key: string): string {
  return JSON.stringify(clip(key, 100));
}

function typeName(v: unknown, markers: boolean): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return markers && isMarker(v) ? 'number' : 'array';
  return typeof v === 'bigint' ? 'number' : typeof v;
}

function optionalString(name: string, v: unknown, markers: boolean, fallback: string): string {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string') throw new Rejection(`field "${name}" must be a string, got ${typeName(v, markers)}`);
  return v;
}

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function twoDigits(s: string, at: number): number {
  return (s.charCodeAt(at) - 0x30) * 10 + s.charCodeAt(at + 1) - 0x30;
}

/** True for an RFC 3339 date-time with a valid calendar date and clock (leap second allowed). */
export function isRfc3339(s: string): boolean {
  if (!RFC3339_RE.test(s)) return false;
  const year = twoDigits(s, 0) * 100 + twoDigits(s, 2);
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  if (day > days || twoDigits(s, 11) > 23 || twoDigits(s, 14) > 59 || twoDigits(s, 17) > 60) return false;
  const zone = s.charCodeAt(s.length - 1);
  return zone === 0x5a || zone === 0x7a || (twoDigits(s, s.length - 5) <= 23 && twoDigits(s, s.length - 2) <= 59);
}

function fieldValue(v: unknown, path: string, markers: boolean, depth: number): FieldValue {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new Rejection(`${path}: number out of range`);
      return v;
    case 'object': {
      if (v === null) return null;
      if (!Array.isArray(v)) throw new Rejection(`${path}: nested objects are not allowed (output_fields are flat)`);
      if (markers && isMarker(v)) return integerValue(v[1]);
      if (depth >= MAX_FIELD_DEPTH) throw new Rejection(`${path}: arrays nested deeper than ${MAX_FIELD_DEPTH}`);
      for (let k = 0; k < v.length; k++) v[k] = fieldValue(v[k], `${path}[${k}]`, markers, depth + 1);
      return Object.freeze(v) as FieldValue[];
    }
    default:
      throw new Rejection(`${path}: unsupported value`);
  }
}

const EMPTY_FIELDS: Readonly<Record<string, FieldValue>> = Object.freeze({});
const EMPTY_TAGS: readonly string[] = Object.freeze([]);

function outputFields(v: unknown, markers: boolean): Readonly<Record<string, FieldValue>> {
  if (v === undefined || v === null) return EMPTY_FIELDS;
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new Rejection(`field "output_fields" must be an object, got ${typeName(v, markers)}`);
  }
  const fields = v as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    const x = fields[key];
    const t = typeof x;
    if (t === 'string' || t === 'boolean' || x === null || (t === 'number' && Number.isFinite(x))) continue;
    // A big integer (`evt.time` in every alert): converted here, without building the error path first.
    if (markers && isMarker(x)) fields[key] = integerValue(x[1]);
    else fields[key] = fieldValue(x, `output_fields[${quoteKey(key)}]`, markers, 0);
  }
  return Object.freeze(fields) as Record<string, FieldValue>;
}

function tagList(v: unknown, markers: boolean): readonly string[] {
  if (v === undefined || v === null) return EMPTY_TAGS;
  if (!Array.isArray(v) || (markers && isMarker(v))) {
    throw new Rejection(`field "tags" must be an array of strings, got ${typeName(v, markers)}`);
  }
  for (let k = 0; k < v.length; k++) {
    if (typeof v[k] !== 'string') throw new Rejection(`field "tags"[${k}] must be a string, got ${typeName(v[k], markers)}`);
  }
  return Object.freeze(v as string[]);
}

/**
 * Lower case as Go's encoding/json compares keys (ToUpper(ToLower(r)) per rune): the
 * non-ASCII letters that fold onto ASCII ones (`ı` and `İ` onto i, `ſ` onto s, the Kelvin
 * sign onto k) are mapped first, since JavaScript's toLowerCase keeps or expands them.
 */
function foldKey(key: string): string {
  return key.replace(/[\u0130\u0131]/g, 'i').replace(/\u017f/g, 's').replace(/\u212a/g, 'k').toLowerCase();
}

/**
 * The envelope's known keys, each the value of the last key (in document order) that matches
 * it case-insensitively, as Go's encoding/json decodes into a struct.
 */
function envelope(obj: Record<string, unknown>): Record<EnvelopeKey, unknown> {
  const env: Record<EnvelopeKey, unknown> = {
    rule: undefined,
    priority: undefined,
    output: undefined,
    hostname: undefined,
    source: undefined,
    time: undefined,
    tags: undefined,
    output_fields: undefined,
    uuid: undefined,
  };
  for (const key of Object.keys(obj)) {
    if (ENVELOPE_KEYS.has(key)) {
      env[key as EnvelopeKey] = obj[key];
      continue;
    }
    const folded = foldKey(key);
    if (ENVELOPE_KEYS.has(folded)) env[folded as EnvelopeKey] = obj[key];
  }
  return env;
}

function toEvent(value: unknown, markers: boolean, ctx: ParseContext): FalcoEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Rejection(`body must be a JSON object (one Falco alert), got ${typeName(value, markers)}`);
  }
  const env = envelope(value as Record<string, unknown>);

  if (env.rule === undefined || env.rule === null) throw new Rejection('missing required field "rule"');
  const rule = optionalString('rule', env.rule, markers, '');
  if (rule === '') throw new Rejection('field "rule" must not be empty');

  let priority = '';
  const rawPriority = optionalString('priority', env.priority, markers, '');
  if (env.priority !== undefined && env.priority !== null) {
    const canonical = CANONICAL_PRIORITY.get(rawPriority.toLowerCase());
    if (canonical === undefined) {
      throw new Rejection(`field "priority" must be one of ${PRIORITIES.join(', ')}; got ${JSON.stringify(clip(rawPriority, 40))}`);
    }
    priority = canonical;
  }

  const time = optionalString('time', env.time, markers, '');
  if (env.time !== undefined && env.time !== null && !isRfc3339(time)) {
    throw new Rejection(`field "time" must be an RFC 3339 timestamp such as 2023-05-25T13:44:05.478445995Z; got ${JSON.stringify(clip(time, 40))}`);
  }
  const source = optionalString('source', env.source, markers, '');
  const hostname = optionalString('hostname', env.hostname, markers, '');
  const output = optionalString('output', env.output, markers, '');
  const uuid = env.uuid === undefined || env.uuid === null ? undefined : optionalString('uuid', env.uuid, markers, '');
  const tags = tagList(env.tags, markers);
  const fields = outputFields(env.output_fields, markers);

  const event = {
    rule,
    priority,
    priorityLevel: priority === '' ? 0 : priorityLevel(priority),
    source: source === '' ? 'syscall' : source,
    time,
    hostname,
    output,
    tags,
    outputFields: fields,
    receivedAt: ctx.receivedAt,
    traceId: ctx.traceId,
  };
  return Object.freeze(uuid === undefined ? event : { ...event, uuid });
}
