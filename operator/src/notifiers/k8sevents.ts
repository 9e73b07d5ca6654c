/**
 * The `k8sevents` notifier (DESIGN.md §5): for each outcome one Event regarding the target
 * object (related: the rule) and one regarding the rule (related: the target; the only one
 * when the alert names no object). reason = result, action = actionner, note = message,
 * type Warning for failures and BudgetExceeded/QueueFull. Series and rate limits are the
 * EventRecorder's: `notify` hands the Events to it and returns, so it never waits on the API.
 *
 * An instance named `k8sevents` exists unless the config defines one with that name, and is
 * a default notifier unless `defaultNotifiers` says otherwise (`[]`: no Events at all).
 */
import { Type } from '@sinclair/typebox';
import { GROUP, VERSION } from '../api/v1alpha1/types.js';
import { isWarning, type Outcome, type OutcomeTarget } from '../api/v1alpha1/outcome.js';
import { NOTE_MAX, type EventObjectReference, type EventRecorder } from '../kube/event-recorder.js';
import type { Notifier } from './types.js';

const RULE_API_VERSION = `${GROUP}/${VERSION}`;

// Both references are built by assignment: conditional object spreads here were 2 % of a
// matched alert's CPU in the issue-15 profile (every outcome builds two).
function targetRef(t: OutcomeTarget): EventObjectReference | undefined {
  if (t.kind === 'None' || t.name === '') return undefined;
  const ref: { -readonly [K in keyof EventObjectReference]: EventObjectReference[K] } = { kind: t.kind, name: t.name };
  if (t.apiVersion !== undefined) ref.apiVersion = t.apiVersion;
  if (t.namespace !== undefined) ref.namespace = t.namespace;
  if (t.uid !== undefined) ref.uid = t.uid;
  return ref;
}

/** The Event reference of the rule an outcome belongs to. */
export function ruleRefOf(o: Pick<Outcome, 'rule'>): EventObjectReference {
  const r = o.rule;
  const ref: { -readonly [K in keyof EventObjectReference]: EventObjectReference[K] } = { apiVersion: RULE_API_VERSION, kind: r.kind ?? 'TalonRule', name: r.name };
  if (r.namespace !== '') ref.namespace = r.namespace;
  if (r.uid) ref.uid = r.uid;
  return ref;
}

/** Writes the Events of one outcome through `recorder`; never blocks, never throws. */
export function recordOutcomeEvents(recorder: EventRecorder, o: Outcome): void {
  const rule = ruleRefOf(o);
  const target = targetRef(o.target);
  const note = o.message.length > NOTE_MAX ? `${o.message.slice(0, NOTE_MAX - 1)}…` : o.message;
  const type = isWarning(o) ? ('Warning' as const) : ('Normal' as const);
  // Beyond the Event budget, both sides are aggregated on the rule (one Event per rule and reason, not one per pod).
  if (target !== undefined) recorder.emit(target, rule, note, { reason: o.result, action: o.actionner, type, traceId: o.traceId, aggregateOn: 'related' });
  // The rule's Event names the target first; the target is its related object, so the series' shape is the note's alone.
  recorder.emit(rule, target, note, { reason: o.result, action: o.actionner, type, traceId: o.traceId, prefixRelated: true });
}

export const k8sEventsNotifier: Notifier<Readonly<Record<string, never>>, EventRecorder> = {
  type: 'k8sevents',
  description: 'Kubernetes Events regarding the target object and regarding the rule (aggregated into series, rate-limited per object)',
  configSchema: Type.Object({}, { additionalProperties: false }),
  init: (_config, deps) => deps.events,
  notify: async (outcome, ctx) => recordOutcomeEvents(ctx.state, outcome),
  notifyNow: (outcome, ctx) => recordOutcomeEvents(ctx.state, outcome),
};
