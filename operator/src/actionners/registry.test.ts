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
    assert.ok(a.info.rbac.length > 0, `${a.info.name} declares its RBAC`);
  }
});

test('deepFreeze freezes nested arrays and objects', () => {
  const v = deepFreeze({ a: [{ b: 1 }] });
  assert.ok(Object.isFrozen(v.a) && Object.isFrozen(v.a[0]));
});
