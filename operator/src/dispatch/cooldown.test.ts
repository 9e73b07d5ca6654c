import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cooldowns } from './cooldown.js';

function clock(start = 5000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('Cooldowns', () => {
  it('runs once per (rule, target) within the window', () => {
    const c = clock();
    const cd = new Cooldowns(c.now);
    assert.equal(cd.tryAcquire('ns/r', 'Pod/default/web', 60_000), true);
    assert.equal(cd.tryAcquire('ns/r', 'Pod/default/web', 60_000), false);
    c.advance(59_999);
    assert.equal(cd.tryAcquire('ns/r', 'Pod/default/web', 60_000), false);
    c.advance(1);
    assert.equal(cd.tryAcquire('ns/r', 'Pod/default/web', 60_000), true);
    assert.equal(cd.tryAcquire('ns/r', 'Pod/default/web', 60_000), false);
  });

  it('suppressed matches do not extend the window', () => {
    const c = clock();
    const cd = new Cooldowns(c.now);
    cd.tryAcquire('r', 't', 100);
    c.advance(90);
    assert.equal(cd.tryAcquire('r', 't', 100), false);
    c.advance(10);
    assert.equal(cd.tryAcquire('r', 't', 100), true);
  });

  it('keeps rules and targets independent, without ambiguity between the two parts', () => {
    const cd = new Cooldowns(clock().now);
    assert.equal(cd.tryAcquire('r1', 't1', 1000), true);
    assert.equal(cd.tryAcquire('r1', 't2', 1000), true);
    assert.equal(cd.tryAcquire('r2', 't1', 1000), true);
    assert.equal(cd.tryAcquire('a/b', 'c', 1000), true);
    assert.equal(cd.tryAcquire('a', 'b/c', 1000), true);
    assert.equal(cd.tryAcquire('r1', 't1', 1000), false);
  });

  it('a cooldown of 0 always runs and remembers nothing', () => {
    const cd = new Cooldowns(clock().now);
    assert.equal(cd.tryAcquire('r', 't', 0), true);
    assert.equal(cd.tryAcquire('r', 't', 0), true);
    assert.equal(cd.size, 0);
  });

  it('sweeps expired entries as it grows', () => {
    const c = clock();
    const cd = new Cooldowns(c.now);
    for (let i = 0; i < 1500; i++) cd.tryAcquire('r', `t${i}`, 10);
    c.advance(10);
    for (let i = 0; i < 1500; i++) cd.tryAcquire('r', `u${i}`, 10);
    assert.ok(cd.size <= 1500, `size ${cd.size}`);
  });

  it('never holds more than maxEntries; the oldest acquisition is forgotten first', () => {
    const cd = new Cooldowns(clock().now, 3);
    for (const t of ['a', 'b', 'c', 'd']) assert.equal(cd.tryAcquire('r', t, 1000), true);
    assert.equal(cd.size, 3);
    assert.equal(cd.tryAcquire('r', 'd', 1000), false);
    assert.equal(cd.tryAcquire('r', 'a', 1000), true);
  });
});
