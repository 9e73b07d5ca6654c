import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDuration, DURATION_PATTERN, formatDuration, MAX_DURATION_MS, parseDuration } from './duration.js';

// Everything either former parser accepted (the API's cooldown/config grammar and the
// networkpolicy ttl grammar) must still read the same.
const VALID: readonly (readonly [string, number])[] = [
  ['0', 0],
  ['0s', 0],
  ['0ms', 0],
  ['250ms', 250],
  ['500ms', 500],
  ['10s', 10_000],
  ['30s', 30_000],
  ['5m', 300_000],
  ['1h', 3_600_000],
  ['1h30m', 5_400_000],
  ['1h0m0s', 3_600_000],
  ['1m30s500ms', 90_500],
  ['2d', 172_800_000],
  ['1d12h', 129_600_000],
  ['90m', 5_400_000],
  ['007s', 7_000],
  // Go/metav1.Duration additions: fractions, sub-millisecond units, repeated units.
  ['1.5h', 5_400_000],
  ['.5s', 500],
  ['1.s', 1_000],
  ['2.25m', 135_000],
  ['1s1s', 2_000],
  ['1500us', 2],
  ['1500000µs', 1_500],
  ['1500000μs', 1_500],
  ['2000000ns', 2],
  // Sub-millisecond remainders round up: a non-zero duration never reads as 0.
  ['1ns', 1],
  ['1ms1ns', 2],
  ['0.0001s', 1],
  // Fractions finer than a nanosecond are cut, as Go does.
  ['1.0000000001s', 1_000],
];

const INVALID: readonly string[] = [
  '',
  '5',
  '10',
  '-5m',
  '+5m',
  '5M',
  '1H',
  '1w',
  '1y',
  's',
  '.s',
  '.',
  '1.5',
  '1 h',
  ' 1h',
  '1h ',
  '1h-30m',
  '1e3s',
  '0x10s',
  '1,5h',
  '1h30',
  'ms',
  '00',
  'PT5M',
];

test('valid durations read as milliseconds', () => {
  for (const [text, ms] of VALID) assert.equal(parseDuration(text), ms, text);
});

test('malformed durations are refused with a message naming the grammar', () => {
  for (const text of INVALID) {
    assert.equal(parseDuration(text), undefined, text);
    const c = checkDuration(text);
    assert.ok(!c.ok, text);
    assert.match(c.error, /is not a duration \(e\.g\. 500ms, 10s, 5m or 1h30m\)/, text);
  }
});

test('the pattern and the parser agree (the pattern is what the CRD and the config schema check)', () => {
  const re = new RegExp(DURATION_PATTERN, 'u');
  for (const [text] of VALID) assert.ok(re.test(text), text);
  for (const text of INVALID) assert.ok(!re.test(text), text);
  assert.ok(!DURATION_PATTERN.includes('\\'), 'no backslash: the pattern sits inside a CEL string literal');
});

test('bounds: up to 2^63-1 ns as Go; longer is an overflow, not a wrap-around', () => {
  assert.equal(MAX_DURATION_MS, 9_223_372_036_854);
  assert.equal(parseDuration('9223372036854775807ns'), MAX_DURATION_MS);
  assert.equal(parseDuration('9223372036854ms'), MAX_DURATION_MS);
  assert.equal(parseDuration('2562047h'), 2_562_047 * 3_600_000);
  for (const text of ['9223372036854775808ns', '2562048h', '106752d', '99999999999999999999999h', '2562047h48m', '1h9223372036854775807ns']) {
    assert.equal(parseDuration(text), undefined, text);
    const c = checkDuration(text);
    assert.ok(!c.ok && /longer than the longest duration/.test(c.error), text);
  }
  assert.ok(Number.isSafeInteger(parseDuration('106751d')));
});

test('formatDuration writes the canonical form, which parses back to the same value', () => {
  const cases: readonly (readonly [number, string])[] = [
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [1_500, '1s500ms'],
    [10_000, '10s'],
    [300_000, '5m'],
    [5_400_000, '1h30m'],
    [3_600_001, '1h1ms'],
    [86_400_000, '24h'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
  let x = 7;
  for (let i = 0; i < 2000; i++) {
    x = (x * 48271) % 2147483647;
    const ms = i % 2 === 0 ? x % 100_000_000 : Math.floor((x / 2147483647) * MAX_DURATION_MS);
    assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  }
  assert.equal(parseDuration(formatDuration(MAX_DURATION_MS)), MAX_DURATION_MS);
});

test('formatDuration refuses what is not a duration', () => {
  for (const bad of [-1, 1.5, NaN, Infinity, MAX_DURATION_MS + 1]) assert.throws(() => formatDuration(bad), RangeError, String(bad));
});
