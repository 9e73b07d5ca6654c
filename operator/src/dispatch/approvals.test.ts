import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeKube, falcoEvent, podFixture } from '../../test/fakes/kube.js';
import { ruleOf } from '../../test/builders.js';
import { terminateActionner } from '../actionners/kubernetes/terminate.js';
import { ActionnerRegistry } from '../actionners/registry.js';
import { APPROVAL_KEY_LABEL, MANAGED_BY_LABEL, type TalonApproval } from '../api/v1alpha1/approval.js';
import type { Outcome, OutcomeTarget } from '../api/v1alpha1/outcome.js';
import type { CompiledAction, CompiledRule } from '../rules/types.js';
import { TokenBucketBudget } from './budget.js';
import { Dispatcher } from './dispatcher.js';
import { ApprovalExecutor, approvalKey, approvalManifest, approvalNamespace, eventFromApproval, KubeApprovalGate, type ApprovalStorePort } from './approvals.js';

const KILL_PARAMS = { gracePeriodSeconds: 0, ignoreDaemonSets: false, ignoreStatefulSets: false, ignoreStandalonePods: false };
const kill: CompiledAction = Object.freeze({
  name: 'kill',
  actionner: terminateActionner,
  params: KILL_PARAMS,
  continue: false,
  ignoreErrors: false,
  timeoutMs: 5_000,
  additionalContexts: [],
  approval: { expiresAfterMs: 30 * 60_000 },
});
const tenantRule = (over: Partial<CompiledRule> = {}): CompiledRule => ({ ...ruleOf('shell', { namespace: 'shop' }), actions: [kill], ...over });
const podEvent = (pod = 'web-1') => falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': pod, 'evt.time': 1700000000123456789n, 'proc.name': 'bash' });
const podTarget = (pod = 'web-1'): OutcomeTarget => ({ kind: 'Pod', namespace: 'shop', name: pod });

/** A state-based store: created approvals kept in order, names generated like the API server does. */
class MemoryStore implements ApprovalStorePort {
  readonly created: TalonApproval[] = [];
  failWith: Error | undefined;
  async create(namespace: string, body: TalonApproval): Promise<TalonApproval> {
    if (this.failWith) throw this.failWith;
    const stored = { ...body, metadata: { ...body.metadata, namespace, name: `${body.metadata.generateName}${this.created.length}`, uid: `a-${this.created.length}` } };
    this.created.push(stored);
    return stored;
  }
  async uidOf(t: OutcomeTarget): Promise<string | undefined> {
    return t.kind === 'Pod' ? `uid-of-${t.name}` : undefined;
  }
}

function gateWith(store: MemoryStore, cache: TalonApproval[] = [], now = () => 1_000_000) {
  return new KubeApprovalGate({
    store,
    findPending: (ns, key) => cache.find((a) => a.metadata.namespace === ns && a.metadata.labels?.[APPROVAL_KEY_LABEL] === key && a.status?.phase === 'Pending'),
    cached: (ns, name) => cache.some((a) => a.metadata.namespace === ns && a.metadata.name === name),
    clusterNamespace: 'talon-approvals',
    now,
  });
}

test('the gate creates one TalonApproval per (rule, action, target) while it is pending', async () => {
  const store = new MemoryStore();
  const cache: TalonApproval[] = [];
  const gate = gateWith(store, cache);
  const first = await gate.request({ ev: podEvent(), rule: tenantRule(), action: kill, target: podTarget() });
  assert.equal(first.reason, 'ApprovalRequested');
  assert.match(first.message, /TalonApproval shop\/shell-kill-0 created \(kubectl talon approve shell-kill-0 -n shop\); it expires at 1970-01-01T00:46:40\.000Z/);
  // Before the cache shows it, the gate's memory dedups; then the cache does.
  const second = await gate.request({ ev: podEvent(), rule: tenantRule(), action: kill, target: podTarget() });
  assert.equal(second.reason, 'ApprovalPending');
  cache.push({ ...store.created[0]!, status: { phase: 'Pending' } });
  assert.equal((await gate.request({ ev: podEvent(), rule: tenantRule(), action: kill, target: podTarget() })).reason, 'ApprovalPending');
  // Another pod is another approval.
  assert.equal((await gate.request({ ev: podEvent('web-2'), rule: tenantRule(), action: kill, target: podTarget('web-2') })).reason, 'ApprovalRequested');
  // Decided: no longer pending, a new alert asks again.
  cache[0] = { ...cache[0]!, status: { phase: 'Executed' } };
  assert.equal((await gate.request({ ev: podEvent(), rule: tenantRule(), action: kill, target: podTarget() })).reason, 'ApprovalRequested');
  assert.equal(store.created.length, 3);
});

test('a create the API refuses is Failed/ApprovalNotCreated with its error', async () => {
  const store = new MemoryStore();
  store.failWith = Object.assign(new Error('forbidden'), { code: 403, body: { message: 'talonapprovals is forbidden' } });
  const v = await gateWith(store).request({ ev: podEvent(), rule: tenantRule(), action: kill, target: podTarget() });
  assert.equal(v.result, 'Failed');
  assert.equal(v.reason, 'ApprovalNotCreated');
  assert.match(v.message, /could not be created in shop: Forbidden/);
});

test('the manifest records what would run, on what, why, until when; owned by the rule', () => {
  const ev = podEvent();
  const m = approvalManifest({ ev, rule: tenantRule(), action: kill, target: podTarget() }, { namespace: 'shop', key: 'k', expiresAt: '2030-01-01T00:00:00.000Z', targetUid: 'u1' });
  assert.equal(m.metadata.generateName, 'shell-kill-');
  assert.deepEqual(m.metadata.labels, { [MANAGED_BY_LABEL]: 'talon-operator', [APPROVAL_KEY_LABEL]: 'k' });
  assert.deepEqual(m.metadata.ownerReferences, [{ apiVersion: 'talon.dev/v1alpha1', kind: 'TalonRule', name: 'shell', uid: 'uid-shop-shell', controller: true }]);
  assert.deepEqual(m.spec.rule, { kind: 'TalonRule', name: 'shell', namespace: 'shop', uid: 'uid-shop-shell' });
  assert.deepEqual(m.spec.action, { name: 'kill', actionner: 'kubernetes:terminate', parameters: KILL_PARAMS });
  assert.deepEqual(m.spec.target, { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'u1' });
  assert.equal(m.spec.alert.traceId, ev.traceId);
  assert.equal(m.spec.alert.outputFields['evt.time'], '1700000000123456789', 'a big integer is kept exactly, as text');
  // And back: the approved run sees the same fields.
  const back = eventFromApproval(m.spec, 0);
  assert.equal(back.outputFields['k8s.pod.name'], 'web-1');
  assert.equal(back.priorityLevel, ev.priorityLevel);
});

test("tenant rules' approvals go to the target's namespace, cluster rules' to the configured one", () => {
  assert.equal(approvalNamespace({ scope: 'tenant', namespace: 'shop' }, podTarget(), 'talon-approvals'), 'shop');
  assert.equal(approvalNamespace({ scope: 'cluster', namespace: '' }, podTarget(), 'talon-approvals'), 'talon-approvals');
  const r = tenantRule();
  assert.notEqual(approvalKey(r, 'kill', podTarget('a')), approvalKey(r, 'kill', podTarget('b')));
  assert.notEqual(approvalKey(r, 'kill', podTarget('a')), approvalKey(r, 'label', podTarget('a')));
  assert.match(approvalKey(r, 'kill', podTarget('a')), /^[0-9a-f]{40}$/);
});

function dispatcherWith(gate: KubeApprovalGate, budgetPerMinute = Infinity) {
  const fake = new FakeKube();
  const outcomes: Outcome[] = [];
  const d = new Dispatcher({
    queue: { concurrency: 2, maxPending: 100 },
    kube: fake.clients,
    identity: { protectedNamespaces: new Set(['kube-system']) },
    budget: new TokenBucketBudget(budgetPerMinute),
    sink: { record: (o) => void outcomes.push(o), matched: () => undefined, suppressed: () => undefined },
    cooldowns: { active: () => false, start: () => undefined },
    retry: { attempts: 1, baseMs: 1 },
    globalDryRun: false,
    approvals: gate,
  });
  return { fake, outcomes, d };
}

test('the dispatcher runs nothing for an approval-required action; the approved run kills with the recorded parameters', async () => {
  const store = new MemoryStore();
  const { fake, outcomes, d } = dispatcherWith(gateWith(store));
  fake.add('Pod', podFixture('shop', 'web-1'));
  d.dispatch(podEvent(), [tenantRule()]);
  await d.drain();
  assert.ok(fake.get('Pod', 'shop', 'web-1'), 'the pod lives until approved');
  assert.deepEqual(outcomes.map((o) => `${o.result}/${o.reason}`), ['Skipped/ApprovalRequested']);

  const registry = new ActionnerRegistry([terminateActionner]);
  const exec = new ApprovalExecutor({ dispatcher: d, validateParams: (a, p, path) => registry.validateParams(a, p, path) });
  const approval = { ...store.created[0]!, spec: { ...store.created[0]!.spec, decision: 'Approved' as const } };
  const o = await exec.execute(approval, tenantRule());
  assert.equal(`${o.result}/${o.reason}`, 'Succeeded/Terminated');
  assert.equal(fake.get('Pod', 'shop', 'web-1'), undefined, 'the approved terminate deleted the pod');
  assert.equal(o.traceId, approval.spec.alert.traceId, 'the outcome carries the alert trace id');
});

test('an approved run is re-checked: guards and budget apply at run time', async () => {
  const store = new MemoryStore();
  const { fake, d } = dispatcherWith(gateWith(store), 0);
  fake.add('Pod', podFixture('shop', 'web-1'));
  d.dispatch(podEvent(), [tenantRule()]);
  await d.drain();
  const registry = new ActionnerRegistry([terminateActionner]);
  const exec = new ApprovalExecutor({ dispatcher: d, validateParams: (a, p, path) => registry.validateParams(a, p, path) });
  const o = await exec.execute(store.created[0]!, tenantRule());
  assert.equal(`${o.result}/${o.reason}`, 'Skipped/BudgetExceeded');
  assert.ok(fake.get('Pod', 'shop', 'web-1'));
});

test('an approval the rule can no longer honour, or whose rule is suspended, runs nothing; rejected and expired are recorded as Skipped', async () => {
  const store = new MemoryStore();
  const { fake, outcomes, d } = dispatcherWith(gateWith(store));
  fake.add('Pod', podFixture('shop', 'web-1'));
  d.dispatch(podEvent(), [tenantRule()]);
  await d.drain();
  const registry = new ActionnerRegistry([terminateActionner]);
  const exec = new ApprovalExecutor({ dispatcher: d, validateParams: (a, p, path) => registry.validateParams(a, p, path) });
  const a = store.created[0]!;
  const tampered = { ...a, spec: { ...a.spec, action: { ...a.spec.action, parameters: { gracePeriodSeconds: 'now' } } } };
  const bad = await exec.execute(tampered, tenantRule());
  assert.equal(bad.result, 'Skipped');
  assert.match(bad.message, /cannot be honoured: the approved parameters are no longer valid/);
  const renamed = await exec.execute(a, tenantRule({ actions: [{ ...kill, name: 'other' }] }));
  assert.match(renamed.message, /no longer has an action named 'kill'/);
  assert.equal((await exec.execute(a, tenantRule({ suspend: true }))).reason, 'Suspended', 'the kill switch wins over an approval');
  assert.equal(exec.conclude(a, tenantRule(), 'ApprovalRejected', 'no').reason, 'ApprovalRejected');
  assert.equal(exec.conclude(a, tenantRule(), 'ApprovalExpired', 'late').reason, 'ApprovalExpired');
  assert.ok(fake.get('Pod', 'shop', 'web-1'), 'nothing was killed');
  assert.deepEqual(outcomes.slice(1).map((o) => `${o.action}:${o.result}/${o.reason}`), ['kill:Skipped/InvalidParameters', 'kill:Skipped/InvalidParameters', 'kill:Skipped/Suspended', 'kill:Skipped/ApprovalRejected', 'kill:Skipped/ApprovalExpired']);
});
