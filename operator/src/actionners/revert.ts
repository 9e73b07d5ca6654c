/**
 * Automatic revert (`revertAfter`, docs/revert.md): what a reversible action changed on an
 * existing object (labels or annotations of a pod or node, a node's `unschedulable`) is
 * recorded ON THAT OBJECT, so an undo survives operator restarts and needs no store of ours:
 *
 * - an annotation `revert.talon.dev/<id>` whose value is a JSON RevertRecord: when to undo
 *   (`at`), who changed it (rule, action, alert), and per key the value before (`from`, null =
 *   absent) and the value the action set (`to`);
 * - the label `talon.dev/revert-pending: "true"`, so the sweeper finds such objects with one
 *   label-selected list per kind instead of reading every pod of the cluster.
 *
 * `<id>` is a hash of (rule, action, field): the same action changing the same object again
 * updates its record — the original `from` values are kept and `at` only moves later.
 *
 * An undo (`undoDue`, run by the one expiry sweeper, expiry.ts) restores `from` only where the
 * object still holds the action's `to`: a key someone changed since is left alone (and the
 * outcome says so). The record and, with the last one, the pending label go in the same merge
 * patch, which carries the resourceVersion it was computed from, so a concurrent writer makes
 * it fail with 409 and the next sweep starts over from the new state.
 *
 * Objects the operator CREATES (NetworkPolicies, Calico and Cilium policies) are undone by
 * deleting them: they carry `talon.dev/expires-at` (ExpiryHandler, expiry.ts) and
 * `talon.dev/made-by` (`madeByAnnotation`), which the sweeper reads to record the outcome.
 */
import type { KubernetesObject, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Outcome, RuleRef } from '../api/v1alpha1/outcome.js';
import { ruleKindOf } from '../api/v1alpha1/outcome.js';
import type { ActionContext, KubeClients, ObjectRef } from './types.js';
import { mergePatch, requestOptions } from './kubernetes/common.js';
import { clip } from '../lib/clip.js';
import { STATUS_MAX_LENGTH } from '../api/v1alpha1/types.js';

export const REVERT_ANNOTATION_PREFIX = 'revert.talon.dev/';
export const REVERT_PENDING_LABEL = 'talon.dev/revert-pending';
export const MADE_BY_ANNOTATION = 'talon.dev/made-by';

export type MetadataField = 'labels' | 'annotations';

/** One key's change: the value before the action (null = absent) and the value it set (null = removed). */
export interface ValueChange {
  readonly from: string | null;
  readonly to: string | null;
}

/** Who made a change or an object: enough to record the undo's outcome against the same rule and action. */
export interface MadeBy {
  readonly rule: RuleRef;
  readonly action: string;
  readonly actionner: string;
  readonly falcoRule: string;
  readonly priority: string;
  readonly traceId: string;
}

export interface RevertRecord extends MadeBy {
  /** RFC 3339: when the change is undone. */
  readonly at: string;
  readonly labels?: Readonly<Record<string, ValueChange>>;
  readonly annotations?: Readonly<Record<string, ValueChange>>;
  readonly unschedulable?: { readonly from: boolean; readonly to: boolean };
  /** Set by `kubectl talon revert` (which also moves `at` to its time): the undo was asked for. */
  readonly requested?: boolean;
}

/** The kinds whose changes are recorded on themselves. */
export type ChangedKind = 'Pod' | 'Node';

/** Who is acting, from a run's context. */
export function madeByOf(ctx: Pick<ActionContext, 'rule' | 'actionName' | 'event'>, actionner: string): MadeBy {
  const { namespace, name, uid } = ctx.rule;
  return {
    rule: { kind: ruleKindOf({ namespace }), namespace, name, ...(uid ? { uid } : {}) },
    action: ctx.actionName,
    actionner,
    // Clipped as in status: the alert names its rule, and an annotation must stay small.
    falcoRule: clip(ctx.event.rule, STATUS_MAX_LENGTH.falcoRule),
    priority: ctx.event.priority,
    traceId: ctx.event.traceId,
  };
}

/** The annotation value naming who made a created object. */
export const madeByAnnotation = (m: MadeBy): string => JSON.stringify(m);

/** The record id of (rule, action, what): 10 hex digits of a 64-bit FNV-1a hash, stable across restarts. */
export function recordId(rule: RuleRef, action: string, what: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(`${ruleKindOf(rule)}/${rule.namespace}/${rule.name}\u0000${action}\u0000${what}`)) {
    h ^= BigInt(ch);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0').slice(0, 10);
}

const isText = (v: unknown): v is string => typeof v === 'string';
const isNullableText = (v: unknown): v is string | null => v === null || typeof v === 'string';

function changesOk(v: unknown): boolean {
  if (v === undefined) return true;
  if (v === null || typeof v !== 'object') return false;
  return Object.values(v).every((c) => c !== null && typeof c === 'object' && isNullableText((c as ValueChange).from) && isNullableText((c as ValueChange).to));
}

/** Reads who made a created object (its made-by annotation); undefined when absent or malformed. */
export function parseMadeBy(text: string | undefined): MadeBy | undefined {
  if (text === undefined) return undefined;
  try {
    const m = JSON.parse(text) as Partial<MadeBy>;
    const r = m.rule as Partial<RuleRef> | undefined;
    if (!r || !isText(r.namespace) || !isText(r.name) || !isText(m.action) || !isText(m.actionner)) return undefined;
    return { rule: r as RuleRef, action: m.action, actionner: m.actionner, falcoRule: isText(m.falcoRule) ? m.falcoRule : '', priority: isText(m.priority) ? m.priority : '', traceId: isText(m.traceId) ? m.traceId : '' };
  } catch {
    return undefined;
  }
}

/** Reads a record annotation's value; undefined when it is not a record (it is then left alone). */
export function parseRecord(text: string | undefined): RevertRecord | undefined {
  const who = parseMadeBy(text);
  if (who === undefined) return undefined;
  const r = JSON.parse(text as string) as Partial<RevertRecord>;
  if (!isText(r.at) || Number.isNaN(Date.parse(r.at)) || !changesOk(r.labels) || !changesOk(r.annotations)) return undefined;
  const u = r.unschedulable;
  if (u !== undefined && (typeof u?.from !== 'boolean' || typeof u?.to !== 'boolean')) return undefined;
  return {
    ...who,
    at: r.at,
    ...(r.labels ? { labels: r.labels } : {}),
    ...(r.annotations ? { annotations: r.annotations } : {}),
    ...(u ? { unschedulable: u } : {}),
    ...(r.requested === true ? { requested: true } : {}),
  };
}

export interface RecordOnObject {
  readonly id: string;
  readonly record: RevertRecord;
}

/** The revert records an object carries, in annotation order. */
export function recordsOf(obj: KubernetesObject): RecordOnObject[] {
  const out: RecordOnObject[] = [];
  for (const [k, v] of Object.entries(obj.metadata?.annotations ?? {})) {
    if (!k.startsWith(REVERT_ANNOTATION_PREFIX)) continue;
    const record = parseRecord(v);
    if (record !== undefined) out.push({ id: k.slice(REVERT_ANNOTATION_PREFIX.length), record });
  }
  return out;
}

const laterOf = (a: string | undefined, b: string): string => (a !== undefined && Date.parse(a) > Date.parse(b) ? a : b);

/**
 * The merge patch that sets `wanted` (value "" removes the key) in the object's `field` and
 * records it for undo at `now + afterMs`, folding into the action's earlier record on the
 * object if it has one. `current` is the object as just read (its resourceVersion makes the
 * patch conditional). Keys already holding their wanted value are not recorded (nothing to undo).
 */
export function recordedMetadataPatch(
  current: KubernetesObject,
  field: MetadataField,
  wanted: Readonly<Record<string, string>>,
  who: MadeBy,
  afterMs: number,
  now: number,
): { patch: Record<string, unknown>; id: string; at: string; recorded: boolean } {
  const id = recordId(who.rule, who.action, field);
  const key = `${REVERT_ANNOTATION_PREFIX}${id}`;
  const earlier = parseRecord(current.metadata?.annotations?.[key]);
  const have = current.metadata?.[field] ?? {};
  const changes: Record<string, ValueChange> = { ...earlier?.[field] };
  const values: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(wanted)) {
    const to = v === '' ? null : v;
    values[k] = to;
    const from = earlier?.[field]?.[k]?.from !== undefined ? earlier[field][k].from : (have[k] ?? null);
    if (from !== to || changes[k] !== undefined) changes[k] = { from, to };
  }
  const at = laterOf(earlier?.at, new Date(now + afterMs).toISOString());
  const recorded = Object.keys(changes).length > 0;
  const record: RevertRecord = { ...who, at, [field]: changes };
  const labels: Record<string, string | null> = field === 'labels' ? { ...values } : {};
  const annotations: Record<string, string | null> = field === 'annotations' ? { ...values } : {};
  if (recorded) {
    labels[REVERT_PENDING_LABEL] = 'true';
    annotations[key] = JSON.stringify(record);
  }
  const metadata: Record<string, unknown> = { resourceVersion: current.metadata?.resourceVersion };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return { patch: { metadata }, id, at, recorded };
}

/**
 * The merge patch that cordons a node and records it for undo (a node already unschedulable
 * gets no record unless this action's earlier record is there, whose `at` then moves later).
 * Undefined when there is nothing to write.
 */
export function recordedCordonPatch(node: V1Node, who: MadeBy, afterMs: number, now: number): { patch: Record<string, unknown>; id: string; at: string } | undefined {
  const id = recordId(who.rule, who.action, 'unschedulable');
  const key = `${REVERT_ANNOTATION_PREFIX}${id}`;
  const earlier = parseRecord(node.metadata?.annotations?.[key]);
  const was = node.spec?.unschedulable === true;
  if (was && earlier === undefined) return undefined;
  const at = laterOf(earlier?.at, new Date(now + afterMs).toISOString());
  const record: RevertRecord = { ...who, at, unschedulable: earlier?.unschedulable ?? { from: was, to: true } };
  return {
    patch: {
      metadata: { resourceVersion: node.metadata?.resourceVersion, labels: { [REVERT_PENDING_LABEL]: 'true' }, annotations: { [key]: JSON.stringify(record) } },
      spec: { unschedulable: true },
    },
    id,
    at,
  };
}

/** What undoing one record did. */
export interface UndoneRecord {
  readonly id: string;
  readonly record: RevertRecord;
  /** "label a restored to 'x'", "label b removed", "node uncordoned". */
  readonly restored: readonly string[];
  /** "label a is now 'y', not 'x' as the action set it". */
  readonly leftAlone: readonly string[];
}

const shown = (v: string | null): string => (v === null ? 'absent' : `'${v}'`);

function undoField(
  field: MetadataField,
  changes: Readonly<Record<string, ValueChange>> | undefined,
  have: Readonly<Record<string, string>>,
  into: Record<string, string | null>,
  restored: string[],
  leftAlone: string[],
): void {
  const noun = field === 'labels' ? 'label' : 'annotation';
  for (const [k, c] of Object.entries(changes ?? {})) {
    const now = have[k] ?? null;
    if (now !== c.to) {
      leftAlone.push(`${noun} ${k} is now ${shown(now)}, not ${shown(c.to)} as the action set it`);
      continue;
    }
    if (c.from === c.to) continue;
    into[k] = c.from;
    restored.push(c.from === null ? `${noun} ${k} removed` : `${noun} ${k} restored to '${c.from}'`);
  }
}

/**
 * The undo of the records of `obj` that are due (`at` <= now): one merge patch (conditional on the object's resourceVersion) that restores what still
 * holds the actions' values and drops the records (and the pending label with the last one).
 * Undefined when nothing is due. Pure.
 */
export function undoPatch(obj: KubernetesObject & { spec?: { unschedulable?: boolean } }, now: number): { patch: Record<string, unknown>; undone: UndoneRecord[] } | undefined {
  const records = recordsOf(obj);
  const due = records.filter((r) => Date.parse(r.record.at) <= now);
  if (due.length === 0) {
    // A pending label without records (a record removed by hand) would be listed forever.
    const orphan = records.length === 0 && obj.metadata?.labels?.[REVERT_PENDING_LABEL] !== undefined;
    return orphan ? { patch: { metadata: { resourceVersion: obj.metadata?.resourceVersion, labels: { [REVERT_PENDING_LABEL]: null } } }, undone: [] } : undefined;
  }
  const labels: Record<string, string | null> = {};
  const annotations: Record<string, string | null> = {};
  let spec: { unschedulable: boolean } | undefined;
  const undone: UndoneRecord[] = [];
  for (const { id, record } of due) {
    const restored: string[] = [];
    const leftAlone: string[] = [];
    undoField('labels', record.labels, obj.metadata?.labels ?? {}, labels, restored, leftAlone);
    undoField('annotations', record.annotations, obj.metadata?.annotations ?? {}, annotations, restored, leftAlone);
    const u = record.unschedulable;
    if (u !== undefined) {
      const isNow = obj.spec?.unschedulable === true;
      if (isNow !== u.to) leftAlone.push(`the node is ${isNow ? 'cordoned' : 'schedulable'} again, not ${u.to ? 'cordoned' : 'schedulable'} as the action left it`);
      else if (u.from !== u.to) {
        spec = { unschedulable: u.from };
        restored.push(u.from ? 'node cordoned again' : 'node uncordoned');
      }
    }
    annotations[`${REVERT_ANNOTATION_PREFIX}${id}`] = null;
    undone.push({ id, record, restored, leftAlone });
  }
  if (due.length === records.length) labels[REVERT_PENDING_LABEL] = null;
  const metadata: Record<string, unknown> = { resourceVersion: obj.metadata?.resourceVersion, annotations };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  return { patch: spec ? { metadata, spec } : { metadata }, undone };
}

/** How the sweeper lists and patches the objects of one changed kind. */
export interface ChangedKindPort {
  readonly kind: ChangedKind;
  /** Every object of the kind carrying the pending label. */
  list(kube: KubeClients, signal?: AbortSignal): Promise<readonly KubernetesObject[]>;
  patch(kube: KubeClients, obj: KubernetesObject, body: Record<string, unknown>, signal?: AbortSignal): Promise<KubernetesObject>;
}

const PENDING_SELECTOR = REVERT_PENDING_LABEL;

export const podChanges: ChangedKindPort = {
  kind: 'Pod',
  async list(kube, signal) {
    return (await kube.core.listPodForAllNamespaces({ labelSelector: PENDING_SELECTOR }, requestOptions(signal))).items.map((p) => ({ ...p, apiVersion: 'v1', kind: 'Pod' }));
  },
  async patch(kube, obj, body, signal) {
    return kube.core.patchNamespacedPod({ name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '', body }, mergePatch(signal)) as Promise<V1Pod>;
  },
};

export const nodeChanges: ChangedKindPort = {
  kind: 'Node',
  async list(kube, signal) {
    return (await kube.core.listNode({ labelSelector: PENDING_SELECTOR }, requestOptions(signal))).items.map((n) => ({ ...n, apiVersion: 'v1', kind: 'Node' }));
  },
  async patch(kube, obj, body, signal) {
    return kube.core.patchNode({ name: obj.metadata?.name ?? '', body }, mergePatch(signal));
  },
};

export const CHANGED_KINDS: readonly ChangedKindPort[] = [podChanges, nodeChanges];

/** The outcome an undo records against the rule and action that made the change. */
export function undoOutcome(who: MadeBy, target: ObjectRef, result: 'Succeeded' | 'Skipped' | 'Failed', reason: Outcome['reason'], message: string, objects: readonly ObjectRef[], now: number): Outcome {
  return {
    time: new Date(now).toISOString(),
    traceId: who.traceId,
    rule: who.rule,
    action: who.action,
    actionner: who.actionner,
    target,
    result,
    reason,
    message,
    durationMs: 0,
    ingestToActionMs: 0,
    objects,
    falcoRule: who.falcoRule,
    priority: who.priority,
    merged: 0,
  };
}

/** The words of an undo's outcome: what was restored, what was left alone and why. */
export function undoMessage(what: string, u: UndoneRecord): string {
  const when = u.record.requested ? 'on demand (kubectl talon revert)' : `at ${u.record.at} (revertAfter)`;
  const parts: string[] = [];
  if (u.restored.length > 0) parts.push(`reverted ${when} on ${what}: ${u.restored.join(', ')}`);
  else parts.push(`nothing reverted ${when} on ${what}`);
  if (u.leftAlone.length > 0) parts.push(`left alone, changed by someone else since: ${u.leftAlone.join('; ')}`);
  return parts.join('; ');
}

/** The command that undoes a recorded change now, for outcome messages. */
export function revertCommand(kind: ChangedKind | 'NetworkPolicy', name: string, namespace: string | undefined, id?: string): string {
  return `kubectl talon revert ${kind.toLowerCase()}/${name}${namespace ? ` -n ${namespace}` : ''}${id ? ` --id ${id}` : ''}`;
}
