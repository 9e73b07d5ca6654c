/**
 * Issue 14: bounded cost of what users write and of what the operator writes, with the real
 * operator against the real kube-apiserver.
 * (a) the CEL probe (~8·10⁹ steps) and the regex probe (146 × `.{1000}`) are refused with a
 *     condition saying why; an alert whose tags push an accepted condition past its cost
 *     limit ends Failed/CostLimit, and the operator stays healthy;
 * (b) a 1 MiB and a 300-character Falco rule name, on a rule with the longest name Kubernetes
 *     allows (its 63rd character a dash): status stays writable, the quarantine is applied
 *     with valid label values;
 * (c) 10,000 alerts naming distinct pods write a bounded number of Events, and the Events
 *     still add up to every outcome; a second alert for each pod that has its own Event updates
 *     those series, held to a tight events.updatesPerSecond, and the Events add up again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { about, applyRuleLoaded, inline, metricValue, podAlert, postAccepted, postMany, ruleStatus, waitOutcome, REPORTING_CONTROLLER } from './support/alerts.js';
import { issueCondition } from '../operator/test/builders.js';

/** events.updatesPerSecond and events.maxInFlight of this operator (the defaults are 5 and 4). */
const UPDATES_PER_SECOND = 3;
const MAX_IN_FLIGHT = 2;

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('bounded cost', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const eventsApi = kc.makeApiClient(k8s.EventsV1Api);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let ns = '';

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'bounded');
    op = await OperatorProcess.start({
      config: {
        statusFlushInterval: '1s',
        bodyLimit: '4MiB',
        // A tight pace for the Event series' updates (c): the counts must still add up, and no more updates start than it allows.
        events: { perNamespacePerMinute: 20, clusterPerMinute: 40, updatesPerSecond: UPDATES_PER_SECOND, maxInFlight: MAX_IN_FLIGHT },
        // (c) counts every occurrence: no outcome may be dropped by the notifier's own queue.
        notifiers: { k8sevents: { type: 'k8sevents', queueSize: 20_000 } },
      },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  });

  it('(a) the CEL and regex probes are refused with a clear condition; a run-time overrun is Failed/CostLimit', async () => {
    await talon.applyRule(CLUSTER, 'costly-cel', { match: { condition: issueCondition() }, actions: [inline('l', 'kubernetes:label', { labels: { x: 'y' } })] });
    const cel = await talon.waitCondition('talonrules', CLUSTER, 'costly-cel', 'Accepted', 'False');
    assert.match(cel.message, /spec\.match\.condition: estimated cost \d+ exceeds the limit of 100000 evaluation steps/);

    await talon.applyRule(CLUSTER, 'costly-regex', {
      match: { outputFields: [{ key: 'proc.cmdline', operator: 'Matches', values: ['.{1000}'.repeat(146)] }] },
      actions: [inline('l', 'kubernetes:label', { labels: { x: 'y' } })],
    });
    const re = await talon.waitCondition('talonrules', CLUSTER, 'costly-regex', 'Accepted', 'False');
    assert.match(re.message, /spec\.match\.outputFields\[0\]\.values\[0\]: invalid RE2 regular expression: the regular expression expands to 146000 instructions/);

    await applyRuleLoaded(kc, talon, CLUSTER, 'overrun', {
      match: { rules: ['E2E cost overrun'], condition: 'tags.all(t, tags.exists(u, u == t + "x") || true)' },
      actions: [inline('l', 'kubernetes:label', { labels: { x: 'y' } })],
    }, 'cluster');
    const alert = podAlert({ rule: 'E2E cost overrun', namespace: ns, pod: 'overrun-pod' });
    await postAccepted(op, { ...alert, tags: Array.from({ length: 2000 }, (_, i) => `tag-${i}`) });
    const o = await waitOutcome(talon, CLUSTER, 'overrun', about('Pod', 'overrun-pod', { result: 'Failed', reason: 'CostLimit' }), 'Failed/CostLimit');
    assert.match(o.message, /exceeded its cost limit of 100000 evaluation steps/);
    assert.equal((await fetch(`${op.url}/healthz`)).status, 200);
    assert.equal((await op.readyz()).status, 200);
  });

  it('(b) a 1 MiB and a 300-character Falco rule name on the longest rule name: status writable, quarantine labels valid', async () => {
    const ruleName = `${'q'.repeat(62)}-${'r'.repeat(190)}`;
    assert.equal(ruleName.length, 253);
    await applyRuleLoaded(kc, talon, CLUSTER, ruleName, {
      match: { outputFields: [{ key: 'k8s.ns.name', operator: 'In', values: [ns] }, { key: 'proc.name', operator: 'In', values: ['long-rule-name'] }] },
      actions: [inline('isolate', 'kubernetes:networkpolicy')],
    }, 'cluster');
    const huge = `Huge rule ${'x'.repeat(1024 * 1024)}`;
    const long = `Long rule ${'y'.repeat(290)}`;
    for (const [falcoRule, pod] of [[huge, 'huge-name'], [long, 'long-name']] as const) {
      await core.createNamespacedPod({ namespace: ns, body: podManifest(pod) });
      await waitForPodRunning(core, ns, pod);
      await postAccepted(op, podAlert({ rule: falcoRule, namespace: ns, pod, fields: { 'proc.name': 'long-rule-name' } }));
    }
    const s = await eventually('both outcomes in the rule status', async () => {
      const s = await ruleStatus(talon, CLUSTER, ruleName);
      return s.lastOutcomes.length >= 2 && s.matchedEvents >= 2 ? s : undefined;
    }, 60_000, 500);
    for (const o of s.lastOutcomes) {
      assert.equal(o.result, 'Succeeded', o.message);
      assert.ok(o.falcoRule.length <= 256, `falcoRule of ${o.falcoRule.length} characters`);
    }
    const clipped = s.lastOutcomes.find((o) => o.target.name === 'huge-name');
    assert.ok(clipped?.falcoRule.startsWith('Huge rule xxx') && clipped.falcoRule.endsWith('…'));
    assert.equal(s.lastOutcomes.find((o) => o.target.name === 'long-name')?.falcoRule.length, 256);

    for (const pod of ['huge-name', 'long-name']) {
      const p = await core.readNamespacedPod({ name: pod, namespace: ns });
      const quarantine = p.metadata?.labels?.['talon.dev/quarantine'];
      assert.ok(quarantine !== undefined && LABEL_VALUE.test(quarantine) && quarantine.length <= 63, String(quarantine));
      const np = await networking.readNamespacedNetworkPolicy({ name: `talon-quarantine-${pod}`, namespace: ns });
      const ruleLabel = np.metadata?.labels?.['talon.dev/rule'] ?? '';
      assert.ok(ruleLabel.length <= 63 && LABEL_VALUE.test(ruleLabel), ruleLabel);
      assert.ok(ruleLabel.startsWith('q'.repeat(54)), ruleLabel);
    }

    // Still writable afterwards: one more alert is counted.
    await core.createNamespacedPod({ namespace: ns, body: podManifest('after-huge') });
    await waitForPodRunning(core, ns, 'after-huge');
    await postAccepted(op, podAlert({ rule: huge, namespace: ns, pod: 'after-huge', fields: { 'proc.name': 'long-rule-name' } }));
    await eventually('the third match counted', async () => ((await ruleStatus(talon, CLUSTER, ruleName)).matchedEvents >= 3 ? true : undefined), 30_000, 500);
  });

  it('(c) 10,000 alerts naming distinct pods write a bounded number of Events, adding up to every outcome', async (t) => {
    const N = 10_000;
    const rule = await applyRuleLoaded(kc, talon, CLUSTER, 'many-pods', {
      dryRun: true,
      match: { rules: ['E2E many pods'] },
      actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/many': 'yes' } })],
    }, 'cluster');
    const started = Date.now();
    // The Event series' updates ended so far, sampled until the Events add up (checked below).
    const samples: { sentAt: number; answeredAt: number; writes: number }[] = [];
    let sampling = true;
    t.after(() => void (sampling = false)); // the test failed before the samples were checked
    const sampler = (async () => {
      while (sampling) {
        const sentAt = performance.now();
        const writes = await metricValue(op, 'talon_kube_event_writes_total', { verb: 'update' }).catch(() => undefined);
        if (writes !== undefined) samples.push({ sentAt, answeredAt: performance.now(), writes });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const statuses = await postMany(op, N, (i) => podAlert({ rule: 'E2E many pods', namespace: ns, pod: `pod-${i}` }), 20);
    assert.deepEqual([...statuses], [[202, N]]);
    await eventually('10,000 DryRun outcomes in the status', async () => ((await ruleStatus(talon, CLUSTER, 'many-pods')).results.dryRun === N ? true : undefined), 120_000, 1000);

    const ours = async (): Promise<k8s.EventsV1Event[]> => {
      const inNs = (await eventsApi.listNamespacedEvent({ namespace: ns })).items;
      const inDefault = (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items;
      return [...inNs, ...inDefault].filter(
        (e) =>
          e.reportingController === REPORTING_CONTROLLER &&
          e.action === 'kubernetes:label' &&
          // this run's rule only (Events of an earlier rule of the same name outlive it)
          (e.regarding?.uid === rule.metadata.uid || e.related?.uid === rule.metadata.uid),
      );
    };
    // Every outcome makes two occurrences (regarding the pod, regarding the rule); all are counted.
    let seen = '';
    const addUpTo = (occurrences: number): Promise<k8s.EventsV1Event[]> =>
      eventually(`Events adding up to ${occurrences} occurrences`, async () => {
        const evs = await ours();
        const total = evs.reduce((n, e) => n + (e.series?.count ?? 1), 0);
        seen = `${evs.length} Events, ${total} occurrences: ${evs.filter((e) => e.series).map((e) => `${e.regarding?.kind}/${e.regarding?.name}@${e.metadata?.namespace}:${e.series?.count}`).join(', ')}`;
        return total === occurrences ? evs : undefined;
      }, 180_000, 2000).catch((err: Error) => {
        throw new Error(`${err.message}; last seen ${seen}; operator log: ${op.logs.filter((l) => /event/i.test(l)).slice(-5).join(' | ')}`);
      });
    const events = await addUpTo(2 * N);
    const minutes = (Date.now() - started) / 60_000;
    // Creations: at most the cluster budget (40/min, burst 40) over the run, plus the aggregate series.
    const bound = Math.ceil(40 * (1 + minutes)) + 4;
    const aggregates = events.filter((e) => e.note?.startsWith('Event budget spent'));
    t.diagnostic(`${N} outcomes → ${events.length} Events (${aggregates.length} aggregates) in ${minutes.toFixed(1)} min; bound ${bound}`);
    assert.ok(events.length <= bound, `${events.length} Events > ${bound}`);
    assert.ok(aggregates.length >= 1);
    for (const e of aggregates) assert.equal(e.regarding?.kind, 'ClusterTalonRule');

    // A second alert for each pod with an Event of its own: no new Event (the budget is spent
    // anyway), its series and the rule's series for it are updated — all due within a second.
    const again = [...new Set(events.filter((e) => e.regarding?.kind === 'Pod').map((e) => e.regarding!.name!))];
    assert.ok(again.length >= 10, `${again.length} pods with their own Event`);
    assert.deepEqual([...(await postMany(op, again.length, (i) => podAlert({ rule: 'E2E many pods', namespace: ns, pod: again[i]! }), 20))], [[202, again.length]]);
    await addUpTo(2 * (N + again.length));
    sampling = false;
    await sampler;
    // events.updatesPerSecond held: a token bucket (burst = rate) lets at most burst + rate × d
    // updates start in any d seconds, and at most maxInFlight more end in them (started
    // before). Between two samples the counter was read at most (answered − sent) apart.
    // Unpaced, the tick started the second round's updates together.
    let worst = '';
    let worstExcess = -Infinity;
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1]!;
      const b = samples[i]!;
      const d = (b.answeredAt - a.sentAt) / 1000;
      const allowed = UPDATES_PER_SECOND + MAX_IN_FLIGHT + UPDATES_PER_SECOND * d;
      const excess = b.writes - a.writes - allowed;
      if (excess > worstExcess) [worstExcess, worst] = [excess, `${b.writes - a.writes} updates in ≤ ${d.toFixed(2)} s (allowed ${allowed.toFixed(1)})`];
    }
    const updates = samples.at(-1)?.writes ?? 0;
    const creates = await metricValue(op, 'talon_kube_event_writes_total', { verb: 'create' });
    const failed = await metricValue(op, 'talon_kube_event_writes_total', { result: 'failed' });
    t.diagnostic(`${creates} Event creations, ${updates} updates (${failed} calls failed), ${samples.length} samples; the largest step: ${worst}`);
    assert.ok(samples.length >= 10 && updates >= again.length, `${updates} updates for ${again.length} pods alerted again, ${samples.length} samples`);
    assert.ok(worstExcess <= 0, `more Event updates than events.updatesPerSecond allows: ${worst}`);
    assert.equal((await fetch(`${op.url}/healthz`)).status, 200);
  });
});
