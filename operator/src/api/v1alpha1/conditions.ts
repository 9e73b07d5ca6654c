/**
 * Condition types and the catalogue of condition reasons for TalonRule and TalonAction status,
 * plus the pure helpers that keep `lastTransitionTime` stable and let callers patch status only
 * when something changed (cert-manager style).
 */
import { clip } from '../../lib/clip.js';
import { STATUS_MAX_LENGTH, type Condition, type ConditionStatus } from './types.js';

export const ConditionType = {
  /** The spec is valid: schema, match, actionners, parameters, scope. */
  Accepted: 'Accepted',
  /** Every referenced TalonAction exists and is itself valid (TalonRule only). */
  ResolvedRefs: 'ResolvedRefs',
  /** TalonRule: Accepted, ResolvedRefs and loaded in the index. TalonAction: Accepted. */
  Ready: 'Ready',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  // Accepted=True / Ready=True (TalonAction)
  Valid: 'Valid',
  // Accepted=False
  InvalidSpec: 'InvalidSpec',
  InvalidMatch: 'InvalidMatch',
  UnknownActionner: 'UnknownActionner',
  InvalidParameters: 'InvalidParameters',
  InvalidOutput: 'InvalidOutput',
  /** A rule names a notifier instance the operator config does not define. */
  UnknownNotifier: 'UnknownNotifier',
  ScopeNotAllowed: 'ScopeNotAllowed',
  // ResolvedRefs
  Resolved: 'Resolved',
  ActionNotFound: 'ActionNotFound',
  ActionNotReady: 'ActionNotReady',
  // Ready (TalonRule)
  Loaded: 'Loaded',
  NotAccepted: 'NotAccepted',
  RefsNotResolved: 'RefsNotResolved',
  /** An actionner the rule uses could not start (its `init` failed, e.g. bad credentials); retried. */
  ActionnerInitFailed: 'ActionnerInitFailed',
  // Any condition, before the first reconcile finished
  Pending: 'Pending',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** A condition's content, without `type` and `lastTransitionTime`. */
export interface ConditionState {
  readonly status: ConditionStatus;
  readonly reason: Reason;
  readonly message: string;
}

/** A condition to set; `lastTransitionTime` is decided by setCondition. */
export interface NewCondition extends ConditionState {
  readonly type: ConditionType;
  readonly observedGeneration?: number;
}

/**
 * Returns `conditions` with `next` set (replacing any condition of the same type, appended
 * otherwise). `lastTransitionTime` is kept when the status is unchanged and set to `now`
 * when the status flips or the condition is new. The input is not modified; when nothing
 * changes the returned array holds equal items, so conditionsEqual(input, output) is true.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: NewCondition,
  now: Date | string,
): Condition[] {
  const list = conditions ?? [];
  const prev = list.find((c) => c.type === next.type);
  const lastTransitionTime =
    prev !== undefined && prev.status === next.status ? prev.lastTransitionTime : toRfc3339(now);
  const cond: Condition = {
    type: next.type,
    status: next.status,
    reason: clip(next.reason, STATUS_MAX_LENGTH.conditionReason),
    message: clip(next.message, STATUS_MAX_LENGTH.conditionMessage),
    ...(next.observedGeneration !== undefined ? { observedGeneration: next.observedGeneration } : {}),
    lastTransitionTime,
  };
  return prev === undefined ? [...list, cond] : list.map((c) => (c === prev ? cond : c));
}

/** The condition of `type`, if present. */
export function findCondition(conditions: readonly Condition[] | undefined, type: ConditionType): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: ConditionType): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * Whether two condition lists say the same thing: same set of types, and for each type the same
 * status, reason, message, observedGeneration and lastTransitionTime. Order does not matter.
 */
export function conditionsEqual(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  return x.every((c) => {
    const d = y.find((e) => e.type === c.type);
    return (
      d !== undefined &&
      d.status === c.status &&
      d.reason === c.reason &&
      d.message === c.message &&
      d.observedGeneration === c.observedGeneration &&
      d.lastTransitionTime === c.lastTransitionTime
    );
  });
}

/** RFC 3339 at second precision, as metav1.Time serialises. */
function toRfc3339(now: Date | string): string {
  const d = typeof now === 'string' ? new Date(now) : now;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
