/**
 * The alert journal (docs/journal.md): what makes a `202` survive a crash. Every accepted
 * alert is written (`A`) before the webhook answers; each action outcome recorded for it
 * (`P`), each of its rules finished (`R`) and the alert itself finished (`D`) follow. At
 * start the log is replayed: an alert without `D` is handed back with the actions already
 * recorded, so none of those runs again.
 *
 * Compaction: segments are deleted oldest first, once nothing in them is live (an `A` whose
 * `D` has not come). Only a prefix is ever deleted, so a `D` is never gone while its `A` is
 * still on disk. An alert that holds an old segment (a long retry) is copied forward — its
 * `A` and progress re-appended to the current segment — when a segment is rolled, so one slow
 * alert does not pin the log. Deduplication keys younger than the window are copied forward
 * (`K`) at each roll too — the newest of them, at most a quarter of a segment's worth — so they
 * outlive the segment of their alert and a restart.
 *
 * Write batching: an `A` is written before the 202 — `accept` writes it before it returns; the
 * webhook stages its `A` records instead (`stage`) and commits them once per event-loop turn
 * (`commit`), before any of the turn's 202s: one write for every alert of the turn (group
 * commit). A `P` is written before the action's outcome is recorded (the commit point): it is
 * enqueued, and `progress` returns a promise that resolves once it is written. `R` and `D` only
 * say that nothing more is to be done. `P`, `R` and `D` are written with the next `A`, or at the
 * latest by a `setImmediate` flush — one write for several records. A crash in
 * between replays an alert whose actions all have their `P`: nothing runs again.
 */
import { RecentKeys } from './recent-keys.js';
import { SegmentStore, headerJson, jsonString, type FsyncPolicy, type JournalRecord } from './segments.js';

export interface JournalOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  /** Period of the `interval` policy's fdatasync, ms. */
  readonly fsyncIntervalMs: number;
  /** Roll to a new segment past this size (default 8 MiB). */
  readonly segmentBytes?: number;
  /** Deduplication keys younger than this are carried forward (the dedup window). */
  readonly keyWindowMs: number;
  /** Wall clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Most dedup keys carried into a new segment (default: a quarter of `segmentBytes` worth). */
  readonly maxCarriedKeys?: number;
}

/** An alert accepted before the restart whose work is not finished. */
export interface ReplayedAlert {
  readonly id: number;
  readonly traceId: string;
  /** When it was accepted, ms since the epoch. */
  readonly wallMs: number;
  readonly key: string;
  readonly body: Buffer;
  /** Per rule key: how many of its actions have their outcome recorded (they do not run again). */
  readonly progress: ReadonlyMap<string, number>;
  /** Rules finished for this alert (nothing of theirs runs again). */
  readonly rulesDone: ReadonlySet<string>;
}

export interface OpenedJournal {
  readonly journal: Journal;
  /** Unfinished alerts, in acceptance order. */
  readonly pending: readonly ReplayedAlert[];
  /** Deduplication keys seen within the window, oldest first. */
  readonly keys: readonly { readonly key: string; readonly wallMs: number }[];
  /** Torn or corrupt tails cut off at open, one line each. */
  readonly problems: readonly string[];
  /** Records read. */
  readonly records: number;
}

interface Live {
  readonly id: number;
  segment: number;
  readonly header: AcceptHeader;
  readonly body: Buffer;
  /**
   * Progress per rule: the first rule's in `firstRule`/`firstRecorded`, any other's in
   * `progress`, made on first use (like the ledger's entries). A live alert stays through at
   * least one more event-loop turn (its `P` waits for a write), so a Map per alert survived
   * young-generation collections: 9 % of the bytes copied by scavenges on distinct alerts
   * (issue 15). `rulesDone` is made on first use too.
   */
  firstRule: string | undefined;
  firstRecorded: number;
  progress: Map<string, number> | undefined;
  rulesDone: Set<string> | undefined;
}

/** A live alert's progress, rule by rule (first rule first). */
function* progressOf(l: Live): Iterable<[string, number]> {
  if (l.firstRule !== undefined) yield [l.firstRule, l.firstRecorded];
  if (l.progress !== undefined) yield* l.progress;
}

/** How many actions of rule `r` of live alert `l` have their outcome (0: none known). */
function progressAt(l: Live, r: string): number {
  return l.firstRule === r ? l.firstRecorded : (l.progress?.get(r) ?? 0);
}

/** The first `n` actions of rule `r` of live alert `l` have their outcome. */
function setProgress(l: Live, r: string, n: number): void {
  if (l.firstRule === undefined || l.firstRule === r) {
    l.firstRule = r;
    l.firstRecorded = n;
  } else (l.progress ??= new Map()).set(r, n);
}

/** The header of an `A` record: id, trace id, wall time (ms), dedup key. */
type AcceptHeader = { readonly id: number; readonly tr: string; readonly t: number; readonly k: string };

/** An `A` record not yet written (see `stage`). */
interface Staged {
  readonly id: number;
  readonly header: AcceptHeader;
  readonly body: Buffer;
}

const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;
/** Bytes a carried dedup key takes, at most (a 44-character key and a time; ≈ 62 in a batch). */
const K_RECORD_BYTES = 80;
/**
 * Dedup keys carried forward in one `K` record at a roll (header `{ks, ts}`; a single key's
 * `{k, t}`, as written before, is still read). A record per key cost ≈ 1.1 µs each to
 * serialise and checksum — 29 ms per roll for 26,214 keys, 5 ms batched — and 3.6 % of the
 * intake's CPU on distinct alerts (issue 15).
 */
const KEYS_PER_RECORD = 2048;

export class Journal {
  private readonly store: SegmentStore;
  private readonly now: () => number;
  private readonly keyWindowMs: number;
  private readonly live = new Map<number, Live>();
  private staged: Staged[] = [];
  /** Live alerts per retained segment, oldest segment first (Map keeps insertion order). */
  private readonly held = new Map<number, number>();
  private readonly recentKeys = new RecentKeys();
  private readonly maxCarriedKeys: number;
  private nextId: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  private flushScheduled = false;
  /** The end-of-turn write was left to a commit coming in the same turn (`flush`). */
  private deferred = false;
  /** The last rule name written in a `P`, and it as JSON: an alert's rules repeat from alert to alert. */
  private lastRule = '';
  private lastRuleJson = '""';
  /** Resolves once what is enqueued now is written (the `P` records' waiters). */
  private written: Promise<void> | undefined;
  private resolveWritten: () => void = () => undefined;
  private onWriteError: (err: Error) => void = () => undefined;

  private constructor(store: SegmentStore, opts: JournalOptions, nextId: number) {
    this.store = store;
    this.now = opts.now ?? Date.now;
    this.keyWindowMs = opts.keyWindowMs;
    this.maxCarriedKeys = opts.maxCarriedKeys ?? Math.floor((opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES) / 4 / K_RECORD_BYTES);
    this.nextId = nextId;
    store.onBackgroundError = (err) => this.onWriteError(err);
    if (opts.fsync === 'interval') {
      this.timer = setInterval(() => this.syncQuietly(), Math.max(10, opts.fsyncIntervalMs));
      this.timer.unref();
    }
  }

  /** Opens the directory, replays it, and returns the journal with what was unfinished. Throws when the directory is unusable. */
  static open(opts: JournalOptions): OpenedJournal {
    const { store, loaded } = SegmentStore.open({ dir: opts.dir, fsync: opts.fsync, segmentBytes: opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES });
    const live = new Map<number, Live>();
    const segments: number[] = [];
    const keys: { key: string; wallMs: number }[] = [];
    let maxId = 0;
    for (const { segment, record } of loaded.records) {
      if (segments.at(-1) !== segment) segments.push(segment);
      const h = record.header;
      const id = Number(h.id);
      if (record.type === 'A') {
        const header = { id, tr: String(h.tr), t: Number(h.t), k: String(h.k) };
        maxId = Math.max(maxId, id);
        keys.push({ key: header.k, wallMs: header.t });
        const prior = live.get(id);
        // A copy-forward re-appends the A record: keep the progress known so far.
        live.set(id, { id, segment, header, body: record.body ?? Buffer.alloc(0), firstRule: prior?.firstRule, firstRecorded: prior?.firstRecorded ?? 0, progress: prior?.progress, rulesDone: prior?.rulesDone });
      } else if (record.type === 'P') {
        const l = live.get(id);
        const n = Number(h.n);
        if (l) {
          const r = String(h.r);
          setProgress(l, r, Math.max(progressAt(l, r), n));
        }
      } else if (record.type === 'R') {
        const l = live.get(id);
        if (l) (l.rulesDone ??= new Set()).add(String(h.r));
      } else if (record.type === 'D') live.delete(id);
      else if (record.type === 'K') {
        if (Array.isArray(h.ks) && Array.isArray(h.ts)) for (let i = 0; i < h.ks.length; i++) keys.push({ key: String(h.ks[i]), wallMs: Number(h.ts[i]) });
        else keys.push({ key: String(h.k), wallMs: Number(h.t) });
      }
    }
    const journal = new Journal(store, opts, maxId + 1);
    for (const s of segments) journal.held.set(s, 0);
    for (const l of live.values()) {
      journal.live.set(l.id, l);
      journal.held.set(l.segment, (journal.held.get(l.segment) ?? 0) + 1);
    }
    journal.held.set(store.segment(), 0);
    const now = journal.now();
    const recent = keys.filter((k) => now - k.wallMs < opts.keyWindowMs).sort((a, b) => a.wallMs - b.wallMs);
    for (const k of recent) journal.recentKeys.push(k.key, k.wallMs);
    journal.release();
    const pending = [...live.values()]
      .sort((a, b) => a.id - b.id)
      .map((l) => ({ id: l.id, traceId: l.header.tr, wallMs: l.header.t, key: l.header.k, body: l.body, progress: new Map(progressOf(l)), rulesDone: l.rulesDone ?? new Set() }));
    return { journal, pending, keys: recent, problems: loaded.problems, records: loaded.records.length };
  }

  /** Writes an accepted alert (`stage` then `commit`: anything else staged goes with it); returns its id. Throws on I/O errors (the alert must then be refused). */
  accept(a: { readonly traceId: string; readonly key: string; readonly body: Buffer }): number {
    const id = this.stage(a);
    this.commit();
    return id;
  }

  /**
   * Group commit: takes an accepted alert whose `A` record the next `commit()` writes, in one
   * write (and under `always` one fdatasync) with every other alert staged since — the alerts
   * of one event-loop turn. Returns its id. Until it is committed the alert is not live: no
   * progress is recorded for it, and it is not evaluated (the intake evaluates after the commit).
   */
  stage(a: { readonly traceId: string; readonly key: string; readonly body: Buffer }): number {
    const id = this.nextId++;
    this.staged.push({ id, header: { id, tr: a.traceId, t: this.now(), k: a.key }, body: a.body });
    return id;
  }

  /** Alerts staged and not yet committed. */
  stagedCount(): number {
    return this.staged.length;
  }

  /**
   * Writes the staged `A` records, one write for all. Throws on I/O errors: then none of them
   * is on disk (a partial write is cut off again) and all are dropped — the caller refuses
   * their alerts, as `accept` would have.
   */
  commit(): void {
    const staged = this.staged;
    if (staged.length === 0) return;
    this.staged = [];
    this.rollIfFull();
    this.store.append(staged.map((x) => ({ type: 'A', header: x.header, body: x.body, json: headerJson.A(x.id, x.header.tr, x.header.t, x.header.k) })));
    for (const x of staged) this.track(x);
    // The write carried every record enqueued before it: their waiters wake now.
    this.deferred = false;
    this.wake();
  }

  /** Writes of records so far (one `write` call each, however many records it carries). */
  writes(): number {
    return this.store.writes();
  }

  /** A written `A` record's alert is live in the current segment; its key is carried at rolls. */
  private track(x: Staged): void {
    const segment = this.store.segment();
    this.live.set(x.id, { id: x.id, segment, header: x.header, body: x.body, firstRule: undefined, firstRecorded: 0, progress: undefined, rulesDone: undefined });
    this.held.set(segment, (this.held.get(segment) ?? 0) + 1);
    this.recentKeys.push(x.header.k, x.header.t);
  }

  /**
   * The first `recorded` actions of `rule` have their outcome recorded for alert `id`. The `P`
   * record goes with the turn's other records (one write at the end of the turn at the latest,
   * like `R` and `D`); the promise resolves once it is written — the caller records the outcome
   * only then (the commit point). A failed write is reported to the write-error handler and
   * resolves the promise too (a lost `P` costs at most a repeated action after a crash).
   * Undefined when there is nothing to write (an alert not live, a closed journal).
   */
  progress(id: number, rule: string, recorded: number): Promise<void> | undefined {
    const l = this.live.get(id);
    if (!l) return undefined;
    setProgress(l, rule, recorded);
    if (this.closed) return undefined;
    this.enqueue({ type: 'P', header: { id, r: rule, n: recorded }, json: headerJson.P(id, this.ruleJson(rule), recorded) });
    this.written ??= new Promise<void>((resolve) => (this.resolveWritten = resolve));
    return this.written;
  }

  /** Nothing of `rule` runs again for alert `id`. */
  ruleDone(id: number, rule: string): void {
    const l = this.live.get(id);
    if (!l) return;
    (l.rulesDone ??= new Set()).add(rule);
    this.enqueue({ type: 'R', header: { id, r: rule } });
  }

  /** Alert `id` is finished; its segment may go. */
  done(id: number): void {
    const l = this.live.get(id);
    if (!l) return;
    this.enqueue({ type: 'D', header: { id }, json: headerJson.D(id) });
    this.live.delete(id);
    this.held.set(l.segment, (this.held.get(l.segment) ?? 1) - 1);
    this.release();
  }

  /** Where a failed write of enqueued records is reported (they stay enqueued and are written with the next record). */
  setWriteErrorHandler(handler: (err: Error) => void): void {
    this.onWriteError = handler;
  }

  /** Forgets the carried dedup keys whose window has passed (otherwise only at a roll; the idle compaction calls this). */
  forgetExpiredKeys(): void {
    this.recentKeys.trim(this.now(), this.keyWindowMs, this.maxCarriedKeys);
  }

  /** Unfinished alerts. */
  pendingCount(): number {
    return this.live.size;
  }

  /** Resolves once the segments' background work queued so far (a closed segment's sync, removals) has ended. */
  settled(): Promise<void> {
    return this.store.settled();
  }

  /** Flushes (fdatasync) and closes; later calls do nothing. What runs in the background ends on its own (`settled`). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    try {
      this.store.close();
    } finally {
      this.wake();
    }
  }

  /** `r` goes with the next write, at the latest at the end of this event-loop turn. */
  private enqueue(r: JournalRecord): void {
    if (this.closed) return;
    this.store.enqueue(r);
    this.scheduleFlush();
  }

  private ruleJson(rule: string): string {
    if (rule !== this.lastRule) {
      this.lastRule = rule;
      this.lastRuleJson = jsonString(rule);
    }
    return this.lastRuleJson;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.closed) return;
    if (this.staged.length > 0 && !this.deferred) {
      // Alerts were staged in this turn: the webhook commits them later in this same phase
      // (it answers at the end of the turn, routes/falco.ts), and that write carries what is
      // enqueued — one write instead of two. Looked at again next turn, written then at the
      // latest, whether or not a commit came.
      this.deferred = true;
      this.scheduleFlush();
      return;
    }
    this.deferred = false;
    try {
      this.rollIfFull();
      this.store.flush();
    } catch (err) {
      this.onWriteError(err as Error);
    }
    this.wake();
  };

  /** Resolves the promise of the records enqueued until now (written, or their write failed). */
  private wake(): void {
    if (this.written === undefined) return;
    const resolve = this.resolveWritten;
    this.written = undefined;
    resolve();
  }

  private syncQuietly(): void {
    try {
      if (!this.closed) this.store.syncInBackground();
    } catch {
      // the next append reports the I/O error where it can be acted on (a 503)
    }
  }

  /**
   * Rolls to a new segment when the current one is full: carries the recent dedup keys
   * forward, and copies forward the alerts that still hold segments older than the one just
   * closed, so that those can be deleted.
   */
  private rollIfFull(): void {
    if (this.closed || !this.store.full()) return;
    // What is enqueued belongs to the segment being closed (its alerts' A records are there).
    this.store.flush();
    const closing = this.store.segment();
    const next = this.store.roll();
    this.held.set(next, 0);
    this.recentKeys.trim(this.now(), this.keyWindowMs, this.maxCarriedKeys);
    const carried: JournalRecord[] = [];
    for (const batch of this.recentKeys.batches(KEYS_PER_RECORD)) carried.push({ type: 'K', header: { ks: batch.keys, ts: batch.times } });
    const moved: Live[] = [];
    for (const l of this.live.values()) {
      if (l.segment >= closing) continue;
      carried.push({ type: 'A', header: l.header, body: l.body });
      for (const [r, n] of progressOf(l)) carried.push({ type: 'P', header: { id: l.id, r, n } });
      for (const r of l.rulesDone ?? []) carried.push({ type: 'R', header: { id: l.id, r } });
      moved.push(l);
    }
    if (carried.length > 0) this.store.append(carried);
    for (const l of moved) {
      this.held.set(l.segment, (this.held.get(l.segment) ?? 1) - 1);
      l.segment = next;
      this.held.set(next, (this.held.get(next) ?? 0) + 1);
    }
    this.release();
  }

  /** Deletes the oldest segments while they hold nothing live (never the current one). */
  private release(): void {
    const current = this.store.segment();
    for (const [segment, count] of this.held) {
      if (segment === current || count > 0) return;
      this.store.remove(segment);
      this.held.delete(segment);
    }
  }
}
