import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'prom-client';
import { createMetrics } from './metrics.js';

test('each call has its own registry, never the global one', async () => {
  const a = createMetrics({ defaultMetrics: false });
  const b = createMetrics({ defaultMetrics: false });
  a.eventsReceived.inc({ result: 'accepted' });
  a.actions.inc({ actionner: 'kubernetes:terminate', result: 'succeeded' });
  a.queueDepth.set(3);
  assert.match(await a.text(), /^talon_events_received_total\{result="accepted"\} 1$/m);
  assert.doesNotMatch(await b.text(), /result="accepted"/);
  assert.equal(register.getMetricsAsArray().length, 0);
});

test('every operator metric is exposed', async () => {
  const m = createMetrics({ defaultMetrics: false });
  const text = await m.text();
  for (const name of [
    'talon_events_received_total',
    'talon_events_deduplicated_total',
    'talon_events_matched_total',
    'talon_rule_matches_total',
    'talon_events_suppressed_total',
    'talon_actions_total',
    'talon_notifications_total',
    'talon_action_duration_seconds',
    'talon_ingest_to_action_seconds',
    'talon_queue_depth',
    'talon_cel_errors_total',
    'talon_events_dropped_total',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
});

test('process metrics are included by default', async () => {
  const text = await createMetrics().text();
  assert.match(text, /^process_cpu_seconds_total /m);
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
});

test('hot counter cells: every increment is in the next read, counted once, beside direct increments', async () => {
  const m = createMetrics({ defaultMetrics: false });
  const dry = m.hot.actions.cell({ actionner: 'kubernetes:label', result: 'dryrun' });
  const sent = m.hot.notifications.cell({ notifier: 'k8sevents', result: 'sent' });
  for (let i = 0; i < 5; i++) dry.inc();
  sent.inc();
  m.actions.inc({ actionner: 'kubernetes:label', result: 'dryrun' });
  assert.match(await m.text(), /^talon_actions_total\{actionner="kubernetes:label",result="dryrun"\} 6$/m);
  assert.match(await m.text(), /^talon_actions_total\{actionner="kubernetes:label",result="dryrun"\} 6$/m, 'a second read adds nothing');
  dry.inc();
  const v = (await m.actions.get()).values.find((x) => x.labels.result === 'dryrun');
  assert.equal(v?.value, 7);
  assert.match(await m.text(), /^talon_notifications_total\{notifier="k8sevents",result="sent"\} 1$/m);
  m.hot.ruleMatches.cell({ scope: 'tenant' }).inc();
  assert.match(await m.text(), /^talon_rule_matches_total\{scope="tenant"\} 1$/m);
});
