import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActionnerRegistry } from '../registry.js';
import { builtinActionners } from '../index.js';
import { useOf, type ActionContext } from '../types.js';
import { functionActionner, initGcp, urlAllowed, type FunctionParams, type FunctionResponse, type GcpState } from './function.js';
import type { FalcoEvent } from '../../falco/event.js';

const registry = new ActionnerRegistry(builtinActionners());
const event = { rule: 'R', priority: 'Critical', source: 'syscall', time: 't', hostname: 'h', output: 'o', tags: [], outputFields: {}, traceId: 'tr' } as unknown as FalcoEvent;
const URL_ = 'https://respond-abc-uc.a.run.app';

function params(p: Record<string, unknown>): FunctionParams {
  const r = registry.validateParams('gcp:function', p, 'parameters');
  assert.ok(r.ok, JSON.stringify(r));
  return r.params as FunctionParams;
}

function state(answer: (url: string, json: string, signal: AbortSignal) => Promise<FunctionResponse>, allowedUrlPrefixes: string[] = []): GcpState & { calls: { url: string; json: string }[] } {
  const calls: { url: string; json: string }[] = [];
  return {
    calls,
    allowedUrlPrefixes,
    maxResponseBytes: 12,
    post: (url, json, signal) => {
      calls.push({ url, json });
      return answer(url, json, signal);
    },
  };
}

const ctx = (p: FunctionParams, s: GcpState | undefined, signal = new AbortController().signal): ActionContext<FunctionParams> =>
  ({ event, params: p, signal, rule: { namespace: 'shop', name: 'r' }, actionName: 'call', state: s }) as unknown as ActionContext<FunctionParams>;

const answer = (status: number, body: string) => async (): Promise<FunctionResponse> => ({ status, body: Buffer.from(body) });

test('parameters: the timeout is in seconds, defaulted; credentials are not parameters', () => {
  assert.deepEqual(params({ url: URL_ }), { url: URL_, timeoutSeconds: 30 });
  for (const bad of [{}, { url: 'ftp://x' }, { url: URL_, timeoutSeconds: 0 }, { url: URL_, timeoutSeconds: 1.5 }, { url: URL_, credentialsFile: '/k' }, { url: 'https://user@host/' }]) {
    assert.equal(registry.validateParams('gcp:function', bad, 'p').ok, false, JSON.stringify(bad));
  }
  assert.deepEqual(useOf(functionActionner, params({ url: URL_ })), { target: 'none', scope: 'cloud' });
});

test('2xx: Invoked with the status and the capped body; the payload carries the rule context', async () => {
  const s = state(answer(200, '{"isolated":"yes, done"}'));
  const res = await functionActionner.run(ctx(params({ url: URL_ }), s));
  assert.deepEqual(res, { status: 'success', reason: 'Invoked', message: `function ${URL_} answered status 200: {"isolated":… (24 bytes, truncated)` });
  assert.equal(s.calls[0]!.url, URL_);
  assert.deepEqual(JSON.parse(s.calls[0]!.json).context, { ruleKind: 'TalonRule', ruleNamespace: 'shop', ruleName: 'r', action: 'call', actionner: 'gcp:function', traceId: 'tr' });
});

test('statuses: 429 and 5xx retryable, 403 not; network errors retryable', async () => {
  const run = async (s: GcpState) => functionActionner.run(ctx(params({ url: URL_ }), s));
  assert.deepEqual(await run(state(answer(429, 'slow down'))), { status: 'failure', reason: 'InvokeFailed', message: `function ${URL_} answered status 429: slow down`, retryable: true });
  assert.equal((await run(state(answer(503, '')))).retryable, true);
  assert.deepEqual(await run(state(answer(403, 'forbidden'))), { status: 'failure', reason: 'InvokeFailed', message: `function ${URL_} answered status 403: forbidden`, retryable: false });
  const refused = await run(state(() => Promise.reject(new Error('connect ECONNREFUSED'))));
  assert.deepEqual(refused, { status: 'failure', reason: 'InvokeFailed', message: `calling function ${URL_} failed: connect ECONNREFUSED`, retryable: true });
});

test('the timeout (seconds) aborts the call; the action’s own abort is reported as Aborted', async () => {
  const hang = (_u: string, _j: string, signal: AbortSignal) =>
    new Promise<FunctionResponse>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
  const res = await functionActionner.run(ctx(params({ url: URL_, timeoutSeconds: 1 }), state(hang)));
  assert.deepEqual(res, { status: 'failure', reason: 'InvokeFailed', message: `function ${URL_} did not answer within 1s`, retryable: true });
  const ac = new AbortController();
  const pending = functionActionner.run(ctx(params({ url: URL_ }), state(hang), ac.signal));
  ac.abort(new Error('stopping'));
  assert.equal((await pending).reason, 'Aborted');
});

test('URLs: https only by default; allowedUrlPrefixes restricts them (and admits http)', async () => {
  assert.equal(urlAllowed(URL_, []), true);
  assert.equal(urlAllowed('http://127.0.0.1:8080/fn', []), false);
  assert.equal(urlAllowed('http://127.0.0.1:8080/fn', ['http://127.0.0.1:8080/']), true);
  assert.equal(urlAllowed(URL_, ['https://allowed-']), false);
  const s = state(answer(200, ''), ['https://allowed-']);
  const res = await functionActionner.run(ctx(params({ url: URL_ }), s));
  assert.equal(res.status, 'failure');
  assert.match(res.message, /not allowed by the operator config/);
  assert.equal(s.calls.length, 0, 'nothing was sent');
});

test('init: a bad key file fails naming the file, never its content', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'talon-gcp-'));
  writeFileSync(join(dir, 'notjson'), 'private-bits');
  writeFileSync(join(dir, 'user.json'), JSON.stringify({ type: 'authorized_user', client_secret: 'private-bits' }));
  for (const f of ['notjson', 'user.json', 'absent']) {
    await assert.rejects(initGcp({ credentialsFile: join(dir, f), allowedUrlPrefixes: [], maxResponseBytes: 1 }), (e: Error) => e.message.includes(join(dir, f)) && !e.message.includes('private-bits'));
  }
  const ok = await initGcp({ allowedUrlPrefixes: [], maxResponseBytes: 5 });
  assert.equal(ok.maxResponseBytes, 5, 'default credentials are looked up at the first call, not at init');
});
