/**
 * aws:lambda and gcp:function against loopback peers that check requests as the clouds do,
 * through the real clients (the Lambda SDK client; google-auth-library's service-account ID
 * token flow), started the way the operator starts them (config loader → registry init) and
 * run by the dispatcher, so outcomes and retries are the ones users get.
 *
 * - Lambda (peers/lambda.ts): path, Qualifier, X-Amz-Invocation-Type, payload, and a SigV4
 *   signature verified with the test's key; success, function error, 429 throttling.
 * - GCP (peers/gcp-function.ts): a service-account key made here, whose token_uri is a
 *   loopback token endpoint that checks the signed assertion and issues an ID token signed by
 *   the test's "Google" key; the function verifies the token's signature and audience.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeKube, falcoEvent } from './fakes/kube.js';
import { startLambdaServer, LAMBDA_KEY_ID, LAMBDA_REGION, LAMBDA_SECRET, type LambdaServer } from './peers/lambda.js';
import { startGcpPeer, type GcpPeer } from './peers/gcp-function.js';
import { silentLog } from '../src/lib/log.js';
import { loadConfig } from '../src/config/load.js';
import { pluginSchemas, registries } from '../src/main.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import { TokenBucketBudget } from '../src/dispatch/budget.js';
import type { ActionnerRegistry } from '../src/actionners/registry.js';
import type { Outcome } from '../src/api/v1alpha1/outcome.js';
import { ruleKey, type CompiledRule } from '../src/rules/types.js';

let lambda: LambdaServer;
let gcp: GcpPeer;
let dir = '';
let registry: ActionnerRegistry;
let traces = 0;

before(async () => {
  lambda = await startLambdaServer();
  gcp = await startGcpPeer();
  dir = mkdtempSync(join(tmpdir(), 'talon-cloudfn-it-'));
  const f = (name: string, value: string) => (writeFileSync(join(dir, name), value), join(dir, name));
  const configFile = f(
    'config.yaml',
    [
      'actionners:',
      '  aws:',
      `    region: ${LAMBDA_REGION}`,
      `    endpoint: ${lambda.endpoint}`,
      `    accessKeyIdFile: ${f('aws-id', `${LAMBDA_KEY_ID}\n`)}`,
      `    secretAccessKeyFile: ${f('aws-secret', `${LAMBDA_SECRET}\n`)}`,
      '    maxResponseBytes: 200',
      '  gcp:',
      `    credentialsFile: ${f('sa.json', JSON.stringify(gcp.serviceAccountKey))}`,
      `    allowedUrlPrefixes: ['${gcp.endpoint}/']`,
      '',
    ].join('\n'),
  );
  const loaded = loadConfig({ file: configFile, env: { TALON_AUTH_MODE: 'none' }, plugins: pluginSchemas() });
  if (!loaded.ok) assert.fail(loaded.errors.join('\n'));
  registry = registries().actionners;
  registry.configure(loaded.config.actionners, { log: silentLog });
  assert.deepEqual(await registry.initialize(['aws:lambda', 'gcp:function']), { ok: true });
});
after(async () => {
  await lambda?.stop();
  await gcp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs one action of `actionner` with `params` for a cluster rule through a dispatcher; returns its outcome. */
async function dispatchOne(actionner: string, params: Record<string, unknown>): Promise<Outcome> {
  const a = registry.get(actionner)!;
  const v = registry.validateParams(actionner, params, 'parameters');
  if (!v.ok) assert.fail(JSON.stringify(v.errors));
  const outcomes: Outcome[] = [];
  const d = new Dispatcher({
    queue: { concurrency: 1, maxPending: 10 },
    kube: new FakeKube().clients,
    identity: { protectedNamespaces: new Set() },
    budget: new TokenBucketBudget(Infinity),
    sink: { record: (o) => outcomes.push(o), matched: () => undefined, suppressed: () => undefined },
    cooldowns: { active: () => false, start: () => undefined },
    retry: { attempts: 3, baseMs: 1 },
    globalDryRun: false,
    actionnerState: (n) => registry.stateOf(n),
    log: silentLog,
  });
  const rule: CompiledRule = {
    kind: 'ClusterTalonRule',
    key: ruleKey('ClusterTalonRule', '', 'respond'),
    namespace: '',
    name: 'respond',
    uid: 'uid-respond',
    generation: 1,
    scope: 'cluster',
    order: 0,
    continue: true,
    suspend: false,
    dryRun: false,
    cooldownMs: 0,
    matcher: { ruleNames: null, sources: null, test: () => true, explain: () => ({ matched: true }) },
    actions: [{ name: 'call', actionner: a, params: v.params, continue: true, ignoreErrors: false, timeoutMs: 20_000, additionalContexts: [] }],
    notifiers: [],
  };
  d.dispatch(falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1', 'proc.cmdline': 'sh -i' }, { traceId: `trace-cloud-${++traces}` }), [rule]);
  await d.drain();
  assert.equal(outcomes.length, 1);
  return outcomes[0]!;
}

test('lambda success: signed request with path, qualifier, invocation type and payload; response in the outcome', async () => {
  const before = lambda.calls.length;
  const o = await dispatchOne('aws:lambda', { functionName: 'ok-respond', qualifier: 'live' });
  assert.equal(o.result, 'Succeeded');
  assert.equal(o.reason, 'Invoked');
  const calls = lambda.calls.slice(before);
  assert.equal(calls.length, 1);
  const c = calls[0]!;
  assert.equal(c.signatureValid, true, c.signatureProblem);
  assert.equal(c.functionName, 'ok-respond');
  assert.equal(c.qualifier, 'live');
  assert.equal(c.invocationType, 'RequestResponse');
  const payload = c.payload as { rule: string; outputFields: Record<string, unknown>; context: Record<string, unknown> };
  assert.equal(payload.rule, 'Terminal shell in container');
  assert.deepEqual(payload.outputFields, { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1', 'proc.cmdline': 'sh -i' });
  assert.deepEqual(payload.context, { ruleKind: 'ClusterTalonRule', ruleNamespace: '', ruleName: 'respond', action: 'call', actionner: 'aws:lambda', traceId: o.traceId });
  assert.equal(o.message, `Lambda function ok-respond:live invoked (RequestResponse), status 200: {"received":"${o.traceId}"}`);
});

test('lambda Event and DryRun invocations send their type', async () => {
  const before = lambda.calls.length;
  assert.equal((await dispatchOne('aws:lambda', { functionName: 'ok-async', invocationType: 'Event' })).message, 'Lambda function ok-async:$LATEST invoked (Event), status 202');
  assert.equal((await dispatchOne('aws:lambda', { functionName: 'ok-async', invocationType: 'DryRun' })).message, 'Lambda function ok-async:$LATEST invoked (DryRun), status 204');
  assert.deepEqual(lambda.calls.slice(before).map((c) => [c.invocationType, c.qualifier, c.signatureValid]), [['Event', '$LATEST', true], ['DryRun', '$LATEST', true]]);
});

test('lambda function error: Failed FunctionError with the error payload, not retried', async () => {
  const before = lambda.calls.length;
  const o = await dispatchOne('aws:lambda', { functionName: 'crash-respond' });
  assert.equal(o.result, 'Failed');
  assert.equal(o.reason, 'FunctionError');
  assert.equal(o.message, 'Lambda function crash-respond:$LATEST returned status 200 with function error Unhandled: {"errorType":"Error","errorMessage":"boom"}');
  assert.equal(lambda.calls.length - before, 1, 'one invocation: the function ran');
});

test('lambda throttling (429): retried by the dispatcher, then Failed InvokeFailed', async () => {
  const before = lambda.calls.length;
  const o = await dispatchOne('aws:lambda', { functionName: 'busy-respond' });
  assert.equal(o.result, 'Failed');
  assert.equal(o.reason, 'InvokeFailed');
  assert.match(o.message, /^invoking Lambda function busy-respond:\$LATEST throttled: TooManyRequestsException: Rate exceeded \(gave up after 3 attempts\)$/);
  const calls = lambda.calls.slice(before);
  assert.equal(calls.length, 3, 'every attempt of the retry policy reached the endpoint, one request each');
  assert.ok(calls.every((c) => c.signatureValid));
});

test('the peer refuses a request signed with another key (the check can fail)', async () => {
  const other = registries().actionners;
  other.configure(
    { aws: { region: LAMBDA_REGION, endpoint: lambda.endpoint, accessKeyIdFile: join(dir, 'aws-id'), secretAccessKeyFile: (writeFileSync(join(dir, 'wrong'), 'not-the-secret'), join(dir, 'wrong')) } },
    { log: silentLog },
  );
  assert.deepEqual(await other.initialize(['aws:lambda']), { ok: true });
  const before = lambda.calls.length;
  const prev = registry;
  registry = other;
  try {
    const o = await dispatchOne('aws:lambda', { functionName: 'ok-respond' });
    assert.equal(o.result, 'Failed');
    assert.match(o.message, /refused with status 403: InvalidSignatureException: signature does not match/);
    assert.equal(lambda.calls.length - before, 1, 'a refusal is not retried');
  } finally {
    registry = prev;
  }
});

test('gcp function: an ID token from the key file’s token_uri, verified by the function; payload delivered', async () => {
  const before = gcp.calls.length;
  const o = await dispatchOne('gcp:function', { url: `${gcp.endpoint}/ok-isolate`, timeoutSeconds: 10 });
  assert.equal(o.result, 'Succeeded', o.message);
  assert.equal(o.reason, 'Invoked');
  assert.equal(o.message, `function ${gcp.endpoint}/ok-isolate answered status 200: {"received":"${o.traceId}"}`);
  const calls = gcp.calls.slice(before);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.tokenProblem, undefined);
  assert.equal(calls[0]!.audience, `${gcp.endpoint}/ok-isolate`);
  assert.equal(calls[0]!.email, gcp.serviceAccountKey.client_email);
  assert.deepEqual((calls[0]!.payload as { context: unknown }).context, { ruleKind: 'ClusterTalonRule', ruleNamespace: '', ruleName: 'respond', action: 'call', actionner: 'gcp:function', traceId: o.traceId });
  assert.ok(gcp.tokenRequests.length >= 1);
  assert.ok(gcp.tokenRequests.every((t) => t.assertionValid), 'every assertion was signed with the service account key');
});

test('gcp function: 429 is retried, 403 is not; a URL outside the allowed prefixes is never called', async () => {
  let before = gcp.calls.length;
  const busy = await dispatchOne('gcp:function', { url: `${gcp.endpoint}/busy-isolate` });
  assert.equal(busy.reason, 'InvokeFailed');
  assert.equal(busy.message, `function ${gcp.endpoint}/busy-isolate answered status 429: slow down (gave up after 3 attempts)`);
  assert.equal(gcp.calls.length - before, 3);
  before = gcp.calls.length;
  const denied = await dispatchOne('gcp:function', { url: `${gcp.endpoint}/deny-isolate` });
  assert.equal(denied.message, `function ${gcp.endpoint}/deny-isolate answered status 403: denied`);
  assert.equal(gcp.calls.length - before, 1);
  before = gcp.calls.length;
  const elsewhere = await dispatchOne('gcp:function', { url: 'https://attacker.example/collect' });
  assert.equal(elsewhere.result, 'Failed');
  assert.match(elsewhere.message, /not allowed by the operator config/);
  assert.equal(gcp.calls.length - before, 0);
});

test('gcp function: a token with the wrong audience is refused by the function (the check can fail)', async () => {
  const before = gcp.calls.length;
  // The peer routes /as/<path> to <path> but the token's audience is the URL called: mismatch on purpose.
  const o = await dispatchOne('gcp:function', { url: `${gcp.endpoint}/audience-mismatch/ok-isolate` });
  assert.equal(o.result, 'Failed');
  assert.match(o.message, /answered status 401: audience/);
  assert.equal(gcp.calls.length - before, 1);
});
