/**
 * Issue 15 (memory): what the real operator process loads, traced by a module resolve hook
 * (support/load-trace.ts) against the real kube-apiserver.
 * (a) Started, rules loaded and reported in their status, a label action taken, several
 *     expiry/revert sweeps run: neither @kubernetes/client-node's root (its `index.js`, or the
 *     `config.js` that loads every generated API) nor any cloud, SMTP or tracing SDK is loaded.
 * (b) The first action that needs a typed client (kubernetes:terminate) loads client-node
 *     then, and succeeds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { about, applyRuleLoaded, inline, podAlert, postAccepted, waitOutcome } from './support/alerts.js';

/** Packages an idle operator must not load (client-node: its root and the KubeConfig module). */
const HEAVY = ['@aws-sdk/client-lambda', '@aws-sdk/client-s3', '@google-cloud/storage', 'google-auth-library', 'nodemailer', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/sdk-trace-base', 'express', 'helmet'];
const CLIENT_NODE_ROOT = ['dist/index.js', 'dist/config.js', 'dist/gen/index.js'];

describe('what the operator process loads', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  const suffix = randomBytes(3).toString('hex');
  const loaded: { pkg: string; path: string }[] = [];
  let op: OperatorProcess;
  let ns = '';

  const clientNodeRoot = (): string[] => loaded.filter((l) => l.pkg === '@kubernetes/client-node' && CLIENT_NODE_ROOT.includes(l.path)).map((l) => l.path);

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'lazy');
    for (const name of ['lazy-a', 'lazy-b']) await core.createNamespacedPod({ namespace: ns, body: podManifest(name) });
    await Promise.all(['lazy-a', 'lazy-b'].map((name) => waitForPodRunning(core, ns, name)));
    op = await OperatorProcess.start({
      config: { statusFlushInterval: '1s', revertSweepInterval: '1s' },
      nodeArgs: ['--enable-source-maps', '--import', fileURLToPath(new URL('./support/load-trace.js', import.meta.url))],
      onLog: (line) => {
        const m = /^talon-load-trace (\S+) (\S+)$/.exec(line.trim());
        if (m) loaded.push({ pkg: m[1] as string, path: m[2] as string });
      },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  });

  it('(a) rules, a label action, status and sweeps: no client-node root, no SDK', async () => {
    const rule = `lazy-label-${suffix}`;
    await applyRuleLoaded(kc, talon, CLUSTER, rule, { match: { rules: [`E2E lazy label ${suffix}`] }, actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/lazy': 'yes' } })] }, 'cluster');
    await postAccepted(op, podAlert({ rule: `E2E lazy label ${suffix}`, namespace: ns, pod: 'lazy-a' }));
    await waitOutcome(talon, CLUSTER, rule, about('Pod', 'lazy-a', { result: 'Succeeded' }), 'lazy-a labeled');
    assert.equal((await core.readNamespacedPod({ namespace: ns, name: 'lazy-a' })).metadata?.labels?.['talon.dev/lazy'], 'yes');
    // Several sweeps (1 s apart) have listed pods, nodes and policies by now.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.ok(loaded.some((l) => l.pkg === 'ajv'), 'the trace sees the operator’s packages');
    assert.deepEqual(clientNodeRoot(), [], 'client-node’s root is not loaded');
    assert.deepEqual(loaded.filter((l) => HEAVY.includes(l.pkg)).map((l) => l.pkg), [], 'no SDK is loaded');
  });

  it('(b) the first action that needs a typed client loads client-node, and succeeds', async () => {
    const rule = `lazy-terminate-${suffix}`;
    await applyRuleLoaded(kc, talon, CLUSTER, rule, { match: { rules: [`E2E lazy terminate ${suffix}`] }, actions: [inline('kill', 'kubernetes:terminate', { gracePeriodSeconds: 0, ignoreStandalonePods: false })] }, 'cluster');
    await postAccepted(op, podAlert({ rule: `E2E lazy terminate ${suffix}`, namespace: ns, pod: 'lazy-b' }));
    await waitOutcome(talon, CLUSTER, rule, about('Pod', 'lazy-b', { result: 'Succeeded' }), 'lazy-b terminated');
    await eventually('client-node’s root loaded', async () => (clientNodeRoot().length > 0 ? true : undefined), 5_000, 100);
  });
});
