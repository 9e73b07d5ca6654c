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
        patches.push({ kind, name, status });
        const store = (kind === 'TalonRule' ? rules : actions) as Store<TalonRule | TalonAction>;
        const o = store.get(namespace, name);
        if (o) store.put({ ...o, status: { ...(o.status as object), ...status } } as TalonRule);
      },
    },
    publish: (i) => (index = i),
    logger: { info: () => undefined, warn: () => undefined, debug: () => undefined },
  });
  return { rules, actions, patches, controller, index: () => index };
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
