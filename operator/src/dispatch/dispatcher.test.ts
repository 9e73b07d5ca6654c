import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { Artifact } from '../lib/artifact.js';
import { silentLog } from '../lib/log.js';
import { builtinOutputs } from '../outputs/index.js';
import { OutputRegistry } from '../outputs/registry.js';
import { FakeKube, falcoEvent, podFixture } from '../../test/fakes/kube.js';
import { ok, failed, type Actionner, type ActionResult, type OperatorIdentity, type TargetSubject } from '../actionners/types.js';
import { terminateActionner } from '../actionners/kubernetes/terminate.js';
import { deleteActionner } from '../actionners/kubernetes/delete.js';
import { TokenBucketBudget, type Budget } from './budget.js';
import { Cooldowns } from './cooldown.js';
import { Dispatcher, type DispatcherDeps } from './dispatcher.js';
import type { FalcoEvent } from '../falco/event.js';
import { type Outcome, type RuleRef, type SuppressReason } from '../api/v1alpha1/outcome.js';
import { type OutcomeSink } from '../notifiers/types.js';
import { notificationOf } from '../notifiers/notification.js';
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
function probe(name: string, behave: (ctx: { signal: AbortSignal }) => Promise<ActionResult> | ActionResult, opts: { destructive?: boolean; target?: TargetSubject; required?: string[][] } = {}) {
  const ran: string[] = [];
  const a: Actionner = {
    info: {
      name,
      description: 'test',
      requiredFields: opts.required ?? [],
      defaultContinue: true,
      destructive: opts.destructive ?? false,
      target: opts.target ?? 'pod',
      output: 'none',
      rbac: [],
      example: {},
    },
    paramsSchema: Type.Object({}),
    precheck: () => ({ ok: true }),
    run: async (ctx) => {
      const o = ctx.target.object ?? (ctx.target.subject === 'node' ? ctx.target.pod : undefined);
      ran.push(`${ctx.actionName}@${o?.namespace ?? ''}/${o?.name ?? ''}`);
      return behave(ctx);
    },
  };
  return { a, ran };
}

const succeed = () => ok('Labeled', 'done');

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
    active(ruleKey: string, targetKey: string): boolean {
      return (until.get(`${ruleKey}|${targetKey}`) ?? 0) > 0;
    },
    start(ruleKey: string, targetKey: string, ms: number): void {
      until.set(`${ruleKey}|${targetKey}`, ms);
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

test('a failure stops the rule unless ignoreErrors; continue:false stops it whatever the result', async () => {
  const bad = probe('t:bad', () => failed('Forbidden', 'broken'));
  const good = probe('t:good', succeed);
  const { d, sink } = setup();
  d.dispatch(podEvent('default', 'p1'), [rule('stop-on-error', [action(bad.a, { name: 'bad' }), action(good.a, { name: 'after-bad' })])]);
  d.dispatch(podEvent('default', 'p2'), [rule('ignore-errors', [action(bad.a, { name: 'bad-ignored', ignoreErrors: true }), action(good.a, { name: 'after-ignored' })])]);
  d.dispatch(podEvent('default', 'p3'), [rule('no-continue', [action(good.a, { name: 'first', continue: false }), action(good.a, { name: 'never' })])]);
  d.dispatch(podEvent('default', 'p4'), [rule('ignored-but-stop', [action(bad.a, { name: 'bad-stop', ignoreErrors: true, continue: false }), action(good.a, { name: 'never2' })])]);
  await d.drain();
  assert.deepEqual(good.ran.sort(), ['after-ignored@default/p2', 'first@default/p3']);
  assert.deepEqual(sink.summary().sort(), ['bad-ignored:Failed:Forbidden', 'bad-stop:Failed:Forbidden', 'bad:Failed:Forbidden', 'after-ignored:Succeeded:Labeled', 'first:Succeeded:Labeled'].sort());
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
    return ok('Labeled', 'done');
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
  const node = probe('t:node', succeed, { target: 'node' });
  const { d, sink } = setup();
  const tenant = (name: string, a: CompiledAction) => rule(name, [a], { namespace: 'team-a', scope: 'tenant' });
  d.dispatch(podEvent('team-b', 'x'), [tenant('other-ns', action(p.a, { name: 'other' }))]);
  d.dispatch(podEvent('team-a', 'y'), [tenant('own-ns', action(p.a, { name: 'own' }))]);
  d.dispatch(podEvent('team-a', 'z'), [tenant('node-level', action(node.a, { name: 'node' }))]);
  d.dispatch(falcoEvent({ 'ka.target.resource': 'clusterroles', 'ka.target.name': 'admin' }), [tenant('cluster-obj', action(deleteActionner, { name: 'del' }))]);
  await d.drain();
  assert.deepEqual(p.ran, ['own@team-a/y']);
  assert.deepEqual(node.ran, []);
  assert.deepEqual(sink.summary().sort(), ['del:Skipped:OutOfScope', 'node:Skipped:OutOfScope', 'other:Skipped:OutOfScope', 'own:Succeeded:Labeled']);
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
  // The operator's own namespace is protected too; the more specific reason wins.
  assert.deepEqual(sink.summary().sort(), ['del:Skipped:ProtectedNamespace', 'kill:Skipped:ProtectedNamespace', 'kill:Skipped:SelfProtection']);
  const self = setup({ identity: { ...identity, protectedNamespaces: new Set() } });
  self.fake.add('Pod', podFixture('talon-system', 'talon-operator-abc'));
  self.d.dispatch(falcoEvent({ 'k8s.ns.name': 'talon-system', 'k8s.pod.name': 'talon-operator-abc' }), [rule('self', [kill])]);
  await self.d.drain();
  assert.ok(self.fake.get('Pod', 'talon-system', 'talon-operator-abc'));
  assert.deepEqual(self.sink.summary(), ['kill:Skipped:SelfProtection']);
});

const killAll = { gracePeriodSeconds: 0, ignoreDaemonSets: false, ignoreStatefulSets: false, ignoreStandalonePods: false };

/** The alert: a pod in kube-system, and an audited ConfigMap in default. */
const mixedAlert = (extra: Record<string, string> = {}) =>
  falcoEvent({ 'k8s.pod.name': 'coredns-abc', 'k8s.ns.name': 'kube-system', 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': 'default', ...extra });

test('each action is guarded on the object it acts on: terminate of a kube-system pod is refused even when the audited object is elsewhere', async () => {
  const { d, sink, fake } = setup();
  fake.add('Pod', podFixture('kube-system', 'coredns-abc'));
  fake.add('ConfigMap', { metadata: { name: 'x', namespace: 'default' } });
  d.dispatch(mixedAlert(), [rule('wide', [action(terminateActionner, { name: 'kill', params: killAll })])]);
  await d.drain();
  assert.ok(fake.get('Pod', 'kube-system', 'coredns-abc'), 'the kube-system pod must survive');
  assert.equal(fake.callCount('core.deleteNamespacedPod'), 0);
  assert.deepEqual(sink.summary(), ['kill:Skipped:ProtectedNamespace']);
  assert.deepEqual(sink.outcomes[0]?.target, { apiVersion: 'v1', kind: 'Pod', namespace: 'kube-system', name: 'coredns-abc' });
  assert.match(sink.outcomes[0]?.message ?? '', /namespace 'kube-system' is protected: Pod kube-system\/coredns-abc/);

  // The same alert: a delete acts on the audited ConfigMap (not protected), a terminate on the pod.
  const s2 = setup();
  s2.fake.add('Pod', podFixture('kube-system', 'coredns-abc'));
  s2.fake.add('ConfigMap', { metadata: { name: 'x', namespace: 'default' } });
  s2.d.dispatch(mixedAlert(), [rule('both', [action(deleteActionner, { name: 'del' }), action(terminateActionner, { name: 'kill', params: killAll })])]);
  await s2.d.drain();
  assert.deepEqual(s2.sink.summary(), ['del:Succeeded:Deleted', 'kill:Skipped:ProtectedNamespace']);
  assert.deepEqual(s2.sink.outcomes[0]?.target, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'x' });
  assert.equal(s2.fake.get('ConfigMap', 'default', 'x'), undefined);
  assert.ok(s2.fake.get('Pod', 'kube-system', 'coredns-abc'));
});

test('protected cluster objects: system: ClusterRoles, the operator\'s own RBAC and protected Namespaces are never deleted', async () => {
  const { d, sink, fake } = setup({ identity: { ...identity, rbacNames: new Set(['my-talon']) } });
  for (const name of ['system:basic-user', 'my-talon', 'cluster-admin', 'team-reader']) fake.add('ClusterRole', { metadata: { name } });
  fake.add('Namespace', { metadata: { name: 'kube-system' } });
  const del = action(deleteActionner, { name: 'del' });
  const audit = (resource: string, name: string) => falcoEvent({ 'ka.target.resource': resource, 'ka.target.name': name }, { source: 'k8s_audit' });
  d.dispatch(audit('clusterroles', 'system:basic-user'), [rule('r1', [del])]);
  d.dispatch(audit('clusterroles', 'my-talon'), [rule('r2', [del])]);
  d.dispatch(audit('clusterroles', 'cluster-admin'), [rule('r3', [del])]);
  d.dispatch(audit('namespaces', 'kube-system'), [rule('r4', [del])]);
  d.dispatch(audit('clusterroles', 'team-reader'), [rule('r5', [del])]);
  await d.drain();
  const byRule = new Map(sink.outcomes.map((o) => [o.rule.name, `${o.result}/${o.reason}`]));
  assert.deepEqual(Object.fromEntries(byRule), {
    r1: 'Skipped/ProtectedObject',
    r2: 'Skipped/SelfProtection',
    r3: 'Skipped/ProtectedObject',
    r4: 'Skipped/ProtectedNamespace',
    r5: 'Succeeded/Deleted',
  });
  for (const name of ['system:basic-user', 'my-talon', 'cluster-admin']) assert.ok(fake.get('ClusterRole', undefined, name), name);
  assert.ok(fake.get('Namespace', undefined, 'kube-system'));
  assert.equal(fake.get('ClusterRole', undefined, 'team-reader'), undefined);

  // Without a configured name, the operator's own ClusterRole is talon-operator.
  const dflt = setup();
  dflt.fake.add('ClusterRole', { metadata: { name: 'talon-operator' } });
  dflt.d.dispatch(audit('clusterroles', 'talon-operator'), [rule('own', [del])]);
  await dflt.d.drain();
  assert.deepEqual(dflt.sink.summary(), ['del:Skipped:SelfProtection']);
  assert.ok(dflt.fake.get('ClusterRole', undefined, 'talon-operator'));
});

test('tenancy is checked on each action\'s object: OutOfScope even when k8s.ns.name is the rule\'s namespace', async () => {
  const { d, sink, fake } = setup();
  fake.add('Pod', podFixture('team-a', 'p'));
  fake.add('ConfigMap', { metadata: { name: 'cfg', namespace: 'team-b' } });
  const ev = falcoEvent({ 'k8s.ns.name': 'team-a', 'k8s.pod.name': 'p', 'ka.target.resource': 'configmaps', 'ka.target.name': 'cfg', 'ka.target.namespace': 'team-b' });
  const tenant = rule('tenant', [action(deleteActionner, { name: 'del', ignoreErrors: true }), action(terminateActionner, { name: 'kill', params: killAll })], { namespace: 'team-a', scope: 'tenant' });
  d.dispatch(ev, [tenant]);
  await d.drain();
  assert.deepEqual(sink.summary(), ['del:Skipped:OutOfScope', 'kill:Succeeded:Terminated']);
  assert.match(sink.outcomes[0]?.message ?? '', /ConfigMap team-b\/cfg is in namespace 'team-b'; a rule in namespace 'team-a' may only act there/);
  assert.ok(fake.get('ConfigMap', 'team-b', 'cfg'), 'the other namespace\'s ConfigMap survives');
  assert.equal(fake.get('Pod', 'team-a', 'p'), undefined, 'the tenant\'s own pod was acted upon');
});

test('an action whose object the alert does not name is Skipped/MissingFields with no target', async () => {
  const { d, sink } = setup();
  d.dispatch(falcoEvent({ 'ka.target.resource': 'configmaps', 'ka.target.name': 'x' }), [rule('r', [action(terminateActionner, { name: 'kill', params: killAll })])]);
  await d.drain();
  assert.deepEqual(sink.summary(), ['kill:Skipped:MissingFields']);
  assert.deepEqual(sink.outcomes[0]?.target, { kind: 'None', name: '' });
  assert.match(sink.outcomes[0]?.message ?? '', /names no pod and namespace.*which kubernetes:terminate needs/);
});

test('node uses act on the alert pod\'s node, else on the hostname; the outcome names the pod when there is one', async () => {
  const seen = probe('t:node', succeed, { target: 'node' });
  const { d, sink } = setup();
  d.dispatch(podEvent('kube-system', 'kube-proxy-1'), [rule('by-pod', [action(seen.a, { name: 'via-pod' })])]);
  d.dispatch(falcoEvent({}, { hostname: 'node-9' }), [rule('by-host', [action(seen.a, { name: 'via-host' })])]);
  await d.drain();
  // A node is not in a namespace: a pod of a protected namespace does not protect its node.
  assert.deepEqual(seen.ran.sort(), ['via-host@/node-9', 'via-pod@kube-system/kube-proxy-1']);
  const targets = Object.fromEntries(sink.outcomes.map((o) => [o.action, `${o.target.kind}/${o.target.namespace ?? ''}/${o.target.name}`]));
  assert.deepEqual(targets, { 'via-pod': 'Pod/kube-system/kube-proxy-1', 'via-host': 'Node//node-9' });
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
  assert.deepEqual(sink.summary(), ['hang:Failed:Timeout', 'after:Succeeded:Labeled']);
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
    return ok('Labeled', 'done');
  });
  const { d, sink } = setup({ queue: { concurrency: 1, maxPending: 1 } });
  d.dispatch(podEvent('default', 'a'), [rule('r', [action(slow.a, { name: 's' })])]);
  d.dispatch(podEvent('default', 'b'), [rule('r', [action(slow.a, { name: 's' })])]);
  d.dispatch(podEvent('default', 'c'), [rule('r', [action(slow.a, { name: 's' })])]);
  release();
  await d.drain();
  assert.deepEqual(slow.ran.sort(), ['s@default/a', 's@default/b']);
  assert.deepEqual(sink.summary().sort(), ['s:Skipped:QueueFull', 's:Succeeded:Labeled', 's:Succeeded:Labeled']);
});

test('stop() aborts running actions (Failed/Aborted) and refuses new work', async () => {
  const waits = probe('t:wait', ({ signal }) => new Promise<ActionResult>((resolve) => signal.addEventListener('abort', () => resolve(failed('Aborted', 'interrupted')))));
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

test('an action\'s additional contexts reach its run, its outcome and its notifications; other actions get none', async () => {
  const seen: (Readonly<Record<string, string>> | undefined)[] = [];
  const a: Actionner = {
    ...probe('t:ctx', succeed).a,
    run: async (ctx) => {
      seen.push(ctx.contexts);
      return ok('Labeled', 'done');
    },
  };
  const values = { 'node.name': 'node-1', 'node.label.topology.kubernetes.io/zone': 'z1', 'aws.region': 'eu-west-3' };
  const asked: string[][] = [];
  const { d, sink } = setup({
    contexts: {
      fetch: async (names) => {
        asked.push([...names]);
        return { values, problems: [] };
      },
    },
  });
  d.dispatch(podEvent(), [rule('r', [action(a, { name: 'with', additionalContexts: ['k8snode', 'aws'] }), action(a, { name: 'without' })])]);
  await d.drain();
  assert.deepEqual(asked, [['k8snode', 'aws']], 'fetched only for the action that asks');
  assert.deepEqual(seen, [values, undefined]);
  const [withCtx, withoutCtx] = sink.outcomes;
  assert.deepEqual(withCtx?.contexts, values);
  assert.equal(withoutCtx?.contexts, undefined);
  assert.deepEqual(notificationOf(withCtx!).contexts, values);
});

// --- artifacts and outputs -------------------------------------------------------------------

/** A readable that reports whether it was destroyed (released) by someone. */
function trackedArtifact(name: string, text: string): Artifact {
  return { name, contentType: 'text/plain', stream: Readable.from([Buffer.from(text)]), maxBytes: 1024 };
}

async function localFileStore() {
  const dir = mkdtempSync(join(tmpdir(), 'talon-dispatch-artifacts-'));
  const registry = new OutputRegistry(builtinOutputs());
  const store = await registry.open({ 'local:file': { directory: dir } }, { log: silentLog });
  const output = registry.validateParams('local:file', { path: 'logs' }, 'p');
  assert.ok(output.ok);
  return { dir, store, output: { target: 'local:file', parameters: output.params } };
}

test("an artifact goes to the action's output before the outcome is recorded; the location is in the outcome", async () => {
  const { dir, store, output } = await localFileStore();
  try {
    const logs = probe('kubernetes:log', () => ({ ...ok('Labeled', 'collected 2 lines', [{ kind: 'Pod', namespace: 'default', name: 'web-1' }]), artifact: trackedArtifact('web-1.log', 'line 1\nline 2\n') }));
    const { d, sink } = setup({ outputs: store });
    d.dispatch(podEvent(), [rule('collect', [action(logs.a, { name: 'logs', output })])]);
    await d.drain();
    const o = sink.outcomes[0]!;
    assert.deepEqual([o.result, o.reason], ['Succeeded', 'Labeled']);
    assert.ok(o.artifact, 'the outcome carries the location');
    assert.deepEqual({ ...o.artifact, location: '' }, { output: 'local:file', location: '', bytes: 14, truncated: false });
    assert.ok(o.artifact.location.startsWith(join(dir, '_cluster', 'logs') + '/'));
    assert.equal(readFileSync(o.artifact.location, 'utf8'), 'line 1\nline 2\n');
    assert.match(o.message, /^collected 2 lines \(artifact stored by local:file at .*web-1\.log, 14 bytes\)$/);
    assert.deepEqual(o.objects, [{ kind: 'Pod', namespace: 'default', name: 'web-1' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an output failure makes the outcome Failed/ArtifactNotStored, keeping what the action did; nothing crashes', async () => {
  const failing = new OutputRegistry([
    {
      name: 'test:broken',
      description: 'test',
      paramsSchema: Type.Object({}, { additionalProperties: false }),
      configSchema: Type.Object({}, { additionalProperties: false }),
      example: {},
      store: async () => {
        throw new Error('disk full');
      },
    },
  ]);
  const store = await failing.open({}, { log: silentLog });
  const artifact = trackedArtifact('cap.pcap', 'bytes');
  const cap = probe('t:capture', () => ({ ...ok('Isolated', 'captured 5 bytes', [{ kind: 'Pod', namespace: 'default', name: 'web-1' }]), artifact }));
  const after = probe('t:after', succeed);
  const { d, sink } = setup({ outputs: store });
  d.dispatch(podEvent(), [rule('capture', [action(cap.a, { name: 'cap', output: { target: 'test:broken', parameters: {} } }), action(after.a, { name: 'next' })])]);
  await d.drain();
  const o = sink.outcomes[0]!;
  assert.deepEqual([o.result, o.reason], ['Failed', 'ArtifactNotStored']);
  assert.equal(o.message, "captured 5 bytes; its artifact 'cap.pcap' was not stored by test:broken: disk full");
  assert.deepEqual(o.objects, [{ kind: 'Pod', namespace: 'default', name: 'web-1' }]);
  assert.equal(o.artifact, undefined);
  assert.ok(artifact.stream.destroyed);
  assert.deepEqual(after.ran, [], 'a failed action stops the rule, as any failure');
});

test('an output that hangs is cut at the action deadline; the artifact is released', async () => {
  const hanging = new OutputRegistry([
    {
      name: 'test:hang',
      description: 'test',
      paramsSchema: Type.Object({}, { additionalProperties: false }),
      configSchema: Type.Object({}, { additionalProperties: false }),
      example: {},
      store: () => new Promise(() => undefined),
    },
  ]);
  const store = await hanging.open({}, { log: silentLog });
  const artifact = trackedArtifact('cap.pcap', 'bytes');
  const cap = probe('t:capture', () => ({ ...ok('Isolated', 'captured'), artifact }));
  const { d, sink } = setup({ outputs: store });
  d.dispatch(podEvent(), [rule('capture', [action(cap.a, { name: 'cap', timeoutMs: 20, output: { target: 'test:hang', parameters: {} } })])]);
  await d.drain();
  const o = sink.outcomes[0]!;
  assert.deepEqual([o.result, o.reason], ['Failed', 'ArtifactNotStored']);
  assert.match(o.message, /not stored by test:hang: the action did not finish within 20 ms/);
  assert.ok(artifact.stream.destroyed);
});

test('an artifact with no output configured is discarded, never leaked; a superseded attempt’s artifact too', async () => {
  const lone = trackedArtifact('x.log', 'data');
  const noOutput = probe('t:log', () => ({ ...ok('Labeled', 'collected'), artifact: lone }));
  const first = trackedArtifact('try-1.log', 'data');
  let attempt = 0;
  const flaky = probe('t:flaky', () => {
    attempt += 1;
    return attempt === 1 ? { ...failed('Conflict', 'retry me', true), artifact: first } : ok('Labeled', 'collected');
  });
  const { d, sink } = setup();
  d.dispatch(podEvent('default', 'p1'), [rule('no-output', [action(noOutput.a, { name: 'log' })])]);
  d.dispatch(podEvent('default', 'p2'), [rule('retried', [action(flaky.a, { name: 'flaky' })])]);
  await d.drain();
  assert.deepEqual(sink.summary().sort(), ['flaky:Succeeded:Labeled', 'log:Succeeded:Labeled']);
  assert.ok(sink.outcomes.every((o) => o.artifact === undefined));
  assert.ok(lone.stream.destroyed);
  assert.ok(first.stream.destroyed);
});

test('a run knows whether its action has an output (to stream an artifact or put an excerpt in the message)', async () => {
  const { dir, store, output } = await localFileStore();
  try {
    const says = (ctx: { signal: AbortSignal }) => ok('Labeled', (ctx as { hasOutput?: boolean }).hasOutput === true ? 'to the output' : 'excerpt in the message');
    const withOutput = probe('t:with', says);
    const without = probe('t:without', says);
    const { d, sink } = setup({ outputs: store });
    d.dispatch(podEvent(), [rule('r', [action(withOutput.a, { name: 'with', output }), action(without.a, { name: 'without' })])]);
    await d.drain();
    assert.deepEqual(sink.outcomes.map((o) => `${o.action}: ${o.message}`), ['with: to the output', 'without: excerpt in the message']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("each outcome is routed with the rule's notifiers", async () => {
  const routes: string[][] = [];
  const sink: OutcomeSink = { record: (_o, route) => void routes.push([...(route?.notifiers ?? ['<none>'])]), matched: () => undefined, suppressed: () => undefined };
  const p = probe('t:p', succeed);
  const { d } = setup({ sink });
  d.dispatch(podEvent(), [rule('loud', [action(p.a, { name: 'a' })], { notifiers: ['slack-security'] }), rule('quiet', [action(p.a, { name: 'b' })])]);
  await d.drain();
  assert.deepEqual(routes, [['slack-security'], []]);
});

// --- issue 12: retries that outlive outages, cooldown on success, progress, graceful shutdown ---

test('the retry horizon, not the action timeout, bounds retrying: each attempt has its own deadline', async () => {
  let calls = 0;
  // Each attempt fails retryably after 15 ms; the action timeout (30 ms) would have ended a shared deadline after two.
  const flaky = probe('t:flaky', async () => {
    calls += 1;
    await new Promise((r) => setTimeout(r, 15));
    if (calls < 6) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    return ok('Labeled', 'done');
  });
  const { d, sink } = setup({ retry: { horizonMs: 60_000, baseMs: 1, maxMs: 2 } });
  d.dispatch(podEvent(), [rule('r', [action(flaky.a, { name: 'x', timeoutMs: 30 })])]);
  await d.drain();
  assert.equal(calls, 6);
  assert.deepEqual(sink.summary(), ['x:Succeeded:Labeled']);

  let tries = 0;
  const down = probe('t:down', () => {
    tries += 1;
    throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  });
  const s2 = setup({ retry: { horizonMs: 40, baseMs: 5, maxMs: 10 } });
  s2.d.dispatch(podEvent(), [rule('r', [action(down.a, { name: 'y' })])]);
  await s2.d.drain();
  assert.ok(tries >= 2, `retried within the horizon (${tries} attempts)`);
  assert.match(s2.sink.outcomes[0]?.message ?? '', /retry horizon of 0 s is reached/);
});

test('a retrying item keeps its target lane: a later item for the same pod waits, another pod proceeds', async () => {
  let failing = true;
  const order: string[] = [];
  const act = probe('t:act', (ctx) => {
    const who = (ctx as unknown as { target: { object?: { name: string } } }).target.object?.name ?? '';
    if (failing && who === 'a') throw Object.assign(new Error('ECONNREFUSED'), { code: 'ECONNREFUSED' });
    order.push(who);
    return ok('Labeled', 'done');
  });
  const { d } = setup({ retry: { horizonMs: 60_000, baseMs: 5, maxMs: 10 } });
  d.dispatch(podEvent('default', 'a'), [rule('first', [action(act.a, { name: 'one' })])]);
  d.dispatch(podEvent('default', 'a'), [rule('second', [action(act.a, { name: 'two' })])]);
  d.dispatch(podEvent('default', 'b'), [rule('first', [action(act.a, { name: 'one' })])]);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(order, ['b'], 'pod b went ahead; the second item of pod a waits behind the retrying one');
  failing = false;
  await d.drain();
  assert.deepEqual(order, ['b', 'a', 'a']);
});

test('the cooldown starts on success only: a failure does not lock the target out', async () => {
  const cooldowns = new Cooldowns();
  let fail = true;
  const act = probe('t:act', () => (fail ? failed('Forbidden', 'denied') : ok('Labeled', 'done')));
  const { d, sink } = setup({ cooldowns });
  const r = rule('cool', [action(act.a, { name: 'x' })], { cooldownMs: 60_000 });
  d.dispatch(podEvent(), [r]);
  await d.drain();
  fail = false;
  d.dispatch(podEvent(), [r]);
  await d.drain();
  d.dispatch(podEvent(), [r]);
  await d.drain();
  assert.deepEqual(sink.summary(), ['x:Failed:Forbidden', 'x:Succeeded:Labeled']);
  assert.deepEqual(sink.suppressions, [{ rule: 'cool', why: 'Cooldown' }]);
});

test('progress: recorded actions are reported before their outcome and skipped on resume; each rule is reported done', async () => {
  const events: string[] = [];
  const a1 = probe('t:one', succeed);
  const a2 = probe('t:two', succeed);
  const sink = new CollectingSink();
  const progress = {
    resumeAt: (_ev: FalcoEvent, rule: string) => (rule === 'resumed' ? 1 : 0),
    actionRecorded: (_ev: FalcoEvent, rule: string, n: number) => void events.push(`${rule.split('/').pop()}:${n}:outcomes=${sink.outcomes.length}`),
    ruleDone: (_ev: FalcoEvent, rule: string) => void events.push(`${rule.split('/').pop()}:done`),
  };
  const { d } = setup({ progress, sink });
  d.dispatch(podEvent(), [rule('fresh', [action(a1.a, { name: 'one' }), action(a2.a, { name: 'two' })]), rule('resumed', [action(a1.a, { name: 'one' }), action(a2.a, { name: 'two' })])]);
  await d.drain();
  assert.deepEqual(events, ['fresh:1:outcomes=0', 'fresh:2:outcomes=1', 'fresh:done', 'resumed:2:outcomes=2', 'resumed:done']);
  assert.deepEqual(a1.ran, ['one@default/web-1'], 'the action recorded before the restart did not run again');
});

test('graceful shutdown: items not started stay pending, a running action past the grace is abandoned, not recorded', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const quick = probe('t:quick', async () => {
    await gate;
    return ok('Labeled', 'done');
  });
  const stuck = probe('t:stuck', ({ signal }) => new Promise<ActionResult>((resolve) => signal.addEventListener('abort', () => resolve(failed('Aborted', 'interrupted')))));
  const done: string[] = [];
  const progress = { resumeAt: () => 0, actionRecorded: () => undefined, ruleDone: (_ev: FalcoEvent, r: string) => void done.push(r.split('/').pop()!) };
  const { d, sink } = setup({ queue: { concurrency: 2, maxPending: 100 }, progress });
  d.dispatch(podEvent('default', 'a'), [rule('quick', [action(quick.a, { name: 'q' })])]);
  d.dispatch(podEvent('default', 'b'), [rule('stuck', [action(stuck.a, { name: 's' })])]);
  d.dispatch(podEvent('default', 'c'), [rule('later', [action(quick.a, { name: 'l' })])]);
  const stopping = d.shutdownGracefully(50);
  release();
  const report = await stopping;
  assert.deepEqual(report, { notStarted: 1, abandoned: 1 });
  assert.deepEqual(sink.summary(), ['q:Succeeded:Labeled'], 'the abandoned action records no outcome');
  assert.deepEqual(done, ['quick']);
  d.dispatch(podEvent('default', 'd'), [rule('late', [action(quick.a, { name: 'late' })])]);
  assert.deepEqual(done, ['quick'], 'a match refused at shutdown stays unfinished (journaled)');
});

// --- escalation ladders (escalation.ts) ------------------------------------------------------

/** An escalation rule whose steps run one probe action each, named step1, step2, …. */
function ladderRule(name: string, steps: { after: number; a: Actionner }[], over: Partial<CompiledRule> = {}): CompiledRule {
  const compiled = steps.map((s, i) => ({ after: s.after, actions: [action(s.a, { name: `step${i + 1}` })] }));
  return rule(name, compiled.flatMap((s) => s.actions), { escalation: { windowMs: 600_000, steps: compiled }, ...over });
}

test('escalation: steps run at their counts, in-between matches are suppressed EscalationWait, outcomes say the step', async () => {
  const p = probe('t:p', succeed);
  const { d, sink } = setup();
  const r = ladderRule('ladder', [{ after: 1, a: p.a }, { after: 3, a: p.a }]);
  for (let i = 0; i < 4; i++) {
    d.dispatch(podEvent('default', 'p1'), [r]);
    await d.drain();
  }
  d.dispatch(podEvent('default', 'p2'), [r]);
  await d.drain();
  assert.deepEqual(p.ran, ['step1@default/p1', 'step2@default/p1', 'step1@default/p2']);
  assert.deepEqual(sink.outcomes.map((o) => [o.target.name, o.escalation]), [
    ['p1', { step: 1, count: 1 }],
    ['p1', { step: 2, count: 3 }],
    ['p2', { step: 1, count: 1 }],
  ]);
  assert.match(sink.outcomes[1]!.message, /^escalation step 2 of 2 \(match 3 for this target within 10m\): done$/);
  assert.deepEqual(sink.suppressions.map((s) => s.why), ['EscalationWait', 'EscalationWait']);
  assert.equal(sink.matches.length, 5);
});

test('escalation with a cooldown: suppressed matches still count, and the step held back runs at the next allowed match', async () => {
  const p = probe('t:p', succeed);
  let open = true;
  const cooldowns = { active: () => !open, start: () => undefined };
  const { d, sink } = setup({ cooldowns });
  const r = ladderRule('ladder-cool', [{ after: 1, a: p.a }, { after: 2, a: p.a }], { cooldownMs: 60_000 });
  d.dispatch(podEvent('default', 'p1'), [r]);
  open = false;
  d.dispatch(podEvent('default', 'p1'), [r]);
  d.dispatch(podEvent('default', 'p1'), [r]);
  open = true;
  d.dispatch(podEvent('default', 'p1'), [r]);
  await d.drain();
  assert.deepEqual(p.ran, ['step1@default/p1', 'step2@default/p1']);
  assert.deepEqual(sink.suppressions.map((s) => s.why), ['Cooldown', 'Cooldown']);
  assert.deepEqual(sink.outcomes.map((o) => o.escalation), [{ step: 1, count: 1 }, { step: 2, count: 4 }]);
});

test('escalation with the destructive budget: a step skipped BudgetExceeded is given back and runs at the next match', async () => {
  let tokens = 0;
  const budget: Budget = { tryTake: () => tokens-- > 0, refund: () => void tokens++ };
  const kill = probe('t:kill', succeed, { destructive: true });
  const { d, sink } = setup({ budget });
  const r = ladderRule('ladder-budget', [{ after: 1, a: kill.a }]);
  d.dispatch(podEvent('default', 'p1'), [r]);
  await d.drain();
  tokens = 1;
  d.dispatch(podEvent('default', 'p1'), [r]);
  await d.drain();
  d.dispatch(podEvent('default', 'p1'), [r]);
  await d.drain();
  assert.deepEqual(sink.summary(), ['step1:Skipped:BudgetExceeded', 'step1:Succeeded:Labeled']);
  assert.deepEqual(kill.ran, ['step1@default/p1']);
  assert.deepEqual(sink.suppressions.map((s) => s.why), ['EscalationWait']);
});

test('escalation: a step queued behind one that starts the cooldown is held back and re-armed, not lost', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = probe('t:slow', async () => {
    await gate;
    return ok('Labeled', 'done');
  });
  const p = probe('t:p', succeed);
  let cooling = false;
  const cooldowns = { active: () => cooling, start: () => void (cooling = true) };
  const { d } = setup({ cooldowns });
  const r = ladderRule('ladder-queued', [{ after: 1, a: slow.a }, { after: 2, a: p.a }], { cooldownMs: 60_000 });
  d.dispatch(podEvent('default', 'p1'), [r]);
  d.dispatch(podEvent('default', 'p1'), [r]);
  release();
  await d.drain();
  assert.deepEqual(p.ran, [], 'step 2 waited behind step 1, whose success started the cooldown');
  cooling = false;
  d.dispatch(podEvent('default', 'p1'), [r]);
  await d.drain();
  assert.deepEqual(p.ran, ['step2@default/p1']);
});

test('outcome lines: info outcomes above the rate are folded into a summary, a Failed outcome always has its own warning', async () => {
  const { OutcomeLog } = await import('../observability/outcome-log.js');
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const put = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields: fields ?? {} });
  const log = { debug: put('debug'), info: put('info'), warn: put('warn'), error: put('error') };
  const outcomeLog = new OutcomeLog(log, { perSecond: 2, now: () => 0, timer: { set: () => 1, clear: () => undefined } });
  const bad = probe('t:bad', () => failed('Forbidden', 'broken'));
  const good = probe('t:good', succeed);
  const { d, sink } = setup({ log, outcomeLog });
  for (let i = 0; i < 6; i++) d.dispatch(podEvent('default', `dry-${i}`), [rule('dry', [action(good.a, { name: 'would' })], { dryRun: true })]);
  for (let i = 0; i < 5; i++) d.dispatch(podEvent('default', `bad-${i}`), [rule('bad', [action(bad.a, { name: 'breaks' })])]);
  await d.stop();
  assert.equal(sink.outcomes.length, 11, 'every outcome still reaches the sinks');
  const outcomeLines = lines.filter((l) => l.message === 'action outcome');
  assert.deepEqual(outcomeLines.filter((l) => l.level === 'warn').map((l) => l.fields.result), ['Failed', 'Failed', 'Failed', 'Failed', 'Failed']);
  assert.equal(outcomeLines.filter((l) => l.level === 'info').length, 2);
  const summary = lines.filter((l) => l.message === 'action outcomes folded');
  assert.equal(summary.length, 1, 'stop() writes the summary');
  assert.deepEqual(summary[0]!.fields.outcomes, [{ rule: 'dry', action: 'would', result: 'DryRun', reason: 'DryRun', count: 4 }]);
});
