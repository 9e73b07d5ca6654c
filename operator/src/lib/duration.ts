/**
 * The operator's one duration grammar: a rule's `cooldown`, an action's `ttl` and every
 * duration of the operator config are written, checked and read with this module.
 *
 * Syntax: Go's `time.ParseDuration` (what Kubernetes' `metav1.Duration` accepts), unsigned,
 * plus the unit `d` (24 h) that `ttl` has always accepted: `0`, or one or more
 * `<number><unit>` where number is decimal with an optional fraction (`1.5h`, `.5s`) and unit
 * is one of ns, us (µs, μs), ms, s, m, h, d — e.g. `500ms`, `10s`, `5m`, `1h30m`, `2d`. Units are
 * case-sensitive and required (only `0` may stand alone); no sign, no spaces.
 *
 * Bounds: like Go, at most 2^63-1 nanoseconds (about 292 years); longer is an overflow, not a
 * duration. Values are milliseconds, sub-millisecond remainders rounded up (so a non-zero
 * duration never reads as 0) within MAX_DURATION_MS.
 */

/** The grammar as one regular expression, valid in ECMAScript (ajv) and RE2 (the API server's CEL); no backslashes, so it can sit in a CEL string literal. */
export const DURATION_PATTERN = '^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h|d))+)$';

/** Examples for error messages and descriptions. */
export const DURATION_EXAMPLES = '500ms, 10s, 5m or 1h30m';

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek small letter mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
};

const MAX_NS = 2n ** 63n - 1n;
const NS_PER_MS = 1_000_000n;

/** The longest duration, in milliseconds (2^63-1 ns, rounded down to whole ms). */
export const MAX_DURATION_MS = Number(MAX_NS / NS_PER_MS);

const WHOLE = new RegExp(DURATION_PATTERN);
const COMPONENT = /([0-9]*)(?:[.]([0-9]*))?(ns|us|µs|μs|ms|s|m|h|d)/g;

export type DurationCheck = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly error: string };

/**
 * Reads `text` as a duration: its milliseconds, or what is wrong with it (a message naming
 * the grammar, or the overflow bound).
 */
export function checkDuration(text: string): DurationCheck {
  if (!WHOLE.test(text)) return { ok: false, error: `${JSON.stringify(text)} is not a duration (e.g. ${DURATION_EXAMPLES})` };
  let total = 0n;
  for (const m of text.matchAll(COMPONENT)) {
    const unit = NS_PER_UNIT[m[3]!]!;
    const whole = m[1] ? BigInt(m[1]) : 0n;
    const fraction = m[2] ?? '';
    total += whole * unit;
    if (fraction !== '') total += (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length);
    if (total > MAX_NS) return { ok: false, error: `${JSON.stringify(text)} is longer than the longest duration (${formatDuration(MAX_DURATION_MS)})` };
  }
  return { ok: true, ms: Math.min(MAX_DURATION_MS, Number((total + NS_PER_MS - 1n) / NS_PER_MS)) };
}

/** Milliseconds of a duration such as `500ms`, `10s`, `5m`, `1h30m`, `1.5h`, `2d` or `0`; undefined when malformed or too long. */
export function parseDuration(text: string): number | undefined {
  const c = checkDuration(text);
  return c.ok ? c.ms : undefined;
}

const FORMAT_UNITS: readonly (readonly [string, number])[] = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/**
 * The canonical text of `ms` milliseconds: hours, minutes, seconds and milliseconds, zero
 * components left out (`1h30m`, `1s500ms`, `36h`; `0s` for 0). Readable by `parseDuration`
 * (which returns `ms` again) and by Go's `time.ParseDuration`. Throws a RangeError for
 * anything but an integer in [0, MAX_DURATION_MS].
 */
export function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_DURATION_MS) throw new RangeError(`not a duration in milliseconds: ${ms}`);
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of FORMAT_UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
