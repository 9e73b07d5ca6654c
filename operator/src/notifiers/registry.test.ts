import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { EventRecorder } from '../kube/event-recorder.js';
import { silentLog } from '../lib/log.js';
import { builtinNotifiers } from './index.js';
import { NotifierRegistry, type NotifierInstanceSettings } from './registry.js';
import type { Notifier, NotifyContext } from './types.js';

const deps = { log: silentLog, events: new EventRecorder({ port: { create: async () => ({}), patch: async () => ({}) }, reportingInstance: 't' }) };
const settings = (type: string, config: Record<string, unknown> = {}): NotifierInstanceSettings => ({ type, timeoutMs: 100, retries: 1, queueSize: 5, concurrency: 2, config });

test('the built-in list: unique lower-case types, closed config schemas', () => {
  const r = new NotifierRegistry(builtinNotifiers());
  assert.deepEqual(r.names(), ['elasticsearch', 'k8sevents', 'loki', 'slack', 'smtp', 'teams', 'webhook']);
  assert.deepEqual([...r.schemas().keys()].sort(), r.names());
});

test('the registry refuses duplicate types, bad type names and open config schemas', () => {
  const n = (type: string, configSchema = Type.Object({}, { additionalProperties: false })): Notifier => ({ type, description: '', configSchema, notify: async () => undefined });
  assert.throws(() => new NotifierRegistry([n('a'), n('a')]), /registered twice/);
  assert.throws(() => new NotifierRegistry([n('Slack')]), /lower-case/);
  assert.throws(() => new NotifierRegistry([n('a', Type.Object({}))]), /additionalProperties: false/);
});

test('endpoints: one per instance, each notify getting its own config and init state', async () => {
  const seen: string[] = [];
  const echo: Notifier<{ channel: string }, string> = {
    type: 'echo',
    description: 'test',
    configSchema: Type.Object({ channel: Type.String() }, { additionalProperties: false }),
    init: (config) => `client-for-${config.channel}`,
    notify: async (o: Outcome, ctx: NotifyContext<{ channel: string }, string>) => void seen.push(`${ctx.instance}:${ctx.config.channel}:${ctx.state}:${o.action}`),
  };
  const r = new NotifierRegistry([echo]);
  const eps = await r.endpoints({ one: settings('echo', { channel: '#a' }), two: settings('echo', { channel: '#b' }) }, deps);
  assert.deepEqual(eps.map((e) => [e.name, e.type, e.timeoutMs, e.retries, e.queueSize, e.concurrency]), [
    ['one', 'echo', 100, 1, 5, 2],
    ['two', 'echo', 100, 1, 5, 2],
  ]);
  for (const e of eps) await e.send({ action: 'kill' } as Outcome, { signal: new AbortController().signal });
  assert.deepEqual(seen, ['one:#a:client-for-#a:kill', 'two:#b:client-for-#b:kill']);
});

test('endpoints: an unknown type or a failing init rejects, naming the instance', async () => {
  const failing: Notifier = {
    type: 'bad',
    description: '',
    configSchema: Type.Object({}, { additionalProperties: false }),
    init: () => {
      throw new Error('no credentials');
    },
    notify: async () => undefined,
  };
  const r = new NotifierRegistry([failing]);
  await assert.rejects(r.endpoints({ x: settings('slack') }, deps), /notifiers\.x: unknown notifier type 'slack' \(known: bad\)/);
  await assert.rejects(r.endpoints({ y: settings('bad') }, deps), /notifiers\.y: the bad notifier could not start: no credentials/);
});
