/**
 * Issue 17: the console in headless Chromium (Debian's chromium driven by playwright-core)
 * against the real operator on the real control plane. Users sign in with ServiceAccount
 * tokens minted by the TokenRequest API: `viewer` holds `view` (and the approver verbs) in
 * namespace A only. After an alert in each namespace, viewer's timeline shows A's outcome
 * and not B's, the pod's page shows what was done, B's pod page is refused; the approvals page
 * says when the TalonApproval kind is absent, and with it present a decision is written with
 * the user's token while a forged cross-site POST from another origin is refused.
 *
 * Screenshots of each page go to artifacts/console/ (gitignored); the README links committed
 * copies in docs/console/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createNamespace, deleteNamespace, e2eKubeconfigPath, eventually, kubectlPath, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, freePort, installAggregatedRoles, installCRDs, repoRoot } from './support/operator.js';
import { Talon } from './support/talon.js';
import { about, applyRuleLoaded, inline, podAlert, postAccepted, waitOutcome } from './support/alerts.js';

const ARTIFACTS = join(repoRoot, 'artifacts', 'console');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const APPROVALS_CRD = 'talonapprovals.talon.dev';

/** A short-lived token of a ServiceAccount (TokenRequest API). */
async function saToken(core: k8s.CoreV1Api, namespace: string, name: string): Promise<string> {
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const tr = await core.createNamespacedServiceAccountToken({ namespace, name, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  return tr.status!.token;
}

/**
 * A stand-in for the TalonApproval CRD (same group, plural and scope, schema left open) for
 * clusters where the real one is not installed yet; removed in `after`.
 */
function standInApprovalCRD(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: APPROVALS_CRD, labels: { 'talon.dev/e2e': 'stand-in' } },
    spec: {
      group: 'talon.dev',
      scope: 'Namespaced',
      names: { plural: 'talonapprovals', singular: 'talonapproval', kind: 'TalonApproval', listKind: 'TalonApprovalList' },
      versions: [{ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  };
}

describe('console in a browser against the real control plane', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const apiext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let nsA = '';
  let nsB = '';
  let viewerToken = '';
  let consoleUrl = '';
  let browser: BrowserContext;
  let page: Page;
  let profile = '';
  let createdStandIn = false;

  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await installCRDs(kc);
    await installAggregatedRoles(kc);
    nsA = await createNamespace(core, 'console-a');
    nsB = await createNamespace(core, 'console-b');
    for (const [ns, pod] of [[nsA, 'web'], [nsB, 'db']] as const) {
      await core.createNamespacedPod({ namespace: ns, body: podManifest(pod) });
      await waitForPodRunning(core, ns, pod);
    }
    // viewer: the built-in `view` role in A, plus deciding approvals there (the custom verb and the patch it writes with).
    viewerToken = await saToken(core, nsA, 'viewer');
    const subject = [{ kind: 'ServiceAccount', name: 'viewer', namespace: nsA }];
    await rbac.createNamespacedRoleBinding({ namespace: nsA, body: { metadata: { name: 'viewer-view' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: subject } });
    await rbac.createNamespacedRole({
      namespace: nsA,
      body: { metadata: { name: 'approver' }, rules: [{ apiGroups: ['talon.dev'], resources: ['talonapprovals'], verbs: ['get', 'list', 'patch', 'approve'] }] },
    });
    await rbac.createNamespacedRoleBinding({ namespace: nsA, body: { metadata: { name: 'viewer-approver' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: subject } });

    const consolePort = await freePort();
    consoleUrl = `http://127.0.0.1:${consolePort}`;
    op = await OperatorProcess.start({ config: { statusFlushInterval: '500ms', console: { enabled: true, port: consolePort, accessCacheTtl: '1s' } } });
    profile = mkdtempSync(join(tmpdir(), 'talon-chromium-'));
    browser = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 900 } });
    page = browser.pages()[0] ?? (await browser.newPage());
  });

  after(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await op?.stop();
    if (createdStandIn) await apiext.deleteCustomResourceDefinition({ name: APPROVALS_CRD }).catch(() => undefined);
    for (const ns of [nsA, nsB]) {
      if (!ns) continue;
      await talon.deleteAll(ns);
      await deleteNamespace(core, ns);
    }
  });

  it('after an alert the timeline shows the outcome and the pod page what was done; nothing of a namespace without RBAC', async () => {
    const label = [inline('flag', 'kubernetes:label', { labels: { 'talon.dev/flagged': 'true' } })];
    await applyRuleLoaded(kc, talon, nsA, 'flag-web', { match: { rules: ['E2E console'] }, actions: label }, 'tenant');
    await applyRuleLoaded(kc, talon, nsB, 'flag-db', { match: { rules: ['E2E console'] }, actions: label }, 'tenant');
    const answer = await op.post(podAlert({ rule: 'E2E console', namespace: nsA, pod: 'web' }));
    assert.equal(answer.status, 202);
    const traceId = (JSON.parse(answer.body) as { traceId: string }).traceId;
    assert.match(traceId, /^[0-9a-f]{32}$/, 'the 202 answer carries a W3C trace id');
    await postAccepted(op, podAlert({ rule: 'E2E console', namespace: nsB, pod: 'db' }));
    await waitOutcome(talon, nsA, 'flag-web', about('Pod', 'web', { result: 'Succeeded' }), 'web labeled');
    await waitOutcome(talon, nsB, 'flag-db', about('Pod', 'db', { result: 'Succeeded' }), 'db labeled');

    await page.goto(`${consoleUrl}/timeline`);
    assert.ok(page.url().endsWith('/login'), 'a page without a session goes to the sign-in');
    await shot('login');
    await page.fill('textarea[name=token]', viewerToken);
    await Promise.all([page.waitForURL(/\/timeline$/), page.click('button[type=submit]')]);
    assert.match(await page.textContent('header .who') ?? '', new RegExp(`system:serviceaccount:${nsA}:viewer`));

    // The Events are written asynchronously: reload until the outcome is listed.
    const row = await eventually('the timeline lists the outcome about pod web', async () => {
      await page.goto(`${consoleUrl}/timeline`);
      const rows = await page.$$eval('#timeline tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')));
      return rows.find((r) => r[3] === `Pod ${nsA}/web`);
    });
    assert.equal(row[1], 'Succeeded');
    assert.equal(row[2], 'kubernetes:label');
    assert.equal(row[7], traceId, "the Event carries the 202 answer's trace id");
    const text = (await page.textContent('#timeline')) ?? '';
    assert.ok(!text.includes(nsB), `nothing of ${nsB}, where viewer has no RBAC`);
    await page.waitForSelector('#chart[data-drawn=true] canvas');
    await shot('timeline');

    // Filters: a result with no outcome empties the table.
    await page.selectOption('select[name=result]', 'Failed');
    await Promise.all([page.waitForURL(/result=Failed/), page.click('form.filters button')]);
    assert.equal(await page.$$eval('#timeline tbody tr', (trs) => trs.length), 0);

    await page.goto(`${consoleUrl}/timeline`);
    await Promise.all([page.waitForURL(/\/targets\//), page.click(`#timeline a[href="/targets/${nsA}/Pod/web"]`)]);
    const events = await page.$$eval('#target-events tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    assert.ok(events.some((e) => e.includes('Succeeded') && e.includes('kubernetes:label')), events.join('\n'));
    const status = await page.$$eval('#target-status tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    assert.ok(status.some((s) => s.includes(`TalonRule ${nsA}/flag-web`) && s.includes('Succeeded')), status.join('\n'));
    await shot('pod');

    await page.goto(`${consoleUrl}/rules`);
    const rules = await page.$$eval('#rules tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-rule')));
    assert.ok(rules.includes(`${nsA}/flag-web`));
    assert.ok(!rules.includes(`${nsB}/flag-db`));
    await shot('rules');

    const refused = await page.goto(`${consoleUrl}/targets/${nsB}/Pod/db`);
    assert.equal(refused?.status(), 403);
    assert.match((await page.textContent('#error')) ?? '', new RegExp(`may not list Events in namespace ${nsB}`));
    assert.ok(!((await page.content()).includes('kubernetes:label')));
  });

  it('approvals: says when the kind is absent; decides with the user token; refuses a forged cross-site POST', async () => {
    const installed = await apiext.readCustomResourceDefinition({ name: APPROVALS_CRD }).then(
      () => true,
      () => false,
    );
    if (!installed) {
      await page.goto(`${consoleUrl}/approvals`);
      assert.match((await page.textContent('#approvals-absent')) ?? '', /TalonApproval kind .* is not installed/);
      await shot('approvals-absent');
      execFileSync(kubectlPath(), ['--kubeconfig', e2eKubeconfigPath(), 'apply', '-f', '-'], { input: JSON.stringify(standInApprovalCRD()), stdio: ['pipe', 'ignore', 'inherit'] });
      createdStandIn = true;
      await eventually('TalonApproval served', async () => {
        await custom.listClusterCustomObject({ group: 'talon.dev', version: 'v1alpha1', plural: 'talonapprovals' });
        return true;
      });
    }
    const pod = await core.readNamespacedPod({ namespace: nsA, name: 'web' });
    const approval = (name: string) => ({
      apiVersion: 'talon.dev/v1alpha1',
      kind: 'TalonApproval',
      metadata: { name, namespace: nsA },
      spec: {
        // The fields the real CRD requires (the stand-in accepts anything).
        rule: { kind: 'TalonRule', name: 'flag-web', namespace: nsA, uid: '00000000-0000-4000-8000-00000000c017' },
        action: { name: 'flag', actionner: 'kubernetes:label', parameters: { labels: { 'talon.dev/approved': 'true' } } },
        target: { kind: 'Pod', namespace: nsA, name: 'web', uid: pod.metadata!.uid },
        alert: { rule: 'E2E console', priority: 'Warning', output: 'a shell in web', time: new Date().toISOString(), traceId: '4bf92f3577b34da6a3ce929d0e0e4736', source: 'syscall', hostname: 'kwok-node-0', outputFields: {} },
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      },
    });
    const created = new Map<string, ReturnType<typeof approval>>();
    for (const name of ['approve-me', 'forged']) {
      created.set(name, approval(name));
      await custom.createNamespacedCustomObject({ group: 'talon.dev', version: 'v1alpha1', namespace: nsA, plural: 'talonapprovals', body: created.get(name) });
    }
    const decisionOf = async (name: string) =>
      ((await custom.getNamespacedCustomObject({ group: 'talon.dev', version: 'v1alpha1', namespace: nsA, plural: 'talonapprovals', name })) as { spec: { decision?: string; decisionReason?: string } }).spec;

    await page.goto(`${consoleUrl}/approvals`);
    await page.waitForSelector(`tr[data-approval="${nsA}/approve-me"] form[action$="/approve"]`);
    await shot('approvals');
    await page.fill(`tr[data-approval="${nsA}/approve-me"] input[name=reason]`, 'checked with the on-call');
    await Promise.all([page.waitForURL(/decided=/), page.click(`tr[data-approval="${nsA}/approve-me"] form[action$="/approve"] button`)]);
    assert.deepEqual(await decisionOf('approve-me'), { ...created.get('approve-me')!.spec, decision: 'Approved', decisionReason: 'checked with the on-call' });

    // A page on another origin (another port) posts to the console with the signed-in browser.
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="post" action="${consoleUrl}/approvals/${nsA}/forged/approve"><input name="reason" value="forged"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
      const refused = page.waitForResponse((r) => r.url().endsWith('/forged/approve'));
      await page.goto(evilUrl);
      const answer = await refused;
      assert.equal(answer.status(), 403);
      await page.waitForSelector('#error');
      assert.match((await page.textContent('#error')) ?? '', /refused/);
      await shot('forged-post-refused');
    } finally {
      evil.close();
    }
    assert.equal((await decisionOf('forged')).decision, undefined, 'the forged POST changed nothing');
  });
});

