import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { webhookBody } from './webhook.js';
import { lokiBody, unixNanos } from './loki.js';
import { elasticsearchDocument, indexName, indexTemplateBody } from './elasticsearch.js';
import { sampleOutcome } from '../../test/builders.js';

const outcome: Outcome = sampleOutcome({
  objects: [{ kind: 'Pod', namespace: 'shop', name: 'web-1' }],
  alert: { time: '2024-03-05T10:11:12.000Z', source: 'syscall', hostname: 'node-1', output: 'A shell was spawned', uuid: 'uuid-1' },
  artifact: { output: 'local:file', location: '/var/talon/a.log', bytes: 10, truncated: false },
});

const record = {
  time: '2024-03-05T10:11:12.345Z',
  traceId: 'trace-1',
  result: 'Succeeded',
  reason: 'Terminated',
  message: 'terminated',
  rule: { kind: 'TalonRule', namespace: 'shop', name: 'kill-shells' },
  action: 'kill',
  actionner: 'kubernetes:terminate',
  target: { kind: 'Pod', namespace: 'shop', name: 'web-1' },
  alert: { rule: 'Terminal shell in container', priority: 'Warning', time: '2024-03-05T10:11:12.000Z', source: 'syscall', hostname: 'node-1', output: 'A shell was spawned', uuid: 'uuid-1' },
  durationMs: 12,
  artifact: { output: 'local:file', location: '/var/talon/a.log', bytes: 10, truncated: false },
};

test('webhook: the notification record, with trace id, rule identity, alert and artifact', () => {
  assert.deepEqual(webhookBody(outcome), record);
});

test('webhook: a cluster rule and no target; no alert or artifact', () => {
  const o = { ...outcome, rule: { namespace: '', name: 'global' }, target: { kind: 'None', name: '' }, alert: undefined, artifact: undefined } as unknown as Outcome;
  const { artifact: _a, ...rest } = record;
  assert.deepEqual(webhookBody(o), { ...rest, rule: { kind: 'ClusterTalonRule', name: 'global' }, target: { kind: 'None' }, alert: { rule: 'Terminal shell in container', priority: 'Warning' } });
});

test('loki: four bounded labels, the record as the line, the outcome time in ns', () => {
  assert.deepEqual(lokiBody(outcome), {
    streams: [
      {
        stream: { result: 'Succeeded', rule: 'shop/kill-shells', actionner: 'kubernetes:terminate', namespace: 'shop' },
        values: [['1709633472345000000', JSON.stringify(record)]],
      },
    ],
  });
  const node = lokiBody({ ...outcome, rule: { namespace: '', name: 'cordon' }, target: { kind: 'Node', name: 'node-1' } });
  assert.deepEqual(node.streams[0]?.stream, { result: 'Succeeded', rule: 'cordon', actionner: 'kubernetes:terminate' }, 'no namespace label for a cluster-scoped target; never a pod name');
  assert.equal(unixNanos('not a time'), '0');
});

test('elasticsearch: dated index names in UTC, the document, the template', () => {
  assert.equal(indexName('talon', 'daily', '2024-03-05T23:59:59.999-02:00'), 'talon-2024.03.06');
  assert.equal(indexName('talon', 'monthly', outcome.time), 'talon-2024.03');
  assert.equal(indexName('talon', 'annually', outcome.time), 'talon-2024');
  assert.equal(indexName('talon', 'none', outcome.time), 'talon');
  assert.deepEqual(elasticsearchDocument(outcome), { '@timestamp': '2024-03-05T10:11:12.345Z', ...record });
  const keyword = { type: 'keyword' };
  assert.deepEqual(indexTemplateBody({ index: 'talon', suffix: 'daily', indexTemplate: { create: true, shards: 2, replicas: 0 } }), {
    index_patterns: ['talon-*'],
    template: {
      settings: { number_of_shards: 2, number_of_replicas: 0 },
      mappings: {
        properties: {
          '@timestamp': { type: 'date' },
          time: { type: 'date' },
          traceId: keyword,
          result: keyword,
          reason: keyword,
          message: { type: 'text' },
          rule: { properties: { kind: keyword, namespace: keyword, name: keyword } },
          action: keyword,
          actionner: keyword,
          target: { properties: { kind: keyword, namespace: keyword, name: keyword } },
          alert: { properties: { rule: keyword, priority: keyword, time: { type: 'date' }, source: keyword, hostname: keyword, output: { type: 'text' }, uuid: keyword } },
          durationMs: { type: 'long' },
          artifact: { properties: { output: keyword, location: keyword, bytes: { type: 'long' }, truncated: { type: 'boolean' } } },
        },
      },
    },
  });
  assert.deepEqual((indexTemplateBody({ index: 'talon', suffix: 'none', indexTemplate: { create: true, shards: 1, replicas: 1 } }) as { index_patterns: string[] }).index_patterns, ['talon']);
});
