/**
 * Issue: safety guards. The real operator against the real kube-apiserver: the
 * ignoreDaemonSets guard, tenancy (a tenant rule never reaches into another namespace),
 * protected namespaces (even for cluster rules), dry-run per rule and globally, and the
 * cluster-wide budget of destructive actions per minute.
 *
 * Issue 8 (one target per action): each action's guards check exactly the object it touches
 * (a terminate of a kube-system pod is refused even when the alert's audited object lies
 * elsewhere), the operator never acts on its own pod or RBAC, and `system:` ClusterRoles are
 * never deleted, whatever a cluster-wide rule says.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, uniqueName, waitForDefaultServiceAccount, waitForPodRunning } from './support/cluster.js';
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
  type LastOutcome,
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

  describe('one target per action: the guards check the object each action touches', () => {
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const id = uniqueName('t').slice(2);
    /** The operator's own pod and ClusterRole as it knows them (POD_NAME/POD_NAMESPACE, OPERATOR_RBAC_NAME). */
    const selfPod = `talon-operator-${id}`;
    const ownRole = `talon-operator-${id}`;
    const victimRole = `talon-e2e-victim-${id}`;
    const kubeSystemPod = `coredns-${id}`;
    let op: OperatorProcess;
    let work = '';
    let selfNs = '';

    // Cluster-wide rules are ClusterTalonRules.
    const clusterRule = (name: string, spec: Record<string, unknown>) => applyRuleLoaded(kc, talon, CLUSTER, name, spec, 'cluster');
    const clusterOutcome = (rule: string, pred: (o: LastOutcome) => boolean, what: string) => waitOutcome(talon, CLUSTER, rule, pred, what);

    before(async () => {
      work = await createNamespace(core, 'targets');
      selfNs = await createNamespace(core, 'talon-self');
      op = await OperatorProcess.start({
        config: { statusFlushInterval: '500ms' },
        env: { POD_NAME: selfPod, POD_NAMESPACE: selfNs, OPERATOR_RBAC_NAME: ownRole },
      });
    });
    after(async () => {
      await op?.stop();
      await talon.deleteClusterObjects();
      await core.deleteNamespacedPod({ name: kubeSystemPod, namespace: 'kube-system', gracePeriodSeconds: 0 }).catch(() => undefined);
      for (const name of [ownRole, victimRole]) await rbac.deleteClusterRole({ name }).catch(() => undefined);
      await Promise.all([work, selfNs].map((ns) => deleteNamespace(core, ns)));
    });

    it("the issue's alert: terminate of a kube-system pod is refused though the audited object is elsewhere", async () => {
      await waitForDefaultServiceAccount(core, 'kube-system');
      const pod = await runningPod(core, 'kube-system', kubeSystemPod);
      await core.createNamespacedConfigMap({ namespace: work, body: { metadata: { name: 'x' }, data: { k: 'v' } } });
      await clusterRule('kill-mixed', { match: { rules: ['E2E mixed target'] }, actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })] });
      await postAccepted(
        op,
        podAlert({
          rule: 'E2E mixed target',
          namespace: 'kube-system',
          pod: kubeSystemPod,
          fields: { 'ka.target.resource': 'configmaps', 'ka.target.name': 'x', 'ka.target.namespace': work },
        }),
      );
      const o = await clusterOutcome('kill-mixed', about('Pod', kubeSystemPod), 'terminate outcome');
      assert.equal(o.result, 'Skipped');
      assert.equal(o.reason, 'ProtectedNamespace');
      assert.equal(o.target.namespace, 'kube-system');
      assert.match(o.message, new RegExp(`namespace 'kube-system' is protected: Pod kube-system/${kubeSystemPod}`));
      await assertUntouched(core, 'kube-system', kubeSystemPod, pod.metadata?.uid);
      await core.readNamespacedConfigMap({ name: 'x', namespace: work });
    });

    it("an alert naming the operator's own pod is refused with SelfProtection", async () => {
      const pod = await runningPod(core, selfNs, selfPod);
      await clusterRule('kill-self', { match: { rules: ['E2E self'] }, actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })] });
      await postAccepted(op, podAlert({ rule: 'E2E self', namespace: selfNs, pod: selfPod }));
      const o = await clusterOutcome('kill-self', about('Pod', selfPod), 'self outcome');
      assert.equal(o.result, 'Skipped');
      assert.equal(o.reason, 'SelfProtection');
      assert.match(o.message, /the operator's own pod/);
      await assertUntouched(core, selfNs, selfPod, pod.metadata?.uid);
    });

    it("a cluster-wide rule never deletes a system: ClusterRole nor the operator's own; it deletes another one", async () => {
      const basic = await rbac.readClusterRole({ name: 'system:basic-user' });
      const labels = { 'talon.dev/e2e': 'true' };
      const own = await rbac.createClusterRole({ body: { metadata: { name: ownRole, labels }, rules: [] } });
      await rbac.createClusterRole({ body: { metadata: { name: victimRole, labels }, rules: [] } });
      await clusterRule('delete-audited', { match: { rules: ['E2E delete clusterrole'], sources: ['k8s_audit'] }, actions: [inline('delete', 'kubernetes:delete')] });
      for (const name of ['system:basic-user', ownRole, victimRole]) await postAccepted(op, auditAlert({ rule: 'E2E delete clusterrole', resource: 'clusterroles', name }));

      const sys = await clusterOutcome('delete-audited', about('ClusterRole', 'system:basic-user'), 'system: ClusterRole outcome');
      assert.deepEqual([sys.result, sys.reason], ['Skipped', 'ProtectedObject']);
      assert.match(sys.message, /ClusterRole system:basic-user belongs to Kubernetes/);
      const mine = await clusterOutcome('delete-audited', about('ClusterRole', ownRole), "the operator's own ClusterRole outcome");
      assert.deepEqual([mine.result, mine.reason], ['Skipped', 'SelfProtection']);
      const victim = await clusterOutcome('delete-audited', about('ClusterRole', victimRole), 'ordinary ClusterRole outcome');
      assert.deepEqual([victim.result, victim.reason], ['Succeeded', 'Deleted']);

      assert.equal((await rbac.readClusterRole({ name: 'system:basic-user' })).metadata?.uid, basic.metadata?.uid, 'system:basic-user still exists');
      assert.equal((await rbac.readClusterRole({ name: ownRole })).metadata?.uid, own.metadata?.uid, "the operator's own ClusterRole still exists");
      await eventually(`ClusterRole ${victimRole} gone`, async () => {
        try {
          await rbac.readClusterRole({ name: victimRole });
          return false;
        } catch (err) {
          return isNotFound(err);
        }
      });
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
