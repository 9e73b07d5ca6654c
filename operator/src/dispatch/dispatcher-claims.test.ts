/**
 * The dispatcher under cluster-wide claims: two dispatchers (two replicas) sharing one Lease
 * store and one cluster receive the same alerts; each rule with a destructive action runs
 * once per (rule, target), the other replica counts the match as suppressed ('Claimed').
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeKube, falcoEvent, podFixture } from '../../test/fakes/kube.js';
import { FakeLeases } from '../../test/fakes/leases.js';
import { ruleOf } from '../../test/builders.js';
import { terminateActionner } from '../actionners/kubernetes/terminate.js';
import { labelActionner } from '../actionners/kubernetes/label.js';
import { LeaseClaims } from '../coordination/claims.js';
import { LeaseBudget } from '../coordination/shared-budget.js';
import type { Outcome, RuleRef, SuppressReason } from '../api/v1alpha1/outcome.js';
import type { FalcoEvent } from '../falco/event.js';
import type { CompiledAction, CompiledRule } from '../rules/types.js';
import { Dispatcher } from './dispatcher.js';
import { TokenBucketBudget } from './budget.js';

function sinkOf() {
  const s = { outcomes: [] as Outcome[], matched: 0, suppressed: [] as SuppressReason[] };
  return {
    s,
    sink: { record: (o: Outcome) => void s.outcomes.push(o), matched: (_r: RuleRef, _e: FalcoEvent) => void s.matched++, suppressed: (_r: RuleRef, _e: FalcoEvent, why: SuppressReason) => void s.suppressed.push(why) },
  };
}

const kill: CompiledAction = { name: 'kill', actionner: terminateActionner, params: { gracePeriodSeconds: 0, ignoreDaemonSets: false, ignoreStatefulSets: false, ignoreStandalonePods: false }, continue: true, ignoreErrors: false, timeoutMs: 5000, additionalContexts: [] };
const label: CompiledAction = { name: 'label', actionner: labelActionner, params: { labels: { seen: 'yes' }, level: 'pod' }, continue: true, ignoreErrors: false, timeoutMs: 5000, additionalContexts: [] };

function replica(fake: FakeKube, leases: FakeLeases, identity: string, budget?: LeaseBudget) {
  const { s, sink } = sinkOf();
  const d = new Dispatcher({
    queue: { concurrency: 4, maxPending: 100 },
    kube: fake.clients,
    identity: { protectedNamespaces: new Set(['kube-system']) },
    budget: budget ?? new TokenBucketBudget(Infinity),
    sink,
    cooldowns: { active: () => false, start: () => undefined },
    claims: { port: new LeaseClaims({ api: leases, identity, leaseMs: 5000, pollMs: { min: 1, max: 10 } }), windowMs: 10_000 },
    retry: { attempts: 1, baseMs: 1 },
    globalDryRun: false,
  });
  return { d, s };
}

test('two replicas, same alerts: the destructive rule runs once per target, the other replica suppresses its match', async () => {
  const fake = new FakeKube();
  const leases = new FakeLeases();
  for (const p of ['a', 'b', 'c']) fake.add('Pod', podFixture('default', p));
  const r1 = replica(fake, leases, 'r1');
  const r2 = replica(fake, leases, 'r2');
  const rule: CompiledRule = { ...ruleOf('kill'), actions: [kill] };
  for (const p of ['a', 'b', 'c']) {
    const ev = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': p });
    r1.d.dispatch(ev, [rule]);
    r2.d.dispatch(ev, [rule]);
  }
  await Promise.all([r1.d.drain(), r2.d.drain()]);
  const outcomes = [...r1.s.outcomes, ...r2.s.outcomes];
  assert.deepEqual(outcomes.map((o) => `${o.target.name}:${o.result}`).sort(), ['a:Succeeded', 'b:Succeeded', 'c:Succeeded']);
  assert.deepEqual([...r1.s.suppressed, ...r2.s.suppressed], ['Claimed', 'Claimed', 'Claimed']);
  assert.equal(r1.s.matched + r2.s.matched, 6);
  for (const p of ['a', 'b', 'c']) assert.equal(fake.get('Pod', 'default', p), undefined);
});

test('a rule without a destructive action takes no claim and runs on each replica (idempotent)', async () => {
  const fake = new FakeKube();
  const leases = new FakeLeases();
  fake.add('Pod', podFixture('default', 'a'));
  const r1 = replica(fake, leases, 'r1');
  const r2 = replica(fake, leases, 'r2');
  const rule: CompiledRule = { ...ruleOf('mark'), actions: [label] };
  const ev = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'a' });
  r1.d.dispatch(ev, [rule]);
  r2.d.dispatch(ev, [rule]);
  await Promise.all([r1.d.drain(), r2.d.drain()]);
  assert.equal(leases.calls.create, 0);
  assert.deepEqual([...r1.s.outcomes, ...r2.s.outcomes].map((o) => o.result), ['Succeeded', 'Succeeded']);
});

test('the shared budget holds across replicas; a claim that cannot be made fails the run with ClaimFailed', async () => {
  const fake = new FakeKube();
  const leases = new FakeLeases();
  const pods = ['a', 'b', 'c', 'd'];
  for (const p of pods) fake.add('Pod', podFixture('default', p));
  const r1 = replica(fake, leases, 'r1', new LeaseBudget({ api: leases, identity: 'r1', perMinute: 2 }));
  const r2 = replica(fake, leases, 'r2', new LeaseBudget({ api: leases, identity: 'r2', perMinute: 2 }));
  const rule: CompiledRule = { ...ruleOf('kill'), actions: [kill] };
  for (const p of pods) {
    const ev = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': p });
    r1.d.dispatch(ev, [rule]);
    r2.d.dispatch(ev, [rule]);
  }
  await Promise.all([r1.d.drain(), r2.d.drain()]);
  const results = [...r1.s.outcomes, ...r2.s.outcomes].map((o) => `${o.result}:${o.reason}`).sort();
  assert.deepEqual(results, ['Skipped:BudgetExceeded', 'Skipped:BudgetExceeded', 'Succeeded:Terminated', 'Succeeded:Terminated']);
  assert.equal(pods.filter((p) => fake.get('Pod', 'default', p) === undefined).length, 2);

  fake.add('Pod', podFixture('default', 'e'));
  leases.failWith = 503;
  r1.d.dispatch(falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'e' }), [rule]);
  await r1.d.drain();
  assert.equal(r1.s.outcomes.at(-1)?.reason, 'ClaimFailed');
  assert.ok(fake.get('Pod', 'default', 'e'));
});

test('an escalation ladder under claims: each step claims for itself, so a label step does not hold back the later kill step', async () => {
  const fake = new FakeKube();
  const leases = new FakeLeases();
  fake.add('Pod', podFixture('default', 'a'));
  const r1 = replica(fake, leases, 'r1');
  const steps = [
    { after: 1, actions: [label] },
    { after: 2, actions: [kill] },
  ];
  const rule: CompiledRule = { ...ruleOf('ladder'), actions: [label, kill], escalation: { windowMs: 600_000, steps } };
  for (let i = 0; i < 2; i++) {
    r1.d.dispatch(falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'a' }), [rule]);
    await r1.d.drain();
  }
  assert.deepEqual(
    r1.s.outcomes.map((o) => `${o.action}:${o.result}`),
    ['label:Succeeded', 'kill:Succeeded'],
  );
  assert.deepEqual(r1.s.suppressed, []);
});
