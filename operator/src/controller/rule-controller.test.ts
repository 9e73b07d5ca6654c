import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinActionners } from '../actionners/index.js';
import { OutputRegistry } from '../outputs/registry.js';
import { builtinOutputs } from '../outputs/index.js';
import { ActionnerRegistry } from '../actionners/registry.js';
import { Type } from '@sinclair/typebox';
import { ok, type Actionner } from '../actionners/types.js';
import type { ClusterTalonAction, ClusterTalonRule, TalonAction, TalonRule } from '../api/v1alpha1/types.js';
import type { RuleIndex } from '../rules/rule-index.js';
import { RuleController, type ObjectStore, type TalonKind } from './rule-controller.js';

const NS = 'talon-system';

class Store<T extends { metadata?: { namespace?: string; name?: string } }> implements ObjectStore<T> {
  readonly items = new Map<string, T>();
  get(namespace: string, name: string): T | undefined {
    return this.items.get(`${namespace}/${name}`);
  }
  list(): T[] {
    return [...this.items.values()];
  }
  put(o: T): T {
    this.items.set(`${o.metadata!.namespace ?? ''}/${o.metadata!.name}`, o);
    return o;
  }
}

function harness(registry: ActionnerRegistry = new ActionnerRegistry(builtinActionners())) {
  const rules = new Store<TalonRule>();
  const actions = new Store<TalonAction>();
  const clusterRules = new Store<ClusterTalonRule>();
  const clusterActions = new Store<ClusterTalonAction>();
  const stores: Record<TalonKind, Store<TalonRule | TalonAction>> = {
    TalonRule: rules,
    TalonAction: actions,
    ClusterTalonRule: clusterRules,
    ClusterTalonAction: clusterActions,
  } as Record<TalonKind, Store<TalonRule | TalonAction>>;
  const patches: { kind: TalonKind; namespace: string; name: string; status: Record<string, unknown> }[] = [];
  const events: string[] = [];
  const warnings: string[] = [];
  let failPatch: ((name: string) => unknown) | undefined;
  let index: RuleIndex | undefined;
  const controller = new RuleController({
    rules,
    actions,
    clusterRules,
    clusterActions,
    registry,
    outputs: new OutputRegistry(builtinOutputs()),
    notifiers: new Set(['k8sevents']),
    cloudNamespaces: new Set(),
    defaultTimeoutMs: 1000,
    // The fake API server: a status patch lands on the stored object, as a real one would.
    status: {
      patch: async (kind, namespace, name, status) => {
        const injected = failPatch?.(name);
        if (injected !== undefined) throw injected;
        patches.push({ kind, namespace, name, status });
        const store = stores[kind];
        const o = store.get(namespace, name);
        if (o) store.put({ ...o, status: { ...(o.status as object), ...status } } as TalonRule);
      },
    },
    events: { emit: (regarding, _related, note, kind) => events.push(`${regarding.kind} ${regarding.name}: ${kind.type} ${kind.reason}: ${note}`) },
    publish: (i) => (index = i),
    logger: { info: () => undefined, warn: (msg, meta) => warnings.push(`${msg} ${String(meta?.key)} ${String(meta?.code ?? '')}`), debug: () => undefined, error: () => undefined },
  });
  return { rules, actions, clusterRules, clusterActions, patches, events, warnings, controller, index: () => index, failPatch: (f: typeof failPatch) => (failPatch = f) };
}

const rule = (name: string, actionRef: string, generation = 1): TalonRule =>
  ({
    apiVersion: 'talon.dev/v1alpha1',
    kind: 'TalonRule',
    metadata: { name, namespace: NS, generation, uid: `uid-${name}` },
    spec: { match: { rules: ['Terminal shell in container'] }, actions: [{ action: actionRef }] },
  }) as unknown as TalonRule;

const action = (name: string, generation = 1): TalonAction =>
  ({
    apiVersion: 'talon.dev/v1alpha1',
    kind: 'TalonAction',
    metadata: { name, namespace: NS, generation },
    spec: { actionner: 'kubernetes:label', parameters: { labels: { a: 'b' } } },
  }) as unknown as TalonAction;

/** A ClusterTalonRule; `ref` names a ClusterTalonAction (the default kind there). */
const clusterRule = (name: string, ref: string, generation = 1): ClusterTalonRule =>
  ({
    apiVersion: 'talon.dev/v1alpha1',
    kind: 'ClusterTalonRule',
    metadata: { name, generation, uid: `uid-c-${name}` },
    spec: { match: { rules: ['Terminal shell in container'] }, actions: [{ action: ref }] },
  }) as unknown as ClusterTalonRule;

const clusterAction = (name: string, actionner = 'kubernetes:label', generation = 1): ClusterTalonAction =>
  ({
    apiVersion: 'talon.dev/v1alpha1',
    kind: 'ClusterTalonAction',
    metadata: { name, generation },
    spec: { actionner, ...(actionner === 'kubernetes:label' ? { parameters: { labels: { a: 'b' } } } : {}) },
  }) as unknown as ClusterTalonAction;

/** A TalonRule in `namespace` referencing a ClusterTalonAction. */
const tenantRuleUsingCluster = (namespace: string, name: string, ref: string): TalonRule =>
  ({
    apiVersion: 'talon.dev/v1alpha1',
    kind: 'TalonRule',
    metadata: { name, namespace, generation: 1, uid: `uid-${namespace}-${name}` },
    spec: { match: { rules: ['Terminal shell in container'] }, actions: [{ action: ref, kind: 'ClusterTalonAction' }] },
  }) as unknown as TalonRule;

async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
}

function cond(o: { status?: { conditions?: { type: string; status: string; reason: string }[] } } | undefined, type: string) {
  return o?.status?.conditions?.find((c) => c.type === type);
}

test('initial sync: rules and actions reconciled, index loaded, conditions written once', async () => {
  const h = harness();
  h.actions.put(action('lbl'));
  h.rules.put(rule('r1', 'lbl'));
  h.controller.start();
  await settle();
  assert.ok(h.controller.isLoaded());
  assert.equal(h.index()?.size, 1);
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Ready')?.status, 'True');
  assert.equal(cond(h.actions.get(NS, 'lbl'), 'Ready')?.status, 'True');
  const before = h.patches.length;
  h.controller.resyncAll();
  await settle();
  assert.equal(h.patches.length, before, 'an unchanged world produces no status writes');
});

test('events before start() are ignored; start() still sees everything', async () => {
  const h = harness();
  const r = h.rules.put(rule('r1', 'lbl'));
  h.controller.onRule('TalonRule', 'add', r);
  await settle();
  assert.equal(h.patches.length, 0);
  h.actions.put(action('lbl'));
  h.controller.start();
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Ready')?.status, 'True');
});

test('a missing reference resolves when the action appears; deleting it unloads the rule', async () => {
  const h = harness();
  h.rules.put(rule('r1', 'lbl'));
  h.controller.start();
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'ResolvedRefs')?.reason, 'ActionNotFound');
  assert.equal(h.index()?.size, 0);

  h.controller.onAction('TalonAction', 'add', h.actions.put(action('lbl')));
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Ready')?.status, 'True');
  assert.equal(h.index()?.size, 1);

  const a = h.actions.get(NS, 'lbl')!;
  h.actions.items.delete(`${NS}/lbl`);
  h.controller.onAction('TalonAction', 'delete', a);
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Ready')?.status, 'False');
  assert.equal(h.index()?.size, 0);
});

test('status-only updates (same generation) do not trigger reconciles; spec changes do', async () => {
  const h = harness();
  h.actions.put(action('lbl'));
  h.rules.put(rule('r1', 'lbl'));
  h.controller.start();
  await settle();
  const n = h.patches.length;
  const cur = h.rules.get(NS, 'r1')!;
  h.controller.onRule('TalonRule', 'update', cur, cur);
  await settle();
  assert.equal(h.patches.length, n);

  const next = h.rules.put({ ...cur, metadata: { ...cur.metadata, generation: 2 } } as TalonRule);
  h.controller.onRule('TalonRule', 'update', next, cur);
  await settle();
  assert.equal(h.patches.length, n + 1);
  assert.equal(h.patches.at(-1)?.status.observedGeneration, 2);
});

test('a deleted rule leaves the index', async () => {
  const h = harness();
  h.actions.put(action('lbl'));
  const r = h.rules.put(rule('r1', 'lbl'));
  h.rules.put(rule('r2', 'lbl'));
  h.controller.start();
  await settle();
  assert.equal(h.index()?.size, 2);
  h.rules.items.delete(`${NS}/r1`);
  h.controller.onRule('TalonRule', 'delete', r);
  await settle();
  assert.equal(h.index()?.size, 1);
  assert.equal(h.index()?.get(`${NS}/r1`), undefined);
});

test('a rejected rule gets one Warning Event with its condition reason; fixed, a Normal one', async () => {
  const h = harness();
  const bad = h.rules.put({
    ...rule('r1', 'lbl'),
    spec: { match: { rules: ['x'] }, actions: [{ name: 'kill', actionner: 'kubernetes:terminate', parameters: { grace_period_seconds: 0 } }] },
  } as unknown as TalonRule);
  h.controller.start();
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Accepted')?.reason, 'InvalidParameters');
  assert.equal(h.events.length, 1);
  assert.match(h.events[0]!, /^TalonRule r1: Warning InvalidParameters: .*unknown parameter 'grace_period_seconds' \(did you mean 'gracePeriodSeconds'\?\)/);

  h.controller.resyncAll();
  await settle();
  assert.equal(h.events.length, 1, 'a reconcile that changes nothing records nothing');

  const fixed = h.rules.put({
    ...h.rules.get(NS, 'r1')!,
    metadata: { ...bad.metadata, generation: 2 },
    spec: { match: { rules: ['x'] }, actions: [{ name: 'kill', actionner: 'kubernetes:terminate', parameters: { gracePeriodSeconds: 0 } }] },
  } as unknown as TalonRule);
  h.controller.onRule('TalonRule', 'update', fixed, bad);
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Ready')?.status, 'True');
  assert.deepEqual(h.events.slice(1), ['TalonRule r1: Normal Loaded: loaded as a tenant rule']);
});

test('a status write the API server refuses (422) is not retried in a loop; a transient one is', async () => {
  const h = harness();
  h.actions.put(action('lbl'));
  h.rules.put(rule('r1', 'lbl'));
  h.rules.put(rule('r2', 'lbl'));
  let r1Calls = 0;
  let r2Calls = 0;
  h.failPatch((name) => {
    if (name === 'r1') return r1Calls++ < 100 ? Object.assign(new Error('status.conditions: Invalid value'), { code: 422 }) : undefined;
    if (name === 'r2') return r2Calls++ < 1 ? Object.assign(new Error('etcd timeout'), { code: 503 }) : undefined;
    return undefined;
  });
  h.controller.start();
  for (let i = 0; i < 500 && cond(h.rules.get(NS, 'r2'), 'Ready')?.status !== 'True'; i++) await new Promise((r) => setTimeout(r, 10));
  // r1 would have been retried by now too (same backoff, [100, 200] ms); give it twice that.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(r1Calls, 1, 'the terminal failure was tried once');
  assert.ok(h.warnings.some((w) => w.startsWith('reconcile failed; not retrying until the object changes TalonRule:talon-system/r1 Invalid')), h.warnings.join('\n'));
  assert.equal(r2Calls, 2, 'the 503 was retried');
  assert.equal(cond(h.rules.get(NS, 'r2'), 'Ready')?.status, 'True');
  assert.ok(h.controller.isLoaded());
});

test('a ClusterTalonRule with its ClusterTalonAction: a cluster rule, conditions patched on the cluster-scoped objects', async () => {
  const h = harness();
  h.clusterActions.put(clusterAction('lbl'));
  h.clusterRules.put(clusterRule('r1', 'lbl'));
  h.controller.start();
  await settle();
  assert.ok(h.controller.isLoaded());
  const r = h.index()?.get('r1');
  assert.deepEqual([r?.kind, r?.scope, r?.namespace], ['ClusterTalonRule', 'cluster', '']);
  const ready = cond(h.clusterRules.get('', 'r1'), 'Ready');
  assert.equal(ready?.status, 'True');
  assert.match((ready as { message?: string } | undefined)?.message ?? '', /cluster rule/);
  assert.equal(cond(h.clusterActions.get('', 'lbl'), 'Ready')?.status, 'True');
  assert.deepEqual(
    h.patches.map((p) => [p.kind, p.namespace, p.name]).sort(),
    [
      ['ClusterTalonAction', '', 'lbl'],
      ['ClusterTalonRule', '', 'r1'],
    ],
  );
});

test("a TalonRule in the operator's own namespace is a tenant rule; a ClusterTalonRule and a TalonRule of one name coexist", async () => {
  const h = harness();
  h.actions.put(action('lbl'));
  h.clusterActions.put(clusterAction('lbl'));
  h.rules.put(rule('r1', 'lbl'));
  h.clusterRules.put(clusterRule('r1', 'lbl'));
  h.controller.start();
  await settle();
  assert.equal(h.index()?.size, 2);
  assert.equal(h.index()?.get(`${NS}/r1`)?.scope, 'tenant');
  assert.equal(h.index()?.get('r1')?.scope, 'cluster');
  assert.match((cond(h.rules.get(NS, 'r1'), 'Ready') as { message?: string } | undefined)?.message ?? '', /tenant rule/);
});

test('a ClusterTalonAction change re-reconciles the rules of either kind that reference it, and only those', async () => {
  const h = harness();
  h.clusterActions.put(clusterAction('shared'));
  h.actions.put(action('shared'));
  h.clusterRules.put(clusterRule('c1', 'shared'));
  h.rules.put(tenantRuleUsingCluster('team-a', 't1', 'shared'));
  h.rules.put(rule('uses-namespaced', 'shared'));
  h.controller.start();
  await settle();
  assert.equal(h.index()?.size, 3);
  const n = h.patches.length;

  // The ClusterTalonAction turns into a node-level actionner: fine for the ClusterTalonRule, refused for the tenant rule.
  const changed = h.clusterActions.put(clusterAction('shared', 'kubernetes:cordon', 2));
  h.controller.onAction('ClusterTalonAction', 'update', changed, clusterAction('shared'));
  await settle();
  assert.equal(cond(h.clusterRules.get('', 'c1'), 'Ready')?.status, 'True');
  const tenant = cond(h.rules.get('team-a', 't1'), 'Accepted');
  assert.deepEqual([tenant?.status, tenant?.reason], ['False', 'ScopeNotAllowed']);
  assert.equal(cond(h.rules.get(NS, 'uses-namespaced'), 'Ready')?.status, 'True', 'references the TalonAction of that name, untouched');
  assert.equal(h.index()?.get('c1')?.actions[0]?.actionner.info.name, 'kubernetes:cordon');
  assert.equal(h.index()?.get('team-a/t1'), undefined);
  assert.equal(h.index()?.size, 2);
  assert.deepEqual(
    h.patches.slice(n).map((p) => `${p.kind} ${p.namespace}/${p.name}`).sort(),
    ['ClusterTalonAction /shared', 'TalonRule team-a/t1'],
    'only the changed action and the rule whose conditions changed are written',
  );

  // Deleting it unloads both rules that use it.
  const gone = h.clusterActions.get('', 'shared')!;
  h.clusterActions.items.delete('/shared');
  h.controller.onAction('ClusterTalonAction', 'delete', gone);
  await settle();
  assert.equal(cond(h.clusterRules.get('', 'c1'), 'ResolvedRefs')?.reason, 'ActionNotFound');
  assert.equal(cond(h.rules.get('team-a', 't1'), 'ResolvedRefs')?.reason, 'ActionNotFound');
  assert.deepEqual(h.index()?.rules().map((r) => r.key), [`${NS}/uses-namespaced`]);
});

test('a deleted ClusterTalonRule leaves the index', async () => {
  const h = harness();
  h.clusterActions.put(clusterAction('lbl'));
  const c = h.clusterRules.put(clusterRule('c1', 'lbl'));
  h.controller.start();
  await settle();
  assert.equal(h.index()?.size, 1);
  h.clusterRules.items.delete('/c1');
  h.controller.onRule('ClusterTalonRule', 'delete', c);
  await settle();
  assert.equal(h.index()?.size, 0);
});

test('an actionner whose init fails leaves its rules not Ready (ActionnerInitFailed); the next reconcile retries it', async () => {
  let inits = 0;
  const cloudy: Actionner = {
    info: { name: 'cloudy:fn', description: 't', requiredFields: [], defaultContinue: true, destructive: false, target: 'pod', output: 'none', rbac: [], example: {} },
    paramsSchema: Type.Object({}, { additionalProperties: false }),
    init: () => {
      inits++;
      if (inits === 1) throw new Error('no credentials found in the chain');
      return { client: true };
    },
    precheck: () => ({ ok: true }),
    run: async () => ok('Labeled', 'done'),
  };
  const registry = new ActionnerRegistry([...builtinActionners(), cloudy]);
  const h = harness(registry);
  h.actions.put({ ...action('fn'), spec: { actionner: 'cloudy:fn' } } as unknown as TalonAction);
  h.rules.put(rule('r1', 'fn'));
  h.actions.put(action('lbl'));
  h.rules.put(rule('r2', 'lbl'));
  h.controller.start();
  await settle();
  const ready = cond(h.rules.get(NS, 'r1'), 'Ready') as { status: string; reason: string; message: string } | undefined;
  assert.deepEqual(ready && { status: ready.status, reason: ready.reason, message: ready.message }, {
    status: 'False',
    reason: 'ActionnerInitFailed',
    message: 'actionner cloudy:fn could not start: no credentials found in the chain',
  });
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Accepted')?.status, 'True');
  assert.equal(cond(h.rules.get(NS, 'r2'), 'Ready')?.status, 'True', 'other rules load');
  assert.equal(h.index()?.size, 1);
  assert.ok(h.warnings.some((w) => w.startsWith('reconcile failed; will retry TalonRule:talon-system/r1')), h.warnings.join('\n'));

  h.controller.resyncAll();
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Ready')?.status, 'True');
  assert.equal(h.index()?.size, 2);
  assert.deepEqual(registry.stateOf('cloudy:fn'), { client: true });
  assert.equal(inits, 2, 'init ran again after the failure, and only then');
  h.controller.stop();
});
