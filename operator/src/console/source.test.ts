import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventsV1Event } from '@kubernetes/client-node';
import { cachedSource, toOutcomeEvent, type ConsoleSource } from './source.js';

const base = (over: Partial<EventsV1Event>): EventsV1Event => ({
  eventTime: new Date('2026-11-30T01:00:00.000Z'),
  metadata: { namespace: 'team-a', annotations: { 'talon.dev/trace-id': '0af7651916cd43dd8448eb211c80319c' } },
  reportingController: 'talon.dev/operator',
  reason: 'Succeeded',
  action: 'kubernetes:label',
  note: 'labeled',
  type: 'Normal',
  regarding: { kind: 'Pod', namespace: 'team-a', name: 'web' },
  related: { kind: 'TalonRule', namespace: 'team-a', name: 'r' },
  ...over,
});

test('one outcome per action: the target’s Event, or the rule’s when the alert named no object', () => {
  assert.deepEqual(toOutcomeEvent(base({ series: { count: 3, lastObservedTime: new Date('2026-11-30T01:05:00.000Z') } })), {
    time: '2026-11-30T01:05:00.000Z',
    namespace: 'team-a',
    result: 'Succeeded',
    actionner: 'kubernetes:label',
    note: 'labeled',
    type: 'Normal',
    count: 3,
    regarding: { kind: 'Pod', namespace: 'team-a', name: 'web' },
    rule: { kind: 'TalonRule', namespace: 'team-a', name: 'r' },
    traceId: '0af7651916cd43dd8448eb211c80319c',
  });
  // The rule's twin of a target Event is left out; a rule Event without a target is kept.
  assert.equal(toOutcomeEvent(base({ regarding: { kind: 'TalonRule', namespace: 'team-a', name: 'r' }, related: { kind: 'Pod', namespace: 'team-a', name: 'web' } })), undefined);
  assert.equal(toOutcomeEvent(base({ regarding: { kind: 'ClusterTalonRule', name: 'c' }, related: undefined }))?.rule?.name, 'c');
  // Not outcomes: other controllers, the reconciler's condition Events.
  assert.equal(toOutcomeEvent(base({ reportingController: 'kubelet' })), undefined);
  assert.equal(toOutcomeEvent(base({ reason: 'Ready', action: 'Reconcile' })), undefined);
});

test('rule and Event reads are shared for the TTL; approvals are read afresh; a failed read is not kept', async () => {
  let t = 0;
  const calls = { rules: 0, events: 0, approvals: 0 };
  let fail = true;
  const inner: ConsoleSource = {
    rules: async () => (calls.rules++, []),
    outcomeEvents: async () => {
      calls.events++;
      if (fail) throw new Error('API down');
      return [];
    },
    approvals: async () => (calls.approvals++, { installed: false, items: [] }),
    decide: async () => undefined,
  };
  const s = cachedSource(inner, 2_000, () => t);
  await Promise.all([s.rules(), s.rules()]);
  await s.approvals();
  await s.approvals();
  await assert.rejects(s.outcomeEvents(), /API down/);
  fail = false;
  await s.outcomeEvents();
  t = 1_999;
  await s.rules();
  await s.outcomeEvents();
  assert.deepEqual(calls, { rules: 1, events: 2, approvals: 2 });
  t = 2_000;
  await s.rules();
  assert.equal(calls.rules, 2);
});
