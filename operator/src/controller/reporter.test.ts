import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setCondition, type NewCondition, type Reason } from '../api/v1alpha1/conditions.js';
import type { Condition } from '../api/v1alpha1/types.js';
import type { EventKind, EventObjectReference } from '../kube/event-recorder.js';
import { Reporter, type ReportedObject } from './reporter.js';

interface Recorded {
  readonly regarding: EventObjectReference;
  readonly note: string;
  readonly kind: EventKind;
}

type Obj = { apiVersion?: string; metadata: { namespace: string; name: string; uid: string; generation: number }; status?: { observedGeneration?: number; conditions?: Condition[] } };

/** A fake API server for one kind: the status patch lands on the stored object; Events are kept. */
function world() {
  const objects = new Map<string, Obj>();
  const events: Recorded[] = [];
  let patches = 0;
  let failNext = false;
  const reporter = (r?: Reporter<'TalonRule' | 'ClusterTalonRule'>) =>
    r ??
    new Reporter<'TalonRule' | 'ClusterTalonRule'>({
      status: {
        patch: async (_kind, namespace, name, status) => {
          if (failNext) {
            failNext = false;
            throw Object.assign(new Error('unavailable'), { code: 503 });
          }
          patches++;
          const o = objects.get(`${namespace}/${name}`);
          if (o) objects.set(`${namespace}/${name}`, { ...o, status: { ...o.status, ...(status as Obj['status']) } });
        },
      },
      events: { emit: (regarding, _related, note, kind) => events.push({ regarding, note, kind }) },
    });
  return {
    objects,
    events,
    reporter,
    patches: () => patches,
    failNextPatch: () => (failNext = true),
    put: (o: Obj) => objects.set(`${o.metadata.namespace}/${o.metadata.name}`, o),
    get: (namespace: string, name: string) => objects.get(`${namespace}/${name}`)!,
  };
}

const T1 = '2025-01-01T00:01:00Z';

/** The conditions the rule controller writes: Accepted, ResolvedRefs, Ready. */
function conditions(prev: ReportedObject, state: 'ready' | { type: 'Accepted' | 'ResolvedRefs'; reason: Reason; message: string }, now = T1): Condition[] {
  const g = prev.metadata?.generation ?? 0;
  const set = (list: Condition[], c: NewCondition) => setCondition(list, { ...c, observedGeneration: g }, now);
  let list = [...(prev.status?.conditions ?? [])];
  if (state === 'ready') {
    list = set(list, { type: 'Accepted', status: 'True', reason: 'Valid', message: '' });
    list = set(list, { type: 'ResolvedRefs', status: 'True', reason: 'Resolved', message: '' });
    return set(list, { type: 'Ready', status: 'True', reason: 'Loaded', message: 'loaded as a tenant rule' });
  }
  const accepted = state.type === 'Accepted';
  list = set(list, accepted ? { type: 'Accepted', status: 'False', reason: state.reason, message: state.message } : { type: 'Accepted', status: 'True', reason: 'Valid', message: '' });
  list = set(list, accepted ? { type: 'ResolvedRefs', status: 'True', reason: 'Resolved', message: '' } : { type: 'ResolvedRefs', status: 'False', reason: state.reason, message: state.message });
  return set(list, { type: 'Ready', status: 'False', reason: accepted ? 'NotAccepted' : 'RefsNotResolved', message: state.message });
}

const rule = (name = 'kill', generation = 1): Obj => ({ apiVersion: 'talon.dev/v1alpha1', metadata: { namespace: 'shop', name, uid: `uid-${name}`, generation } });
const badParams = { type: 'Accepted' as const, reason: 'InvalidParameters' as const, message: "actions[0] kubernetes:terminate: unknown parameter 'grace_period_seconds' (did you mean 'gracePeriodSeconds'?)" };

test('a rule that becomes rejected gets one Warning Event: the condition reason, its message as note', async () => {
  const w = world();
  const r = w.reporter();
  w.put(rule());
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  assert.equal(w.patches(), 1);
  assert.equal(w.get('shop', 'kill').status?.conditions?.find((c) => c.type === 'Accepted')?.reason, 'InvalidParameters');
  assert.deepEqual(w.events, [
    {
      regarding: { apiVersion: 'talon.dev/v1alpha1', kind: 'TalonRule', namespace: 'shop', name: 'kill', uid: 'uid-kill' },
      note: badParams.message,
      kind: { reason: 'InvalidParameters', action: 'Reconcile', type: 'Warning' },
    },
  ]);
});

test('the same condition again writes nothing and records no Event, even for a new generation', async () => {
  const w = world();
  const r = w.reporter();
  w.put(rule());
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  assert.equal(w.patches(), 1);
  assert.equal(w.events.length, 1);

  w.put({ ...w.get('shop', 'kill'), metadata: { ...rule().metadata, generation: 2 } });
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  assert.equal(w.patches(), 2, 'observedGeneration follows');
  assert.equal(w.events.length, 1, 'same rejection: no new Event');
});

test('a changed reason or message is a new Warning; another rejecting condition too', async () => {
  const w = world();
  const r = w.reporter();
  w.put(rule());
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), { ...badParams, message: "actions[0] kubernetes:terminate: unknown parameter 'grace'" }));
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), { type: 'Accepted', reason: 'ScopeNotAllowed', message: 'kubernetes:cordon acts at node level' }));
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), { type: 'ResolvedRefs', reason: 'ActionNotFound', message: "TalonAction 'x' not found" }));
  assert.deepEqual(
    w.events.map((e) => `${e.kind.type} ${e.kind.reason}: ${e.note}`),
    [
      `Warning InvalidParameters: ${badParams.message}`,
      "Warning InvalidParameters: actions[0] kubernetes:terminate: unknown parameter 'grace'",
      'Warning ScopeNotAllowed: kubernetes:cordon acts at node level',
      "Warning ActionNotFound: TalonAction 'x' not found",
    ],
  );
});

test('back to Ready after a rejection: one Normal Event; a first Ready records none', async () => {
  const w = world();
  const r = w.reporter();
  w.put(rule('kill'));
  w.put(rule('fine'));
  await r.setConditions('TalonRule', w.get('shop', 'fine'), conditions(w.get('shop', 'fine'), 'ready'));
  assert.equal(w.events.length, 0, 'a rule Ready from the start is not news');

  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), 'ready'));
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), 'ready'));
  assert.deepEqual(
    w.events.map((e) => `${e.kind.type} ${e.kind.reason}: ${e.note}`),
    [`Warning InvalidParameters: ${badParams.message}`, 'Normal Loaded: loaded as a tenant rule'],
  );
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  assert.equal(w.events.length, 3, 'rejected again: a Warning again');
  assert.equal(w.events[2]?.kind.type, 'Warning');
});

test('after a restart the stored status is the memory: nothing repeated, a recovery still reported', async () => {
  const w = world();
  w.put(rule());
  await w.reporter().setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  assert.equal(w.events.length, 1);

  const restarted = w.reporter();
  await restarted.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  assert.equal(w.events.length, 1);
  await restarted.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), 'ready'));
  assert.deepEqual(w.events.map((e) => e.kind.type), ['Warning', 'Normal']);
});

test('a reconcile that reads a stale cache rewrites the status but does not repeat the Event', async () => {
  const w = world();
  const r = w.reporter();
  w.put(rule());
  const stale = w.get('shop', 'kill');
  await r.setConditions('TalonRule', stale, conditions(stale, badParams));
  await r.setConditions('TalonRule', stale, conditions(stale, badParams));
  assert.equal(w.patches(), 2);
  assert.equal(w.events.length, 1);
});

test('a failed status write records no Event; the retry records it', async () => {
  const w = world();
  const r = w.reporter();
  w.put(rule());
  w.failNextPatch();
  await assert.rejects(r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams)), /unavailable/);
  assert.equal(w.events.length, 0);
  await r.setConditions('TalonRule', w.get('shop', 'kill'), conditions(w.get('shop', 'kill'), badParams));
  assert.equal(w.events.length, 1);
});

test('a cluster-scoped object: the Event reference has no namespace', async () => {
  const w = world();
  const r = w.reporter();
  w.put({ apiVersion: 'talon.dev/v1alpha1', metadata: { namespace: '', name: 'global', uid: 'u-g', generation: 1 } });
  await r.setConditions('ClusterTalonRule', w.get('', 'global'), conditions(w.get('', 'global'), badParams));
  assert.deepEqual(w.events[0]?.regarding, { apiVersion: 'talon.dev/v1alpha1', kind: 'ClusterTalonRule', name: 'global', uid: 'u-g' });
});

test('without an event sink the reporter only writes conditions', async () => {
  let patched = 0;
  const r = new Reporter<'TalonRule'>({ status: { patch: async () => void patched++ } });
  const o = rule();
  await r.setConditions('TalonRule', o, conditions(o, badParams));
  assert.equal(patched, 1);
});
