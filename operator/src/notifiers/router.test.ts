import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { TalonError, TerminalError } from '../errors.js';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { EventRecorder, type EventBody, type EventsPort } from '../kube/event-recorder.js';
import { createMetrics, type Metrics, type NotificationResultLabel } from '../observability/metrics.js';
import { builtinNotifiers } from './index.js';
import { metricsSink } from './outcome-metrics.js';
import { NotifierRegistry, type NotifierEndpoint } from './registry.js';
import { RuleStatusAggregator } from './rule-status.js';
import { NotifierRouter, type RouterOptions } from './router.js';
import { fanOutSinks } from './types.js';

function outcome(n = 0, over: Partial<Outcome> = {}): Outcome {
  return {
    time: '2024-01-01T00:00:00.000Z',
    traceId: `t${n}`,
    rule: { namespace: 'shop', name: 'kill-shells', uid: 'rule-uid' },
    action: 'kill',
    actionner: 'kubernetes:terminate',
    target: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: `web-${n}` },
    result: 'Succeeded',
    reason: 'Terminated',
    message: `terminated web-${n}`,
    durationMs: 1,
    ingestToActionMs: 1,
    objects: [],
    falcoRule: 'Terminal shell in container',
    priority: 'Warning',
    merged: 0,
    ...over,
  };
}

function endpoint(name: string, send: NotifierEndpoint['send'], over: Partial<NotifierEndpoint> = {}): NotifierEndpoint {
  return { name, type: 'test', timeoutMs: 60_000, retries: 0, queueSize: 100, concurrency: 4, send, ...over };
}

/** An endpoint that records what it was sent. */
function collector(name: string, over: Partial<NotifierEndpoint> = {}) {
  const got: string[] = [];
  return { got, ep: endpoint(name, async (o) => void got.push(o.traceId), over) };
}

function counted(metrics: Metrics, notifier: string, result: NotificationResultLabel): Promise<number> {
  return metrics.notifications.get().then((m) => m.values.find((v) => v.labels.notifier === notifier && v.labels.result === result)?.value ?? 0);
}

function router(over: Partial<RouterOptions> & Pick<RouterOptions, 'endpoints'>) {
  const metrics = createMetrics({ defaultMetrics: false });
  const warnings: { message: string; fields: Record<string, unknown> }[] = [];
  const log = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (message: string, fields?: Record<string, unknown>) => void warnings.push({ message, fields: fields ?? {} }) };
  const r = new NotifierRouter({ defaults: [], metrics, log, retryBaseMs: 1, retryMaxMs: 2, now: () => 0, ...over });
  return { r, metrics, warnings };
}

test('record returns before any notifier runs; a hanging notifier delays neither record nor another notifier', async () => {
  let hangCalls = 0;
  const hang = endpoint('hang', () => {
    hangCalls += 1;
    return new Promise<void>(() => undefined); // never settles and ignores its signal
  }, { concurrency: 1 });
  const fast = collector('fast');
  const { r, metrics } = router({ endpoints: [hang, fast.ep], defaults: ['hang'] });
  for (let i = 0; i < 3; i++) r.record(outcome(i), { notifiers: ['fast'] });
  assert.equal(hangCalls, 0, 'record only queues');
  assert.deepEqual(fast.got, []);
  await r.idle('fast');
  assert.deepEqual(fast.got, ['t0', 't1', 't2']);
  assert.equal(hangCalls, 1, 'the hanging instance holds its one slot');
  assert.equal(r.pending(), 3);
  await r.close(20);
  assert.equal(r.pending(), 0);
  assert.equal(await counted(metrics, 'fast', 'sent'), 3);
  assert.equal(await counted(metrics, 'hang', 'failed'), 1, 'the running call is abandoned at the close deadline');
  assert.equal(await counted(metrics, 'hang', 'dropped'), 2, 'what never started is dropped');
});

test('the per-call timeout aborts the call through its signal; retries are bounded', async () => {
  let calls = 0;
  let aborted = 0;
  const slow = endpoint(
    'slow',
    (_o, { signal }) =>
      new Promise<void>((_resolve, reject) => {
        calls += 1;
        signal.addEventListener('abort', () => {
          aborted += 1;
          reject(signal.reason as Error);
        });
      }),
    { timeoutMs: 5, retries: 2 },
  );
  const { r, metrics, warnings } = router({ endpoints: [slow], defaults: ['slow'] });
  r.record(outcome());
  await r.idle();
  assert.equal(calls, 3, 'one call and two retries');
  assert.equal(aborted, 3);
  assert.equal(await counted(metrics, 'slow', 'failed'), 1);
  assert.equal(await counted(metrics, 'slow', 'sent'), 0);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]?.message, 'notification failed');
  assert.equal(warnings[0]?.fields.attempts, 3);
  assert.match(String(warnings[0]?.fields.error), /did not answer within 5 ms/);
});

test('a failed call is retried until it succeeds or the retries are spent; a non-retryable TalonError is not retried', async () => {
  const attempts = { flaky: 0, broken: 0, terminal: 0 };
  const flaky = endpoint('flaky', async () => {
    attempts.flaky += 1;
    if (attempts.flaky < 3) throw new Error('503');
  }, { retries: 2 });
  const broken = endpoint('broken', async () => {
    attempts.broken += 1;
    throw new Error('503');
  }, { retries: 1 });
  const terminal = endpoint('terminal', async () => {
    attempts.terminal += 1;
    throw new TerminalError('BadRequest', 'the webhook refused the body');
  }, { retries: 5 });
  const { r, metrics } = router({ endpoints: [flaky, broken, terminal], defaults: ['flaky', 'broken', 'terminal'] });
  r.record(outcome());
  await r.idle();
  assert.deepEqual(attempts, { flaky: 3, broken: 2, terminal: 1 });
  assert.equal(await counted(metrics, 'flaky', 'sent'), 1);
  assert.equal(await counted(metrics, 'broken', 'failed'), 1);
  assert.equal(await counted(metrics, 'terminal', 'failed'), 1);
});

test('a full queue drops for that notifier only, counted, and logged once per interval', async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const stuck: string[] = [];
  const blocked = endpoint('blocked', async (o) => {
    await gate;
    stuck.push(o.traceId);
  }, { queueSize: 2, concurrency: 1 });
  const other = collector('other');
  const { r, metrics, warnings } = router({ endpoints: [blocked, other.ep], defaults: ['blocked', 'other'] });
  for (let i = 0; i < 5; i++) r.record(outcome(i));
  assert.equal(await counted(metrics, 'blocked', 'dropped'), 3);
  assert.equal(await counted(metrics, 'other', 'dropped'), 0);
  const drops = warnings.filter((w) => w.message === 'notification dropped');
  assert.equal(drops.length, 1, 'rate-limited');
  assert.deepEqual([drops[0]?.fields.notifier, drops[0]?.fields.why], ['blocked', 'queue full']);
  await r.idle('other');
  assert.deepEqual(other.got, ['t0', 't1', 't2', 't3', 't4']);
  release();
  await r.idle();
  assert.deepEqual(stuck, ['t0', 't1']);
  assert.equal(await counted(metrics, 'blocked', 'sent'), 2);
});

test("an outcome goes to the rule's notifiers ∪ the defaults, each once", async () => {
  const a = collector('a');
  const b = collector('b');
  const c = collector('c');
  const { r } = router({ endpoints: [a.ep, b.ep, c.ep], defaults: ['a'] });
  assert.deepEqual(r.targets(['b', 'a', 'b']), ['a', 'b']);
  r.record(outcome(1), { notifiers: ['b', 'a', 'b'] });
  r.record(outcome(2));
  await r.idle();
  assert.deepEqual([a.got, b.got, c.got], [['t1', 't2'], ['t1'], []]);
  assert.throws(() => router({ endpoints: [a.ep], defaults: ['nope'] }), /default notifier 'nope' is not a configured instance \(configured: a\)/);
});

test('close flushes what is queued, then refuses (drops) new outcomes', async () => {
  const sent: string[] = [];
  const later = endpoint('later', async (o) => {
    await new Promise((r) => setImmediate(r));
    sent.push(o.traceId);
  }, { concurrency: 1 });
  const { r, metrics } = router({ endpoints: [later], defaults: ['later'] });
  for (let i = 0; i < 3; i++) r.record(outcome(i));
  await r.close(60_000);
  assert.deepEqual(sent, ['t0', 't1', 't2']);
  r.record(outcome(9));
  await r.idle();
  assert.deepEqual(sent, ['t0', 't1', 't2']);
  assert.equal(await counted(metrics, 'later', 'dropped'), 1);
});

/** An events.k8s.io store: what the recorder wrote. */
class EventsStore implements EventsPort {
  readonly bodies: EventBody[] = [];
  async create(_ns: string, body: EventBody): Promise<unknown> {
    this.bodies.push(body);
    return body;
  }
  async patch(): Promise<unknown> {
    return {};
  }
}

/** The operator's outcome wiring: fixed sinks (metrics, rule status) + the router over the real notifier registry. */
async function wiring(defaults: string[]) {
  const metrics = createMetrics({ defaultMetrics: false });
  const port = new EventsStore();
  const events = new EventRecorder({ port, reportingInstance: 'talon-0' });
  const status = new RuleStatusAggregator({ getStatus: async () => ({ status: {} }), patchStatus: async () => '1' });
  const registry = new NotifierRegistry(builtinNotifiers());
  const endpoints = await registry.endpoints({ k8sevents: { type: 'k8sevents', timeoutMs: 1000, retries: 0, queueSize: 10, concurrency: 1, config: {} } }, { log: { debug() {}, info() {}, warn() {}, error() {} }, events });
  const r = new NotifierRouter({ endpoints, defaults, metrics });
  const sink = fanOutSinks([metricsSink(metrics), status, r]);
  const settle = async () => {
    await r.idle();
    await events.idle();
  };
  const actions = async () => (await metrics.actions.get()).values.reduce((n, v) => n + v.value, 0);
  return { sink, port, status, settle, actions };
}

test('defaultNotifiers: [] ⇒ no Events, while rule status and metrics still get the outcome', async () => {
  const none = await wiring([]);
  none.sink.record(outcome(1), { notifiers: [] });
  await none.settle();
  assert.equal(none.port.bodies.length, 0, 'no Event written');
  assert.equal(await none.actions(), 1);
  assert.equal(none.status.view('shop', 'kill-shells')?.results.succeeded, 1);

  const named = await wiring([]);
  named.sink.record(outcome(2), { notifiers: ['k8sevents'] });
  await named.settle();
  assert.deepEqual(named.port.bodies.map((b) => b.regarding.kind).sort(), ['Pod', 'TalonRule'], 'a rule naming k8sevents still gets its Events');

  const byDefault = await wiring(['k8sevents']);
  byDefault.sink.record(outcome(3), { notifiers: [] });
  await byDefault.settle();
  assert.equal(byDefault.port.bodies.length, 2);
});

test('filters: an instance gets only the results it lists, and no DryRun outcome with dryRun: false', async () => {
  const failures = collector('failures', { results: ['Failed', 'Skipped'] });
  const noDry = collector('no-dry', { dryRun: false });
  const all = collector('all');
  const { r, metrics } = router({ endpoints: [failures.ep, noDry.ep, all.ep], defaults: ['failures', 'no-dry', 'all'] });
  r.record(outcome(1, { result: 'Succeeded' }));
  r.record(outcome(2, { result: 'Failed', reason: 'Forbidden' }));
  r.record(outcome(3, { result: 'Skipped', reason: 'BudgetExceeded' }));
  r.record(outcome(4, { result: 'DryRun', reason: 'DryRun' }));
  await r.idle();
  assert.deepEqual(failures.got, ['t2', 't3']);
  assert.deepEqual(noDry.got, ['t1', 't2', 't3']);
  assert.deepEqual(all.got, ['t1', 't2', 't3', 't4']);
  assert.equal(await counted(metrics, 'failures', 'dropped'), 0, 'filtered is not dropped');
});

test("a retryable TalonError's Retry-After is the least delay before the retry; the duration histogram counts each delivery", async () => {
  const at: number[] = [];
  const limited = endpoint('limited', async () => {
    at.push(performance.now());
    if (at.length === 1) throw new TalonError('TooManyRequests', 'HTTP 429', { retryable: true, status: 429, retryAfterMs: 60 });
  }, { retries: 1 });
  const capped = endpoint('capped', async () => {
    throw new TalonError('TooManyRequests', 'HTTP 429', { retryable: true, status: 429, retryAfterMs: 3_600_000 });
  }, { retries: 1 });
  const { r, metrics } = router({ endpoints: [limited, capped], defaults: ['limited', 'capped'], retryAfterMaxMs: 20 });
  r.record(outcome());
  await r.idle();
  assert.equal(at.length, 2);
  assert.ok(at[1]! - at[0]! >= 19, 'waited at least the capped Retry-After (timers may fire up to 1 ms early)');
  assert.equal(await counted(metrics, 'limited', 'sent'), 1);
  assert.equal(await counted(metrics, 'capped', 'failed'), 1, 'an hour-long Retry-After is capped, not waited');
  const h = (await metrics.notificationDuration.get()).values.filter((v) => v.metricName === 'talon_notification_duration_seconds_count');
  assert.deepEqual(h.map((v) => [v.labels.notifier, v.value]).sort(), [['capped', 1], ['limited', 1]]);
});

test('a Retry-After within the cap is waited in full', async () => {
  const at: number[] = [];
  const limited = endpoint('limited', async () => {
    at.push(performance.now());
    if (at.length === 1) throw new TalonError('ServerError', 'HTTP 503', { retryable: true, status: 503, retryAfterMs: 60 });
  }, { retries: 1 });
  const { r } = router({ endpoints: [limited], defaults: ['limited'] });
  r.record(outcome());
  await r.idle();
  assert.ok(at[1]! - at[0]! >= 59, `waited ${at[1]! - at[0]!} ms`);
});

test('a notifier that throws at once, or returns no promise, ends its call like any other; the lane carries on', async () => {
  let thrown = 0;
  const throwing = endpoint('throwing', () => {
    thrown += 1;
    throw new TerminalError('BadRequest', 'refused before any I/O');
  });
  const got: string[] = [];
  const bare = endpoint('bare', ((o: Outcome) => void got.push(o.traceId)) as unknown as NotifierEndpoint['send']);
  const { r, metrics, warnings } = router({ endpoints: [throwing, bare], defaults: ['throwing', 'bare'] });
  for (let i = 0; i < 3; i++) r.record(outcome(i));
  await r.idle();
  assert.equal(thrown, 3);
  assert.equal(await counted(metrics, 'throwing', 'failed'), 3);
  assert.deepEqual(got, ['t0', 't1', 't2']);
  assert.equal(await counted(metrics, 'bare', 'sent'), 3);
  assert.equal(warnings[0]?.fields.error, 'refused before any I/O');
});

test('close at its deadline aborts a call through its signal and wakes a delivery waiting to retry', async () => {
  const signals: AbortSignal[] = [];
  const hanging = endpoint('hanging', (_o, { signal }) => {
    signals.push(signal);
    return new Promise<void>(() => undefined);
  }, { concurrency: 1 });
  let retrying = 0;
  const retryLater = endpoint('later', async () => {
    retrying += 1;
    throw new TalonError('ServerError', 'try later', { retryable: true, retryAfterMs: 60_000 });
  }, { retries: 3 });
  const { r, metrics } = router({ endpoints: [hanging, retryLater], defaults: ['hanging', 'later'], retryAfterMaxMs: 60_000 });
  r.record(outcome(1));
  await new Promise((res) => setTimeout(res, 5));
  const t0 = performance.now();
  await r.close(20);
  assert.ok(performance.now() - t0 < 10_000, 'close does not wait for the retry delay');
  assert.equal(signals.length, 1);
  assert.equal(signals[0]!.aborted, true);
  assert.equal((signals[0]!.reason as Error).name, 'RouterClosed');
  assert.equal(retrying, 1);
  assert.equal(await counted(metrics, 'hanging', 'failed'), 1);
  assert.equal(await counted(metrics, 'later', 'failed'), 1);
});

test('a signal first read after the timeout is already aborted with the timeout', async () => {
  const seen: { aborted: boolean; reason: string }[] = [];
  const late = endpoint('late', async (_o, call) => {
    await new Promise((res) => setTimeout(res, 30));
    seen.push({ aborted: call.signal.aborted, reason: (call.signal.reason as Error | undefined)?.name ?? '' });
  }, { timeoutMs: 5 });
  const { r, metrics } = router({ endpoints: [late], defaults: ['late'] });
  r.record(outcome());
  await r.idle();
  await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(seen, [{ aborted: true, reason: 'NotifyTimeout' }]);
  assert.equal(await counted(metrics, 'late', 'failed'), 1);
});

test('an endpoint with sendNow is delivered in the caller’s turn: counted sent, or failed with a warning when it throws; none after close', async () => {
  const got: string[] = [];
  const now = endpoint('now', async () => assert.fail('send is not used when sendNow is set'), {
    sendNow: (o) => {
      if (o.traceId === 't1') throw new Error('recorder broke');
      got.push(o.traceId);
    },
  });
  const delivered: string[] = [];
  const { r, metrics, warnings } = router({ endpoints: [now], defaults: ['now'], onDelivered: (o, name, result) => void delivered.push(`${o.traceId}:${name}:${result}`) });
  r.record(outcome(0));
  assert.deepEqual(got, ['t0'], 'delivered before record returned');
  assert.equal(r.pending(), 0);
  r.record(outcome(1));
  r.record(outcome(2));
  assert.deepEqual(got, ['t0', 't2'], 'a throw costs only its own outcome');
  assert.deepEqual(delivered, ['t0:now:sent', 't1:now:failed', 't2:now:sent']);
  assert.equal(await counted(metrics, 'now', 'sent'), 2);
  assert.equal(await counted(metrics, 'now', 'failed'), 1);
  assert.deepEqual(
    warnings.map((w) => [w.message, w.fields.error]),
    [['notification failed', 'recorder broke']],
  );
  await r.close(20);
  r.record(outcome(3));
  assert.deepEqual(got, ['t0', 't2'], 'nothing is delivered after close');
  assert.equal(await counted(metrics, 'now', 'dropped'), 1);
});

test('the registry gives a notifier with notifyNow a sendNow endpoint whose context has the instance, config, state and a signal never aborted', async () => {
  const calls: unknown[] = [];
  const registry = new NotifierRegistry([
    {
      type: 'inline',
      description: 'test',
      configSchema: { type: 'object', additionalProperties: false, properties: {} } as never,
      init: () => 'the state',
      notify: async () => assert.fail('notify is not used'),
      notifyNow: (o, ctx) => void calls.push([o.traceId, ctx.instance, ctx.config, ctx.state, ctx.signal.aborted]),
    },
  ]);
  const [ep] = await registry.endpoints({ mine: { type: 'inline', timeoutMs: 1, retries: 0, queueSize: 1, concurrency: 1, config: { a: 1 } } }, {} as never);
  assert.ok(ep?.sendNow);
  ep.sendNow(outcome(7));
  assert.deepEqual(calls, [['t7', 'mine', { a: 1 }, 'the state', false]]);
});
