/**
 * What the dispatcher hands its outcomes to. Fixed sinks (rule status, outcome metrics) and
 * the notifier router implement OutcomeSink; none may throw or block: anything slow (API
 * writes, HTTP notifications) is queued and done asynchronously.
 */
import type { Outcome, RuleRef, SuppressReason } from '../api/v1alpha1/outcome.js';
import type { FalcoEvent } from '../falco/event.js';

export interface OutcomeSink {
  record(outcome: Outcome): void;
  /** A rule matched an alert (counted once per rule and alert, suspended or not). */
  matched(rule: RuleRef, ev: FalcoEvent): void;
  /** A match that produced no action run. */
  suppressed(rule: RuleRef, ev: FalcoEvent, why: SuppressReason): void;
}

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
