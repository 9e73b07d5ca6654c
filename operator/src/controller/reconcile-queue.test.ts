import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReconcileQueue } from './reconcile-queue.js';

const tick = () => new Promise((r) => setImmediate(r));
async function until(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !fn(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(fn(), 'condition not reached');
}

test('keys added while queued are coalesced', async () => {
  const seen: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new ReconcileQueue({ workers: 1, handler: async (k) => { seen.push(k); if (k === 'first') await gate; } });
  q.add('first');
  await tick();
  q.add('a');
  q.add('a');
  q.add('a');
  release();
  await until(() => q.length === 0);
  assert.deepEqual(seen, ['first', 'a']);
});

test('a key added while it is processed is processed again afterwards, never concurrently', async () => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  const q = new ReconcileQueue({
    workers: 4,
    handler: async () => {
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
    handler: async () => {
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

test('a failing key is retried with backoff until it succeeds', async () => {
  let attempts = 0;
  const errors: number[] = [];
  const q = new ReconcileQueue({
    baseDelayMs: 1,
    maxDelayMs: 4,
    handler: async () => {
      attempts++;
      if (attempts < 4) throw new Error('conflict');
    },
    onError: (_k, _e, attempt) => errors.push(attempt),
  });
  q.add('k');
  await until(() => attempts === 4 && q.length === 0);
  assert.deepEqual(errors, [1, 2, 3]);
});
