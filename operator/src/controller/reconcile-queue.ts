/**
 * A level-based reconcile queue (controller-runtime style): keys, not events. A key added
 * while queued is coalesced; a key added while being processed is processed again after;
 * a failed key is retried with per-key exponential backoff. One worker processes keys in
 * FIFO order so reconciles of the same key never overlap.
 */
export interface ReconcileQueueOptions {
  readonly handler: (key: string) => Promise<void>;
  readonly onError?: (key: string, err: unknown, attempt: number) => void;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Called when the queue becomes empty (nothing queued, processing or waiting to retry). */
  readonly onIdle?: () => void;
}

export class ReconcileQueue {
  private readonly queued = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private processing: string | undefined;
  private running = false;
  private stopped = false;
  private readonly base: number;
  private readonly max: number;

  constructor(private readonly opts: ReconcileQueueOptions) {
    this.base = opts.baseDelayMs ?? 200;
    this.max = opts.maxDelayMs ?? 60_000;
  }

  add(key: string): void {
    if (this.stopped) return;
    const timer = this.retryTimers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.retryTimers.delete(key);
    }
    if (this.processing === key) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    this.queued.add(key);
    if (!this.running) void this.loop();
  }

  /** Keys queued or waiting to retry, plus the one being processed. */
  get length(): number {
    return this.queued.size + this.retryTimers.size + (this.processing ? 1 : 0);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.retryTimers.clear();
    this.queued.clear();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped && this.queued.size > 0) {
        const key = this.queued.values().next().value as string;
        this.queued.delete(key);
        this.processing = key;
        try {
          await this.opts.handler(key);
          this.failures.delete(key);
        } catch (err) {
          const attempt = (this.failures.get(key) ?? 0) + 1;
          this.failures.set(key, attempt);
          this.opts.onError?.(key, err, attempt);
          if (!this.dirtyWhileProcessing.has(key)) this.scheduleRetry(key, attempt);
        } finally {
          this.processing = undefined;
        }
        if (this.dirtyWhileProcessing.delete(key)) this.queued.add(key);
      }
    } finally {
      this.running = false;
    }
    if (!this.stopped && this.length === 0) this.opts.onIdle?.();
  }

  private scheduleRetry(key: string, attempt: number): void {
    const exp = Math.min(this.max, this.base * 2 ** (attempt - 1));
    const delay = exp / 2 + Math.random() * (exp / 2);
    const t = setTimeout(() => {
      this.retryTimers.delete(key);
      this.add(key);
    }, delay);
    t.unref();
    this.retryTimers.set(key, t);
  }
}
