/**
 * A level-based reconcile queue (controller-runtime style): keys, not events. A key added
 * while queued is coalesced; a key added while being processed is processed again after;
 * a failed key is retried with per-key exponential backoff. Up to `workers` keys are
 * processed at once, in FIFO order, and one key is never processed by two workers at once.
 */
export interface ReconcileQueueOptions {
  readonly handler: (key: string) => Promise<void>;
  readonly onError?: (key: string, err: unknown, attempt: number) => void;
  readonly workers?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export class ReconcileQueue {
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private active = 0;
  private stopped = false;
  private readonly workers: number;
  private readonly base: number;
  private readonly max: number;

  constructor(private readonly opts: ReconcileQueueOptions) {
    this.workers = Math.max(1, opts.workers ?? 4);
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
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    this.queued.add(key);
    if (this.active < this.workers) {
      this.active++;
      void this.worker();
    }
  }

  /** Keys queued, waiting to retry, or being processed. */
  get length(): number {
    return this.queued.size + this.retryTimers.size + this.processing.size;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.retryTimers.clear();
    this.queued.clear();
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
          await this.opts.handler(key);
          this.failures.delete(key);
        } catch (err) {
          const attempt = (this.failures.get(key) ?? 0) + 1;
          this.failures.set(key, attempt);
          this.opts.onError?.(key, err, attempt);
          if (!this.dirtyWhileProcessing.has(key)) this.scheduleRetry(key, attempt);
        } finally {
          this.processing.delete(key);
        }
        if (this.dirtyWhileProcessing.delete(key)) this.queued.add(key);
      }
    } finally {
      this.active--;
    }
  }

  /** The oldest queued key not being processed by another worker. */
  private next(): string | undefined {
    for (const k of this.queued) if (!this.processing.has(k)) return k;
    return undefined;
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
