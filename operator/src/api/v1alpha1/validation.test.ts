import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFieldErrors, joinPath, suggest, validateActionSpec, validateRuleSpec } from './validation.js';

const validRule = () => ({
  description: 'Label then kill pods where someone opened a shell',
  cooldown: '5m',
  match: {
    rules: ['Terminal shell in container'],
    priority: '>=Warning',
    sources: ['syscall'],
    tags: [['container', 'shell'], ['mitre_execution']],
    outputFields: [
      { key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system', 'falco'] },
      { key: 'k8s.pod.name', operator: 'Exists' },
      { key: 'evt.num', operator: 'Gt', values: ['10'] },
    ],
    condition: 'priority == "Critical"',
  },
  actions: [
    { action: 'label-suspicious', parameters: { labels: { 'talon.dev/suspicious': 'true' } }, continue: true },
    { name: 'kill', actionner: 'kubernetes:terminate', parameters: { gracePeriodSeconds: 0 }, timeoutSeconds: 30 },
  ],
  notifiers: ['slack'],
});

const paths = (errs: { path: string }[]) => errs.map((e) => e.path);

test('a full, valid TalonRule spec has no errors', () => {
  assert.deepEqual(validateRuleSpec(validRule()), []);
});

test('a valid TalonAction spec has no errors', () => {
  assert.deepEqual(
    validateActionSpec({
      actionner: 'kubernetes:terminate',
      parameters: { gracePeriodSeconds: 0 },
      continue: false,
      output: { target: 'aws:s3', parameters: { bucket: 'b' } },
      additionalContexts: ['k8snode'],
    }),
    [],
  );
});

test('unknown spec fields are named with a did-you-mean hint', () => {
  const spec = { ...validRule(), cooldwn: '5m' };
  const errs = validateRuleSpec(spec);
  assert.deepEqual(errs, [{ path: 'spec.cooldwn', message: "unknown field 'cooldwn' (did you mean 'cooldown'?)" }]);
});

test('type errors name the exact field', () => {
  const spec = validRule();
  (spec.actions[1] as Record<string, unknown>).continue = 'false';
  const errs = validateRuleSpec(spec);
  assert.deepEqual(errs, [{ path: 'spec.actions[1].continue', message: 'must be boolean' }]);
  assert.equal(formatFieldErrors(errs), 'spec.actions[1].continue: must be boolean');
});

test('missing actions is reported: a rule needs exactly one of actions and escalation', () => {
  const { actions: _a, ...spec } = validRule();
  const oneOf = "exactly one of 'actions' (run on every match) or 'escalation' (a ladder of steps by count of matches) must be set";
  assert.deepEqual(validateRuleSpec(spec), [{ path: 'spec', message: oneOf }]);
  assert.deepEqual(paths(validateRuleSpec({ ...spec, actions: [] })), ['spec.actions']);
  const ladder = { window: '10m', steps: [{ after: 1, actions: [{ name: 'mark', actionner: 'kubernetes:label' }] }] };
  assert.deepEqual(validateRuleSpec({ ...spec, escalation: ladder }), []);
  assert.deepEqual(validateRuleSpec({ ...validRule(), escalation: ladder }), [{ path: 'spec', message: oneOf }]);
});

test('escalation: a window duration, steps with after >= 1 and at least one action', () => {
  const { actions: _a, ...spec } = validRule();
  const errs = validateRuleSpec({ ...spec, escalation: { window: '10', steps: [{ after: 0, actions: [] }] } });
  assert.deepEqual(paths(errs).sort(), ['spec.escalation.steps[0].actions', 'spec.escalation.steps[0].after', 'spec.escalation.window']);
});

test('revertAfter: a duration, allowed on references and inline actions', () => {
  const spec = validRule();
  (spec.actions[0] as Record<string, unknown>).revertAfter = '1h';
  (spec.actions[1] as Record<string, unknown>).revertAfter = 'soon';
  assert.deepEqual(validateRuleSpec(spec), [{ path: 'spec.actions[1].revertAfter', message: 'must be a duration such as 30s, 5m, 1h or 1h30m' }]);
});

test('each action has exactly one of action or actionner', () => {
  const both = validRule();
  (both.actions[0] as Record<string, unknown>).actionner = 'kubernetes:label';
  const errs = validateRuleSpec(both);
  assert.ok(errs.some((e) => e.path === 'spec.actions[0]' && /exactly one of 'action'/.test(e.message)), JSON.stringify(errs));

  const neither = validRule();
  neither.actions[0] = { parameters: {} } as never;
  assert.ok(validateRuleSpec(neither).some((e) => e.path === 'spec.actions[0]' && /exactly one/.test(e.message)));
});

test('inline actions need a name; references may not set inline-only fields', () => {
  const spec = validRule();
  delete (spec.actions[1] as Record<string, unknown>).name;
  (spec.actions[0] as Record<string, unknown>).output = { target: 'aws:s3' };
  const errs = validateRuleSpec(spec);
  assert.deepEqual(
    errs.map((e) => `${e.path}: ${e.message}`),
    [
      "spec.actions[0]: a reference ('action') may only set kind and override parameters, continue, ignoreErrors, timeoutSeconds, revertAfter and approval",
      "spec.actions[1]: an inline action needs a 'name'",
    ],
  );
});

test('reference kinds: admitted in a reference, TalonAction by default; a ClusterTalonRule may name only ClusterTalonActions', () => {
  const spec = validRule();
  (spec.actions[0] as Record<string, unknown>).kind = 'ClusterTalonAction';
  assert.deepEqual(validateRuleSpec(spec), [], 'a TalonRule may reference a ClusterTalonAction');
  (spec.actions[0] as Record<string, unknown>).kind = 'TalonAction';
  assert.deepEqual(validateRuleSpec(spec), []);
  assert.deepEqual(validateRuleSpec(spec, 'spec', 'ClusterTalonRule'), [
    {
      path: 'spec.actions[0]',
      message: 'a ClusterTalonRule may reference only ClusterTalonActions: set kind: ClusterTalonAction or leave kind out',
    },
  ]);
  (spec.actions[0] as Record<string, unknown>).kind = 'ClusterTalonAction';
  assert.deepEqual(validateRuleSpec(spec, 'spec', 'ClusterTalonRule'), []);
  delete (spec.actions[0] as Record<string, unknown>).kind;
  assert.deepEqual(validateRuleSpec(spec, 'spec', 'ClusterTalonRule'), [], 'kind defaults to ClusterTalonAction there');

  (spec.actions[0] as Record<string, unknown>).kind = 'ConfigMap';
  assert.deepEqual(validateRuleSpec(spec), [{ path: 'spec.actions[0].kind', message: 'must be one of: TalonAction, ClusterTalonAction' }]);
  delete (spec.actions[0] as Record<string, unknown>).kind;
  (spec.actions[1] as Record<string, unknown>).kind = 'ClusterTalonAction';
  assert.deepEqual(validateRuleSpec(spec), [
    { path: 'spec.actions[1]', message: "'kind' names the kind of a reference ('action'); an inline action has none" },
  ]);
});

test('actionner format is checked (CEL rule evaluated offline)', () => {
  assert.deepEqual(validateActionSpec({ actionner: 'Kubernetes:Terminate' }), [
    { path: 'spec.actionner', message: "must be 'category:name' in lower case, e.g. kubernetes:terminate" },
  ]);
  assert.deepEqual(validateActionSpec({ actionner: 'kubernetes-terminate' }).length, 1);
});

test('priority syntax follows Talon, case-insensitively', () => {
  for (const ok of ['Warning', '>=warning', '<Notice', '=CRITICAL', '>Debug', '<=Emergency']) {
    const spec = validRule();
    spec.match.priority = ok;
    assert.deepEqual(validateRuleSpec(spec), [], ok);
  }
  for (const bad of ['Info', '=>Warning', '>= Warning', '!Warning', '']) {
    const spec = validRule();
    spec.match.priority = bad;
    assert.deepEqual(paths(validateRuleSpec(spec)), ['spec.match.priority'], bad);
  }
});

test('operator/values consistency', () => {
  const cases: [Record<string, unknown>, RegExp | null][] = [
    [{ key: 'a', operator: 'Exists', values: ['x'] }, /must be empty/],
    [{ key: 'a', operator: 'DoesNotExist', values: [] }, null],
    [{ key: 'a', operator: 'Gt', values: ['1', '2'] }, /exactly one value/],
    [{ key: 'a', operator: 'Lt' }, /exactly one value/],
    [{ key: 'a', operator: 'In' }, /at least one value/],
    [{ key: 'a', operator: 'Matches', values: [] }, /operators Matches, Gt and Lt take exactly one value/],
    [{ key: 'a', operator: 'Matches', values: ['a', 'b'] }, /operators Matches, Gt and Lt take exactly one value/],
    [{ key: 'a', operator: 'Contains', values: ['x'] }, null],
    [{ key: 'a', operator: 'Like', values: ['x'] }, /must be one of: In, NotIn/],
  ];
  for (const [sel, expected] of cases) {
    const spec = validRule();
    spec.match.outputFields = [sel as never];
    const errs = validateRuleSpec(spec);
    if (expected === null) assert.deepEqual(errs, [], JSON.stringify(sel));
    else {
      assert.equal(errs.length, 1, JSON.stringify(errs));
      assert.ok(errs[0]!.path.startsWith('spec.match.outputFields[0]'), errs[0]!.path);
      assert.match(errs[0]!.message, expected);
    }
  }
});

test('cooldown must be a duration', () => {
  const spec = validRule();
  spec.cooldown = '5 minutes';
  assert.deepEqual(validateRuleSpec(spec), [
    { path: 'spec.cooldown', message: 'must be a duration such as 30s, 5m, 1h or 1h30m' },
  ]);
});

test('a spec of the wrong type does not crash the CEL rules', () => {
  assert.deepEqual(paths(validateRuleSpec('nope')), ['spec']);
  const spec = validRule();
  spec.actions = [{ action: 42 } as never];
  assert.ok(validateRuleSpec(spec).some((e) => e.path === 'spec.actions[0].action'));
});

test('cooldown: the CRD CEL check is the one duration grammar (lib/duration.ts)', () => {
  for (const cooldown of ['0', '250ms', '30s', '5m', '1h30m', '1.5h', '2d', '500us']) {
    assert.deepEqual(validateRuleSpec({ ...validRule(), cooldown }), [], cooldown);
  }
  for (const cooldown of ['5', '-5m', '', '5M', '1h30', '1 h']) {
    const errs = validateRuleSpec({ ...validRule(), cooldown });
    assert.ok(errs.some((e) => e.path === 'spec.cooldown' && /duration/.test(e.message)), `${cooldown}: ${JSON.stringify(errs)}`);
  }
});

test('suggest: snake_case, case-insensitive and near misses', () => {
  const props = ['gracePeriodSeconds', 'ignoreDaemonSets', 'ignoreStatefulSets', 'minHealthyReplicas'];
  assert.equal(suggest('grace_period_seconds', props), 'gracePeriodSeconds');
  assert.equal(suggest('ignoredaemonsets', props), 'ignoreDaemonSets');
  assert.equal(suggest('ignoreDaemonsSets', props), 'ignoreDaemonSets');
  assert.equal(suggest('gracePeriods', props), undefined);
  assert.equal(suggest('allow', props), undefined);
});

test('joinPath quotes keys that are not identifiers', () => {
  assert.equal(joinPath('spec', 'actions'), 'spec.actions');
  assert.equal(joinPath('spec.actions', 2), 'spec.actions[2]');
  assert.equal(joinPath('p.labels', 'talon.dev/x'), 'p.labels["talon.dev/x"]');
  assert.equal(joinPath('', 'labels'), 'labels');
});
