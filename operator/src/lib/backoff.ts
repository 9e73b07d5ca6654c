export interface BackoffOptions {
  /** Upper bound of the first delay, in ms (> 0). */
  readonly initialMs: number;
  /** Upper bound of any delay, in ms (>= initialMs). */
  readonly maxMs: number;
  /** Growth of the bound per attempt; default 2. */
  readonly factor?: number;
  /** Lower bound of every delay, in ms (<= initialMs); default 0. */
  readonly minMs?: number;
  /** Uniform source in [0, 1); default Math.random. */
  readonly random?: () => number;
}

/**
 * Exponential backoff with full jitter: the n-th delay (n from 0) is drawn uniformly from
 * [minMs, min(maxMs, initialMs * factor^n)]. `reset()` starts over from the first bound.
 * Delays are whole milliseconds.
 */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly minMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(opts: BackoffOptions) {
    if (!(opts.initialMs > 0)) throw new RangeError('Backoff initialMs must be > 0');
    if (!(opts.maxMs >= opts.initialMs)) throw new RangeError('Backoff maxMs must be >= initialMs');
    const factor = opts.factor ?? 2;
    if (!(factor >= 1)) throw new RangeError('Backoff factor must be >= 1');
    const minMs = opts.minMs ?? 0;
    if (!(minMs >= 0 && minMs <= opts.initialMs)) throw new RangeError('Backoff minMs must be in [0, initialMs]');
    this.initialMs = opts.initialMs;
    this.maxMs = opts.maxMs;
    this.factor = factor;
    this.minMs = minMs;
    this.random = opts.random ?? Math.random;
  }

  /** Number of delays handed out since construction or the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The next delay in ms; each call raises the bound for the following one, up to maxMs. */
  next(): number {
    const bound = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    this.attempt += 1;
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.round(this.minMs + r * (bound - this.minMs));
  }

  reset(): void {
    this.attempt = 0;
  }
}
