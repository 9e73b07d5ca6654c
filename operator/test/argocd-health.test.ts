/**
 * The Argo CD health check of the talon.dev kinds (config/argocd/health.lua), run by Debian's
 * lua5.1 over sample objects of every kind: the Ready condition decides, but only once its
 * observedGeneration (else status.observedGeneration) has caught up with metadata.generation;
 * TalonApproval goes by status.phase. Also: every CRD kind has its argocd-cm key in the
 * kustomize Component. (e2e/gitops.test.ts runs the same script over objects the real operator
 * reconciled.)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { argoHealth, HEALTH_LUA, toLua } from './argocd-health.js';

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
}

function object(kind: string, generation: number, status?: Record<string, unknown>, spec: Record<string, unknown> = {}): Record<string, unknown> {
  const cluster = kind.startsWith('Cluster');
  return {
    apiVersion: 'talon.dev/v1alpha1',
    kind,
    metadata: { name: 'x', ...(cluster ? {} : { namespace: 'web' }), generation, uid: '0b7d5c8e-2a57-4cf3-9d7e-1f2d1c7e7d11' },
    spec,
    ...(status === undefined ? {} : { status }),
  };
}

const cond = (status: Condition['status'], reason: string, message: string, observedGeneration?: number): Condition => ({
  type: 'Ready',
  status,
  reason,
  message,
  ...(observedGeneration === undefined ? {} : { observedGeneration }),
});

const accepted = (g: number): Condition => ({ type: 'Accepted', status: 'True', reason: 'Valid', message: '', observedGeneration: g });

const RULE_KINDS = ['TalonRule', 'ClusterTalonRule'] as const;
const ACTION_KINDS = ['TalonAction', 'ClusterTalonAction'] as const;

describe('rules and actions: the Ready condition of the current generation', () => {
  for (const kind of [...RULE_KINDS, ...ACTION_KINDS]) {
    test(`${kind}: no status yet is Progressing`, () => {
      assert.deepEqual(argoHealth(object(kind, 1)), { status: 'Progressing', message: 'Waiting for talon-operator to report the Ready condition' });
    });

    test(`${kind}: Ready=True for the current generation is Healthy, with the operator's message`, () => {
      const h = argoHealth(object(kind, 3, { observedGeneration: 3, conditions: [accepted(3), cond('True', 'Loaded', 'loaded as a cluster rule', 3)] }));
      assert.deepEqual(h, { status: 'Healthy', message: 'Loaded: loaded as a cluster rule' });
    });

    test(`${kind}: Ready=False is Degraded with reason and message`, () => {
      const message = "actions[1] kubernetes:terminate: unknown parameter 'grace_period_seconds' (did you mean 'gracePeriodSeconds'?) — \"quoted\" \\ é";
      const h = argoHealth(object(kind, 2, { observedGeneration: 2, conditions: [cond('False', 'NotAccepted', message, 2)] }));
      assert.deepEqual(h, { status: 'Degraded', message: `NotAccepted: ${message}` });
    });

    test(`${kind}: a Ready condition of an older generation is Progressing, whatever it says`, () => {
      for (const s of ['True', 'False'] as const) {
        const h = argoHealth(object(kind, 5, { observedGeneration: 5, conditions: [cond(s, 'Loaded', 'old', 4)] }));
        assert.deepEqual(h, { status: 'Progressing', message: 'Waiting for talon-operator to reconcile generation 5 (status is for generation 4)' });
      }
    });

    test(`${kind}: without a condition observedGeneration, status.observedGeneration decides`, () => {
      assert.equal(argoHealth(object(kind, 7, { observedGeneration: 6, conditions: [cond('True', 'Loaded', '')] })).status, 'Progressing');
      assert.deepEqual(argoHealth(object(kind, 7, { observedGeneration: 7, conditions: [cond('True', 'Loaded', '')] })), { status: 'Healthy', message: 'Loaded' });
    });

    test(`${kind}: Ready=Unknown is Progressing`, () => {
      assert.deepEqual(argoHealth(object(kind, 1, { conditions: [cond('Unknown', 'Reconciling', 'compiling', 1)] })), { status: 'Progressing', message: 'Reconciling: compiling' });
    });
  }

  for (const kind of RULE_KINDS) {
    test(`${kind}: a loaded rule with spec.suspend is Suspended; a rejected one stays Degraded`, () => {
      const loaded = { observedGeneration: 2, conditions: [cond('True', 'Loaded', 'loaded', 2)] };
      assert.deepEqual(argoHealth(object(kind, 2, loaded, { suspend: true })), {
        status: 'Suspended',
        message: 'Suspended: alerts are matched and counted, no action runs',
      });
      assert.equal(argoHealth(object(kind, 2, loaded, { suspend: false })).status, 'Healthy');
      assert.equal(argoHealth(object(kind, 2, { conditions: [cond('False', 'RefsNotResolved', "TalonAction 'gone' not found", 2)] }, { suspend: true })).status, 'Degraded');
    });
  }
});

describe('TalonApproval: status.phase', () => {
  const approval = (phase: string | undefined, generation = 1, ready?: Condition) =>
    object('TalonApproval', generation, { ...(phase === undefined ? {} : { phase }), observedGeneration: 1, ...(ready ? { conditions: [ready] } : {}) });

  for (const [phase, status, message] of [
    [undefined, 'Progressing', "Waiting for talon-operator to record the approval's phase"],
    ['Pending', 'Suspended', 'Pending: waiting for a person to approve or reject'],
    ['Approved', 'Progressing', 'Approved: the action is about to run'],
    ['Executed', 'Healthy', 'Executed'],
    ['Rejected', 'Healthy', 'Rejected: the action did not run'],
    ['Expired', 'Degraded', 'Expired without a decision: the action did not run'],
    ['Failed', 'Degraded', 'Failed'],
    ['Paused', 'Unknown', 'Unknown phase Paused'],
  ] as const) {
    test(`${phase ?? 'no phase'} is ${status}`, () => {
      assert.deepEqual(argoHealth(approval(phase)), { status, message });
    });
  }

  test("the Ready condition's reason and message are appended; an older generation is Progressing", () => {
    assert.deepEqual(argoHealth(approval('Failed', 1, cond('False', 'Forbidden', 'cannot delete pods in namespace "web"', 1))), {
      status: 'Degraded',
      message: 'Failed: Forbidden: cannot delete pods in namespace "web"',
    });
    assert.equal(argoHealth(approval('Pending', 2)).status, 'Progressing');
  });
});

test('the argocd-cm Component installs the script for every talon.dev CRD kind, and the five kinds', () => {
  const component = parse(readFileSync(join(dirname(HEALTH_LUA), 'kustomization.yaml'), 'utf8')) as {
    kind: string;
    configMapGenerator: { name: string; behavior: string; files: string[] }[];
  };
  assert.equal(component.kind, 'Component');
  const gen = component.configMapGenerator.find((g) => g.name === 'argocd-cm');
  assert.equal(gen?.behavior, 'merge');
  const keys = new Map((gen?.files ?? []).map((f) => f.split('=') as [string, string]));
  const crdDir = join(dirname(HEALTH_LUA), '..', '..', 'crds');
  const crdKinds = readdirSync(crdDir)
    .filter((f) => /^talon\.dev_[a-z]+\.yaml$/.test(f)) // the CRDs; talon.dev_<plural>-admission.yaml holds an admission policy
    .map((f) => (parse(readFileSync(join(crdDir, f), 'utf8')) as { spec: { names: { kind: string } } }).spec.names.kind);
  for (const kind of new Set([...crdKinds, 'TalonRule', 'ClusterTalonRule', 'TalonAction', 'ClusterTalonAction', 'TalonApproval'])) {
    assert.equal(keys.get(`resource.customizations.health.talon.dev_${kind}`), 'health.lua', `argocd-cm key for ${kind}`);
  }
});

test('toLua writes JSON values as Lua 5.1 reads them', () => {
  assert.equal(toLua({ a: [1, 'x', true, null], 'b.c': { d: null } }), '{["a"] = {1, "x", true, nil}, ["b.c"] = {}}');
  assert.equal(toLua('é"\n'), '"\\195\\169\\34\\10"');
});
