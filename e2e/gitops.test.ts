/**
 * Issue: ship it — GitOps. The Argo CD health check (config/argocd/health.lua, run by Debian's
 * lua5.1 as Argo CD's embedded Lua 5.1 would) over objects the real operator reconciled on the
 * real API server: a loaded rule and action are Healthy, a rejected rule Degraded with the
 * operator's reason, a spec edit the operator has not seen yet Progressing. The kustomize
 * Component puts the script under every kind's argocd-cm key. And what the operator creates
 * (a quarantine NetworkPolicy) carries the annotations that keep Argo CD and Flux from pruning
 * or fighting it, and an owner reference the garbage collector honours.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs, repoRoot } from './support/operator.js';
import { CLUSTER, Talon, type TalonObject } from './support/talon.js';
import { applyRuleLoaded, inline, podAlert, postAccepted } from './support/alerts.js';
import { kubectlRun, manifests } from './support/chart.js';
import { argoHealth, HEALTH_LUA } from '../operator/test/argocd-health.js';

const readyOf = (o: TalonObject) => o.status?.conditions?.find((c) => c.type === 'Ready');

describe('GitOps: Argo CD health over reconciled objects; operator-created objects left alone by Argo CD and Flux', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const talon = new Talon(kc);
  let ns: string;
  let op: OperatorProcess | undefined;

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'gitops');
    op = await OperatorProcess.start({ config: { statusFlushInterval: '500ms' } });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  });

  it('a loaded ClusterTalonRule and TalonAction are Healthy; a rejected TalonRule is Degraded with its reason', async () => {
    await applyRuleLoaded(kc, talon, CLUSTER, 'gitops-ok', { match: { rules: ['E2E gitops'] }, actions: [inline('mark', 'kubernetes:label', { labels: { a: 'b' } })] }, 'cluster');
    const rule = await talon.get('talonrules', CLUSTER, 'gitops-ok');
    const healthy = argoHealth(rule);
    assert.equal(healthy.status, 'Healthy', healthy.message);
    assert.equal(healthy.message, `${readyOf(rule)!.reason}: ${readyOf(rule)!.message}`);

    await talon.applyAction(ns, 'gitops-label', { actionner: 'kubernetes:label', parameters: { labels: { a: 'b' } } });
    const action = await eventually('TalonAction gitops-label Ready', async () => {
      const a = await talon.get('talonactions', ns, 'gitops-label');
      return readyOf(a)?.status === 'True' ? a : undefined;
    });
    assert.equal(argoHealth(action).status, 'Healthy');

    await talon.applyRule(ns, 'gitops-bad', { match: { rules: ['E2E gitops'] }, actions: [inline('kill', 'kubernetes:terminate', { grace_period_seconds: 0 })] });
    const bad = await eventually('TalonRule gitops-bad rejected', async () => {
      const r = await talon.get('talonrules', ns, 'gitops-bad');
      return readyOf(r)?.status === 'False' ? r : undefined;
    });
    const degraded = argoHealth(bad);
    assert.equal(degraded.status, 'Degraded');
    assert.match(degraded.message, /grace_period_seconds/);
    assert.ok(degraded.message.startsWith(`${readyOf(bad)!.reason}: `), degraded.message);
  });

  it('a spec edit the operator has not reconciled yet is Progressing; once it has, Healthy again', async () => {
    await op!.stop();
    await talon.custom.patchClusterCustomObject(
      { group: 'talon.dev', version: 'v1alpha1', plural: 'clustertalonrules', name: 'gitops-ok', body: { spec: { description: 'edited while the operator was down' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const edited = await talon.get('talonrules', CLUSTER, 'gitops-ok');
    assert.ok((edited.metadata.generation ?? 0) > (readyOf(edited)?.observedGeneration ?? 0));
    const h = argoHealth(edited);
    assert.equal(h.status, 'Progressing');
    assert.match(h.message, new RegExp(`reconcile generation ${edited.metadata.generation} `));

    op = await OperatorProcess.start({ config: { statusFlushInterval: '500ms' } });
    const caughtUp = await eventually('gitops-ok reconciled at its new generation', async () => {
      const r = await talon.get('talonrules', CLUSTER, 'gitops-ok');
      return readyOf(r)?.observedGeneration === r.metadata.generation ? r : undefined;
    });
    assert.equal(argoHealth(caughtUp).status, 'Healthy');
  });

  it('the kustomize Component merges the script into argocd-cm under every kind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'talon-argocd-'));
    try {
      writeFileSync(join(dir, 'argocd-cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm, namespace: argocd}\ndata: {url: "https://argocd.example.com"}\n');
      // kustomize refuses absolute component paths.
      writeFileSync(join(dir, 'kustomization.yaml'), `resources: [argocd-cm.yaml]\ncomponents: [${relative(dir, join(repoRoot, 'config', 'argocd'))}]\n`);
      const r = kubectlRun(['kustomize', dir]);
      assert.equal(r.status, 0, r.stderr);
      const [cm] = manifests(r.stdout) as unknown as { data: Record<string, string> }[];
      const script = readFileSync(HEALTH_LUA, 'utf8');
      assert.equal(cm!.data.url, 'https://argocd.example.com', 'the rest of argocd-cm is kept');
      for (const kind of ['TalonRule', 'ClusterTalonRule', 'TalonAction', 'ClusterTalonAction', 'TalonApproval']) {
        assert.equal(cm!.data[`resource.customizations.health.talon.dev_${kind}`], script, kind);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the quarantine NetworkPolicy carries the GitOps annotations and an owner reference the garbage collector honours', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('suspect') });
    const pod = await waitForPodRunning(core, ns, 'suspect');
    await applyRuleLoaded(kc, talon, CLUSTER, 'gitops-isolate', { match: { rules: ['E2E gitops isolate'] }, actions: [inline('isolate', 'kubernetes:networkpolicy')] }, 'cluster');
    await postAccepted(op!, podAlert({ rule: 'E2E gitops isolate', namespace: ns, pod: 'suspect' }));
    const np = await eventually('NetworkPolicy talon-quarantine-suspect', () => networking.readNamespacedNetworkPolicy({ name: 'talon-quarantine-suspect', namespace: ns }).catch(() => undefined));

    assert.equal(np.metadata?.labels?.['app.kubernetes.io/managed-by'], 'talon-operator');
    assert.equal(np.metadata?.annotations?.['argocd.argoproj.io/compare-options'], 'IgnoreExtraneous');
    assert.equal(np.metadata?.annotations?.['argocd.argoproj.io/sync-options'], 'Prune=false');
    assert.equal(np.metadata?.annotations?.['kustomize.toolkit.fluxcd.io/prune'], 'disabled');
    assert.deepEqual(
      (np.metadata?.ownerReferences ?? []).map((o) => [o.kind, o.name, o.uid]),
      [['Pod', 'suspect', pod.metadata?.uid]],
    );

    // The pod goes: the garbage collector removes the policy with it.
    await core.deleteNamespacedPod({ name: 'suspect', namespace: ns, gracePeriodSeconds: 0 });
    await eventually(
      'the NetworkPolicy collected with its pod',
      async () => (await networking.readNamespacedNetworkPolicy({ name: 'talon-quarantine-suspect', namespace: ns }).then(() => false).catch((e: { code?: number }) => e.code === 404)),
      60_000,
      250,
    );
  });
});
