/**
 * Issue 8: cluster-wide power comes from the cluster-scoped kinds, not from a namespace.
 * A user bound to the built-in `edit` ClusterRole in one namespace (impersonated on the real
 * API server; `edit` gains the TalonRule/TalonAction rules through the aggregated ClusterRoles
 * of config/rbac) can write TalonRules there and nothing cluster-wide; their rule only sees
 * and touches their namespace, and cannot stop a ClusterTalonRule; a ClusterTalonRule acts in
 * any namespace; a TalonRule may use a ClusterTalonAction, within its namespace and limits.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, impersonating, loadE2EKubeConfig, podManifest, uniqueName, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installAggregatedRoles, installCRDs } from './support/operator.js';
import { CLUSTER, Talon, condition } from './support/talon.js';
import { about, applyRuleLoaded, inline, podAlert, postAccepted, ruleStatus, waitOutcome } from './support/alerts.js';

const code = (err: unknown): number | undefined => (err as { code?: number }).code;

/** The HTTP status an API call fails with; 0 when it succeeds. */
async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 0;
  } catch (err) {
    return code(err) ?? -1;
  }
}

describe('tenancy: namespace editors write tenant rules; cluster power needs the cluster kinds', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const talon = new Talon(kc);
  const user = uniqueName('alice');
  const alice = new Talon(impersonating(kc, user));
  const aliceCore = impersonating(kc, user).makeApiClient(k8s.CoreV1Api);
  const id = uniqueName('t').slice(2);
  /** Falco rule names unique to this run: cluster rules of other runs never match our alerts. */
  const FALCO = `E2E tenancy ${id}`;
  const FALCO_SHARED = `E2E tenancy shared ${id}`;
  let op: OperatorProcess;
  let own = '';
  let other = '';

  async function runningPod(namespace: string, name: string): Promise<k8s.V1Pod> {
    await core.createNamespacedPod({ namespace, body: podManifest(name) });
    return waitForPodRunning(core, namespace, name);
  }
  const labelsOf = async (namespace: string, name: string) => (await core.readNamespacedPod({ name, namespace })).metadata?.labels ?? {};

  before(async () => {
    await installCRDs(kc);
    await installAggregatedRoles(kc);
    own = await createNamespace(core, 'tenant-own');
    other = await createNamespace(core, 'tenant-other');
    await rbac.createNamespacedRoleBinding({
      namespace: own,
      body: {
        metadata: { name: 'alice-edits' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    });
    // The authorizer's caches follow the new binding within moments.
    await eventually(`${user} can list pods in ${own}`, async () => (await statusOf(() => aliceCore.listNamespacedPod({ namespace: own }))) === 0, 30_000, 200);
    await eventually(
      `${user} can list TalonRules in ${own} (aggregated into edit)`,
      async () => (await statusOf(() => alice.custom.listNamespacedCustomObject({ group: 'talon.dev', version: 'v1alpha1', namespace: own, plural: 'talonrules' }))) === 0,
      30_000,
      200,
    );
    op = await OperatorProcess.start({ config: { statusFlushInterval: '500ms' } });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await Promise.all([deleteNamespace(core, own), deleteNamespace(core, other)]);
  });

  it('an editor of one namespace can create a TalonRule there, and is forbidden the cluster kinds and other namespaces', async () => {
    const spec = {
      order: -1000,
      continue: false,
      match: { rules: [FALCO] },
      actions: [inline('touch', 'kubernetes:label', { labels: { 'talon.dev/tenant-touched': 'yes' } })],
    };
    await alice.applyRule(own, 'own-rule', spec);
    // Read back as the user (the aggregated view rules), status included.
    const ready = await alice.waitCondition('talonrules', own, 'own-rule', 'Ready', 'True');
    assert.match(ready.message, /tenant rule/);

    const clusterRule = await statusOf(() => alice.applyRule(CLUSTER, `escalate-${id}`, spec));
    assert.equal(clusterRule, 403, 'a namespace editor may not create a ClusterTalonRule');
    const clusterAction = await statusOf(() => alice.applyAction(CLUSTER, `escalate-${id}`, { actionner: 'kubernetes:drain' }));
    assert.equal(clusterAction, 403, 'nor a ClusterTalonAction');
    assert.equal(await statusOf(() => alice.get('talonrules', CLUSTER, 'anything')), 403, 'nor read ClusterTalonRules');
    assert.equal(await statusOf(() => alice.applyRule(other, 'elsewhere', spec)), 403, 'nor a TalonRule in another namespace');
    await assert.rejects(talon.get('talonrules', CLUSTER, `escalate-${id}`), (err: unknown) => code(err) === 404, 'nothing was created');
  });

  it("their rule never matches an alert about another namespace's pod and cannot stop a ClusterTalonRule, which acts everywhere", async () => {
    await Promise.all([runningPod(own, 'a-pod'), runningPod(other, 'b-pod')]);
    // A cluster rule on the same Falco rules; it lives in no namespace and acts in any.
    await applyRuleLoaded(kc, talon, CLUSTER, `tenancy-cluster-${id}`, {
      order: 1000,
      match: { rules: [FALCO, FALCO_SHARED] },
      actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/cluster-touched': 'yes' } })],
    }, 'cluster');

    // About a pod in another namespace: the cluster rule acts there, the tenant rule does not match.
    await postAccepted(op, podAlert({ rule: FALCO, namespace: other, pod: 'b-pod' }));
    await eventually('b-pod labelled by the ClusterTalonRule', async () => (await labelsOf(other, 'b-pod'))['talon.dev/cluster-touched'] === 'yes');
    // About a pod in their namespace: both act, the cluster rule first; the tenant rule's
    // continue: false (and lower order) does not stop it.
    await postAccepted(op, podAlert({ rule: FALCO, namespace: own, pod: 'a-pod' }));
    await eventually('a-pod labelled by both rules', async () => {
      const l = await labelsOf(own, 'a-pod');
      return l['talon.dev/tenant-touched'] === 'yes' && l['talon.dev/cluster-touched'] === 'yes';
    });

    const s = await eventually('the tenant rule status flushed', async () => {
      const s = await ruleStatus(talon, own, 'own-rule');
      return s.results.succeeded === 1 ? s : undefined;
    });
    assert.equal(s.matchedEvents, 1, 'the alert about b-pod did not match the tenant rule');
    assert.deepEqual(s.lastOutcomes.map((o) => `${o.target.namespace}/${o.target.name}`), [`${own}/a-pod`]);
    assert.equal((await labelsOf(other, 'b-pod'))['talon.dev/tenant-touched'], undefined, 'b-pod untouched by the tenant rule');
    const c = await eventually('the cluster rule status flushed', async () => {
      const c = await ruleStatus(talon, CLUSTER, `tenancy-cluster-${id}`);
      return c.results.succeeded === 2 ? c : undefined;
    });
    assert.equal(c.matchedEvents, 2);
    assert.deepEqual(c.lastOutcomes.map((o) => `${o.target.namespace}/${o.target.name}`).sort(), [`${own}/a-pod`, `${other}/b-pod`].sort());
  });

  it('a TalonRule referencing a ClusterTalonAction works in its namespace, and is held to tenant limits', async () => {
    await talon.applyAction(CLUSTER, `tenancy-annotate-${id}`, {
      actionner: 'kubernetes:annotation',
      parameters: { annotations: { 'talon.dev/tenancy': 'cluster-default' } },
    });
    await talon.applyAction(CLUSTER, `tenancy-cordon-${id}`, { actionner: 'kubernetes:cordon' });
    await talon.waitCondition('talonactions', CLUSTER, `tenancy-cordon-${id}`, 'Ready', 'True');

    await alice.applyRule(own, 'uses-cluster-action', {
      match: { rules: [FALCO_SHARED] },
      actions: [{ action: `tenancy-annotate-${id}`, kind: 'ClusterTalonAction', parameters: { annotations: { 'talon.dev/tenancy': 'overridden' } } }],
    });
    const ready = await alice.waitCondition('talonrules', own, 'uses-cluster-action', 'Ready', 'True');
    assert.match(ready.message, /tenant rule/);
    // Borrowing a node-level ClusterTalonAction gives a tenant no node power.
    await alice.applyRule(own, 'borrows-cordon', {
      match: { rules: [FALCO_SHARED] },
      actions: [{ action: `tenancy-cordon-${id}`, kind: 'ClusterTalonAction' }],
    });
    const refused = await alice.waitCondition('talonrules', own, 'borrows-cordon', 'Accepted', 'False');
    assert.equal(refused.reason, 'ScopeNotAllowed');
    assert.match(refused.message, /kubernetes:cordon: acts on the node level, which a TalonRule may not do/);
    assert.equal(condition(await alice.get('talonrules', own, 'borrows-cordon'), 'Ready')?.status, 'False');

    await postAccepted(op, podAlert({ rule: FALCO_SHARED, namespace: own, pod: 'a-pod' }));
    await postAccepted(op, podAlert({ rule: FALCO_SHARED, namespace: other, pod: 'b-pod' }));
    const annotated = await eventually('a-pod annotated through the ClusterTalonAction', async () => {
      const p = await core.readNamespacedPod({ name: 'a-pod', namespace: own });
      return p.metadata?.annotations?.['talon.dev/tenancy'] === 'overridden' ? p : undefined;
    });
    assert.ok(annotated);
    const o = await waitOutcome(talon, own, 'uses-cluster-action', about('Pod', 'a-pod'), 'annotated');
    assert.equal(o.result, 'Succeeded');
    assert.equal(o.actionner, 'kubernetes:annotation');
    assert.equal(o.action, `tenancy-annotate-${id}`);
    // The alert about b-pod was processed (the cluster rule counted it) but the tenant rule did not act there.
    await eventually('the cluster rule saw both shared alerts', async () => (await ruleStatus(talon, CLUSTER, `tenancy-cluster-${id}`)).matchedEvents === 4);
    const b = await core.readNamespacedPod({ name: 'b-pod', namespace: other });
    assert.equal(b.metadata?.annotations?.['talon.dev/tenancy'], undefined, 'b-pod not annotated');
    assert.equal((await ruleStatus(talon, own, 'uses-cluster-action')).matchedEvents, 1);
    const node = await core.readNode({ name: annotated.spec!.nodeName! });
    assert.notEqual(node.spec?.unschedulable, true, 'no node was cordoned');
  });
});
