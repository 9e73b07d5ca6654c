/**
 * Issue: alert storms. The real operator against the real kube-apiserver:
 * (a) a cooldown turns 10,000 alerts about one pod into exactly one action, every other match
 *     counted as suppressed, in the TalonRule status and in the metrics alike;
 * (b) without a cooldown, matches for a target whose work item is still pending merge into it;
 *     every match is either an outcome or suppressed, and the Events stay bounded (one series)
 *     while still adding up to exactly the outcomes recorded;
 * (c) an expiring quarantine: the NetworkPolicy and the pod's quarantine label are removed by
 *     the TTL sweeper.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import {
  about,
  applyRuleLoaded,
  eventsRegarding,
  inline,
  metricValue,
  occurrences,
  podAlert,
  postAccepted,
  postMany,
  resultsTotal,
  ruleStatus,
  waitOutcome,
} from './support/alerts.js';

const QUARANTINE_LABEL = 'talon.dev/quarantine';

describe('alert storms', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let ns = '';

  /** Snapshot of the operator counters a storm moves. */
  const counters = async (actionner: string) => ({
    received: await metricValue(op, 'talon_events_received_total', { result: 'accepted' }),
    deduplicated: await metricValue(op, 'talon_events_deduplicated_total'),
    ruleMatches: await metricValue(op, 'talon_rule_matches_total', { scope: 'cluster' }),
    suppressed: await metricValue(op, 'talon_events_suppressed_total'),
    succeeded: await metricValue(op, 'talon_actions_total', { actionner, result: 'succeeded' }),
    actions: await metricValue(op, 'talon_actions_total', { actionner }),
  });
  const delta = <T extends Record<string, number>>(a: T, b: T): T => Object.fromEntries(Object.keys(a).map((k) => [k, b[k]! - a[k]!])) as T;

  async function runningPod(name: string): Promise<k8s.V1Pod> {
    await core.createNamespacedPod({ namespace: ns, body: podManifest(name) });
    return waitForPodRunning(core, ns, name);
  }

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'storm');
    op = await OperatorProcess.start({ config: { statusFlushInterval: '1s' } });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  });

  it('(a) 10,000 alerts for one pod with cooldown 10m: one execution, 9,999 suppressed, in status and metrics', async () => {
    const N = 10_000;
    const pod = await runningPod('storm-a');
    await applyRuleLoaded(kc, talon, CLUSTER, 'storm-cooldown', {
      cooldown: '10m',
      match: { rules: ['E2E storm cooldown'] },
      actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/storm': 'a' } })],
    }, 'cluster');
    const before = await counters('kubernetes:label');

    const statuses = await postMany(op, N, () => podAlert({ rule: 'E2E storm cooldown', namespace: ns, pod: 'storm-a' }), 20);
    assert.deepEqual([...statuses], [[202, N]]);

    const s = await eventually('status matchedEvents == 10000 and suppressedEvents == 9999', async () => {
      const s = await ruleStatus(talon, CLUSTER, 'storm-cooldown');
      return s.matchedEvents === N && s.suppressedEvents === N - 1 && resultsTotal(s) === 1 ? s : undefined;
    }, 60_000, 500);
    assert.deepEqual(s.results, { succeeded: 1, failed: 0, skipped: 0, dryRun: 0 });
    assert.equal(s.lastOutcomes.length, 1);
    assert.equal(s.lastOutcomes[0]!.reason, 'Labeled');
    assert.equal((await core.readNamespacedPod({ name: 'storm-a', namespace: ns })).metadata?.labels?.['talon.dev/storm'], 'a');

    const d = delta(before, await counters('kubernetes:label'));
    assert.deepEqual(d, { received: N, deduplicated: 0, ruleMatches: N, suppressed: N - 1, succeeded: 1, actions: 1 });

    // One execution, one occurrence in the Events regarding the pod.
    const evs = await eventually('the Event regarding storm-a', async () => {
      const evs = await eventsRegarding(kc, ns, { kind: 'Pod', name: 'storm-a', uid: pod.metadata?.uid });
      return evs.length > 0 ? evs : undefined;
    });
    assert.equal(occurrences(evs), 1);
  });

  it('(b) 2,000 alerts for one pod without cooldown: every match is an outcome or merged; Events bounded and adding up to the outcomes', async (t) => {
    const N = 2_000;
    const pod = await runningPod('storm-b');
    await applyRuleLoaded(kc, talon, CLUSTER, 'storm-merge', {
      match: { rules: ['E2E storm merge'] },
      actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/storm': 'b' } })],
    }, 'cluster');
    const before = await counters('kubernetes:label');

    const statuses = await postMany(op, N, () => podAlert({ rule: 'E2E storm merge', namespace: ns, pod: 'storm-b' }), 20);
    assert.deepEqual([...statuses], [[202, N]]);

    // Merged matches are counted as suppressed: outcomes + suppressed == matches == N.
    const s = await eventually('status: outcomes + suppressed == 2000', async () => {
      const s = await ruleStatus(talon, CLUSTER, 'storm-merge');
      return s.matchedEvents === N && resultsTotal(s) + s.suppressedEvents === N ? s : undefined;
    }, 60_000, 500);
    const outcomes = resultsTotal(s);
    assert.ok(outcomes >= 1);
    assert.deepEqual(s.results, { succeeded: outcomes, failed: 0, skipped: 0, dryRun: 0 });

    const d = delta(before, await counters('kubernetes:label'));
    assert.deepEqual(d, { received: N, deduplicated: 0, ruleMatches: N, suppressed: s.suppressedEvents, succeeded: outcomes, actions: outcomes });

    // Events: one series per (object, reason, action, note); once the rate-limited recorder has
    // flushed, the series count adds up to the outcomes exactly.
    const podEvents = await eventually(
      `Events regarding storm-b adding up to ${outcomes}`,
      async () => {
        const evs = await eventsRegarding(kc, ns, { kind: 'Pod', name: 'storm-b', uid: pod.metadata?.uid });
        return occurrences(evs) === outcomes ? evs : undefined;
      },
      90_000,
      500,
    );
    assert.equal(podEvents.length, 1, `one Event object for ${outcomes} outcomes`);
    assert.equal(podEvents[0]!.reason, 'Succeeded');
    if (outcomes > 1) assert.equal(podEvents[0]!.series?.count, outcomes);

    const ruleEvents = await eventually(
      `Events regarding the rule adding up to ${outcomes}`,
      async () => {
        // Events regarding a cluster-scoped object live in the namespace default.
        const evs = await eventsRegarding(kc, 'default', { kind: 'ClusterTalonRule', name: 'storm-merge' });
        return occurrences(evs) === outcomes ? evs : undefined;
      },
      90_000,
      500,
    );
    assert.equal(ruleEvents.length, 1);
    assert.equal(ruleEvents[0]!.related?.name, 'storm-b');
    t.diagnostic(`${N} matches: ${outcomes} outcomes, ${s.suppressedEvents} merged; 1 Event regarding the pod with series.count ${podEvents[0]!.series?.count ?? 1}`);
  });

  it('(c) a quarantine with ttl 5s is removed by the sweeper: policy deleted, quarantine label removed', async () => {
    await runningPod('storm-c');
    await applyRuleLoaded(kc, talon, CLUSTER, 'storm-isolate', {
      match: { rules: ['E2E storm isolate'] },
      actions: [inline('isolate', 'kubernetes:networkpolicy', { ttl: '5s' })],
    }, 'cluster');
    await postAccepted(op, podAlert({ rule: 'E2E storm isolate', namespace: ns, pod: 'storm-c' }));

    const policyName = 'talon-quarantine-storm-c';
    const np = await eventually('the quarantine policy', () => networking.readNamespacedNetworkPolicy({ name: policyName, namespace: ns }).catch(() => undefined));
    const expiresAt = Date.parse(np.metadata?.annotations?.['talon.dev/expires-at'] ?? '');
    assert.ok(!Number.isNaN(expiresAt), 'the policy carries its expiry');
    const o = await waitOutcome(talon, CLUSTER, 'storm-isolate', about('Pod', 'storm-c'), 'isolated');
    assert.equal(o.result, 'Succeeded');
    assert.match(o.message, /until /);
    const labelled = await eventually('storm-c quarantined', async () => (await core.readNamespacedPod({ name: 'storm-c', namespace: ns })).metadata?.labels?.[QUARANTINE_LABEL]);
    assert.equal(np.spec?.podSelector?.matchLabels?.[QUARANTINE_LABEL], labelled);

    // The sweeper runs every 15 s: the policy and the label go within two sweeps after expiry.
    await eventually('the expired policy deleted', async () => {
      try {
        await networking.readNamespacedNetworkPolicy({ name: policyName, namespace: ns });
        return false;
      } catch (err) {
        return (err as { code?: number }).code === 404;
      }
    }, 45_000, 500);
    const released = await eventually('the quarantine label removed', async () => {
      const p = await core.readNamespacedPod({ name: 'storm-c', namespace: ns });
      return p.metadata?.labels?.[QUARANTINE_LABEL] === undefined ? p : undefined;
    }, 15_000, 200);
    assert.equal(released.metadata?.labels?.app, 'storm-c', 'other labels are kept');
    assert.ok(Date.now() >= expiresAt, 'not removed before its expiry');
  });
});
