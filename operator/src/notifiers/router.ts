/**
 * The notifier router: the OutcomeSink that delivers outcomes to the optional notifiers
 * (DESIGN.md §5, STYLE.md "Contracts").
 *
 * Per outcome the targets are the configured `defaultNotifiers` ∪ the rule's `notifiers`
 * (deduplicated). `record` only appends the outcome to each target's queue and returns: it
 * never waits on a notifier. Each configured instance has its own lane:
 * - a bounded queue (`queueSize`): when it is full the outcome is dropped for that instance
 *   only, counted (`talon_notifications_total{result="dropped"}`) and logged, rate-limited;
 * - at most `concurrency` calls in flight, so a slow instance never delays another;
 * - each call under its own timeout (`timeoutMs`), through the AbortSignal it gets; a call
 *   that ignores its signal is abandoned at the timeout;
 * - failed calls retried at most `retries` times with exponential backoff and full jitter,
 *   unless the notifier rejected with a TalonError that is not retryable (a 4xx answer);
 *   a TalonError's `retryAfterMs` (429/503 `Retry-After`) is honoured as the least delay,
 *   capped at `retryAfterMaxMs`;
 * - per-instance filters: `results` (which outcome results it gets) and `dryRun` (false:
 *   no DryRun outcomes); a filtered outcome is not queued and not counted.
 * Every delivery ends as `sent` or `failed` (or `dropped`), counted by instance name; the
 * time from its first attempt to its end goes to `talon_notification_duration_seconds`.
 * `close(deadlineMs)` stops intake and waits for the queues to drain; at the deadline it
 * aborts what is still running and drops what is still queued.
 */
import { TalonError } from '../errors.js';
import { Backoff } from '../lib/backoff.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { sleep } from '../lib/sleep.js';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import type { Metrics, NotificationResultLabel } from '../observability/metrics.js';
import type { NotifierCall, NotifierEndpoint } from './registry.js';
import type { OutcomeRoute, OutcomeSink } from './types.js';
import { performance } from 'node:perf_hooks';

export interface RouterOptions {
  readonly endpoints: readonly NotifierEndpoint[];
  /** Instance names every outcome goes to (the config's `defaultNotifiers`). */
  readonly defaults: readonly string[];
  readonly metrics?: Pick<Metrics, 'notifications'> & Partial<Pick<Metrics, 'notificationDuration' | 'hot'>>;
  readonly log?: LogPort;
  /** Bound of the first retry delay, ms (default 500). */
  readonly retryBaseMs?: number;
  /** Bound of any retry delay, ms (default 10 s). */
  readonly retryMaxMs?: number;
  /** Cap of a server-requested delay (Retry-After), ms (default 30 s). */
  readonly retryAfterMaxMs?: number;
  readonly random?: () => number;
  /** Clock for log rate limits, ms (default Date.now). */
  readonly now?: () => number;
  /** Least time between two warnings of one kind for one instance, ms (default 10 s). */
  readonly logIntervalMs?: number;
  /** Told when a delivery ends (tracing): instance, result, wall-clock start and end in ms. */
  readonly onDelivered?: (o: Outcome, notifier: string, result: 'sent' | 'failed', startedMs: number, endedMs: number) => void;
}

class NotifyTimeout extends Error {
  constructor(ms: number) {
    super(`the notifier did not answer within ${ms} ms`);
    this.name = 'NotifyTimeout';
  }
}

class RouterClosed extends Error {
  constructor() {
    super('the notifier router is shutting down');
    this.name = 'RouterClosed';
  }
}

/** One warning per key per interval; what was held back is counted into the next one. */
class LimitedWarnings {
  private readonly last = new Map<string, { at: number; held: number }>();
  constructor(
    private readonly log: LogPort,
    private readonly now: () => number,
    private readonly intervalMs: number,
  ) {}

  warn(key: string, message: string, fields: Record<string, unknown>): void {
    const t = this.now();
    const s = this.last.get(key);
    if (s !== undefined && t - s.at < this.intervalMs) {
      s.held += 1;
      return;
    }
    this.log.warn(message, { ...fields, ...(s !== undefined && s.held > 0 ? { suppressedSinceLast: s.held } : {}) });
    this.last.set(key, { at: t, held: 0 });
  }
}

const isTerminal = (err: unknown): boolean => err instanceof TalonError && !err.retryable;
/** The delay a server asked for (TalonError.retryAfterMs), capped; 0 when none. */
const retryAfterOf = (err: unknown, capMs: number): number =>
  err instanceof TalonError && err.retryAfterMs !== undefined ? Math.min(Math.max(0, err.retryAfterMs), capMs) : 0;
const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** One call's abort state; its AbortController is made only if the notifier reads `signal`. */
class Call implements NotifierCall {
  private ac: AbortController | undefined;
  private reason: unknown;
  private aborted = false;

  get signal(): AbortSignal {
    if (this.ac === undefined) {
      this.ac = new AbortController();
      if (this.aborted) this.ac.abort(this.reason);
    }
    return this.ac.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.ac?.abort(reason);
  }
}

/**
 * One instance's deliveries. Per call: one timer and one promise that the call's end, its
 * timeout and the router's stop settle (no per-call listener on a shared signal, no wrapper
 * promise around the call); an AbortSignal only if the notifier reads it.
 */
class Lane {
  private readonly queue: Outcome[] = [];
  private running = 0;
  private scheduled = false;
  private readonly waiters: (() => void)[] = [];
  /** Set by the router's close(): new outcomes are dropped. */
  private closed = false;
  /** Why the router gave up at its close deadline; undefined until then. */
  private stopReason: RouterClosed | undefined;
  /** The calls in flight, each by the function that aborts it. */
  private readonly inFlight = new Set<(reason: unknown) => void>();
  /** Aborts the backoff sleeps between attempts at stop(). */
  private readonly wakeSleepers = new AbortController();

  constructor(
    readonly ep: NotifierEndpoint,
    private readonly count: (result: NotificationResultLabel) => void,
    private readonly warnings: LimitedWarnings,
    private readonly backoff: () => Backoff,
    private readonly retryAfterMaxMs: number,
    private readonly observe: (seconds: number) => void,
    private readonly onDelivered?: RouterOptions['onDelivered'],
  ) {}

  /** Whether this instance takes an outcome with that result (its `results` and `dryRun` filters). */
  wants(o: Outcome): boolean {
    if (o.result === 'DryRun' && this.ep.dryRun === false) return false;
    return this.ep.results === undefined || this.ep.results.includes(o.result);
  }

  /** Queues one outcome; false when the queue is full (the outcome is dropped for this lane). */
  offer(o: Outcome): boolean {
    if (this.ep.sendNow !== undefined && !this.closed) {
      this.deliverNow(this.ep.sendNow, o);
      return true;
    }
    if (this.closed || this.queue.length >= this.ep.queueSize) {
      this.count('dropped');
      this.warnings.warn(`dropped:${this.ep.name}`, 'notification dropped', {
        notifier: this.ep.name,
        why: this.closed ? 'shutting down' : 'queue full',
        queueSize: this.ep.queueSize,
        trace_id: o.traceId,
      });
      return false;
    }
    this.queue.push(o);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.pump();
      });
    }
    return true;
  }

  /** Queued plus running deliveries. */
  pending(): number {
    return this.queue.length + this.running;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.pending() === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Refuses new outcomes from now on; what is queued still goes out. */
  closeIntake(): void {
    this.closed = true;
  }

  /** Drops what is queued and aborts what is running (each ends `failed`). */
  stop(): void {
    this.closed = true;
    this.stopReason ??= new RouterClosed();
    for (const abort of [...this.inFlight]) abort(this.stopReason);
    this.wakeSleepers.abort(this.stopReason);
    const left = this.queue.splice(0);
    for (let i = 0; i < left.length; i++) this.count('dropped');
    if (left.length > 0) this.warnings.warn(`dropped:${this.ep.name}`, 'notification dropped', { notifier: this.ep.name, why: 'shutting down', dropped: left.length });
    this.settle();
  }

  private pump(): void {
    while (this.running < this.ep.concurrency && this.queue.length > 0) {
      this.running += 1;
      void this.deliver(this.queue.shift()!);
    }
  }

  private settle(): void {
    if (this.pending() > 0) return;
    for (const w of this.waiters.splice(0)) w();
  }

  /** A `notifyNow` delivery, in the caller's turn: counted and observed like any other. Never throws. */
  private deliverNow(sendNow: (o: Outcome) => void, o: Outcome): void {
    const started = performance.now();
    const startedWall = this.onDelivered ? Date.now() : 0;
    let result: 'sent' | 'failed' = 'sent';
    try {
      sendNow(o);
    } catch (err) {
      result = 'failed';
      this.warnings.warn(`failed:${this.ep.name}`, 'notification failed', {
        notifier: this.ep.name,
        type: this.ep.type,
        attempts: 1,
        rule: `${o.rule.namespace}/${o.rule.name}`,
        action: o.action,
        trace_id: o.traceId,
        error: errorText(err),
      });
    }
    this.count(result);
    this.observe((performance.now() - started) / 1000);
    this.onDelivered?.(o, this.ep.name, result, startedWall, Date.now());
  }

  /** One delivery with its retries; frees its slot and starts the next at the end. Never rejects. */
  private async deliver(o: Outcome): Promise<void> {
    const started = performance.now();
    const startedWall = this.onDelivered ? Date.now() : 0;
    let result: 'sent' | 'failed' = 'failed';
    let backoff: Backoff | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        const err = await this.attempt(o);
        if (err === undefined) {
          result = 'sent';
          return;
        }
        const last = this.stopReason !== undefined || attempt >= this.ep.retries || isTerminal(err);
        if (!last) {
          backoff ??= this.backoff();
          try {
            await sleep(Math.max(backoff.next(), retryAfterOf(err, this.retryAfterMaxMs)), this.wakeSleepers.signal);
            continue;
          } catch {
            // closing: give up below
          }
        }
        this.warnings.warn(`failed:${this.ep.name}`, 'notification failed', {
          notifier: this.ep.name,
          type: this.ep.type,
          attempts: attempt + 1,
          rule: `${o.rule.namespace}/${o.rule.name}`,
          action: o.action,
          trace_id: o.traceId,
          error: errorText(err),
        });
        return;
      }
    } finally {
      this.count(result);
      this.observe((performance.now() - started) / 1000);
      this.onDelivered?.(o, this.ep.name, result, startedWall, Date.now());
      this.running -= 1;
      this.pump();
      this.settle();
    }
  }

  /**
   * One call under its timeout and the router's stop: the error (the timeout's or the stop's
   * when either came first), or undefined on success. A call that ignores its signal is
   * walked away from at the timeout. Never rejects.
   */
  private attempt(o: Outcome): Promise<unknown> {
    if (this.stopReason !== undefined) return Promise.resolve(this.stopReason);
    return new Promise<unknown>((resolve) => {
      const callState = new Call();
      let settled = false;
      const finish = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(abort);
        resolve(err);
      };
      const abort = (reason: unknown): void => {
        callState.abort(reason);
        finish(reason);
      };
      const timeoutMs = this.ep.timeoutMs;
      const timer = setTimeout(() => abort(new NotifyTimeout(timeoutMs)), timeoutMs);
      this.inFlight.add(abort);
      let call: Promise<void>;
      try {
        // Promise.resolve: a notifier that returns no promise still ends the call.
        call = Promise.resolve(this.ep.send(o, callState));
      } catch (err) {
        finish(err);
        return;
      }
      call.then(
        () => finish(undefined),
        (err: unknown) => finish(err),
      );
    });
  }
}

export class NotifierRouter implements OutcomeSink {
  private readonly lanes: ReadonlyMap<string, Lane>;
  private readonly defaults: readonly string[];
  private readonly warnings: LimitedWarnings;
  private closing: Promise<void> | undefined;

  /** Throws when a default names no configured instance (the config loader prevents it). */
  constructor(opts: RouterOptions) {
    const log = opts.log ?? silentLog;
    this.warnings = new LimitedWarnings(log, opts.now ?? Date.now, opts.logIntervalMs ?? 10_000);
    const baseMs = Math.max(1, opts.retryBaseMs ?? 500);
    const maxMs = Math.max(baseMs, opts.retryMaxMs ?? 10_000);
    const backoff = () => new Backoff({ initialMs: baseMs, maxMs, ...(opts.random ? { random: opts.random } : {}) });
    const lanes = new Map<string, Lane>();
    for (const ep of opts.endpoints) {
      if (lanes.has(ep.name)) throw new Error(`notifier instance '${ep.name}' is configured twice`);
      // Counter cells and label sets made once per instance, not per delivery.
      const m = opts.metrics;
      const cell = (result: NotificationResultLabel): (() => void) => {
        const labels = { notifier: ep.name, result };
        if (m?.hot) return m.hot.notifications.cell(labels).inc;
        return () => m?.notifications.inc(labels);
      };
      const results: Readonly<Record<NotificationResultLabel, () => void>> = { sent: cell('sent'), failed: cell('failed'), dropped: cell('dropped') };
      const instance = { notifier: ep.name };
      const count = (result: NotificationResultLabel): void => results[result]();
      const observe = (seconds: number): void => opts.metrics?.notificationDuration?.observe(instance, seconds);
      lanes.set(ep.name, new Lane(ep, count, this.warnings, backoff, Math.max(0, opts.retryAfterMaxMs ?? 30_000), observe, opts.onDelivered));
    }
    for (const d of opts.defaults) {
      if (!lanes.has(d)) throw new Error(`default notifier '${d}' is not a configured instance (configured: ${[...lanes.keys()].join(', ') || 'none'})`);
    }
    this.lanes = lanes;
    this.defaults = Object.freeze([...new Set(opts.defaults)]);
  }

  /** The instances an outcome of a rule naming `ruleNotifiers` goes to: defaults first, no duplicates. */
  targets(ruleNotifiers: readonly string[] = []): readonly string[] {
    // Most rules name no notifier of their own: their outcomes go to the defaults, no copy made.
    if (ruleNotifiers.length === 0) return this.defaults;
    return [...new Set([...this.defaults, ...ruleNotifiers])];
  }

  /** Queues the outcome for each target instance and returns; never blocks, never throws. */
  record(outcome: Outcome, route?: OutcomeRoute): void {
    for (const name of this.targets(route?.notifiers)) {
      const lane = this.lanes.get(name);
      if (lane === undefined) {
        this.warnings.warn(`unknown:${name}`, 'notification to an unknown notifier', { notifier: name, rule: `${outcome.rule.namespace}/${outcome.rule.name}` });
        continue;
      }
      if (lane.wants(outcome)) lane.offer(outcome);
    }
  }

  matched(): void {}

  suppressed(): void {}

  /** Deliveries queued or running, over all instances. */
  pending(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.pending();
    return n;
  }

  /** Resolves when every instance (or just `name`) has nothing queued or running. */
  async idle(name?: string): Promise<void> {
    const lanes = name === undefined ? [...this.lanes.values()] : [this.lanes.get(name)].filter((l): l is Lane => l !== undefined);
    await Promise.all(lanes.map((l) => l.idle()));
  }

  /**
   * Stops taking outcomes and flushes: resolves once every queue is empty, or at `deadlineMs`
   * after aborting what still runs and dropping what is still queued. Idempotent.
   */
  close(deadlineMs = 5_000): Promise<void> {
    this.closing ??= (async () => {
      const lanes = [...this.lanes.values()];
      for (const l of lanes) l.closeIntake();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'deadline'>((resolve) => {
        timer = setTimeout(() => resolve('deadline'), deadlineMs);
      });
      const drained = Promise.all(lanes.map((l) => l.idle())).then(() => 'drained' as const);
      const first = await Promise.race([drained, deadline]);
      clearTimeout(timer);
      for (const l of lanes) l.stop();
      if (first === 'deadline') await drained;
    })();
    return this.closing;
  }
}

