/**
 * The `info` outcome lines under load (STYLE.md "Errors and logs"; README "Logs").
 *
 * Each (rule, reason) may write `perSecond` outcome lines per window of `windowMs` (1 s);
 * beyond that its outcomes are folded: counted by (rule, action, result, reason) and written
 * as one `action outcomes folded` line when the window ends. A quiet cluster logs every
 * outcome; a storm writes at most `perSecond` lines per (rule, reason) plus one summary per
 * window, whatever the alert rate. Every outcome is either logged or counted in exactly one
 * summary: nothing is dropped. Only `info` outcomes come here — a warning (a Failed outcome)
 * or an error is always logged on its own line.
 *
 * Why: a matched alert in a storm cost one synchronous write to stdout per outcome (the
 * largest single cost of a dry-run match in the profile) and 80 MB of logs in one bench run,
 * while the rule status, metrics and Events already count every outcome.
 */
import type { LogPort } from '../lib/log.js';

/** When the summary of a window is written; `setTimeout` by default. */
export interface TimerPort {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface OutcomeLogOptions {
  /** Outcome lines per (rule, reason) per window before folding; 0 = every outcome on its own line. */
  readonly perSecond: number;
  /** The window, ms (default 1000). */
  readonly windowMs?: number;
  /** Monotonic clock, ms (default performance.now). */
  readonly now?: () => number;
  readonly timer?: TimerPort;
}

/** One folded group of a summary line. */
export interface FoldedOutcomes {
  readonly rule: string;
  readonly action: string;
  readonly result: string;
  readonly reason: string;
  count: number;
}

/** Groups written per summary line at most (most frequent first); the rest is counted in `other`. */
export const MAX_SUMMARY_GROUPS = 50;

const realTimer: TimerPort = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending summary never keeps the process alive; shutdown calls flush().
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class OutcomeLog {
  private readonly log: LogPort;
  private readonly perSecond: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly timer: TimerPort;
  private windowStart = -Infinity;
  /** Lines admitted in this window: rule → reason → count. */
  private readonly seen = new Map<string, Map<string, number>>();
  /** Folded since the last summary: rule → `action\0result\0reason` → group. */
  private folded = new Map<string, Map<string, FoldedOutcomes>>();
  private foldedCount = 0;
  /** The group `fold` counted into last (one of `folded`'s). */
  private lastGroup: FoldedOutcomes | undefined;
  private pending: unknown;

  constructor(log: LogPort, opts: OutcomeLogOptions) {
    this.log = log;
    this.perSecond = Math.max(0, Math.floor(opts.perSecond));
    this.windowMs = Math.max(1, opts.windowMs ?? 1000);
    this.now = opts.now ?? (() => performance.now());
    this.timer = opts.timer ?? realTimer;
  }

  /**
   * Whether this `info` outcome gets its own line now (true: the caller writes it); false: it
   * was counted into the window's summary line instead.
   */
  admit(rule: string, action: string, result: string, reason: string): boolean {
    if (this.perSecond === 0) return true;
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) this.roll(t);
    let byReason = this.seen.get(rule);
    if (byReason === undefined) {
      byReason = new Map();
      this.seen.set(rule, byReason);
    }
    const n = (byReason.get(reason) ?? 0) + 1;
    byReason.set(reason, n);
    if (n <= this.perSecond) return true;
    this.fold(rule, action, result, reason);
    if (this.pending === undefined) this.pending = this.timer.set(() => this.flush(), Math.max(0, this.windowStart + this.windowMs - t));
    return false;
  }

  /** Writes the summary of what was folded since the last one, if anything was (at the window's end, and at shutdown). */
  flush(): void {
    if (this.pending !== undefined) {
      this.timer.clear(this.pending);
      this.pending = undefined;
    }
    if (this.foldedCount === 0) return;
    const groups: FoldedOutcomes[] = [];
    for (const byKey of this.folded.values()) for (const g of byKey.values()) groups.push(g);
    groups.sort((a, b) => b.count - a.count || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0));
    const shown = groups.slice(0, MAX_SUMMARY_GROUPS);
    const rest = groups.slice(MAX_SUMMARY_GROUPS);
    this.log.info('action outcomes folded', {
      folded: this.foldedCount,
      window_ms: this.windowMs,
      per_second: this.perSecond,
      outcomes: shown,
      ...(rest.length > 0 ? { other: { groups: rest.length, count: rest.reduce((n, g) => n + g.count, 0) } } : {}),
    });
    this.folded = new Map();
    this.lastGroup = undefined;
    this.foldedCount = 0;
  }

  /** A new window from `t`: what the last one folded is written first (its timer may be late under load). */
  private roll(t: number): void {
    this.flush();
    this.seen.clear();
    this.windowStart = t;
  }

  private fold(rule: string, action: string, result: string, reason: string): void {
    // Under a storm the outcomes folded one after the other are mostly of one group: it is
    // checked first, without building the group's key (issue 15).
    const last = this.lastGroup;
    if (last !== undefined && last.rule === rule && last.action === action && last.result === result && last.reason === reason) {
      last.count += 1;
      this.foldedCount += 1;
      return;
    }
    let byKey = this.folded.get(rule);
    if (byKey === undefined) {
      byKey = new Map();
      this.folded.set(rule, byKey);
    }
    const key = `${action}\0${result}\0${reason}`;
    let g = byKey.get(key);
    if (g === undefined) {
      g = { rule, action, result, reason, count: 1 };
      byKey.set(key, g);
    } else g.count += 1;
    this.lastGroup = g;
    this.foldedCount += 1;
  }
}
