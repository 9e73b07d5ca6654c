import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { decodeSegment, encodeRecord, headerJson, jsonString, segmentName, SegmentStore } from './segments.js';
import { Journal } from './journal.js';

const dir = (): string => mkdtempSync(join(tmpdir(), 'talon-journal-'));
const body = (n: number): Buffer => Buffer.from(JSON.stringify({ rule: 'r', output: `alert ${n}`, priority: 'Warning', time: '2026-01-01T00:00:00Z', output_fields: {} }));
const open = (d: string, extra: Partial<Parameters<typeof Journal.open>[0]> = {}) =>
  Journal.open({ dir: d, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000, ...extra });

test('records round-trip through their frames; a torn tail or a flipped bit stops decoding there', () => {
  const a = encodeRecord({ type: 'A', header: { id: 1, tr: 't1', t: 5, k: 'k1' }, body: body(1) });
  const d = encodeRecord({ type: 'D', header: { id: 1 } });
  const whole = decodeSegment(Buffer.concat([a, d]));
  assert.equal(whole.problem, undefined);
  assert.deepEqual(whole.records.map((r) => r.type), ['A', 'D']);
  assert.deepEqual(whole.records[0]!.body, body(1));

  const torn = decodeSegment(Buffer.concat([a, d.subarray(0, d.length - 3)]));
  assert.equal(torn.records.length, 1);
  assert.equal(torn.validBytes, a.length);
  assert.match(torn.problem ?? '', /torn record/);

  const flipped = Buffer.concat([a, d]);
  flipped[a.length + 10]! ^= 0xff;
  const bad = decodeSegment(flipped);
  assert.equal(bad.records.length, 1);
  assert.match(bad.problem ?? '', /checksum mismatch/);
});

test('headerJson writes what JSON.stringify writes, for plain and for awkward strings', () => {
  const strings = ['', 'ns/rule-1', 'abcdef0123456789abcdef0123456789', 'q+/A=', 'quote " in', 'back\\slash', 'tab\there', 'é', '\u2028', '\ud800 lone', '\u007f', '~ }'];
  for (const x of strings) {
    assert.equal(headerJson.A(7, x, 1_764_500_000_123, x), JSON.stringify({ id: 7, tr: x, t: 1_764_500_000_123, k: x }), x);
    assert.equal(headerJson.P(7, jsonString(x), 3), JSON.stringify({ id: 7, r: x, n: 3 }), x);
  }
  assert.equal(headerJson.A(1, 't', Number.NaN, 'k'), JSON.stringify({ id: 1, tr: 't', t: Number.NaN, k: 'k' }));
  assert.equal(headerJson.A(1, 't', 1.5, 'k'), JSON.stringify({ id: 1, tr: 't', t: 1.5, k: 'k' }));
  assert.equal(headerJson.D(123456), JSON.stringify({ id: 123456 }));
});

test('an unfinished alert is replayed with its progress; a finished one is not', async () => {
  const d = dir();
  const { journal } = open(d);
  const a = journal.accept({ traceId: 'a', key: 'ka', body: body(1) });
  const b = journal.accept({ traceId: 'b', key: 'kb', body: body(2) });
  const c = journal.accept({ traceId: 'c', key: 'kc', body: body(3) });
  void journal.progress(a, 'ns/rule1', 1);
  void journal.progress(a, 'ns/rule1', 2);
  journal.ruleDone(a, 'ns/rule0');
  journal.done(b);
  await journal.progress(c, 'ns/rule1', 1);
  // no close(): the process is killed once the outcomes are recorded
  const again = open(d);
  assert.deepEqual(again.pending.map((p) => p.traceId), ['a', 'c']);
  const pa = again.pending[0]!;
  assert.equal(pa.progress.get('ns/rule1'), 2);
  assert.ok(pa.rulesDone.has('ns/rule0'));
  assert.deepEqual(pa.body, body(1));
  assert.deepEqual(again.keys.map((k) => k.key), ['ka', 'kb', 'kc'], 'dedup keys of finished alerts survive too');
  // ids keep growing across restarts
  assert.ok(again.journal.accept({ traceId: 'd', key: 'kd', body: body(4) }) > c);
});

test('a torn tail is cut off at open and the rest replays', () => {
  const d = dir();
  const { journal } = open(d);
  journal.accept({ traceId: 'a', key: 'ka', body: body(1) });
  journal.close();
  const seg = join(d, readdirSync(d)[0]!);
  const full = statSync(seg).size;
  appendFileSync(seg, encodeRecord({ type: 'A', header: { id: 2, tr: 'b', t: Date.now(), k: 'kb' }, body: body(2) }).subarray(0, 20));
  const again = open(d);
  assert.deepEqual(again.pending.map((p) => p.traceId), ['a']);
  assert.equal(again.problems.length, 1);
  assert.equal(statSync(seg).size, full, 'the torn bytes are gone');
});

test('segments are deleted once nothing in them is live, oldest first; a slow alert is copied forward with the progress of each of its rules', async () => {
  const d = dir();
  const { journal } = open(d, { segmentBytes: 2048 });
  const slow = journal.accept({ traceId: 'slow', key: 'k-slow', body: body(0) });
  journal.progress(slow, 'ns/r', 1);
  journal.progress(slow, 'ns/r2', 3);
  journal.progress(slow, 'ns/r', 2);
  for (let i = 1; i <= 200; i++) journal.done(journal.accept({ traceId: `t${i}`, key: `k${i}`, body: body(i) }));
  await turn(); // the last D is written by the end-of-turn flush
  await journal.settled(); // deletions run in the background
  const files = readdirSync(d);
  assert.ok(files.length <= 3, `old segments were compacted (${files.join(', ')})`);
  const again = open(d);
  assert.deepEqual(again.pending.map((p) => [p.traceId, [...p.progress].sort()]), [['slow', [['ns/r', 2], ['ns/r2', 3]]]]);
  again.journal.done(slow);
  again.journal.close();
  const last = open(d);
  assert.equal(last.pending.length, 0);
});

/** The files of `d` this process holds open. */
const openIn = (d: string): string[] =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((f) => f.startsWith(`${d}/`))
    .map((f) => f.slice(d.length + 1))
    .sort();

test('a roll closes the old segment and removals delete dead ones in the background, in order; a failed step is reported and the next still runs', async () => {
  const d = dir();
  const { store } = SegmentStore.open({ dir: d, fsync: 'interval', segmentBytes: 64 });
  const errors: Error[] = [];
  store.onBackgroundError = (err) => errors.push(err);
  const first = store.segment();
  store.append([{ type: 'D', header: { id: 1 } }]);
  const second = store.roll();
  store.append([{ type: 'D', header: { id: 2 } }]);
  const third = store.roll();
  store.append([{ type: 'D', header: { id: 3 } }]);
  // A directory where a segment file would be: its unlink fails (EISDIR), whoever runs the test.
  mkdirSync(join(d, segmentName(0), 'x'), { recursive: true });
  store.remove(0);
  store.remove(first);
  store.remove(second);
  store.remove(third); // the current one: never deleted
  await store.settled();
  assert.equal(errors.length, 1, errors.map((e) => e.message).join('; '));
  assert.match(errors[0]!.message, /EISDIR|EPERM/);
  assert.deepEqual(readdirSync(d).sort(), [segmentName(0), segmentName(third)].sort(), 'the dead segments are gone, the current one stays');
  assert.deepEqual(openIn(d), [segmentName(third)], 'only the current segment is still open');
  store.close();
  assert.deepEqual(openIn(d), []);
  assert.deepEqual(decodeSegment(readFileSync(join(d, segmentName(third)))).records.map((r) => r.header.id), [3]);
});

test('keys older than the window are not carried; a segment file of another name is ignored', () => {
  const d = dir();
  let now = 1_000_000;
  const { journal } = open(d, { now: () => now, segmentBytes: 512 });
  journal.done(journal.accept({ traceId: 'old', key: 'k-old', body: body(1) }));
  now += 20_000;
  for (let i = 0; i < 5; i++) journal.done(journal.accept({ traceId: `n${i}`, key: `k${i}`, body: body(i) }));
  writeFileSync(join(d, 'notes.txt'), 'not a segment');
  const again = open(d, { now: () => now });
  assert.ok(!again.keys.some((k) => k.key === 'k-old'));
  assert.ok(again.keys.some((k) => k.key === 'k4'));
  assert.ok(readFileSync(join(d, 'notes.txt'), 'utf8').length > 0);
  assert.match(segmentName(7), /^seg-000000000007\.log$/);
});

test('always: every append is fdatasync-ed; a directory that cannot be created throws', () => {
  const d = dir();
  const { journal } = open(d, { fsync: 'always' });
  journal.accept({ traceId: 'a', key: 'ka', body: body(1) });
  journal.close();
  writeFileSync(join(d, 'file'), 'x');
  assert.throws(() => open(join(d, 'file', 'sub')), /ENOTDIR|EEXIST/);
});

/** Every record of every segment of `d`, oldest first. */
const recordsIn = (d: string) =>
  readdirSync(d)
    .filter((f) => f.startsWith('seg-'))
    .sort()
    .flatMap((f) => decodeSegment(readFileSync(join(d, f))).records);

test('P, R and D wait for the next write or the end of the turn; A is written at once; progress resolves once its P is written', async () => {
  const d = dir();
  const { journal } = open(d);
  const a = journal.accept({ traceId: 'a', key: 'ka', body: body(1) });
  assert.deepEqual(recordsIn(d).map((r) => r.type), ['A'], 'A is in the file when accept returns');
  let written = false;
  const p = journal.progress(a, 'ns/r1', 1)!.then(() => (written = true));
  const again = journal.progress(a, 'ns/r1', 2);
  journal.ruleDone(a, 'ns/r0');
  journal.done(a);
  assert.deepEqual(recordsIn(d).map((r) => r.type), ['A'], 'P, R and D are not written yet');
  journal.accept({ traceId: 'b', key: 'kb', body: body(2) });
  assert.deepEqual(recordsIn(d).map((r) => r.type), ['A', 'P', 'P', 'R', 'D', 'A'], 'they go with the next A, in order');
  assert.equal(written, false, 'the waiters wake at the end of the turn');
  await p;
  await again;
  assert.equal(written, true);
  journal.done(2);
  await turn();
  assert.deepEqual(recordsIn(d).map((r) => r.type), ['A', 'P', 'P', 'R', 'D', 'A', 'D'], 'or at the end of the turn');
  assert.equal(open(d).pending.length, 0);

  // Without another write, the progress of one turn goes in one write, before its promise resolves.
  const { journal: j2 } = open(dir());
  const x = j2.accept({ traceId: 'x', key: 'kx', body: body(3) });
  const y = j2.accept({ traceId: 'y', key: 'ky', body: body(4) });
  const before = j2.writes();
  await Promise.all([j2.progress(x, 'ns/r', 1), j2.progress(y, 'ns/r', 1)]);
  assert.equal(j2.writes(), before + 1);
  j2.close();
  assert.equal(j2.progress(x, 'ns/r', 2), undefined, 'a closed journal writes nothing');
});

test('a crash before R and D are written replays the alert with every recorded action skipped', async () => {
  const d = dir();
  const { journal } = open(d);
  const a = journal.accept({ traceId: 'a', key: 'ka', body: body(1) });
  await journal.progress(a, 'ns/r0', 1);
  await journal.progress(a, 'ns/r1', 2);
  journal.ruleDone(a, 'ns/r0');
  journal.done(a);
  // killed here: the R and D records were only enqueued
  const again = open(d);
  assert.deepEqual(again.pending.map((p) => p.traceId), ['a']);
  const pa = again.pending[0]!;
  assert.equal(pa.progress.get('ns/r0'), 1, 'resumes after the recorded action of r0: nothing of it runs again');
  assert.equal(pa.progress.get('ns/r1'), 2);
  assert.deepEqual(again.keys.map((k) => k.key), ['ka']);
  // The resumed alert finishes normally in the new process.
  again.journal.ruleDone(pa.id, 'ns/r0');
  again.journal.done(pa.id);
  again.journal.close();
  assert.equal(open(d).pending.length, 0, 'close() writes what was enqueued');
});

test('a roll carries at most maxCarriedKeys dedup keys, the newest; the keys of the window survive a restart', async () => {
  const d = dir();
  const now = 1_000_000;
  const { journal } = open(d, { now: () => now, segmentBytes: 4096, maxCarriedKeys: 8 });
  for (let i = 0; i < 300; i++) journal.done(journal.accept({ traceId: `t${i}`, key: `k${i}`, body: body(i) }));
  await turn();
  await journal.settled();
  // Each segment starts with its carried keys, batched in one K record ({ks, ts}).
  const segmentKeys = readdirSync(d).map((f) => decodeSegment(readFileSync(join(d, f))).records.filter((r) => r.type === 'K').flatMap((r) => r.header.ks as string[]));
  assert.ok(segmentKeys.some((ks) => ks.length > 0), 'keys were carried');
  assert.ok(segmentKeys.every((ks) => ks.length <= 8), `at most 8 keys carried per segment: ${segmentKeys.map((ks) => ks.length).join(', ')}`);
  const again = open(d, { now: () => now });
  const keys = again.keys.map((k) => k.key);
  assert.ok(keys.includes('k299'), 'the newest key survives');
  assert.ok(!keys.includes('k0'), 'the oldest was not carried');
  assert.ok(keys.length < 60, `keys are bounded by the segments kept and the carry (${keys.length})`);
  assert.ok(readdirSync(d).length <= 3);
});

test('K records: a batch ({ks, ts}) and a single key ({k, t}, as written before batches) both seed the keys of the window', () => {
  const d = dir();
  const now = 1_000_000;
  writeFileSync(
    join(d, segmentName(1)),
    Buffer.concat([
      encodeRecord({ type: 'K', header: { k: 'old-format', t: now - 1000 } }),
      encodeRecord({ type: 'K', header: { ks: ['b1', 'b2', 'expired'], ts: [now - 500, now - 400, now - 60_000] } }),
    ]),
  );
  const again = open(d, { now: () => now });
  assert.deepEqual(again.keys.map((k) => [k.key, k.wallMs]), [['old-format', now - 1000], ['b1', now - 500], ['b2', now - 400]]);
  again.journal.close();
});

test('the end-of-turn write is left to a commit due in the same turn: one write carries both; without one it comes a turn later', async () => {
  const d = dir();
  const { journal } = open(d);
  const a = journal.accept({ traceId: 'a', key: 'ka', body: body(1) });
  let written = false;
  void journal.progress(a, 'ns/r', 1)!.then(() => (written = true));
  journal.stage({ traceId: 'b', key: 'kb', body: body(2) }); // as the webhook stages a turn's alerts
  const before = journal.writes();
  await turn();
  assert.equal(journal.writes(), before, 'the flush waits for the commit');
  assert.equal(written, false);
  journal.commit();
  assert.equal(journal.writes(), before + 1, 'one write for the P and the A');
  await turn();
  assert.equal(written, true, 'the P waiter wakes once the commit wrote it');
  assert.equal(journal.writes(), before + 1, 'nothing left to write');
  assert.deepEqual(recordsIn(d).map((r) => r.type), ['A', 'P', 'A']);

  // Staged, and no commit comes: the P is written a turn later all the same.
  let again = false;
  void journal.progress(a, 'ns/r', 2)!.then(() => (again = true));
  journal.stage({ traceId: 'c', key: 'kc', body: body(3) });
  await turn();
  assert.equal(again, false);
  await turn();
  assert.equal(again, true);
  assert.deepEqual(recordsIn(d).map((r) => r.type), ['A', 'P', 'A', 'P']);
  journal.close();
});

test('group commit: staged A records are written by one commit and only then live; a failed commit drops them all', () => {
  const d = dir();
  const { journal } = open(d);
  const before = journal.writes();
  const ids = ['t1', 't2', 't3'].map((tr, i) => journal.stage({ traceId: tr, key: `k${i}`, body: Buffer.from(`{"n":${i}}`) }));
  assert.equal(journal.stagedCount(), 3);
  assert.equal(journal.pendingCount(), 0, 'not live before the commit');
  journal.progress(ids[0]!, 'rule', 1);
  assert.equal(journal.writes(), before, 'nothing is recorded for an alert not yet committed');
  journal.commit();
  assert.equal(journal.writes(), before + 1, 'one write for the three');
  assert.equal(journal.pendingCount(), 3);
  journal.commit();
  assert.equal(journal.writes(), before + 1, 'an empty commit writes nothing');
  journal.close();
  const again = open(d);
  assert.deepEqual(again.pending.map((p) => [p.id, p.traceId, p.key, p.body.toString()]), [
    [ids[0], 't1', 'k0', '{"n":0}'],
    [ids[1], 't2', 'k1', '{"n":1}'],
    [ids[2], 't3', 'k2', '{"n":2}'],
  ]);
  again.journal.close();

  // A commit that fails (ENOSPC: the next segment is /dev/full) leaves none of them on disk or live.
  const small = dir();
  const opened = open(small, { segmentBytes: 64 });
  opened.journal.accept({ traceId: 'fills', key: 'kf', body: Buffer.alloc(100) });
  symlinkSync('/dev/full', join(small, segmentName(2)));
  opened.journal.stage({ traceId: 'x', key: 'kx', body: Buffer.from('{}') });
  opened.journal.stage({ traceId: 'y', key: 'ky', body: Buffer.from('{}') });
  assert.throws(() => opened.journal.commit(), /ENOSPC/);
  assert.equal(opened.journal.stagedCount(), 0);
  assert.equal(opened.journal.pendingCount(), 1, 'only the alert written before');
});

test('the interval policy syncs in the thread pool, only after writes, and close still syncs before it returns', async () => {
  const fs = (await import('node:fs')).default;
  const { syncBuiltinESMExports } = await import('node:module');
  const background: number[] = [];
  const blocking: number[] = [];
  const [fdatasync, fdatasyncSync] = [fs.fdatasync, fs.fdatasyncSync];
  fs.fdatasync = ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    background.push(fd);
    fdatasync(fd, cb);
  }) as typeof fs.fdatasync;
  fs.fdatasyncSync = (fd: number) => {
    blocking.push(fd);
    fdatasyncSync(fd);
  };
  syncBuiltinESMExports();
  try {
    const d = dir();
    const { journal } = open(d, { fsync: 'interval', fsyncIntervalMs: 10 });
    journal.accept({ traceId: 't1', key: 'k1', body: body(1) });
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(background.length, 1, 'one background sync for the write, none for the idle ticks after it');
    assert.equal(blocking.length, 0, 'the tick does not block the intake thread');
    journal.accept({ traceId: 't2', key: 'k2', body: body(2) });
    journal.close();
    assert.equal(blocking.length, 1, 'close syncs what the last tick had not');
    assert.equal(open(d).pending.length, 2);
  } finally {
    fs.fdatasync = fdatasync;
    fs.fdatasyncSync = fdatasyncSync;
    syncBuiltinESMExports();
  }
});
