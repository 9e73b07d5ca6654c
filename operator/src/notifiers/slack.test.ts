import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { slackBody } from './slack.js';
import { sampleOutcome } from '../../test/builders.js';

const outcome: Outcome = sampleOutcome({
  result: 'Failed',
  reason: 'Forbidden',
  message: 'missing RBAC permission: delete pods <x> & `y`',
  alert: { time: '2024-03-05T10:11:12.000Z', source: 'syscall', hostname: 'node-1', output: 'A shell was spawned (user=root)' },
  artifact: { output: 'local:file', location: '/var/talon/a.log', bytes: 10, truncated: false },
});
const config = { format: 'long' as const, username: 'Talon', iconUrl: 'https://icon.example/claw.jpg', footer: 'talon-operator' };

test('long format: headline, one field per fact, red for a failure, footer', () => {
  assert.deepEqual(slackBody(outcome, config), {
    text: 'Action `kill` (kubernetes:terminate) of rule `shop/kill-shells` failed on Pod shop/web-1',
    username: 'Talon',
    icon_url: 'https://icon.example/claw.jpg',
    attachments: [
      {
        fallback: 'Action kill (kubernetes:terminate) of rule shop/kill-shells failed on Pod shop/web-1',
        color: '#e20b0b',
        fields: [
          { title: 'Rule', value: '`shop/kill-shells`', short: false },
          { title: 'Action', value: '`kill`', short: true },
          { title: 'Actionner', value: '`kubernetes:terminate`', short: true },
          { title: 'Result', value: '`Failed`', short: true },
          { title: 'Reason', value: '`Forbidden`', short: true },
          { title: 'Target', value: '`Pod shop/web-1`', short: false },
          { title: 'Falco rule', value: '`Terminal shell in container`', short: true },
          { title: 'Priority', value: '`Warning`', short: true },
          { title: 'Event', value: '`A shell was spawned (user=root)`', short: false },
          { title: 'Message', value: "`missing RBAC permission: delete pods &lt;x&gt; &amp; 'y'`", short: false },
          { title: 'Artifact', value: '`local:file /var/talon/a.log`', short: false },
          { title: 'Trace ID', value: '`trace-1`', short: false },
        ],
        footer: 'talon-operator',
      },
    ],
  });
});

test('short format: one line; colours by result; a cluster rule without target; empty username/icon/footer are left out', () => {
  const o: Outcome = { ...outcome, rule: { kind: 'ClusterTalonRule', namespace: '', name: 'isolate' }, target: { kind: 'None', name: '' }, result: 'Succeeded', reason: 'Labeled', message: 'done', alert: undefined, artifact: undefined } as unknown as Outcome;
  assert.deepEqual(slackBody(o, { ...config, format: 'short', username: '', iconUrl: '' }), {
    attachments: [{ fallback: 'Action kill (kubernetes:terminate) of rule isolate succeeded on none', color: '#23ba47', text: 'Action `kill` (kubernetes:terminate) of rule `isolate` succeeded on none: `done` (trace `trace-1`)' }],
  });
  const colour = (result: Outcome['result']) => slackBody({ ...outcome, result }, { ...config, footer: '' }).attachments[0]?.color;
  assert.deepEqual([colour('Succeeded'), colour('Failed'), colour('Skipped'), colour('DryRun')], ['#23ba47', '#e20b0b', '#a4a8b1', '#206cff']);
  assert.equal(slackBody(outcome, { ...config, footer: '' }).attachments[0]?.footer, undefined);
  assert.match(slackBody({ ...outcome, result: 'DryRun' }, config).text ?? '', /was a dry run \(nothing done\)/);
});
