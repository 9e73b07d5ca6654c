/**
 * The cluster-wide safety budget on destructive actions (DESIGN.md §4 "Safety"): a token
 * bucket holding at most `perMinute` tokens, refilled continuously at `perMinute` per minute.
 *
 * Scope: one operator process. With several replicas and `coordination.enabled`, main.ts uses
 * the shared budget of Lease slots instead (coordination/shared-budget.ts, docs/replicas.md).
 */

/** What the dispatcher needs from a budget. */
export interface Budget {
  /** Takes one token; false when the budget is exhausted (the action must be skipped). Never rejects. */
  tryTake(): boolean | Promise<boolean>;
  /** Returns a token taken for an action that ended up destroying nothing. Never rejects. */
  refund(): void | Promise<void>;
}

export class TokenBucketBudget implements Budget {
  private readonly capacity: number;
  private readonly perMs: number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;

  /**
   * @param perMinute tokens per minute and bucket size; 0 refuses every destructive action,
   *   Infinity disables the budget.
   * @param now monotonic clock in ms (default performance.now).
   */
  constructor(perMinute: number, now: () => number = () => performance.now()) {
    if (!(perMinute >= 0)) throw new RangeError('budget perMinute must be >= 0');
    this.capacity = perMinute;
    this.perMs = perMinute / 60_000;
    this.now = now;
    this.tokens = perMinute;
    this.last = now();
  }

  /** Tokens available now (fractional). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  tryTake(): boolean {
    if (this.capacity === Infinity) return true;
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  refund(): void {
    if (this.capacity === Infinity) return;
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens + 1);
  }

  private refill(): void {
    const t = this.now();
    const elapsed = t - this.last;
    this.last = t;
    if (elapsed > 0) this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perMs);
  }
}
