/**
 * The reporter (cert-manager style): the one component that writes an object's status
 * conditions and the Event that goes with them, so `kubectl describe` tells the same story as
 * `status.conditions`.
 *
 * Status: `observedGeneration` and the conditions are patched only when they differ from what
 * the object already says (our own writes never wake our own watch with a no-op).
 *
 * Events, regarding the object itself:
 * - Warning when it is rejected — Ready is not True because a rejecting condition (Accepted or
 *   ResolvedRefs) is False: reason = that condition's reason (e.g. InvalidParameters,
 *   ScopeNotAllowed, ActionNotFound), note = its message;
 * - Normal when it becomes Ready again after having been rejected: reason = Ready's reason,
 *   note = Ready's message;
 * - nothing else: an Event is written only when the rejection flips or its condition, reason
 *   or message changes — not on every reconcile, nor on an operator restart (the stored status
 *   already says it), nor on a first Ready.
 * The state last reported per object (by uid) is remembered, bounded, so a reconcile that runs
 * again before the cache holds our status write does not repeat an Event.
 */
import type { Condition } from '../api/v1alpha1/types.js';
import { API_VERSION } from '../api/v1alpha1/types.js';
import { ConditionType, conditionsEqual, findCondition } from '../api/v1alpha1/conditions.js';
import type { EventKind, EventObjectReference } from '../kube/event-recorder.js';

/** Merge-patches an object's status subresource; throws on failure. */
export interface StatusPatcher<K extends string> {
  patch(kind: K, namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
}

/** Where Events go: the generic recorder of kube/event-recorder.ts. Never throws. */
export interface ConditionEventSink {
  emit(regarding: EventObjectReference, related: EventObjectReference | undefined, note: string, kind: EventKind): void;
}

/** What the reporter reads of an object (TalonRule, TalonAction, and their cluster kinds). */
export interface ReportedObject {
  readonly apiVersion?: string;
  readonly metadata?: { readonly namespace?: string; readonly name?: string; readonly uid?: string; readonly generation?: number };
  readonly status?: { readonly observedGeneration?: number; readonly conditions?: readonly Condition[] };
}

export interface ReporterDeps<K extends string> {
  readonly status: StatusPatcher<K>;
  /** Absent: conditions only, no Events. */
  readonly events?: ConditionEventSink;
  /** Condition types whose False status means the object was rejected (default Accepted, ResolvedRefs). */
  readonly rejecting?: readonly string[];
  /** Objects whose last reported state is remembered (default 10,000; the oldest is forgotten first). */
  readonly maxRemembered?: number;
}

/** The Event `action` of reporter Events. */
export const REPORTER_ACTION = 'Reconcile';

type State = { readonly kind: 'ready'; readonly ready: Condition } | { readonly kind: 'rejected'; readonly cause: Condition } | { readonly kind: 'other' };

export class Reporter<K extends string = string> {
  private readonly status: StatusPatcher<K>;
  private readonly events: ConditionEventSink | undefined;
  private readonly rejecting: readonly string[];
  private readonly max: number;
  /** Object key → signature of the state last reported. */
  private readonly reported = new Map<string, string>();

  constructor(deps: ReporterDeps<K>) {
    this.status = deps.status;
    this.events = deps.events;
    this.rejecting = deps.rejecting ?? [ConditionType.Accepted, ConditionType.ResolvedRefs];
    this.max = Math.max(1, deps.maxRemembered ?? 10_000);
  }

  /**
   * Sets the status of `obj` (of `kind`) to `conditions` and `observedGeneration` = its
   * generation, unless it already says so, then records the Event the change calls for.
   * Throws what the status write throws; the Event is then not recorded (the retry will).
   */
  async setConditions(kind: K, obj: ReportedObject, conditions: readonly Condition[]): Promise<void> {
    const namespace = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const generation = obj.metadata?.generation ?? 0;
    const current = obj.status;
    if (current?.observedGeneration === generation && conditionsEqual(current.conditions ?? [], conditions)) return;
    await this.status.patch(kind, namespace, name, { observedGeneration: generation, conditions });
    this.report(kind, obj, current?.conditions, conditions);
  }

  private report(kind: K, obj: ReportedObject, before: readonly Condition[] | undefined, after: readonly Condition[]): void {
    const key = obj.metadata?.uid ?? `${kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    const next = this.stateOf(after);
    const nextSig = signature(next);
    const lastSig = this.reported.get(key) ?? signature(this.stateOf(before));
    this.remember(key, nextSig);
    if (this.events === undefined || nextSig === lastSig) return;
    const regarding = referenceOf(kind, obj);
    if (next.kind === 'rejected') {
      this.events.emit(regarding, undefined, next.cause.message, { reason: next.cause.reason, action: REPORTER_ACTION, type: 'Warning' });
    } else if (next.kind === 'ready' && lastSig.startsWith('rejected')) {
      const note = next.ready.message !== '' ? next.ready.message : `${kind} ${regarding.name} is ready`;
      this.events.emit(regarding, undefined, note, { reason: next.ready.reason, action: REPORTER_ACTION, type: 'Normal' });
    }
  }

  private stateOf(conditions: readonly Condition[] | undefined): State {
    const ready = findCondition(conditions, ConditionType.Ready);
    if (ready?.status === 'True') return { kind: 'ready', ready };
    for (const type of this.rejecting) {
      const c = conditions?.find((x) => x.type === type);
      if (c?.status === 'False') return { kind: 'rejected', cause: c };
    }
    return { kind: 'other' };
  }

  private remember(key: string, sig: string): void {
    this.reported.delete(key);
    this.reported.set(key, sig);
    if (this.reported.size > this.max) this.reported.delete(this.reported.keys().next().value as string);
  }
}

function signature(s: State): string {
  return s.kind === 'rejected' ? `rejected\u0000${s.cause.type}\u0000${s.cause.reason}\u0000${s.cause.message}` : s.kind;
}

function referenceOf(kind: string, obj: ReportedObject): EventObjectReference {
  const namespace = obj.metadata?.namespace ?? '';
  const uid = obj.metadata?.uid;
  return {
    apiVersion: obj.apiVersion ?? API_VERSION,
    kind,
    ...(namespace !== '' ? { namespace } : {}),
    name: obj.metadata?.name ?? '',
    ...(uid !== undefined && uid !== '' ? { uid } : {}),
  };
}
