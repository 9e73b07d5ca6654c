/**
 * The ledger of accepted alerts (docs/journal.md): admission by bytes, and the bookkeeping
 * that tells the journal when an alert's work is finished.
 *
 * Admission: an alert is taken only if its body fits the byte budget of everything accepted
 * and not finished (`maxBytes`), and — while the rule index is not loaded, when everything
 * accepted waits in the pre-index buffer — the smaller `maxHeldBytes`; and, with a journal,
 * only once it is written there. Otherwise the webhook answers 503 with Retry-After: nothing
 * is accepted that cannot be kept.
 *
 * Bookkeeping: the intake says when an alert needs no work (duplicate, no rule matched); the
 * dispatcher says, per matched rule, how far it got (`actionRecorded`) and when the rule is
 * finished (`ruleDone`). When every rule handed to the dispatcher is finished, the alert is
 * done: its bytes leave the budget and the journal may compact it.
 *
 * Keyed by the alert's traceId (unique per accepted alert, kept across a replay).
 */
import type { FalcoEvent } from '../falco/event.js';
import { silentLog, type LogPort } from '../lib/log.js';
import type { Refusal } from '../lib/refusal.js';
import type { Journal, ReplayedAlert } from './journal.js';

export interface LedgerOptions {
  /** Absent: accounting in memory only (journal disabled). */
  readonly journal?: Journal;
  /** Bytes of alert bodies accepted and not finished, at most. */
  readonly maxBytes: number;
  /** The same while the rule index is not loaded (the pre-index buffer). */
  readonly maxHeldBytes: number;
  /** Retry-After of a refusal, seconds. */
  readonly retryAfterSeconds?: number;
  readonly log?: LogPort;
}

interface Entry {
  readonly id: number | undefined;
  readonly bytes: number;
  /** Rules handed to the dispatcher and not finished; undefined until the alert is evaluated. */
  rulesLeft: number | undefined;
  /**
   * Actions recorded per rule: the first rule's in `firstRule`/`firstRecorded`, any other's (and
   * a replay's) in `progress`, made on first use, like `rulesDone`: most alerts match one rule,
   * and a Map and a Set per alert were 5 % of a matched alert's allocations (issue 15).
   */
  firstRule: string | undefined;
  firstRecorded: number;
  progress: Map<string, number> | undefined;
  rulesDone: Set<string> | undefined;
}

export class Ledger {
  private readonly opts: LedgerOptions;
  private readonly log: LogPort;
  private readonly entries = new Map<string, Entry>();
  /** Trace ids staged for the next journal commit. */
  private staged: string[] = [];
  private liveBytes = 0;
  private indexLoaded = false;
  private journalFailures = 0;

  constructor(opts: LedgerOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLog;
    opts.journal?.setWriteErrorHandler((err) => this.writeFailed(err));
  }

  /** Bytes of accepted, unfinished alerts. */
  bytes(): number {
    return this.liveBytes;
  }

  /** Accepted, unfinished alerts. */
  count(): number {
    return this.entries.size;
  }

  /** From now on the larger budget applies (nothing waits for the index any more). */
  setIndexLoaded(): void {
    this.indexLoaded = true;
  }

  /**
   * Takes an alert (journaled when there is a journal) or says why not. `key` is its
   * deduplication key, kept so that a restart still recognises a second delivery. The same as
   * `stage` then `commit`: it commits whatever else is staged too.
   */
  admit(ev: FalcoEvent, key: string, body: Buffer): Refusal | undefined {
    return this.stage(ev, key, body) ?? this.commit();
  }

  /**
   * Takes an alert into the byte budget and stages its journal record for the next `commit()`
   * (group commit: one write for the alerts of a turn), or says why not. Until the commit the
   * alert must not be evaluated.
   */
  stage(ev: FalcoEvent, key: string, body: Buffer): Refusal | undefined {
    const limit = this.indexLoaded ? this.opts.maxBytes : Math.min(this.opts.maxBytes, this.opts.maxHeldBytes);
    if (this.liveBytes + body.length > limit) {
      const what = this.indexLoaded ? 'queue.maxBytes' : 'queue.maxHeldBytes (the rule index is still loading)';
      return { reason: `the operator holds ${this.liveBytes} bytes of unfinished alerts; this one (${body.length} bytes) would pass ${what} = ${limit}`, retryAfterSeconds: this.retryAfterSeconds() };
    }
    const id = this.opts.journal?.stage({ traceId: ev.traceId, key, body });
    this.entries.set(ev.traceId, { id, bytes: body.length, rulesLeft: undefined, firstRule: undefined, firstRecorded: 0, progress: undefined, rulesDone: undefined });
    this.liveBytes += body.length;
    if (id !== undefined) this.staged.push(ev.traceId);
    return undefined;
  }

  /**
   * Writes the journal records of every alert staged since the last commit. When the journal
   * cannot be written, those alerts are let go (their bytes leave the budget) and the refusal
   * says why: every one of them must be refused (503), as nothing of them is kept.
   */
  commit(): Refusal | undefined {
    const staged = this.staged;
    if (staged.length === 0) return undefined;
    this.staged = [];
    try {
      this.opts.journal?.commit();
      return undefined;
    } catch (err) {
      for (const traceId of staged) {
        const e = this.entries.get(traceId);
        if (e === undefined) continue;
        this.entries.delete(traceId);
        this.liveBytes -= e.bytes;
      }
      if (this.journalFailures++ % 100 === 0) this.log.error('journal write failed; alerts are refused until it works', { error: (err as Error).message, failures: this.journalFailures });
      return { reason: `the journal cannot be written: ${(err as Error).message}`, retryAfterSeconds: this.retryAfterSeconds() };
    }
  }

  private retryAfterSeconds(): number {
    return this.opts.retryAfterSeconds ?? 5;
  }

  /** Registers an alert replayed from the journal, with what was already done for it. */
  restore(r: ReplayedAlert): void {
    this.entries.set(r.traceId, { id: r.id, bytes: r.body.length, rulesLeft: undefined, firstRule: undefined, firstRecorded: 0, progress: new Map(r.progress), rulesDone: new Set(r.rulesDone) });
    this.liveBytes += r.body.length;
  }

  /** The matched rules still to do for this alert (after a replay, those not finished before). */
  remaining<R extends { readonly key: string }>(ev: FalcoEvent, rules: readonly R[]): readonly R[] {
    const e = this.entries.get(ev.traceId);
    const done = e?.rulesDone;
    if (done === undefined || done.size === 0) return rules;
    return rules.filter((r) => !done.has(r.key));
  }

  /** `n` rules were handed to the dispatcher for this alert; 0 finishes it. */
  dispatched(ev: FalcoEvent, n: number): void {
    const e = this.entries.get(ev.traceId);
    if (!e) return;
    e.rulesLeft = (e.rulesLeft ?? 0) + n;
    if (e.rulesLeft <= 0) this.finish(ev.traceId, e);
  }

  /** The alert needs no work (duplicate, nothing matched, dropped with a reason). */
  settled(ev: Pick<FalcoEvent, 'traceId'>): void {
    const e = this.entries.get(ev.traceId);
    if (e) this.finish(ev.traceId, e);
  }

  /** Index of the first action of `ruleKey` still to run for this alert (0 unless replayed). */
  resumeAt(ev: FalcoEvent, ruleKey: string): number {
    const e = this.entries.get(ev.traceId);
    if (e === undefined) return 0;
    return e.firstRule === ruleKey ? e.firstRecorded : (e.progress?.get(ruleKey) ?? 0);
  }

  /**
   * The first `recorded` actions of `ruleKey` have an outcome for this alert. With a journal,
   * the promise resolves once that is written (with the turn's other records): record the
   * outcome only then.
   */
  actionRecorded(ev: FalcoEvent, ruleKey: string, recorded: number): Promise<void> | undefined {
    const e = this.entries.get(ev.traceId);
    if (!e) return undefined;
    if (e.firstRule === undefined || e.firstRule === ruleKey) {
      e.firstRule = ruleKey;
      e.firstRecorded = recorded;
    } else (e.progress ??= new Map()).set(ruleKey, recorded);
    if (e.id === undefined) return undefined;
    return this.quietly(() => this.opts.journal?.progress(e.id!, ruleKey, recorded));
  }

  /** Nothing of `ruleKey` runs again for this alert; the last of its rules finishes it. */
  ruleDone(ev: FalcoEvent, ruleKey: string): void {
    const e = this.entries.get(ev.traceId);
    if (!e) return;
    e.rulesLeft = (e.rulesLeft ?? 1) - 1;
    if (e.rulesLeft <= 0) {
      this.finish(ev.traceId, e);
      return;
    }
    (e.rulesDone ??= new Set()).add(ruleKey);
    if (e.id !== undefined) this.quietly(() => this.opts.journal?.ruleDone(e.id!, ruleKey));
  }

  private finish(traceId: string, e: Entry): void {
    this.entries.delete(traceId);
    this.liveBytes -= e.bytes;
    if (e.id !== undefined) this.quietly(() => this.opts.journal?.done(e.id!));
  }

  /** A failed progress write costs at most a repeated action after a crash: log it, carry on. */
  private quietly<T>(write: () => T): T | undefined {
    try {
      return write();
    } catch (err) {
      this.writeFailed(err as Error);
      return undefined;
    }
  }

  private writeFailed(err: Error): void {
    if (this.journalFailures++ % 100 === 0) this.log.error('journal write failed', { error: err.message, failures: this.journalFailures });
  }
}
