import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, falcoEvent } from '../../test/fakes/kube.js';
import { type Outcome, type OutcomeReason, type OutcomeResult } from '../api/v1alpha1/outcome.js';
import { RuleStatusAggregator, type RuleObjectRef, type RuleStatusCounters, type RuleStatusDeps, type RuleStatusSnapshot } from './rule-status.js';

/** `TalonRule/ns/name`, or `ClusterTalonRule//name`. */
const storeKey = (r: RuleObjectRef): string => `${r.kind}/${r.namespace}/${r.name}`;

/** A status subresource with resourceVersion preconditions; failure injection per patch. */
class FakeStatusStore {
  readonly rules = new Map<string, { rv: number; status: Partial<RuleStatusCounters> }>();
  patches = 0;
  failWith: ((n: number) => number | undefined) | undefined;
  add(ns: string, name: string, status: Partial<RuleStatusCounters> = {}, kind: RuleObjectRef['kind'] = 'TalonRule'): void {
    this.rules.set(storeKey({ kind, namespace: ns, name }), { rv: 1, status });
  }
  status(ns: string, name: string, kind: RuleObjectRef['kind'] = 'TalonRule'): Partial<RuleStatusCounters> | undefined {
    return this.rules.get(storeKey({ kind, namespace: ns, name }))?.status;
  }
  /** Another writer (a second replica, the reconciler's conditions) bumps the resourceVersion. */
  touch(ns: string, name: string): void {
    const r = this.rules.get(storeKey({ kind: 'TalonRule', namespace: ns, name }));
    if (r) r.rv += 1;
  }
  deps(): RuleStatusDeps {
    return {
      getStatus: async (ref): Promise<RuleStatusSnapshot | undefined> => {
        const r = this.rules.get(storeKey(ref));
        return r ? { resourceVersion: String(r.rv), status: structuredClone(r.status) } : undefined;
      },
      patchStatus: async (ref, patch, rv) => {
        this.patches += 1;
        await Promise.resolve();
        const code = this.failWith?.(this.patches);
        if (code !== undefined) throw apiError(code, 'injected');
        const r = this.rules.get(storeKey(ref));
        if (!r) throw apiError(404, 'gone');
        if (rv !== undefined && rv !== String(r.rv)) throw apiError(409, 'conflict');
        r.status = { ...r.status, ...structuredClone(patch) };
        r.rv += 1;
        return String(r.rv);
      },
    };
  }
}

const ruleRef = { namespace: 'talon-system', name: 'kill' };

const REASON_OF: Readonly<Record<OutcomeResult, OutcomeReason>> = { Succeeded: 'Terminated', Failed: 'Forbidden', Skipped: 'IgnoredDaemonSet', DryRun: 'DryRun' };

function outcome(result: OutcomeResult, i = 0): Outcome {
  return {
    time: `2024-01-01T00:00:${String(i % 60).padStart(2, '0')}.000Z`,
    traceId: `t${i}`,
    rule: ruleRef,
    action: 'kill',
    actionner: 'kubernetes:terminate',
    target: { kind: 'Pod', namespace: 'default', name: `web-${i}` },
    result,
    reason: REASON_OF[result],
    message: `outcome ${i}`,
    durationMs: 0,
    ingestToActionMs: 0,
    objects: [],
    falcoRule: 'Terminal shell in container',
    priority: 'Warning',
    merged: 0,
  };
}

test('counts matches, suppressions and results; last outcomes newest first, at most 10', async () => {
  const store = new FakeStatusStore();
  store.add('talon-system', 'kill');
  const agg = new RuleStatusAggregator({ ...store.deps(), now: () => Date.parse('2024-05-01T10:00:00Z') });
  const ev = falcoEvent({});
  for (let i = 0; i < 12; i++) {
    agg.matched(ruleRef, ev);
    agg.record(outcome(i % 2 === 0 ? 'Succeeded' : 'Failed', i));
  }
  agg.suppressed(ruleRef, ev, 'Cooldown');
  agg.record(outcome('Skipped', 12));
  agg.record(outcome('DryRun', 13));
  await agg.flush();
  const s = store.status('talon-system', 'kill');
  assert.equal(s?.matchedEvents, 12);
  assert.equal(s?.suppressedEvents, 1);
  assert.deepEqual(s?.results, { succeeded: 6, failed: 6, skipped: 1, dryRun: 1 });
  assert.equal(s?.lastMatchedTime, '2024-05-01T10:00:00.000Z');
  assert.deepEqual(
    s?.lastOutcomes?.map((o) => o.message),
    ['outcome 13', 'outcome 12', 'outcome 11', 'outcome 10', 'outcome 9', 'outcome 8', 'outcome 7', 'outcome 6', 'outcome 5', 'outcome 4'],
  );
});

test('counters continue from the stored status (a restart does not reset them) and only changed rules are patched', async () => {
  const store = new FakeStatusStore();
  store.add('talon-system', 'kill', { matchedEvents: 100, suppressedEvents: 7, results: { succeeded: 90, failed: 1, skipped: 2, dryRun: 0 }, lastOutcomes: [outcome('Succeeded', 99)] as never });
  store.add('talon-system', 'idle');
  const agg = new RuleStatusAggregator(store.deps());
  agg.matched(ruleRef, falcoEvent({}));
  agg.record(outcome('Succeeded', 1));
  await agg.flush();
  await agg.flush();
  const s = store.status('talon-system', 'kill');
  assert.equal(s?.matchedEvents, 101);
  assert.deepEqual(s?.results, { succeeded: 91, failed: 1, skipped: 2, dryRun: 0 });
  assert.deepEqual(
    s?.lastOutcomes?.map((o) => o.message),
    ['outcome 1', 'outcome 99'],
  );
  assert.equal(store.patches, 1, 'nothing new, nothing patched; the idle rule never');
});

test('storm: 10,000 alerts with failing and conflicting patches and a second writer end with exact counts', async () => {
  const store = new FakeStatusStore();
  store.add('talon-system', 'kill', { matchedEvents: 5, results: { succeeded: 5, failed: 0, skipped: 0, dryRun: 0 } });
  const agg = new RuleStatusAggregator(store.deps());
  store.failWith = (n) => (n % 3 === 0 ? 500 : n % 5 === 0 ? 409 : undefined);
  const ev = falcoEvent({});
  const N = 10_000;
  const want = { succeeded: 5, failed: 0, skipped: 0, dryRun: 0 };
  const results: OutcomeResult[] = ['Succeeded', 'Failed', 'Skipped', 'DryRun'];
  const key = { Succeeded: 'succeeded', Failed: 'failed', Skipped: 'skipped', DryRun: 'dryRun' } as const;
  let suppressed = 0;
  for (let i = 0; i < N; i++) {
    agg.matched(ruleRef, ev);
    if (i % 7 === 0) {
      agg.suppressed(ruleRef, ev, 'Merged');
      suppressed += 1;
    } else {
      const r = results[i % 4] as OutcomeResult;
      agg.record(outcome(r, i));
      want[key[r]] += 1;
    }
    if (i % 100 === 0) void agg.flush();
    if (i % 100 === 50) await new Promise((r) => setImmediate(r));
    if (i % 900 === 0) store.touch('talon-system', 'kill');
  }
  assert.ok(store.patches > 50, 'flushes interleaved with the storm');
  store.failWith = undefined;
  for (let i = 0; i < 5; i++) await agg.flush();
  const s = store.status('talon-system', 'kill');
  assert.equal(s?.matchedEvents, N + 5);
  assert.equal(s?.suppressedEvents, suppressed);
  assert.deepEqual(s?.results, want);
  assert.equal(s?.lastOutcomes?.length, 10);
  assert.equal(s?.lastOutcomes?.[0]?.message, `outcome ${N - 1}`);
});

test('a deleted rule is forgotten', async () => {
  const store = new FakeStatusStore();
  const agg = new RuleStatusAggregator(store.deps());
  agg.matched(ruleRef, falcoEvent({}));
  await agg.flush();
  assert.equal(agg.view('talon-system', 'kill'), undefined);
  assert.equal(store.patches, 0);
  // Made again: its matches count anew (the forgotten state is not reused).
  store.add('talon-system', 'kill');
  agg.matched(ruleRef, falcoEvent({}));
  await agg.flush();
  assert.equal(store.status('talon-system', 'kill')?.matchedEvents, 1);
});

test('ClusterTalonRule status: patched on the cluster-scoped object, counted apart from a same-named TalonRule', async () => {
  const store = new FakeStatusStore();
  store.add('', 'kill', {}, 'ClusterTalonRule');
  store.add('talon-system', 'kill');
  const agg = new RuleStatusAggregator(store.deps());
  const ev = falcoEvent({});
  const cluster = { kind: 'ClusterTalonRule' as const, namespace: '', name: 'kill' };
  agg.matched(cluster, ev);
  agg.matched(cluster, ev);
  agg.record({ ...outcome('Succeeded', 1), rule: cluster });
  agg.matched(ruleRef, ev);
  // A RuleRef without a kind and with namespace '' names a ClusterTalonRule too.
  agg.suppressed({ namespace: '', name: 'kill' }, ev, 'Cooldown');
  await agg.flush();
  const c = store.status('', 'kill', 'ClusterTalonRule');
  assert.equal(c?.matchedEvents, 2);
  assert.equal(c?.suppressedEvents, 1);
  assert.deepEqual(c?.results, { succeeded: 1, failed: 0, skipped: 0, dryRun: 0 });
  const t = store.status('talon-system', 'kill');
  assert.equal(t?.matchedEvents, 1);
  assert.deepEqual(t?.results, { succeeded: 0, failed: 0, skipped: 0, dryRun: 0 });
  assert.equal(agg.view('', 'kill')?.matchedEvents, 2);
  assert.equal(agg.view('talon-system', 'kill')?.matchedEvents, 1);
});

test("an escalation rule's hottest targets are written with its status; outcomes keep their step; other rules get none", async () => {
  const store = new FakeStatusStore();
  store.add('talon-system', 'kill');
  store.add('talon-system', 'plain');
  const targets = [{ target: { kind: 'Pod', namespace: 'default', name: 'web-1' }, count: 3, step: 2, windowEnds: '2024-01-01T00:10:00.000Z' }];
  const agg = new RuleStatusAggregator({ ...store.deps(), escalationOf: (r) => (r.name === 'kill' ? targets : undefined) });
  agg.matched(ruleRef, falcoEvent({}));
  agg.record({ ...outcome('Succeeded', 1), escalation: { step: 2, count: 3 } });
  agg.matched({ namespace: 'talon-system', name: 'plain' }, falcoEvent({}));
  await agg.flush();
  assert.deepEqual(store.status('talon-system', 'kill')?.escalation, { targets });
  assert.deepEqual(store.status('talon-system', 'kill')?.lastOutcomes?.[0]?.escalation, { step: 2, count: 3 });
  assert.equal(store.status('talon-system', 'plain')?.escalation, undefined);
});
