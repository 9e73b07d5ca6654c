/**
 * The outcome seams (STYLE.md "Contracts", DESIGN.md §5).
 *
 * - `OutcomeSink`: what the dispatcher hands every outcome, match and suppression to. The
 *   fixed sinks (rule status, outcome metrics) and the notifier router implement it; none may
 *   throw or block: anything slow (API writes, HTTP notifications) is queued and done
 *   asynchronously.
 * - `Notifier`: the plug-in contract of one notifier type (`k8sevents`, later `slack`, …),
 *   listed once in `notifiers/index.ts`. The operator config declares instances of a type
 *   (`notifiers.<name>: {type, …}`); the router delivers each outcome to the instances the
 *   rule names plus the default ones, each on its own bounded queue with a timeout and
 *   bounded retries. A notifier never changes an action's result and never delays an action.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Outcome, RuleRef, SuppressReason } from '../api/v1alpha1/outcome.js';
import type { FalcoEvent } from '../falco/event.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import type { LogPort } from '../lib/log.js';

/** How an outcome is routed beyond the fixed sinks. */
export interface OutcomeRoute {
  /** The rule's own notifier instances; the router adds the configured defaults. */
  readonly notifiers: readonly string[];
}

export interface OutcomeSink {
  /** One outcome; `route` says which optional notifiers it goes to (fixed sinks ignore it). */
  record(outcome: Outcome, route?: OutcomeRoute): void;
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
    record: (o, route) => each('record', (s) => s.record(o, route)),
    matched: (r, ev) => each('matched', (s) => s.matched(r, ev)),
    suppressed: (r, ev, why) => each('suppressed', (s) => s.suppressed(r, ev, why)),
  };
}

/** What a notifier may use, injected by main.ts (no module globals). */
export interface NotifierDeps {
  readonly log: LogPort;
  /** The operator's Kubernetes Event recorder (series and rate limits are its own). */
  readonly events: EventRecorder;
}

export type NotifierConfig = Readonly<Record<string, unknown>>;

/** What one `notify` call gets besides the outcome. */
export interface NotifyContext<C = NotifierConfig, S = unknown> {
  /** Aborted at the per-call timeout or when the router gives up at shutdown. */
  readonly signal: AbortSignal;
  /** The configured instance's name (e.g. `slack-security`). */
  readonly instance: string;
  /** The instance's config, validated against `configSchema`, defaulted and frozen. */
  readonly config: C;
  /** What `init` returned for this instance (undefined without `init`). */
  readonly state: S;
}

/**
 * A notifier type. It is stateless itself: everything per instance comes in `ctx` (config
 * and what `init` built), so two instances of one type (two Slack channels) never share state.
 */
export interface Notifier<C = NotifierConfig, S = unknown> {
  /** The `type` instances name in the operator config, lower-case, e.g. `k8sevents`, `slack`. */
  readonly type: string;
  readonly description: string;
  /**
   * TypeBox schema of an instance's settings (everything beside the router's own keys:
   * `type`, `timeout`, `retries`, `queueSize`, `concurrency`): a closed object whose
   * defaults are declared. Validated when the config is loaded, every error reported.
   */
  readonly configSchema: TSchema;
  /**
   * Optional, once per configured instance before the operator starts: builds what `notify`
   * needs (clients, compiled templates). Throwing stops the start-up with a message naming
   * the instance.
   */
  init?(config: C, deps: NotifierDeps): S | Promise<S>;
  /**
   * Delivers one outcome. Honours `ctx.signal`. Resolves when delivered; rejects on failure,
   * and the router retries unless the error is a TerminalError (`errors.ts`). Never changes
   * the outcome.
   */
  notify(outcome: Outcome, ctx: NotifyContext<C, S>): Promise<void>;
  /**
   * Optional, for a notifier that hands the outcome over without waiting on anything (k8sevents
   * gives it to the Event recorder): the router calls this instead of `notify`, in the caller's
   * turn, with no queue, timeout or retry, and counts it sent when it returns (failed when it
   * throws). `ctx.signal` is never aborted. Spares each outcome the queue, timer and promises a
   * delivery that can wait needs (issue 15: 3 % of a matched alert's CPU, 8 % of its allocations).
   */
  notifyNow?(outcome: Outcome, ctx: NotifyContext<C, S>): void;
}
