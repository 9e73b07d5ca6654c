/**
 * Issue 11: calico:networkpolicy and cilium:networkpolicy against the real kube-apiserver with
 * the Calico (`networkpolicies.crd.projectcalico.org`, v1) and Cilium
 * (`ciliumnetworkpolicies.cilium.io`, v2) CRDs installed from e2e/crds/ — structural schemas
 * written from the projects' published APIs, without preserve-unknown-fields, so the API server
 * validates what the operator writes:
 * (a) an IPv4 alert then an IPv6 alert for the same pod: one object per pod and kind, accepted,
 *     selecting only that pod (its quarantine label = its uid; a sibling pod is not labelled),
 *     denying exactly the two CIDRs (/32 and /128), owned by the pod;
 * (b) a malformed policy created directly is rejected by the API server;
 * (c) a ttl policy of each kind is removed by the expiry sweeper (every 15 s).
 * The Calico API server (`projectcalico.org/v3`) cannot run here: v3 is covered by unit tests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, e2eKubeconfigPath, eventually, kubectlPath, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs, repoRoot } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { about, applyRuleLoaded, inline, podAlert, postAccepted, waitOutcome } from './support/alerts.js';

const QUARANTINE_LABEL = 'talon.dev/quarantine';
const CALICO = { group: 'crd.projectcalico.org', version: 'v1', plural: 'networkpolicies' };
const CILIUM = { group: 'cilium.io', version: 'v2', plural: 'ciliumnetworkpolicies' };

interface Obj {
  apiVersion: string;
  metadata: k8s.V1ObjectMeta;
  spec: Record<string, unknown>;
}

describe('calico and cilium network policies on their CRDs', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apiext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let ns = '';

  const list = async (kind: typeof CALICO): Promise<Obj[]> => ((await custom.listNamespacedCustomObject({ ...kind, namespace: ns })) as { items: Obj[] }).items;
  const read = (kind: typeof CALICO, name: string): Promise<Obj | undefined> =>
    custom.getNamespacedCustomObject({ ...kind, namespace: ns, name }).then((o) => o as Obj, (err: unknown) => {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    });

  async function runningPod(name: string): Promise<k8s.V1Pod> {
    await core.createNamespacedPod({ namespace: ns, body: podManifest(name) });
    return waitForPodRunning(core, ns, name);
  }

  before(async () => {
    await installCRDs(kc);
    execFileSync(kubectlPath(), ['--kubeconfig', e2eKubeconfigPath(), 'apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'e2e', 'crds')], { stdio: ['ignore', 'ignore', 'inherit'] });
    for (const name of ['networkpolicies.crd.projectcalico.org', 'ciliumnetworkpolicies.cilium.io']) {
      await eventually(`CRD ${name} Established`, async () => (await apiext.readCustomResourceDefinition({ name })).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
    }
    ns = await createNamespace(core, 'netpol');
    await eventually('the policy kinds served', async () => {
      await list(CALICO);
      await list(CILIUM);
      return true;
    });
    op = await OperatorProcess.start({ config: { statusFlushInterval: '1s' } });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  });

  it('(a) IPv4 then IPv6 alert for one pod: one merged object per kind, only that pod, exactly the two CIDRs, owned by the pod', async () => {
    const pod = await runningPod('np-a');
    await runningPod('np-b');
    const uid = pod.metadata?.uid ?? '';
    await applyRuleLoaded(kc, talon, CLUSTER, 'netpol-calico', { match: { rules: ['E2E netpol deny'] }, actions: [inline('deny', 'calico:networkpolicy', { order: 5 })] }, 'cluster');
    await applyRuleLoaded(kc, talon, CLUSTER, 'netpol-cilium', { match: { rules: ['E2E netpol deny'] }, actions: [inline('deny', 'cilium:networkpolicy')] }, 'cluster');

    const alert = (ip: string): Record<string, unknown> => podAlert({ rule: 'E2E netpol deny', namespace: ns, pod: 'np-a', fields: { 'fd.rip': ip } });
    await postAccepted(op, alert('203.0.113.7'));
    for (const rule of ['netpol-calico', 'netpol-cilium']) {
      const o = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'np-a'), `${rule} IPv4`);
      assert.equal(o.result, 'Succeeded', o.message);
      assert.equal(o.reason, 'EgressDenied');
    }
    await postAccepted(op, alert('2001:db8::1'));
    for (const rule of ['netpol-calico', 'netpol-cilium']) {
      const o = await waitOutcome(talon, CLUSTER, rule, (x) => about('Pod', 'np-a')(x) && x.message.includes('2001:db8::1/128'), `${rule} IPv6`);
      assert.equal(o.result, 'Succeeded', o.message);
    }

    const calico = await list(CALICO);
    assert.deepEqual(calico.map((o) => o.metadata.name), ['default.talon-deny-np-a']);
    const np = calico[0]!;
    assert.equal(np.spec.selector, `${QUARANTINE_LABEL} == '${uid}'`);
    assert.equal(np.spec.order, 5);
    assert.deepEqual(np.spec.types, ['Egress']);
    assert.deepEqual(np.spec.egress, [
      { action: 'Deny', destination: { nets: ['203.0.113.7/32'] } },
      { action: 'Deny', destination: { nets: ['2001:db8::1/128'] } },
      { action: 'Pass' },
    ]);

    const cilium = await list(CILIUM);
    assert.deepEqual(cilium.map((o) => o.metadata.name), ['talon-deny-np-a']);
    const cnp = cilium[0]!;
    assert.deepEqual(cnp.spec.endpointSelector, { matchLabels: { [QUARANTINE_LABEL]: uid } });
    assert.deepEqual(cnp.spec.egressDeny, [{ toCIDR: ['2001:db8::1/128', '203.0.113.7/32'] }]);
    assert.deepEqual(cnp.spec.enableDefaultDeny, { egress: false, ingress: false });

    for (const o of [np, cnp]) {
      assert.deepEqual(o.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid]), [['Pod', 'np-a', uid]]);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'talon-operator');
    }
    const labels = async (name: string) => (await core.readNamespacedPod({ name, namespace: ns })).metadata?.labels ?? {};
    assert.equal((await labels('np-a'))[QUARANTINE_LABEL], uid);
    assert.equal((await labels('np-b'))[QUARANTINE_LABEL], undefined, 'the sibling pod is not selected');
  });

  it('(b) the API server rejects a malformed policy of each kind', async () => {
    const reject = async (kind: typeof CALICO, body: Record<string, unknown>, field: RegExp) => {
      await assert.rejects(custom.createNamespacedCustomObject({ ...kind, namespace: ns, body }), (err: { code?: number; body?: unknown }) => {
        assert.equal(err.code, 422);
        assert.match(String(err.body), field);
        return true;
      });
    };
    await reject(CALICO, { apiVersion: 'crd.projectcalico.org/v1', kind: 'NetworkPolicy', metadata: { name: 'default.bad' }, spec: { selector: 'all()', egress: [{ destination: { nets: ['198.51.100.1/32'] } }] } }, /spec\.egress\[0\]\.action/);
    await reject(CILIUM, { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'bad' }, spec: { endpointSelector: {}, egressDeny: [{ toCIDR: '198.51.100.1/32' }] } }, /spec\.egressDeny\[0\]\.toCIDR/);
    assert.equal(await read(CALICO, 'default.bad'), undefined);
    assert.equal(await read(CILIUM, 'bad'), undefined);
  });

  it('(c) ttl 5s: the sweeper removes the policy of each kind after its expiry', async () => {
    await runningPod('np-c');
    await applyRuleLoaded(kc, talon, CLUSTER, 'netpol-ttl', {
      match: { rules: ['E2E netpol ttl'] },
      actions: [inline('calico', 'calico:networkpolicy', { ttl: '5s' }), inline('cilium', 'cilium:networkpolicy', { ttl: '5s' })],
    }, 'cluster');
    await postAccepted(op, podAlert({ rule: 'E2E netpol ttl', namespace: ns, pod: 'np-c', fields: { 'fd.sip': '198.51.100.9' } }));
    const np = await eventually('the calico policy', () => read(CALICO, 'default.talon-deny-np-c'));
    const cnp = await eventually('the cilium policy', () => read(CILIUM, 'talon-deny-np-c'));
    const expiresAt = Date.parse(np.metadata.annotations?.['talon.dev/expires-at'] ?? '');
    assert.ok(!Number.isNaN(expiresAt), 'the policy carries its expiry');
    assert.ok(cnp.metadata.annotations?.['talon.dev/expires-at']);
    assert.deepEqual(cnp.spec.egressDeny, [{ toCIDR: ['198.51.100.9/32'] }]);
    // The sweeper runs every 15 s: both go within two sweeps after expiry.
    await eventually('both expired policies deleted', async () => (await read(CALICO, 'default.talon-deny-np-c')) === undefined && (await read(CILIUM, 'talon-deny-np-c')) === undefined, 45_000, 500);
    assert.ok(Date.now() >= expiresAt, 'not removed before its expiry');
  });
});
