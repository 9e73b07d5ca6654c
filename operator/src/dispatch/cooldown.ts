/**
 * Per (rule, target) cooldowns (DESIGN.md §2 `cooldown`): after a rule ran for a target,
 * further matches of the same rule for the same target within the window are suppressed.
 * The window starts when the rule last ran; suppressed matches do not extend it. The
 * dispatcher checks `active` when a match arrives and calls `start` only once the rule's
 * actions ended without a failure; `tryAcquire` does both at once.
 *
 * Local to this replica. Memory is bounded: expired entries are swept whenever the number of
 * acquisitions since the last sweep has doubled (amortised O(1)), and at `maxEntries` the
 * entry acquired longest ago is forgotten (its cooldown then ends early).
 */
export const DEFAULT_COOLDOWN_MAX_ENTRIES = 100_000;

export class Cooldowns {
  readonly #now: () => number;
  readonly #maxEntries: number;
  /** key → time the cooldown ends. */
  readonly #until = new Map<string, number>();
  /** (key, end) in acquisition order from `#head`, for eviction; stale when the map differs. */
  #queueKeys: string[] = [];
  #queueUntil: number[] = [];
  #head = 0;
  #sweepAt = 1024;

  /**
   * @param now monotonic clock in ms (default performance.now).
   * @param maxEntries cap on remembered (rule, target) pairs.
   */
  constructor(now: () => number = () => performance.now(), maxEntries = DEFAULT_COOLDOWN_MAX_ENTRIES) {
    if (!(maxEntries >= 1)) throw new RangeError(`cooldown maxEntries must be >= 1, got ${maxEntries}`);
    this.#now = now;
    this.#maxEntries = Math.floor(maxEntries);
  }

  /** Pairs currently remembered (expired ones may linger until the next sweep). */
  get size(): number {
    return this.#until.size;
  }

  /** True while (rule, target) is in a window started less than its length ago. */
  active(ruleKey: string, targetKey: string): boolean {
    const until = this.#until.get(`${ruleKey}\u0000${targetKey}`);
    return until !== undefined && this.#now() < until;
  }

  /** Starts (or restarts) the window of (rule, target); `cooldownMs` <= 0 does nothing. */
  start(ruleKey: string, targetKey: string, cooldownMs: number): void {
    if (!(cooldownMs > 0)) return;
    this.#until.delete(`${ruleKey}\u0000${targetKey}`);
    this.tryAcquire(ruleKey, targetKey, cooldownMs);
  }

  /**
   * true = run now (and start the cooldown); false = suppressed, the rule ran for this target
   * less than `cooldownMs` ago. `cooldownMs` <= 0 always runs and remembers nothing.
   */
  tryAcquire(ruleKey: string, targetKey: string, cooldownMs: number): boolean {
    if (!(cooldownMs > 0)) return true;
    const now = this.#now();
    const key = `${ruleKey}\u0000${targetKey}`;
    const until = this.#until.get(key);
    if (until !== undefined) {
      if (now < until) return false;
      this.#until.delete(key);
    }
    if (this.#queueKeys.length - this.#head >= this.#sweepAt) this.#sweep(now);
    while (this.#until.size >= this.#maxEntries) if (!this.#evictOldest()) break;
    this.#until.set(key, now + cooldownMs);
    this.#queueKeys.push(key);
    this.#queueUntil.push(now + cooldownMs);
    return true;
  }

  /** Drops expired entries and rebuilds the queue from the map (acquisition order). */
  #sweep(now: number): void {
    const keys: string[] = [];
    const until: number[] = [];
    for (const [key, end] of this.#until) {
      if (now >= end) this.#until.delete(key);
      else {
        keys.push(key);
        until.push(end);
      }
    }
    this.#queueKeys = keys;
    this.#queueUntil = until;
    this.#head = 0;
    this.#sweepAt = Math.max(1024, this.#until.size * 2);
  }

  #evictOldest(): boolean {
    if (this.#head >= this.#queueKeys.length) return false;
    const key = this.#queueKeys[this.#head] as string;
    if (this.#until.get(key) === this.#queueUntil[this.#head]) this.#until.delete(key);
    this.#head++;
    return true;
  }
}
