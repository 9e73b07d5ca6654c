import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogPort } from '../lib/log.js';
import { MAX_SUMMARY_GROUPS, OutcomeLog, type FoldedOutcomes, type TimerPort } from './outcome-log.js';

interface Line {
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** A fake clock whose timers fire when `advance` passes their time. */
class FakeClock implements TimerPort {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  readonly now = (): number => this.t;
  set(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clear(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}

function setup(perSecond: number) {
  const lines: Line[] = [];
  const put = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields: fields ?? {} });
  const log: LogPort = { debug: put('debug'), info: put('info'), warn: put('warn'), error: put('error') };
  const clock = new FakeClock();
  const out = new OutcomeLog(log, { perSecond, now: clock.now, timer: clock });
  /** What a caller does: the line when admitted. */
  const outcome = (rule: string, reason: string, result = 'DryRun', action = 'a') => {
    if (out.admit(rule, action, result, reason)) log.info('action outcome', { rule, action, result, reason });
  };
  const individual = () => lines.filter((l) => l.message === 'action outcome');
  const summaries = () => lines.filter((l) => l.message === 'action outcomes folded');
  const folded = () => summaries().reduce((n, l) => n + (l.fields.folded as number), 0);
  return { lines, clock, out, outcome, individual, summaries, folded };
}

test('under the rate every outcome gets its own line and no summary is written', () => {
  const { clock, outcome, individual, summaries } = setup(3);
  for (let s = 0; s < 5; s++) {
    outcome('ns/a', 'DryRun');
    outcome('ns/a', 'DryRun');
    outcome('ns/a', 'DryRun');
    outcome('ns/a', 'Labeled', 'Succeeded');
    outcome('ns/b', 'DryRun');
    clock.advance(1000);
  }
  assert.equal(individual().length, 25);
  assert.equal(summaries().length, 0);
  assert.equal(clock.pending(), 0, 'no timer armed while nothing is folded');
});

test('above the rate: perSecond lines per rule and reason, then one summary per window with exact counts', () => {
  const { clock, outcome, individual, summaries } = setup(2);
  for (let i = 0; i < 10; i++) outcome('ns/a', 'DryRun');
  for (let i = 0; i < 4; i++) outcome('ns/a', 'Labeled', 'Succeeded', 'label');
  for (let i = 0; i < 3; i++) outcome('ns/b', 'DryRun', 'DryRun', 'x');
  outcome('ns/b', 'DryRun', 'DryRun', 'y');
  // 2 lines per (rule, reason): (a, DryRun), (a, Labeled), (b, DryRun).
  assert.equal(individual().length, 6);
  assert.equal(summaries().length, 0, 'the summary waits for the end of the window');
  clock.advance(999);
  assert.equal(summaries().length, 0);
  clock.advance(1);
  assert.equal(summaries().length, 1);
  const s = summaries()[0]!.fields;
  assert.equal(summaries()[0]!.level, 'info');
  assert.equal(s.folded, 12);
  assert.equal(s.window_ms, 1000);
  assert.equal(s.per_second, 2);
  assert.deepEqual(s.outcomes, [
    { rule: 'ns/a', action: 'a', result: 'DryRun', reason: 'DryRun', count: 8 },
    { rule: 'ns/a', action: 'label', result: 'Succeeded', reason: 'Labeled', count: 2 },
    { rule: 'ns/b', action: 'x', result: 'DryRun', reason: 'DryRun', count: 1 },
    { rule: 'ns/b', action: 'y', result: 'DryRun', reason: 'DryRun', count: 1 },
  ]);
  assert.equal(s.other, undefined);
  // The next window starts afresh: its first outcomes get their lines again.
  outcome('ns/a', 'DryRun');
  outcome('ns/a', 'DryRun');
  assert.equal(individual().length, 8);
  clock.advance(5000);
  assert.equal(summaries().length, 1, 'nothing folded, no summary');
});

test('a storm writes a bounded number of lines and loses nothing', () => {
  const { clock, outcome, individual, summaries, folded } = setup(10);
  let sent = 0;
  // 10 s at 5,000 outcomes a second over two rules, one every 0.2 ms.
  for (let ms = 0; ms < 10_000; ms += 0.2) {
    clock.advance(0.2);
    outcome(sent % 2 === 0 ? 'ns/a' : 'ns/b', 'DryRun');
    sent += 1;
  }
  clock.advance(1000);
  assert.equal(individual().length + folded(), sent, 'every outcome logged or counted');
  assert.ok(individual().length <= 2 * 10 * 11, `individual lines bounded: ${individual().length}`);
  assert.ok(summaries().length <= 11, `one summary per window: ${summaries().length}`);
});

test('a summary that is late (timers starved under load) is written by the next outcome, before its window', () => {
  const lines: Line[] = [];
  const log: LogPort = { debug: () => undefined, info: (message, fields) => void lines.push({ level: 'info', message, fields: fields ?? {} }), warn: () => undefined, error: () => undefined };
  let t = 0;
  const never: TimerPort = { set: () => 1, clear: () => undefined };
  const out = new OutcomeLog(log, { perSecond: 1, now: () => t, timer: never });
  assert.equal(out.admit('r', 'a', 'DryRun', 'DryRun'), true);
  assert.equal(out.admit('r', 'a', 'DryRun', 'DryRun'), false);
  assert.equal(out.admit('r', 'a', 'DryRun', 'DryRun'), false);
  t = 1500;
  assert.equal(out.admit('r', 'a', 'DryRun', 'DryRun'), true);
  assert.deepEqual(lines.map((l) => [l.message, l.fields.folded]), [['action outcomes folded', 2]]);
});

test('groups folded in turn, and across a flush, keep exact counts', () => {
  const { outcome, summaries, out } = setup(1);
  outcome('r', 'DryRun');
  outcome('r', 'Labeled', 'Succeeded', 'label');
  for (let i = 0; i < 3; i++) {
    outcome('r', 'DryRun');
    outcome('r', 'DryRun');
    outcome('r', 'Labeled', 'Succeeded', 'label');
  }
  outcome('r', 'DryRun');
  out.flush();
  outcome('r', 'DryRun'); // the group folded into last before the flush: a new window's group all the same
  out.flush();
  assert.deepEqual(
    summaries().map((l) => (l.fields.outcomes as FoldedOutcomes[]).map((g) => [g.action, g.count])),
    [
      [
        ['a', 7],
        ['label', 3],
      ],
      [['a', 1]],
    ],
  );
});

test('flush writes what is folded at once (shutdown), and perSecond 0 never folds', () => {
  const { outcome, summaries, out, clock } = setup(1);
  outcome('r', 'DryRun');
  outcome('r', 'DryRun');
  out.flush();
  assert.equal(summaries().length, 1);
  assert.equal(summaries()[0]!.fields.folded, 1);
  assert.equal(clock.pending(), 0, 'the window timer is cancelled');
  out.flush();
  assert.equal(summaries().length, 1, 'nothing more to say');

  const all = setup(0);
  for (let i = 0; i < 1000; i++) all.outcome('r', 'DryRun');
  all.clock.advance(2000);
  assert.equal(all.individual().length, 1000);
  assert.equal(all.summaries().length, 0);
});

test('a summary names at most MAX_SUMMARY_GROUPS groups, most frequent first; the rest is counted', () => {
  const { clock, outcome, summaries } = setup(1);
  const rules = MAX_SUMMARY_GROUPS + 5;
  for (let r = 0; r < rules; r++) for (let i = 0; i <= 1 + (r % 3); i++) outcome(`ns/r${r}`, 'DryRun');
  clock.advance(1000);
  const s = summaries()[0]!.fields;
  const shown = s.outcomes as FoldedOutcomes[];
  assert.equal(shown.length, MAX_SUMMARY_GROUPS);
  assert.ok(shown.every((g, i) => i === 0 || shown[i - 1]!.count >= g.count));
  let total = 0;
  for (let r = 0; r < rules; r++) total += 1 + (r % 3);
  const other = s.other as { groups: number; count: number };
  assert.equal(other.groups, 5);
  assert.equal(shown.reduce((n, g) => n + g.count, 0) + other.count, total);
  assert.equal(s.folded, total);
});
