/**
 * The outcome of one action run (DESIGN.md §5) and the port the dispatcher hands it to.
 *
 * The dispatcher produces exactly one Outcome per action it considers (run, dry-run or
 * skipped) and calls the sink once for it; status, Events, notifiers and metrics are sinks.
 */
import type { Artifact, ObjectRef } from '../actionners/types.js';
import type { FalcoEvent } from './event.js';
import type { LogPort } from '../observability/logger.js';

export type OutcomeResult = 'Succeeded' | 'Failed' | 'Skipped' | 'DryRun';

/**
 * The object an alert is about. `kind` is a Kubernetes kind (`Pod`, `Node`, `ConfigMap`, …) or
 * `None` when the alert names no object; `namespace` is absent for cluster-scoped objects.
 * `uid` is set when an actionner reported it (Events need it to show in `kubectl describe`).
 */
export interface OutcomeTarget {
  readonly apiVersion?: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly uid?: string;
}

/** The TalonRule an outcome or a match belongs to. CompiledRule satisfies it. */
export interface RuleRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export interface Outcome {
  /** RFC 3339 time the action finished (or was skipped). */
  readonly time: string;
  readonly traceId: string;
  readonly rule: RuleRef;
  /** The action's name within the rule. */
  readonly action: string;
  /** `category:name`. */
  readonly actionner: string;
  readonly target: OutcomeTarget;
  readonly result: OutcomeResult;
  /** CamelCase, from a small stable vocabulary (Terminated, BudgetExceeded, OutOfScope, Timeout, …). */
  readonly reason: string;
  readonly message: string;
  /** Wall time spent running the action, retries included; 0 when it did not run. */
  readonly durationMs: number;
  /** From the webhook accepting the alert to the start of this action. */
  readonly ingestToActionMs: number;
  readonly objects: readonly ObjectRef[];
  readonly artifact?: Artifact;
  /** Falco rule name of the alert. */
  readonly falcoRule: string;
  readonly priority: string;
  /** How many later identical matches were merged into this work item while it was pending. */
  readonly merged: number;
}

/** Why a match produced no work item: cooldown window, merged into a pending item. */
export type SuppressReason = 'Cooldown' | 'Merged';

/**
 * Receives what the dispatcher decided. Implementations must not throw and must not block:
 * anything slow (API writes, HTTP notifications) is queued and done asynchronously.
 */
export interface OutcomeSink {
  record(outcome: Outcome): void;
  /** A rule matched an alert (counted once per rule and alert, suspended or not). */
  matched(rule: RuleRef, ev: FalcoEvent): void;
  /** A match that produced no action run. */
  suppressed(rule: RuleRef, ev: FalcoEvent, why: SuppressReason): void;
}

/** Structured logger port (defined with the logger factory). */
export type { LogPort };

export const silentLog: LogPort = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * One sink that forwards to several. A sink that throws is reported through `onError` and
 * never prevents the others from receiving the call.
 */
export function fanOutSinks(sinks: readonly OutcomeSink[], onError: (err: unknown, method: string) => void = () => undefined): OutcomeSink {
  const each = (method: string, call: (s: OutcomeSink) => void): void => {
    for (const s of sinks) {
      try {
        call(s);
      } catch (err) {
        onError(err, method);
      }
    }
  };
  return {
    record: (o) => each('record', (s) => s.record(o)),
    matched: (r, ev) => each('matched', (s) => s.matched(r, ev)),
    suppressed: (r, ev, why) => each('suppressed', (s) => s.suppressed(r, ev, why)),
  };
}

/** Whether an outcome deserves a Warning rather than a Normal Event. */
export function isWarning(o: Pick<Outcome, 'result' | 'reason'>): boolean {
  return o.result === 'Failed' || o.reason === 'BudgetExceeded' || o.reason === 'QueueFull';
}
