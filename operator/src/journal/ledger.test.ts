import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FalcoEvent } from '../falco/event.js';
import { Journal } from './journal.js';
import { Ledger } from './ledger.js';

const ev = (traceId: string): FalcoEvent => ({ traceId }) as FalcoEvent;
const bytes = (n: number): Buffer => Buffer.alloc(n, 'x');

test('admission is by bytes: the pre-index budget until the index loads, then the queue budget; a finished alert frees its bytes', () => {
  const l = new Ledger({ maxBytes: 1000, maxHeldBytes: 300, retryAfterSeconds: 7 });
  assert.equal(l.admit(ev('a'), 'ka', bytes(200)), undefined);
  const refused = l.admit(ev('b'), 'kb', bytes(200));
  assert.equal(refused?.retryAfterSeconds, 7);
  assert.match(refused?.reason ?? '', /queue\.maxHeldBytes/);
  l.setIndexLoaded();
  assert.equal(l.admit(ev('b'), 'kb', bytes(700)), undefined);
  assert.match(l.admit(ev('c'), 'kc', bytes(200))?.reason ?? '', /queue\.maxBytes = 1000/);
  l.dispatched(ev('a'), 0);
  assert.equal(l.bytes(), 700);
  assert.equal(l.admit(ev('c'), 'kc', bytes(200)), undefined);
  assert.equal(l.count(), 2);
});

test('an alert is finished when every rule handed to the dispatcher is done; progress reaches the journal', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'talon-ledger-'));
  const opened = Journal.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000 });
  const l = new Ledger({ journal: opened.journal, maxBytes: 1 << 20, maxHeldBytes: 1 << 20 });
  l.setIndexLoaded();
  l.admit(ev('a'), 'ka', bytes(10));
  l.dispatched(ev('a'), 2);
  l.actionRecorded(ev('a'), 'r1', 1);
  l.ruleDone(ev('a'), 'r1');
  assert.equal(l.count(), 1);
  await new Promise(setImmediate); // R is written at the end of the turn at the latest
  const replay = Journal.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000 });
  assert.equal(replay.pending.length, 1);
  assert.ok(replay.pending[0]!.rulesDone.has('r1'));

  const l2 = new Ledger({ journal: replay.journal, maxBytes: 1 << 20, maxHeldBytes: 1 << 20 });
  l2.restore(replay.pending[0]!);
  assert.deepEqual(l2.remaining(ev('a'), [{ key: 'r1' }, { key: 'r2' }]), [{ key: 'r2' }]);
  assert.equal(l2.resumeAt(ev('a'), 'r2'), 0);
  l2.dispatched(ev('a'), 1);
  l2.actionRecorded(ev('a'), 'r2', 1);
  assert.equal(l2.resumeAt(ev('a'), 'r2'), 1);
  l2.ruleDone(ev('a'), 'r2');
  assert.equal(l2.count(), 0);
  assert.equal(l2.bytes(), 0);
  replay.journal.close();
  assert.equal(Journal.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000 }).pending.length, 0);
});

test('a journal that cannot be written refuses the alert instead of accepting what it cannot keep', () => {
  const dir = mkdtempSync(join(tmpdir(), 'talon-ledger-'));
  const opened = Journal.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000 });
  opened.journal.close();
  let id = 0;
  const broken = {
    stage: () => ++id,
    commit: () => {
      throw new Error('ENOSPC: no space left on device');
    },
    setWriteErrorHandler: () => undefined,
  } as unknown as Journal;
  const l = new Ledger({ journal: broken, maxBytes: 1 << 20, maxHeldBytes: 1 << 20 });
  const r = l.admit(ev('a'), 'ka', bytes(10));
  assert.match(r?.reason ?? '', /journal cannot be written: ENOSPC/);
  assert.equal(l.count(), 0);
  assert.equal(l.bytes(), 0);
  // Group commit: every alert staged for the failed write is let go, with its bytes.
  assert.equal(l.stage(ev('b'), 'kb', bytes(10)), undefined);
  assert.equal(l.stage(ev('c'), 'kc', bytes(20)), undefined);
  assert.equal(l.bytes(), 30);
  assert.match(l.commit()?.reason ?? '', /journal cannot be written: ENOSPC/);
  assert.equal(l.count(), 0);
  assert.equal(l.bytes(), 0);
  assert.equal(l.commit(), undefined, 'nothing staged: nothing to write');
});

test('resumeAt tells each rule its own progress, for the first rule of an alert, a second one, and a replayed one', () => {
  const l = new Ledger({ maxBytes: 1 << 20, maxHeldBytes: 1 << 20 });
  l.setIndexLoaded();
  l.admit(ev('a'), 'ka', bytes(10));
  l.dispatched(ev('a'), 3);
  assert.equal(l.resumeAt(ev('a'), 'r1'), 0);
  l.actionRecorded(ev('a'), 'r1', 1);
  l.actionRecorded(ev('a'), 'r2', 2);
  l.actionRecorded(ev('a'), 'r1', 3);
  assert.deepEqual(['r1', 'r2', 'r3'].map((r) => l.resumeAt(ev('a'), r)), [3, 2, 0]);
  l.ruleDone(ev('a'), 'r1');
  assert.deepEqual(l.remaining(ev('a'), [{ key: 'r1' }, { key: 'r2' }, { key: 'r3' }]), [{ key: 'r2' }, { key: 'r3' }]);

  l.restore({ id: 1, traceId: 'b', key: 'kb', body: bytes(5), receivedAtMs: 0, progress: new Map([['r1', 2], ['r2', 1]]), rulesDone: new Set() } as never);
  l.actionRecorded(ev('b'), 'r2', 2);
  assert.deepEqual(['r1', 'r2', 'r3'].map((r) => l.resumeAt(ev('b'), r)), [2, 2, 0]);
});
