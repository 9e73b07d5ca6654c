import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { teamsBody } from './teams.js';
import { sampleOutcome } from '../../test/builders.js';

const outcome: Outcome = sampleOutcome({
  rule: { kind: 'ClusterTalonRule', namespace: '', name: 'kill-shells' },
  target: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web-1' },
  message: "the pod 'web-1' in namespace 'shop' has been terminated",
  artifact: { output: 'aws:s3', location: 's3://forensics/a.pcap', bytes: 10, truncated: false },
});

test('an Adaptive Card 1.4 in a Workflows message: coloured headline, message, facts', () => {
  assert.deepEqual(teamsBody(outcome), {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', text: 'Action kill (kubernetes:terminate) of rule kill-shells succeeded on Pod shop/web-1', weight: 'Bolder', size: 'Medium', color: 'Good', wrap: true },
            { type: 'TextBlock', text: "the pod 'web-1' in namespace 'shop' has been terminated", wrap: true },
            {
              type: 'FactSet',
              facts: [
                { title: 'Rule', value: 'kill-shells' },
                { title: 'Action', value: 'kill' },
                { title: 'Actionner', value: 'kubernetes:terminate' },
                { title: 'Result', value: 'Succeeded' },
                { title: 'Reason', value: 'Terminated' },
                { title: 'Target', value: 'Pod shop/web-1' },
                { title: 'Falco rule', value: 'Terminal shell in container' },
                { title: 'Priority', value: 'Warning' },
                { title: 'Event', value: 'A shell was spawned' },
                { title: 'Artifact', value: 'aws:s3 s3://forensics/a.pcap' },
                { title: 'Trace ID', value: 'trace-1' },
              ],
            },
          ],
        },
      },
    ],
  });
});

test('the headline colour says the result', () => {
  const colour = (result: Outcome['result']) => ((teamsBody({ ...outcome, result }) as { attachments: { content: { body: { color?: string }[] } }[] }).attachments[0]!.content.body[0]!.color);
  assert.deepEqual([colour('Succeeded'), colour('Failed'), colour('Skipped'), colour('DryRun')], ['Good', 'Attention', 'Warning', 'Accent']);
});
