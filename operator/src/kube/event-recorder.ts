/**
 * Writes events.k8s.io/v1 Events for any component (the k8sevents notifier, the rule
 * reconciler's reporter): `emit(regarding, related, note, {reason, action, type})`.
 *
 * Aggregation: occurrences with the same regarding object, reason, action and note shape
 * (digits ignored) within `windowMs` of the previous one form a series (the shape is kept as a
 * 64-bit hash, `noteShape`, so no masked copy of each note is made): the first is created
 * as an Event without `series`, later ones patch `series.count` / `series.lastObservedTime`.
 * Counting contract: an Event without `series` stands for 1 occurrence, one with `series`
 * for `series.count`; once flushed, the stored Events of a series add up exactly to the
 * occurrences recorded (an Event that vanished — TTL — starts a new series with the rest).
 *
 * Folding: a series is written at most once per `seriesIntervalMs` (default 10 s): its first
 * occurrence is created at once (a new kind of Event shows without delay), later ones are
 * folded and one merge patch writes them all once the interval since the series' previous
 * write has passed — by the series' first occurrence after that, or, for a series that went
 * quiet, by the periodic `tick()` (main.ts: every second) once it has been due for half an
 * interval. So a series that occurs 100 times a second costs one API call per 10 s, not one per
 * occurrence, and the Event writes stay off the API server's back while it serves the actions
 * themselves. `flush()` ignores the interval (shutdown, tests): once flushed, the counting
 * contract holds.
 *
 * Pacing: at most `maxInFlight` calls are in flight at once, and at most `updatesPerSecond`
 * series updates (count refreshes) start per second (a token bucket, burst the same). A write
 * due beyond either waits its turn and starts as a call ends or a token comes: creations first
 * (a new Event shows as soon as a call slot is free; the creation budget below already paces
 * them), then waiting updates in the order they came (an occurrence that finds a token free
 * writes its own due series at once, as it would with nothing waiting). `flush()` is held only
 * to `maxInFlight`.
 * Series tend to fall due together — 100 targets labelled once a second each
 * start their series within a second or two, and every 10 s they are due again in the same
 * window — and the API server that writes those Events is the one serving the actions. Before
 * (issue 15), the tick wrote every series due in its second at once: every 10 s ≈ 100 Event
 * patches at the same moment, which opened ≈ 50 new TLS connections and delayed the actions'
 * own PATCHes by up to 160 ms (the p99 of alert to effect at 100 alerts/s); written instead by
 * their occurrences, the 200 series of the bench still took the API server ≈ 100 writes a
 * second for two seconds in ten, and the actions' latency with them. Paced at 25 writes a
 * second, the bench's 400 busy series (a pod's and its rule's per target, each due every 10 s)
 * still took up to 25 updates a second from the API server serving the actions: at 300
 * alerts/s, when that server saturates the machine, the actions' tail passed 250 ms in most
 * runs. At 5 updates a second a series is refreshed every
 * max(10 s, busy series / 5 s) — 80 s for those 400 — its count exact, its Event created at
 * once (bench/RESULTS.md §15).
 *
 * Rate limit: every API call for a regarding object takes a token from that object's bucket
 * (`burst`, one token back per `refillMs`). Without a token the occurrences stay pending in
 * their series and are written by a later `tick()` or `flush()`. One call per series is in flight at a
 * time; what arrives meanwhile is folded into the next call. `record` never blocks and
 * never throws; API failures are logged and retried once the series' interval has passed
 * (or at the next `flush()`), up to `maxFailures`
 * consecutive failures per series, after which its pending occurrences are dropped and
 * counted in `dropped()`.
 *
 * Budget: creating an Event (a new series) takes a token from the bucket of the Event's
 * namespace (`perNamespacePerMinute`, burst the same) and from the cluster-wide bucket
 * (`clusterPerMinute`). An occurrence that would start a series without a token in both, or
 * for an object whose rate-limit bucket is empty (its Event would only wait), is aggregated
 * instead: it is counted in one series per (namespace, object, reason, action)
 * whose Event says that further occurrences beyond the budget are counted there; the object
 * is the one the caller names in `aggregateOn` (the k8sevents notifier names the rule). 10,000 alerts naming
 * distinct pods thus write at most the budget plus a handful of aggregate Events.
 */
import { fromKubeError } from '../errors.js';
import { silentLog, type LogPort } from '../lib/log.js';
import type { ObjectRef } from '../lib/object-ref.js';
import { Periodic } from '../lib/periodic.js';
import { clip } from '../lib/clip.js';
import { MERGE_PATCH, apiPath, type RawKube } from './raw.js';

export const REPORTING_CONTROLLER = 'talon.dev/operator';
export const NOTE_MAX = 1024;
/** Annotation of an Event: the W3C trace id of the latest occurrence of its series (logs, notifications and traces carry the same id). */
export const TRACE_ID_ANNOTATION = 'talon.dev/trace-id';

/** Events' regarding/related object. */
export type EventObjectReference = ObjectRef;

/** An events.k8s.io/v1 Event as sent on create. */
export interface EventBody {
  apiVersion: 'events.k8s.io/v1';
  kind: 'Event';
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  /** MicroTime: RFC 3339 with exactly 6 fractional digits. */
  eventTime: string;
  series?: { count: number; lastObservedTime: string };
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  note: string;
  type: 'Normal' | 'Warning';
  regarding: EventObjectReference;
  related?: EventObjectReference;
}

/** The merge patch sent to extend a series. */
export interface SeriesPatch {
  metadata?: { annotations: Record<string, string> };
  series: { count: number; lastObservedTime: string };
}

/** Wire to EventsV1Api: createNamespacedEvent / patchNamespacedEvent (merge patch). Errors carry the HTTP status as `.code`. */
export interface EventsPort {
  create(namespace: string, body: EventBody): Promise<unknown>;
  patch(namespace: string, name: string, body: SeriesPatch): Promise<unknown>;
}

/**
 * The Events port over raw requests (kube/raw.ts): the answers are not parsed (the recorder
 * needs nothing from them), and no typed (de)serialisation runs for the Event writes.
 */
export function rawEventsPort(raw: RawKube): EventsPort {
  const events = (namespace: string): string => apiPath('apis', 'events.k8s.io', 'v1', 'namespaces', namespace, 'events');
  return {
    create: (namespace, body) => raw.request({ method: 'POST', path: events(namespace), body, discard: true }),
    patch: (namespace, name, body) => raw.request({ method: 'PATCH', path: `${events(namespace)}${apiPath(name)}`, body, contentType: MERGE_PATCH, discard: true }),
  };
}

export interface EventRecorderOptions {
  readonly port: EventsPort;
  /** The operator pod's name. */
  readonly reportingInstance: string;
  /** Wall clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Series window (default 10 min). */
  readonly windowMs?: number;
  /** Per-object bucket size (default 25). */
  readonly burst?: number;
  /** Per-object refill period of one token (default 5 s). */
  readonly refillMs?: number;
  /** Series kept in memory (default 4096); beyond, idle ones are forgotten first. */
  readonly maxSeries?: number;
  readonly maxFailures?: number;
  /** New Events per namespace per minute (default 60). */
  readonly perNamespacePerMinute?: number;
  /** New Events per minute cluster-wide (default 600). */
  readonly clusterPerMinute?: number;
  /** A series is written at most once per this period (default SERIES_INTERVAL_MS; see the module doc). */
  readonly seriesIntervalMs?: number;
  /** Event API calls in flight at most (default MAX_IN_FLIGHT); a further write waits for one to end. */
  readonly maxInFlight?: number;
  /** Series updates (Event API calls other than creations) started per second at most (default UPDATES_PER_SECOND, burst the same; Infinity: no limit); `flush()` is not held to it. */
  readonly updatesPerSecond?: number;
  /** Each Event API call as it ends: a creation or a series update, and whether it succeeded (metrics). */
  readonly onWrite?: (verb: 'create' | 'update', ok: boolean) => void;
  readonly log?: LogPort;
}

/** Default period between two writes of one series (README "Events"). */
export const SERIES_INTERVAL_MS = 10_000;

/**
 * Default cap on Event API calls in flight. Four calls of a few ms each write hundreds of
 * Events a second, well above the creation budget (600/min) and the folded series' writes,
 * while the operator keeps a handful of connections to the API server for them.
 */
export const MAX_IN_FLIGHT = 4;

/**
 * Default series updates started per second: a refresh of 50 busy series' counts every 10 s,
 * of more less often (their occurrences stay counted, and written at shutdown). Creations are
 * not held to it: the creation budget (600/min cluster-wide) paces them. At 25 the updates of
 * the bench's 400 busy series pushed the tail of alert to effect at 300/s past 250 ms in 5 of
 * 6 runs; at 5, in 1 of 6, when the machine was saturated without them (bench/RESULTS.md §15).
 */
export const UPDATES_PER_SECOND = 5;

/** Namespaces whose creation buckets are remembered at most; full ones are forgotten first. */
const MAX_BUDGET_BUCKETS = 10_000;

interface Series {
  /** The regarding object's key (an aggregate series': its subject's); the series is indexed under it. */
  readonly objectKey: string;
  /** The related object's key, '' when none (always '' for an aggregate series). */
  readonly relatedKey: string;
  /** The note's shape (`noteShape`); '' for an aggregate series. */
  readonly shape: string;
  /** An aggregate series: the namespace of the occurrences it counts; undefined for an Event series. */
  readonly aggregateOf: string | undefined;
  readonly namespace: string;
  readonly template: Omit<EventBody, 'metadata' | 'eventTime' | 'series'>;
  eventName: string | undefined;
  /** Occurrences the current stored Event accounts for. */
  written: number;
  /** Occurrences not yet written. */
  pending: number;
  lastObserved: number;
  inFlight: boolean;
  /** Not written again before this time (ms; 0: at once). */
  nextWriteAt: number;
  failures: number;
  /** The trace id of the latest occurrence, when the emitter gave one. */
  traceId: string | undefined;
  /** When it was last moved to the back of the eviction order. */
  touchedAt: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

/** Adds to a token bucket what `now` brings at `perMs` tokens a ms, up to `capacity`. */
function refill(b: Bucket, capacity: number, perMs: number, now: number): void {
  b.tokens = Math.min(capacity, b.tokens + Math.max(0, now - b.last) * perMs);
  b.last = now;
}

/** MicroTime text of a ms timestamp. */
export function microTime(ms: number): string {
  const iso = new Date(Math.floor(ms)).toISOString();
  return `${iso.slice(0, 23)}000Z`;
}

/** `note` after its related object (`Kind ns/name: `), unless it names that object already. */
function withPrefix(note: string, related: EventObjectReference): string {
  if (note.includes(related.name)) return note;
  return clip(`${related.kind} ${related.namespace ? `${related.namespace}/` : ''}${related.name}: ${note}`, NOTE_MAX);
}

function objectKey(o: EventObjectReference): string {
  return `${o.kind}/${o.namespace ?? ''}/${o.name}`;
}

interface ObjectKeyMemo {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string | undefined;
  readonly key: string;
}

function sameObject(m: ObjectKeyMemo, o: EventObjectReference): boolean {
  return o.name === m.name && o.kind === m.kind && o.namespace === m.namespace;
}

/**
 * The shape of a note: a 64-bit hash (two 32-bit FNV-1a lanes) of its text with each run of
 * digits read as one '#', so durations and counts do not split a series. Computed in one pass
 * without copying the note: the masked copy (`replace(/[0-9]+/g, '#')`) and the long key it
 * made were a third of the recorder's allocations on the intake path (issue 15). Two notes of
 * different shapes for one object, reason and action share a series with probability 2^-64.
 */
export function noteShape(note: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  let inDigits = false;
  for (let i = 0; i < note.length; i++) {
    let c = note.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (inDigits) continue;
      inDigits = true;
      c = 35; // '#'
    } else inDigits = false;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return `${(a >>> 0).toString(36)}.${(b >>> 0).toString(36)}`;
}

/** A series is moved to the back of the eviction order at most this often (ms): moving it is a Map delete and insert. */
const TOUCH_INTERVAL_MS = 1000;

export interface EventKind {
  readonly reason: string;
  readonly action: string;
  readonly type: 'Normal' | 'Warning';
  /**
   * Which object an occurrence beyond the Event budget is aggregated on (default
   * `regarding`): the one object many occurrences share, e.g. the rule that acted on many pods.
   */
  readonly aggregateOn?: 'regarding' | 'related';
  /** The alert's trace id, written as the TRACE_ID_ANNOTATION. */
  readonly traceId?: string;
  /**
   * The Event's note starts with the related object (`Kind ns/name: `) unless the note names it
   * already (k8sevents: the target, on the rule's Event). Not part of the series' shape — the
   * related object is part of the series already — and joined only when a series' Event is
   * first made, not per occurrence.
   */
  readonly prefixRelated?: boolean;
}

export class EventRecorder {
  private readonly port: EventsPort;
  private readonly instance: string;
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxSeries: number;
  private readonly maxFailures: number;
  private readonly log: LogPort;
  private readonly onWrite: (verb: 'create' | 'update', ok: boolean) => void;
  /** Every series, least recently used first (makeRoom evicts from the front). */
  private readonly series = new Set<Series>();
  /**
   * The series of each object key, then of each related object's key (or ''): an occurrence
   * finds its series by the two keys and a scan of the few series they share (note shapes,
   * kinds), without building a key of the whole tuple (that key and its lookup were a third of
   * the recorder's CPU on the intake path, issue 15). Two levels, not a list per object: a
   * rule's Event has one series per target it acted on, up to `maxSeries`, and a scan of those
   * cost every outcome of the rule time in proportion to its targets.
   */
  private readonly byObject = new Map<string, Map<string, Series[]>>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly maxInFlight: number;
  /** New series whose creation is due but found `maxInFlight` calls in flight, in the order they came. */
  private readonly waitingCreates = new Set<Series>();
  /** Series whose update is due but found `maxInFlight` calls in flight or no update token, in the order they came. */
  private readonly waitingUpdates = new Set<Series>();
  private readonly updatesPerSecond: number;
  /** The token bucket of `updatesPerSecond`. */
  private readonly updateTokens: Bucket;
  /** Starts the waiting updates when the next update token comes. */
  private pacer: NodeJS.Timeout | undefined;
  /** In `flush()`: writes are held to `maxInFlight` only. */
  private flushing = false;
  private readonly nsPerMinute: number;
  private readonly clusterPerMinute: number;
  private readonly nsBudget = new Map<string, Bucket>();
  private readonly clusterBudget: Bucket;
  private aggregatedCount = 0;
  private nameSeq = 0;
  private droppedCount = 0;
  private readonly seriesIntervalMs: number;
  private readonly periodic = new Periodic(() => this.tick());
  private lastObject: ObjectKeyMemo | undefined;
  private previousObject: ObjectKeyMemo | undefined;
  private lastNote: string | undefined;
  private lastShape = '';

  constructor(opts: EventRecorderOptions) {
    this.port = opts.port;
    this.instance = opts.reportingInstance;
    this.now = opts.now ?? Date.now;
    this.windowMs = opts.windowMs ?? 600_000;
    this.burst = opts.burst ?? 25;
    this.refillMs = opts.refillMs ?? 5000;
    this.maxSeries = opts.maxSeries ?? 4096;
    this.maxFailures = opts.maxFailures ?? 5;
    this.nsPerMinute = opts.perNamespacePerMinute ?? 60;
    this.clusterPerMinute = opts.clusterPerMinute ?? 600;
    this.seriesIntervalMs = opts.seriesIntervalMs ?? SERIES_INTERVAL_MS;
    this.maxInFlight = Math.max(1, Math.floor(opts.maxInFlight ?? MAX_IN_FLIGHT));
    this.updatesPerSecond = Math.max(1, opts.updatesPerSecond ?? UPDATES_PER_SECOND);
    this.updateTokens = { tokens: this.updatesPerSecond, last: this.now() };
    this.clusterBudget = { tokens: this.clusterPerMinute, last: this.now() };
    this.log = opts.log ?? silentLog;
    this.onWrite = opts.onWrite ?? (() => undefined);
  }

  /** Occurrences folded into aggregate series because the Event budget was spent. */
  aggregated(): number {
    return this.aggregatedCount;
  }

  /** Writes every pending occurrence that has a token, due or not (shutdown), and forgets idle series past their window. */
  async flush(): Promise<void> {
    this.flushing = true;
    try {
      await this.sweep(true);
    } finally {
      this.flushing = false;
    }
  }

  /**
   * The periodic pass: writes the series that have been due for half an interval (and have a
   * token) — those still taking occurrences are written by their next one; forgets idle ones.
   */
  async tick(): Promise<void> {
    await this.sweep(false);
  }

  private async sweep(force: boolean): Promise<void> {
    const now = this.now();
    const dueBy = now - this.seriesIntervalMs / 2;
    for (const s of this.series) {
      if (s.pending > 0) this.write(s, force ? undefined : dueBy);
      else if (!s.inFlight && now - s.lastObserved > this.windowMs) this.forget(s);
    }
    for (const [k, b] of this.buckets) if (b.tokens + (now - b.last) / this.refillMs >= this.burst) this.buckets.delete(k);
    for (const [k, b] of this.nsBudget) if (b.tokens + ((now - b.last) / 60_000) * this.nsPerMinute >= this.nsPerMinute) this.nsBudget.delete(k);
    this.startWaiting();
    await this.idle();
  }

  /** Resolves once no API call is in flight (a write waiting for a slot starts before the call it waits for ends; one waiting for an update token does not hold this). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Occurrences still waiting for a token or a retry. */
  pending(): number {
    let n = 0;
    for (const s of this.series) n += s.pending;
    return n;
  }

  /** Series whose write is due but waits for a call in flight to end (`maxInFlight`) or, for an update, a token (`updatesPerSecond`). */
  waitingWrites(): number {
    return this.waitingCreates.size + this.waitingUpdates.size;
  }

  /** Occurrences given up on (persistent API failures or memory bound). */
  dropped(): number {
    return this.droppedCount;
  }

  /** Flushes every `intervalMs` until `stop()`. */
  start(intervalMs: number): void {
    this.periodic.start(intervalMs);
  }

  stop(): void {
    this.periodic.stop();
    if (this.pacer !== undefined) clearTimeout(this.pacer);
    this.pacer = undefined;
  }

  /** Records one occurrence; never blocks and never throws. `note` is cut to NOTE_MAX. */
  emit(regarding: EventObjectReference, related: EventObjectReference | undefined, note: string, common: EventKind): void {
    note = clip(note, NOTE_MAX);
    const now = this.now();
    const oKey = this.keyOf(regarding);
    // The related object is part of a series' identity: digits are masked in the note (so
    // durations and counts do not split a series), which would otherwise fold pod b-001 into
    // pod b-000's Event.
    const relKey = related === undefined ? '' : this.keyOf(related);
    const shape = this.shapeOf(note);
    const s = this.find(oKey, relKey, shape, undefined, common);
    const restarts = s !== undefined && s.pending === 0 && !s.inFlight && now - s.lastObserved > this.windowMs;
    const namespace = regarding.namespace ?? 'default';
    // A new Event for an object already at its rate limit would only wait; it is aggregated too.
    if ((s === undefined || restarts) && (!this.hasToken(oKey, now) || !this.takeBudget(namespace, now))) {
      this.aggregate(regarding, related, oKey, relKey, namespace, common, now);
      return;
    }
    const text = s === undefined && common.prefixRelated === true && related !== undefined ? withPrefix(note, related) : note;
    this.observe(s, oKey, relKey, shape, undefined, namespace, regarding, related, text, common, now);
  }

  /** The series of an object key with this related object, note shape and kind (an aggregate's: `aggregateOf` its namespace). */
  private find(objectKey: string, relatedKey: string, shape: string, aggregateOf: string | undefined, common: EventKind): Series | undefined {
    const list = this.byObject.get(objectKey)?.get(relatedKey);
    if (list === undefined) return undefined;
    for (const s of list) {
      if (s.shape === shape && s.aggregateOf === aggregateOf && s.template.reason === common.reason && s.template.action === common.action) return s;
    }
    return undefined;
  }

  /** Forgets a series (and its place in the index). */
  private forget(s: Series): void {
    this.series.delete(s);
    this.waitingCreates.delete(s);
    this.waitingUpdates.delete(s);
    const byRelated = this.byObject.get(s.objectKey);
    const list = byRelated?.get(s.relatedKey);
    if (byRelated === undefined || list === undefined) return;
    const at = list.indexOf(s);
    if (at !== -1) list.splice(at, 1);
    if (list.length > 0) return;
    byRelated.delete(s.relatedKey);
    if (byRelated.size === 0) this.byObject.delete(s.objectKey);
  }

  /**
   * The key of an object and the shape of a note, each remembered for the last one asked: an
   * outcome's two Events (k8sevents) name the same target and the same note one after the other.
   */
  private keyOf(o: EventObjectReference): string {
    const last = this.lastObject;
    if (last !== undefined && sameObject(last, o)) return last.key;
    const previous = this.previousObject;
    if (previous !== undefined && sameObject(previous, o)) return previous.key;
    const memo = { kind: o.kind, name: o.name, namespace: o.namespace, key: objectKey(o) };
    this.previousObject = last;
    this.lastObject = memo;
    return memo.key;
  }

  private shapeOf(note: string): string {
    if (note !== this.lastNote) {
      this.lastNote = note;
      this.lastShape = noteShape(note);
    }
    return this.lastShape;
  }

  /**
   * Counts one occurrence beyond the budget in its aggregate series, regarding the object
   * `common.aggregateOn` names; one series per (that object, namespace, reason, action).
   * Aggregate series take no budget: there are few of them.
   */
  private aggregate(
    regarding: EventObjectReference,
    related: EventObjectReference | undefined,
    oKey: string,
    relKey: string,
    namespace: string,
    common: EventKind,
    now: number,
  ): void {
    this.aggregatedCount += 1;
    const onRelated = common.aggregateOn === 'related' && related !== undefined;
    const subject = onRelated ? related : regarding;
    const subjectKey = onRelated ? relKey : oKey;
    const where = subject.namespace ?? 'default';
    const s = this.find(subjectKey, '', '', namespace, common);
    // Under a storm this is the path every occurrence takes: the note is written only for a new series.
    const note =
      s !== undefined
        ? ''
        : `Event budget spent (${this.nsPerMinute}/min per namespace, ${this.clusterPerMinute}/min cluster-wide): further ${common.reason} occurrences (action ${common.action}) in namespace ${namespace} are counted in this Event's series instead of an Event each.`;
    this.observe(s, subjectKey, '', '', namespace, where, subject, undefined, note, common, now);
  }

  /** Whether the object's rate-limit bucket holds a token now (none is taken). */
  private hasToken(objectKey: string, now: number): boolean {
    const b = this.buckets.get(objectKey);
    return b === undefined || b.tokens + Math.max(0, now - b.last) / this.refillMs >= 1;
  }

  /** One token from the namespace's and the cluster's creation budgets, or false (none taken). */
  private takeBudget(namespace: string, now: number): boolean {
    let ns = this.nsBudget.get(namespace);
    if (ns === undefined) {
      if (this.nsBudget.size >= MAX_BUDGET_BUCKETS) this.nsBudget.delete(this.nsBudget.keys().next().value as string);
      ns = { tokens: this.nsPerMinute, last: now };
      this.nsBudget.set(namespace, ns);
    }
    refill(ns, this.nsPerMinute, this.nsPerMinute / 60_000, now);
    refill(this.clusterBudget, this.clusterPerMinute, this.clusterPerMinute / 60_000, now);
    if (ns.tokens < 1 || this.clusterBudget.tokens < 1) return false;
    ns.tokens -= 1;
    this.clusterBudget.tokens -= 1;
    return true;
  }

  /** Counts one occurrence in `found`, or in a new series of that identity when none was found. */
  private observe(
    found: Series | undefined,
    objectKey: string,
    relatedKey: string,
    shape: string,
    aggregateOf: string | undefined,
    namespace: string,
    regarding: EventObjectReference,
    related: EventObjectReference | undefined,
    note: string,
    common: EventKind,
    now: number,
  ): void {
    let s = found;
    if (s !== undefined && s.pending === 0 && !s.inFlight && now - s.lastObserved > this.windowMs) {
      s.eventName = undefined;
      s.written = 0;
    }
    if (s === undefined) {
      this.makeRoom();
      s = {
        objectKey,
        relatedKey,
        shape,
        aggregateOf,
        namespace,
        template: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.instance,
          action: common.action,
          reason: common.reason,
          note,
          type: common.type,
          regarding,
          ...(related !== undefined ? { related } : {}),
        },
        eventName: undefined,
        written: 0,
        pending: 0,
        lastObserved: now,
        inFlight: false,
        nextWriteAt: 0,
        failures: 0,
        traceId: undefined,
        touchedAt: now,
      };
      this.series.add(s);
      let byRelated = this.byObject.get(objectKey);
      if (byRelated === undefined) this.byObject.set(objectKey, (byRelated = new Map()));
      const list = byRelated.get(relatedKey);
      if (list === undefined) byRelated.set(relatedKey, [s]);
      else list.push(s);
    } else if (now - s.touchedAt >= TOUCH_INTERVAL_MS) {
      // Least recently used first, to the second: makeRoom evicts from the front.
      s.touchedAt = now;
      this.series.delete(s);
      this.series.add(s);
    }
    s.pending += 1;
    s.lastObserved = now;
    if (common.traceId !== undefined) s.traceId = common.traceId;
    this.write(s, now);
  }

  private makeRoom(): void {
    if (this.series.size < this.maxSeries) return;
    for (const s of this.series) {
      if (!s.inFlight && s.pending === 0) {
        this.forget(s);
        return;
      }
    }
    const oldest = this.series.values().next().value as Series | undefined;
    if (oldest !== undefined && !oldest.inFlight) {
      this.droppedCount += oldest.pending;
      this.log.warn('events dropped', { reason: 'too many event series', count: oldest.pending, regarding: oldest.objectKey });
      this.forget(oldest);
    }
  }

  private takeToken(objectKey: string): boolean {
    const now = this.now();
    let b = this.buckets.get(objectKey);
    if (b === undefined) {
      b = { tokens: this.burst, last: now };
      this.buckets.set(objectKey, b);
    }
    refill(b, this.burst, 1 / this.refillMs, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * Starts one write of the series' pending occurrences: at once (`dueBy` undefined), or only if
   * its interval had passed by `dueBy`. With `maxInFlight` calls in flight, or (an update) no update token,
   * it waits its turn.
   */
  private write(s: Series, dueBy: number | undefined): void {
    if (s.inFlight || s.pending === 0 || (dueBy !== undefined && dueBy < s.nextWriteAt)) return;
    const update = s.eventName !== undefined;
    if (this.inFlight.size >= this.maxInFlight || (update && !this.hasUpdateToken())) {
      (update ? this.waitingUpdates : this.waitingCreates).add(s);
      this.pace();
      return;
    }
    this.waitingCreates.delete(s);
    this.waitingUpdates.delete(s);
    if (!this.takeToken(s.objectKey)) return;
    if (update && !this.flushing) this.updateTokens.tokens -= 1;
    const n = s.pending;
    s.pending = 0;
    s.inFlight = true;
    s.nextWriteAt = this.now() + this.seriesIntervalMs;
    const p = this.send(s, n).finally(() => {
      s.inFlight = false;
      this.inFlight.delete(p);
      // A new series' Event is created at once; a re-created one (404) too.
      if (s.pending > 0 && s.failures === 0) this.write(s, s.eventName === undefined ? undefined : this.now());
      this.startWaiting();
    });
    this.inFlight.add(p);
  }

  /** Starts the waiting writes (they were due when they came) while a slot is free: creations, then updates while an update token is free. */
  private startWaiting(): void {
    for (const s of this.waitingCreates) {
      if (this.inFlight.size >= this.maxInFlight) return;
      this.waitingCreates.delete(s);
      this.write(s, undefined);
    }
    for (const s of this.waitingUpdates) {
      if (this.inFlight.size >= this.maxInFlight) return;
      if (!this.hasUpdateToken()) {
        this.pace();
        return;
      }
      this.waitingUpdates.delete(s);
      this.write(s, undefined);
    }
  }

  /** Whether an update may start now by `updatesPerSecond` (refills the bucket; takes nothing). */
  private hasUpdateToken(): boolean {
    if (this.flushing || this.updatesPerSecond === Infinity) return true;
    refill(this.updateTokens, this.updatesPerSecond, this.updatesPerSecond / 1000, this.now());
    return this.updateTokens.tokens >= 1;
  }

  /** Arms one timer that starts the waiting updates when the next update token is due. */
  private pace(): void {
    if (this.pacer !== undefined || this.waitingUpdates.size === 0 || this.inFlight.size >= this.maxInFlight) return;
    const ms = Math.max(1, Math.ceil(((1 - this.updateTokens.tokens) / this.updatesPerSecond) * 1000));
    this.pacer = setTimeout(() => {
      this.pacer = undefined;
      this.startWaiting();
    }, ms);
    this.pacer.unref();
  }

  private async send(s: Series, n: number): Promise<void> {
    const observed = microTime(s.lastObserved);
    const traced = s.traceId === undefined ? undefined : { annotations: { [TRACE_ID_ANNOTATION]: s.traceId } };
    const verb = s.eventName === undefined ? 'create' : 'update';
    try {
      if (s.eventName === undefined) {
        const name = this.eventName(s.template.regarding.name);
        const body: EventBody = { ...s.template, metadata: { name, namespace: s.namespace, ...traced }, eventTime: observed, ...(n >= 2 ? { series: { count: n, lastObservedTime: observed } } : {}) };
        await this.port.create(s.namespace, body);
        s.eventName = name;
        s.written = n;
      } else {
        await this.port.patch(s.namespace, s.eventName, { ...(traced ? { metadata: traced } : {}), series: { count: s.written + n, lastObservedTime: observed } });
        s.written += n;
      }
      s.failures = 0;
      this.onWrite(verb, true);
    } catch (err) {
      this.onWrite(verb, false);
      const e = fromKubeError(err);
      s.pending += n;
      if (e.status === 404 && s.eventName !== undefined) {
        s.eventName = undefined;
        s.written = 0;
        return;
      }
      s.failures += 1;
      this.log.warn('event write failed', { regarding: s.objectKey, reason: s.template.reason, code: e.code, error: e.message, attempt: s.failures });
      if (s.failures >= this.maxFailures) {
        this.droppedCount += s.pending;
        this.log.error('events dropped', { regarding: s.objectKey, reason: s.template.reason, count: s.pending });
        s.pending = 0;
        s.failures = 0;
      }
    }
  }

  private eventName(regardingName: string): string {
    this.nameSeq = (this.nameSeq + 1) % 0x10000;
    const suffix = `${Math.floor(this.now()).toString(16)}${this.nameSeq.toString(16).padStart(4, '0')}`;
    return `${regardingName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
  }
}
