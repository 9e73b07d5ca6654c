/**
 * The intake stage: what happens to an accepted alert before any action runs. Duplicates
 * (same delivery through two paths) are dropped and counted; alerts accepted before the
 * first rule index is loaded are held (never dropped silently) and evaluated once it is;
 * the alert is matched against the current index and the matched rules go to the dispatcher.
 * `ingest` never blocks and never throws.
 *
 * Order on the hot path: the dedup key is computed once; a duplicate is counted and answered
 * at once — it is never admitted, so it costs no journal write; otherwise `admit` (the
 * ledger: byte budget, journal write) may refuse it, and only an admitted alert's key is
 * remembered, so a refused alert sent again is not taken for a duplicate. The webhook splits
 * this in two (group commit): `stage` per alert, then one `commit` per event-loop turn writes
 * the turn's journal records at once and evaluates the alerts, or refuses them all. An admitted alert
 * that needs no work (no rule matched, dropped) is reported to `settled`, so the journal can
 * forget it; `replay` takes an alert from the journal after a restart, already deduplicated
 * when it was first accepted.
 */
import type { FalcoEvent } from '../falco/event.js';
import { alertNamespace } from '../falco/target.js';
import { silentLog, type LogPort } from '../lib/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { RuleIndex } from '../rules/rule-index.js';
import type { CompiledRule } from '../rules/types.js';
import type { Deduplicator } from './dedup.js';
import type { Refusal } from '../lib/refusal.js';


const NO_BODY = Buffer.alloc(0);

/** Alerts accepted before the first rule index is loaded are held (then evaluated) up to this many. */
export const EARLY_ALERTS_MAX = 10_000;

export interface IntakeDeps {
  readonly dedup: Deduplicator;
  readonly dispatch: (ev: FalcoEvent, rules: readonly CompiledRule[]) => void;
  /** Takes a new (not duplicate) alert — `key` its dedup key, `body` its bytes — or says why not. Absent: every alert is taken. */
  readonly admit?: (ev: FalcoEvent, key: string, body: Buffer) => Refusal | undefined;
  /**
   * Group commit (the webhook's path): `stage` takes an alert like `admit` but leaves its
   * journal write to `commit`, which writes every staged alert at once or refuses them all.
   * Absent: `admit` is used and a commit has nothing to write.
   */
  readonly stage?: (ev: FalcoEvent, key: string, body: Buffer) => Refusal | undefined;
  readonly commit?: () => Refusal | undefined;
  readonly metrics: Pick<Metrics, 'eventsDeduplicated' | 'eventsDropped' | 'eventsMatched'>;
  readonly log?: LogPort;
  /** Log each alert's evaluation (which rules matched, why the others did not). */
  readonly debug?: boolean;
  readonly earlyAlertsMax?: number;
  /** An admitted alert needs no work: nothing matched, or dropped (counted). */
  readonly settled?: (ev: FalcoEvent) => void;
  /** Told of every evaluated alert (tracing): the rules it matched and performance.now() when evaluation began. */
  readonly onEvaluated?: (ev: FalcoEvent, matched: readonly CompiledRule[], startedAt: number) => void;
}

export class Intake {
  private readonly deps: IntakeDeps;
  private readonly log: LogPort;
  private readonly early: FalcoEvent[] = [];
  private readonly earlyMax: number;
  private droppedEarly = 0;
  private index: RuleIndex | undefined;
  /** Taken by `stage`, evaluated by the next `commit`. */
  private staged: { readonly ev: FalcoEvent; readonly key: string }[] = [];
  private readonly stagedKeys = new Set<string>();
  private halted = false;

  constructor(deps: IntakeDeps) {
    this.deps = deps;
    this.log = deps.log ?? silentLog;
    this.earlyMax = deps.earlyAlertsMax ?? EARLY_ALERTS_MAX;
  }

  /** Swaps in a new rule index; alerts held while none was loaded are evaluated now, in order. */
  setIndex(index: RuleIndex): void {
    this.index = index;
    for (const ev of this.early.splice(0)) this.evaluate(ev);
  }

  /** Alerts held until the first index is loaded. */
  held(): number {
    return this.early.length;
  }

  /** Deduplicates, admits and evaluates an alert (see the order above); a refusal is returned. `stage` then `commit`. */
  ingest(ev: FalcoEvent, body: Buffer = NO_BODY): Refusal | undefined {
    return this.stage(ev, body) ?? this.commit();
  }

  /**
   * Deduplicates and takes an alert for the next `commit()`, or returns why not. A second
   * delivery of an alert staged in the same turn is a duplicate too.
   */
  stage(ev: FalcoEvent, body: Buffer = NO_BODY): Refusal | undefined {
    const { dedup } = this.deps;
    const key = dedup.keyOf(ev);
    if (this.stagedKeys.has(key) || dedup.seen(key)) {
      this.deps.metrics.eventsDeduplicated.inc();
      return undefined;
    }
    const refusal = (this.deps.stage ?? this.deps.admit)?.(ev, key, body);
    if (refusal !== undefined) return refusal;
    this.staged.push({ ev, key });
    this.stagedKeys.add(key);
    return undefined;
  }

  /**
   * Commits what `stage` took since the last commit (one journal write for all) and evaluates
   * it; or, when that write fails, returns the refusal that applies to every one of them — none
   * is evaluated, and none is remembered, so Falco's retry is not a duplicate.
   */
  commit(): Refusal | undefined {
    const batch = this.staged;
    if (batch.length === 0) return undefined;
    this.staged = [];
    this.stagedKeys.clear();
    const refusal = this.deps.commit?.();
    if (refusal !== undefined) return refusal;
    for (const { key } of batch) this.deps.dedup.remember(key);
    if (this.halted) return undefined;
    for (const { ev } of batch) {
      // The batch is journaled and its 202s stand: a bug in one alert's evaluation must not
      // cost the others theirs. That alert stays unfinished in the journal (replayed at the next start).
      try {
        this.evaluate(ev);
      } catch (err) {
        this.log.error('alert evaluation failed; the alert stays in the journal', { trace_id: ev.traceId, error: (err as Error).message, stack: (err as Error).stack });
      }
    }
    return undefined;
  }

  /**
   * Shutdown: alerts committed from now on (those staged before the shutdown began; new ones
   * are refused) are kept — journaled, answered 202 — but not evaluated, so none of them reaches
   * a dispatcher that no longer starts work: each stays in the journal, whole, for the next start.
   */
  halt(): void {
    this.halted = true;
  }

  /** An alert replayed from the journal: not deduplicated again (its key is seeded separately). */
  replay(ev: FalcoEvent): void {
    this.evaluate(ev);
  }

  private evaluate(ev: FalcoEvent): void {
    const { metrics } = this.deps;
    const current = this.index;
    if (!current) {
      // Not loaded yet (readiness is false, but Falco does not read it): hold, never drop silently.
      if (this.early.length < this.earlyMax) this.early.push(ev);
      else {
        metrics.eventsDropped.inc();
        this.deps.settled?.(ev);
        if (this.droppedEarly++ % 1000 === 0) this.log.warn('alert dropped: rule index not loaded and the buffer is full', { trace_id: ev.traceId, dropped: this.droppedEarly });
      }
      return;
    }
    // The namespace whose tenant rules this alert selects; each action's guard then checks its own target.
    const startedAt = this.deps.onEvaluated ? performance.now() : 0;
    const namespace = alertNamespace(ev);
    const matched = current.evaluate(ev, namespace);
    this.deps.onEvaluated?.(ev, matched, startedAt);
    if (this.deps.debug) this.logEvaluation(current, ev, namespace, matched);
    if (matched.length === 0) {
      this.deps.settled?.(ev);
      return;
    }
    metrics.eventsMatched.inc();
    this.deps.dispatch(ev, matched);
  }

  /** Debug aid: which rules matched an alert and, for the others, the first criterion that failed. */
  private logEvaluation(index: RuleIndex, ev: FalcoEvent, namespace: string | undefined, matched: readonly CompiledRule[]): void {
    const notMatched = index
      .explain(ev, namespace)
      .filter((e) => !e.explanation.matched)
      .slice(0, 20)
      .map((e) => ({ rule: e.rule.key, failed: e.explanation.failed, reason: e.explanation.reason }));
    this.log.debug('alert evaluated', { trace_id: ev.traceId, falco_rule: ev.rule, matched: matched.map((r) => r.key), not_matched: notMatched });
  }
}
