import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinActionners } from '../actionners/index.js';
import { OutputRegistry } from '../outputs/registry.js';
import { builtinOutputs } from '../outputs/index.js';
import { ActionnerRegistry } from '../actionners/registry.js';
import type { TalonAction, TalonRule } from '../api/v1alpha1/types.js';
import type { RuleIndex } from '../rules/rule-index.js';
import { RuleController, type ObjectStore } from './rule-controller.js';

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
    this.items.set(`${o.metadata!.namespace}/${o.metadata!.name}`, o);
    return o;
  }
}

function harness() {
  const rules = new Store<TalonRule>();
  const actions = new Store<TalonAction>();
  const patches: { kind: string; name: string; status: Record<string, unknown> }[] = [];
  const events: string[] = [];
  const warnings: string[] = [];
  let failPatch: ((name: string) => unknown) | undefined;
  let index: RuleIndex | undefined;
  const controller = new RuleController({
    rules,
    actions,
    registry: new ActionnerRegistry(builtinActionners()),
    outputs: new OutputRegistry(builtinOutputs()),
    notifiers: new Set(['k8sevents']),
    controlNamespace: NS,
    cloudNamespaces: new Set(),
    defaultTimeoutMs: 1000,
    // The fake API server: a status patch lands on the stored object, as a real one would.
    status: {
      patch: async (kind, namespace, name, status) => {
        const injected = failPatch?.(name);
        if (injected !== undefined) throw injected;
        patches.push({ kind, name, status });
        const store = (kind === 'TalonRule' ? rules : actions) as Store<TalonRule | TalonAction>;
        const o = store.get(namespace, name);
        if (o) store.put({ ...o, status: { ...(o.status as object), ...status } } as TalonRule);
      },
    },
    events: { emit: (regarding, _related, note, kind) => events.push(`${regarding.kind} ${regarding.name}: ${kind.type} ${kind.reason}: ${note}`) },
    publish: (i) => (index = i),
    logger: { info: () => undefined, warn: (msg, meta) => warnings.push(`${msg} ${String(meta?.key)} ${String(meta?.code ?? '')}`), debug: () => undefined },
  });
  return { rules, actions, patches, events, warnings, controller, index: () => index, failPatch: (f: typeof failPatch) => (failPatch = f) };
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
  h.controller.onRule('add', r);
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

  h.controller.onAction('add', h.actions.put(action('lbl')));
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Ready')?.status, 'True');
  assert.equal(h.index()?.size, 1);

  const a = h.actions.get(NS, 'lbl')!;
  h.actions.items.delete(`${NS}/lbl`);
  h.controller.onAction('delete', a);
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
  h.controller.onRule('update', cur, cur);
  await settle();
  assert.equal(h.patches.length, n);

  const next = h.rules.put({ ...cur, metadata: { ...cur.metadata, generation: 2 } } as TalonRule);
  h.controller.onRule('update', next, cur);
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
  h.controller.onRule('delete', r);
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
  h.controller.onRule('update', fixed, bad);
  await settle();
  assert.equal(cond(h.rules.get(NS, 'r1'), 'Ready')?.status, 'True');
  assert.deepEqual(h.events.slice(1), ['TalonRule r1: Normal Loaded: loaded as a cluster rule']);
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
  assert.ok(h.warnings.some((w) => w.startsWith('reconcile failed; not retrying until the object changes rule:talon-system/r1 Invalid')), h.warnings.join('\n'));
  assert.equal(r2Calls, 2, 'the 503 was retried');
  assert.equal(cond(h.rules.get(NS, 'r2'), 'Ready')?.status, 'True');
  assert.ok(h.controller.isLoaded());
});
