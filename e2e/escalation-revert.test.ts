/**
 * Issue 16 (escalation ladders, automatic revert) against the real kube-apiserver:
 * (a) a ladder over 5 alerts for one pod: label at 1, isolate at 3, terminate at 5, with the
 *     rule's status (outcomes with their step, the hottest targets) and Events telling the
 *     story; a second pod starts at step one;
 * (b) revertAfter 5s on a label whose key existed before restores the old value and removes the
 *     added one, and records its own outcome and Event;
 * (c) revertAfter 5s on an isolation removes the policy and the quarantine label;
 * (d) a label changed by someone else after the action is left alone (the rest is reverted);
 * (e) an operator restart between action and expiry still reverts;
 * (f) `kubectl talon revert` undoes one outcome (a label due in 1h, a quarantine) on demand.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, e2eKubeconfigPath, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { about, applyRuleLoaded, eventsRegarding, inline, podAlert, postAccepted, ruleStatus, waitOutcome, type LastOutcome } from './support/alerts.js';
import { runPlugin } from '../operator/src/plugin/kubectl-talon.js';

const QUARANTINE_LABEL = 'talon.dev/quarantine';
const PENDING_LABEL = 'talon.dev/revert-pending';
const OPERATOR_CONFIG = { statusFlushInterval: '1s', revertSweepInterval: '1s' };

interface EscalationStatus {
  targets: { target: { kind: string; namespace?: string; name: string }; count: number; step: number; windowEnds: string }[];
}
type StepOutcome = LastOutcome & { escalation?: { step: number; count: number } };

describe('escalation ladders and automatic revert', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let ns = '';

  async function runningPod(name: string, labels: Record<string, string> = { app: name }): Promise<k8s.V1Pod> {
    await core.createNamespacedPod({ namespace: ns, body: podManifest(name, { labels }) });
    return waitForPodRunning(core, ns, name);
  }
  const readPod = (name: string) => core.readNamespacedPod({ name, namespace: ns });
  const policyGone = async (name: string): Promise<boolean> => {
    try {
      await networking.readNamespacedNetworkPolicy({ name, namespace: ns });
      return false;
    } catch (err) {
      return (err as { code?: number }).code === 404;
    }
  };
  /** Waits until the rule's status has counted `n` matches (the dispatcher decides a match's step when it counts it). */
  const matched = (rule: string, n: number) => eventually(`${rule} matched ${n}`, async () => (await ruleStatus(talon, CLUSTER, rule)).matchedEvents >= n, 30_000, 200);
  const noteOf = (e: k8s.EventsV1Event): string => e.note ?? '';

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'escalate');
    op = await OperatorProcess.start({ config: OPERATOR_CONFIG });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  });

  it('(a) 5 alerts for one pod: label at 1, isolate at 3, terminate at 5; a second pod starts at step one', async (t) => {
    const rule = 'ladder';
    const falcoRule = 'E2E escalation ladder';
    await runningPod('ladder-a');
    await runningPod('ladder-b');
    await applyRuleLoaded(kc, talon, CLUSTER, rule, {
      match: { rules: [falcoRule] },
      escalation: {
        window: '10m',
        steps: [
          { after: 1, actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/suspicious': 'true' } })] },
          { after: 3, actions: [inline('isolate', 'kubernetes:networkpolicy')] },
          { after: 5, actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0 })] },
        ],
      },
    }, 'cluster');
    const alert = () => podAlert({ rule: falcoRule, namespace: ns, pod: 'ladder-a' });
    const step = (n: number, actionner: string) => (o: StepOutcome) => about('Pod', 'ladder-a', { actionner })(o) && o.escalation?.step === n;

    await postAccepted(op, alert());
    const first = (await waitOutcome(talon, CLUSTER, rule, step(1, 'kubernetes:label'), 'step 1 labels')) as StepOutcome;
    assert.deepEqual([first.result, first.reason, first.escalation], ['Succeeded', 'Labeled', { step: 1, count: 1 }]);
    assert.match(first.message, /^escalation step 1 of 3 \(match 1 for this target within 10m\): /);
    assert.equal((await readPod('ladder-a')).metadata?.labels?.['talon.dev/suspicious'], 'true');

    await postAccepted(op, alert());
    await matched(rule, 2);
    assert.ok(await policyGone('talon-quarantine-ladder-a'), 'match 2 reaches no new step: not isolated');

    await postAccepted(op, alert());
    const second = (await waitOutcome(talon, CLUSTER, rule, step(2, 'kubernetes:networkpolicy'), 'step 2 isolates')) as StepOutcome;
    assert.deepEqual([second.result, second.reason, second.escalation], ['Succeeded', 'Isolated', { step: 2, count: 3 }]);
    await networking.readNamespacedNetworkPolicy({ name: 'talon-quarantine-ladder-a', namespace: ns });

    await postAccepted(op, alert());
    await matched(rule, 4);
    assert.equal((await readPod('ladder-a')).metadata?.deletionTimestamp, undefined, 'match 4 reaches no new step: not terminated');

    await postAccepted(op, alert());
    const third = (await waitOutcome(talon, CLUSTER, rule, step(3, 'kubernetes:terminate'), 'step 3 terminates')) as StepOutcome;
    assert.deepEqual([third.result, third.reason, third.escalation], ['Succeeded', 'Terminated', { step: 3, count: 5 }]);
    await eventually('ladder-a deleted', async () => {
      try {
        return (await readPod('ladder-a')).metadata?.deletionTimestamp !== undefined;
      } catch (err) {
        return (err as { code?: number }).code === 404;
      }
    });

    // A second pod starts at step one.
    await postAccepted(op, podAlert({ rule: falcoRule, namespace: ns, pod: 'ladder-b' }));
    const b = (await waitOutcome(talon, CLUSTER, rule, (o: StepOutcome) => about('Pod', 'ladder-b')(o), 'ladder-b step 1')) as StepOutcome;
    assert.deepEqual([b.actionner, b.reason, b.escalation], ['kubernetes:label', 'Labeled', { step: 1, count: 1 }]);
    assert.ok(await policyGone('talon-quarantine-ladder-b'));

    // The status: 6 matches, 2 of them waiting for the next step; the hottest targets first.
    const s = await eventually('status lists both targets', async () => {
      const o = await talon.get('talonrules', CLUSTER, rule);
      const esc = (o.status as { escalation?: EscalationStatus } | undefined)?.escalation;
      return esc?.targets.length === 2 ? { status: await ruleStatus(talon, CLUSTER, rule), esc } : undefined;
    });
    assert.equal(s.status.matchedEvents, 6);
    assert.equal(s.status.suppressedEvents, 2);
    assert.deepEqual(
      s.esc.targets.map((x) => [x.target.name, x.count, x.step]),
      [['ladder-a', 5, 3], ['ladder-b', 1, 1]],
    );

    // Events regarding the pod tell the story, one step after the other.
    const events = await eventually('three step Events regarding ladder-a', async () => {
      const es = (await eventsRegarding(kc, ns, { kind: 'Pod', name: 'ladder-a' })).filter((e) => noteOf(e).startsWith('escalation step'));
      return es.length >= 3 ? es : undefined;
    });
    const notes = events.map(noteOf).sort();
    assert.match(notes[0]!, /^escalation step 1 of 3 \(match 1 .*labeled/);
    assert.match(notes[1]!, /^escalation step 2 of 3 \(match 3 .*isolated/);
    assert.match(notes[2]!, /^escalation step 3 of 3 \(match 5 .*/);
    t.diagnostic(notes.join('\n'));
  });

  it('(b) revertAfter 5s on a label that existed restores its old value, removes the added one, with an outcome and Event', async () => {
    const rule = 'revert-label';
    await runningPod('rv-label', { app: 'rv-label', tier: 'frontend' });
    await applyRuleLoaded(kc, talon, CLUSTER, rule, {
      match: { rules: ['E2E revert label'] },
      actions: [inline('mark', 'kubernetes:label', { labels: { tier: 'quarantined', 'talon.dev/suspicious': 'true' } }, { revertAfter: '5s' })],
    }, 'cluster');
    await postAccepted(op, podAlert({ rule: 'E2E revert label', namespace: ns, pod: 'rv-label' }));
    const done = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-label', { reason: 'Labeled' }), 'labelled');
    assert.match(done.message, /reverted at .*kubectl talon revert pod\/rv-label -n /);
    const changed = await readPod('rv-label');
    assert.deepEqual([changed.metadata?.labels?.tier, changed.metadata?.labels?.['talon.dev/suspicious'], changed.metadata?.labels?.[PENDING_LABEL]], ['quarantined', 'true', 'true']);

    const undo = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-label', { reason: 'Reverted' }), 'reverted', 30_000);
    assert.equal(undo.result, 'Succeeded');
    assert.match(undo.message, /label tier restored to 'frontend'/);
    assert.match(undo.message, /label talon.dev\/suspicious removed/);
    const restored = await readPod('rv-label');
    assert.equal(restored.metadata?.labels?.tier, 'frontend');
    assert.equal(restored.metadata?.labels?.['talon.dev/suspicious'], undefined);
    assert.equal(restored.metadata?.labels?.[PENDING_LABEL], undefined, 'the pending label goes with the last record');
    assert.deepEqual(Object.keys(restored.metadata?.annotations ?? {}).filter((k) => k.startsWith('revert.talon.dev/')), []);
    assert.ok(Date.now() >= Date.parse(changed.metadata?.annotations?.[Object.keys(changed.metadata?.annotations ?? {}).find((k) => k.startsWith('revert.talon.dev/'))!]?.match(/"at":"([^"]+)"/)?.[1] ?? ''), 'not before its time');
    await eventually('an Event regarding the pod for the undo', async () =>
      (await eventsRegarding(kc, ns, { kind: 'Pod', name: 'rv-label' })).some((e) => /reverted at .*label tier restored/.test(e.note ?? '')),
    );
  });

  it('(c) revertAfter 5s on an isolation removes the policy and the quarantine label', async () => {
    const rule = 'revert-isolate';
    await runningPod('rv-iso');
    await applyRuleLoaded(kc, talon, CLUSTER, rule, {
      match: { rules: ['E2E revert isolate'] },
      actions: [inline('isolate', 'kubernetes:networkpolicy', {}, { revertAfter: '5s' })],
    }, 'cluster');
    await postAccepted(op, podAlert({ rule: 'E2E revert isolate', namespace: ns, pod: 'rv-iso' }));
    const isolated = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-iso', { reason: 'Isolated' }), 'isolated');
    assert.match(isolated.message, /until /);
    assert.ok((await readPod('rv-iso')).metadata?.labels?.[QUARANTINE_LABEL]);

    const undo = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-iso', { reason: 'Reverted' }), 'quarantine reverted', 30_000);
    assert.match(undo.message, /NetworkPolicy 'talon-quarantine-rv-iso' .* removed; quarantine label removed/);
    assert.ok(await policyGone('talon-quarantine-rv-iso'));
    assert.equal((await readPod('rv-iso')).metadata?.labels?.[QUARANTINE_LABEL], undefined);
  });

  it('(d) a label changed by someone else after the action is left alone', async () => {
    const rule = 'revert-contested';
    await runningPod('rv-other', { app: 'rv-other', tier: 'frontend' });
    await applyRuleLoaded(kc, talon, CLUSTER, rule, {
      match: { rules: ['E2E revert contested'] },
      actions: [inline('mark', 'kubernetes:label', { labels: { tier: 'quarantined', 'talon.dev/suspicious': 'true' } }, { revertAfter: '5s' })],
    }, 'cluster');
    await postAccepted(op, podAlert({ rule: 'E2E revert contested', namespace: ns, pod: 'rv-other' }));
    await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-other', { reason: 'Labeled' }), 'labelled');
    // Someone else decides the tier after the action.
    await core.patchNamespacedPod({ name: 'rv-other', namespace: ns, body: { metadata: { labels: { tier: 'manual' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));

    const undo = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-other', { reason: 'Reverted' }), 'reverted', 30_000);
    assert.match(undo.message, /label talon.dev\/suspicious removed/);
    assert.match(undo.message, /left alone, changed by someone else since: label tier is now 'manual', not 'quarantined'/);
    const pod = await readPod('rv-other');
    assert.equal(pod.metadata?.labels?.tier, 'manual', "someone else's value is kept");
    assert.equal(pod.metadata?.labels?.['talon.dev/suspicious'], undefined);
  });

  it('(e) an operator restart between the action and its expiry still reverts', async () => {
    const rule = 'revert-restart';
    await runningPod('rv-restart', { app: 'rv-restart', tier: 'frontend' });
    await applyRuleLoaded(kc, talon, CLUSTER, rule, {
      match: { rules: ['E2E revert restart'] },
      actions: [inline('mark', 'kubernetes:label', { labels: { tier: 'quarantined' } }, { revertAfter: '5s' })],
    }, 'cluster');
    await postAccepted(op, podAlert({ rule: 'E2E revert restart', namespace: ns, pod: 'rv-restart' }));
    await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-restart', { reason: 'Labeled' }), 'labelled');
    await op.stop();
    // Down past the expiry: nobody reverts meanwhile.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.equal((await readPod('rv-restart')).metadata?.labels?.tier, 'quarantined');

    op = await OperatorProcess.start({ config: OPERATOR_CONFIG });
    await eventually('the restarted operator reverts', async () => (await readPod('rv-restart')).metadata?.labels?.tier === 'frontend', 30_000, 200);
    const undo = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-restart', { reason: 'Reverted' }), 'reverted after restart');
    assert.match(undo.message, /label tier restored to 'frontend'/);
  });

  it('(f) kubectl talon revert undoes one outcome on demand: a label due in 1h, a quarantine', async () => {
    const rule = 'revert-demand';
    await runningPod('rv-demand', { app: 'rv-demand', tier: 'frontend' });
    await applyRuleLoaded(kc, talon, CLUSTER, rule, {
      match: { rules: ['E2E revert demand'] },
      actions: [
        inline('mark', 'kubernetes:label', { labels: { tier: 'quarantined' } }, { revertAfter: '1h' }),
        inline('isolate', 'kubernetes:networkpolicy'),
      ],
    }, 'cluster');
    await postAccepted(op, podAlert({ rule: 'E2E revert demand', namespace: ns, pod: 'rv-demand' }));
    const labelled = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-demand', { reason: 'Labeled' }), 'labelled');
    await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-demand', { reason: 'Isolated' }), 'isolated');
    const command = /kubectl talon revert (pod\/rv-demand -n \S+ --id \S+)\)/.exec(labelled.message);
    assert.ok(command, labelled.message);

    const io = { out: '', err: '' };
    const output = { stdout: (t: string) => void (io.out += t), stderr: (t: string) => void (io.err += t) };
    const args = command[1]!.split(' ');
    assert.equal(await runPlugin(['revert', ...args, '--kubeconfig', e2eKubeconfigPath()], output), 0, io.err);
    assert.match(io.out, /now: label tier=frontend/);
    assert.equal((await readPod('rv-demand')).metadata?.labels?.tier, 'frontend');
    const undo = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'rv-demand', { reason: 'Reverted' }), 'reverted on demand');
    assert.match(undo.message, /on demand \(kubectl talon revert\)/);

    // The quarantine (no revertAfter) is undone on demand too.
    assert.equal(await runPlugin(['revert', 'networkpolicy/talon-quarantine-rv-demand', '-n', ns, '--kubeconfig', e2eKubeconfigPath()], output), 0, io.err);
    assert.ok(await policyGone('talon-quarantine-rv-demand'));
    assert.equal((await readPod('rv-demand')).metadata?.labels?.[QUARANTINE_LABEL], undefined);

    // Nothing left to revert: a clear error.
    io.err = '';
    assert.equal(await runPlugin(['revert', 'pod/rv-demand', '-n', ns, '--kubeconfig', e2eKubeconfigPath()], output), 1);
    assert.match(io.err, /carries no change to revert/);
  });
});
