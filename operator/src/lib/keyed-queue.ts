/**
 * A bounded work queue keyed by target (DESIGN.md §4).
 *
 * - Items with the same key run one at a time, in enqueue order.
 * - Distinct keys run concurrently, at most `concurrency` at once; keys take turns (a key
 *   with a backlog goes to the back of the line after each item), so no key starves others.
 * - At most `maxPending` items wait (not counting running ones); beyond that `enqueue`
 *   returns `false` and the caller must account for the drop.
 * - An item enqueued with a `mergeKey` equal to that of an item of the same key that has not
 *   started yet is merged into it: `enqueue` returns 'merged' and the pending item's merge
 *   counter (seen by the worker as `info.merged`) goes up by one.
 * - A worker that throws or rejects is reported to `onError`; the queue carries on.
 * - `halt()` (shutdown) stops starting items; the pending ones stay where they are and
 *   `whenIdle()` says when the running ones are done.
 */

export type EnqueueResult = 'queued' | 'merged' | false;

export interface WorkInfo {
  readonly key: string;
  /** Number of enqueues merged into this item while it was pending. */
  readonly merged: number;
}

export interface KeyedQueueOptions<T> {
  /** Maximum number of keys worked on at once (>= 1). */
  readonly concurrency: number;
  /** Maximum number of items waiting to start (>= 0). */
  readonly maxPending: number;
  readonly worker: (item: T, info: WorkInfo) => Promise<void>;
  readonly onError?: (err: unknown, item: T, key: string) => void;
}

interface Entry<T> {
  readonly item: T;
  readonly mergeKey: string | undefined;
  merged: number;
  started: boolean;
}

/** FIFO with amortised O(1) shift. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(v: T): void {
    this.items.push(v);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head] = undefined as T;
    this.head += 1;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
}

interface KeyState<T> {
  /**
   * The key's pending entries, made when one first has to wait; likewise the pending entries
   * by merge key. Most keys (a target each) get one item that starts at once, and the state of
   * a key lives as long as its item runs — across the journal write its outcome waits for — so
   * a FIFO and its array per item were 11 % of the bytes young-generation collections copied
   * on distinct alerts (issue 15).
   */
  items: Fifo<Entry<T>> | undefined;
  byMergeKey: Map<string, Entry<T>> | undefined;
  running: boolean;
}

export class KeyedQueue<T> {
  private readonly opts: KeyedQueueOptions<T>;
  private readonly keys = new Map<string, KeyState<T>>();
  /** Keys that have pending items and are not running; each such key appears exactly once. */
  private readonly ready = new Fifo<string>();
  private pendingCount = 0;
  private activeCount = 0;
  private idleWaiters: (() => void)[] = [];
  private activeWaiters: (() => void)[] = [];
  private halted = false;

  constructor(opts: KeyedQueueOptions<T>) {
    if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1)) throw new RangeError('KeyedQueue concurrency must be an integer >= 1');
    if (!(opts.maxPending >= 0)) throw new RangeError('KeyedQueue maxPending must be >= 0');
    this.opts = opts;
  }

  /** Items waiting to start. */
  depth(): number {
    return this.pendingCount;
  }

  /** Items running now. */
  active(): number {
    return this.activeCount;
  }

  enqueue(key: string, item: T, mergeKey?: string): EnqueueResult {
    let state = this.keys.get(key);
    if (mergeKey !== undefined && state?.byMergeKey !== undefined) {
      const pending = state.byMergeKey.get(mergeKey);
      if (pending !== undefined) {
        pending.merged += 1;
        return 'merged';
      }
    }
    if (this.pendingCount >= this.opts.maxPending) return false;
    if (state === undefined) {
      state = { items: undefined, byMergeKey: undefined, running: false };
      this.keys.set(key, state);
    }
    const entry: Entry<T> = { item, mergeKey, merged: 0, started: false };
    if (!state.running && (state.items === undefined || state.items.length === 0) && this.ready.length === 0 && !this.halted && this.activeCount < this.opts.concurrency) {
      // Nothing waits ahead of it and a slot is free: it starts now, as the pump would start it.
      this.start(key, state, entry);
      return 'queued';
    }
    (state.items ??= new Fifo()).push(entry);
    this.pendingCount += 1;
    if (!state.running && state.items.length === 1) this.ready.push(key);
    this.pump();
    // Still pending (not started by the pump): later enqueues of its merge key fold into it.
    if (mergeKey !== undefined && !entry.started) (state.byMergeKey ??= new Map()).set(mergeKey, entry);
    return 'queued';
  }

  /** Starts nothing more (enqueue still queues); returns the items left pending. */
  halt(): number {
    this.halted = true;
    return this.pendingCount;
  }

  /** Resolves once nothing is running (pending items may remain after `halt`). */
  whenIdle(): Promise<void> {
    if (this.activeCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.activeWaiters.push(resolve));
  }

  /** Resolves once nothing is pending or running (immediately if already so). */
  drain(): Promise<void> {
    if (this.pendingCount === 0 && this.activeCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.halted && this.activeCount < this.opts.concurrency && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      const state = this.keys.get(key);
      const entry = state?.items?.shift();
      if (state === undefined || entry === undefined) continue;
      if (entry.mergeKey !== undefined && state.byMergeKey?.get(entry.mergeKey) === entry) state.byMergeKey.delete(entry.mergeKey);
      this.pendingCount -= 1;
      this.start(key, state, entry);
    }
  }

  private start(key: string, state: KeyState<T>, entry: Entry<T>): void {
    entry.started = true;
    this.activeCount += 1;
    state.running = true;
    void this.run(key, state, entry);
  }

  private async run(key: string, state: KeyState<T>, entry: Entry<T>): Promise<void> {
    try {
      await this.opts.worker(entry.item, { key, merged: entry.merged });
    } catch (err) {
      try {
        this.opts.onError?.(err, entry.item, key);
      } catch {
        // an error reporter that throws must not stall the queue
      }
    } finally {
      this.activeCount -= 1;
      state.running = false;
      if (state.items !== undefined && state.items.length > 0) this.ready.push(key);
      else this.keys.delete(key);
      this.pump();
      if (this.activeCount === 0) {
        const waiters = this.activeWaiters;
        this.activeWaiters = [];
        for (const w of waiters) w();
      }
      if (this.pendingCount === 0 && this.activeCount === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }
}
