import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type, type TSchema } from '@sinclair/typebox';
import { deepFreeze } from '../lib/freeze.js';
import { ActionnerRegistry } from './registry.js';
import { builtinActionners } from './index.js';
import { ok, type Actionner } from './types.js';

function fakeActionner(name: string, schema: TSchema = terminateSchema()): Actionner {
  return {
    info: {
      name,
      description: 'test',
      requiredFields: [],
      defaultContinue: false,
      destructive: true,
      target: 'pod',
      output: 'none',
      rbac: [],
      example: { gracePeriodSeconds: 0 },
    },
    paramsSchema: schema,
    precheck: () => ({ ok: true }),
    run: async () => ok('Labeled', 'done'),
  };
}

function terminateSchema() {
  return Type.Object(
    {
      gracePeriodSeconds: Type.Integer({ minimum: 0, default: 30 }),
      ignoreDaemonSets: Type.Boolean({ default: false }),
      minHealthyReplicas: Type.Optional(Type.String()),
      selector: Type.Optional(Type.Object({ matchLabels: Type.Record(Type.String(), Type.String()) }, { additionalProperties: false })),
    },
    { additionalProperties: false },
  );
}

const registry = () =>
  new ActionnerRegistry([fakeActionner('kubernetes:terminate'), ...builtinActionners().filter((a) => a.info.name !== 'kubernetes:terminate')]);

test('lookup and names', () => {
  const r = registry();
  assert.equal(r.get('kubernetes:terminate')?.info.name, 'kubernetes:terminate');
  assert.equal(r.get('kubernetes:nope'), undefined);
  assert.deepEqual(r.names(), builtinActionners().map((a) => a.info.name).sort());
  assert.equal(r.suggest('kubernetes:terminat'), 'kubernetes:terminate');
});

test('parameters come back defaulted and deep-frozen; the input is untouched', () => {
  const input = { selector: { matchLabels: { app: 'x' } } };
  const res = registry().validateParams('kubernetes:terminate', input, 'spec.parameters');
  assert.ok(res.ok);
  assert.deepEqual(res.params, { gracePeriodSeconds: 30, ignoreDaemonSets: false, selector: { matchLabels: { app: 'x' } } });
  assert.ok(Object.isFrozen(res.params));
  assert.ok(Object.isFrozen((res.params.selector as { matchLabels: object }).matchLabels));
  assert.deepEqual(input, { selector: { matchLabels: { app: 'x' } } });
  assert.ok(!Object.isFrozen(input));
});

test('undefined parameters are treated as {}', () => {
  const res = registry().validateParams('kubernetes:terminate', undefined, 'p');
  assert.ok(res.ok);
  assert.equal(res.params.gracePeriodSeconds, 30);
});

test("unknown keys are rejected with a did-you-mean hint (snake_case → camelCase)", () => {
  const res = registry().validateParams('kubernetes:terminate', { grace_period_seconds: 5 }, 'spec.actions[1].parameters');
  assert.deepEqual(res, {
    ok: false,
    errors: [
      {
        path: 'spec.actions[1].parameters.grace_period_seconds',
        message: "unknown parameter 'grace_period_seconds' (did you mean 'gracePeriodSeconds'?)",
      },
    ],
  });
});

test('hints: case-insensitive, near miss, none, and nested objects', () => {
  const r = registry();
  const msg = (params: unknown) => {
    const res = r.validateParams('kubernetes:terminate', params, 'p');
    assert.ok(!res.ok);
    return res.errors.map((e) => e.message).sort();
  };
  assert.deepEqual(msg({ ignoredaemonsets: true }), ["unknown parameter 'ignoredaemonsets' (did you mean 'ignoreDaemonSets'?)"]);
  assert.deepEqual(msg({ minHealtyReplicas: '1' }), ["unknown parameter 'minHealtyReplicas' (did you mean 'minHealthyReplicas'?)"]);
  assert.deepEqual(msg({ allow: true }), ["unknown parameter 'allow'"]);
  assert.deepEqual(msg({ selector: { match_labels: {} } }), [
    "missing required parameter 'selector.matchLabels'",
    "unknown parameter 'selector.match_labels' (did you mean 'matchLabels'?)",
  ]);
});

test('type and range errors name the parameter and its full path', () => {
  const res = registry().validateParams('kubernetes:terminate', { gracePeriodSeconds: -1, ignoreDaemonSets: 'true' }, 'spec.parameters');
  assert.ok(!res.ok);
  assert.deepEqual(res.errors, [
    { path: 'spec.parameters.gracePeriodSeconds', message: "parameter 'gracePeriodSeconds' must be >= 0" },
    { path: 'spec.parameters.ignoreDaemonSets', message: "parameter 'ignoreDaemonSets' must be boolean" },
  ]);
});

test('unknown actionner', () => {
  const res = registry().validateParams('kubernetes:lable', {}, 'spec.parameters');
  assert.deepEqual(res, {
    ok: false,
    errors: [{ path: 'spec.parameters', message: "unknown actionner 'kubernetes:lable' (did you mean 'kubernetes:label'?)" }],
  });
});

test('construction refuses duplicates, bad names and open parameter schemas', () => {
  assert.throws(() => new ActionnerRegistry([fakeActionner('a:b'), fakeActionner('a:b')]), /registered twice/);
  assert.throws(() => new ActionnerRegistry([fakeActionner('Kubernetes:Label')]), /category:name/);
  assert.throws(() => new ActionnerRegistry([fakeActionner('a:b', Type.Object({}))]), /additionalProperties: false/);
});

test('every built-in actionner is well-formed and its example validates against its schema', () => {
  const list = builtinActionners();
  const r = new ActionnerRegistry(list);
  assert.ok(list.length >= 2);
  for (const a of list) {
    const res = r.validateParams(a.info.name, a.info.example, 'example');
    assert.ok(res.ok, `${a.info.name}: ${JSON.stringify(!res.ok && res.errors)}`);
    assert.match(a.info.name, /^[a-z0-9]+:[a-z0-9]+$/);
    assert.ok(a.info.description.length > 0);
    // Cloud actionners that touch no Kubernetes object need no RBAC (their rights are IAM's).
    assert.ok(a.info.rbac.length > 0 || (a.info.cloud === true && a.info.target === 'none'), `${a.info.name} declares its RBAC`);
  }
});

test('deepFreeze freezes nested arrays and objects', () => {
  const v = deepFreeze({ a: [{ b: 1 }] });
  assert.ok(Object.isFrozen(v.a) && Object.isFrozen(v.a[0]));
});

// --- init: lazy, once, retried after a failure -------------------------------------------

const cloudConfigSchema = Type.Object({ region: Type.String({ default: 'eu-west-3' }), retries: Type.Integer({ minimum: 0, default: 2 }) }, { additionalProperties: false });

function initActionner(name: string, init: Actionner['init'], configSchema: TSchema | undefined = cloudConfigSchema): Actionner {
  return { ...fakeActionner(name), ...(configSchema ? { configSchema } : {}), init };
}

test('init runs once per actionner, with its category section defaulted, and its state is kept', async () => {
  const seen: unknown[] = [];
  const r = new ActionnerRegistry([initActionner('cloudy:fn', (config) => (seen.push(config), { client: `client for ${String(config.region)}` }))]);
  r.configure({ cloudy: { region: 'us-east-2' } }, { log: { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined } });
  assert.equal(r.stateOf('cloudy:fn'), undefined, 'nothing runs before a rule needs it');
  const [a, b] = await Promise.all([r.initialize(['cloudy:fn', 'cloudy:fn']), r.initialize(['cloudy:fn'])]);
  assert.deepEqual(a, { ok: true });
  assert.deepEqual(b, { ok: true });
  await r.initialize(['cloudy:fn']);
  assert.deepEqual(seen, [{ region: 'us-east-2', retries: 2 }]);
  assert.deepEqual(r.stateOf('cloudy:fn'), { client: 'client for us-east-2' });
  assert.deepEqual([...r.schemas().keys()], ['cloudy']);
});

test('a failing init is reported with its message and retried on the next call', async () => {
  let calls = 0;
  const r = new ActionnerRegistry([
    initActionner('cloudy:fn', async () => {
      calls++;
      if (calls === 1) throw new Error('no credentials in the chain');
      return 'ready';
    }),
  ]);
  assert.deepEqual(await r.initialize(['cloudy:fn']), { ok: false, actionner: 'cloudy:fn', message: 'no credentials in the chain' });
  assert.equal(r.stateOf('cloudy:fn'), undefined);
  assert.deepEqual(await r.initialize(['cloudy:fn']), { ok: true });
  assert.equal(r.stateOf('cloudy:fn'), 'ready');
  assert.equal(calls, 2);
});

test('a section that breaks the schema fails init naming the field; actionners without init are ready', async () => {
  const r = new ActionnerRegistry([initActionner('cloudy:fn', () => 'never'), fakeActionner('kubernetes:terminate')]);
  r.configure({ cloudy: { retries: -1 } }, { log: { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined } });
  const res = await r.initialize(['kubernetes:terminate', 'cloudy:fn']);
  assert.equal(res.ok, false);
  assert.match(res.ok ? '' : res.message, /^actionners\.cloudy\.retries: /);
  assert.deepEqual(await r.initialize(['kubernetes:terminate']), { ok: true });
});

test('two actionners of one category must share their config schema; it must be closed', () => {
  const other = Type.Object({ region: Type.String() }, { additionalProperties: false });
  assert.throws(() => new ActionnerRegistry([initActionner('cloudy:a', () => 1), initActionner('cloudy:b', () => 1, other)]), /category 'cloudy' already has another configSchema/);
  assert.doesNotThrow(() => new ActionnerRegistry([initActionner('cloudy:a', () => 1), initActionner('cloudy:b', () => 1)]));
  assert.throws(() => new ActionnerRegistry([initActionner('cloudy:a', () => 1, Type.Object({}))]), /configSchema must be an object schema/);
});
