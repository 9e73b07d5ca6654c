/**
 * Issue 8 (notifier contract): the real operator with `defaultNotifiers: []` and one extra
 * k8sevents instance. Outcomes of a rule naming no notifier write no Event but still reach
 * the rule's status; a rule naming the instance gets its Events; a rule naming an unknown
 * instance is not accepted.
 *
 * Issue 9 (HTTP notifiers): a ClusterTalonRule naming a `slack` instance, whose webhook URL
 * is in a secret file and points at a loopback receiver started here, produces the action's
 * effect, the Event, the status counters and exactly one Slack request carrying the outcome.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { about, applyRuleLoaded, eventsRegarding, inline, podAlert, postAccepted, ruleStatus, waitOutcome } from './support/alerts.js';

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

describe('notifiers: slack against the real control plane', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  const requests: { url: string; contentType: string; body: unknown }[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', contentType: req.headers['content-type'] ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      res.end('ok');
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'talon-e2e-slack-'));
  let op: OperatorProcess;
  let ns = '';

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'slack');
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const urlFile = join(dir, 'slack-webhook-url');
    writeFileSync(urlFile, `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/services/T0/B0/E2ESECRET\n`);
    op = await OperatorProcess.start({
      config: { statusFlushInterval: '500ms', notifiers: { slack: { type: 'slack', webhookUrlFile: urlFile, timeout: '5s' } } },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a ClusterTalonRule with notifiers: [slack] acts, writes its Event and status, and sends exactly one Slack message with the outcome', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('shell') });
    await waitForPodRunning(core, ns, 'shell');
    const rule = `e2e-slack-${ns}`;
    await applyRuleLoaded(kc, talon, CLUSTER, rule, { match: { rules: ['E2E slack'] }, actions: [inline('flag', 'kubernetes:label', { labels: { 'talon.dev/flagged': 'true' } })], notifiers: ['slack'] }, 'cluster');

    await postAccepted(op, podAlert({ rule: 'E2E slack', namespace: ns, pod: 'shell' }));
    await eventually('the pod labelled', async () => (await core.readNamespacedPod({ namespace: ns, name: 'shell' })).metadata?.labels?.['talon.dev/flagged'] === 'true');
    const outcome = await waitOutcome(talon, CLUSTER, rule, about('Pod', 'shell', { result: 'Succeeded' }), 'shell labeled');
    const status = await eventually('status counters', async () => {
      const s = await ruleStatus(talon, CLUSTER, rule);
      return s.results.succeeded === 1 ? s : undefined;
    });
    assert.equal(status.matchedEvents, 1);
    const events = await eventually('the Event regarding the pod', async () => {
      const e = await eventsRegarding(kc, ns, { kind: 'Pod', name: 'shell' });
      return e.length > 0 ? e : undefined;
    });
    assert.equal(events[0]?.reason, 'Succeeded');

    await eventually('the Slack request', () => requests.length > 0);
    await eventually('the Slack delivery counted', async () => (await op.metric('talon_notifications_total{notifier="slack",result="sent"}')) === 1);
    assert.equal(requests.length, 1, 'exactly one Slack request');
    const req = requests[0]!;
    assert.equal(req.url, '/services/T0/B0/E2ESECRET');
    assert.equal(req.contentType, 'application/json; charset=utf-8');
    const body = req.body as { text: string; attachments: { color: string; fields: { title: string; value: string }[] }[] };
    assert.equal(body.text, `Action \`flag\` (kubernetes:label) of rule \`${rule}\` succeeded on Pod ${ns}/shell`);
    assert.equal(body.attachments[0]?.color, '#23ba47');
    const field = (title: string) => body.attachments[0]?.fields.find((f) => f.title === title)?.value;
    assert.equal(field('Result'), '`Succeeded`');
    assert.equal(field('Message'), `\`${outcome.message}\``);
    assert.equal(field('Event'), `\`E2E slack (k8s.ns=${ns} k8s.pod=shell)\``);
    assert.match(field('Trace ID') ?? '', /^`.+`$/);
    assert.equal(await op.metric('talon_notifications_total{notifier="slack",result="failed"}'), 0);
    assert.ok(!op.logs.some((l) => l.includes('E2ESECRET')), 'the webhook URL never appears in the logs');
  });
});
