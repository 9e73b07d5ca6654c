/**
 * A level-based reconcile queue with controller-runtime's contract: keys, not events.
 *
 * `reconcile(key, signal)` converges one key and says what comes next:
 * - it resolves with nothing (or `{}`): done until the key is added again;
 * - it resolves with `{requeueAfter: ms}` (ms > 0): the key is reconciled again after `ms`
 *   (a re-check later), unless something adds it sooner;
 * - it throws a `TerminalError` (errors.ts): retrying cannot help. The error goes to
 *   `onTerminal` once and the key waits for its next `add` (a change of the object, a
 *   resync) — no backoff loop;
 * - it throws anything else: the error goes to `onError` and the key is retried with per-key
 *   exponential backoff and jitter (delay in [d/2, d] with d = base·2^(n-1) capped at max,
 *   n the consecutive failures; a success or a terminal error resets n).
 *
 * Coalescing: a key added while queued (or twice in one synchronous burst) is queued once; a key added while being reconciled is
 * reconciled once more afterwards (never two reconciles of one key at once, and then no
 * retry or requeue is scheduled for the finished run — the next run decides). A key has at most
 * one pending timer, retry or requeue, the earlier due winning; `add` makes the key due now
 * and cancels its timer. Up to `workers` keys run at once, in FIFO order.
 *
 * `stop()` aborts the signal every running reconcile was given, cancels timers and drops
 * queued keys; what a reconcile throws after `stop()` is not reported.
 */
import { TerminalError } from '../errors.js';

/** What a reconcile asks for: nothing, or to be run again after `requeueAfter` ms. */
export type ReconcileResult = { readonly requeueAfter?: number } | void;

export type Reconcile = (key: string, signal: AbortSignal) => Promise<ReconcileResult>;

/** The clock the queue schedules retries and requeues on (a fake one in tests). */
export interface QueueTimers {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Calls `fn` once after `ms`; the handle is for `clear`. Must not keep the process alive. */
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: QueueTimers = {
  now: () => performance.now(),
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The longest delay a timer takes (Node's setTimeout fires at once beyond 2^31-1 ms). */
export const MAX_DELAY_MS = 2 ** 31 - 1;

export interface ReconcileQueueOptions {
  readonly reconcile: Reconcile;
  /** A retryable failure; `attempt` counts consecutive failures of the key, from 1; the retry runs in `retryInMs`. */
  readonly onError?: (key: string, err: unknown, attempt: number, retryInMs: number) => void;
  /** A terminal failure: reported once, not retried. */
  readonly onTerminal?: (key: string, err: TerminalError) => void;
  readonly workers?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly timers?: QueueTimers;
  /** Uniform source in [0, 1) for the jitter; default Math.random. */
  readonly random?: () => number;
}

interface Timer {
  readonly handle: unknown;
  readonly due: number;
}

export class ReconcileQueue {
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timersByKey = new Map<string, Timer>();
  private readonly abort = new AbortController();
  private readonly idleWaiters: (() => void)[] = [];
  private active = 0;
  private stopped = false;
  private readonly workers: number;
  private readonly base: number;
  private readonly max: number;
  private readonly timers: QueueTimers;
  private readonly random: () => number;

  constructor(private readonly opts: ReconcileQueueOptions) {
    this.workers = Math.max(1, opts.workers ?? 4);
    this.base = Math.max(1, opts.baseDelayMs ?? 200);
    this.max = Math.min(MAX_DELAY_MS, Math.max(this.base, opts.maxDelayMs ?? 60_000));
    this.timers = opts.timers ?? realTimers;
    this.random = opts.random ?? Math.random;
  }

  /** Makes `key` due now (coalesced with a queued or running reconcile of it). */
  add(key: string): void {
    if (this.stopped) return;
    this.cancelTimer(key);
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    this.queued.add(key);
    if (this.active < this.workers) {
      this.active++;
      // Started on a microtask, so the adds of one synchronous burst coalesce before any runs.
      queueMicrotask(() => void this.worker());
    }
  }

  /** Keys queued, waiting for a retry or requeue, or being reconciled. */
  get length(): number {
    return this.queued.size + this.timersByKey.size + this.processing.size;
  }

  /** Aborts running reconciles' signal, cancels every timer and drops queued keys; later adds are ignored. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const t of this.timersByKey.values()) this.timers.clear(t.handle);
    this.timersByKey.clear();
    this.queued.clear();
  }

  /** Resolves once no reconcile is running (timers may still be pending). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async worker(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) return;
        const key = this.next();
        if (key === undefined) return;
        this.queued.delete(key);
        this.processing.add(key);
        try {
          const result = await this.opts.reconcile(key, this.abort.signal);
          this.failures.delete(key);
          const after = result?.requeueAfter;
          if (!this.stopped && !this.dirtyWhileProcessing.has(key) && after !== undefined && after > 0) this.schedule(key, after);
        } catch (err) {
          if (!this.stopped) this.failed(key, err);
        } finally {
          this.processing.delete(key);
        }
        if (this.dirtyWhileProcessing.delete(key) && !this.stopped) this.queued.add(key);
      }
    } finally {
      this.active--;
      if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private failed(key: string, err: unknown): void {
    if (err instanceof TerminalError) {
      this.failures.delete(key);
      this.opts.onTerminal?.(key, err);
      return;
    }
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    const exp = Math.min(this.max, this.base * 2 ** Math.min(attempt - 1, 52));
    const delay = Math.round(exp / 2 + this.random() * (exp / 2));
    this.opts.onError?.(key, err, attempt, delay);
    if (!this.dirtyWhileProcessing.has(key)) this.schedule(key, delay);
  }

  /** The oldest queued key not being reconciled by another worker. */
  private next(): string | undefined {
    for (const k of this.queued) if (!this.processing.has(k)) return k;
    return undefined;
  }

  /** Adds `key` after `ms`, unless a timer of the key is due sooner. */
  private schedule(key: string, ms: number): void {
    const delay = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(ms)));
    const due = this.timers.now() + delay;
    const current = this.timersByKey.get(key);
    if (current !== undefined && current.due <= due) return;
    this.cancelTimer(key);
    const handle = this.timers.set(() => {
      if (this.timersByKey.get(key)?.handle !== handle) return;
      this.timersByKey.delete(key);
      this.add(key);
    }, delay);
    this.timersByKey.set(key, { handle, due });
  }

  private cancelTimer(key: string): void {
    const t = this.timersByKey.get(key);
    if (t === undefined) return;
    this.timers.clear(t.handle);
    this.timersByKey.delete(key);
  }
}
