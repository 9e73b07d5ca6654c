import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InvokeCommand } from '@aws-sdk/client-lambda';
import { ActionnerRegistry } from '../registry.js';
import { builtinActionners } from '../index.js';
import { useOf, type ActionContext } from '../types.js';
import { awsCredentialsOf, initLambda, invokeError, lambdaActionner, type LambdaParams, type LambdaState } from './lambda.js';
import type { FalcoEvent } from '../../falco/event.js';

const registry = new ActionnerRegistry(builtinActionners());
const event = { rule: 'R', priority: 'Critical', source: 'syscall', time: 't', hostname: 'h', output: 'o', tags: [], outputFields: { 'k8s.pod.name': 'p' }, traceId: 'tr' } as unknown as FalcoEvent;

function params(p: Record<string, unknown>): LambdaParams {
  const r = registry.validateParams('aws:lambda', p, 'parameters');
  assert.ok(r.ok, JSON.stringify(r));
  return r.params as LambdaParams;
}

/** A fake client: records commands, answers with `answer`. */
function state(answer: (input: InvokeCommand['input']) => unknown, maxResponseBytes = 16): LambdaState & { sent: InvokeCommand['input'][] } {
  const sent: InvokeCommand['input'][] = [];
  return {
    sent,
    maxResponseBytes,
    client: {
      send: (async (cmd: InvokeCommand) => {
        sent.push(cmd.input);
        return answer(cmd.input);
      }) as unknown as LambdaState['client']['send'],
    },
  };
}

const ctx = (p: LambdaParams, s: LambdaState | undefined): ActionContext<LambdaParams> =>
  ({ event, params: p, signal: new AbortController().signal, rule: { namespace: '', name: 'cr' }, actionName: 'invoke', state: s }) as unknown as ActionContext<LambdaParams>;

test('parameters: defaults, invocation types, names; region and endpoint are not parameters', () => {
  assert.deepEqual(params({ functionName: 'respond' }), { functionName: 'respond', qualifier: '$LATEST', invocationType: 'RequestResponse' });
  assert.equal(params({ functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:respond', invocationType: 'DryRun' }).invocationType, 'DryRun');
  for (const bad of [{}, { functionName: 'a b' }, { functionName: 'f', invocationType: 'Sync' }, { functionName: 'f', region: 'us-east-1' }, { functionName: 'f', endpoint: 'http://evil' }]) {
    assert.equal(registry.validateParams('aws:lambda', bad, 'p').ok, false, JSON.stringify(bad));
  }
  assert.deepEqual(useOf(lambdaActionner, params({ functionName: 'f' })), { target: 'none', scope: 'cloud' });
});

test('success: the payload and the invocation reach the client; status and capped response in the message', async () => {
  const s = state(() => ({ StatusCode: 200, Payload: Buffer.from('{"done":true,"padding":"xxxxxxxxxxxx"}') }));
  const res = await lambdaActionner.run(ctx(params({ functionName: 'respond', qualifier: 'live' }), s));
  assert.deepEqual(res, { status: 'success', reason: 'Invoked', message: 'Lambda function respond:live invoked (RequestResponse), status 200: {"done":true,"pa… (38 bytes, truncated)' });
  assert.equal(s.sent.length, 1);
  const input = s.sent[0]!;
  assert.equal(input.FunctionName, 'respond');
  assert.equal(input.Qualifier, 'live');
  assert.equal(input.InvocationType, 'RequestResponse');
  const body = JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'));
  assert.deepEqual(body.context, { ruleKind: 'ClusterTalonRule', ruleNamespace: '', ruleName: 'cr', action: 'invoke', actionner: 'aws:lambda', traceId: 'tr' });
  assert.deepEqual(body.outputFields, { 'k8s.pod.name': 'p' });
});

test('an asynchronous invocation (202, no payload) succeeds', async () => {
  const res = await lambdaActionner.run(ctx(params({ functionName: 'f', invocationType: 'Event' }), state(() => ({ StatusCode: 202 }))));
  assert.equal(res.status, 'success');
  assert.equal(res.message, 'Lambda function f:$LATEST invoked (Event), status 202');
});

test('a function error fails without retry and carries the error payload', async () => {
  const res = await lambdaActionner.run(ctx(params({ functionName: 'f' }), state(() => ({ StatusCode: 200, FunctionError: 'Unhandled', Payload: Buffer.from('{"errorMessage":"boom"}') }), 100)));
  assert.deepEqual(res, { status: 'failure', reason: 'FunctionError', message: 'Lambda function f:$LATEST returned status 200 with function error Unhandled: {"errorMessage":"boom"}', retryable: false });
});

test('SDK errors: throttling and 5xx are retryable, a refusal is not', async () => {
  const throttled = await lambdaActionner.run(
    ctx(params({ functionName: 'f' }), state(() => Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException', $metadata: { httpStatusCode: 429 } })))),
  );
  assert.deepEqual(throttled, { status: 'failure', reason: 'InvokeFailed', message: 'invoking Lambda function f:$LATEST throttled: TooManyRequestsException: Rate exceeded', retryable: true });
  assert.equal(invokeError(Object.assign(new Error('x'), { name: 'ServiceException', $metadata: { httpStatusCode: 500 } }), 'f').retryable, true);
  assert.equal(invokeError(new Error('socket hang up'), 'f').retryable, true, 'no answer at all');
  const denied = invokeError(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } }), 'f');
  assert.deepEqual(denied, { status: 'failure', reason: 'InvokeFailed', message: 'invoking Lambda function f refused with status 403: AccessDeniedException: not authorized', retryable: false });
});

test('without state (init not run) the run fails retryably instead of throwing', async () => {
  const res = await lambdaActionner.run(ctx(params({ functionName: 'f' }), undefined));
  assert.equal(res.reason, 'InvokeFailed');
  assert.equal(res.retryable, true);
});

test('config: credential files are read through Secret, checked at init, never echoed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'talon-lambda-'));
  writeFileSync(join(dir, 'id'), 'AKIDEXAMPLE\n');
  writeFileSync(join(dir, 'secret'), 'wJalrXUtnFEMI\n');
  const provider = awsCredentialsOf({ region: 'r', maxResponseBytes: 1, accessKeyIdFile: join(dir, 'id'), secretAccessKeyFile: join(dir, 'secret') });
  assert.ok(provider);
  const creds = await provider();
  assert.equal(creds.accessKeyId, 'AKIDEXAMPLE');
  assert.equal(creds.secretAccessKey, 'wJalrXUtnFEMI');
  assert.equal(awsCredentialsOf({ region: 'r', maxResponseBytes: 1 }), undefined, 'the standard chain');
  assert.throws(() => awsCredentialsOf({ region: 'r', maxResponseBytes: 1, accessKeyIdFile: join(dir, 'id') }), /go together/);
  assert.throws(() => initLambda({ region: 'r', maxResponseBytes: 1, accessKeyIdFile: join(dir, 'id'), secretAccessKeyFile: join(dir, 'missing') }), (e: Error) => e.message.includes('missing') && !e.message.includes('AKIDEXAMPLE'));
  assert.equal(initLambda({ region: 'eu-west-3', maxResponseBytes: 7 }).maxResponseBytes, 7);
});
