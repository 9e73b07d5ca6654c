/**
 * Escalation ladders (`spec.escalation`, docs/escalation.md): per (rule, target) a count of the
 * rule's matches in a window, and which steps of the ladder already ran in it.
 *
 * Counting contract:
 * - Every match counts — the dispatcher calls `count` before the cooldown and before the work
 *   queue, so cooldown-suppressed and merged matches count too (escalation is about repetition).
 * - The window opens at the first match for a target and closes `window` later; the next match
 *   after that opens a new window: the count starts over and every step may run again. So each
 *   step runs at most once per window per target.
 * - The step due is the highest step whose `after` the count has reached and that has not run
 *   in the window; lower steps not yet run are skipped over (when a cooldown held the ladder
 *   back, the strongest step reached is what matters). `fired` marks it run once the dispatcher
 *   queued it; `rearm` gives it back when it did not really run (the destructive budget was
 *   spent), so the next match tries it again.
 *
 * Local to this replica (like cooldowns, until cross-replica coordination exists). Memory is
 * bounded: at most `maxTargets` (rule, target) pairs; when full, closed windows are swept and,
 * failing that, the pair remembered first is forgotten (its ladder starts over).
 */
import type { OutcomeTarget } from '../api/v1alpha1/outcome.js';
import type { EscalationTarget } from '../api/v1alpha1/types.js';
import type { FalcoEvent } from '../falco/event.js';
import { alertObject } from '../falco/target.js';
import { formatDuration } from '../lib/duration.js';
import type { CompiledAction, CompiledEscalation, CompiledRule } from '../rules/types.js';

export const DEFAULT_ESCALATION_MAX_TARGETS = 100_000;

export interface EscalationCount {
  /** Matches for the target in the current window, this one included. */
  readonly count: number;
  /** The step to run now (0-based index into the ladder's steps); absent when none is due. */
  readonly due?: number;
}

interface LadderState {
  readonly target: OutcomeTarget;
  start: number;
  windowMs: number;
  count: number;
  /** Steps 0 .. fired-1 are done in this window. */
  fired: number;
}

export class EscalationLadders {
  readonly #now: () => number;
  readonly #maxTargets: number;
  /** rule key → target key → state. */
  readonly #rules = new Map<string, Map<string, LadderState>>();
  #size = 0;
  #insertsSinceSweep = 0;

  /**
   * @param now wall clock in ms since the epoch (status shows when windows end).
   * @param maxTargets cap on remembered (rule, target) pairs.
   */
  constructor(now: () => number = Date.now, maxTargets = DEFAULT_ESCALATION_MAX_TARGETS) {
    if (!(maxTargets >= 1)) throw new RangeError(`escalation maxTargets must be >= 1, got ${maxTargets}`);
    this.#now = now;
    this.#maxTargets = Math.floor(maxTargets);
  }

  /** (rule, target) pairs remembered (closed windows may linger until the next sweep). */
  get size(): number {
    return this.#size;
  }

  /** Counts one match of the rule for the target and says which step, if any, is due now. */
  count(ruleKey: string, targetKey: string, target: OutcomeTarget, ladder: CompiledEscalation): EscalationCount {
    const now = this.#now();
    let targets = this.#rules.get(ruleKey);
    let s = targets?.get(targetKey);
    if (s !== undefined && now >= s.start + s.windowMs) {
      s.start = now;
      s.count = 0;
      s.fired = 0;
    }
    if (s === undefined) {
      if (this.#size >= this.#maxTargets) this.#makeRoom(now);
      s = { target, start: now, windowMs: ladder.windowMs, count: 0, fired: 0 };
      if (targets === undefined) {
        targets = new Map();
        this.#rules.set(ruleKey, targets);
      }
      targets.set(targetKey, s);
      this.#size += 1;
      this.#insertsSinceSweep += 1;
    }
    s.windowMs = ladder.windowMs;
    s.count += 1;
    let reached = -1;
    for (let i = 0; i < ladder.steps.length; i++) if (ladder.steps[i]!.after <= s.count) reached = i;
    return reached >= s.fired ? { count: s.count, due: reached } : { count: s.count };
  }

  /** Marks `step` (and every lower one) as run in the target's current window. */
  fired(ruleKey: string, targetKey: string, step: number): void {
    const s = this.#rules.get(ruleKey)?.get(targetKey);
    if (s !== undefined && s.fired <= step) s.fired = step + 1;
  }

  /** Gives `step` back when it was marked run but did not run (e.g. the budget was spent): the next match tries it again. */
  rearm(ruleKey: string, targetKey: string, step: number): void {
    const s = this.#rules.get(ruleKey)?.get(targetKey);
    if (s !== undefined && s.fired === step + 1) s.fired = step;
  }

  /**
   * The rule's targets with an open window, highest count first (ties: most advanced step, then
   * name), at most `max`; undefined when this replica never counted a match of the rule.
   */
  hottest(ruleKey: string, max: number): EscalationTarget[] | undefined {
    const now = this.#now();
    const targets = this.#rules.get(ruleKey);
    if (targets === undefined) return undefined;
    const open = [...targets.values()].filter((s) => now < s.start + s.windowMs);
    open.sort((a, b) => b.count - a.count || b.fired - a.fired || a.target.name.localeCompare(b.target.name));
    return open.slice(0, max).map((s) => ({
      target: { kind: s.target.kind, ...(s.target.namespace !== undefined ? { namespace: s.target.namespace } : {}), name: s.target.name },
      count: s.count,
      step: s.fired,
      windowEnds: new Date(s.start + s.windowMs).toISOString(),
    }));
  }

  /**
   * Sweeps closed windows (at most once per `maxTargets / 2` insertions, so a storm of new
   * targets at the cap stays amortised O(1)); when that frees nothing, forgets the pair that
   * was remembered first (Map insertion order).
   */
  #makeRoom(now: number): void {
    if (this.#insertsSinceSweep >= this.#maxTargets / 2) {
      this.#insertsSinceSweep = 0;
      for (const [rule, targets] of this.#rules) {
        for (const [key, s] of targets) {
          if (now < s.start + s.windowMs) continue;
          targets.delete(key);
          this.#size -= 1;
        }
        if (targets.size === 0) this.#rules.delete(rule);
      }
    }
    if (this.#size < this.#maxTargets) return;
    const [rule, targets] = this.#rules.entries().next().value as [string, Map<string, LadderState>];
    const key = targets.keys().next().value as string;
    targets.delete(key);
    this.#size -= 1;
    if (targets.size === 0) this.#rules.delete(rule);
  }
}

/** Where a work item stands on its rule's ladder: what its outcomes say. */
export interface ItemEscalation {
  /** 1-based. */
  readonly step: number;
  readonly steps: number;
  /** Matches for the target in the window when the step was reached. */
  readonly count: number;
  readonly windowMs: number;
}

/** What an escalation rule runs for one match. */
export interface DueStep {
  readonly actions: readonly CompiledAction[];
  readonly escalation: ItemEscalation;
  /** The work queue's merge key: a pending item merges only matches of the same rule and step. */
  readonly mergeKey: string;
}

/**
 * The dispatcher's hook: undefined for a plain rule (run its actions); for an escalation rule,
 * counts the match for the alert's main object (`targetKey`) and returns the due step, or
 * 'wait' when none is due.
 */
export function escalate(ladders: EscalationLadders, rule: CompiledRule, ev: FalcoEvent, targetKey: string): DueStep | 'wait' | undefined {
  const ladder = rule.escalation;
  if (ladder === undefined) return undefined;
  const target = alertObject(ev) ?? { kind: 'None', name: '' };
  const { count, due } = ladders.count(rule.key, targetKey, target, ladder);
  if (due === undefined) return 'wait';
  return {
    actions: ladder.steps[due]!.actions,
    escalation: { step: due + 1, steps: ladder.steps.length, count, windowMs: ladder.windowMs },
    mergeKey: `${rule.key}\u0000step${due}`,
  };
}

/** "escalation step 2 of 3 (match 3 for this target within 10m)": how outcome messages start. */
export function escalationText(e: ItemEscalation): string {
  return `escalation step ${e.step} of ${e.steps} (match ${e.count} for this target within ${formatDuration(e.windowMs)})`;
}
