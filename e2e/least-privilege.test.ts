/**
 * Issue: least privilege proven. The operator process runs with the credentials of the Helm
 * chart's ServiceAccount — the chart rendered by helm, its ServiceAccount, ClusterRole and
 * binding applied as rendered, a token minted through the TokenRequest API — with one actionner
 * category switched off in values (`rbac.actionners.kubernetes.terminate=false`): the render and
 * the real API server's authorizer both lose `delete pods`, the matching action fails with a
 * Forbidden outcome naming the missing permission and the namespace, and the categories still
 * switched on keep working with the same token.
 *
 * The other half — every actionner and notifier e2e suite passing with exactly the default
 * chart role — is the least-privilege tier of scripts/e2e.sh (TALON_E2E_LEAST_PRIVILEGE=1).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { about, applyRuleLoaded, inline, isTerminating, podAlert, postAccepted, waitOutcome } from './support/alerts.js';
import { chartCredentials, chartIdentity, deleteClusterRbac, grantsOf, kubectlRun, manifests, renderChart, type ChartCredentials } from './support/chart.js';

const RELEASE = 'talon-lp';
const TERMINATE_OFF = ['rbac.actionners.kubernetes.terminate=false'];

describe('least privilege: the chart ServiceAccount with kubernetes:terminate switched off', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  let ns: string;
  let creds: ChartCredentials;
  let op: OperatorProcess | undefined;

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'lp');
    creds = await chartCredentials(kc, { release: RELEASE, set: TERMINATE_OFF });
    // Its own ClusterRole, as the chart tells the operator (never acted upon).
    op = await OperatorProcess.start({
      kubeconfig: creds.kubeconfig,
      config: { statusFlushInterval: '500ms' },
      env: { OPERATOR_RBAC_NAME: creds.identity.roles[0]!.metadata.name },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
    if (creds) deleteClusterRbac(creds);
  });

  it('the switch removes delete pods from the rendered ClusterRole and from what the API server authorizes', () => {
    const on = chartIdentity(manifests(renderChart({ release: RELEASE })));
    assert.equal(on.roles.length, 1);
    assert.equal(creds.identity.roles.length, 1);
    assert.ok(grantsOf(on.roles[0]!).has('|pods|delete'), 'the default render grants delete pods');
    assert.ok(!grantsOf(creds.identity.roles[0]!).has('|pods|delete'), 'terminate=false grants no delete pods');

    // The real authorizer, asked about the ServiceAccount the token belongs to.
    const canI = (verb: string, resource: string) => kubectlRun(['auth', 'can-i', verb, resource, '--namespace', ns, '--as', creds.username]).stdout.trim();
    assert.equal(canI('delete', 'pods'), 'no');
    assert.equal(canI('patch', 'pods'), 'yes');
    assert.equal(canI('list', 'clustertalonrules.talon.dev'), 'yes');
  });

  it('kubernetes:terminate fails Forbidden, naming the verb, the resource and the namespace; the pod lives', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('victim') });
    const pod = await waitForPodRunning(core, ns, 'victim');
    await applyRuleLoaded(kc, talon, CLUSTER, 'lp-terminate', { match: { rules: ['E2E lp terminate'] }, actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })] }, 'cluster');
    await postAccepted(op!, podAlert({ rule: 'E2E lp terminate', namespace: ns, pod: 'victim' }));
    const o = await waitOutcome(talon, CLUSTER, 'lp-terminate', about('Pod', 'victim'), 'the terminate outcome');
    console.log(`outcome: ${o.result}/${o.reason}: ${o.message}`);
    assert.equal(o.result, 'Failed');
    assert.equal(o.reason, 'Forbidden');
    assert.match(o.message, new RegExp(`cannot delete pods in namespace "${ns}"`));
    assert.match(o.message, new RegExp(creds.username.replace(/[.:]/g, '\\$&')));
    const still = await core.readNamespacedPod({ name: 'victim', namespace: ns });
    assert.equal(still.metadata?.uid, pod.metadata?.uid);
    assert.ok(!isTerminating(still));
  });

  it('a category still switched on works with the same token (kubernetes:label)', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('labelled') });
    await waitForPodRunning(core, ns, 'labelled');
    await applyRuleLoaded(kc, talon, CLUSTER, 'lp-label', { match: { rules: ['E2E lp label'] }, actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/lp': 'seen' } })] }, 'cluster');
    await postAccepted(op!, podAlert({ rule: 'E2E lp label', namespace: ns, pod: 'labelled' }));
    const o = await waitOutcome(talon, CLUSTER, 'lp-label', about('Pod', 'labelled'), 'the label outcome');
    assert.equal(o.result, 'Succeeded', o.message);
    const p = await core.readNamespacedPod({ name: 'labelled', namespace: ns });
    assert.equal(p.metadata?.labels?.['talon.dev/lp'], 'seen');
  });
});
