import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConditionType, Reason, conditionsEqual, findCondition, isConditionTrue, setCondition } from './conditions.js';

const T0 = new Date('2025-01-01T00:00:00.123Z');
const T1 = new Date('2025-01-01T00:05:00Z');

test('a new condition gets now as lastTransitionTime (second precision)', () => {
  const c = setCondition(undefined, { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: '' }, T0);
  assert.deepEqual(c, [
    { type: 'Accepted', status: 'True', reason: 'Valid', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
  ]);
});

test('lastTransitionTime is kept while the status does not flip, even when reason/message change', () => {
  const a = setCondition([], { type: ConditionType.Ready, status: 'False', reason: Reason.NotAccepted, message: 'x' }, T0);
  const b = setCondition(a, { type: ConditionType.Ready, status: 'False', reason: Reason.RefsNotResolved, message: 'y', observedGeneration: 2 }, T1);
  assert.equal(b.length, 1);
  assert.equal(b[0]!.lastTransitionTime, '2025-01-01T00:00:00Z');
  assert.equal(b[0]!.reason, 'RefsNotResolved');
  assert.equal(b[0]!.observedGeneration, 2);
  assert.equal(a[0]!.reason, 'NotAccepted', 'input not modified');
});

test('lastTransitionTime moves when the status flips', () => {
  const a = setCondition([], { type: ConditionType.Ready, status: 'False', reason: Reason.NotAccepted, message: 'x' }, T0);
  const b = setCondition(a, { type: ConditionType.Ready, status: 'True', reason: Reason.Loaded, message: '' }, T1);
  assert.equal(b[0]!.lastTransitionTime, '2025-01-01T00:05:00Z');
  assert.ok(isConditionTrue(b, ConditionType.Ready));
});

test('other conditions are kept in place', () => {
  let c = setCondition([], { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: '' }, T0);
  c = setCondition(c, { type: ConditionType.ResolvedRefs, status: 'True', reason: Reason.Resolved, message: '' }, T0);
  c = setCondition(c, { type: ConditionType.Accepted, status: 'False', reason: Reason.InvalidSpec, message: 'bad' }, T1);
  assert.deepEqual(c.map((x) => x.type), ['Accepted', 'ResolvedRefs']);
  assert.equal(findCondition(c, ConditionType.Accepted)?.reason, 'InvalidSpec');
  assert.equal(findCondition(c, ConditionType.ResolvedRefs)?.lastTransitionTime, '2025-01-01T00:00:00Z');
});

test('setting the same content again is equal (no status patch needed)', () => {
  const a = setCondition([], { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: '', observedGeneration: 1 }, T0);
  const b = setCondition(a, { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: '', observedGeneration: 1 }, T1);
  assert.ok(conditionsEqual(a, b));
});

test('conditionsEqual: order-insensitive, detects any difference', () => {
  let a = setCondition([], { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: '' }, T0);
  a = setCondition(a, { type: ConditionType.Ready, status: 'True', reason: Reason.Loaded, message: '' }, T0);
  assert.ok(conditionsEqual(a, [...a].reverse()));
  assert.ok(conditionsEqual(undefined, []));
  const changedMessage = setCondition(a, { type: ConditionType.Ready, status: 'True', reason: Reason.Loaded, message: 'm' }, T0);
  assert.ok(!conditionsEqual(a, changedMessage));
  const changedGen = setCondition(a, { type: ConditionType.Ready, status: 'True', reason: Reason.Loaded, message: '', observedGeneration: 3 }, T0);
  assert.ok(!conditionsEqual(a, changedGen));
  assert.ok(!conditionsEqual(a, a.slice(0, 1)));
  assert.ok(!conditionsEqual(a.slice(0, 1), [a[1]!]));
});
