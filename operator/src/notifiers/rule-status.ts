/**
 * Coalesces what the dispatcher reports into the status of TalonRules and ClusterTalonRules
 * (DESIGN.md §2 status, §5):
 * `matchedEvents`, `suppressedEvents`, `results` {succeeded, failed, skipped, dryRun},
 * `lastMatchedTime` and `lastOutcomes` (newest first, at most `maxOutcomes`).
 *
 * Counting contract: counters are cumulative across restarts and replicas. The first flush of
 * a rule reads its stored status (`getStatus`) and adds this process's deltas to it; every
 * patch carries the resourceVersion it was computed from, so a concurrent writer makes it
 * fail with 409, after which the status is re-read and the deltas re-applied. A failed patch
 * keeps its deltas for the next flush: nothing is lost or counted twice. A rule that no
 * longer exists (404, or `getStatus` → undefined) is forgotten.
 *
 * Only rules with something new are patched, at most one patch per rule per `flush()`;
 * flushes do not overlap.
 */
import type { FalcoEvent } from '../falco/event.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { ruleKindOf, type ArtifactLocation, type Outcome, type OutcomeEscalation, type OutcomeTarget, type RuleRef, type SuppressReason } from '../api/v1alpha1/outcome.js';
import type { EscalationTarget } from '../api/v1alpha1/types.js';
import { type OutcomeSink } from './types.js';
import { fromKubeError } from '../errors.js';
import { Periodic } from '../lib/periodic.js';
import { clip } from '../lib/clip.js';
import { STATUS_MAX_LENGTH } from '../api/v1alpha1/types.js';

export interface ResultCounts {
  succeeded: number;
  failed: number;
  skipped: number;
  dryRun: number;
}

export interface LastOutcome {
  readonly time: string;
  readonly falcoRule: string;
  readonly target: OutcomeTarget;
  readonly action: string;
  readonly actionner: string;
  readonly result: string;
  readonly reason: string;
  readonly message: string;
  /** Where the action's output stored its artifact, when it did. */
  readonly artifact?: ArtifactLocation;
  /** The escalation step of an escalation rule's action. */
  readonly escalation?: OutcomeEscalation;
}

/** The counter part of TalonRule status this aggregator owns. */
export interface RuleStatusCounters {
  readonly matchedEvents: number;
  readonly suppressedEvents: number;
  readonly results: Readonly<ResultCounts>;
  readonly lastMatchedTime?: string;
  readonly lastOutcomes: readonly LastOutcome[];
  /** An escalation rule's hottest targets, as `escalationOf` reports them when the status is written. */
  readonly escalation?: { readonly targets: readonly EscalationTarget[] };
}

/** What `getStatus` returns: the stored status (any part may be missing) and its resourceVersion. */
export interface RuleStatusSnapshot {
  readonly resourceVersion?: string;
  readonly status?: Partial<RuleStatusCounters>;
}

/** Which rule object a status belongs to: a TalonRule, or a ClusterTalonRule (`namespace` ''). */
export interface RuleObjectRef {
  readonly kind: 'TalonRule' | 'ClusterTalonRule';
  readonly namespace: string;
  readonly name: string;
}

export interface RuleStatusDeps {
  /** The rule's current status; undefined when the rule does not exist. */
  getStatus(rule: RuleObjectRef): Promise<RuleStatusSnapshot | undefined>;
  /**
   * Merge-patches `patch` into the rule's status subresource, only if the rule is still at
   * `resourceVersion` when given (else a 409 error); returns the new resourceVersion.
   */
  patchStatus(rule: RuleObjectRef, patch: RuleStatusCounters, resourceVersion?: string): Promise<string | undefined>;
  /**
   * An escalation rule's ladder per target (dispatch/escalation.ts), written with every patch
   * of the rule's status; undefined for rules that have none.
   */
  escalationOf?(rule: RuleObjectRef): readonly EscalationTarget[] | undefined;
  readonly maxOutcomes?: number;
  readonly messageMax?: number;
  readonly log?: LogPort;
  /** Wall clock for lastMatchedTime, ms since the epoch (default Date.now). */
  readonly now?: () => number;
}

interface Delta {
  matched: number;
  suppressed: number;
  results: ResultCounts;
  /** Wall-clock ms of the newest match (made an RFC 3339 time when written, not per match). */
  lastMatchedMs: number | undefined;
  /** The newest outcomes, newest first, at most `maxOutcomes`: clipped into LastOutcomes when written, not per outcome. */
  outcomes: Outcome[];
}

interface RuleState {
  readonly ref: RuleObjectRef;
  base: RuleStatusCounters | undefined;
  resourceVersion: string | undefined;
  delta: Delta;
}

const emptyDelta = (): Delta => ({ matched: 0, suppressed: 0, results: { succeeded: 0, failed: 0, skipped: 0, dryRun: 0 }, lastMatchedMs: undefined, outcomes: [] });

const isEmpty = (d: Delta): boolean =>
  d.matched === 0 && d.suppressed === 0 && d.results.succeeded === 0 && d.results.failed === 0 && d.results.skipped === 0 && d.results.dryRun === 0 && d.outcomes.length === 0 && d.lastMatchedMs === undefined;

const RESULT_KEY: Readonly<Record<Outcome['result'], keyof ResultCounts>> = { Succeeded: 'succeeded', Failed: 'failed', Skipped: 'skipped', DryRun: 'dryRun' };

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

function normalise(s: Partial<RuleStatusCounters> | undefined): RuleStatusCounters {
  const r = (s?.results ?? {}) as Partial<ResultCounts>;
  return {
    matchedEvents: num(s?.matchedEvents),
    suppressedEvents: num(s?.suppressedEvents),
    results: { succeeded: num(r.succeeded), failed: num(r.failed), skipped: num(r.skipped), dryRun: num(r.dryRun) },
    ...(typeof s?.lastMatchedTime === 'string' ? { lastMatchedTime: s.lastMatchedTime } : {}),
    lastOutcomes: Array.isArray(s?.lastOutcomes) ? s.lastOutcomes : [],
  };
}

/** A ClusterTalonRule `x` and a TalonRule `ns/x` never share a state: `Kind/namespace/name`. */
const stateKey = (rule: Pick<RuleRef, 'kind' | 'namespace' | 'name'>): string => {
  const kind = ruleKindOf(rule);
  return `${kind}/${kind === 'ClusterTalonRule' ? '' : rule.namespace}/${rule.name}`;
};

const later = (a: string | undefined, b: string | undefined): string | undefined => (a === undefined ? b : b === undefined ? a : a > b ? a : b);

export class RuleStatusAggregator implements OutcomeSink {
  private readonly deps: RuleStatusDeps;
  private readonly maxOutcomes: number;
  private readonly messageMax: number;
  private readonly log: LogPort;
  private readonly now: () => number;
  private readonly rules = new Map<string, RuleState>();
  /** The state `state()` returned last (kept while it is in `rules`). */
  private last: RuleState | undefined;
  private flushing: Promise<void> | undefined;
  private readonly periodic = new Periodic(() => this.flush());

  constructor(deps: RuleStatusDeps) {
    this.deps = deps;
    this.maxOutcomes = deps.maxOutcomes ?? 10;
    this.messageMax = deps.messageMax ?? 512;
    this.log = deps.log ?? silentLog;
    this.now = deps.now ?? Date.now;
  }

  matched(rule: RuleRef, _ev: FalcoEvent): void {
    const d = this.state(rule).delta;
    d.matched += 1;
    const t = this.now();
    if (d.lastMatchedMs === undefined || t > d.lastMatchedMs) d.lastMatchedMs = t;
  }

  suppressed(rule: RuleRef, _ev: FalcoEvent, _why: SuppressReason): void {
    this.state(rule).delta.suppressed += 1;
  }

  record(o: Outcome): void {
    const d = this.state(o.rule).delta;
    d.results[RESULT_KEY[o.result]] += 1;
    d.outcomes.unshift(o);
    if (d.outcomes.length > this.maxOutcomes) d.outcomes.length = this.maxOutcomes;
  }

  /** An outcome as `lastOutcomes` holds it: every string clipped to its CRD maxLength. */
  private lastOutcome(o: Outcome): LastOutcome {
    const L = STATUS_MAX_LENGTH;
    const t = o.target;
    return {
      time: o.time,
      falcoRule: clip(o.falcoRule, L.falcoRule),
      target: { kind: clip(t.kind, L.targetKind), ...(t.namespace !== undefined ? { namespace: clip(t.namespace, L.targetNamespace) } : {}), name: clip(t.name, L.targetName) },
      action: clip(o.action, L.action),
      actionner: clip(o.actionner, L.actionner),
      result: o.result,
      reason: clip(o.reason, L.reason),
      message: clip(o.message, Math.min(this.messageMax, L.message)),
      ...(o.artifact ? { artifact: { ...o.artifact, output: clip(o.artifact.output, L.artifactOutput), location: clip(o.artifact.location, L.artifactLocation) } } : {}),
      ...(o.escalation ? { escalation: o.escalation } : {}),
    };
  }

  /**
   * The status this process would write now for a rule (stored base + unflushed deltas), for
   * tests and debugging; `namespace` '' names a ClusterTalonRule.
   */
  view(namespace: string, name: string): RuleStatusCounters | undefined {
    const s = this.rules.get(stateKey({ namespace, name }));
    return s === undefined ? undefined : this.combine(s.base ?? normalise(undefined), s.delta);
  }

  /** Patches every rule with unflushed changes; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.flushAll().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  start(intervalMs: number): void {
    this.periodic.start(intervalMs);
  }

  /** Stops the timer; call `flush()` afterwards to write what is left. */
  stop(): void {
    this.periodic.stop();
  }

  private state(rule: RuleRef): RuleState {
    // A match and its outcomes name the same rule one after the other: the last state is
    // checked first, without building its key (issue 15).
    const kind = ruleKindOf(rule);
    const last = this.last;
    if (last !== undefined && last.ref.name === rule.name && last.ref.kind === kind && (kind === 'ClusterTalonRule' || last.ref.namespace === rule.namespace)) return last;
    const key = stateKey(rule);
    let s = this.rules.get(key);
    if (s === undefined) {
      const ref: RuleObjectRef = { kind, namespace: kind === 'ClusterTalonRule' ? '' : rule.namespace, name: rule.name };
      s = { ref, base: undefined, resourceVersion: undefined, delta: emptyDelta() };
      this.rules.set(key, s);
    }
    this.last = s;
    return s;
  }

  /** Forgets a rule's state (the rule is gone). */
  private drop(key: string, s: RuleState): void {
    this.rules.delete(key);
    if (this.last === s) this.last = undefined;
  }

  private combine(base: RuleStatusCounters, d: Delta): RuleStatusCounters {
    const lastMatchedTime = later(base.lastMatchedTime, d.lastMatchedMs === undefined ? undefined : new Date(d.lastMatchedMs).toISOString());
    return {
      matchedEvents: base.matchedEvents + d.matched,
      suppressedEvents: base.suppressedEvents + d.suppressed,
      results: {
        succeeded: base.results.succeeded + d.results.succeeded,
        failed: base.results.failed + d.results.failed,
        skipped: base.results.skipped + d.results.skipped,
        dryRun: base.results.dryRun + d.results.dryRun,
      },
      ...(lastMatchedTime !== undefined ? { lastMatchedTime } : {}),
      lastOutcomes: [...d.outcomes.map((o) => this.lastOutcome(o)), ...base.lastOutcomes].slice(0, this.maxOutcomes),
    };
  }

  private async flushAll(): Promise<void> {
    for (const [key, s] of [...this.rules]) {
      if (isEmpty(s.delta)) continue;
      await this.flushOne(key, s);
    }
  }

  private async flushOne(key: string, s: RuleState): Promise<void> {
    try {
      if (s.base === undefined) {
        const snap = await this.deps.getStatus(s.ref);
        if (snap === undefined) {
          this.drop(key, s);
          return;
        }
        s.base = normalise(snap.status);
        s.resourceVersion = snap.resourceVersion;
      }
    } catch (err) {
      this.failed(key, s, err, 'read');
      return;
    }
    const sending = s.delta;
    s.delta = emptyDelta();
    const targets = this.deps.escalationOf?.(s.ref);
    const next = { ...this.combine(s.base, sending), ...(targets !== undefined ? { escalation: { targets } } : {}) };
    try {
      const rv = await this.deps.patchStatus(s.ref, next, s.resourceVersion);
      s.base = next;
      s.resourceVersion = rv;
    } catch (err) {
      s.delta = this.merge(s.delta, sending);
      this.failed(key, s, err, 'patch');
    }
  }

  /** Deltas that arrived during a failed patch come on top of (are newer than) the ones it carried. */
  private merge(newer: Delta, older: Delta): Delta {
    return {
      matched: newer.matched + older.matched,
      suppressed: newer.suppressed + older.suppressed,
      results: {
        succeeded: newer.results.succeeded + older.results.succeeded,
        failed: newer.results.failed + older.results.failed,
        skipped: newer.results.skipped + older.results.skipped,
        dryRun: newer.results.dryRun + older.results.dryRun,
      },
      lastMatchedMs: newer.lastMatchedMs === undefined ? older.lastMatchedMs : older.lastMatchedMs === undefined ? newer.lastMatchedMs : Math.max(newer.lastMatchedMs, older.lastMatchedMs),
      outcomes: [...newer.outcomes, ...older.outcomes].slice(0, this.maxOutcomes),
    };
  }

  private failed(key: string, s: RuleState, err: unknown, op: string): void {
    const e = fromKubeError(err);
    if (e.status === 404) {
      this.drop(key, s);
      return;
    }
    if (e.status === 409) {
      s.base = undefined;
      s.resourceVersion = undefined;
      this.log.debug('rule status conflict', { rule: key, op });
      return;
    }
    this.log.warn('rule status write failed', { rule: key, op, code: e.code, error: e.message });
  }
}
