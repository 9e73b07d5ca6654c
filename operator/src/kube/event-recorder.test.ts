import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventRecorder, noteShape, UPDATES_PER_SECOND, type EventBody, type EventsPort, type SeriesPatch } from './event-recorder.js';

/** A state-based Events API: stored Events by namespace/name. */
class FakeEvents implements EventsPort {
  readonly stored = new Map<string, EventBody>();
  creates = 0;
  async create(namespace: string, body: EventBody): Promise<unknown> {
    this.creates++;
    this.stored.set(`${namespace}/${body.metadata.name}`, structuredClone(body));
    return body;
  }
  async patch(namespace: string, name: string, body: SeriesPatch): Promise<unknown> {
    const e = this.stored.get(`${namespace}/${name}`);
    if (e === undefined) throw Object.assign(new Error('not found'), { code: 404 });
    e.series = body.series;
    return e;
  }
  /** Occurrences the stored Events stand for. */
  occurrences(): number {
    let n = 0;
    for (const e of this.stored.values()) n += e.series?.count ?? 1;
    return n;
  }
}

const rule = { apiVersion: 'talon.dev/v1alpha1', kind: 'ClusterTalonRule', name: 'kill-shells' };
const pod = (i: number, namespace = 'team-a') => ({ apiVersion: 'v1', kind: 'Pod', namespace, name: `web-${i}` });
const terminated = { reason: 'Succeeded', action: 'kubernetes:terminate', type: 'Normal' as const };

async function settle(rec: EventRecorder, clock: { t: number }, rounds = 40): Promise<void> {
  for (let i = 0; i < rounds && rec.pending() > 0; i++) {
    clock.t += 10_000;
    await rec.flush();
  }
  await rec.flush();
}

describe('EventRecorder budget', () => {
  it('10,000 outcomes naming distinct pods write a bounded number of Events, and every occurrence is counted', async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new FakeEvents();
    const rec = new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => clock.t, perNamespacePerMinute: 20, clusterPerMinute: 50 });
    for (let i = 0; i < 10_000; i++) {
      rec.emit(pod(i), rule, `terminated pod web-${i}`, { ...terminated, aggregateOn: 'related' });
      rec.emit(rule, pod(i), `Pod team-a/web-${i}: terminated`, terminated);
    }
    await settle(rec, clock);
    // 20 per namespace (team-a, and default for the cluster rule's side), 50 cluster-wide, plus the aggregates
    assert.ok(api.creates <= 20 + 20 + 4, `${api.creates} Events created`);
    assert.ok(rec.aggregated() >= 20_000 - 40);
    assert.equal(api.occurrences(), 20_000);
    const aggregates = [...api.stored.values()].filter((e) => e.note.startsWith('Event budget spent'));
    assert.ok(aggregates.length >= 1 && aggregates.length <= 4, `${aggregates.length}`);
    for (const e of aggregates) assert.equal(e.regarding.kind, 'ClusterTalonRule');
  });

  it('the cluster-wide budget binds across namespaces', async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new FakeEvents();
    const rec = new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => clock.t, perNamespacePerMinute: 60, clusterPerMinute: 10 });
    for (let i = 0; i < 1000; i++) rec.emit(pod(i, `ns-${i % 100}`), undefined, 'labelled', { ...terminated, reason: 'Labeled' });
    await settle(rec, clock);
    const individual = [...api.stored.values()].filter((e) => !e.note.startsWith('Event budget spent'));
    assert.equal(individual.length, 10);
    assert.equal(api.occurrences(), 1000);
  });

  it('within the budget nothing is aggregated, and the budget refills with time', async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new FakeEvents();
    const rec = new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => clock.t, perNamespacePerMinute: 5, clusterPerMinute: 100 });
    for (let i = 0; i < 5; i++) rec.emit(pod(i), rule, 'x', terminated);
    await rec.flush();
    assert.equal(rec.aggregated(), 0);
    rec.emit(pod(5), rule, 'x', terminated);
    assert.equal(rec.aggregated(), 1);
    clock.t += 60_000;
    rec.emit(pod(6), rule, 'x', terminated);
    assert.equal(rec.aggregated(), 1);
    await settle(rec, clock);
    assert.equal(api.occurrences(), 7);
  });
});

describe('EventRecorder series folding', () => {
  const mk = (clock: { t: number }, api: FakeEvents & { patches?: number }, onWrite?: (verb: 'create' | 'update', ok: boolean) => void) =>
    new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => clock.t, seriesIntervalMs: 10_000, ...(onWrite ? { onWrite } : {}) });
  const labelled = { reason: 'Succeeded', action: 'kubernetes:label', type: 'Normal' as const };

  /** FakeEvents counting patches too. */
  class CountingEvents extends FakeEvents {
    patches = 0;
    override async patch(namespace: string, name: string, body: SeriesPatch): Promise<unknown> {
      this.patches++;
      return super.patch(namespace, name, body);
    }
  }

  it('the first occurrence is created at once; later ones are folded into one patch per interval', async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new CountingEvents();
    const rec = mk(clock, api);
    rec.emit(pod(1), rule, 'labeled', labelled);
    await rec.idle();
    assert.equal(api.creates, 1);
    // 100 more within the interval, ticks every second: nothing written until 10 s have passed.
    for (let i = 0; i < 100; i++) {
      clock.t += 90;
      rec.emit(pod(1), rule, 'labeled', labelled);
      if (i % 10 === 9) await rec.tick();
    }
    await rec.idle();
    assert.equal(api.patches, 0);
    assert.equal(rec.pending(), 100);
    // 10 s since the create: the series' next occurrence writes all of them.
    clock.t += 1000;
    rec.emit(pod(1), rule, 'labeled', labelled);
    await rec.idle();
    assert.equal(api.patches, 1);
    assert.equal(rec.pending(), 0);
    assert.equal(api.occurrences(), 102);
    // A series that goes quiet: the tick writes it once it has been due for half an interval.
    rec.emit(pod(1), rule, 'labeled', labelled);
    await rec.tick();
    clock.t += 10_000;
    await rec.tick();
    assert.equal(api.patches, 1, 'due, but it may still take an occurrence');
    clock.t += 5_000;
    await rec.tick();
    assert.equal(api.patches, 2);
    assert.equal(api.occurrences(), 103);
  });

  it('at most maxInFlight Event calls are in flight; the writes beyond wait their turn and all land', async () => {
    /** Holds every call until released, counting those in flight. */
    class HeldEvents extends CountingEvents {
      inFlight = 0;
      most = 0;
      private gates: (() => void)[] = [];
      private async hold(): Promise<void> {
        this.inFlight++;
        this.most = Math.max(this.most, this.inFlight);
        await new Promise<void>((resolve) => this.gates.push(resolve));
        this.inFlight--;
      }
      override async create(namespace: string, body: EventBody): Promise<unknown> {
        await this.hold();
        return super.create(namespace, body);
      }
      override async patch(namespace: string, name: string, body: SeriesPatch): Promise<unknown> {
        await this.hold();
        return super.patch(namespace, name, body);
      }
      release(): void {
        for (const open of this.gates.splice(0)) open();
      }
    }
    const clock = { t: 1_700_000_000_000 };
    const api = new HeldEvents();
    const rec = new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => clock.t, maxInFlight: 3, burst: 1000, perNamespacePerMinute: 1000, clusterPerMinute: 1000 });
    for (let i = 0; i < 20; i++) rec.emit(pod(i), undefined, 'labeled', labelled);
    // Two more occurrences of a waiting series ride with its create.
    rec.emit(pod(19), undefined, 'labeled', labelled);
    rec.emit(pod(19), undefined, 'labeled', labelled);
    assert.equal(api.inFlight, 3);
    const idle = rec.idle();
    for (let round = 0; round < 50 && api.creates < 20; round++) {
      api.release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await idle;
    assert.equal(api.most, 3);
    assert.equal(api.creates, 20);
    assert.equal(rec.pending(), 0);
    assert.equal(api.occurrences(), 22);
  });

  it('at most updatesPerSecond series updates start per second; creations are not held to it and go first; flush() is not held to it', async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new CountingEvents();
    const written: string[] = [];
    const rec = new EventRecorder({
      port: api,
      reportingInstance: 'talon-0',
      now: () => clock.t,
      seriesIntervalMs: 10_000,
      updatesPerSecond: 10,
      burst: 1000,
      perNamespacePerMinute: 1000,
      clusterPerMinute: 1000,
      onWrite: (verb, ok) => written.push(`${verb} ${ok ? 'ok' : 'failed'}`),
    });
    for (let i = 0; i < 40; i++) rec.emit(pod(i), undefined, 'labeled', labelled);
    await rec.idle();
    assert.equal(api.creates, 40, 'creations are paced by the creation budget, not by updatesPerSecond');
    // A second occurrence of each, then quiet: 15 s later the tick finds the 40 series due.
    for (let i = 0; i < 40; i++) rec.emit(pod(i), undefined, 'labeled', labelled);
    clock.t += 15_000;
    await rec.tick();
    await rec.idle();
    assert.equal(api.patches, 10, 'the burst');
    assert.equal(rec.waitingWrites(), 30, 'the talon_kube_event_writes_waiting gauge');
    // A new series meanwhile: created at once, ahead of the waiting updates.
    rec.emit(pod(40), undefined, 'labeled', labelled);
    await rec.idle();
    assert.equal(api.creates, 41);
    assert.equal(api.patches, 10);
    // A second later (the recorder's clock), its own timer starts the next ten.
    clock.t += 1000;
    await new Promise((resolve) => setTimeout(resolve, 300));
    await rec.idle();
    assert.equal(api.patches, 20);
    assert.equal(rec.waitingWrites(), 20);
    await rec.flush();
    assert.equal(api.patches, 40);
    assert.equal(rec.waitingWrites(), 0);
    const count = (w: string): number => written.filter((x) => x === w).length;
    assert.deepEqual([count('create ok'), count('update ok'), written.length], [41, 40, 81], 'one onWrite per call (talon_kube_event_writes_total)');
    assert.equal(api.occurrences(), 81);
    assert.equal(rec.pending(), 0);
    rec.stop();
  });

  it('targets labelled round after round: the Event writes are spread, not sent all at once by one tick', async () => {
    // The bench's alert-to-effect phase (issue 15): 100 pods, one alert every 10 ms round-robin,
    // two rules alternating by round, so each pod has two series, each with an occurrence every
    // 2 s. Each series falls due just after one of its occurrences (the interval is not a
    // multiple of 2 s), so the tick saw ≈ 100 series due at once every 10 s. The fake API answers
    // at once, so the concurrency cap does not show here; the write rate does.
    const clock = { t: 1_700_000_000_000 };
    // The series' updates by the recorder's clock (their 200 creations, in the first two
    // seconds, are paced by the creation budget, not here).
    const writes = new Map<number, number>();
    class TimedEvents extends CountingEvents {
      override async patch(namespace: string, name: string, body: SeriesPatch): Promise<unknown> {
        writes.set(clock.t, (writes.get(clock.t) ?? 0) + 1);
        return super.patch(namespace, name, body);
      }
    }
    const api = new TimedEvents();
    const rec = new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => clock.t, seriesIntervalMs: 10_001, burst: 1000, perNamespacePerMinute: 1000, clusterPerMinute: 1000 });
    for (let i = 0; i < 6000; i++) {
      clock.t += 10;
      const round = Math.floor(i / 100);
      rec.emit(pod(i % 100), rule, round % 2 === 0 ? 'labeled by rule A' : 'labeled by rule B', labelled);
      if (i % 100 === 99) await rec.tick();
      else await new Promise((resolve) => setImmediate(resolve));
    }
    // Updates in any one second: at most the default rate and its burst.
    const times = [...writes.entries()].sort((a, b) => a[0] - b[0]);
    let most = 0;
    for (let i = 0, j = 0, inWindow = 0; i < times.length; i++) {
      inWindow += times[i]![1];
      while (times[i]![0] - times[j]![0] >= 1000) inWindow -= times[j++]![1];
      most = Math.max(most, inWindow);
    }
    assert.ok(most > 0 && most <= 2 * UPDATES_PER_SECOND, `${most} Event updates in one second`);
    assert.ok(Math.max(...writes.values()) <= UPDATES_PER_SECOND, 'no more than the burst at one instant');
    await rec.flush();
    assert.equal(api.creates, 200);
    assert.equal(api.occurrences(), 6000);
  });

  it("a series forgotten to make room (maxSeries) is gone for good: the object's next occurrence starts a new Event", async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new CountingEvents();
    const rec = new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => clock.t, seriesIntervalMs: 10_000, maxSeries: 2 });
    for (const i of [1, 2, 3]) {
      rec.emit(pod(i), undefined, 'labeled', labelled);
      await rec.idle();
    }
    assert.equal(api.creates, 3, 'pod 3 took the room of the idle pod 1');
    rec.emit(pod(1), undefined, 'labeled', labelled);
    await rec.idle();
    assert.equal(api.creates, 4, 'pod 1 again: a new Event, not a patch of the forgotten one');
    assert.equal(api.patches, 0);
    // Pod 3's series (kept) still folds its occurrences; gone quiet, the tick writes them.
    rec.emit(pod(3), undefined, 'labeled', labelled);
    clock.t += 15_000;
    await rec.tick();
    assert.equal(api.patches, 1);
    assert.equal(api.occurrences(), 5);
  });

  it("a rule's Event keeps one series per target it acted on; a target's series forgotten to make room leaves the others folding", async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new CountingEvents();
    const rec = new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => clock.t, seriesIntervalMs: 10_000, maxSeries: 300, updatesPerSecond: Infinity, burst: 1000, perNamespacePerMinute: 1000, clusterPerMinute: 1000 });
    // The same note for every target (digits are masked anyway): only the related object tells the series apart.
    for (let i = 0; i < 300; i++) rec.emit(rule, pod(i), 'labeled', labelled);
    await rec.idle();
    assert.equal(api.creates, 300, 'one Event on the rule per target');
    // One more target: the least recently used series (target 0) makes room for it.
    clock.t += 1000;
    rec.emit(rule, pod(300), 'labeled', labelled);
    await rec.idle();
    assert.equal(api.creates, 301);
    for (let round = 0; round < 3; round++) for (let i = 1; i <= 300; i++) rec.emit(rule, pod(i), 'labeled', labelled);
    clock.t += 15_000;
    await rec.tick();
    assert.equal(api.creates, 301, 'every kept target folds into its own series');
    assert.equal(api.patches, 300);
    const related = new Set([...api.stored.values()].map((e) => e.related?.name));
    assert.equal(related.size, 301);
    assert.equal(api.occurrences(), 301 + 900);
    // Target 0 again: its series was forgotten, so a new Event.
    rec.emit(rule, pod(0), 'labeled', labelled);
    await rec.idle();
    assert.equal(api.creates, 302);
  });

  it('flush() writes what the interval holds back (shutdown), and the stored Events add up exactly', async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new CountingEvents();
    const rec = mk(clock, api);
    for (let i = 0; i < 50; i++) {
      clock.t += 10;
      rec.emit(pod(i % 5), rule, 'labeled', labelled);
      rec.emit(rule, pod(i % 5), 'labeled a pod', labelled);
    }
    await rec.tick();
    assert.equal(api.creates, 10, 'one Event per series, created at once (those beyond maxInFlight with what came meanwhile)');
    assert.equal(api.patches, 0);
    assert.ok(rec.pending() > 0);
    await rec.flush();
    assert.equal(rec.pending(), 0);
    assert.ok(api.patches <= 10, 'one patch per series at most');
    assert.equal(api.occurrences(), 100);
  });

  it('a series whose Event vanished is created again at once with what was pending', async () => {
    const clock = { t: 1_700_000_000_000 };
    const api = new CountingEvents();
    const written: string[] = [];
    const rec = mk(clock, api, (verb, ok) => written.push(`${verb} ${ok ? 'ok' : 'failed'}`));
    rec.emit(pod(1), rule, 'labeled', labelled);
    await rec.idle();
    api.stored.clear();
    rec.emit(pod(1), rule, 'labeled', labelled);
    rec.emit(pod(1), rule, 'labeled', labelled);
    clock.t += 15_000;
    await rec.tick();
    assert.equal(api.creates, 2);
    assert.equal(api.occurrences(), 2);
    assert.equal(rec.pending(), 0);
    assert.deepEqual(written, ['create ok', 'update failed', 'create ok']);
  });
});

describe('noteShape', () => {
  it('reads each run of digits as one mark, and tells apart notes that differ elsewhere', () => {
    assert.equal(noteShape('took 5 ms on pod web-1'), noteShape('took 1234 ms on pod web-77'));
    assert.equal(noteShape('7'), noteShape('0042'));
    assert.notEqual(noteShape('took 5 ms'), noteShape('took 5 s'));
    assert.notEqual(noteShape('a1b'), noteShape('ab'), 'a run of digits is not nothing');
    assert.notEqual(noteShape('a1b2'), noteShape('a1b'));
    assert.notEqual(noteShape(''), noteShape('#'));
    const shapes = new Set<string>();
    for (let i = 0; i < 20_000; i++) shapes.add(noteShape(`labeled pod shop/web-${i.toString(36)} with role=x`));
    // Names in base 36 mix letters into the text: nearly every one is a shape of its own, and none collide.
    const distinctTexts = new Set(Array.from({ length: 20_000 }, (_, i) => `labeled pod shop/web-${i.toString(36)} with role=x`.replace(/[0-9]+/g, '#')));
    assert.equal(shapes.size, distinctTexts.size);
  });

  it('occurrences whose notes differ only in digits share one series; others get their own', async () => {
    const api = new FakeEvents();
    const rec = new EventRecorder({ port: api, reportingInstance: 'talon-0', now: () => 1_700_000_000_000, seriesIntervalMs: 0 });
    const kind = { reason: 'Succeeded', action: 'kubernetes:label', type: 'Normal' as const };
    rec.emit(pod(1), rule, 'took 5 ms', kind);
    rec.emit(pod(1), rule, 'took 17 ms', kind);
    rec.emit(pod(1), rule, 'took 5 s', kind);
    await rec.flush();
    assert.equal(api.creates, 2);
    assert.equal(api.occurrences(), 3);
  });
});
