import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeLeases } from '../../test/fakes/leases.js';
import { LeaseClaims } from './claims.js';
import { claimName, STATE_ANNOTATION } from './labels.js';

const req = { ruleKey: 'ClusterTalonRule//kill', targetKey: 'Pod/default/web-1', windowMs: 10_000 };
const poll = { min: 1, max: 5 };

function replicas(leases: FakeLeases, clock: { t: number }) {
  const mk = (identity: string) => new LeaseClaims({ api: leases, identity, leaseMs: 3000, now: () => clock.t, pollMs: poll });
  return { a: mk('a'), b: mk('b') };
}

test('one create claims; a second replica finds it done and does not run; the claim costs 2 calls', async () => {
  const leases = new FakeLeases();
  const clock = { t: 1_000_000 };
  const { a, b } = replicas(leases, clock);
  const got = await a.claim(req);
  assert.equal(got.kind, 'acquired');
  assert.equal(leases.calls.create, 1);
  if (got.kind === 'acquired') await got.claim.release();
  assert.deepEqual({ ...leases.calls }, { create: 1, read: 0, replace: 1, remove: 0, list: 0 });
  assert.equal(leases.leases.get(claimName(req.ruleKey, req.targetKey))?.annotations[STATE_ANNOTATION], 'done');
  assert.deepEqual(await b.claim(req), { kind: 'claimed', holder: 'a' });
  // The holder itself, for another alert within the window, is held off too.
  assert.equal((await a.claim(req)).kind, 'claimed');
});

test('a waiter on a running claim sees it done once the holder releases, and does not run', async () => {
  const leases = new FakeLeases();
  const clock = { t: 1_000_000 };
  const { a, b } = replicas(leases, clock);
  const got = await a.claim(req);
  assert.equal(got.kind, 'acquired');
  const waiting = b.claim(req);
  await new Promise((r) => setTimeout(r, 20));
  if (got.kind === 'acquired') await got.claim.release();
  assert.deepEqual(await waiting, { kind: 'claimed', holder: 'a' });
});

test("a crashed holder's claim is taken over after the lease, by exactly one of two waiters", async () => {
  const leases = new FakeLeases();
  const clock = { t: 1_000_000 };
  const { a } = replicas(leases, clock);
  assert.equal((await a.claim(req)).kind, 'acquired'); // a "crashes": never renews nor releases
  const b = new LeaseClaims({ api: leases, identity: 'b', leaseMs: 3000, now: () => clock.t, pollMs: poll });
  const c = new LeaseClaims({ api: leases, identity: 'c', leaseMs: 3000, now: () => clock.t, pollMs: poll });
  // A winner releases once it has run; the other waiter then sees the claim done.
  const runOnce = (p: ReturnType<LeaseClaims['claim']>) => p.then(async (r) => (r.kind === 'acquired' ? (await r.claim.release(), `ran${r.tookOver ? ' (took over)' : ''}`) : r.kind));
  const wb = runOnce(b.claim(req));
  const wc = runOnce(c.claim(req));
  await new Promise((r) => setTimeout(r, 20));
  clock.t += 3001;
  assert.deepEqual((await Promise.all([wb, wc])).sort(), ['claimed', 'ran (took over)']);
});

test('a done claim past its window is taken again (a new window); within it, not', async () => {
  const leases = new FakeLeases();
  const clock = { t: 1_000_000 };
  const { a, b } = replicas(leases, clock);
  const got = await a.claim(req);
  if (got.kind === 'acquired') await got.claim.release();
  clock.t += 9_999;
  assert.equal((await b.claim(req)).kind, 'claimed');
  clock.t += 1;
  const again = await b.claim(req);
  assert.equal(again.kind === 'acquired' && !again.tookOver, true);
  assert.equal(leases.leases.get(claimName(req.ruleKey, req.targetKey))?.transitions, 1);
});

test('a running claim under our own name that this process does not hold (a restart) is taken over at once', async () => {
  const leases = new FakeLeases();
  const clock = { t: 1_000_000 };
  assert.equal((await new LeaseClaims({ api: leases, identity: 'pod-0', leaseMs: 3000, now: () => clock.t }).claim(req)).kind, 'acquired');
  const restarted = new LeaseClaims({ api: leases, identity: 'pod-0', leaseMs: 3000, now: () => clock.t });
  const got = await restarted.claim(req);
  assert.equal(got.kind === 'acquired' && got.tookOver, true);
});

test('the holder renews its lease while the run lasts, so a waiter does not take over a slow run', async () => {
  const leases = new FakeLeases();
  const a = new LeaseClaims({ api: leases, identity: 'a', leaseMs: 1000 });
  const b = new LeaseClaims({ api: leases, identity: 'b', leaseMs: 1000, pollMs: { min: 20, max: 50 } });
  const got = await a.claim(req);
  assert.equal(got.kind, 'acquired');
  const waiting = b.claim(req);
  await new Promise((r) => setTimeout(r, 2500)); // 2.5 leases
  assert.ok(leases.calls.replace >= 4, `renewed ${leases.calls.replace} times`);
  if (got.kind === 'acquired') await got.claim.release();
  assert.deepEqual(await waiting, { kind: 'claimed', holder: 'a' });
});

test('an unavailable API fails the claim with a message (nothing runs); shutdown ends a wait', async () => {
  const leases = new FakeLeases();
  const clock = { t: 1_000_000 };
  const { a, b } = replicas(leases, clock);
  leases.failWith = 503;
  const got = await a.claim(req);
  assert.equal(got.kind, 'failed');
  assert.match(got.kind === 'failed' ? got.message : '', /could not claim ClusterTalonRule\/\/kill on Pod\/default\/web-1 through a Lease: ServerError/);
  leases.failWith = undefined;
  assert.equal((await a.claim(req)).kind, 'acquired');
  const ac = new AbortController();
  const waiting = b.claim({ ...req, signal: ac.signal });
  ac.abort();
  assert.equal((await waiting).kind, 'failed');
});

test('an abandoned claim (shutdown cut the run) is deleted: a waiter runs it at once, without waiting for the lease', async () => {
  const leases = new FakeLeases();
  const clock = { t: 1_000_000 };
  const { a, b } = replicas(leases, clock);
  const got = await a.claim(req);
  const waiting = b.claim(req);
  await new Promise((r) => setTimeout(r, 20));
  if (got.kind === 'acquired') await got.claim.abandon();
  const taken = await waiting;
  assert.equal(taken.kind === 'acquired' && !taken.tookOver, true);
});
