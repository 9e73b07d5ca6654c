import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ruleOf, sampleOutcome } from '../../test/builders.js';
import { APPROVAL_KEY_LABEL, MANAGED_BY_LABEL, type TalonApproval, type TalonApprovalStatus } from '../api/v1alpha1/approval.js';
import type { CompiledRule } from '../rules/types.js';
import { ApprovalController, decisionTime, isOurs } from './approval-controller.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const rule: CompiledRule = ruleOf('shell', { namespace: 'shop' });

function approval(over: { decision?: 'Approved' | 'Rejected'; decidedAt?: number; phase?: TalonApprovalStatus['phase']; phaseTime?: string; owner?: string; expiresAt?: number } = {}): TalonApproval {
  return {
    metadata: {
      namespace: 'shop',
      name: 'shell-kill-x',
      uid: 'a1',
      labels: { [MANAGED_BY_LABEL]: 'talon-operator', [APPROVAL_KEY_LABEL]: 'k1' },
      ownerReferences: [{ apiVersion: 'talon.dev/v1alpha1', kind: 'TalonRule', name: 'shell', uid: over.owner ?? rule.uid, controller: true }],
      ...(over.decidedAt !== undefined
        ? { managedFields: [{ manager: 'kubectl-talon', operation: 'Update', time: new Date(over.decidedAt) as never, fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:decision': {} } } }] }
        : {}),
    },
    spec: {
      rule: { kind: 'TalonRule', name: 'shell', namespace: 'shop', uid: rule.uid },
      action: { name: 'kill', actionner: 'kubernetes:terminate', parameters: {} },
      target: { kind: 'Pod', namespace: 'shop', name: 'web-1' },
      alert: { rule: 'Terminal shell', priority: 'Warning', output: 'o', time: '', traceId: 't1', source: 'syscall', hostname: 'h', outputFields: {} },
      expiresAt: new Date(over.expiresAt ?? T0 + 60_000).toISOString(),
      ...(over.decision ? { decision: over.decision } : {}),
    },
    ...(over.phase ? { status: { phase: over.phase, ...(over.phaseTime ? { phaseTime: over.phaseTime } : {}) } } : {}),
  };
}

function harness(items: TalonApproval[], now = () => T0) {
  const patches: { name: string; status: TalonApprovalStatus }[] = [];
  const runs: string[] = [];
  const removed: string[] = [];
  const c = new ApprovalController({
    cache: { list: () => items, get: (ns, n) => items.find((a) => a.metadata.namespace === ns && a.metadata.name === n) },
    rule: (key) => (key === rule.key ? rule : undefined),
    rulesLoaded: () => true,
    runner: {
      execute: async (a) => {
        runs.push(`execute ${a.metadata.name}`);
        return sampleOutcome({ result: 'Succeeded', reason: 'Terminated', message: 'killed' });
      },
      conclude: (a, _r, reason, message) => {
        runs.push(`${reason} ${a.metadata.name}`);
        return sampleOutcome({ result: 'Skipped', reason, message });
      },
    },
    patchStatus: async (_ns, name, status) => void patches.push({ name, status }),
    remove: async (ns, name) => void removed.push(`${ns}/${name}`),
    retentionMs: 3_600_000,
    now,
  });
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return { c, patches, runs, removed, settle };
}

test('a pending approval is marked Pending; nothing runs', async () => {
  const a = approval();
  const h = harness([a]);
  h.c.onApproval(a);
  await h.settle();
  h.c.stop();
  assert.deepEqual(h.runs, []);
  assert.deepEqual(h.patches.map((p) => p.status.phase), ['Pending']);
  assert.equal(h.c.findPending('shop', 'k1'), a);
});

test('approved in time: runs once, Approved then Executed with the outcome; a stale cache never runs it twice', async () => {
  const a = approval({ decision: 'Approved', decidedAt: T0 - 1_000, phase: 'Pending' });
  const h = harness([a]);
  h.c.onApproval(a);
  await h.settle();
  h.c.onApproval(a); // the cache still shows phase Pending
  await h.settle();
  assert.deepEqual(h.runs, ['execute shell-kill-x']);
  assert.deepEqual(h.patches.map((p) => p.status.phase), ['Approved', 'Executed']);
  assert.equal(h.patches[1]!.status.outcome?.reason, 'Terminated');
  assert.equal(h.c.findPending('shop', 'k1'), undefined);
});

test('rejected → ApprovalRejected; no decision by expiresAt, or one made after it → ApprovalExpired', async () => {
  const rejected = approval({ decision: 'Rejected', decidedAt: T0 - 1_000 });
  let h = harness([rejected]);
  h.c.onApproval(rejected);
  await h.settle();
  assert.deepEqual([h.runs, h.patches.map((p) => p.status.phase)], [['ApprovalRejected shell-kill-x'], ['Rejected']]);

  const silent = approval({ expiresAt: T0 - 1 });
  h = harness([silent]);
  h.c.onApproval(silent);
  await h.settle();
  assert.deepEqual([h.runs, h.patches.map((p) => p.status.phase)], [['ApprovalExpired shell-kill-x'], ['Expired']]);

  const late = approval({ decision: 'Approved', decidedAt: T0 + 5_000, expiresAt: T0 + 1_000 });
  h = harness([late], () => T0 + 6_000);
  h.c.onApproval(late);
  await h.settle();
  assert.deepEqual(h.runs, ['ApprovalExpired shell-kill-x']);
  assert.match(h.patches[0]!.status.outcome!.message, /the decision Approved came after it/);
});

test('only approvals the operator created, owned by the rule they name, are honoured', async () => {
  const forged = approval({ decision: 'Approved', decidedAt: T0 - 1, owner: 'someone-else' });
  assert.equal(isOurs(forged), false);
  const unlabelled = { ...approval({ decision: 'Approved', decidedAt: T0 - 1 }), metadata: { ...approval().metadata, labels: {} } };
  assert.equal(isOurs(unlabelled), false);
  const h = harness([forged, unlabelled]);
  h.c.sweep();
  await h.settle();
  assert.deepEqual([h.runs, h.patches], [[], []]);
});

test('approved but the rule was recreated (another uid): Failed, nothing runs', async () => {
  const a = approval({ decision: 'Approved', decidedAt: T0 - 1 });
  const other = { ...a, spec: { ...a.spec, rule: { ...a.spec.rule, uid: 'old-uid' } }, metadata: { ...a.metadata, ownerReferences: [{ ...a.metadata.ownerReferences![0]!, uid: 'old-uid' }] } };
  const h = harness([other]);
  h.c.onApproval(other);
  await h.settle();
  assert.deepEqual(h.runs, []);
  assert.equal(h.patches[0]!.status.phase, 'Failed');
  assert.match(h.patches[0]!.status.outcome!.message, /no longer loaded: nothing ran/);
});

test('finished approvals are deleted after the retention period, not before', async () => {
  const fresh = approval({ phase: 'Executed', phaseTime: new Date(T0 - 60_000).toISOString() });
  const old = { ...approval({ phase: 'Rejected', phaseTime: new Date(T0 - 2 * 3_600_000).toISOString() }), metadata: { ...approval().metadata, name: 'old', uid: 'a2' } };
  const h = harness([fresh, old]);
  h.c.sweep();
  await h.settle();
  assert.deepEqual(h.removed, ['shop/old']);
});

test('decisionTime reads the latest managedFields entry that wrote spec.decision', () => {
  assert.equal(decisionTime(approval()), undefined);
  assert.equal(decisionTime(approval({ decision: 'Approved', decidedAt: T0 })), T0);
});
