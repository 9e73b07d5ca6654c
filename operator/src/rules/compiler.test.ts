import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { Type } from '@sinclair/typebox';
import { ActionnerRegistry } from '../actionners/registry.js';
import { builtinActionners } from '../actionners/index.js';
import { ok, type Actionner, type ActionnerInfo } from '../actionners/types.js';
import type { ClusterTalonAction, ClusterTalonRule, TalonAction, TalonActionSpec, TalonRule, TalonRuleSpec } from '../api/v1alpha1/types.js';
import { OutputRegistry } from '../outputs/registry.js';
import { builtinOutputs } from '../outputs/index.js';
import { compileAction, compileRule, mergeParameters, referencedActions, type ActionRef, type CompileDeps } from './compiler.js';
import type { FalcoEvent } from '../falco/event.js';

function fake(name: string, info: Partial<ActionnerInfo>, props: Parameters<typeof Type.Object>[0] = {}): Actionner {
  return {
    info: {
      name,
      description: name,
      requiredFields: [],
      defaultContinue: true,
      destructive: false,
      target: 'pod',
      output: 'none',
      rbac: [],
      example: {},
      ...info,
    },
    paramsSchema: Type.Object(props, { additionalProperties: false }),
    precheck: () => ({ ok: true }),
    run: async () => ok('Labeled', 'done'),
  };
}

const FAKED = new Set(['kubernetes:terminate', 'kubernetes:cordon', 'kubernetes:networkpolicy', 'kubernetes:log', 'kubernetes:tcpdump', 'aws:lambda']);
const registry = new ActionnerRegistry([
  ...builtinActionners().filter((a) => !FAKED.has(a.info.name)),
  fake('kubernetes:terminate', { defaultContinue: false, destructive: true }, {
    gracePeriodSeconds: Type.Integer({ minimum: 0, default: 30 }),
    ignoreDaemonSets: Type.Boolean({ default: false }),
  }),
  fake('kubernetes:cordon', { target: 'node', destructive: true }),
  fake('kubernetes:networkpolicy', {}, {
    allowCidr: Type.Array(Type.String(), { default: [] }),
    selector: Type.Record(Type.String(), Type.String(), { default: {} }),
  }),
  fake('aws:lambda', { target: 'none' }, { functionName: Type.String() }),
  fake('kubernetes:log', { output: 'allowed' }, { tailLines: Type.Integer({ default: 20 }) }),
  fake('kubernetes:tcpdump', { output: 'required' }),
]);

/** The real outputs: local:file, aws:s3, gcp:gcs. */
const outputs = new OutputRegistry(builtinOutputs());

const deps = (over: Partial<CompileDeps> = {}): CompileDeps => ({
  registry,
  outputs,
  notifiers: new Set(['k8sevents', 'slack-security']),
  defaultTimeoutMs: 10_000,
  cloudNamespaces: new Set<string>(),
  ...over,
});

const talonAction = (name: string, spec: TalonActionSpec, namespace = 'shop'): TalonAction => ({
  apiVersion: 'talon.dev/v1alpha1',
  kind: 'TalonAction',
  metadata: { name, namespace, generation: 1 },
  spec,
});

const clusterAction = (name: string, spec: TalonActionSpec): ClusterTalonAction => ({
  apiVersion: 'talon.dev/v1alpha1',
  kind: 'ClusterTalonAction',
  metadata: { name, generation: 1 },
  spec,
});

const talonRule = (spec: TalonRuleSpec, namespace = 'shop', name = 'terminal-shell'): TalonRule => ({
  apiVersion: 'talon.dev/v1alpha1',
  kind: 'TalonRule',
  metadata: { name, namespace, uid: 'uid-1', generation: 7 },
  spec,
});

const clusterRule = (spec: TalonRuleSpec, name = 'terminal-shell'): ClusterTalonRule => ({
  apiVersion: 'talon.dev/v1alpha1',
  kind: 'ClusterTalonRule',
  metadata: { name, uid: 'uid-1', generation: 7 },
  spec,
});

/** Finds an action by the reference's kind and name (the caller of compileRule scopes TalonActions to the rule's namespace). */
const lookup =
  (...actions: (TalonAction | ClusterTalonAction)[]) =>
  (ref: ActionRef) =>
    actions.find((a) => a.kind === ref.kind && a.metadata.name === ref.name);

const LABEL_SPEC: TalonActionSpec = {
  actionner: 'kubernetes:label',
  parameters: { labels: { 'talon.dev/suspicious': 'true', keep: 'a' } },
};
const labelSuspicious = clusterAction('label-suspicious', LABEL_SPEC);
const tenantLabel = talonAction('label-suspicious', LABEL_SPEC);

const shellRule = (): TalonRuleSpec => ({
  cooldown: '5m',
  match: {
    rules: ['Terminal shell in container'],
    outputFields: [{ key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system'] }],
  },
  actions: [
    { action: 'label-suspicious', parameters: { labels: { keep: 'b', 'talon.dev/shell': 'true' } } },
    { name: 'kill', actionner: 'kubernetes:terminate', parameters: { gracePeriodSeconds: 0 }, timeoutSeconds: 30 },
  ],
});

function event(rule: string, fields: Record<string, string>): FalcoEvent {
  return {
    rule,
    priority: 'Notice',
    priorityLevel: 3,
    source: 'syscall',
    time: '',
    hostname: 'n',
    output: '',
    tags: [],
    outputFields: fields,
    receivedAt: 0,
    traceId: 't',
  };
}

test('a valid ClusterTalonRule compiles: references merged, defaults applied, everything frozen', () => {
  const res = compileRule('ClusterTalonRule', clusterRule(shellRule()), lookup(labelSuspicious), deps());
  assert.ok(res.ok, JSON.stringify(!res.ok && res.conditions));
  const r = res.rule;
  assert.deepEqual(res.refs, [{ kind: 'ClusterTalonAction', name: 'label-suspicious' }]);
  assert.deepEqual(
    [r.kind, r.key, r.namespace, r.name, r.uid, r.generation, r.scope, r.order, r.continue, r.suspend, r.dryRun, r.cooldownMs],
    ['ClusterTalonRule', 'terminal-shell', '', 'terminal-shell', 'uid-1', 7, 'cluster', 0, true, false, false, 300_000],
  );
  assert.equal(r.actions.length, 2);
  const [label, kill] = r.actions;
  assert.equal(label!.name, 'label-suspicious');
  assert.equal(label!.actionner.info.name, 'kubernetes:label');
  assert.deepEqual(label!.params, { labels: { 'talon.dev/suspicious': 'true', keep: 'b', 'talon.dev/shell': 'true' }, level: 'pod' });
  assert.deepEqual([label!.continue, label!.ignoreErrors, label!.timeoutMs], [true, false, 10_000]);
  assert.deepEqual([kill!.name, kill!.continue, kill!.timeoutMs], ['kill', false, 30_000]);
  assert.deepEqual(kill!.params, { gracePeriodSeconds: 0, ignoreDaemonSets: false });
  assert.ok(Object.isFrozen(r) && Object.isFrozen(r.actions) && Object.isFrozen(label) && Object.isFrozen(label!.params));
  assert.deepEqual(res.conditions.accepted, { status: 'True', reason: 'Valid', message: '' });
  assert.equal(r.matcher.test(event('Terminal shell in container', { 'k8s.ns.name': 'shop' })), true);
  assert.equal(r.matcher.test(event('Terminal shell in container', { 'k8s.ns.name': 'kube-system' })), false);
  assert.deepEqual(labelSuspicious.spec.parameters, { labels: { 'talon.dev/suspicious': 'true', keep: 'a' } }, 'ClusterTalonAction untouched');
});

test('reference overrides: lists replace, maps merge, continue/ignoreErrors/timeout override', () => {
  const np = clusterAction('isolate', {
    actionner: 'kubernetes:networkpolicy',
    parameters: { allowCidr: ['10.0.0.0/8', '192.168.0.0/16'], selector: { a: '1', b: '2' } },
    continue: true,
    timeoutSeconds: 5,
  });
  const res = compileRule(
    'ClusterTalonRule',
    clusterRule({
      actions: [{ action: 'isolate', parameters: { allowCidr: ['172.16.0.0/12'], selector: { b: '3' } }, continue: false, ignoreErrors: true, timeoutSeconds: 9 }],
    }),
    lookup(np),
    deps(),
  );
  assert.ok(res.ok);
  const a = res.rule.actions[0]!;
  assert.deepEqual(a.params, { allowCidr: ['172.16.0.0/12'], selector: { a: '1', b: '3' } });
  assert.deepEqual([a.continue, a.ignoreErrors, a.timeoutMs], [false, true, 9_000]);
});

test('mergeParameters is recursive for maps and never mutates its inputs', () => {
  const base = { m: { x: { y: 1, z: 2 } }, l: [1, 2], s: 'a' };
  const over = { m: { x: { z: 3 } }, l: [3], n: null };
  assert.deepEqual(mergeParameters(base, over), { m: { x: { y: 1, z: 3 } }, l: [3], s: 'a', n: null });
  assert.deepEqual(base, { m: { x: { y: 1, z: 2 } }, l: [1, 2], s: 'a' });
  assert.deepEqual(mergeParameters(undefined, undefined), {});
});

test('an unknown parameter names the action, the actionner and the fix', () => {
  const spec = shellRule();
  spec.actions![1]!.parameters = { grace_period_seconds: 0 };
  const res = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps());
  assert.ok(!res.ok);
  assert.deepEqual(res.refs, [{ kind: 'ClusterTalonAction', name: 'label-suspicious' }]);
  assert.deepEqual(res.conditions.accepted, {
    status: 'False',
    reason: 'InvalidParameters',
    message: "spec.actions[1] kubernetes:terminate: unknown parameter 'grace_period_seconds' (did you mean 'gracePeriodSeconds'?)",
  });
  assert.deepEqual(res.conditions.resolvedRefs, { status: 'True', reason: 'Resolved', message: '' });
});

test('an unknown actionner is refused with a hint', () => {
  const spec = shellRule();
  spec.actions![1]!.actionner = 'kubernetes:terminat';
  const res = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps());
  assert.ok(!res.ok);
  assert.equal(res.conditions.accepted.reason, 'UnknownActionner');
  assert.equal(res.conditions.accepted.message, "spec.actions[1]: unknown actionner 'kubernetes:terminat' (did you mean 'kubernetes:terminate'?)");
});

test('a missing TalonAction: ResolvedRefs=False/ActionNotFound, Accepted stays True', () => {
  const res = compileRule('TalonRule', talonRule(shellRule(), 'shop'), lookup(labelSuspicious), deps());
  assert.ok(!res.ok);
  assert.deepEqual(res.refs, [{ kind: 'TalonAction', name: 'label-suspicious' }], 'a TalonRule reference defaults to a TalonAction');
  assert.equal(res.conditions.accepted.status, 'True');
  assert.deepEqual(res.conditions.resolvedRefs, {
    status: 'False',
    reason: 'ActionNotFound',
    message: "spec.actions[0]: TalonAction 'label-suspicious' not found in the namespace 'shop'",
  });
  const cluster = compileRule('ClusterTalonRule', clusterRule(shellRule()), lookup(tenantLabel), deps());
  assert.ok(!cluster.ok);
  assert.deepEqual(cluster.conditions.resolvedRefs, {
    status: 'False',
    reason: 'ActionNotFound',
    message: "spec.actions[0]: ClusterTalonAction 'label-suspicious' not found",
  });
});

test('a reference to an invalid TalonAction: ActionNotReady with its problem', () => {
  const broken = talonAction('label-suspicious', { actionner: 'kubernetes:label', parameters: { lables: { a: 'b' } } });
  const res = compileRule('TalonRule', talonRule(shellRule()), lookup(broken), deps());
  assert.ok(!res.ok);
  assert.equal(res.conditions.resolvedRefs.reason, 'ActionNotReady');
  assert.match(res.conditions.resolvedRefs.message, /^spec\.actions\[0\]: TalonAction 'label-suspicious' is not valid: .*unknown parameter 'lables' \(did you mean 'labels'\?\)/);
});

test('tenant rules: pod-level actions allowed, node-level and node-scoped actionners refused', () => {
  const okRes = compileRule('TalonRule', talonRule(shellRule(), 'shop'), lookup(tenantLabel), deps());
  assert.ok(okRes.ok);
  assert.deepEqual([okRes.rule.kind, okRes.rule.scope, okRes.rule.key, okRes.rule.namespace], ['TalonRule', 'tenant', 'shop/terminal-shell', 'shop']);

  const spec = shellRule();
  spec.actions![0]!.parameters = { level: 'node' };
  spec.actions!.push({ name: 'cordon', actionner: 'kubernetes:cordon' });
  const res = compileRule('TalonRule', talonRule(spec, 'shop'), lookup(tenantLabel), deps());
  assert.ok(!res.ok);
  assert.equal(res.conditions.accepted.reason, 'ScopeNotAllowed');
  assert.match(
    res.conditions.accepted.message,
    /^spec\.actions\[0\] kubernetes:label: acts on the node level, which a TalonRule may not do \(it is confined to its namespace\); only a ClusterTalonRule may; spec\.actions\[2\] kubernetes:cordon: acts on the node level/,
  );

  const cluster = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps());
  assert.ok(cluster.ok, 'the same actions are fine in a ClusterTalonRule');
});

test('kubernetes:sysdig (a privileged Job on the node) is node-scoped: refused for tenant rules, accepted cluster-wide with an output', () => {
  const spec: TalonRuleSpec = { actions: [{ name: 'scap', actionner: 'kubernetes:sysdig', parameters: { scope: 'pod' }, output: { target: 'local:file' } }] };
  const tenant = compileRule('TalonRule', talonRule(spec, 'shop'), lookup(), deps({ cloudNamespaces: new Set(['shop']) }));
  assert.ok(!tenant.ok);
  assert.equal(tenant.conditions.accepted.reason, 'ScopeNotAllowed');
  assert.match(tenant.conditions.accepted.message, /^spec\.actions\[0\] kubernetes:sysdig: acts on the node level, which a TalonRule may not do/);
  assert.ok(compileRule('ClusterTalonRule', clusterRule(spec), lookup(), deps()).ok);
  const noOutput = compileRule('ClusterTalonRule', clusterRule({ actions: [{ name: 'scap', actionner: 'kubernetes:sysdig' }] }), lookup(), deps());
  assert.ok(!noOutput.ok, 'a capture needs an output');
});

test("scope comes from the kind alone: a TalonRule in the operator's own namespace is a tenant rule", () => {
  const spec: TalonRuleSpec = { actions: [{ name: 'cordon', actionner: 'kubernetes:cordon' }] };
  for (const ns of ['talon-system', 'kube-system', 'default']) {
    const res = compileRule('TalonRule', talonRule(spec, ns), lookup(), deps());
    assert.ok(!res.ok, ns);
    assert.equal(res.conditions.accepted.reason, 'ScopeNotAllowed', ns);
  }
  // A ClusterTalonRule's namespace, if one is somehow set, is ignored: it is cluster-scoped.
  const stray = { ...clusterRule(spec), metadata: { name: 'terminal-shell', namespace: 'shop', generation: 1 } };
  const res = compileRule('ClusterTalonRule', stray, lookup(), deps());
  assert.ok(res.ok);
  assert.deepEqual([res.rule.scope, res.rule.namespace, res.rule.key], ['cluster', '', 'terminal-shell']);
});

test('reference kinds: a TalonRule may name a ClusterTalonAction; a ClusterTalonRule only ClusterTalonActions', () => {
  // Same name in both kinds: `kind` decides which one is used.
  const clusterKill = clusterAction('kill', { actionner: 'kubernetes:terminate', parameters: { gracePeriodSeconds: 5 } });
  const tenantKill = talonAction('kill', { actionner: 'kubernetes:terminate', parameters: { gracePeriodSeconds: 9 } });
  const spec: TalonRuleSpec = {
    actions: [
      { action: 'kill', kind: 'ClusterTalonAction', continue: true },
      { action: 'kill' },
    ],
  };
  const res = compileRule('TalonRule', talonRule(spec, 'shop'), lookup(clusterKill, tenantKill), deps());
  assert.ok(res.ok, JSON.stringify(!res.ok && res.conditions));
  assert.deepEqual(res.refs, [
    { kind: 'ClusterTalonAction', name: 'kill' },
    { kind: 'TalonAction', name: 'kill' },
  ]);
  assert.deepEqual(res.rule.actions.map((a) => a.params.gracePeriodSeconds), [5, 9]);

  const cluster = compileRule('ClusterTalonRule', clusterRule({ actions: [{ action: 'kill' }] }), lookup(clusterKill, tenantKill), deps());
  assert.ok(cluster.ok);
  assert.deepEqual(cluster.rule.actions.map((a) => a.params.gracePeriodSeconds), [5], 'the default kind in a ClusterTalonRule');

  const refused = compileRule('ClusterTalonRule', clusterRule({ actions: [{ action: 'kill', kind: 'TalonAction' }] }), lookup(clusterKill, tenantKill), deps());
  assert.ok(!refused.ok);
  assert.equal(refused.conditions.accepted.reason, 'InvalidSpec');
  assert.equal(
    refused.conditions.accepted.message,
    'spec.actions[0]: a ClusterTalonRule may reference only ClusterTalonActions: set kind: ClusterTalonAction or leave kind out',
  );
  assert.equal(refused.conditions.resolvedRefs.reason, 'ActionNotFound');
  assert.match(refused.conditions.resolvedRefs.message, /TalonAction 'kill': a ClusterTalonRule may reference only ClusterTalonActions/);
});

test('a TalonRule referencing a ClusterTalonAction is still held to tenant limits', () => {
  const cordon = clusterAction('cordon', { actionner: 'kubernetes:cordon' });
  const lambda = clusterAction('lambda', { actionner: 'aws:lambda', parameters: { functionName: 'f' } });
  assert.ok(compileAction('ClusterTalonAction', cordon, deps()).ok, 'a ClusterTalonAction may use any actionner');
  const res = compileRule(
    'TalonRule',
    talonRule({ actions: [{ action: 'cordon', kind: 'ClusterTalonAction' }, { action: 'lambda', kind: 'ClusterTalonAction' }] }, 'shop'),
    lookup(cordon, lambda),
    deps(),
  );
  assert.ok(!res.ok);
  assert.equal(res.conditions.accepted.reason, 'ScopeNotAllowed');
  assert.match(res.conditions.accepted.message, /^spec\.actions\[0\] kubernetes:cordon: acts on the node level.*; spec\.actions\[1\] aws:lambda: uses the operator's cloud credentials, which the namespace 'shop' may not/);
  assert.equal(res.conditions.resolvedRefs.status, 'True');
  const allowed = compileRule(
    'TalonRule',
    talonRule({ actions: [{ action: 'lambda', kind: 'ClusterTalonAction' }] }, 'shop'),
    lookup(lambda),
    deps({ cloudNamespaces: new Set(['shop']) }),
  );
  assert.ok(allowed.ok);
});

test('cloud actionners and outputs: tenant rules only in allowed namespaces', () => {
  const spec: TalonRuleSpec = {
    actions: [
      { name: 'lambda', actionner: 'aws:lambda', parameters: { functionName: 'f' } },
      { name: 'logs', actionner: 'kubernetes:log', output: { target: 'aws:s3', parameters: { bucket: 'forensics' } } },
      { name: 'local-logs', actionner: 'kubernetes:log', output: { target: 'local:file' } },
    ],
  };
  const refused = compileRule('TalonRule', talonRule(spec, 'shop'), lookup(), deps());
  assert.ok(!refused.ok);
  assert.equal(refused.conditions.accepted.reason, 'ScopeNotAllowed');
  const msg = refused.conditions.accepted.message;
  assert.match(msg, /spec\.actions\[0\] aws:lambda: uses the operator's cloud credentials/);
  assert.match(msg, /spec\.actions\[1\] kubernetes:log: output 'aws:s3'/);
  assert.doesNotMatch(msg, /actions\[2\]/);

  const allowed = compileRule('TalonRule', talonRule(spec, 'shop'), lookup(), deps({ cloudNamespaces: new Set(['shop']) }));
  assert.ok(allowed.ok);
  assert.deepEqual(allowed.rule.actions[1]!.output, { target: 'aws:s3', parameters: { bucket: 'forensics', prefix: '', profile: 'default' } });
});

test('outputs: the target must exist (with a did-you-mean) and its parameters validate, defaulted and frozen', () => {
  const res = compileRule(
    'TalonRule',
    talonRule({
      actions: [
        { name: 'a', actionner: 'kubernetes:log', output: { target: 'local:fiel' } },
        { name: 'b', actionner: 'kubernetes:log', output: { target: 'local:file', parameters: { pth: 'x' } } },
        { name: 'c', actionner: 'kubernetes:log', output: { target: 'local:file', parameters: { path: '../../etc' } } },
        { name: 'd', actionner: 'kubernetes:log', output: { target: 'azure:blob' } },
      ],
    }),
    lookup(),
    deps(),
  );
  assert.ok(!res.ok);
  assert.equal(res.conditions.accepted.reason, 'InvalidOutput');
  const msg = res.conditions.accepted.message;
  assert.match(msg, /spec\.actions\[0\] kubernetes:log: unknown output 'local:fiel' \(did you mean 'local:file'\?\); known: aws:s3, gcp:gcs, local:file/);
  assert.match(msg, /spec\.actions\[1\] kubernetes:log: output local:file: unknown parameter 'pth' \(did you mean 'path'\?\)/);
  assert.match(msg, /spec\.actions\[2\] kubernetes:log: output local:file: parameter 'path' must match pattern/);
  assert.match(msg, /spec\.actions\[3\] kubernetes:log: unknown output 'azure:blob'; known: aws:s3, gcp:gcs, local:file/);

  const good = compileRule('TalonRule', talonRule({ actions: [{ name: 'a', actionner: 'kubernetes:log', output: { target: 'local:file' } }] }), lookup(), deps());
  assert.ok(good.ok);
  const out = good.rule.actions[0]!.output!;
  assert.deepEqual(out, { target: 'local:file', parameters: { path: '' } });
  assert.ok(Object.isFrozen(out) && Object.isFrozen(out.parameters));

  const action = compileAction('TalonAction', talonAction('capture', { actionner: 'kubernetes:tcpdump', output: { target: 'local:file', parameters: { path: '/abs' } } }), deps());
  assert.equal(action.ok, false);
  assert.equal(action.conditions.accepted.reason, 'InvalidOutput');
  assert.match(action.conditions.accepted.message, /^spec kubernetes:tcpdump: output local:file: parameter 'path' must match pattern/);
});

test('notifiers: a rule may name only configured instances; names are deduplicated', () => {
  const spec = shellRule();
  spec.notifiers = ['slack-securty', 'k8sevents', 'pagerduty'];
  const res = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps());
  assert.ok(!res.ok);
  assert.deepEqual(res.conditions.accepted, {
    status: 'False',
    reason: 'UnknownNotifier',
    message:
      "spec.notifiers[0]: unknown notifier 'slack-securty' (did you mean 'slack-security'?); configured: k8sevents, slack-security; " +
      "spec.notifiers[2]: unknown notifier 'pagerduty'; configured: k8sevents, slack-security",
  });
  assert.equal(res.conditions.resolvedRefs.status, 'True');

  spec.notifiers = ['slack-security', 'k8sevents', 'slack-security'];
  const ok = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps());
  assert.ok(ok.ok);
  assert.deepEqual(ok.rule.notifiers, ['slack-security', 'k8sevents']);

  const none = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps({ notifiers: new Set() }));
  assert.ok(!none.ok);
  assert.match(none.conditions.accepted.message, /unknown notifier 'slack-security'; configured: none/);
});

test('outputs: refused where the actionner produces no artifact, required where it must', () => {
  const res = compileRule(
    'ClusterTalonRule',
    clusterRule({
      actions: [
        { name: 'l', actionner: 'kubernetes:label', parameters: { labels: { a: 'b' } }, output: { target: 'local:file' } },
        { name: 'cap', actionner: 'kubernetes:tcpdump' },
      ],
    }),
    lookup(),
    deps(),
  );
  assert.ok(!res.ok);
  assert.equal(res.conditions.accepted.reason, 'InvalidOutput');
  assert.equal(
    res.conditions.accepted.message,
    "spec.actions[0] kubernetes:label: produces no artifact; remove 'output'; spec.actions[1] kubernetes:tcpdump: needs an 'output' target for its artifact",
  );
});

test('an invalid spec: InvalidSpec naming the field; refs still reported and resolved', () => {
  const spec = shellRule();
  spec.cooldown = 'soon';
  const res = compileRule('TalonRule', talonRule(spec), lookup(), deps());
  assert.ok(!res.ok);
  assert.deepEqual(res.refs, [{ kind: 'TalonAction', name: 'label-suspicious' }]);
  assert.deepEqual(res.conditions.accepted, {
    status: 'False',
    reason: 'InvalidSpec',
    message: 'spec.cooldown: must be a duration such as 30s, 5m, 1h or 1h30m',
  });
  assert.equal(res.conditions.resolvedRefs.reason, 'ActionNotFound');
  assert.deepEqual(referencedActions({ actions: [{ action: 'a' }, { action: 'a' }, { name: 'x' }, 7] }, 'TalonRule'), [{ kind: 'TalonAction', name: 'a' }]);
  assert.deepEqual(
    referencedActions({ actions: [{ action: 'a' }, { action: 'a', kind: 'ClusterTalonAction' }, { action: 'b', kind: 'Bogus' }] }, 'TalonRule'),
    [
      { kind: 'TalonAction', name: 'a' },
      { kind: 'ClusterTalonAction', name: 'a' },
      { kind: 'TalonAction', name: 'b' },
    ],
  );
  assert.deepEqual(referencedActions({ actions: [{ action: 'a' }] }, 'ClusterTalonRule'), [{ kind: 'ClusterTalonAction', name: 'a' }]);
  assert.deepEqual(referencedActions(null, 'TalonRule'), []);
});

test('an invalid match: InvalidMatch naming the field', () => {
  const spec = shellRule();
  spec.match = { outputFields: [{ key: 'proc.name', operator: 'Matches', values: ['(unclosed'] }] };
  const res = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps());
  assert.ok(!res.ok);
  assert.equal(res.conditions.accepted.reason, 'InvalidMatch');
  assert.match(res.conditions.accepted.message, /^spec\.match\.outputFields\[0\]/);
});

test('many problems: the message is capped', () => {
  const actions = Array.from({ length: 8 }, (_, i) => ({ name: `a${i}`, actionner: 'kubernetes:nothing' }));
  const res = compileRule('ClusterTalonRule', clusterRule({ actions }), lookup(), deps());
  assert.ok(!res.ok);
  assert.match(res.conditions.accepted.message, /spec\.actions\[4\]: unknown actionner 'kubernetes:nothing'; \(and 3 more\)$/);
  assert.equal(registry.suggest('kubernets:label'), 'kubernetes:label');
  assert.equal(registry.suggest('kubernetes:lable'), 'kubernetes:label');
  assert.equal(registry.suggest('zzzz:unheardof'), undefined);
});

test('compileAction: Accepted and Ready', () => {
  const good = compileAction('ClusterTalonAction', labelSuspicious, deps());
  assert.deepEqual(compileAction('TalonAction', tenantLabel, deps()), good);
  assert.deepEqual(good, {
    ok: true,
    conditions: { accepted: { status: 'True', reason: 'Valid', message: '' }, ready: { status: 'True', reason: 'Valid', message: '' } },
  });

  const bad = compileAction('TalonAction', talonAction('kill', { actionner: 'kubernetes:terminate', parameters: { grace_period_seconds: 0 } }), deps());
  assert.ok(!bad.ok);
  assert.deepEqual(bad.conditions.accepted, {
    status: 'False',
    reason: 'InvalidParameters',
    message: "spec kubernetes:terminate: unknown parameter 'grace_period_seconds' (did you mean 'gracePeriodSeconds'?)",
  });
  assert.deepEqual(bad.conditions.ready, { status: 'False', reason: 'NotAccepted', message: bad.conditions.accepted.message });

  const badSpec = compileAction('ClusterTalonAction', clusterAction('x', { actionner: 'Kubernetes:Label' }), deps());
  assert.equal(badSpec.conditions.accepted.reason, 'InvalidSpec');
  assert.match(badSpec.conditions.accepted.message, /^spec\.actionner: /);

  // A TalonAction only serves the TalonRules of its namespace, wherever that is: tenant limits apply.
  for (const ns of ['shop', 'talon-system']) {
    const tenantCordon = compileAction('TalonAction', talonAction('cordon', { actionner: 'kubernetes:cordon' }, ns), deps());
    assert.equal(tenantCordon.conditions.accepted.reason, 'ScopeNotAllowed', ns);
    assert.match(tenantCordon.conditions.accepted.message, /which a TalonAction may not do .*; use a ClusterTalonAction/);
  }
  assert.ok(compileAction('ClusterTalonAction', clusterAction('cordon', { actionner: 'kubernetes:cordon' }), deps()).ok);
});

test('the samples in config/samples compile: one object of each kind (run from the repository root)', (t) => {
  const dir = join(process.cwd(), 'config', 'samples');
  if (!existsSync(dir)) {
    t.skip(`no config/samples under ${process.cwd()}`);
    return;
  }
  const files = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')).resources as string[];
  const docs = files.flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as TalonRule | TalonAction),
  );
  assert.deepEqual(docs.map((d) => d.kind).sort(), ['ClusterTalonAction', 'ClusterTalonRule', 'TalonAction', 'TalonRule']);
  const actions = docs.filter((d) => d.kind === 'TalonAction' || d.kind === 'ClusterTalonAction') as TalonAction[];
  for (const a of actions) assert.ok(compileAction(a.kind as 'TalonAction', a, deps()).ok, a.metadata.name);
  const cluster = docs.find((d) => d.kind === 'ClusterTalonRule') as ClusterTalonRule;
  const tenant = docs.find((d) => d.kind === 'TalonRule') as TalonRule;
  assert.equal(cluster.metadata.namespace, undefined, 'a ClusterTalonRule has no namespace');
  const c = compileRule('ClusterTalonRule', cluster, lookup(...actions), deps());
  assert.ok(c.ok, JSON.stringify(!c.ok && c.conditions));
  assert.equal(c.rule.matcher.test(event('Terminal shell in container', { 'k8s.ns.name': 'shop' })), true);
  assert.equal(c.rule.matcher.test(event('Terminal shell in container', { 'k8s.ns.name': 'kube-system' })), false);
  const r = compileRule('TalonRule', tenant, lookup(...actions), deps());
  assert.ok(r.ok, JSON.stringify(!r.ok && r.conditions));
  assert.equal(r.rule.scope, 'tenant');
  assert.deepEqual(r.refs, [
    { kind: 'ClusterTalonAction', name: 'label-suspicious' },
    { kind: 'TalonAction', name: 'note-shell' },
  ]);
});

test('calico and cilium policies: tenant rules only in safety.cloudNamespaces, worded as policy kinds beyond the edit role', () => {
  const spec = {
    match: { rules: ['Outbound C2'] },
    actions: [
      { name: 'calico', actionner: 'calico:networkpolicy', parameters: { ttl: '1h' } },
      { name: 'cilium', actionner: 'cilium:networkpolicy' },
    ],
  };
  const refused = compileRule('TalonRule', talonRule(spec, 'shop'), lookup(), deps());
  assert.ok(!refused.ok);
  assert.equal(refused.conditions.accepted.reason, 'ScopeNotAllowed');
  assert.match(refused.conditions.accepted.message, /spec\.actions\[0\] calico:networkpolicy: uses policy kinds beyond the edit role, which the namespace 'shop' may not \(safety\.cloudNamespaces\); spec\.actions\[1\] cilium:networkpolicy: uses policy kinds beyond the edit role/);
  assert.ok(compileRule('TalonRule', talonRule(spec, 'shop'), lookup(), deps({ cloudNamespaces: new Set(['shop']) })).ok);
  assert.ok(compileRule('ClusterTalonRule', clusterRule(spec), lookup(), deps()).ok);
});

test('approval: compiled when required (expiresAfter, default 1h), absent otherwise; a reference may require it', () => {
  const res = compileRule(
    'ClusterTalonRule',
    clusterRule({
      actions: [
        { name: 'kill', actionner: 'kubernetes:terminate', approval: { required: true, expiresAfter: '30m' } },
        { name: 'kill-default', actionner: 'kubernetes:terminate', approval: { required: true } },
        { name: 'kill-now', actionner: 'kubernetes:terminate', approval: { required: false, expiresAfter: '5m' } },
        { action: 'label-suspicious', approval: { required: true, expiresAfter: '10s' } },
      ],
    }),
    lookup(labelSuspicious),
    deps(),
  );
  assert.ok(res.ok, JSON.stringify(!res.ok && res.conditions));
  assert.deepEqual(res.rule.actions.map((a) => a.approval), [{ expiresAfterMs: 1_800_000 }, { expiresAfterMs: 3_600_000 }, undefined, { expiresAfterMs: 10_000 }]);
  const bad = compileRule('ClusterTalonRule', clusterRule({ actions: [{ name: 'k', actionner: 'kubernetes:terminate', approval: { required: true, expiresAfter: 'soon' } }] }), lookup(), deps());
  assert.equal(bad.ok, false);
  assert.match(bad.conditions.accepted.message, /spec\.actions\[0\]\.approval\.expiresAfter: must be a duration/);
});

// --- escalation ladders and revertAfter ------------------------------------------------------

const ladderSpec = (): TalonRuleSpec => ({
  match: { rules: ['Terminal shell in container'] },
  escalation: {
    window: '10m',
    steps: [
      { after: 1, actions: [{ action: 'label-suspicious', revertAfter: '1h' }] },
      { after: 3, actions: [{ name: 'kill', actionner: 'kubernetes:terminate' }] },
    ],
  },
});

test('an escalation rule compiles to its steps; every step action is in actions (for actionner init); references are resolved', () => {
  const res = compileRule('ClusterTalonRule', clusterRule(ladderSpec()), lookup(labelSuspicious), deps());
  assert.ok(res.ok, JSON.stringify(res.conditions));
  const esc = res.rule.escalation!;
  assert.equal(esc.windowMs, 600_000);
  assert.deepEqual(esc.steps.map((s) => [s.after, s.actions.map((a) => a.name)]), [[1, ['label-suspicious']], [3, ['kill']]]);
  assert.deepEqual(res.rule.actions.map((a) => a.name), ['label-suspicious', 'kill']);
  assert.equal(esc.steps[0]!.actions[0]!.revertAfterMs, 3_600_000, "a reference's revertAfter is kept");
  assert.deepEqual(res.refs, [{ kind: 'ClusterTalonAction', name: 'label-suspicious' }]);
});

test('escalation: after must rise from step to step; problems in step actions name their path', () => {
  const spec = ladderSpec();
  spec.escalation!.steps[1]!.after = 1;
  spec.escalation!.steps[1]!.actions[0]!.parameters = { grace: 1 };
  const res = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps());
  assert.ok(!res.ok);
  assert.equal(res.conditions.accepted.status, 'False');
  assert.match(res.conditions.accepted.message, /spec\.escalation\.steps\[1\]\.actions\[0\] kubernetes:terminate: unknown parameter 'grace'/);
  assert.match(res.conditions.accepted.message, /spec\.escalation\.steps\[1\]\.after: 1 must be above the previous step's 1/);
});

test('actions and escalation together, or neither, is a clear InvalidSpec condition', () => {
  const both = { ...ladderSpec(), actions: shellRule().actions };
  const neither = ladderSpec();
  delete neither.escalation;
  for (const spec of [both, neither]) {
    const res = compileRule('ClusterTalonRule', clusterRule(spec), lookup(labelSuspicious), deps());
    assert.ok(!res.ok);
    assert.deepEqual([res.conditions.accepted.reason, res.conditions.accepted.message], [
      'InvalidSpec',
      "spec: exactly one of 'actions' (run on every match) or 'escalation' (a ladder of steps by count of matches) must be set",
    ]);
  }
});

test('revertAfter only on reversible actionners, and not together with the ttl parameter', () => {
  const spec: TalonRuleSpec = { match: {}, actions: [{ name: 'kill', actionner: 'kubernetes:terminate', revertAfter: '5s' }] };
  const res = compileRule('ClusterTalonRule', clusterRule(spec), lookup(), deps({ registry: new ActionnerRegistry(builtinActionners()) }));
  assert.ok(!res.ok);
  assert.match(res.conditions.accepted.message, /spec\.actions\[0\] kubernetes:terminate: revertAfter: what kubernetes:terminate does cannot be undone; reversible actionners: kubernetes:label/);
  const both: TalonRuleSpec = { match: {}, actions: [{ name: 'iso', actionner: 'kubernetes:networkpolicy', parameters: { ttl: '1h' }, revertAfter: '5s' }] };
  const res2 = compileRule('ClusterTalonRule', clusterRule(both), lookup(), deps({ registry: new ActionnerRegistry(builtinActionners()) }));
  assert.ok(!res2.ok);
  assert.match(res2.conditions.accepted.message, /set revertAfter or the ttl parameter, not both/);
  const fine: TalonRuleSpec = { match: {}, actions: [{ name: 'iso', actionner: 'kubernetes:networkpolicy', revertAfter: '5s' }] };
  const res3 = compileRule('ClusterTalonRule', clusterRule(fine), lookup(), deps({ registry: new ActionnerRegistry(builtinActionners()) }));
  assert.ok(res3.ok);
  assert.equal(res3.rule.actions[0]!.revertAfterMs, 5_000);
});
