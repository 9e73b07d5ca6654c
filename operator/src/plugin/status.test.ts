import { test } from 'node:test';
import assert from 'node:assert/strict';
import { age, renderStatus, statusCommand, type StatusSnapshot } from './status.js';

const now = new Date('2026-11-30T02:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();
const cond = (status: string, reason: string, message = '', observedGeneration = 1) => ({
  type: 'Ready',
  status: status as 'True',
  reason,
  message,
  observedGeneration,
  lastTransitionTime: ago(600),
});

const snapshot: StatusSnapshot = {
  rules: [
    {
      kind: 'TalonRule',
      metadata: { name: 'tenant', namespace: 'team-a', generation: 2 },
      spec: { actions: [], dryRun: true },
      status: {
        conditions: [cond('True', 'Loaded', 'loaded as a tenant rule', 1)],
        matchedEvents: 1,
        results: { dryRun: 1 },
        lastOutcomes: [{ time: ago(30), falcoRule: 'X', action: 'mark', actionner: 'kubernetes:label', result: 'DryRun', target: { kind: 'Pod', namespace: 'team-a', name: 'web' } }],
      },
    },
    {
      kind: 'ClusterTalonRule',
      metadata: { name: 'shell', generation: 1 },
      spec: { actions: [] },
      status: {
        conditions: [cond('True', 'Loaded')],
        matchedEvents: 7,
        suppressedEvents: 2,
        results: { succeeded: 4, failed: 1 },
        lastMatchedTime: ago(90),
        lastOutcomes: [
          { time: ago(90), falcoRule: 'Terminal shell in container', action: 'kill', actionner: 'kubernetes:terminate', result: 'Succeeded', reason: 'Terminated', message: 'the pod  has\nbeen terminated', target: { kind: 'Pod', namespace: 'default', name: 'kubecon' } },
          { time: ago(4000), falcoRule: 'Terminal shell in container', action: 'kill', result: 'Failed', reason: 'Forbidden' },
        ],
      },
    },
    { kind: 'ClusterTalonRule', metadata: { name: 'broken', generation: 1 }, spec: { actions: [] }, status: { conditions: [cond('False', 'NotAccepted', "actions[0]: unknown actionner 'kubernetes:nope'")] } },
    { kind: 'ClusterTalonRule', metadata: { name: 'new', generation: 1 }, spec: { actions: [], suspend: true } },
  ],
  actions: [{ kind: 'ClusterTalonAction', metadata: { name: 'kill', generation: 3 }, spec: { actionner: 'kubernetes:terminate' }, status: { conditions: [cond('True', 'Valid', '', 2)] } }],
  events: [
    { eventTime: new Date(ago(95)), reportingController: 'talon.dev/operator', reportingInstance: 'x', action: 'kubernetes:terminate', type: 'Normal', reason: 'Succeeded', note: 'the pod has been terminated', regarding: { kind: 'Pod', namespace: 'default', name: 'kubecon' }, metadata: {} },
    { eventTime: new Date(ago(20)), reportingController: 'talon.dev/operator', reportingInstance: 'x', action: 'kubernetes:label', type: 'Warning', reason: 'Failed', note: 'older', series: { count: 3, lastObservedTime: new Date(ago(5)) }, regarding: { kind: 'TalonRule', namespace: 'team-a', name: 'tenant' }, metadata: {} },
  ],
  unreadable: ['TalonActions: talonactions.talon.dev is forbidden: User "u" cannot list resource "talonactions"'],
};

test('status: rules of both scopes with readiness and counters, why a rule is not ready, outcomes and Events newest first', () => {
  const text = renderStatus(snapshot, now, 10);
  assert.match(text, /^RULES \(4\)$/m);
  assert.match(text, /^ClusterTalonRule +shell +True +7 +2 +4 +1 +0 +90s ago$/m);
  assert.match(text, /^TalonRule +team-a +tenant +True \(generation 1 of 2\) +yes +1 +0 +0 +0 +0 +-$/m);
  assert.match(text, /^ClusterTalonRule +new +- +yes +0/m);
  assert.match(text, /^ClusterTalonAction +kill +kubernetes:terminate +True \(generation 2 of 3\)$/m);
  assert.match(text, /^NOT READY \(2\)\n {2}ClusterTalonRule broken: NotAccepted: actions\[0\]: unknown actionner 'kubernetes:nope'\n {2}ClusterTalonRule new: no Ready condition yet/m);
  const outcomes = text.slice(text.indexOf('RECENT OUTCOMES'), text.indexOf('RECENT EVENTS')).trimEnd().split('\n');
  assert.equal(outcomes[0], 'RECENT OUTCOMES (3 of 3, newest first)');
  assert.match(outcomes[2]!, /^30s +TalonRule team-a\/tenant +mark \(kubernetes:label\) +Pod team-a\/web +DryRun$/);
  assert.match(outcomes[3]!, /^90s +ClusterTalonRule shell +kill \(kubernetes:terminate\) +Pod default\/kubecon +Succeeded\/Terminated +the pod has been terminated$/);
  assert.match(outcomes[4]!, /^66m +ClusterTalonRule shell +kill +- +Failed\/Forbidden$/);
  const events = text.slice(text.indexOf('RECENT EVENTS')).split('\n');
  assert.equal(events[0], 'RECENT EVENTS (2 of 2, newest first)');
  assert.match(events[2]!, /^5s +Warning +Failed +TalonRule team-a\/tenant +3 +older$/);
  assert.match(events[3]!, /^95s +Normal +Succeeded +Pod default\/kubecon +1 +the pod has been terminated$/);
  assert.match(text, /NOT READABLE WITH YOUR CREDENTIALS\n {2}TalonActions: talonactions.talon.dev is forbidden/);
});

test('status: --outcomes limits outcomes and Events; none says none', () => {
  const text = renderStatus(snapshot, now, 1);
  assert.match(text, /RECENT OUTCOMES \(1 of 3, newest first\)/);
  assert.match(text, /RECENT EVENTS \(1 of 2, newest first\)/);
  const empty = renderStatus({ rules: [], actions: [], events: [], unreadable: [] }, now);
  assert.match(empty, /RECENT OUTCOMES \(0 of 0, newest first\)\n {2}none/);
});

test('age: seconds, minutes, hours, days', () => {
  assert.deepEqual([5, 119, 120, 7199, 7200, 172800].map((s) => age(ago(s), now)), ['5s', '119s', '2m', '119m', '2h', '2d']);
  assert.equal(age(undefined, now), '-');
});

test('status: usage errors exit 2; an unreachable cluster exits 1 with the reason', async () => {
  const c = { out: '', err: '', stdout: (t: string) => void (c.out += t), stderr: (t: string) => void (c.err += t) };
  assert.equal(await statusCommand(['-n', 'a', '-A'], c), 2);
  assert.equal(await statusCommand(['--outcomes', 'x'], c), 2);
  assert.equal(await statusCommand(['--nope'], c), 2);
  assert.equal(await statusCommand(['--kubeconfig', '/nonexistent/kubeconfig'], c), 1);
  assert.match(c.err, /kubeconfig: .*nonexistent/);
});
