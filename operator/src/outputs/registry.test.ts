import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { falcoEvent } from '../../test/fakes/kube.js';
import { silentLog } from '../lib/log.js';
import { builtinOutputs } from './index.js';
import { OutputRegistry } from './registry.js';
import type { Output } from './types.js';

const fake = (name: string, over: Partial<Output> = {}): Output => ({
  name,
  description: 'test',
  paramsSchema: Type.Object({ bucket: Type.String(), prefix: Type.String({ default: 'talon/' }) }, { additionalProperties: false }),
  configSchema: Type.Object({}, { additionalProperties: false }),
  example: { bucket: 'b' },
  store: async () => ({ output: name, location: 'x', bytes: 0, truncated: false }),
  ...over,
});

test("every built-in output's example validates against its parameter schema", () => {
  const r = new OutputRegistry(builtinOutputs());
  assert.deepEqual(r.names(), ['aws:s3', 'gcp:gcs', 'local:file']);
  for (const o of builtinOutputs()) {
    const v = r.validateParams(o.name, o.example, 'example');
    assert.ok(v.ok, `${o.name}: ${JSON.stringify(!v.ok && v.errors)}`);
  }
});

test('the registry refuses bad names, duplicates and open schemas', () => {
  assert.throws(() => new OutputRegistry([fake('s3')]), /not category:name/);
  assert.throws(() => new OutputRegistry([fake('aws:s3'), fake('aws:s3')]), /registered twice/);
  assert.throws(() => new OutputRegistry([fake('aws:s3', { paramsSchema: Type.Object({}) })]), /paramsSchema must be/);
  assert.throws(() => new OutputRegistry([fake('aws:s3', { configSchema: Type.Object({}) })]), /configSchema must be/);
});

test('validateParams: did-you-mean for unknown targets and parameters; defaults applied, frozen, input untouched', () => {
  const r = new OutputRegistry([fake('aws:s3'), fake('gcp:gcs'), ...builtinOutputs().filter((o) => o.name === 'local:file')]);
  const unknown = r.validateParams('aws:s4', {}, 'p');
  assert.deepEqual(unknown, { ok: false, errors: [{ path: 'p', message: "unknown output 'aws:s4' (did you mean 'aws:s3'?); known: aws:s3, gcp:gcs, local:file" }] });
  const bad = r.validateParams('aws:s3', { bucket: 'b', prefx: 'a' }, 'p');
  assert.equal(bad.ok, false);
  assert.match(JSON.stringify(!bad.ok && bad.errors), /unknown parameter 'prefx' \(did you mean 'prefix'\?\)/);
  const input = { bucket: 'b' };
  const good = r.validateParams('aws:s3', input, 'p');
  assert.ok(good.ok);
  assert.deepEqual(good.params, { bucket: 'b', prefix: 'talon/' });
  assert.ok(Object.isFrozen(good.params));
  assert.deepEqual(input, { bucket: 'b' });
});

test('the store passes params, settings and init state to the output, and always destroys the stream', async () => {
  const seen: unknown[] = [];
  const echo = fake('test:echo', {
    configSchema: Type.Object({ endpoint: Type.String({ default: 'http://default' }) }, { additionalProperties: false }),
    init: (config) => ({ client: `client(${String(config.endpoint)})` }),
    store: async (_a, ctx) => {
      seen.push([ctx.params, ctx.config, ctx.state, ctx.rule.name, ctx.action]);
      throw new Error('bucket gone');
    },
  });
  const store = await new OutputRegistry([echo]).open({}, { log: silentLog });
  const stream = Readable.from(['data']);
  const ctx = { rule: { namespace: 'ns', name: 'r' }, action: 'a', event: falcoEvent({}), signal: new AbortController().signal };
  await assert.rejects(store.store({ target: 'test:echo', parameters: { bucket: 'b' } }, { name: 'n', contentType: 'x', stream, maxBytes: 10 }, ctx), /bucket gone/);
  assert.deepEqual(seen, [[{ bucket: 'b' }, { endpoint: 'http://default' }, { client: 'client(http://default)' }, 'r', 'a']]);
  assert.ok(stream.destroyed);
  const other = Readable.from(['data']);
  await assert.rejects(store.store({ target: 'nope:nope', parameters: {} }, { name: 'n', contentType: 'x', stream: other, maxBytes: 10 }, ctx), /unknown output 'nope:nope'/);
  assert.ok(other.destroyed);
});
