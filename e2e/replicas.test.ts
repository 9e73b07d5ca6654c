/**
 * Issue 13: several replicas, active-active. Two real operator processes on one real
 * kube-apiserver, coordinated through Leases (docs/replicas.md); every alert is posted to both.
 * (a) each destructive action runs once — counted by the API server (pod DELETE requests) and
 *     in the Events — and the rule status counters, written by both replicas concurrently, are
 *     exact: matched = alerts delivered, one outcome per alert, the other delivery suppressed;
 * (b) the destructive budget holds across both replicas;
 * (c) kill -9 of the replica holding the claims (mid-drain, blocked by PDBs): the other
 *     replica takes the claims over once their lease runs out and finishes the work; every
 *     pod is evicted once (counted by the API server), nothing runs twice;
 * (d) claims past their window are garbage-collected from the API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { applyRuleLoaded, createKwokNode, deleteNode, eventsRegarding, inline, metricValue, occurrences, podAlert, postAccepted, ruleStatus } from './support/alerts.js';
import { apiserverRequests } from './support/apiserver-metrics.js';

const CLAIM_STATE = 'talon.dev/claim-state';

describe('active-active replicas', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  const policy = kc.makeApiClient(k8s.PolicyV1Api);
  const talon = new Talon(kc);
  const started: OperatorProcess[] = [];
  const namespaces: string[] = [];
  const nodes: string[] = [];
  let ns = '';

  /** Two replicas sharing a fresh Lease namespace; `perMinute` is the cluster-wide budget. */
  async function pair(prefix: string, perMinute: number, lease = '10s', more: Record<string, string> = {}): Promise<{ a: OperatorProcess; b: OperatorProcess; leases: string }> {
    const leases = await createNamespace(core, `${prefix}-leases`);
    namespaces.push(leases);
    const config = {
      statusFlushInterval: '1s',
      safety: { destructiveActionsPerMinute: perMinute },
      coordination: { enabled: true, namespace: leases, lease, claimWindow: '30s', ...more },
    };
    const [a, b] = await Promise.all([
      OperatorProcess.start({ config, env: { POD_NAME: `${prefix}-replica-a` } }),
      OperatorProcess.start({ config, env: { POD_NAME: `${prefix}-replica-b` } }),
    ]);
    started.push(a, b);
    return { a, b, leases };
  }

  async function runningPods(names: readonly string[], node?: string): Promise<Map<string, k8s.V1Pod>> {
    const out = new Map<string, k8s.V1Pod>();
    for (const name of names) await core.createNamespacedPod({ namespace: ns, body: podManifest(name, node ? { node } : {}) });
    for (const name of names) out.set(name, await waitForPodRunning(core, ns, name));
    return out;
  }

  const podExists = async (name: string): Promise<boolean> =>
    core.readNamespacedPod({ name, namespace: ns }).then(
      () => true,
      (err: { code?: number }) => (err.code === 404 ? false : Promise.reject(err)),
    );

  const sum = async (ops: readonly OperatorProcess[], name: string, labels: Record<string, string>): Promise<number> => {
    let n = 0;
    for (const op of ops) n += await metricValue(op, name, labels);
    return n;
  };

  /**
   * The counter's value once it has not moved for two seconds, after every namespace of the
   * earlier test files is gone: the namespace controller empties them in rounds, and a pod
   * DELETE of its own after a quiet two seconds would be counted here (the API server's
   * count is cluster-wide: apiserver_request_total has no namespace).
   */
  async function quiescent(count: () => number): Promise<number> {
    await eventually('no namespace is terminating', async () => {
      const all = await core.listNamespace();
      return all.items.every((n) => n.status?.phase !== 'Terminating') ? true : undefined;
    }, 180_000, 500);
    let last = count();
    for (;;) {
      await new Promise((r) => setTimeout(r, 2000));
      const now = count();
      if (now === last) return now;
      last = now;
    }
  }

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'replicas');
    namespaces.push(ns);
  });
  after(async () => {
    await Promise.all(started.map((op) => op.stop()));
    await talon.deleteClusterObjects();
    await Promise.all([...namespaces.map((n) => deleteNamespace(core, n)), ...nodes.map((n) => deleteNode(core, n))]);
  });

  it('(a) every alert posted to both replicas: each pod is terminated once; the status counters are exact', async () => {
    const { a, b, leases } = await pair('ra', 100);
    const N = 12;
    const names = Array.from({ length: N }, (_, i) => `kill-${i}`);
    const pods = await runningPods(names);
    await applyRuleLoaded(kc, talon, CLUSTER, 'replicas-kill', {
      match: { rules: ['E2E replicas kill'] },
      actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0, ignoreStandalonePods: false })],
    }, 'cluster');
    // Every DELETE of one pod, whatever its answer: a second terminate would add one (404).
    const deletes = () => apiserverRequests({ verb: 'DELETE', resource: 'pods', subresource: '', scope: 'resource' });
    // Namespaces of earlier runs may still be emptied by the namespace controller: start counting once nothing deletes pods.
    const deletesBefore = await quiescent(deletes);

    // Each alert goes to both replicas at the same time.
    await Promise.all(names.map(async (pod) => {
      const alert = podAlert({ rule: 'E2E replicas kill', namespace: ns, pod });
      await Promise.all([postAccepted(a, alert), postAccepted(b, alert)]);
    }));

    const s = await eventually('status: 12 succeeded, 24 matched, 12 suppressed', async () => {
      const s = await ruleStatus(talon, CLUSTER, 'replicas-kill');
      return s.results.succeeded === N && s.matchedEvents === 2 * N && s.suppressedEvents === N ? s : undefined;
    }, 60_000, 500);
    assert.deepEqual(s.results, { succeeded: N, failed: 0, skipped: 0, dryRun: 0 });
    for (const name of names) assert.equal(await podExists(name), false, `${name} deleted`);

    // Counted by the replicas: N terminations between them, N suppressed 'Claimed' matches.
    assert.equal(await sum([a, b], 'talon_actions_total', { actionner: 'kubernetes:terminate' }), N);
    assert.equal(await sum([a, b], 'talon_events_suppressed_total', {}), N);
    // Counted by the API server: two DELETEs per pod — one from the replicas together, and
    // kwok's own (it deletes every pod it sees deleted; 404 when already gone, 200 when it wins
    // the race with the grace-0 delete). A second terminate by the other replica would make it three.
    assert.equal(deletes() - deletesBefore, 2 * N);
    // One remediation per pod in the Events, whichever replica recorded it.
    for (const [name, pod] of pods) {
      const evs = await eventually(`the Event regarding ${name}`, async () => {
        const evs = (await eventsRegarding(kc, ns, { kind: 'Pod', name, uid: pod.metadata?.uid })).filter((e) => e.action === 'kubernetes:terminate');
        return evs.length > 0 ? evs : undefined;
      });
      assert.equal(occurrences(evs), 1, `${name}: one terminate Event occurrence`);
      assert.equal(evs[0]!.reason, 'Succeeded');
    }
    // The claims, one per (rule, pod), all done.
    const claims = (await coordination.listNamespacedLease({ namespace: leases, labelSelector: 'talon.dev/coordination=claim' })).items;
    assert.equal(claims.length, N);
    assert.ok(claims.every((l) => l.metadata?.annotations?.[CLAIM_STATE] === 'done'));
  });

  it('(b) the destructive budget holds across both replicas', async () => {
    const BUDGET = 3;
    const { a, b, leases } = await pair('rb', BUDGET);
    const names = Array.from({ length: 8 }, (_, i) => `budget-${i}`);
    await runningPods(names);
    await applyRuleLoaded(kc, talon, CLUSTER, 'replicas-budget', {
      match: { rules: ['E2E replicas budget'] },
      actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0, ignoreStandalonePods: false })],
    }, 'cluster');

    await Promise.all(names.map(async (pod) => {
      const alert = podAlert({ rule: 'E2E replicas budget', namespace: ns, pod });
      await Promise.all([postAccepted(a, alert), postAccepted(b, alert)]);
    }));

    const s = await eventually('status: 8 outcomes, 16 matched', async () => {
      const s = await ruleStatus(talon, CLUSTER, 'replicas-budget');
      return s.results.succeeded + s.results.skipped === names.length && s.matchedEvents === 2 * names.length ? s : undefined;
    }, 60_000, 500);
    assert.deepEqual(s.results, { succeeded: BUDGET, failed: 0, skipped: names.length - BUDGET, dryRun: 0 });
    let alive = 0;
    for (const name of names) if (await podExists(name)) alive++;
    assert.equal(alive, names.length - BUDGET);
    assert.equal(await sum([a, b], 'talon_actions_total', { actionner: 'kubernetes:terminate', result: 'skipped' }), names.length - BUDGET);
    const slots = (await coordination.listNamespacedLease({ namespace: leases, labelSelector: 'talon.dev/coordination=budget' })).items;
    assert.equal(slots.length, BUDGET);
  });

  it('(c) kill -9 of the replica holding claims mid-drain: the other takes over after the lease; every pod evicted once', async () => {
    const LEASE_S = 3;
    const { a, b, leases } = await pair('rc', 30, `${LEASE_S}s`);
    const names = ['held-0', 'held-1'];
    for (const [i, name] of names.entries()) {
      const node = `kwok-replicas-${process.pid}-${i}`;
      nodes.push(node);
      await createKwokNode(core, node);
      await runningPods([name], node);
      // A PDB that refuses every eviction of the pod until it is deleted: the drain is stuck.
      await policy.createNamespacedPodDisruptionBudget({ namespace: ns, body: { metadata: { name }, spec: { minAvailable: 1, selector: { matchLabels: { app: name } } } } });
      await eventually(`PDB ${name} computed`, async () => {
        const pdb = await policy.readNamespacedPodDisruptionBudget({ name, namespace: ns });
        return pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.currentHealthy === 1 && pdb.status.disruptionsAllowed === 0;
      }, 60_000, 200);
    }
    await applyRuleLoaded(kc, talon, CLUSTER, 'replicas-drain', {
      match: { rules: ['E2E replicas drain'] },
      actions: [inline('drain', 'kubernetes:drain', { ignoreStandalonePods: false, maxWaitSeconds: 120 }, { timeoutSeconds: 150 })],
    }, 'cluster');
    const evictions = (code: string) => apiserverRequests({ verb: 'POST', resource: 'pods', subresource: 'eviction', code });
    const evictedBefore = evictions('201');
    const refusedBefore = evictions('429');

    const alerts = names.map((pod) => podAlert({ rule: 'E2E replicas drain', namespace: ns, pod }));
    for (const alert of alerts) await postAccepted(a, alert);
    // Replica a holds both claims (running) and is being refused by the PDBs.
    await eventually('replica a holds both claims and its evictions are refused', async () => {
      const claims = (await coordination.listNamespacedLease({ namespace: leases, labelSelector: 'talon.dev/coordination=claim' })).items;
      const held = claims.filter((l) => l.spec?.holderIdentity === 'rc-replica-a' && l.metadata?.annotations?.[CLAIM_STATE] === 'running');
      return held.length === names.length && evictions('429') - refusedBefore >= names.length;
    }, 30_000, 200);
    // The same alerts reach replica b, which waits on a's claims.
    for (const alert of alerts) await postAccepted(b, alert);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(evictions('201') - evictedBefore, 0, 'nothing evicted while the PDBs stand');

    await a.kill9();
    for (const name of names) await policy.deleteNamespacedPodDisruptionBudget({ name, namespace: ns });

    await eventually('both pods gone', async () => !(await podExists(names[0]!)) && !(await podExists(names[1]!)), 90_000, 250);
    const claims = await eventually('b has taken over and finished both claims', async () => {
      const claims = (await coordination.listNamespacedLease({ namespace: leases, labelSelector: 'talon.dev/coordination=claim' })).items;
      return claims.length === names.length && claims.every((l) => l.spec?.holderIdentity === 'rc-replica-b' && l.metadata?.annotations?.[CLAIM_STATE] === 'done') ? claims : undefined;
    }, 60_000, 250);
    for (const l of claims) assert.equal(l.spec?.leaseTransitions, 1, 'taken over once');
    // Counted by the API server: each pod evicted exactly once.
    assert.equal(evictions('201') - evictedBefore, names.length);
    assert.equal(b.logs.filter((l) => l.includes('claim taken over')).length, names.length);
    assert.equal(await metricValue(b, 'talon_actions_total', { actionner: 'kubernetes:drain', result: 'succeeded' }), names.length);
    // The drain outcome is recorded once per pod, by b (a died before recording anything).
    const s = await eventually('status: 2 drains succeeded', async () => {
      const s = await ruleStatus(talon, CLUSTER, 'replicas-drain');
      return s.results.succeeded === names.length ? s : undefined;
    }, 30_000, 500);
    assert.deepEqual(s.results, { succeeded: names.length, failed: 0, skipped: 0, dryRun: 0 });
  });

  it('(d) claims past their window are deleted by the sweep', async () => {
    const { a, b, leases } = await pair('rd', 30, '10s', { claimWindow: '2s', sweepInterval: '1s' });
    await runningPods(['swept']);
    await applyRuleLoaded(kc, talon, CLUSTER, 'replicas-sweep', {
      match: { rules: ['E2E replicas sweep'] },
      actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0, ignoreStandalonePods: false })],
    }, 'cluster');
    const alert = podAlert({ rule: 'E2E replicas sweep', namespace: ns, pod: 'swept' });
    await Promise.all([postAccepted(a, alert), postAccepted(b, alert)]);
    await eventually('the pod deleted', async () => !(await podExists('swept')), 30_000, 200);
    const list = async (kind: string) => (await coordination.listNamespacedLease({ namespace: leases, labelSelector: `talon.dev/coordination=${kind}` })).items;
    await eventually('the claim swept', async () => (await list('claim')).length === 0, 30_000, 250);
    // The budget slot stays for its minute: it still counts against the budget.
    assert.equal((await list('budget')).length, 1);
  });
});
