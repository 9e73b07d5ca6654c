import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { FakeKube, falcoEvent, podFixture } from '../../test/fakes/kube.js';
import { ok, failed, type Actionner, type ActionResult, type ActionnerScope, type OperatorIdentity } from '../actionners/types.js';
import { terminateActionner } from '../actionners/kubernetes/terminate.js';
import { deleteActionner } from '../actionners/kubernetes/delete.js';
import { TokenBucketBudget, type Budget } from './budget.js';
import { Dispatcher, describeTarget, type DispatcherDeps } from './dispatcher.js';
import { resolveTarget, type FalcoEvent } from '../falco/event.js';
import { type Outcome, type RuleRef, type SuppressReason } from '../api/v1alpha1/outcome.js';
import { type OutcomeSink } from '../notifiers/types.js';
import { ruleKey, type CompiledAction, type CompiledRule } from '../rules/types.js';

class CollectingSink implements OutcomeSink {
  readonly outcomes: Outcome[] = [];
  readonly matches: string[] = [];
  readonly suppressions: { rule: string; why: SuppressReason }[] = [];
  record(o: Outcome): void {
    this.outcomes.push(o);
  }
  matched(rule: RuleRef): void {
    this.matches.push(rule.name);
  }
  suppressed(rule: RuleRef, _ev: FalcoEvent, why: SuppressReason): void {
    this.suppressions.push({ rule: rule.name, why });
  }
  summary(): string[] {
    return this.outcomes.map((o) => `${o.action}:${o.result}:${o.reason}`);
  }
}

/** A test actionner whose runs are kept in `ran`; behaviour per call from `behave`. */
function probe(name: string, behave: (ctx: { signal: AbortSignal }) => Promise<ActionResult> | ActionResult, opts: { destructive?: boolean; scope?: ActionnerScope; required?: string[][] } = {}) {
  const ran: string[] = [];
  const a: Actionner = {
    info: {
      name,
      description: 'test',
      requiredFields: opts.required ?? [],
      defaultContinue: true,
      destructive: opts.destructive ?? false,
      scope: opts.scope ?? 'pod',
      output: 'none',
      rbac: [],
      example: {},
    },
    paramsSchema: Type.Object({}),
    precheck: () => ({ ok: true }),
    run: async (ctx) => {
      ran.push(`${ctx.actionName}@${ctx.target.namespace ?? ''}/${ctx.target.pod ?? ''}`);
      return behave(ctx);
    },
  };
  return { a, ran };
}

const succeed = () => ok('Done', 'done');

function action(actionner: Actionner, over: Partial<CompiledAction> = {}): CompiledAction {
  return { name: over.name ?? actionner.info.name, actionner, params: {}, continue: true, ignoreErrors: false, timeoutMs: 5000, additionalContexts: [], ...over };
}

/** A ClusterTalonRule, or with `scope: 'tenant'` a TalonRule (in `namespace`, default talon-system). */
function rule(name: string, actions: CompiledAction[], over: Partial<CompiledRule> = {}): CompiledRule {
  const scope = over.scope ?? 'cluster';
  const kind = scope === 'cluster' ? 'ClusterTalonRule' : 'TalonRule';
  const namespace = over.namespace ?? (scope === 'cluster' ? '' : 'talon-system');
  return {
    kind,
    key: ruleKey(kind, namespace, name),
    namespace,
    name,
    uid: `uid-${name}`,
    generation: 1,
    scope,
    order: 0,
    continue: true,
    suspend: false,
    dryRun: false,
    cooldownMs: 0,
    matcher: { ruleNames: null, sources: null, test: () => true, explain: () => ({ matched: true }) },
    actions,
    notifiers: [],
    ...over,
  };
}

const identity: OperatorIdentity = {
  protectedNamespaces: new Set(['kube-system', 'talon-system']),
  podName: 'talon-operator-abc',
  podNamespace: 'talon-system',
};

function mapCooldowns() {
  const until = new Map<string, number>();
  return {
    tryAcquire(ruleKey: string, targetKey: string, ms: number): boolean {
      const k = `${ruleKey}|${targetKey}`;
      if ((until.get(k) ?? 0) > 0) return false;
      until.set(k, ms);
      return true;
    },
  };
}

function setup(over: Partial<DispatcherDeps> = {}) {
  const fake = new FakeKube();
  const sink = new CollectingSink();
  const deps: DispatcherDeps = {
    queue: { concurrency: 4, maxPending: 100 },
    kube: fake.clients,
    identity,
    budget: new TokenBucketBudget(Infinity),
    sink,
    cooldowns: mapCooldowns(),
    retry: { attempts: 3, baseMs: 1 },
    globalDryRun: false,
    ...over,
  };
  return { fake, sink, d: new Dispatcher(deps) };
}

const podEvent = (ns = 'default', pod = 'web-1', extra: Record<string, string> = {}) => falcoEvent({ 'k8s.ns.name': ns, 'k8s.pod.name': pod, ...extra });

test('target: pod, else audited object (Namespace protects itself), else node, else event', () => {
  assert.equal(describeTarget(resolveTarget(podEvent())).key, 'Pod/default/web-1');
  const cm = describeTarget(resolveTarget(falcoEvent({ 'ka.target.resource': 'configmaps', 'ka.target.name': 'cfg', 'ka.target.namespace': 'app' })));
  assert.deepEqual([cm.key, cm.scopeNamespace], ['ConfigMap/app/cfg', 'app']);
  const ns = describeTarget(resolveTarget(falcoEvent({ 'ka.target.resource': 'namespaces', 'ka.target.name': 'kube-system' })));
  assert.deepEqual([ns.key, ns.scopeNamespace, ns.protectNamespaces], ['Namespace//kube-system', undefined, ['kube-system']]);
  assert.equal(describeTarget(resolveTarget(falcoEvent({}, { hostname: 'n1' }))).key, 'Node//n1');
  assert.equal(describeTarget(resolveTarget(falcoEvent({}, { hostname: '' }))).key, 'event');
});

test('a failure stops the rule unless ignoreErrors; continue:false stops it whatever the result', async () => {
  const bad = probe('t:bad', () => failed('Broken', 'broken'));
  const good = probe('t:good', succeed);
  const { d, sink } = setup();
  d.dispatch(podEvent('default', 'p1'), [rule('stop-on-error', [action(bad.a, { name: 'bad' }), action(good.a, { name: 'after-bad' })])]);
  d.dispatch(podEvent('default', 'p2'), [rule('ignore-errors', [action(bad.a, { name: 'bad-ignored', ignoreErrors: true }), action(good.a, { name: 'after-ignored' })])]);
  d.dispatch(podEvent('default', 'p3'), [rule('no-continue', [action(good.a, { name: 'first', continue: false }), action(good.a, { name: 'never' })])]);
  d.dispatch(podEvent('default', 'p4'), [rule('ignored-but-stop', [action(bad.a, { name: 'bad-stop', ignoreErrors: true, continue: false }), action(good.a, { name: 'never2' })])]);
  await d.drain();
  assert.deepEqual(good.ran.sort(), ['after-ignored@default/p2', 'first@default/p3']);
  assert.deepEqual(sink.summary().sort(), ['bad-ignored:Failed:Broken', 'bad-stop:Failed:Broken', 'bad:Failed:Broken', 'after-ignored:Succeeded:Done', 'first:Succeeded:Done'].sort());
});

test('a skip by a guard stops the rule like a failed check, unless ignoreErrors', async () => {
  const needy = probe('t:needy', succeed, { required: [['fd.sip', 'fd.rip']] });
  const good = probe('t:good', succeed);
  const { d, sink } = setup();
  d.dispatch(podEvent('default', 'p1'), [rule('r1', [action(needy.a, { name: 'needs-ip' }), action(good.a, { name: 'next' })])]);
  d.dispatch(podEvent('default', 'p2'), [rule('r2', [action(needy.a, { name: 'needs-ip-2', ignoreErrors: true }), action(good.a, { name: 'next-2' })])]);
  await d.drain();
  assert.deepEqual(needy.ran, []);
  assert.deepEqual(good.ran, ['next-2@default/p2']);
  const skip = sink.outcomes.find((o) => o.action === 'needs-ip');
  assert.equal(skip?.reason, 'MissingFields');
  assert.match(skip?.message ?? '', /fd\.sip or fd\.rip/);
});

test('dry run (rule or global) records what would be done and does nothing', async () => {
  const { d, sink, fake } = setup();
  fake.add('Pod', podFixture('default', 'web-1'));
  const kill = action(terminateActionner, { name: 'kill', params: { gracePeriodSeconds: 0, ignoreDaemonSets: true, ignoreStatefulSets: false, ignoreStandalonePods: false } });
  d.dispatch(podEvent(), [rule('dry', [kill], { dryRun: true })]);
  await d.drain();
  assert.ok(fake.get('Pod', 'default', 'web-1'), 'pod must survive a dry run');
  const o = sink.outcomes[0];
  assert.equal(o?.result, 'DryRun');
  assert.match(o?.message ?? '', /would run kubernetes:terminate with \{"gracePeriodSeconds":0,"ignoreDaemonSets":true.*\} on Pod default\/web-1/);

  const g = setup({ globalDryRun: true });
  g.fake.add('Pod', podFixture('default', 'web-1'));
  g.d.dispatch(podEvent(), [rule('live', [kill])]);
  await g.d.drain();
  assert.ok(g.fake.get('Pod', 'default', 'web-1'));
  assert.equal(g.sink.outcomes[0]?.result, 'DryRun');
  assert.match(g.sink.outcomes[0]?.message ?? '', /operator is in dry-run mode/);
});

test('a suspended rule is counted as matched and records one Skipped/Suspended outcome', async () => {
  const p = probe('t:p', succeed);
  const { d, sink } = setup();
  d.dispatch(podEvent(), [rule('off', [action(p.a, { name: 'a1' }), action(p.a, { name: 'a2' })], { suspend: true })]);
  await d.drain();
  assert.deepEqual(p.ran, []);
  assert.deepEqual(sink.matches, ['off']);
  assert.deepEqual(sink.summary(), ['a1:Skipped:Suspended']);
});

test('cooldown: the same rule and target within the window are suppressed; another target is not', async () => {
  const p = probe('t:p', succeed);
  const { d, sink } = setup();
  const r = rule('cool', [action(p.a, { name: 'a' })], { cooldownMs: 60_000 });
  d.dispatch(podEvent('default', 'p1'), [r]);
  d.dispatch(podEvent('default', 'p1'), [r]);
  d.dispatch(podEvent('default', 'p2'), [r]);
  await d.drain();
  assert.deepEqual(p.ran.sort(), ['a@default/p1', 'a@default/p2']);
  assert.deepEqual(sink.suppressions, [{ rule: 'cool', why: 'Cooldown' }]);
  assert.equal(sink.matches.length, 3);
});

test('a pending duplicate merges into its work item and is counted; actions per target stay serial', async () => {
  let release!: () => void;
  const blocked = new Promise<void>((r) => (release = r));
  const slow = probe('t:slow', async () => {
    await blocked;
    return ok('Done', 'done');
  });
  const { d, sink } = setup();
  const r = rule('slow', [action(slow.a, { name: 's' })]);
  for (let i = 0; i < 5; i++) d.dispatch(podEvent(), [r]);
  assert.equal(d.depth(), 1);
  release();
  await d.drain();
  assert.equal(slow.ran.length, 2);
  assert.deepEqual(
    sink.suppressions.map((s) => s.why),
    ['Merged', 'Merged', 'Merged'],
  );
  assert.deepEqual(
    sink.outcomes.map((o) => o.merged),
    [0, 3],
  );
});

test('tenancy: a tenant rule acts only on its namespace and never at node level', async () => {
  const p = probe('t:pod', succeed);
  const node = probe('t:node', succeed, { scope: 'node' });
  const { d, sink } = setup();
  const tenant = (name: string, a: CompiledAction) => rule(name, [a], { namespace: 'team-a', scope: 'tenant' });
  d.dispatch(podEvent('team-b', 'x'), [tenant('other-ns', action(p.a, { name: 'other' }))]);
  d.dispatch(podEvent('team-a', 'y'), [tenant('own-ns', action(p.a, { name: 'own' }))]);
  d.dispatch(podEvent('team-a', 'z'), [tenant('node-level', action(node.a, { name: 'node' }))]);
  d.dispatch(falcoEvent({ 'ka.target.resource': 'clusterroles', 'ka.target.name': 'admin' }), [tenant('cluster-obj', action(deleteActionner, { name: 'del' }))]);
  await d.drain();
  assert.deepEqual(p.ran, ['own@team-a/y']);
  assert.deepEqual(node.ran, []);
  assert.deepEqual(sink.summary().sort(), ['del:Skipped:OutOfScope', 'node:Skipped:OutOfScope', 'other:Skipped:OutOfScope', 'own:Succeeded:Done']);
});

test('protected namespaces and the operator pod are never acted upon', async () => {
  const { d, sink, fake } = setup();
  fake.add('Pod', podFixture('kube-system', 'coredns-1'));
  fake.add('Pod', podFixture('talon-system', 'talon-operator-abc'));
  fake.add('Namespace', { metadata: { name: 'kube-system' } });
  const kill = action(terminateActionner, { name: 'kill', params: { gracePeriodSeconds: 0, ignoreDaemonSets: false, ignoreStatefulSets: false, ignoreStandalonePods: false } });
  const wide = rule('wide', [kill]);
  d.dispatch(podEvent('kube-system', 'coredns-1'), [wide]);
  d.dispatch(falcoEvent({ 'k8s.ns.name': 'talon-system', 'k8s.pod.name': 'talon-operator-abc' }), [rule('self', [kill])]);
  d.dispatch(falcoEvent({ 'ka.target.resource': 'namespaces', 'ka.target.name': 'kube-system' }), [rule('del-ns', [action(deleteActionner, { name: 'del' })])]);
  await d.drain();
  assert.ok(fake.get('Pod', 'kube-system', 'coredns-1'));
  assert.ok(fake.get('Pod', 'talon-system', 'talon-operator-abc'));
  assert.ok(fake.get('Namespace', undefined, 'kube-system'));
  assert.deepEqual(sink.summary().sort(), ['del:Skipped:ProtectedNamespace', 'kill:Skipped:ProtectedNamespace', 'kill:Skipped:ProtectedNamespace']);
  const self = setup({ identity: { ...identity, protectedNamespaces: new Set() } });
  self.fake.add('Pod', podFixture('talon-system', 'talon-operator-abc'));
  self.d.dispatch(falcoEvent({ 'k8s.ns.name': 'talon-system', 'k8s.pod.name': 'talon-operator-abc' }), [rule('self', [kill])]);
  await self.d.drain();
  assert.ok(self.fake.get('Pod', 'talon-system', 'talon-operator-abc'));
  assert.deepEqual(self.sink.summary(), ['kill:Skipped:SelfProtection']);
});

test('the destructive budget: over it the action is skipped and the pod lives; skipped runs give the token back', async () => {
  const budget: Budget = new TokenBucketBudget(1, () => 0);
  const { d, sink, fake } = setup({ budget });
  fake.add('Pod', podFixture('default', 'ds-pod', { owner: { kind: 'DaemonSet', name: 'agent' } }));
  fake.add('Pod', podFixture('default', 'a'));
  fake.add('Pod', podFixture('default', 'b'));
  const kill = action(terminateActionner, { name: 'kill', params: { gracePeriodSeconds: 0, ignoreDaemonSets: true, ignoreStatefulSets: false, ignoreStandalonePods: false } });
  d.dispatch(podEvent('default', 'ds-pod'), [rule('r', [kill])]);
  await d.drain();
  d.dispatch(podEvent('default', 'a'), [rule('r', [kill])]);
  await d.drain();
  d.dispatch(podEvent('default', 'b'), [rule('r', [kill])]);
  await d.drain();
  assert.ok(fake.get('Pod', 'default', 'ds-pod'));
  assert.equal(fake.get('Pod', 'default', 'a'), undefined);
  assert.ok(fake.get('Pod', 'default', 'b'));
  assert.deepEqual(sink.summary(), ['kill:Skipped:IgnoredDaemonSet', 'kill:Succeeded:Terminated', 'kill:Skipped:BudgetExceeded']);
});

test('retryable API failures are retried with backoff up to the attempt limit', async () => {
  const kill = action(terminateActionner, { name: 'kill', params: { gracePeriodSeconds: 0, ignoreDaemonSets: false, ignoreStatefulSets: false, ignoreStandalonePods: false } });
  const s1 = setup({ retry: { attempts: 3, baseMs: 1 } });
  s1.fake.add('Pod', podFixture('default', 'web-1'));
  s1.fake.failNext('core.deleteNamespacedPod', 503, 2);
  s1.d.dispatch(podEvent(), [rule('r', [kill])]);
  await s1.d.drain();
  assert.equal(s1.fake.get('Pod', 'default', 'web-1'), undefined);
  assert.deepEqual(s1.sink.summary(), ['kill:Succeeded:Terminated']);

  const s2 = setup({ retry: { attempts: 2, baseMs: 1 } });
  s2.fake.add('Pod', podFixture('default', 'web-1'));
  s2.fake.failNext('core.deleteNamespacedPod', 429, 5);
  s2.d.dispatch(podEvent(), [rule('r', [kill])]);
  await s2.d.drain();
  assert.ok(s2.fake.get('Pod', 'default', 'web-1'));
  assert.deepEqual(s2.sink.summary(), ['kill:Failed:TooManyRequests']);
  assert.match(s2.sink.outcomes[0]?.message ?? '', /gave up after 2 attempts/);

  const s3 = setup({ retry: { attempts: 5, baseMs: 1 } });
  s3.fake.add('Pod', podFixture('default', 'web-1'));
  s3.fake.failNext('core.deleteNamespacedPod', 403, 5);
  s3.d.dispatch(podEvent(), [rule('r', [kill])]);
  await s3.d.drain();
  assert.equal(s3.fake.callCount('core.deleteNamespacedPod'), 1, 'a 403 is terminal');
  assert.deepEqual(s3.sink.summary(), ['kill:Failed:Forbidden']);
});

test('an action past its timeout fails with Timeout and frees its target for the next item', async () => {
  const hang = probe('t:hang', () => new Promise<ActionResult>(() => undefined));
  const good = probe('t:good', succeed);
  const { d, sink } = setup();
  d.dispatch(podEvent(), [rule('hangs', [action(hang.a, { name: 'hang', timeoutMs: 20 })]), rule('next', [action(good.a, { name: 'after' })])]);
  await d.drain();
  assert.deepEqual(sink.summary(), ['hang:Failed:Timeout', 'after:Succeeded:Done']);
});

test('anything a run throws becomes a failure; retryable when the API said 5xx', async () => {
  let calls = 0;
  const thrower = probe('t:throw', () => {
    calls += 1;
    throw Object.assign(new Error('server'), { code: 500 });
  });
  const { d, sink } = setup({ retry: { attempts: 2, baseMs: 1 } });
  d.dispatch(podEvent(), [rule('r', [action(thrower.a, { name: 'x' })])]);
  await d.drain();
  assert.equal(calls, 2);
  assert.deepEqual(sink.summary(), ['x:Failed:ServerError']);
});

test('a full queue records Skipped/QueueFull instead of dropping silently', async () => {
  let release!: () => void;
  const blocked = new Promise<void>((r) => (release = r));
  const slow = probe('t:slow', async () => {
    await blocked;
    return ok('Done', 'done');
  });
  const { d, sink } = setup({ queue: { concurrency: 1, maxPending: 1 } });
  d.dispatch(podEvent('default', 'a'), [rule('r', [action(slow.a, { name: 's' })])]);
  d.dispatch(podEvent('default', 'b'), [rule('r', [action(slow.a, { name: 's' })])]);
  d.dispatch(podEvent('default', 'c'), [rule('r', [action(slow.a, { name: 's' })])]);
  release();
  await d.drain();
  assert.deepEqual(slow.ran.sort(), ['s@default/a', 's@default/b']);
  assert.deepEqual(sink.summary().sort(), ['s:Skipped:QueueFull', 's:Succeeded:Done', 's:Succeeded:Done']);
});

test('stop() aborts running actions (Failed/Aborted) and refuses new work', async () => {
  const waits = probe('t:wait', ({ signal }) => new Promise<ActionResult>((resolve) => signal.addEventListener('abort', () => resolve(failed('Interrupted', 'interrupted')))));
  const { d, sink } = setup();
  d.dispatch(podEvent(), [rule('r', [action(waits.a, { name: 'w' })])]);
  await d.stop();
  d.dispatch(podEvent('default', 'late'), [rule('r', [action(waits.a, { name: 'late' })])]);
  await d.drain();
  assert.deepEqual(sink.summary(), ['w:Failed:Aborted', 'late:Skipped:ShuttingDown']);
});

test('outcomes carry rule, target with uid, timings and the alert', async () => {
  const { d, sink, fake } = setup();
  const pod = fake.add('Pod', podFixture('default', 'web-1'));
  const kill = action(terminateActionner, { name: 'kill', params: { gracePeriodSeconds: 0, ignoreDaemonSets: false, ignoreStatefulSets: false, ignoreStandalonePods: false } });
  const ev = podEvent();
  d.dispatch(ev, [rule('r', [kill])]);
  await d.drain();
  const o = sink.outcomes[0];
  assert.ok(o);
  assert.deepEqual(o.rule, { kind: 'ClusterTalonRule', namespace: '', name: 'r', uid: 'uid-r' });
  assert.deepEqual(o.target, { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web-1', uid: pod.metadata?.uid });
  assert.equal(o.traceId, ev.traceId);
  assert.equal(o.falcoRule, ev.rule);
  assert.equal(o.actionner, 'kubernetes:terminate');
  assert.ok(o.durationMs >= 0 && o.ingestToActionMs >= 0);
  assert.ok(!Number.isNaN(Date.parse(o.time)));
});
