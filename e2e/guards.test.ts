/**
 * Issue: safety guards. The real operator against the real kube-apiserver: the
 * ignoreDaemonSets guard, tenancy (a tenant rule never reaches into another namespace),
 * protected namespaces (even for cluster rules), dry-run per rule and globally, and the
 * cluster-wide budget of destructive actions per minute.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, uniqueName, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import {
  about,
  applyRuleLoaded,
  auditAlert,
  eventsRegarding,
  inline,
  isTerminating,
  podAlert,
  postAccepted,
  ruleStatus,
  waitOutcome,
} from './support/alerts.js';

const isNotFound = (err: unknown): boolean => (err as { code?: number }).code === 404;

/** The pod still exists with this uid and is not being deleted. */
async function assertUntouched(core: k8s.CoreV1Api, namespace: string, name: string, uid: string | undefined, label?: string): Promise<void> {
  const p = await core.readNamespacedPod({ name, namespace });
  assert.equal(p.metadata?.uid, uid, `${namespace}/${name} is the same pod`);
  assert.ok(!isTerminating(p), `${namespace}/${name} is not being deleted`);
  if (label !== undefined) assert.equal(p.metadata?.labels?.[label], undefined, `${namespace}/${name} has no ${label} label`);
}

async function runningPod(core: k8s.CoreV1Api, namespace: string, name: string): Promise<k8s.V1Pod> {
  await core.createNamespacedPod({ namespace, body: podManifest(name) });
  return waitForPodRunning(core, namespace, name);
}

describe('guards', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const talon = new Talon(kc);

  before(async () => {
    await installCRDs(kc);
  });

  describe('DaemonSets, tenancy, protected namespaces and rule dry-run', () => {
    let op: OperatorProcess;
    let work = '';
    let tenantA = '';
    let tenantB = '';
    const protectedNs = uniqueName('protected');

    before(async () => {
      work = await createNamespace(core, 'guards');
      tenantA = await createNamespace(core, 'tenant-a');
      tenantB = await createNamespace(core, 'tenant-b');
      await core.createNamespace({ body: { metadata: { name: protectedNs, labels: { 'talon.dev/e2e': 'true' } } } });
      op = await OperatorProcess.start({
        config: { statusFlushInterval: '500ms', protectedNamespaces: ['kube-system', protectedNs] },
      });
    });
    after(async () => {
      await op?.stop();
      await talon.deleteClusterObjects();
      await talon.deleteAll(tenantA);
      await Promise.all([work, tenantA, tenantB, protectedNs].map((ns) => deleteNamespace(core, ns)));
    });

    it('a DaemonSet pod is not terminated when ignoreDaemonSets is true', async () => {
      await apps.createNamespacedDaemonSet({
        namespace: work,
        body: {
          metadata: { name: 'agent' },
          spec: {
            selector: { matchLabels: { app: 'agent' } },
            template: {
              metadata: { labels: { app: 'agent' } },
              spec: { nodeName: 'kwok-node-0', containers: [{ name: 'main', image: 'registry.invalid/fake:1' }], tolerations: [{ operator: 'Exists' }] },
            },
          },
        },
      });
      const pod = await eventually('the DaemonSet pod Running', async () => {
        const pods = await core.listNamespacedPod({ namespace: work, labelSelector: 'app=agent' });
        return pods.items.find((p) => p.status?.phase === 'Running');
      }, 60_000, 200);
      assert.equal(pod.metadata?.ownerReferences?.[0]?.kind, 'DaemonSet');
      const name = pod.metadata!.name!;

      await applyRuleLoaded(kc, talon, CLUSTER, 'spare-daemonsets', {
        match: { rules: ['E2E daemonset'] },
        actions: [inline('kill', 'kubernetes:terminate', { ignoreDaemonSets: true })],
      }, 'cluster');
      await postAccepted(op, podAlert({ rule: 'E2E daemonset', namespace: work, pod: name }));
      const o = await waitOutcome(talon, CLUSTER, 'spare-daemonsets', about('Pod', name), 'DaemonSet pod outcome');
      assert.equal(o.result, 'Skipped');
      assert.equal(o.reason, 'IgnoredDaemonSet');
      assert.equal(o.actionner, 'kubernetes:terminate');
      await assertUntouched(core, work, name, pod.metadata?.uid);
    });

    it('a tenant rule never touches a pod in another namespace; its run-time scope check skips an object outside it as OutOfScope', async () => {
      const a = await runningPod(core, tenantA, 'a-pod');
      const b = await runningPod(core, tenantB, 'b-pod');
      // A cluster rule on the same Falco rule is the witness that the alert about b-pod was processed.
      await applyRuleLoaded(kc, talon, CLUSTER, 'cluster-witness', {
        match: { rules: ['E2E tenant'] },
        actions: [inline('witness', 'kubernetes:label', { labels: { 'talon.dev/witness': 'seen' } })],
      }, 'cluster');
      await applyRuleLoaded(kc, talon, tenantA, 'tenant-label', {
        match: { rules: ['E2E tenant'] },
        actions: [inline('touch', 'kubernetes:label', { labels: { 'talon.dev/tenant-touched': 'yes' } })],
      }, 'tenant');

      await postAccepted(op, podAlert({ rule: 'E2E tenant', namespace: tenantB, pod: 'b-pod' }));
      await eventually('b-pod labelled by the cluster rule', async () => (await core.readNamespacedPod({ name: 'b-pod', namespace: tenantB })).metadata?.labels?.['talon.dev/witness'] === 'seen');
      // The same alert about a-pod: the tenant rule acts in its own namespace.
      await postAccepted(op, podAlert({ rule: 'E2E tenant', namespace: tenantA, pod: 'a-pod' }));
      await eventually('a-pod labelled by the tenant rule', async () => (await core.readNamespacedPod({ name: 'a-pod', namespace: tenantA })).metadata?.labels?.['talon.dev/tenant-touched'] === 'yes');

      const s = await eventually('tenant rule status flushed', async () => {
        const s = await ruleStatus(talon, tenantA, 'tenant-label');
        return s.results.succeeded === 1 ? s : undefined;
      });
      assert.equal(s.matchedEvents, 1, 'the alert about b-pod did not match the tenant rule of another namespace');
      assert.deepEqual(s.results, { succeeded: 1, failed: 0, skipped: 0, dryRun: 0 });
      assert.deepEqual(s.lastOutcomes.map((o) => `${o.target.namespace}/${o.target.name}`), [`${tenantA}/a-pod`]);
      await assertUntouched(core, tenantB, 'b-pod', b.metadata?.uid, 'talon.dev/tenant-touched');
      assert.equal((await core.readNamespacedPod({ name: 'a-pod', namespace: tenantA })).metadata?.uid, a.metadata?.uid);

      // An alert whose target namespace is the tenant's but which names an object in another namespace.
      await core.createNamespacedConfigMap({ namespace: tenantB, body: { metadata: { name: 'b-config' }, data: { k: 'v' } } });
      await applyRuleLoaded(kc, talon, tenantA, 'tenant-delete', {
        match: { rules: ['E2E tenant audit'], sources: ['k8s_audit'] },
        actions: [inline('delete', 'kubernetes:delete')],
      }, 'tenant');
      await postAccepted(op, auditAlert({ rule: 'E2E tenant audit', resource: 'configmaps', name: 'b-config', namespace: tenantB, fields: { 'k8s.ns.name': tenantA } }));
      const o = await waitOutcome(talon, tenantA, 'tenant-delete', about('ConfigMap', 'b-config'), 'OutOfScope outcome');
      assert.equal(o.result, 'Skipped');
      assert.equal(o.reason, 'OutOfScope');
      assert.match(o.message, new RegExp(`namespace '${tenantB}'.*a rule in namespace '${tenantA}' may only act there`));
      await core.readNamespacedConfigMap({ name: 'b-config', namespace: tenantB });
    });

    it('a protected namespace is never acted upon, even by a cluster rule', async () => {
      const pod = await runningPod(core, protectedNs, 'precious');
      await applyRuleLoaded(kc, talon, CLUSTER, 'protected', {
        match: { rules: ['E2E protected'] },
        actions: [
          inline('lbl', 'kubernetes:label', { labels: { 'talon.dev/touched': 'yes' } }, { ignoreErrors: true }),
          inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 }),
        ],
      }, 'cluster');
      await postAccepted(op, podAlert({ rule: 'E2E protected', namespace: protectedNs, pod: 'precious' }));
      for (const action of ['lbl', 'kill']) {
        const o = await waitOutcome(talon, CLUSTER, 'protected', (x) => about('Pod', 'precious')(x) && x.action === action, `protected ${action}`);
        assert.equal(o.result, 'Skipped');
        assert.equal(o.reason, 'ProtectedNamespace');
        assert.match(o.message, new RegExp(`namespace '${protectedNs}' is protected`));
      }
      await assertUntouched(core, protectedNs, 'precious', pod.metadata?.uid, 'talon.dev/touched');
    });

    it('a rule with dryRun: true changes nothing and records what it would do', async () => {
      const pod = await runningPod(core, work, 'dry-victim');
      await applyRuleLoaded(kc, talon, CLUSTER, 'dry-kill', {
        dryRun: true,
        match: { rules: ['E2E dry rule'] },
        actions: [inline('lbl', 'kubernetes:label', { labels: { 'talon.dev/touched': 'yes' } }), inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })],
      }, 'cluster');
      await postAccepted(op, podAlert({ rule: 'E2E dry rule', namespace: work, pod: 'dry-victim' }));
      const kill = await waitOutcome(talon, CLUSTER, 'dry-kill', (x) => about('Pod', 'dry-victim')(x) && x.action === 'kill', 'dry-run kill');
      assert.equal(kill.result, 'DryRun');
      assert.match(kill.message, new RegExp(`^the rule is in dry-run mode: would run kubernetes:terminate with \\{.*"gracePeriodSeconds":0.*\\} on Pod ${work}/dry-victim$`));
      const lbl = await waitOutcome(talon, CLUSTER, 'dry-kill', (x) => about('Pod', 'dry-victim')(x) && x.action === 'lbl', 'dry-run label');
      assert.equal(lbl.result, 'DryRun');
      assert.match(lbl.message, /would run kubernetes:label with .*"talon\.dev\/touched":"yes"/);
      await assertUntouched(core, work, 'dry-victim', pod.metadata?.uid, 'talon.dev/touched');
      const s = await ruleStatus(talon, CLUSTER, 'dry-kill');
      assert.deepEqual(s.results, { succeeded: 0, failed: 0, skipped: 0, dryRun: 2 });
    });
  });

  describe('global dry-run (safety.dryRun: true)', () => {
    let op: OperatorProcess;
    let work = '';

    before(async () => {
      work = await createNamespace(core, 'guards-dry');
      op = await OperatorProcess.start({ config: { statusFlushInterval: '500ms', safety: { dryRun: true } } });
    });
    after(async () => {
      await op?.stop();
      await talon.deleteClusterObjects();
      await deleteNamespace(core, work);
    });

    it('no rule changes anything; each records a DryRun outcome saying what it would do', async () => {
      const pod = await runningPod(core, work, 'victim');
      await applyRuleLoaded(kc, talon, CLUSTER, 'kill', {
        match: { rules: ['E2E global dry'] },
        actions: [inline('lbl', 'kubernetes:label', { labels: { 'talon.dev/touched': 'yes' } }), inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })],
      }, 'cluster');
      await postAccepted(op, podAlert({ rule: 'E2E global dry', namespace: work, pod: 'victim' }));
      const kill = await waitOutcome(talon, CLUSTER, 'kill', (x) => about('Pod', 'victim')(x) && x.action === 'kill', 'global dry-run kill');
      assert.equal(kill.result, 'DryRun');
      assert.match(kill.message, new RegExp(`^the operator is in dry-run mode: would run kubernetes:terminate with .* on Pod ${work}/victim$`));
      const lbl = await waitOutcome(talon, CLUSTER, 'kill', (x) => about('Pod', 'victim')(x) && x.action === 'lbl', 'global dry-run label');
      assert.equal(lbl.result, 'DryRun');
      await assertUntouched(core, work, 'victim', pod.metadata?.uid, 'talon.dev/touched');
    });
  });

  describe('destructive budget (safety.destructiveActionsPerMinute: 2)', () => {
    let op: OperatorProcess;
    let work = '';

    before(async () => {
      work = await createNamespace(core, 'guards-budget');
      op = await OperatorProcess.start({ config: { statusFlushInterval: '500ms', safety: { destructiveActionsPerMinute: 2 } } });
    });
    after(async () => {
      await op?.stop();
      await talon.deleteClusterObjects();
      await deleteNamespace(core, work);
    });

    it('4 terminate alerts for 4 pods: 2 pods gone, 2 Skipped/BudgetExceeded with a Warning Event', async () => {
      const names = ['p-0', 'p-1', 'p-2', 'p-3'];
      const uids = new Map<string, string | undefined>();
      for (const n of names) uids.set(n, (await runningPod(core, work, n)).metadata?.uid);
      await applyRuleLoaded(kc, talon, CLUSTER, 'kill', { match: { rules: ['E2E budget'] }, actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })] }, 'cluster');
      await Promise.all(names.map((pod) => postAccepted(op, podAlert({ rule: 'E2E budget', namespace: work, pod }))));

      const s = await eventually('4 outcomes in the rule status', async () => {
        const s = await ruleStatus(talon, CLUSTER, 'kill');
        return s.results.succeeded + s.results.skipped + s.results.failed === 4 ? s : undefined;
      });
      assert.deepEqual(s.results, { succeeded: 2, failed: 0, skipped: 2, dryRun: 0 });
      const skipped = s.lastOutcomes.filter((o) => o.result === 'Skipped');
      assert.equal(skipped.length, 2);
      for (const o of skipped) {
        assert.equal(o.reason, 'BudgetExceeded');
        assert.match(o.message, /budget of destructive actions per minute is spent/);
      }
      const killed = s.lastOutcomes.filter((o) => o.result === 'Succeeded').map((o) => o.target.name).sort();
      const spared = skipped.map((o) => o.target.name).sort();
      assert.deepEqual([...killed, ...spared].sort(), names);

      for (const n of killed) {
        await eventually(`${n} gone`, async () => {
          try {
            await core.readNamespacedPod({ name: n, namespace: work });
            return false;
          } catch (err) {
            return isNotFound(err);
          }
        });
      }
      for (const n of spared) {
        await assertUntouched(core, work, n, uids.get(n));
        const evs = await eventually(`a Warning Event regarding ${n}`, async () => {
          const evs = await eventsRegarding(kc, work, { kind: 'Pod', name: n });
          return evs.some((e) => e.type === 'Warning') ? evs : undefined;
        });
        const w = evs.find((e) => e.type === 'Warning')!;
        assert.equal(w.reason, 'Skipped');
        assert.equal(w.action, 'kubernetes:terminate');
        assert.match(w.note ?? '', /budget of destructive actions per minute is spent/);
      }
    });
  });
});
