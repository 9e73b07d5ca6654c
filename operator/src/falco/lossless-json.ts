/**
 * JSON text → value, lossless for big integers (DESIGN.md §3: `evt.time` and other 64-bit
 * fields exceed 2^53).
 *
 * The common path stays on JSON.parse: a pre-scan looks for runs of 16+ digits outside
 * strings; without one, JSON.parse is exact. With one, each such integer is rewritten into a
 * marker array `["\u0000","<digits>"]` before JSON.parse and turned into a bigint afterwards
 * by the caller (`isMarker`, `integerValue`); the marker cannot collide with input that
 * contains no `\u0000` escape, and input that does contain one takes a small lossless parser.
 */

/** Bad JSON; the message says what and where. */
export class JsonRejection extends Error {}

/** Deepest nesting the fallback parser accepts anywhere in the body. */
const MAX_BODY_DEPTH = 512;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MARKER = '\u0000';

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

export interface Parsed {
  readonly value: unknown;
  /** True when big integers are marker arrays to be converted by the validator. */
  readonly markers: boolean;
}

export function parseJson(text: string): Parsed {
  if (isBlank(text)) throw new JsonRejection('body is empty: expected one Falco alert as a JSON object');
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
    throw new JsonRejection(`body is not valid JSON: ${clip((err as Error).message, 160)}`);
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

export function isMarker(v: unknown): v is [string, string] {
  return Array.isArray(v) && v.length === 2 && v[0] === MARKER && typeof v[1] === 'string';
}

export function integerValue(digits: string): number | bigint {
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
    throw new JsonRejection(`body is not valid JSON: ${what} at position ${i}`);
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
