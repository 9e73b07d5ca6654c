import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeTimers, settle } from '../../test/fakes/clock.js';
import { TalonError, TerminalError } from '../errors.js';
import { MAX_DELAY_MS, ReconcileQueue, type ReconcileQueueOptions, type ReconcileResult } from './reconcile-queue.js';

const tick = () => new Promise((r) => setImmediate(r));
async function until(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !fn(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(fn(), 'condition not reached');
}

/**
 * A queue on a fake clock whose reconcile answers from `script` (one entry per run of a key,
 * the last one repeating), recording when each key ran. Jitter is off (random = 1): a retry
 * waits exactly base·2^(n-1), capped at max.
 */
function onClock(script: Record<string, (ReconcileResult | Error)[]>, opts: Partial<ReconcileQueueOptions> = {}) {
  const clock = new FakeTimers();
  const runs: string[] = [];
  const errors: string[] = [];
  const terminal: string[] = [];
  const count = new Map<string, number>();
  const q = new ReconcileQueue({
    baseDelayMs: 100,
    maxDelayMs: 400,
    random: () => 1,
    timers: clock,
    reconcile: async (key) => {
      runs.push(`${key}@${clock.now()}`);
      const n = count.get(key) ?? 0;
      count.set(key, n + 1);
      const steps = script[key] ?? [undefined];
      const step = steps[Math.min(n, steps.length - 1)];
      if (step instanceof Error) throw step;
      return step;
    },
    onError: (key, _err, attempt, retryInMs) => errors.push(`${key}#${attempt}+${retryInMs}@${clock.now()}`),
    onTerminal: (key, err) => terminal.push(`${key}:${err.code}@${clock.now()}`),
    ...opts,
  });
  return { q, clock, runs, errors, terminal };
}

test('keys added while queued are coalesced', async () => {
  const seen: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new ReconcileQueue({ workers: 1, reconcile: async (k) => { seen.push(k); if (k === 'first') await gate; } });
  q.add('first');
  await tick();
  q.add('a');
  q.add('a');
  q.add('a');
  release();
  await until(() => q.length === 0);
  assert.deepEqual(seen, ['first', 'a']);
});

test('a key added while it is reconciled is reconciled again afterwards, never concurrently', async () => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  const q = new ReconcileQueue({
    workers: 4,
    reconcile: async () => {
      running++;
      calls++;
      maxRunning = Math.max(maxRunning, running);
      await gate;
      running--;
    },
  });
  q.add('k');
  await tick();
  q.add('k');
  q.add('k');
  await tick();
  assert.equal(running, 1);
  const first = release;
  gate = new Promise<void>((r) => (release = r));
  first();
  await until(() => calls === 2);
  release();
  await until(() => q.length === 0);
  assert.equal(calls, 2);
  assert.equal(maxRunning, 1);
});

test('distinct keys run concurrently up to the worker count', async () => {
  let running = 0;
  let maxRunning = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new ReconcileQueue({
    workers: 3,
    reconcile: async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate;
      running--;
    },
  });
  for (let i = 0; i < 10; i++) q.add(`k${i}`);
  await until(() => running === 3);
  release();
  await until(() => q.length === 0);
  assert.equal(maxRunning, 3);
});

test('any other error: retried with per-key exponential backoff, capped, until it succeeds', async () => {
  const boom = new Error('conflict');
  const h = onClock({ k: [boom, boom, boom, boom, undefined], other: [undefined] });
  h.q.add('k');
  h.q.add('other');
  await h.clock.advance(10_000);
  assert.deepEqual(h.runs, ['k@0', 'other@0', 'k@100', 'k@300', 'k@700', 'k@1100']);
  assert.deepEqual(h.errors, ['k#1+100@0', 'k#2+200@100', 'k#3+400@300', 'k#4+400@700']);
  assert.deepEqual(h.terminal, []);
  assert.equal(h.q.length, 0, 'nothing pending after the success');
});

test('a retryable TalonError is retried too; a success resets the backoff', async () => {
  const stale = new TalonError('Conflict', 'stale', { retryable: true });
  const h = onClock({ k: [stale, stale, undefined, stale, undefined] });
  h.q.add('k');
  await h.clock.advance(1_000);
  h.q.add('k');
  await h.clock.advance(1_000);
  assert.deepEqual(h.runs, ['k@0', 'k@100', 'k@300', 'k@1000', 'k@1100']);
  assert.deepEqual(h.errors, ['k#1+100@0', 'k#2+200@100', 'k#1+100@1000']);
});

test('a TerminalError is reported once and not retried; the next add runs the key again', async () => {
  const invalid = new TerminalError('Invalid', 'status rejected by the API server');
  const h = onClock({ k: [invalid, undefined] });
  h.q.add('k');
  await h.clock.advance(3_600_000);
  assert.deepEqual(h.runs, ['k@0']);
  assert.deepEqual(h.terminal, ['k:Invalid@0']);
  assert.deepEqual(h.errors, []);
  assert.equal(h.q.length, 0);
  assert.deepEqual(h.clock.delays(), []);

  h.q.add('k');
  await h.clock.advance(1);
  assert.deepEqual(h.runs, ['k@0', 'k@3600000']);
  assert.deepEqual(h.terminal, ['k:Invalid@0']);
});

test('a terminal error after retryable ones stops the backoff loop', async () => {
  const h = onClock({ k: [new Error('flaky'), new TerminalError('Forbidden', 'no RBAC')] });
  h.q.add('k');
  await h.clock.advance(60_000);
  assert.deepEqual(h.runs, ['k@0', 'k@100']);
  assert.deepEqual(h.errors, ['k#1+100@0']);
  assert.deepEqual(h.terminal, ['k:Forbidden@100']);
});

test('requeueAfter schedules the key again after that delay', async () => {
  const h = onClock({ k: [{ requeueAfter: 5_000 }, { requeueAfter: 2_000 }, {}], zero: [{ requeueAfter: 0 }] });
  h.q.add('k');
  h.q.add('zero');
  await h.clock.advance(60_000);
  assert.deepEqual(h.runs, ['k@0', 'zero@0', 'k@5000', 'k@7000']);
  assert.equal(h.q.length, 0);
});

test('requeueAfter is coalesced with adds: an add runs the key now and that run decides again', async () => {
  const h = onClock({ k: [{ requeueAfter: 5_000 }] });
  h.q.add('k');
  await h.clock.advance(1_000);
  h.q.add('k');
  h.q.add('k');
  await h.clock.advance(9_000);
  assert.deepEqual(h.runs, ['k@0', 'k@1000', 'k@6000']);
  assert.deepEqual(h.clock.delays(), [1_000], 'one timer for the key, from the last run (at 6000, due at 11000)');
});

test('requeueAfter past the longest timer is clamped, not fired at once', async () => {
  const h = onClock({ k: [{ requeueAfter: 1e12 }] });
  h.q.add('k');
  await h.clock.advance(1);
  assert.deepEqual(h.clock.delays(), [MAX_DELAY_MS - 1]);
  assert.deepEqual(h.runs, ['k@0']);
});

test('jitter keeps a retry within [d/2, d]', async () => {
  const h = onClock({ k: [new Error('x'), undefined] }, { random: () => 0 });
  h.q.add('k');
  await h.clock.advance(1_000);
  assert.deepEqual(h.runs, ['k@0', 'k@50']);
});

test('stop() aborts the running reconcile signal; what it throws then is not reported nor retried', async () => {
  const clock = new FakeTimers();
  const errors: unknown[] = [];
  let seen: AbortSignal | undefined;
  const runs: string[] = [];
  const q = new ReconcileQueue({
    timers: clock,
    reconcile: (key, signal) => {
      runs.push(key);
      seen = signal;
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    },
    onError: (_k, err) => errors.push(err),
    onTerminal: (_k, err) => errors.push(err),
  });
  q.add('slow');
  q.add('queued-1');
  q.add('queued-2');
  await settle();
  assert.equal(seen?.aborted, false);
  q.stop();
  assert.equal(seen?.aborted, true);
  await q.idle();
  q.add('late');
  await clock.advance(600_000);
  assert.deepEqual(errors, []);
  assert.equal(q.length, 0);
  assert.deepEqual(clock.delays(), []);
  assert.ok(!runs.includes('late'));
});
