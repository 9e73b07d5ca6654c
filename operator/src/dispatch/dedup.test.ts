import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventFrom } from '../../test/builders.js';
import { Deduplicator } from './dedup.js';
import type { FalcoEvent } from '../falco/event.js';

function ev(overrides: Record<string, unknown> = {}): FalcoEvent {
  return eventFrom({
    hostname: 'node-1',
    rule: 'Terminal shell in container',
    source: 'syscall',
    priority: 'Warning',
    time: '2025-05-18T10:18:15.901045861Z',
    output: '10:18:15.901045861: Warning shell',
    uuid: 'aaaa',
    output_fields: { 'evt.time': 1747563495901045861n },
    ...overrides,
  });
}

function clock(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('Deduplicator', () => {
  it('forgetExpired drops the keys past their window without an alert arriving (the idle compaction calls it)', () => {
    const c = clock();
    const d = new Deduplicator(10_000, c.now);
    for (let i = 0; i < 3000; i++) d.remember(`k${i}`);
    c.advance(5_000);
    d.remember('late');
    d.forgetExpired();
    assert.equal(d.size, 3001, 'nothing is past its window yet');
    c.advance(5_000);
    d.forgetExpired();
    assert.equal(d.size, 1, 'the 3,000 early keys are gone; the late one stays');
    assert.equal(d.seen('late'), true);
  });

  it('a seeded key (a journal replay) drops a second delivery for the rest of its window only', () => {
    const c = clock(50_000);
    const first = new Deduplicator(10_000, c.now);
    const key = first.keyOf(ev());
    const d = new Deduplicator(10_000, c.now);
    d.seed(key, 4_000);
    d.seed('too-old', 10_000);
    assert.equal(d.size, 1);
    assert.equal(d.isDuplicate(ev()), true);
    c.advance(6_000);
    assert.equal(d.isDuplicate(ev()), false, 'the window counts from the first sighting before the restart');
  });

  it('drops the same alert within the window, not after it', () => {
    const c = clock();
    const d = new Deduplicator(10_000, c.now);
    assert.equal(d.isDuplicate(ev()), false);
    c.advance(9_999);
    assert.equal(d.isDuplicate(ev()), true);
    c.advance(1);
    assert.equal(d.isDuplicate(ev()), false);
    assert.equal(d.isDuplicate(ev()), true);
  });

  it('a duplicate does not extend the window', () => {
    const c = clock();
    const d = new Deduplicator(100, c.now);
    d.isDuplicate(ev());
    c.advance(60);
    assert.equal(d.isDuplicate(ev()), true);
    c.advance(60);
    assert.equal(d.isDuplicate(ev()), false);
  });

  it('ignores uuid and priority; any key part that differs makes a new alert', () => {
    const d = new Deduplicator(10_000, clock().now);
    assert.equal(d.isDuplicate(ev()), false);
    assert.equal(d.isDuplicate(ev({ uuid: 'bbbb' })), true);
    assert.equal(d.isDuplicate(ev({ priority: 'Critical' })), true);
    for (const changed of [
      { hostname: 'node-2' },
      { rule: 'Other rule' },
      { source: 'k8s_audit' },
      { output: '10:18:15.901045861: Warning shell!' },
      { output_fields: { 'evt.time': 1747563495901045862n } },
    ]) {
      assert.equal(
        d.isDuplicate(ev(changed)),
        false,
        JSON.stringify(changed, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
      );
    }
  });

  it('keys on evt.time when present, else on time', () => {
    const d = new Deduplicator(10_000, clock().now);
    assert.equal(d.isDuplicate(ev()), false);
    assert.equal(d.isDuplicate(ev({ time: '2030-01-01T00:00:00Z' })), true, 'same evt.time, other time');
    const noEvtTime = { output_fields: { 'proc.name': 'sh' } };
    assert.equal(d.isDuplicate(ev(noEvtTime)), false);
    assert.equal(d.isDuplicate(ev(noEvtTime)), true);
    assert.equal(d.isDuplicate(ev({ ...noEvtTime, time: '2030-01-01T00:00:00Z' })), false);
    assert.equal(d.isDuplicate(ev({ output_fields: { 'evt.time': 1618596313045 } })), false);
    assert.equal(d.isDuplicate(ev({ output_fields: { 'evt.time': 1618596313045 } })), true);
  });

  it('does not confuse key parts that only differ in where they split', () => {
    const d = new Deduplicator(10_000, clock().now);
    assert.equal(d.isDuplicate(ev({ hostname: 'ab', rule: 'c' })), false);
    assert.equal(d.isDuplicate(ev({ hostname: 'a', rule: 'bc' })), false);
    assert.equal(d.isDuplicate(ev({ hostname: 'a', rule: 'b', output: 'c' })), false);
  });

  it('window 0 disables deduplication', () => {
    const d = new Deduplicator(0, clock().now);
    assert.equal(d.isDuplicate(ev()), false);
    assert.equal(d.isDuplicate(ev()), false);
    assert.equal(d.size, 0);
  });

  it('forgets expired alerts and never holds more than maxEntries', () => {
    const c = clock();
    const d = new Deduplicator(1_000, c.now, 50);
    for (let i = 0; i < 40; i++) d.isDuplicate(ev({ output: `o${i}` }));
    assert.equal(d.size, 40);
    c.advance(1_000);
    d.isDuplicate(ev({ output: 'fresh' }));
    assert.equal(d.size, 1);
    for (let i = 0; i < 200; i++) d.isDuplicate(ev({ output: `p${i}` }));
    assert.equal(d.size, 50);
    assert.equal(d.isDuplicate(ev({ output: 'p199' })), true, 'newest kept');
    assert.equal(d.isDuplicate(ev({ output: 'p0' })), false, 'oldest forgotten');
  });

  it('a key remembered again keeps its newer time when its older entry is forgotten (same or later millisecond)', () => {
    const c = clock();
    const d = new Deduplicator(1_000, c.now, 10_000);
    d.remember('k');
    d.remember('k'); // same millisecond: two queue entries, one map entry
    c.advance(400);
    d.remember('k'); // later: the map holds the newer time
    d.remember('other');
    c.advance(700); // the first two entries are past the window, the third is not
    assert.equal(d.seen('k'), true, 'the newer time counts: 700 ms old');
    assert.equal(d.size, 2);
    c.advance(300); // now the third entry expires too
    assert.equal(d.seen('k'), false);
    assert.equal(d.size, 0);
    // After the stale entries are gone a pop deletes directly again, and correctly.
    d.remember('a');
    c.advance(1_000);
    d.remember('b');
    assert.equal(d.seen('a'), false);
    assert.equal(d.seen('b'), true);
    assert.equal(d.size, 1);
  });

  it('the queue grows past its first ring and shrinks again, oldest first, at the cap and by expiry', () => {
    const c = clock();
    const d = new Deduplicator(1_000, c.now, 5_000);
    for (let i = 0; i < 12_000; i++) {
      d.remember(`k${i}`);
      if (i % 1_000 === 999) c.advance(1);
    }
    assert.equal(d.size, 5_000);
    assert.equal(d.seen('k6999'), false, 'the oldest beyond the cap are forgotten');
    assert.equal(d.seen('k7000'), true);
    assert.equal(d.seen('k11999'), true);
    c.advance(1_000);
    d.forgetExpired();
    assert.equal(d.size, 0);
    for (let i = 0; i < 3; i++) d.remember(`again${i}`);
    assert.equal(d.size, 3);
    assert.equal(d.seen('again0'), true);
  });

  it('keys are distinct across many alerts and stable per instance', () => {
    const d = new Deduplicator(1, clock().now);
    const seen = new Set<string>();
    for (let i = 0; i < 50_000; i++) seen.add(d.keyOf(ev({ output: `Warning shell pid=${i}` })));
    assert.equal(seen.size, 50_000);
    assert.equal(d.keyOf(ev()), d.keyOf(ev({ uuid: 'other' })));
  });

  it('rejects a negative window', () => {
    assert.throws(() => new Deduplicator(-1), RangeError);
  });
});
