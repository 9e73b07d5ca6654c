import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../test/fakes/kube.js';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { ExpirySweeper } from './expiry.js';
import { cordonActionner } from './kubernetes/cordon.js';
import { labelActionner } from './kubernetes/label.js';
import { annotationActionner } from './kubernetes/annotation.js';
import { networkPolicyActionner, quarantineExpiry } from './kubernetes/networkpolicy.js';
import {
  CHANGED_KINDS,
  parseRecord,
  recordId,
  recordedMetadataPatch,
  recordsOf,
  REVERT_ANNOTATION_PREFIX,
  REVERT_PENDING_LABEL,
  undoPatch,
  type MadeBy,
  madeByOf,
} from './revert.js';
import type { ActionResult, Actionner, TargetSubject } from './types.js';

const who: MadeBy = { rule: { kind: 'ClusterTalonRule', namespace: '', name: 'r' }, action: 'mark', actionner: 'kubernetes:label', falcoRule: 'Shell', priority: 'Warning', traceId: 't1' };

function run<P>(fake: FakeKube, a: Actionner<P>, subject: TargetSubject, params: P, revertAfterMs?: number, actionName = 'mark'): Promise<ActionResult> {
  const event = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'web-1' });
  return a.run({
    event,
    target: targetOf(event, subject),
    params,
    signal: new AbortController().signal,
    kube: fake.clients,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: '', name: 'r' },
    actionName,
    ...(revertAfterMs !== undefined ? { revertAfterMs } : {}),
  });
}

function sweeper(fake: FakeKube, now: number, outcomes: Outcome[]): ExpirySweeper {
  return new ExpirySweeper({ kube: fake.clients, handlers: [quarantineExpiry], changes: CHANGED_KINDS, record: (o) => outcomes.push(o), now: () => now });
}

const pod = (fake: FakeKube) => fake.get<V1Pod>('Pod', 'default', 'web-1')!;
const later = Date.now() + 3_600_000;

test('recordId is stable and differs by rule, action and field', () => {
  assert.equal(recordId(who.rule, 'mark', 'labels'), recordId({ ...who.rule }, 'mark', 'labels'));
  assert.match(recordId(who.rule, 'mark', 'labels'), /^[0-9a-f]{10}$/);
  const ids = new Set([recordId(who.rule, 'mark', 'labels'), recordId(who.rule, 'mark', 'annotations'), recordId(who.rule, 'other', 'labels'), recordId({ ...who.rule, kind: 'TalonRule', namespace: 'x' }, 'mark', 'labels')]);
  assert.equal(ids.size, 4);
});

test('parseRecord refuses what is not a record (it is then left alone)', () => {
  for (const bad of [undefined, '', 'nope', '{}', '{"rule":{"namespace":"","name":"r"},"action":"a","actionner":"b"}', JSON.stringify({ ...who, at: 'never' }), JSON.stringify({ ...who, at: '2026-01-01T00:00:00Z', labels: { a: { from: 1, to: 'x' } } })]) {
    assert.equal(parseRecord(bad), undefined, String(bad));
  }
  assert.deepEqual(parseRecord(JSON.stringify({ ...who, at: '2026-01-01T00:00:00Z', labels: { a: { from: null, to: 'x' } } }))?.labels, { a: { from: null, to: 'x' } });
});

test('a recorded label change keeps the value before it; the same action again keeps the first from and moves at later only', () => {
  const current = { metadata: { resourceVersion: '7', labels: { tier: 'web' }, annotations: {} } };
  const first = recordedMetadataPatch(current, 'labels', { tier: 'quarantined', added: 'yes', same: '' }, who, 5_000, 0);
  const meta = first.patch.metadata as { resourceVersion: string; labels: Record<string, unknown>; annotations: Record<string, string> };
  assert.equal(meta.resourceVersion, '7', 'conditional on what was read');
  assert.deepEqual(meta.labels, { tier: 'quarantined', added: 'yes', same: null, [REVERT_PENDING_LABEL]: 'true' });
  const rec = parseRecord(meta.annotations[`${REVERT_ANNOTATION_PREFIX}${first.id}`])!;
  assert.deepEqual(rec.labels, { tier: { from: 'web', to: 'quarantined' }, added: { from: null, to: 'yes' } }, 'a key already as wanted is not recorded');
  assert.equal(rec.at, '1970-01-01T00:00:05.000Z');

  const applied = { metadata: { resourceVersion: '8', labels: { tier: 'quarantined', added: 'yes' }, annotations: meta.annotations } };
  const again = recordedMetadataPatch(applied, 'labels', { tier: 'quarantined' }, who, 1_000, 1_000);
  const rec2 = parseRecord((again.patch.metadata as { annotations: Record<string, string> }).annotations[`${REVERT_ANNOTATION_PREFIX}${again.id}`])!;
  assert.equal(again.id, first.id);
  assert.deepEqual(rec2.labels?.tier, { from: 'web', to: 'quarantined' });
  assert.equal(rec2.at, '1970-01-01T00:00:05.000Z', 'never moved earlier');
});

test('undoPatch: restores what still holds the action\'s value, leaves alone what changed, drops records and the pending label', () => {
  const rec = { ...who, at: '1970-01-01T00:00:05.000Z', labels: { tier: { from: 'web', to: 'q' }, added: { from: null, to: 'yes' }, other: { from: 'a', to: 'b' } } };
  const obj = {
    metadata: { resourceVersion: '9', labels: { tier: 'q', added: 'yes', other: 'manual', [REVERT_PENDING_LABEL]: 'true' }, annotations: { [`${REVERT_ANNOTATION_PREFIX}abc`]: JSON.stringify(rec) } },
  };
  assert.equal(undoPatch(obj, 4_999), undefined, 'not due yet');
  const plan = undoPatch(obj, 5_000)!;
  assert.deepEqual(plan.patch, {
    metadata: { resourceVersion: '9', annotations: { [`${REVERT_ANNOTATION_PREFIX}abc`]: null }, labels: { tier: 'web', added: null, [REVERT_PENDING_LABEL]: null } },
  });
  assert.deepEqual(plan.undone[0]!.restored, ["label tier restored to 'web'", 'label added removed']);
  assert.deepEqual(plan.undone[0]!.leftAlone, ["label other is now 'manual', not 'b' as the action set it"]);
  // A pending label left without records is cleaned up.
  assert.deepEqual(undoPatch({ metadata: { labels: { [REVERT_PENDING_LABEL]: 'true' } } }, 0)?.patch, { metadata: { resourceVersion: undefined, labels: { [REVERT_PENDING_LABEL]: null } } });
});

test('kubernetes:label with revertAfter: the sweeper restores the old value after it, not before, and records the outcome', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'web-1', { labels: { app: 'web', tier: 'frontend' } }));
  const r = await run(fake, labelActionner, 'pod', { labels: { tier: 'quarantined', 'talon.dev/suspicious': 'true' }, level: 'pod' }, 60_000);
  assert.equal(r.reason, 'Labeled');
  assert.match(r.message, /reverted at .*kubectl talon revert pod\/web-1 -n default --id [0-9a-f]{10}\)$/);
  assert.equal(recordsOf(pod(fake)).length, 1);

  const outcomes: Outcome[] = [];
  assert.deepEqual((await sweeper(fake, Date.now(), outcomes).sweep()).reverted, [], 'not due yet');
  const res = await sweeper(fake, later, outcomes).sweep();
  assert.deepEqual(res.reverted, ['Pod default/web-1']);
  const labels = pod(fake).metadata?.labels;
  assert.deepEqual(labels, { app: 'web', tier: 'frontend' });
  assert.deepEqual(Object.keys(pod(fake).metadata?.annotations ?? {}), []);
  assert.equal(outcomes.length, 1);
  const o = outcomes[0]!;
  assert.deepEqual([o.result, o.reason, o.action, o.actionner, o.rule.name, o.target.kind, o.target.name], ['Succeeded', 'Reverted', 'mark', 'kubernetes:label', 'r', 'Pod', 'web-1']);
  assert.match(o.message, /label tier restored to 'frontend', label talon.dev\/suspicious removed/);
});

test('a value someone changed after the action is left alone: Skipped/RevertLeftAlone when nothing else is reverted', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'web-1', { labels: { tier: 'frontend' } }));
  await run(fake, labelActionner, 'pod', { labels: { tier: 'quarantined' }, level: 'pod' }, 1_000);
  const p = pod(fake);
  fake.add('Pod', { ...p, metadata: { ...p.metadata, labels: { ...p.metadata?.labels, tier: 'manual' } } });
  const outcomes: Outcome[] = [];
  await sweeper(fake, later, outcomes).sweep();
  assert.equal(pod(fake).metadata?.labels?.tier, 'manual');
  assert.equal(pod(fake).metadata?.labels?.[REVERT_PENDING_LABEL], undefined);
  assert.deepEqual([outcomes[0]?.result, outcomes[0]?.reason], ['Skipped', 'RevertLeftAlone']);
});

test('a write between the sweep\'s read and its patch (409) is not overwritten: the next sweep starts over', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'web-1', { labels: { tier: 'frontend' } }));
  await run(fake, labelActionner, 'pod', { labels: { tier: 'quarantined' }, level: 'pod' }, 1_000);
  fake.failNext('core.patchNamespacedPod', 409);
  const outcomes: Outcome[] = [];
  const first = await sweeper(fake, later, outcomes).sweep();
  assert.deepEqual([first.errors, outcomes.length, pod(fake).metadata?.labels?.tier], [1, 0, 'quarantined']);
  await sweeper(fake, later, outcomes).sweep();
  assert.deepEqual([outcomes.length, pod(fake).metadata?.labels?.tier], [1, 'frontend']);
});

test('kubernetes:cordon with revertAfter: uncordoned after it; a node cordoned before is not recorded', async () => {
  const fake = new FakeKube();
  fake.add('Node', { metadata: { name: 'node-1' }, spec: {} });
  fake.add('Pod', podFixture('default', 'web-1', { node: 'node-1' }));
  const r = await run(fake, cordonActionner, 'node', {}, 1_000, 'cordon');
  assert.equal(r.reason, 'Cordoned');
  assert.match(r.message, /uncordoned at .*kubectl talon revert node\/node-1 --id/);
  const outcomes: Outcome[] = [];
  await sweeper(fake, later, outcomes).sweep();
  const node = fake.get<V1Node>('Node', undefined, 'node-1')!;
  assert.equal(node.spec?.unschedulable, false);
  assert.equal(node.metadata?.labels?.[REVERT_PENDING_LABEL], undefined);
  assert.match(outcomes[0]!.message, /node uncordoned/);

  fake.add('Node', { metadata: { name: 'node-1' }, spec: { unschedulable: true } });
  const again = await run(fake, cordonActionner, 'node', {}, 1_000, 'cordon');
  assert.equal(again.reason, 'AlreadyCordoned');
  assert.deepEqual(recordsOf(fake.get<V1Node>('Node', undefined, 'node-1')!), []);
});

test('kubernetes:networkpolicy with revertAfter: the policy expires then, and its removal is recorded against the rule, about the pod', async () => {
  const fake = new FakeKube();
  fake.add('Pod', podFixture('default', 'web-1'));
  const r = await run(fake, networkPolicyActionner, 'pod', { allowDNS: true, allowCIDRs: [], allowNamespaces: [] }, 5_000, 'isolate');
  assert.equal(r.reason, 'Isolated');
  assert.match(r.message, /until .*undo now: kubectl talon revert networkpolicy\/talon-quarantine-web-1 -n default/);
  const outcomes: Outcome[] = [];
  await sweeper(fake, later, outcomes).sweep();
  assert.equal(fake.get('NetworkPolicy', 'default', 'talon-quarantine-web-1'), undefined);
  assert.equal(outcomes.length, 1);
  const o = outcomes[0]!;
  assert.deepEqual([o.reason, o.action, o.actionner, o.target.kind, o.target.name], ['Reverted', 'isolate', 'kubernetes:networkpolicy', 'Pod', 'web-1']);
  assert.match(o.message, /NetworkPolicy 'talon-quarantine-web-1' in namespace 'default' removed; quarantine label removed from default\/web-1/);
});

test('kubernetes:annotation with revertAfter, at node level: the record sits beside the annotations it restores', async () => {
  const fake = new FakeKube();
  fake.add('Node', { metadata: { name: 'node-1', annotations: { owner: 'team-a' } }, spec: {} });
  fake.add('Pod', podFixture('default', 'web-1', { node: 'node-1' }));
  const r = await run(fake, annotationActionner, 'node', { annotations: { owner: 'security', note: 'shell seen' }, level: 'node' }, 1_000, 'note');
  assert.equal(r.reason, 'Annotated');
  const node = () => fake.get<V1Node>('Node', undefined, 'node-1')!;
  assert.equal(node().metadata?.annotations?.owner, 'security');
  assert.equal(recordsOf(node()).length, 1);
  const outcomes: Outcome[] = [];
  await sweeper(fake, later, outcomes).sweep();
  assert.deepEqual(node().metadata?.annotations, { owner: 'team-a' });
  assert.equal(node().metadata?.labels?.[REVERT_PENDING_LABEL], undefined);
  assert.deepEqual([outcomes[0]?.target.kind, outcomes[0]?.action], ['Node', 'note']);
  assert.match(outcomes[0]!.message, /annotation owner restored to 'team-a', annotation note removed/);
});

test('who made a change names the Falco rule clipped as in status: a 1 MiB rule name keeps the annotation small', () => {
  const ev = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'p' }, { rule: 'x'.repeat(1 << 20) });
  const who = madeByOf({ rule: { namespace: 'default', name: 'r' }, actionName: 'label', event: ev } as unknown as Parameters<typeof madeByOf>[0], 'kubernetes:label');
  assert.ok(who.falcoRule.length <= 256 && who.falcoRule.endsWith('…'), `clipped to ${who.falcoRule.length}`);
});
