/**
 * Issue 16, the approval gate (docs/approvals.md), on the real API server: an action marked
 * `approval: {required: true}` does not run; the operator creates one TalonApproval per
 * (rule, action, target) however many alerts repeat it; who may decide is RBAC on the custom
 * verb `approve`, enforced by the ValidatingAdmissionPolicy shipped with the CRDs (a user
 * allowed to update TalonApprovals but without the verb gets a 403 from the API server); the
 * decision is made with the real `kubectl talon approve|reject` plugin under the deciding
 * user's identity (impersonation). Approved → the pod is killed; rejected or expired →
 * Skipped/ApprovalRejected|ApprovalExpired and the pod lives. A ClusterTalonRule's approval
 * goes to the configured approvalNamespace.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, e2eKubeconfigPath, eventually, impersonating, kubectlPath, loadE2EKubeConfig, podManifest, uniqueName, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs, repoRoot } from './support/operator.js';
import { CLUSTER, Talon, kubectl } from './support/talon.js';
import { about, applyRuleLoaded, inline, podAlert, postAccepted, ruleStatus, waitOutcome } from './support/alerts.js';

const GROUP = 'talon.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'talonapprovals';

interface Approval {
  metadata: k8s.V1ObjectMeta;
  spec: {
    rule: { kind: string; name: string; namespace?: string; uid: string };
    action: { name: string; actionner: string; parameters: Record<string, unknown> };
    target: { kind: string; namespace?: string; name: string; uid?: string };
    alert: { rule: string; priority: string; output: string; time: string; traceId: string };
    expiresAt: string;
    decision?: string;
  };
  status?: { phase?: string; outcome?: { result: string; reason: string; message: string } };
}

const code = (err: unknown): number | undefined => (err as { code?: number }).code;

/** Runs the built kubectl-talon plugin as a user (a kubeconfig file impersonating them). */
function plugin(kubeconfig: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = join(repoRoot, 'dist', 'operator', 'src', 'plugin', 'kubectl-talon.js');
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args, '--kubeconfig', kubeconfig], { env: { ...process.env, KUBECONFIG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('approval gate: TalonApproval, decided by RBAC on the verb approve', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const talon = new Talon(kc);
  const id = uniqueName('a').slice(2);
  const approver = `approver-${id}`;
  const bystander = `bystander-${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'talon-approvals-'));
  const asApprover = join(dir, 'approver.kubeconfig');
  const asBystander = join(dir, 'bystander.kubeconfig');
  let op: OperatorProcess;
  let ns = '';
  let approvalNs = '';
  /** Finished approvals are kept 15 s here (the last test watches one go). */
  const operatorConfig = () => ({ statusFlushInterval: '500ms', approvalNamespace: approvalNs, approvalRetention: '15s' });

  const approvals = async (namespace: string): Promise<Approval[]> =>
    ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL })) as { items: Approval[] }).items;
  const approvalsOf = async (namespace: string, rule: string) => (await approvals(namespace)).filter((a) => a.spec.rule.name === rule);
  const phaseIs = (namespace: string, name: string, phase: string) =>
    eventually(`TalonApproval ${namespace}/${name} ${phase}`, async () => {
      const a = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as Approval;
      return a.status?.phase === phase ? a : undefined;
    }, 30_000, 200);
  const podGone = async (name: string): Promise<boolean> => {
    try {
      const p = await core.readNamespacedPod({ name, namespace: ns });
      return p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null;
    } catch (err) {
      return code(err) === 404;
    }
  };
  async function runningPod(name: string): Promise<k8s.V1Pod> {
    await core.createNamespacedPod({ namespace: ns, body: podManifest(name) });
    return waitForPodRunning(core, ns, name);
  }
  /** A tenant rule whose one action terminates the pod, once approved. */
  const killRule = (falco: string, expiresAfter: string) => ({
    match: { rules: [falco] },
    actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 }, { approval: { required: true, expiresAfter } })],
  });
  async function bind(user: string, roleRef: k8s.V1RoleRef): Promise<void> {
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: { metadata: { name: `${user}-binding` }, roleRef, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
    });
  }

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'approvals');
    approvalNs = await createNamespace(core, 'approvals-cluster');
    // The approver: the shipped example ClusterRole (config/rbac/approver.yaml), bound in this namespace.
    await new Promise<void>((resolve, reject) =>
      execFile(kubectlPath(), ['--kubeconfig', e2eKubeconfigPath(), 'apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'config', 'rbac', 'approver.yaml')], (err) => (err ? reject(err) : resolve())),
    );
    await bind(approver, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'talon-approver' });
    // The bystander may read and update TalonApprovals here, but lacks the verb approve.
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'approvals-editor' }, rules: [{ apiGroups: [GROUP], resources: [PLURAL], verbs: ['get', 'list', 'watch', 'update', 'patch'] }] },
    });
    await bind(bystander, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approvals-editor' });
    writeFileSync(asApprover, impersonating(kc, approver).exportConfig());
    writeFileSync(asBystander, impersonating(kc, bystander).exportConfig());
    const approverApi = impersonating(kc, approver).makeApiClient(k8s.CustomObjectsApi);
    await eventually(`${approver} can list TalonApprovals in ${ns}`, async () => {
      await approverApi.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL });
      return true;
    }, 30_000, 200);
    op = await OperatorProcess.start({ config: operatorConfig() });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await Promise.all([deleteNamespace(core, ns), deleteNamespace(core, approvalNs)]);
  });

  it('10 identical alerts create ONE TalonApproval; a user without the verb approve gets 403; the approver approves and the pod is killed', async () => {
    const falco = `E2E approval kill ${id}`;
    await applyRuleLoaded(kc, talon, ns, 'kill-approved', killRule(falco, '10m'), 'tenant');
    const pod = await runningPod('victim');
    // Every match accounted for: an outcome (requested / pending) or merged into a pending work item.
    const settled = (n: number) =>
      eventually(`${n} matches, each with an outcome or merged`, async () => {
        const s = await ruleStatus(talon, ns, 'kill-approved');
        return s.matchedEvents === n && s.results.skipped + s.suppressedEvents === n ? s : undefined;
      }, 30_000, 200);
    // Five in a burst (some merge into a pending work item), then five one by one, each of which
    // reaches the gate and finds the approval already pending.
    for (let i = 0; i < 5; i++) await postAccepted(op, podAlert({ rule: falco, namespace: ns, pod: 'victim' }));
    await settled(5);
    for (let i = 6; i <= 10; i++) {
      await postAccepted(op, podAlert({ rule: falco, namespace: ns, pod: 'victim' }));
      await settled(i);
    }
    const s = await ruleStatus(talon, ns, 'kill-approved');
    assert.ok(s.results.skipped >= 6, `the last five reached the gate: ${JSON.stringify(s.results)}`);
    assert.ok(s.lastOutcomes.filter((o) => o.reason === 'ApprovalPending').length >= 5, 'Skipped/ApprovalPending for the repeats');
    const list = await approvalsOf(ns, 'kill-approved');
    assert.equal(list.length, 1, `one TalonApproval for 10 identical alerts, got ${list.map((a) => a.metadata.name).join(', ')}`);
    const a = list[0]!;
    const name = a.metadata.name!;
    assert.deepEqual(a.spec.action, { name: 'kill', actionner: 'kubernetes:terminate', parameters: { gracePeriodSeconds: 0, ignoreDaemonSets: false, ignoreStatefulSets: false, ignoreStandalonePods: false } }, 'the parameters as resolved (defaults applied)');
    assert.deepEqual(a.spec.target, { kind: 'Pod', namespace: ns, name: 'victim', uid: pod.metadata!.uid });
    assert.equal(a.spec.rule.kind, 'TalonRule');
    assert.equal(a.spec.alert.rule, falco);
    assert.match(a.spec.alert.output, /k8s\.pod=victim/);
    assert.ok(Date.parse(a.spec.expiresAt) > Date.now() + 9 * 60_000, 'expires in about 10 minutes');
    await phaseIs(ns, name, 'Pending');
    await waitOutcome(talon, ns, 'kill-approved', about('Pod', 'victim', { result: 'Skipped', reason: 'ApprovalRequested' }), 'Skipped/ApprovalRequested');
    assert.equal(await podGone('victim'), false, 'nothing ran before the approval');
    const printed = kubectl('get', 'tapproval', '-n', ns);
    assert.match(printed, new RegExp(`${name}\\s+Pending\\s+kill-approved\\s+kill\\s+kubernetes:terminate\\s+victim`), printed);

    // The recorded request is immutable (CRD transition rule), even for an admin.
    await assert.rejects(
      custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name, body: { spec: { action: { parameters: { gracePeriodSeconds: 30 } } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)),
      (err: unknown) => code(err) === 422,
    );
    // A user who may update TalonApprovals but lacks the verb approve: 403 from the API server.
    const denied = await plugin(asBystander, 'approve', name, '-n', ns);
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stderr, /\(403\).*may not decide TalonApproval .*needs the verb approve on talonapprovals\.talon\.dev/);
    const bystanderApi = impersonating(kc, bystander).makeApiClient(k8s.CustomObjectsApi);
    await assert.rejects(
      bystanderApi.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name, body: { spec: { decision: 'Approved' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)),
      (err: unknown) => code(err) === 403,
    );
    assert.equal(await podGone('victim'), false, 'the refused decision ran nothing');

    const ok = await plugin(asApprover, 'approve', name, '-n', ns, '--reason', 'confirmed intrusion');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /approved: kubernetes:terminate on Pod .*\/victim/);
    await eventually('the approved terminate killed the pod', () => podGone('victim'), 30_000, 200);
    const done = await phaseIs(ns, name, 'Executed');
    assert.equal(done.status?.outcome?.reason, 'Terminated');
    assert.equal(done.spec.decision, 'Approved');
    await waitOutcome(talon, ns, 'kill-approved', about('Pod', 'victim', { result: 'Succeeded', reason: 'Terminated' }), 'Succeeded/Terminated');
  });

  it('an approval nobody decides expires: Skipped/ApprovalExpired, and nothing is killed', async () => {
    const falco = `E2E approval expiry ${id}`;
    await applyRuleLoaded(kc, talon, ns, 'kill-expiring', killRule(falco, '3s'), 'tenant');
    await runningPod('survivor');
    await postAccepted(op, podAlert({ rule: falco, namespace: ns, pod: 'survivor' }));
    const [a] = await eventually('the TalonApproval', async () => {
      const l = await approvalsOf(ns, 'kill-expiring');
      return l.length > 0 ? l : undefined;
    });
    const expired = await phaseIs(ns, a!.metadata.name!, 'Expired');
    assert.equal(expired.status?.outcome?.reason, 'ApprovalExpired');
    await waitOutcome(talon, ns, 'kill-expiring', about('Pod', 'survivor', { result: 'Skipped', reason: 'ApprovalExpired' }), 'Skipped/ApprovalExpired');
    // A decision after expiry changes nothing.
    const late = await plugin(asApprover, 'approve', a!.metadata.name!, '-n', ns);
    assert.equal(late.code, 0, late.stderr);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal((await phaseIs(ns, a!.metadata.name!, 'Expired')).status?.outcome?.reason, 'ApprovalExpired');
    assert.equal(await podGone('survivor'), false, 'an expired approval kills nothing');
    assert.equal((await core.readNamespacedPod({ name: 'survivor', namespace: ns })).status?.phase, 'Running');
  });

  it('a rejected approval records Skipped/ApprovalRejected with the reason, and nothing is killed', async () => {
    const falco = `E2E approval reject ${id}`;
    await applyRuleLoaded(kc, talon, ns, 'kill-rejected', killRule(falco, '10m'), 'tenant');
    await runningPod('spared');
    await postAccepted(op, podAlert({ rule: falco, namespace: ns, pod: 'spared' }));
    const [a] = await eventually('the TalonApproval', async () => {
      const l = await approvalsOf(ns, 'kill-rejected');
      return l.length > 0 ? l : undefined;
    });
    const r = await plugin(asApprover, 'reject', a!.metadata.name!, '-n', ns, '--reason', 'false positive: the on-call debug shell');
    assert.equal(r.code, 0, r.stderr);
    const rejected = await phaseIs(ns, a!.metadata.name!, 'Rejected');
    assert.equal(rejected.status?.outcome?.reason, 'ApprovalRejected');
    assert.match(rejected.status!.outcome!.message, /false positive: the on-call debug shell/);
    await waitOutcome(talon, ns, 'kill-rejected', about('Pod', 'spared', { result: 'Skipped', reason: 'ApprovalRejected' }), 'Skipped/ApprovalRejected');
    // A decision is final: the approver cannot turn it into an approval.
    const flip = await plugin(asApprover, 'approve', a!.metadata.name!, '-n', ns);
    assert.equal(flip.code, 1);
    assert.match(flip.stderr, /already Rejected; a decision is final/);
    assert.equal(await podGone('spared'), false, 'a rejected approval kills nothing');
  });

  it('a decision made while the operator is down is carried out when it starts again', async () => {
    const falco = `E2E approval restart ${id}`;
    await applyRuleLoaded(kc, talon, ns, 'kill-restart', killRule(falco, '10m'), 'tenant');
    await runningPod('restarted');
    await postAccepted(op, podAlert({ rule: falco, namespace: ns, pod: 'restarted' }));
    const [a] = await eventually('the TalonApproval', async () => {
      const l = await approvalsOf(ns, 'kill-restart');
      return l.length > 0 ? l : undefined;
    });
    await phaseIs(ns, a!.metadata.name!, 'Pending');
    await op.stop();
    const ok = await plugin(asApprover, 'approve', a!.metadata.name!, '-n', ns);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await podGone('restarted'), false, 'nothing runs without the operator');
    op = await OperatorProcess.start({ config: operatorConfig() });
    await eventually('the approved terminate killed the pod after the restart', () => podGone('restarted'), 30_000, 200);
    assert.equal((await phaseIs(ns, a!.metadata.name!, 'Executed')).status?.outcome?.reason, 'Terminated');
  });

  it('finished approvals are deleted after approvalRetention', async () => {
    // The previous test's approval just finished (Executed): kept for now, deleted once 15 s have passed.
    const finished = (await approvalsOf(ns, 'kill-restart'))[0];
    assert.ok(finished, 'a finished approval is kept during the retention period');
    await eventually(`TalonApproval ${ns}/${finished.metadata.name} deleted`, async () => (await approvalsOf(ns, 'kill-restart')).length === 0, 45_000, 500);
  });

  it("a ClusterTalonRule's approval is created in the configured approvalNamespace", async () => {
    const falco = `E2E approval cluster ${id}`;
    await applyRuleLoaded(kc, talon, CLUSTER, `approval-cluster-${id}`, {
      match: { rules: [falco] },
      actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/approved-mark': 'yes' } }, { approval: { required: true } })],
    }, 'cluster');
    await runningPod('marked');
    await postAccepted(op, podAlert({ rule: falco, namespace: ns, pod: 'marked' }));
    const [a] = await eventually(`the TalonApproval in ${approvalNs}`, async () => {
      const l = await approvalsOf(approvalNs, `approval-cluster-${id}`);
      return l.length > 0 ? l : undefined;
    });
    assert.equal(a!.spec.rule.kind, 'ClusterTalonRule');
    assert.equal(a!.spec.rule.namespace, undefined);
    assert.deepEqual(a!.spec.target, { kind: 'Pod', namespace: ns, name: 'marked', uid: (await core.readNamespacedPod({ name: 'marked', namespace: ns })).metadata!.uid });
    assert.equal((await approvalsOf(ns, `approval-cluster-${id}`)).length, 0, 'not in the target namespace');
    // The admin (system:masters holds every verb) approves; the label is set.
    const ok = await plugin(e2eKubeconfigPath(), 'approve', a!.metadata.name!, '-n', approvalNs);
    assert.equal(ok.code, 0, ok.stderr);
    await eventually('the approved label', async () => (await core.readNamespacedPod({ name: 'marked', namespace: ns })).metadata?.labels?.['talon.dev/approved-mark'] === 'yes');
    await phaseIs(approvalNs, a!.metadata.name!, 'Executed');
  });
});
