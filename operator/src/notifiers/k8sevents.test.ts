import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError } from '../../test/fakes/kube.js';
import { type Outcome } from '../api/v1alpha1/outcome.js';
import { EventRecorder, microTime, type EventBody, type EventsPort, type SeriesPatch } from '../kube/event-recorder.js';
import { k8sEventsNotifier, recordOutcomeEvents } from './k8sevents.js';
import { silentLog } from '../lib/log.js';

/** An in-memory events.k8s.io store with API-server semantics for create and merge patch. */
class FakeEvents implements EventsPort {
  readonly events = new Map<string, EventBody>();
  calls = 0;
  failCreates = 0;
  async create(namespace: string, body: EventBody): Promise<EventBody> {
    this.calls += 1;
    await Promise.resolve();
    if (this.failCreates > 0) {
      this.failCreates -= 1;
      throw apiError(500, 'etcd unhappy');
    }
    const key = `${namespace}/${body.metadata.name}`;
    if (this.events.has(key)) throw apiError(409, 'exists');
    if (body.series !== undefined && body.series.count < 2) throw apiError(422, 'series.count must be at least 2');
    this.events.set(key, structuredClone(body));
    return body;
  }
  async patch(namespace: string, name: string, body: SeriesPatch): Promise<EventBody> {
    this.calls += 1;
    await Promise.resolve();
    const e = this.events.get(`${namespace}/${name}`);
    if (!e) throw apiError(404, 'not found');
    e.series = { ...e.series, ...body.series };
    return e;
  }
  /** Occurrences the stored Events stand for: 1 without series, series.count with. */
  count(filter: (e: EventBody) => boolean = () => true): number {
    let n = 0;
    for (const e of this.events.values()) if (filter(e)) n += e.series?.count ?? 1;
    return n;
  }
}

function outcome(over: Partial<Outcome> = {}): Outcome {
  return {
    time: '2024-01-01T00:00:00.000Z',
    traceId: 't',
    rule: { namespace: 'talon-system', name: 'kill-shells', uid: 'rule-uid' },
    action: 'kill',
    actionner: 'kubernetes:terminate',
    target: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'pod-uid' },
    result: 'Succeeded',
    reason: 'Terminated',
    message: "the pod 'web-1' in namespace 'default' has been terminated",
    durationMs: 1,
    ingestToActionMs: 1,
    objects: [],
    falcoRule: 'Terminal shell in container',
    priority: 'Warning',
    merged: 0,
    ...over,
  };
}

const onPod = (e: EventBody) => e.regarding.kind === 'Pod';
const onRule = (e: EventBody) => e.regarding.kind === 'TalonRule';

test('one outcome makes an Event on the target (related: rule) and one on the rule (related: target)', async () => {
  const port = new FakeEvents();
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0', now: () => 1_700_000_000_000 });
  recordOutcomeEvents(rec, outcome());
  await rec.idle();
  const pod = [...port.events.values()].find(onPod);
  const rule = [...port.events.values()].find(onRule);
  assert.ok(pod && rule);
  assert.deepEqual(
    { ...pod, metadata: { namespace: pod.metadata.namespace } },
    {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { namespace: 'default' },
      eventTime: '2023-11-14T22:13:20.000000Z',
      reportingController: 'talon.dev/operator',
      reportingInstance: 'talon-0',
      action: 'kubernetes:terminate',
      reason: 'Succeeded',
      note: "the pod 'web-1' in namespace 'default' has been terminated",
      type: 'Normal',
      regarding: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'pod-uid' },
      related: { apiVersion: 'talon.dev/v1alpha1', kind: 'TalonRule', namespace: 'talon-system', name: 'kill-shells', uid: 'rule-uid' },
    },
  );
  assert.equal(rule.metadata.namespace, 'talon-system');
  assert.deepEqual(rule.related, pod.regarding);
  assert.match(pod.metadata.name, /^web-1\.[0-9a-f]+$/);
});

test('failures and budget refusals are Warnings; an alert without object only gets the rule Event', async () => {
  const port = new FakeEvents();
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0' });
  recordOutcomeEvents(rec, outcome({ result: 'Failed', reason: 'Forbidden' }));
  recordOutcomeEvents(rec, outcome({ result: 'Skipped', reason: 'BudgetExceeded', target: { kind: 'Pod', namespace: 'default', name: 'web-2' } }));
  recordOutcomeEvents(rec, outcome({ result: 'DryRun', reason: 'DryRun', target: { kind: 'None', name: '' } }));
  await rec.idle();
  const types = [...port.events.values()].map((e) => `${e.regarding.kind}:${e.reason}:${e.type}`).sort();
  assert.deepEqual(types, ['Pod:Failed:Warning', 'Pod:Skipped:Warning', 'TalonRule:DryRun:Normal', 'TalonRule:Failed:Warning', 'TalonRule:Skipped:Warning']);
});

test('identical outcomes form a series; a Node target lands in the default namespace', async () => {
  const port = new FakeEvents();
  let t = 0;
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0', now: () => t });
  for (let i = 0; i < 3; i++) {
    t += 1000;
    recordOutcomeEvents(rec, outcome({ target: { kind: 'Node', name: 'node-1' }, message: `cordoned after ${i} attempts` }));
    await rec.idle();
  }
  // Later occurrences are folded until the series' interval has passed; flush() writes them.
  await rec.flush();
  const onNode = [...port.events.values()].filter((e) => e.regarding.kind === 'Node');
  assert.equal(onNode.length, 1);
  assert.equal(onNode[0]?.metadata.namespace, 'default');
  assert.deepEqual(onNode[0]?.series, { count: 3, lastObservedTime: microTime(3000) });
});

test('a different result or a later window starts a new Event', async () => {
  const port = new FakeEvents();
  let t = 0;
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0', now: () => t, windowMs: 60_000 });
  recordOutcomeEvents(rec, outcome());
  recordOutcomeEvents(rec, outcome({ result: 'Failed', reason: 'Forbidden', message: 'nope' }));
  await rec.idle();
  t += 120_000;
  recordOutcomeEvents(rec, outcome());
  await rec.idle();
  assert.equal([...port.events.values()].filter(onPod).length, 3);
  assert.equal(port.count(onPod), 3);
});

test('storm: 10,000 outcomes for one pod take a bounded number of API calls and the series add up to exactly 10,000', async () => {
  const port = new FakeEvents();
  let t = 1_000_000;
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0', now: () => t, burst: 25, refillMs: 5000 });
  const N = 10_000;
  for (let i = 0; i < N; i++) {
    t += 1;
    recordOutcomeEvents(rec, outcome());
    if (i % 50 === 0) await Promise.resolve();
  }
  await rec.idle();
  let flushes = 0;
  while (rec.pending() > 0) {
    t += 5000;
    await rec.flush();
    flushes += 1;
    assert.ok(flushes < 100, 'pending occurrences must drain');
  }
  assert.equal(port.count(onPod), N);
  assert.equal(port.count(onRule), N);
  assert.equal(rec.dropped(), 0);
  const storm = 10; // ms of storm at 1 outcome/ms = 10 s → 2 refills per object
  assert.ok(port.calls <= 2 * (25 + storm + flushes), `API calls: ${port.calls}`);
});

test('an Event that vanished starts a new series; failed writes are retried at the next flush', async () => {
  const port = new FakeEvents();
  let t = 0;
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0', now: () => t });
  recordOutcomeEvents(rec, outcome());
  await rec.idle();
  port.events.clear();
  t += 1000;
  recordOutcomeEvents(rec, outcome());
  await rec.flush();
  assert.equal(port.count(onPod), 1, 'the expired Event is gone; the new one counts the new occurrence');
  port.failCreates = 2;
  t += 1000;
  recordOutcomeEvents(rec, outcome({ message: 'another shape' }));
  await rec.idle();
  assert.equal(rec.pending(), 2);
  t += 5000;
  await rec.flush();
  t += 5000;
  await rec.flush();
  assert.equal(rec.pending(), 0);
  assert.equal(port.count((e) => e.note.includes('another shape')), 2);
});

test("the rule's Events keep pods apart even when their names differ only in digits", async () => {
  const port = new FakeEvents();
  let t = 0;
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0', now: () => t });
  for (const pod of ['b-000', 'b-001', 'b-000']) {
    t += 1000;
    recordOutcomeEvents(rec, outcome({ target: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: pod }, message: `labeled pod ${pod}` }));
    await rec.idle();
  }
  await rec.flush();
  const ruleEvents = [...port.events.values()].filter(onRule);
  assert.equal(ruleEvents.length, 2);
  const byPod = new Map(ruleEvents.map((e) => [e.related?.name, e.series?.count ?? 1]));
  assert.deepEqual(Object.fromEntries(byPod), { 'b-000': 2, 'b-001': 1 });
});

test('the k8sevents notifier writes the same Events through the notifier contract', async () => {
  const port = new FakeEvents();
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0' });
  const state = await k8sEventsNotifier.init!({}, { log: silentLog, events: rec });
  await k8sEventsNotifier.notify(outcome(), { signal: new AbortController().signal, instance: 'k8sevents', config: {}, state });
  await rec.idle();
  assert.deepEqual([...port.events.values()].map((e) => `${e.regarding.kind}:${e.reason}`).sort(), ['Pod:Succeeded', 'TalonRule:Succeeded']);
});

test('the rule’s Event names the target before a note that does not; each target is a series of its own on the rule', async () => {
  const port = new FakeEvents();
  const rec = new EventRecorder({ port, reportingInstance: 'talon-0', now: () => 1_700_000_000_000, seriesIntervalMs: 0 });
  const dry = (pod: string): Outcome =>
    outcome({ result: 'DryRun', reason: 'DryRun', message: 'the rule is in dry-run mode: would run kubernetes:terminate', target: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: pod } });
  for (const pod of ['web-1', 'web-2', 'web-1']) recordOutcomeEvents(rec, dry(pod));
  recordOutcomeEvents(rec, outcome());
  await rec.flush();
  const ruleNotes = [...port.events.values()]
    .filter(onRule)
    .map((e) => `${e.note} ×${e.series?.count ?? 1}`)
    .sort();
  assert.deepEqual(ruleNotes, [
    'Pod default/web-1: the rule is in dry-run mode: would run kubernetes:terminate ×2',
    'Pod default/web-2: the rule is in dry-run mode: would run kubernetes:terminate ×1',
    "the pod 'web-1' in namespace 'default' has been terminated ×1",
  ]);
  assert.deepEqual(
    [...port.events.values()].filter(onPod).map((e) => e.note).sort(),
    ["the pod 'web-1' in namespace 'default' has been terminated", 'the rule is in dry-run mode: would run kubernetes:terminate', 'the rule is in dry-run mode: would run kubernetes:terminate'],
  );
});
