import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedQueue, type WorkInfo } from './keyed-queue.js';

interface Gate {
  readonly promise: Promise<void>;
  open(): void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** A worker whose items wait on per-item gates and whose executions are kept as state. */
function harness(concurrency: number, maxPending: number) {
  const gates = new Map<string, Gate>();
  const done: { item: string; key: string; merged: number }[] = [];
  const running = new Set<string>();
  const overlaps: string[] = [];
  let maxActive = 0;
  const q = new KeyedQueue<string>({
    concurrency,
    maxPending,
    worker: async (item: string, info: WorkInfo) => {
      if ([...running].some((r) => r.startsWith(`${info.key}|`))) overlaps.push(item);
      running.add(`${info.key}|${item}`);
      maxActive = Math.max(maxActive, running.size);
      const g = gates.get(item);
      if (g) await g.promise;
      running.delete(`${info.key}|${item}`);
      done.push({ item, key: info.key, merged: info.merged });
    },
  });
  const hold = (item: string): Gate => {
    const g = gate();
    gates.set(item, g);
    return g;
  };
  return { q, done, hold, overlaps, maxActive: () => maxActive };
}

test('items of one key run one at a time, in enqueue order', async () => {
  const h = harness(4, 100);
  const g = h.hold('a1');
  h.q.enqueue('A', 'a1');
  h.q.enqueue('A', 'a2');
  h.q.enqueue('A', 'a3');
  assert.equal(h.q.active(), 1);
  assert.equal(h.q.depth(), 2);
  g.open();
  await h.q.drain();
  assert.deepEqual(
    h.done.map((d) => d.item),
    ['a1', 'a2', 'a3'],
  );
  assert.deepEqual(h.overlaps, []);
});

test('distinct keys run concurrently up to the limit, and a slow key blocks no other', async () => {
  const h = harness(2, 100);
  const ga = h.hold('a1');
  const gb = h.hold('b1');
  h.q.enqueue('A', 'a1');
  h.q.enqueue('B', 'b1');
  h.q.enqueue('C', 'c1');
  assert.equal(h.q.active(), 2);
  assert.equal(h.q.depth(), 1);
  gb.open();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    h.done.map((d) => d.item),
    ['b1', 'c1'],
  );
  ga.open();
  await h.q.drain();
  assert.equal(h.maxActive(), 2);
  assert.equal(h.done.length, 3);
});

test('keys take turns: a key with a backlog goes behind the others after each item', async () => {
  const h = harness(1, 100);
  const g = h.hold('a1');
  h.q.enqueue('A', 'a1');
  h.q.enqueue('A', 'a2');
  h.q.enqueue('B', 'b1');
  g.open();
  await h.q.drain();
  assert.deepEqual(
    h.done.map((d) => d.item),
    ['a1', 'b1', 'a2'],
  );
});

test('a pending item absorbs a second enqueue with the same merge key; a running one does not', async () => {
  const h = harness(1, 100);
  const g = h.hold('first');
  assert.equal(h.q.enqueue('A', 'first', 'rule-1'), 'queued');
  assert.equal(h.q.enqueue('A', 'second', 'rule-1'), 'queued');
  assert.equal(h.q.enqueue('A', 'third', 'rule-1'), 'merged');
  assert.equal(h.q.enqueue('A', 'fourth', 'rule-1'), 'merged');
  assert.equal(h.q.enqueue('A', 'other', 'rule-2'), 'queued');
  assert.equal(h.q.enqueue('B', 'b', 'rule-1'), 'queued');
  g.open();
  await h.q.drain();
  assert.deepEqual(
    h.done.filter((d) => d.key === 'A'),
    [
      { item: 'first', key: 'A', merged: 0 },
      { item: 'second', key: 'A', merged: 2 },
      { item: 'other', key: 'A', merged: 0 },
    ],
  );
  assert.deepEqual(
    h.done.filter((d) => d.key === 'B'),
    [{ item: 'b', key: 'B', merged: 0 }],
  );
});

test('beyond maxPending enqueue returns false and the item never runs', async () => {
  const h = harness(1, 1);
  const g = h.hold('x1');
  assert.equal(h.q.enqueue('X', 'x1'), 'queued');
  assert.equal(h.q.enqueue('Y', 'y1'), 'queued');
  assert.equal(h.q.enqueue('Z', 'z1'), false);
  assert.equal(h.q.depth(), 1);
  g.open();
  await h.q.drain();
  assert.deepEqual(
    h.done.map((d) => d.item),
    ['x1', 'y1'],
  );
});

test('a worker that throws is reported and the queue keeps going', async () => {
  const errors: string[] = [];
  const done: string[] = [];
  const q = new KeyedQueue<string>({
    concurrency: 2,
    maxPending: 10,
    worker: async (item) => {
      if (item === 'boom') throw new Error('boom');
      if (item === 'sync') (null as unknown as { x: number }).x;
      done.push(item);
    },
    onError: (err, item) => errors.push(`${item}:${(err as Error).message.slice(0, 4)}`),
  });
  q.enqueue('A', 'boom');
  q.enqueue('A', 'after');
  q.enqueue('B', 'sync');
  q.enqueue('B', 'after-b');
  await q.drain();
  assert.deepEqual(done.sort(), ['after', 'after-b']);
  assert.equal(errors.length, 2);
  assert.equal(q.depth(), 0);
  assert.equal(q.active(), 0);
});

test('drain resolves at once when idle', async () => {
  const q = new KeyedQueue<number>({ concurrency: 1, maxPending: 1, worker: async () => undefined });
  await q.drain();
  assert.equal(q.depth(), 0);
});

test('an item with a free slot and nothing ahead of it starts inside enqueue; after halt() one waits and absorbs its merge key', async () => {
  const started: string[] = [];
  const q = new KeyedQueue<string>({ concurrency: 2, maxPending: 10, worker: async (item) => void started.push(item) });
  assert.equal(q.enqueue('A', 'a1', 'm'), 'queued');
  assert.deepEqual(started, ['a1'], 'started before enqueue returned');
  assert.equal(q.depth(), 0);
  assert.equal(q.active(), 1);
  await q.drain();
  q.halt();
  assert.equal(q.enqueue('A', 'a2', 'm'), 'queued');
  assert.equal(q.enqueue('A', 'a3', 'm'), 'merged', 'the waiting item absorbs its merge key');
  assert.deepEqual(started, ['a1']);
  assert.equal(q.depth(), 1);
});
