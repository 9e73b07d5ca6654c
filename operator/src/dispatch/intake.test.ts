import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventFrom } from '../../test/builders.js';
import { createMetrics } from '../observability/metrics.js';
import { RuleIndex } from '../rules/rule-index.js';
import { Deduplicator } from './dedup.js';
import { Intake } from './intake.js';
import type { Refusal } from '../lib/refusal.js';

const alert = (output = 'shell in container') =>
  eventFrom({ hostname: 'node-1', rule: 'Terminal shell in container', source: 'syscall', priority: 'Warning', time: '2026-01-01T00:00:00Z', output, output_fields: {} });

function harness(admit: (key: string) => Refusal | undefined) {
  const metrics = createMetrics({ defaultMetrics: false });
  const dedup = new Deduplicator(10_000);
  const admitted: string[] = [];
  const settled: string[] = [];
  const intake = new Intake({
    dedup,
    metrics,
    dispatch: () => undefined,
    admit: (_ev, key) => {
      const refusal = admit(key);
      if (refusal === undefined) admitted.push(key);
      return refusal;
    },
    settled: (ev) => settled.push(ev.traceId),
  });
  intake.setIndex(RuleIndex.build([]));
  const deduplicated = async (): Promise<number> => (await metrics.eventsDeduplicated.get()).values[0]?.value ?? 0;
  return { intake, dedup, admitted, settled, deduplicated };
}

describe('Intake.ingest', () => {
  it('a duplicate is counted and never admitted (no journal write, no ledger entry)', async () => {
    const h = harness(() => undefined);
    assert.equal(h.intake.ingest(alert()), undefined);
    assert.equal(h.intake.ingest(alert()), undefined);
    assert.equal(h.intake.ingest(alert()), undefined);
    assert.deepEqual(h.admitted, [h.dedup.keyOf(alert())], 'admitted once, with its dedup key');
    assert.equal(await h.deduplicated(), 2);
    assert.equal(h.settled.length, 1, 'only the admitted alert (no rule matched) is settled');
  });

  it('a refused alert is not remembered: the retry is admitted, and only then is the next one a duplicate', async () => {
    let refuse = true;
    const h = harness(() => (refuse ? { reason: 'the journal cannot be written: ENOSPC', retryAfterSeconds: 5 } : undefined));
    assert.match(h.intake.ingest(alert())?.reason ?? '', /ENOSPC/);
    assert.equal(h.dedup.size, 0);
    refuse = false;
    assert.equal(h.intake.ingest(alert()), undefined);
    assert.equal(h.admitted.length, 1, 'the retry was admitted, not dropped as a duplicate');
    assert.equal(h.intake.ingest(alert()), undefined);
    assert.equal(h.admitted.length, 1);
    assert.equal(await h.deduplicated(), 1);
  });

  it('distinct alerts are each admitted', () => {
    const h = harness(() => undefined);
    for (let i = 0; i < 5; i++) h.intake.ingest(alert(`o${i}`));
    assert.equal(h.admitted.length, 5);
    assert.equal(new Set(h.admitted).size, 5);
  });
});

describe('Intake.stage and commit (the webhook’s group commit)', () => {
  function staging(commitRefusal: () => Refusal | undefined) {
    const metrics = createMetrics({ defaultMetrics: false });
    const dedup = new Deduplicator(10_000);
    const staged: string[] = [];
    const settled: string[] = [];
    const commits: number[] = [];
    const intake = new Intake({
      dedup,
      metrics,
      dispatch: () => undefined,
      stage: (_ev, key) => void staged.push(key),
      commit: () => {
        commits.push(staged.length);
        return commitRefusal();
      },
      settled: (ev) => settled.push(ev.traceId),
    });
    intake.setIndex(RuleIndex.build([]));
    return { intake, dedup, staged, settled, commits };
  }

  it('nothing is evaluated or remembered until the commit; one commit for all staged alerts', () => {
    const h = staging(() => undefined);
    for (let i = 0; i < 3; i++) assert.equal(h.intake.stage(alert(`o${i}`)), undefined);
    assert.equal(h.intake.stage(alert('o0')), undefined, 'a second delivery in the same turn');
    assert.equal(h.staged.length, 3, 'the duplicate is not staged');
    assert.equal(h.settled.length, 0, 'not evaluated yet');
    assert.equal(h.dedup.size, 0, 'not remembered yet');
    assert.equal(h.intake.commit(), undefined);
    assert.deepEqual(h.commits, [3]);
    assert.equal(h.settled.length, 3, 'evaluated (no rule matched: settled)');
    assert.equal(h.dedup.size, 3);
    assert.equal(h.intake.commit(), undefined);
    assert.deepEqual(h.commits, [3], 'nothing staged: the ledger is not asked');
  });

  it('a refused commit refuses every staged alert: none evaluated, none remembered, so each retry is staged again', () => {
    let refuse = true;
    const h = staging(() => (refuse ? { reason: 'the journal cannot be written: ENOSPC', retryAfterSeconds: 5 } : undefined));
    h.intake.stage(alert('a'));
    h.intake.stage(alert('b'));
    assert.match(h.intake.commit()?.reason ?? '', /ENOSPC/);
    assert.equal(h.settled.length, 0);
    assert.equal(h.dedup.size, 0);
    refuse = false;
    h.intake.stage(alert('a'));
    assert.equal(h.staged.length, 3, 'the retry is staged again, not dropped as a duplicate');
    assert.equal(h.intake.commit(), undefined);
    assert.equal(h.settled.length, 1);
  });
});

describe('Intake.halt (shutdown)', () => {
  it('what is committed after halt is kept (written, remembered) but not evaluated', () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const dedup = new Deduplicator(10_000);
    const evaluated: string[] = [];
    const intake = new Intake({ dedup, metrics, dispatch: () => undefined, onEvaluated: (ev) => void evaluated.push(ev.output), admit: () => undefined });
    intake.setIndex(RuleIndex.build([]));
    intake.stage(alert('before'));
    intake.halt();
    assert.equal(intake.commit(), undefined);
    assert.deepEqual(evaluated, []);
    assert.equal(dedup.size, 1, 'remembered: a second delivery is still a duplicate');
  });
});

describe('Intake.commit with a failing evaluation', () => {
  it('one alert whose evaluation throws is logged; the others of the batch are still evaluated', () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const errors: string[] = [];
    const evaluated: string[] = [];
    const intake = new Intake({
      dedup: new Deduplicator(10_000),
      metrics,
      dispatch: () => undefined,
      onEvaluated: (ev) => {
        if (ev.output === 'bad') throw new Error('a bug');
        evaluated.push(ev.output);
      },
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m: string) => void errors.push(m) },
    });
    intake.setIndex(RuleIndex.build([]));
    for (const o of ['a', 'bad', 'b']) intake.stage(alert(o));
    assert.equal(intake.commit(), undefined);
    assert.deepEqual(evaluated, ['a', 'b']);
    assert.equal(errors.length, 1);
  });
});
