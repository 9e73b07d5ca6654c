/**
 * Falco alert parsing: lenient envelope, strict contents, lossless numbers (DESIGN.md §3).
 *
 * Envelope (as Talon, whose users' scripts rely on it): top-level keys match
 * case-insensitively as Go's encoding/json does, an exact-case key winning over other
 * spellings; unknown keys are ignored; `null` for an optional field means absent; invalid
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
 * Numbers: integers beyond Number.MAX_SAFE_INTEGER become `bigint` with their exact value.
 * The common path stays on JSON.parse: a pre-scan looks for runs of 16+ digits outside
 * strings; without one, JSON.parse is exact. With one, each such integer is rewritten into a
 * marker array `["\u0000","<digits>"]` before JSON.parse and turned into a bigint afterwards
 * (the marker cannot collide with input that contains no `\u0000` escape); input that does
 * contain one takes a small lossless parser instead.
 */
import { PRIORITIES, priorityLevel, type FalcoEvent, type FieldValue } from './event.js';

export interface ParseContext {
  /** performance.now() when the alert was received. */
  readonly receivedAt: number;
  readonly traceId: string;
}

export type ParseResult = { readonly ok: true; readonly event: FalcoEvent } | { readonly ok: false; readonly message: string };

/** Deepest array nesting accepted inside an output field value. */
const MAX_FIELD_DEPTH = 16;
/** Deepest nesting the fallback parser accepts anywhere in the body. */
const MAX_BODY_DEPTH = 512;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MARKER = '\u0000';

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
    if (err instanceof Rejection) return { ok: false, message: err.message };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// JSON text → value, lossless for big integers

interface Parsed {
  readonly value: unknown;
  /** True when big integers are marker arrays to be converted by the validator. */
  readonly markers: boolean;
}

function parseJson(text: string): Parsed {
  if (isBlank(text)) throw new Rejection('body is empty: expected one Falco alert as a JSON object');
  const spans = findLongIntegers(text);
  if (spans === null) return { value: jsonParse(text), markers: false };
  if (text.includes('\\u0000')) return { value: parseLossless(text), markers: false };
  try {
    return { value: JSON.parse(withMarkers(text, spans)), markers: true };
  } catch {
    return { value: parseLossless(text), markers: false };
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return true;
}

function jsonParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Rejection(`body is not valid JSON: ${clip((err as Error).message, 160)}`);
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Characters that may precede a number token in valid JSON (whitespace, `[`, `,`, `:`). */
function precedesValue(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x5b || c === 0x2c || c === 0x3a;
}

/**
 * Spans [start, end) of integer literals with 16 or more digits that stand outside strings
 * where a JSON value may start (a number of ≤ 15 digits is always exact as a double);
 * null when there are none. Fractions and exponents are left to JSON.parse.
 */
export function findLongIntegers(t: string): number[] | null {
  let spans: number[] | null = null;
  let i = 0;
  for (;;) {
    const quote = t.indexOf('"', i);
    const end = quote === -1 ? t.length : quote;
    for (let p = i; p < end; p++) {
      if (!isDigit(t.charCodeAt(p))) continue;
      let j = p + 1;
      while (j < end && isDigit(t.charCodeAt(j))) j++;
      if (j - p >= 16 && t.charCodeAt(p) !== 0x30) {
        const start = t.charCodeAt(p - 1) === 0x2d ? p - 1 : p;
        const after = t.charCodeAt(j);
        const fraction = after === 0x2e || after === 0x65 || after === 0x45;
        if (!fraction && (start === 0 || precedesValue(t.charCodeAt(start - 1)))) (spans ??= []).push(start, j);
      }
      p = j;
    }
    if (quote === -1) return spans;
    let close = t.indexOf('"', quote + 1);
    while (close !== -1 && t.charCodeAt(close - 1) === 0x5c) {
      let k = close - 1;
      while (t.charCodeAt(k) === 0x5c) k--;
      if ((close - 1 - k) % 2 === 0) break;
      close = t.indexOf('"', close + 1);
    }
    if (close === -1) return spans;
    i = close + 1;
  }
}

function withMarkers(t: string, spans: readonly number[]): string {
  let out = '';
  let last = 0;
  for (let k = 0; k < spans.length; k += 2) {
    const start = spans[k]!;
    const end = spans[k + 1]!;
    out += `${t.slice(last, start)}["\\u0000","${t.slice(start, end)}"]`;
    last = end;
  }
  return out + t.slice(last);
}

function isMarker(v: unknown): v is [string, string] {
  return Array.isArray(v) && v.length === 2 && v[0] === MARKER && typeof v[1] === 'string';
}

function integerValue(digits: string): number | bigint {
  const big = BigInt(digits);
  return big > MAX_SAFE || big < -MAX_SAFE ? big : Number(digits);
}

const LITERALS: readonly (readonly [string, boolean | null])[] = [
  ['true', true],
  ['false', false],
  ['null', null],
];

/**
 * A complete JSON parser that returns big integers as bigint. Slower than JSON.parse; used
 * only when the marker rewrite cannot be (the body holds a `\u0000` escape).
 * Objects are ordinary objects with own keys only (`__proto__` included), as JSON.parse makes.
 */
export function parseLossless(t: string): unknown {
  const numberRe = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  let i = 0;
  const fail = (what: string): never => {
    throw new Rejection(`body is not valid JSON: ${what} at position ${i}`);
  };
  const ws = (): number => {
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return c;
    }
  };
  const str = (): string => {
    let close = t.indexOf('"', i + 1);
    for (;;) {
      if (close === -1) return fail('unterminated string');
      let k = close - 1;
      while (t.charCodeAt(k) === 0x5c) k--;
      if ((close - 1 - k) % 2 === 0) break;
      close = t.indexOf('"', close + 1);
    }
    const raw = t.slice(i, close + 1);
    i = close + 1;
    try {
      return JSON.parse(raw) as string;
    } catch {
      i -= raw.length;
      return fail('invalid string');
    }
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_BODY_DEPTH) fail(`nesting deeper than ${MAX_BODY_DEPTH}`);
    const c = ws();
    if (c === 0x22) return str();
    if (c === 0x7b) {
      i++;
      const obj: Record<string, unknown> = {};
      if (ws() === 0x7d) {
        i++;
        return obj;
      }
      for (;;) {
        if (ws() !== 0x22) fail('expected a string key');
        const key = str();
        if (ws() !== 0x3a) fail("expected ':'");
        i++;
        const v = value(depth + 1);
        if (key === '__proto__') Object.defineProperty(obj, key, { value: v, writable: true, enumerable: true, configurable: true });
        else obj[key] = v;
        const d = ws();
        i++;
        if (d === 0x2c) continue;
        if (d === 0x7d) return obj;
        i--;
        fail("expected ',' or '}'");
      }
    }
    if (c === 0x5b) {
      i++;
      const arr: unknown[] = [];
      if (ws() === 0x5d) {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        const d = ws();
        i++;
        if (d === 0x2c) continue;
        if (d === 0x5d) return arr;
        i--;
        fail("expected ',' or ']'");
      }
    }
    numberRe.lastIndex = i;
    const m = numberRe.exec(t);
    if (m !== null) {
      i = numberRe.lastIndex;
      const token = m[0];
      return m[1] === undefined && m[2] === undefined && token.length > 15 ? integerValue(token) : Number(token);
    }
    for (const [word, literal] of LITERALS) {
      if (t.startsWith(word, i)) {
        i += word.length;
        return literal;
      }
    }
    return fail(Number.isNaN(c) ? 'unexpected end of input' : 'unexpected character');
  };
  const result = value(0);
  if (!Number.isNaN(ws())) fail('unexpected text after the value');
  return result;
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
    fields[key] = fieldValue(x, `output_fields[${quoteKey(key)}]`, markers, 0);
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

/** The envelope's known keys: the exact-case spelling if present, else the last other spelling (as Go does). */
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
  let folded: [EnvelopeKey, unknown][] | undefined;
  for (const key of Object.keys(obj)) {
    if (ENVELOPE_KEYS.has(key)) {
      env[key as EnvelopeKey] = obj[key];
      continue;
    }
    const lower = key.toLowerCase();
    if (lower !== key && ENVELOPE_KEYS.has(lower)) (folded ??= []).push([lower as EnvelopeKey, obj[key]]);
  }
  if (folded !== undefined) {
    for (const [key, value] of folded) if (!Object.hasOwn(obj, key)) env[key] = value;
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
