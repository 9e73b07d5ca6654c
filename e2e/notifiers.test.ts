/**
 * Issue 8 (notifier contract): the real operator with `defaultNotifiers: []` and one extra
 * k8sevents instance. Outcomes of a rule naming no notifier write no Event but still reach
 * the rule's status; a rule naming the instance gets its Events; a rule naming an unknown
 * instance is not accepted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { Talon } from './support/talon.js';
import { about, applyRuleLoaded, eventsRegarding, inline, podAlert, postAccepted, waitOutcome } from './support/alerts.js';

describe('notifiers', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let ns = '';

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'notify');
    op = await OperatorProcess.start({
      config: { statusFlushInterval: '500ms', defaultNotifiers: [], notifiers: { audit: { type: 'k8sevents', timeout: '5s' } } },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteAll(ns);
    await deleteNamespace(core, ns);
  });

  it('a rule naming an unknown notifier instance is not accepted, naming the configured ones', async () => {
    await talon.applyRule(ns, 'typo', { match: { rules: ['E2E typo'] }, actions: [inline('flag', 'kubernetes:label', { labels: { flagged: 'true' } })], notifiers: ['audti'] });
    const accepted = await talon.waitCondition('talonrules', ns, 'typo', 'Accepted', 'False');
    assert.equal(accepted.reason, 'UnknownNotifier');
    assert.equal(accepted.message, "spec.notifiers[0]: unknown notifier 'audti' (did you mean 'audit'?); configured: audit, k8sevents");
  });

  it('defaultNotifiers: [] writes no Event for a rule naming none; a rule naming an instance gets its Events', async () => {
    for (const pod of ['quiet', 'loud']) {
      await core.createNamespacedPod({ namespace: ns, body: podManifest(pod) });
      await waitForPodRunning(core, ns, pod);
    }
    const flag = [inline('flag', 'kubernetes:label', { labels: { 'talon.dev/flagged': 'true' } })];
    await applyRuleLoaded(kc, talon, ns, 'quiet', { match: { rules: ['E2E quiet'] }, actions: flag }, 'tenant');
    await applyRuleLoaded(kc, talon, ns, 'loud', { match: { rules: ['E2E loud'] }, actions: flag, notifiers: ['audit'] }, 'tenant');

    await postAccepted(op, podAlert({ rule: 'E2E quiet', namespace: ns, pod: 'quiet' }));
    const quiet = await waitOutcome(talon, ns, 'quiet', about('Pod', 'quiet'), 'quiet labeled');
    assert.equal(quiet.result, 'Succeeded', 'the status still gets the outcome');
    await postAccepted(op, podAlert({ rule: 'E2E loud', namespace: ns, pod: 'loud' }));
    await waitOutcome(talon, ns, 'loud', about('Pod', 'loud', { result: 'Succeeded' }), 'loud labeled');

    const loudEvents = await eventually('Events regarding pod loud', async () => {
      const e = await eventsRegarding(kc, ns, { kind: 'Pod', name: 'loud' });
      return e.length > 0 ? e : undefined;
    });
    assert.equal(loudEvents[0]?.reason, 'Succeeded');
    await eventually('Events regarding TalonRule loud', async () => (await eventsRegarding(kc, ns, { kind: 'TalonRule', name: 'loud' })).length > 0);
    assert.deepEqual(await eventsRegarding(kc, ns, { kind: 'Pod', name: 'quiet' }), []);
    assert.deepEqual(await eventsRegarding(kc, ns, { kind: 'TalonRule', name: 'quiet' }), []);

    assert.equal(await op.metric('talon_notifications_total{notifier="audit",result="sent"}'), 1);
    assert.equal(await op.metric('talon_notifications_total{notifier="k8sevents",result="sent"}'), 0);
  });
});
