import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capText, cloudPayload } from './cloud-payload.js';
import type { FalcoEvent } from '../falco/event.js';

const event: FalcoEvent = {
  rule: 'Terminal shell in container',
  priority: 'Warning',
  priorityLevel: 4,
  source: 'syscall',
  time: '2026-11-30T00:00:00.000000000Z',
  hostname: 'node-1',
  output: 'A shell was spawned',
  tags: ['container', 'shell'],
  outputFields: { 'k8s.pod.name': 'web-1', 'k8s.ns.name': 'shop', 'proc.pid': 42, 'fd.rip': null },
  uuid: 'u-1',
  receivedAt: 1,
  traceId: 'trace-7',
};

test('the payload is the alert plus the rule context', () => {
  assert.deepEqual(JSON.parse(JSON.stringify(cloudPayload({ event, rule: { namespace: 'shop', name: 'shells' }, actionName: 'notify-lambda' }, 'aws:lambda'))), {
    rule: 'Terminal shell in container',
    priority: 'Warning',
    source: 'syscall',
    time: '2026-11-30T00:00:00.000000000Z',
    hostname: 'node-1',
    output: 'A shell was spawned',
    tags: ['container', 'shell'],
    outputFields: { 'k8s.pod.name': 'web-1', 'k8s.ns.name': 'shop', 'proc.pid': 42, 'fd.rip': null },
    uuid: 'u-1',
    context: { ruleKind: 'TalonRule', ruleNamespace: 'shop', ruleName: 'shells', action: 'notify-lambda', actionner: 'aws:lambda', traceId: 'trace-7' },
  });
  const cluster = cloudPayload({ event: { ...event, uuid: undefined } as unknown as FalcoEvent, rule: { namespace: '', name: 'all' }, actionName: 'a' }, 'gcp:function');
  assert.equal(cluster.context.ruleKind, 'ClusterTalonRule');
  assert.equal('uuid' in cluster, false);
});

test('capText keeps short texts and cuts long ones on a character boundary', () => {
  assert.equal(capText(Buffer.from('{"ok":true}'), 100), '{"ok":true}');
  assert.equal(capText(Buffer.from('ééé'), 3), 'é… (6 bytes, truncated)');
  assert.equal(capText(Buffer.from('abc'), 0), '… (3 bytes, truncated)');
});
