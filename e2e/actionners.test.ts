/**
 * Issue: the Kubernetes actionners. One real operator process against the real
 * kube-apiserver; for each actionner an alert posted to the webhook produces its effect on
 * real objects: terminate (and its minHealthyReplicas guard), label and annotation (set and
 * removal, pod and node level), networkpolicy (the one pod, DNS + allowed egress only),
 * delete (the audited object of a k8s_audit alert), cordon, drain (PDB respected, standalone
 * pods per ignoreStandalonePods); and `kubectl describe` shows the outcomes as Events.
 *
 * Extra kwok nodes are created for the node-level actions (kwok-node-0/1 are shared).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, uniqueName, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon, kubectl } from './support/talon.js';
import {
  about,
  applyRuleLoaded,
  auditAlert,
  createKwokNode,
  deleteNode,
  eventsRegarding,
  inline,
  isReady,
  isTerminating,
  PodBinder,
  podAlert,
  postAccepted,
  waitOutcome,
  watchPods,
} from './support/alerts.js';

const QUARANTINE_LABEL = 'talon.dev/quarantine';

function deploymentManifest(name: string, replicas: number, nodeName?: string): k8s.V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          ...(nodeName !== undefined ? { nodeName } : {}),
          containers: [{ name: 'main', image: 'registry.invalid/fake:1' }],
          tolerations: [{ operator: 'Exists' }],
        },
      },
    },
  };
}

const isNotFound = (err: unknown): boolean => (err as { code?: number }).code === 404;

/** The JSON shape of a client-node model object (its classes defeat deepStrictEqual). */
const plain = <T>(v: T): unknown => JSON.parse(JSON.stringify(v)) as unknown;

describe('Kubernetes actionners act on real objects', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const policy = kc.makeApiClient(k8s.PolicyV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const talon = new Talon(kc);
  const id = uniqueName('x').slice(2);
  const metaNode = `kwok-drain-${id}-a`;
  const drainNode = `kwok-drain-${id}-b`;
  let op: OperatorProcess;
  let ns = '';

  const cluster = (name: string, falcoRule: string, actions: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
    applyRuleLoaded(kc, talon, CLUSTER, name, { match: { rules: [falcoRule] }, actions, ...extra }, 'cluster');

  async function runningPod(name: string, opts: { node?: string; labels?: Record<string, string> } = {}): Promise<k8s.V1Pod> {
    await core.createNamespacedPod({ namespace: ns, body: podManifest(name, opts) });
    return waitForPodRunning(core, ns, name);
  }

  async function podGone(name: string, uid?: string): Promise<void> {
    await eventually(
      `pod ${ns}/${name}${uid ? ` (uid ${uid})` : ''} gone`,
      async () => {
        try {
          const p = await core.readNamespacedPod({ name, namespace: ns });
          return uid !== undefined && p.metadata?.uid !== uid;
        } catch (err) {
          if (isNotFound(err)) return true;
          throw err;
        }
      },
      60_000,
      200,
    );
  }

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'act');
    await Promise.all([createKwokNode(core, metaNode), createKwokNode(core, drainNode)]);
    op = await OperatorProcess.start({ config: { statusFlushInterval: '500ms' } });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await Promise.all([deleteNamespace(core, ns), deleteNode(core, metaNode), deleteNode(core, drainNode)]);
  });

  it('kubernetes:terminate deletes the pod of the alert', async () => {
    const pod = await runningPod('victim');
    await cluster('terminate', 'E2E terminate', [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })]);
    await postAccepted(op, podAlert({ rule: 'E2E terminate', namespace: ns, pod: 'victim' }));
    await podGone('victim', pod.metadata?.uid);
    const o = await waitOutcome(talon, CLUSTER, 'terminate', about('Pod', 'victim'), 'victim terminated');
    assert.equal(o.result, 'Succeeded');
    assert.equal(o.reason, 'Terminated');
  });

  it('kubernetes:terminate spares a Deployment pod when minHealthyReplicas would be broken, and kills it when not', async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deploymentManifest('guarded', 2, 'kwok-node-0') });
    await eventually('deployment guarded 2 ready', async () => (await apps.readNamespacedDeployment({ name: 'guarded', namespace: ns })).status?.readyReplicas === 2, 60_000, 200);
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=guarded' })).items.filter(isReady);
    assert.equal(pods.length, 2);
    const target = pods[0]!;
    const name = target.metadata!.name!;
    const uid = target.metadata!.uid!;

    await cluster('terminate-min2', 'E2E terminate min 2', [inline('kill', 'kubernetes:terminate', { minHealthyReplicas: '2' })]);
    await postAccepted(op, podAlert({ rule: 'E2E terminate min 2', namespace: ns, pod: name }));
    const spared = await waitOutcome(talon, CLUSTER, 'terminate-min2', about('Pod', name), 'guarded pod outcome');
    assert.equal(spared.result, 'Skipped');
    assert.equal(spared.reason, 'MinHealthyReplicas');
    assert.match(spared.message, /Deployment 'guarded' would have 1 ready of 2 desired replicas/);
    const still = await core.readNamespacedPod({ name, namespace: ns });
    assert.equal(still.metadata?.uid, uid);
    assert.ok(!isTerminating(still), 'the spared pod is not being deleted');

    await cluster('terminate-min1', 'E2E terminate min 1', [inline('kill', 'kubernetes:terminate', { minHealthyReplicas: '1' })]);
    await postAccepted(op, podAlert({ rule: 'E2E terminate min 1', namespace: ns, pod: name }));
    await podGone(name, uid);
    const killed = await waitOutcome(talon, CLUSTER, 'terminate-min1', about('Pod', name), 'guarded pod killed');
    assert.equal(killed.result, 'Succeeded');
    assert.equal(killed.reason, 'Terminated');
  });

  it('kubernetes:label and kubernetes:annotation set and remove keys on the pod', async () => {
    await runningPod('meta', { labels: { app: 'meta', keep: 'me' } });
    await cluster('meta-set', 'E2E meta set', [
      inline('lbl', 'kubernetes:label', { labels: { 'talon.dev/e2e-flag': 'on' } }),
      inline('ann', 'kubernetes:annotation', { annotations: { 'talon.dev/e2e-note': 'seen by talon' } }),
    ]);
    await cluster('meta-unset', 'E2E meta unset', [
      inline('lbl', 'kubernetes:label', { labels: { 'talon.dev/e2e-flag': '' } }),
      inline('ann', 'kubernetes:annotation', { annotations: { 'talon.dev/e2e-note': '' } }),
    ]);

    await postAccepted(op, podAlert({ rule: 'E2E meta set', namespace: ns, pod: 'meta' }));
    const set = await eventually('meta labelled and annotated', async () => {
      const p = await core.readNamespacedPod({ name: 'meta', namespace: ns });
      return p.metadata?.labels?.['talon.dev/e2e-flag'] === 'on' && p.metadata.annotations?.['talon.dev/e2e-note'] === 'seen by talon' ? p : undefined;
    });
    assert.equal(set.metadata?.labels?.keep, 'me', 'other labels are kept');
    for (const action of ['lbl', 'ann']) {
      const o = await waitOutcome(talon, CLUSTER, 'meta-set', (x) => about('Pod', 'meta')(x) && x.action === action, `meta-set ${action}`);
      assert.equal(o.result, 'Succeeded');
    }

    await postAccepted(op, podAlert({ rule: 'E2E meta unset', namespace: ns, pod: 'meta' }));
    const unset = await eventually('meta label and annotation removed', async () => {
      const p = await core.readNamespacedPod({ name: 'meta', namespace: ns });
      return p.metadata?.labels?.['talon.dev/e2e-flag'] === undefined && p.metadata?.annotations?.['talon.dev/e2e-note'] === undefined ? p : undefined;
    });
    assert.deepEqual(unset.metadata?.labels, { app: 'meta', keep: 'me' });
  });

  it('kubectl describe shows the outcomes as Events on the pod and on the ClusterTalonRule', async () => {
    const pod = await core.readNamespacedPod({ name: 'meta', namespace: ns });
    const regarding = await eventually('Events regarding pod meta', async () => {
      const evs = await eventsRegarding(kc, ns, { kind: 'Pod', name: 'meta', uid: pod.metadata?.uid });
      return evs.filter((e) => e.reason === 'Succeeded').length >= 4 ? evs : undefined;
    });
    for (const actionner of ['kubernetes:label', 'kubernetes:annotation']) {
      assert.ok(regarding.some((e) => e.action === actionner && e.related?.kind === 'ClusterTalonRule'), `an Event for ${actionner}, related to the rule`);
    }

    const describePod = kubectl('describe', 'pod', 'meta', '-n', ns);
    const podEvents = describePod.slice(describePod.indexOf('Events:'));
    assert.match(podEvents, /Normal\s+Succeeded\s+.*talon\.dev\/operator.*has been labeled \(set talon\.dev\/e2e-flag=on\)/);
    assert.match(podEvents, /Normal\s+Succeeded\s+.*talon\.dev\/operator.*has been annotated \(removed talon\.dev\/e2e-note\)/);

    const describeRule = kubectl('describe', 'ctrule', 'meta-set');
    const ruleEvents = describeRule.slice(describeRule.indexOf('Events:'));
    assert.match(ruleEvents, /Normal\s+Succeeded\s+.*talon\.dev\/operator.*pod 'meta'.*has been labeled/);
    assert.match(ruleEvents, /Normal\s+Succeeded\s+.*talon\.dev\/operator.*pod 'meta'.*has been annotated/);
  });

  it('kubernetes:label and kubernetes:annotation at node level set and remove keys on the pod\'s node', async () => {
    await runningPod('on-meta-node', { node: metaNode });
    await cluster('node-meta-set', 'E2E node meta set', [
      inline('lbl', 'kubernetes:label', { labels: { 'talon.dev/e2e-node-flag': 'on' }, level: 'node' }),
      inline('ann', 'kubernetes:annotation', { annotations: { 'talon.dev/e2e-node-note': 'suspicious' }, level: 'node' }),
    ]);
    await cluster('node-meta-unset', 'E2E node meta unset', [
      inline('lbl', 'kubernetes:label', { labels: { 'talon.dev/e2e-node-flag': '' }, level: 'node' }),
      inline('ann', 'kubernetes:annotation', { annotations: { 'talon.dev/e2e-node-note': '' }, level: 'node' }),
    ]);
    await postAccepted(op, podAlert({ rule: 'E2E node meta set', namespace: ns, pod: 'on-meta-node' }));
    await eventually('node labelled and annotated', async () => {
      const n = await core.readNode({ name: metaNode });
      return n.metadata?.labels?.['talon.dev/e2e-node-flag'] === 'on' && n.metadata.annotations?.['talon.dev/e2e-node-note'] === 'suspicious';
    });
    const pod = await core.readNamespacedPod({ name: 'on-meta-node', namespace: ns });
    assert.equal(pod.metadata?.labels?.['talon.dev/e2e-node-flag'], undefined, 'the pod itself is not labelled');

    await postAccepted(op, podAlert({ rule: 'E2E node meta unset', namespace: ns, pod: 'on-meta-node' }));
    const n = await eventually('node label and annotation removed', async () => {
      const n = await core.readNode({ name: metaNode });
      return n.metadata?.labels?.['talon.dev/e2e-node-flag'] === undefined && n.metadata?.annotations?.['talon.dev/e2e-node-note'] === undefined ? n : undefined;
    });
    assert.equal(n.metadata?.labels?.type, 'kwok', 'other node labels are kept');
    assert.equal(n.metadata?.annotations?.['kwok.x-k8s.io/node'], 'fake', 'other node annotations are kept');
  });

  it('kubernetes:networkpolicy isolates exactly the offending pod, keeping DNS and the allowed egress only', async () => {
    for (const name of ['q-0', 'q-1', 'q-2']) await runningPod(name, { labels: { app: 'quarantine-me' } });
    const rule = await cluster('isolate', 'E2E isolate', [
      inline('isolate', 'kubernetes:networkpolicy', { allowCIDRs: ['10.0.0.0/8'], allowNamespaces: ['monitoring'] }),
    ]);
    assert.ok(rule.metadata.uid);
    await postAccepted(op, podAlert({ rule: 'E2E isolate', namespace: ns, pod: 'q-1' }));

    const np = await eventually('NetworkPolicy talon-quarantine-q-1', () => networking.readNamespacedNetworkPolicy({ name: 'talon-quarantine-q-1', namespace: ns }).catch(() => undefined));
    const offender = await eventually('q-1 carries the quarantine label', async () => {
      const p = await core.readNamespacedPod({ name: 'q-1', namespace: ns });
      return p.metadata?.labels?.[QUARANTINE_LABEL] !== undefined ? p : undefined;
    });
    const quarantine = offender.metadata!.labels![QUARANTINE_LABEL]!;

    // The selector names the quarantine label only, and only q-1 carries it (its siblings share app=quarantine-me).
    assert.deepEqual(plain(np.spec?.podSelector), { matchLabels: { [QUARANTINE_LABEL]: quarantine } });
    const selected = await core.listNamespacedPod({ namespace: ns, labelSelector: `${QUARANTINE_LABEL}=${quarantine}` });
    assert.deepEqual(selected.items.map((p) => p.metadata?.name), ['q-1']);
    const all = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=quarantine-me' });
    assert.equal(all.items.length, 3);
    for (const p of all.items) if (p.metadata?.name !== 'q-1') assert.equal(p.metadata?.labels?.[QUARANTINE_LABEL], undefined, `${p.metadata?.name} is not quarantined`);

    assert.deepEqual(np.spec?.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(plain(np.spec?.ingress ?? []), [], 'all ingress denied');
    assert.deepEqual(plain(np.spec?.egress), [
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
      { to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] },
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    ]);
    const owners = np.metadata?.ownerReferences ?? [];
    assert.equal(owners.length, 1);
    assert.equal(owners[0]!.kind, 'Pod');
    assert.equal(owners[0]!.name, 'q-1');
    assert.equal(owners[0]!.uid, offender.metadata?.uid);
    assert.equal(np.metadata?.labels?.['app.kubernetes.io/managed-by'], 'talon-operator');
    assert.equal(np.metadata?.labels?.['talon.dev/rule'], 'isolate');
    assert.equal(np.metadata?.annotations?.['talon.dev/expires-at'], undefined, 'no ttl, no expiry');

    const o = await waitOutcome(talon, CLUSTER, 'isolate', about('Pod', 'q-1'), 'q-1 isolated');
    assert.equal(o.result, 'Succeeded');
    assert.equal(o.reason, 'Isolated');
  });

  it('kubernetes:delete deletes the audited ServiceAccount and ConfigMap of k8s_audit alerts', async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'audited-sa' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'audited-cm' }, data: { a: 'b' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'bystander-cm' }, data: { a: 'b' } } });
    await cluster('delete-audited', 'K8s Serviceaccount Created', [inline('delete', 'kubernetes:delete')], {
      match: { rules: ['K8s Serviceaccount Created', 'E2E ConfigMap Created'], sources: ['k8s_audit'] },
    });
    await postAccepted(op, auditAlert({ rule: 'K8s Serviceaccount Created', resource: 'serviceaccounts', name: 'audited-sa', namespace: ns }));
    await postAccepted(op, auditAlert({ rule: 'E2E ConfigMap Created', resource: 'configmaps', name: 'audited-cm', namespace: ns }));

    const gone = (read: () => Promise<unknown>) => async () => {
      try {
        await read();
        return false;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    };
    await eventually('ServiceAccount audited-sa deleted', gone(() => core.readNamespacedServiceAccount({ name: 'audited-sa', namespace: ns })));
    await eventually('ConfigMap audited-cm deleted', gone(() => core.readNamespacedConfigMap({ name: 'audited-cm', namespace: ns })));
    await core.readNamespacedConfigMap({ name: 'bystander-cm', namespace: ns });

    const sa = await waitOutcome(talon, CLUSTER, 'delete-audited', about('ServiceAccount', 'audited-sa'), 'ServiceAccount deleted');
    const cm = await waitOutcome(talon, CLUSTER, 'delete-audited', about('ConfigMap', 'audited-cm'), 'ConfigMap deleted');
    for (const o of [sa, cm]) {
      assert.equal(o.result, 'Succeeded');
      assert.equal(o.reason, 'Deleted');
      assert.equal(o.target.namespace, ns);
    }
  });

  it('kubernetes:cordon makes the node of the pod unschedulable', async () => {
    assert.notEqual((await core.readNode({ name: metaNode })).spec?.unschedulable, true);
    await cluster('cordon', 'E2E cordon', [inline('cordon', 'kubernetes:cordon')]);
    await postAccepted(op, podAlert({ rule: 'E2E cordon', namespace: ns, pod: 'on-meta-node' }));
    await eventually('node cordoned', async () => (await core.readNode({ name: metaNode })).spec?.unschedulable === true);
    const o = await waitOutcome(talon, CLUSTER, 'cordon', about('Pod', 'on-meta-node'), 'cordon outcome');
    assert.equal(o.result, 'Succeeded');
    assert.equal(o.reason, 'Cordoned');
    const pod = await core.readNamespacedPod({ name: 'on-meta-node', namespace: ns });
    assert.ok(!isTerminating(pod), 'cordon evicts nothing');
    // The Event is regarding the alert's target (the pod, with its uid); its note names the node.
    await eventually('a cordon Event regarding the pod', async () => {
      const evs = await eventsRegarding(kc, ns, { kind: 'Pod', name: 'on-meta-node', uid: pod.metadata?.uid });
      return evs.some((e) => e.action === 'kubernetes:cordon' && e.reason === 'Succeeded' && e.note?.includes(`the node '${metaNode}' has been cordoned`));
    });
    const describePod = kubectl('describe', 'pod', 'on-meta-node', '-n', ns);
    assert.match(describePod.slice(describePod.indexOf('Events:')), /Normal\s+Succeeded\s+.*talon\.dev\/operator\s+the node '.*' has been cordoned/);
  });

  it('kubernetes:drain cordons, evicts the Deployment pods one at a time as the PDB allows, and handles standalone pods per ignoreStandalonePods', async () => {
    // No scheduler on the test plane: a binder places the Deployment's first two pods on the
    // node to drain, and every later one (the replacements) on kwok-node-1.
    const binder = await PodBinder.start(kc, ns, 'app=drained', (_pod, n) => (n < 2 ? drainNode : 'kwok-node-1'));
    try {
      await apps.createNamespacedDeployment({ namespace: ns, body: deploymentManifest('drained', 2) });
      await eventually('deployment drained 2 ready', async () => (await apps.readNamespacedDeployment({ name: 'drained', namespace: ns })).status?.readyReplicas === 2, 60_000, 200);
      const originals = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=drained' })).items;
      assert.equal(originals.length, 2);
      for (const p of originals) assert.equal(p.spec?.nodeName, drainNode);
      const originalNames = new Set(originals.map((p) => p.metadata!.name!));

      await policy.createNamespacedPodDisruptionBudget({ namespace: ns, body: { metadata: { name: 'drained' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'drained' } } } } });
      await eventually('PDB allows 1 disruption', async () => {
        const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'drained', namespace: ns });
        return pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.currentHealthy === 2 && pdb.status?.disruptionsAllowed === 1;
      }, 60_000, 200);
      await runningPod('lonely', { node: drainNode });

      // Samples every change of the Deployment's pods: ready (and not terminating) count, and the order things happened in.
      let minReady = Infinity;
      let armed = false;
      const timeline: string[] = [];
      const sampler = await watchPods(kc, ns, 'app=drained', () => {
        const pods = [...sampler.objects.values()];
        const ready = pods.filter((p) => isReady(p) && !isTerminating(p)).length;
        armed ||= ready === 2; // the watch first replays the existing pods one by one
        if (armed) minReady = Math.min(minReady, ready);
        for (const p of pods) {
          const name = p.metadata!.name!;
          if (originalNames.has(name) && isTerminating(p) && !timeline.includes(`evicted ${name}`)) timeline.push(`evicted ${name}`);
          if (!originalNames.has(name) && isReady(p) && !timeline.includes(`ready ${name}`)) timeline.push(`ready ${name}`);
        }
      });
      try {
        await eventually('sampler sees the two ready pods', () => armed);
        await cluster('drain-keep-standalone', 'E2E drain keep standalone', [
          inline('drain', 'kubernetes:drain', { ignoreStandalonePods: true, maxWaitSeconds: 90 }, { timeoutSeconds: 120 }),
        ]);
        await postAccepted(op, podAlert({ rule: 'E2E drain keep standalone', namespace: ns, pod: 'lonely' }));
        const o = await waitOutcome(talon, CLUSTER, 'drain-keep-standalone', about('Pod', 'lonely'), 'drain outcome', 150_000);
        assert.equal(o.result, 'Succeeded', o.message);
        assert.equal(o.reason, 'Drained');
        assert.match(o.message, /evicted 2 pods/);
        assert.match(o.message, new RegExp(`${ns}/lonely \\(IgnoredStandalonePod\\)`));

        assert.equal((await core.readNode({ name: drainNode })).spec?.unschedulable, true, 'the node is cordoned');
        await eventually('no Deployment pod left on the drained node', async () => {
          const left = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=drained', fieldSelector: `spec.nodeName=${drainNode}` });
          return left.items.length === 0;
        }, 60_000, 200);
        await eventually('two ready replacements on kwok-node-1', async () => {
          const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=drained' })).items;
          return pods.length === 2 && pods.every((p) => isReady(p) && !isTerminating(p) && p.spec?.nodeName === 'kwok-node-1' && !originalNames.has(p.metadata!.name!));
        }, 60_000, 200);

        assert.ok(minReady >= 1, `the PDB (minAvailable 1) held: at least 1 ready pod at every change (min seen: ${minReady})`);
        // One original evicted, then a replacement became ready, only then the second original evicted.
        const evictions = timeline.filter((t) => t.startsWith('evicted')).map((t) => timeline.indexOf(t));
        const firstReady = timeline.findIndex((t) => t.startsWith('ready'));
        assert.equal(evictions.length, 2, `both originals evicted: ${timeline.join(', ')}`);
        assert.ok(evictions[0]! < firstReady && firstReady < evictions[1]!, `evict, replacement ready, evict: ${timeline.join(', ')}`);

        const lonely = await core.readNamespacedPod({ name: 'lonely', namespace: ns });
        assert.ok(!isTerminating(lonely), 'the standalone pod stays when ignoreStandalonePods is true');
        const describePod = await eventually('kubectl describe pod lonely shows the drain', () => {
          const out = kubectl('describe', 'pod', 'lonely', '-n', ns);
          return /Normal\s+Succeeded\s+.*talon\.dev\/operator\s+the node '.*' is cordoned and drained/.test(out) ? out : undefined;
        });
        assert.ok(describePod.includes('Events:'));
      } finally {
        sampler.stop();
      }

      await cluster('drain-all', 'E2E drain all', [inline('drain', 'kubernetes:drain', { ignoreStandalonePods: false, maxWaitSeconds: 30 })]);
      await postAccepted(op, podAlert({ rule: 'E2E drain all', namespace: ns, pod: 'lonely' }));
      const o = await waitOutcome(talon, CLUSTER, 'drain-all', about('Pod', 'lonely'), 'drain-all outcome', 60_000);
      assert.equal(o.result, 'Succeeded', o.message);
      assert.match(o.message, /evicted 1 pods/);
      await podGone('lonely');
    } finally {
      binder.stop();
    }
  });
});
