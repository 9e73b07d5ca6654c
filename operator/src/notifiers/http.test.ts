import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TalonError, TerminalError } from '../errors.js';
import { httpUrl, parseRetryAfter, statusError } from './http.js';

test('Retry-After: delta seconds or an HTTP date; malformed is ignored', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('1', now), 1000);
  assert.equal(parseRetryAfter(' 120 ', now), 120_000);
  assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('answers: 408/429/5xx retryable (with Retry-After), other 4xx terminal; the message names the receiver only', () => {
  const e429 = statusError('the slack webhook (hooks.slack.com)', 429, '2');
  assert.ok(e429 instanceof TalonError && e429.retryable);
  assert.deepEqual([e429.code, e429.status, e429.retryAfterMs, e429.message], ['TooManyRequests', 429, 2000, 'the slack webhook (hooks.slack.com) answered HTTP 429']);
  const e503 = statusError('loki (l:3100)', 503, undefined);
  assert.deepEqual([e503.code, e503.retryable, e503.retryAfterMs], ['ServerError', true, undefined]);
  assert.equal(statusError('x', 408, undefined).retryable, true);
  for (const [status, code] of [[400, 'BadRequest'], [401, 'Unauthorized'], [403, 'Forbidden'], [404, 'NotFound'], [418, 'ClientError']] as const) {
    const e = statusError('x', status, '5');
    assert.ok(e instanceof TerminalError, String(status));
    assert.equal(e.code, code);
  }
});

test('URLs: http(s) only; errors never repeat the text (it may be a secret)', () => {
  assert.equal(httpUrl('https://hooks.slack.com/services/T/B/X', 'the slack webhook URL').host, 'hooks.slack.com');
  assert.throws(() => httpUrl('hooks.slack.com/services/SECRET', 'the slack webhook URL in /s'), (e: Error) => e.message === 'the slack webhook URL in /s is not a URL');
  assert.throws(() => httpUrl('ftp://x/SECRET', 'it'), (e: Error) => e.message === 'it must be an http or https URL');
});
