import { test } from 'node:test';
import assert from 'node:assert/strict';
import { falcoEvent } from '../../test/fakes/kube.js';
import { fanOutSinks, type OutcomeSink } from './types.js';
import { isWarning, type Outcome } from '../api/v1alpha1/outcome.js';

test('fanOutSinks delivers to every sink even when one throws', () => {
  const got: string[] = [];
  const errors: string[] = [];
  const thrower: OutcomeSink = {
    record: () => {
      throw new Error('x');
    },
    matched: () => {
      throw new Error('y');
    },
    suppressed: () => undefined,
  };
  const keeper: OutcomeSink = {
    record: (o) => got.push(`record:${o.action}`),
    matched: (r) => got.push(`matched:${r.name}`),
    suppressed: (r, _e, why) => got.push(`suppressed:${r.name}:${why}`),
  };
  const sink = fanOutSinks([thrower, keeper], (_e, m) => errors.push(m));
  sink.record({ action: 'a' } as Outcome);
  sink.matched({ namespace: 'n', name: 'r' }, falcoEvent({}));
  sink.suppressed({ namespace: 'n', name: 'r' }, falcoEvent({}), 'Cooldown');
  assert.deepEqual(got, ['record:a', 'matched:r', 'suppressed:r:Cooldown']);
  assert.deepEqual(errors, ['record', 'matched']);
});

test('warnings: failures, budget refusals and drops', () => {
  assert.equal(isWarning({ result: 'Failed', reason: 'Forbidden' }), true);
  assert.equal(isWarning({ result: 'Skipped', reason: 'BudgetExceeded' }), true);
  assert.equal(isWarning({ result: 'Skipped', reason: 'QueueFull' }), true);
  assert.equal(isWarning({ result: 'Skipped', reason: 'IgnoredDaemonSet' }), false);
  assert.equal(isWarning({ result: 'DryRun', reason: 'DryRun' }), false);
});
