/**
 * Issue 11 (cloud actionners), through the real operator process against the real API server:
 * - the actionner init step: a ClusterTalonRule using gcp:function while the configured key
 *   file is missing is Accepted but Ready=False/ActionnerInitFailed (naming the file), the
 *   operator keeps running; once the file appears the rule becomes Ready without any change
 *   to it (the reconcile retry), and an alert calls the function with a verified ID token;
 * - aws:lambda: an alert invokes the loopback Lambda peer with a verified SigV4 signature,
 *   and the outcome in the rule's status carries the function's answer;
 * - tenancy: a TalonRule using aws:lambda outside safety.cloudNamespaces is not Accepted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { loadE2EKubeConfig, eventually } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { applyRuleLoaded, createKwokNode, deleteNode, inline, podAlert, postAccepted, waitOutcome } from './support/alerts.js';
import { startLambdaServer, LAMBDA_KEY_ID, LAMBDA_REGION, LAMBDA_SECRET, type LambdaServer } from '../operator/test/peers/lambda.js';
import { startGcpPeer, type GcpPeer } from '../operator/test/peers/gcp-function.js';

const FALCO_RULE = 'Terminal shell in container';
/** A fresh tenant namespace per run (a deleted one lingers while terminating). */
const TENANT = `cloudfn-${Date.now().toString(36)}`;

describe('cloud functions', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  let lambda: LambdaServer;
  let gcp: GcpPeer;
  let op: OperatorProcess;
  let dir = '';
  let keyFile = '';

  before(async () => {
    await installCRDs(kc);
    await core.createNamespace({ body: { metadata: { name: TENANT } } }).catch(() => undefined);
    lambda = await startLambdaServer();
    gcp = await startGcpPeer();
    dir = mkdtempSync(join(tmpdir(), 'talon-e2e-cloudfn-'));
    const f = (name: string, value: string) => (writeFileSync(join(dir, name), value), join(dir, name));
    keyFile = join(dir, 'sa.json'); // written by the test below, after the operator started
    op = await OperatorProcess.start({
      config: {
        actionners: {
          aws: { region: LAMBDA_REGION, endpoint: lambda.endpoint, accessKeyIdFile: f('id', LAMBDA_KEY_ID), secretAccessKeyFile: f('secret', LAMBDA_SECRET) },
          gcp: { credentialsFile: keyFile, allowedUrlPrefixes: [`${gcp.endpoint}/`] },
        },
      },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await core.deleteNamespace({ name: TENANT }).catch(() => undefined);
    await lambda?.stop();
    await gcp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a rule whose actionner cannot start is not Ready, then loads once its credentials appear, and calls the function', async () => {
    await talon.applyRule(CLUSTER, 'cloudfn-gcp', { match: { rules: [FALCO_RULE] }, actions: [inline('call', 'gcp:function', { url: `${gcp.endpoint}/ok-isolate`, timeoutSeconds: 5 })] });
    const notReady = await talon.waitCondition('talonrules', CLUSTER, 'cloudfn-gcp', 'Ready', 'False');
    assert.equal(notReady.reason, 'ActionnerInitFailed');
    assert.match(notReady.message, /^actionner gcp:function could not start: .*sa\.json/);
    assert.equal((await talon.waitCondition('talonrules', CLUSTER, 'cloudfn-gcp', 'Accepted', 'True')).reason, 'Valid');
    assert.equal((await op.readyz()).status, 200, 'the operator keeps serving');

    writeFileSync(keyFile, JSON.stringify(gcp.serviceAccountKey));
    await talon.waitCondition('talonrules', CLUSTER, 'cloudfn-gcp', 'Ready', 'True', 90_000);

    await postAccepted(op, podAlert({ rule: FALCO_RULE, namespace: 'default', pod: 'web-gcp' }));
    const o = await waitOutcome(talon, CLUSTER, 'cloudfn-gcp', (x) => x.actionner === 'gcp:function', 'gcp:function ran');
    assert.equal(o.result, 'Succeeded', o.message);
    assert.equal(o.reason, 'Invoked');
    const call = gcp.calls.at(-1)!;
    assert.equal(call.tokenProblem, undefined);
    assert.equal(call.audience, `${gcp.endpoint}/ok-isolate`);
    assert.equal((call.payload as { outputFields: Record<string, unknown> }).outputFields['k8s.pod.name'], 'web-gcp');
  });

  it('aws:lambda: an alert invokes the function with a verified signature; the answer is in the outcome', async () => {
    await applyRuleLoaded(kc, talon, CLUSTER, 'cloudfn-lambda', { match: { rules: [FALCO_RULE] }, actions: [inline('invoke', 'aws:lambda', { functionName: 'ok-respond', qualifier: 'live' })] }, 'cluster');
    await postAccepted(op, podAlert({ rule: FALCO_RULE, namespace: 'default', pod: 'web-lambda' }));
    const o = await waitOutcome(talon, CLUSTER, 'cloudfn-lambda', (x) => x.actionner === 'aws:lambda', 'aws:lambda ran');
    assert.equal(o.result, 'Succeeded', o.message);
    assert.match(o.message, /^Lambda function ok-respond:live invoked \(RequestResponse\), status 200: \{"received":"/);
    const call = await eventually('the lambda call', async () => lambda.calls.find((c) => (c.payload as { outputFields?: Record<string, unknown> }).outputFields?.['k8s.pod.name'] === 'web-lambda'), 10_000, 100);
    assert.equal(call.signatureValid, true, call.signatureProblem);
    assert.equal(call.qualifier, 'live');
    assert.deepEqual((call.payload as { context: { ruleName: string; ruleKind: string } }).context.ruleName, 'cloudfn-lambda');
  });

  it('additionalContexts k8snode: the real node of the alert pod reaches the Lambda payload', async () => {
    const nodeName = 'cloudfn-node';
    await createKwokNode(core, nodeName);
    try {
      await core.createNamespacedPod({
        namespace: TENANT,
        body: { metadata: { name: 'web-ctx' }, spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] } },
      });
      await applyRuleLoaded(
        kc,
        talon,
        CLUSTER,
        'cloudfn-ctx',
        { match: { rules: [FALCO_RULE] }, actions: [inline('invoke', 'aws:lambda', { functionName: 'ok-ctx' }, { additionalContexts: ['k8snode'] })] },
        'cluster',
      );
      await postAccepted(op, podAlert({ rule: FALCO_RULE, namespace: TENANT, pod: 'web-ctx' }));
      const call = await eventually('the lambda call with contexts', async () => lambda.calls.find((c) => c.functionName === 'ok-ctx'), 20_000, 100);
      const additional = (call.payload as { context: { additional?: Record<string, string> } }).context.additional;
      assert.equal(additional?.['node.name'], nodeName);
      assert.equal(additional?.['node.hostname'], nodeName, 'from the node’s kubernetes.io/hostname label');
      assert.ok(Object.keys(additional ?? {}).some((k) => k.startsWith('node.address.')), JSON.stringify(additional));
    } finally {
      await deleteNode(core, nodeName);
    }
  });

  it('a TalonRule may not use aws:lambda outside safety.cloudNamespaces', async () => {
    await talon.applyRule(TENANT, 'lambda', { match: { rules: [FALCO_RULE] }, actions: [inline('invoke', 'aws:lambda', { functionName: 'ok-respond' })] });
    const accepted = await talon.waitCondition('talonrules', TENANT, 'lambda', 'Accepted', 'False');
    assert.equal(accepted.reason, 'ScopeNotAllowed');
    assert.match(accepted.message, /cloud credentials/);
  });
});
