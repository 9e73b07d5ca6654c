import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EscalationLadders, escalationText } from './escalation.js';
import type { CompiledEscalation } from '../rules/types.js';

const ladder = (windowMs: number, ...after: number[]): CompiledEscalation => ({ windowMs, steps: after.map((a) => ({ after: a, actions: [] })) });
const pod = (name: string) => ({ kind: 'Pod', namespace: 'default', name });

/** Counts one match and marks the due step run, as the dispatcher does once it queued it. */
function match(l: EscalationLadders, lad: CompiledEscalation, target = 'p1', fire = true): number | undefined {
  const { due } = l.count('r', target, pod(target), lad);
  if (due !== undefined && fire) l.fired('r', target, due);
  return due;
}

test('a ladder 1/3/5: each step is due once, at its count; counts in between wait', () => {
  const l = new EscalationLadders(() => 0);
  const lad = ladder(600_000, 1, 3, 5);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => match(l, lad)), [0, undefined, 1, undefined, 2, undefined, undefined]);
});

test('a due step not queued (cooldown) stays due; a later count runs the highest step reached, once', () => {
  const l = new EscalationLadders(() => 0);
  const lad = ladder(600_000, 1, 3, 5);
  assert.equal(match(l, lad, 'p1', false), 0, 'due, held back');
  assert.equal(match(l, lad, 'p1', false), 0, 'still due');
  assert.equal(match(l, lad), 1, 'count 3: the highest step reached, step 1 skipped over');
  assert.equal(match(l, lad), undefined, 'step 0 counts as done with it');
});

test('rearm gives back a step that did not run (budget): the next match runs it again', () => {
  const l = new EscalationLadders(() => 0);
  const lad = ladder(600_000, 1, 2);
  assert.equal(match(l, lad), 0);
  assert.equal(match(l, lad), 1);
  l.rearm('r', 'p1', 1);
  assert.equal(match(l, lad), 1);
  assert.equal(match(l, lad), undefined);
});

test('the window opens at the first match; after it the count starts over and every step may run again', () => {
  let now = 1_000;
  const l = new EscalationLadders(() => now);
  const lad = ladder(10_000, 1, 2);
  assert.deepEqual([match(l, lad), match(l, lad), match(l, lad)], [0, 1, undefined]);
  now += 9_999;
  assert.equal(l.count('r', 'p1', pod('p1'), lad).count, 4, 'still the first window');
  now += 1;
  assert.deepEqual(l.count('r', 'p1', pod('p1'), lad), { count: 1, due: 0 });
});

test('targets and rules are counted apart', () => {
  const l = new EscalationLadders(() => 0);
  const lad = ladder(600_000, 1, 2);
  assert.equal(match(l, lad, 'p1'), 0);
  assert.equal(match(l, lad, 'p2'), 0, 'another target starts at step one');
  assert.deepEqual(l.count('other', 'p1', pod('p1'), lad), { count: 1, due: 0 });
});

test('hottest: open windows only, highest count first, bounded; undefined for a rule never counted', () => {
  let now = 0;
  const l = new EscalationLadders(() => now);
  const lad = ladder(1_000, 1, 3);
  for (const [p, n] of [['a', 1], ['b', 3], ['c', 2]] as const) for (let i = 0; i < n; i++) match(l, lad, p);
  assert.deepEqual(
    l.hottest('r', 2)?.map((t) => [t.target.name, t.count, t.step, t.windowEnds]),
    [
      ['b', 3, 2, '1970-01-01T00:00:01.000Z'],
      ['c', 2, 1, '1970-01-01T00:00:01.000Z'],
    ],
  );
  assert.equal(l.hottest('nope', 10), undefined);
  now = 1_000;
  assert.deepEqual(l.hottest('r', 10), [], 'closed windows are not shown');
});

test('memory is bounded: at the cap, closed windows go first, else the pair remembered first', () => {
  let now = 0;
  const l = new EscalationLadders(() => now, 2);
  const lad = ladder(1_000, 1, 2);
  match(l, lad, 'a');
  match(l, lad, 'b');
  match(l, lad, 'c');
  assert.equal(l.size, 2);
  assert.deepEqual(l.hottest('r', 10)?.map((t) => t.target.name).sort(), ['b', 'c']);
  assert.equal(match(l, lad, 'a'), 0, 'a forgotten: its ladder starts over');
  now = 5_000;
  match(l, lad, 'd');
  assert.ok(l.size <= 2);
  assert.throws(() => new EscalationLadders(() => 0, 0), /maxTargets/);
});

test('escalationText says the step, the count and the window', () => {
  assert.equal(escalationText({ step: 2, steps: 3, count: 3, windowMs: 600_000 }), 'escalation step 2 of 3 (match 3 for this target within 10m)');
});
