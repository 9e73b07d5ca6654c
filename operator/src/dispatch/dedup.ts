/**
 * Drops duplicate deliveries of one Falco alert (the same alert via two paths, DESIGN.md §3).
 *
 * The key is deterministic: (hostname, rule, source, `evt.time` from output_fields if present
 * else `time`, output). Falcosidekick's `uuid` is regenerated per hop and is never used.
 * Keys are stored as the SHA-256 of the length-prefixed parts (44 characters), so memory does
 * not grow with the size of `output`, parts cannot run into each other, and two different
 * alerts cannot share a key, even crafted ones. Keys are the same on every replica.
 */
import { hash } from 'node:crypto';
import type { FalcoEvent } from '../falco/event.js';

export const DEFAULT_DEDUP_MAX_ENTRIES = 100_000;
/** The queue's smallest ring (slots, a power of two); it doubles when full and halves when a quarter full. */
const MIN_RING = 1024;

/** The time part of the dedup key: output_fields `evt.time` as exact decimal, else `time`. */
function eventTime(ev: FalcoEvent): string {
  const t = Object.prototype.hasOwnProperty.call(ev.outputFields, 'evt.time') ? ev.outputFields['evt.time'] : undefined;
  if (typeof t === 'bigint' || typeof t === 'number' || typeof t === 'string') return String(t);
  return ev.time;
}

export class Deduplicator {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #maxEntries: number;
  /** key → first-seen time. */
  readonly #seen = new Map<string, number>();
  /**
   * (key, first-seen time) in first-seen order, a ring of `#times.length` slots (a power of
   * two) holding `#count` entries from `#head`: expiry and eviction pop here. Two fixed arrays
   * instead of two growing ones sliced from time to time: under a storm at the 100,000-key cap
   * those held up to twice the window and were copied whole at each slice (issue 15). The ring
   * grows when full and shrinks when a quarter full. (Deleting from the front of a Map and
   * iterating it again is O(deleted entries) in V8, hence this queue.)
   */
  #keys: (string | undefined)[] = new Array<string | undefined>(MIN_RING).fill(undefined);
  #times = new Float64Array(MIN_RING);
  #head = 0;
  #count = 0;
  /**
   * Queue entries made stale since: their key was remembered again, so the map holds a newer
   * time. While there are none, a pop deletes its key without looking it up first (one of the
   * four operations per alert on a map of up to 100,000 keys).
   */
  #stale = 0;

  /**
   * @param windowMs an alert seen again within this many ms of its first sighting is a
   *   duplicate; 0 disables deduplication.
   * @param now monotonic clock in ms (default performance.now).
   * @param maxEntries cap on remembered alerts; the oldest are forgotten first.
   */
  constructor(windowMs: number, now: () => number = () => performance.now(), maxEntries = DEFAULT_DEDUP_MAX_ENTRIES) {
    if (!(windowMs >= 0)) throw new RangeError(`dedup window must be >= 0 ms, got ${windowMs}`);
    if (!(maxEntries >= 1)) throw new RangeError(`dedup maxEntries must be >= 1, got ${maxEntries}`);
    this.#windowMs = windowMs;
    this.#now = now;
    this.#maxEntries = Math.floor(maxEntries);
  }

  /** Alerts currently remembered. */
  get size(): number {
    return this.#seen.size;
  }

  /** The dedup key of an alert. */
  keyOf(ev: FalcoEvent): string {
    const time = eventTime(ev);
    const parts = `${ev.hostname.length}:${ev.hostname}${ev.rule.length}:${ev.rule}${ev.source.length}:${ev.source}${time.length}:${time}${ev.output}`;
    return hash('sha256', parts, 'base64');
  }

  /** true when the same alert was first seen less than `windowMs` ago; otherwise remembers it. */
  isDuplicate(ev: FalcoEvent): boolean {
    const key = this.keyOf(ev);
    if (this.seen(key)) return true;
    this.remember(key);
    return false;
  }

  /**
   * true when an alert of this key was first seen less than `windowMs` ago. Remembers
   * nothing: the intake remembers the key only once the alert is accepted (`remember`), so
   * an alert refused with a 503 is not a duplicate when Falco sends it again.
   */
  seen(key: string): boolean {
    if (this.#windowMs === 0) return false;
    const now = this.#now();
    this.#expire(now);
    const first = this.#seen.get(key);
    return first !== undefined && now - first < this.#windowMs;
  }

  /** Remembers `key` as first seen now (check `seen` first: a key already remembered is seen anew). */
  remember(key: string): void {
    if (this.#windowMs === 0) return;
    // Whole milliseconds: a small integer is stored in the Map as it is, where a fraction is
    // a heap number per remembered alert (100,000 of them at the default cap, issue 15).
    this.#stamp(key, Math.floor(this.#now()));
  }

  /**
   * Remembers a key first seen `ageMs` ago (a journal replay after a restart), so a second
   * delivery of that alert within the window is still dropped. Seed oldest first, before
   * any `isDuplicate`.
   */
  seed(key: string, ageMs: number): void {
    if (this.#windowMs === 0 || !(ageMs < this.#windowMs)) return;
    this.#stamp(key, Math.floor(this.#now() - Math.max(0, ageMs)));
  }

  /** Forgets the alerts whose window has passed (expiry otherwise happens only as alerts arrive; the idle compaction calls this). */
  forgetExpired(): void {
    if (this.#windowMs > 0) this.#expire(this.#now());
  }

  #stamp(key: string, at: number): void {
    while (this.#seen.size >= this.#maxEntries) if (!this.#popOldest()) break;
    const before = this.#seen.size;
    this.#seen.set(key, at);
    // The key was there already: its older queue entry no longer matches the map.
    if (this.#seen.size === before) this.#stale += 1;
    if (this.#count === this.#times.length) this.#resize(this.#times.length * 2);
    const slot = (this.#head + this.#count) & (this.#times.length - 1);
    this.#keys[slot] = key;
    this.#times[slot] = at;
    this.#count += 1;
  }

  #expire(now: number): void {
    while (this.#count > 0 && now - (this.#times[this.#head] as number) >= this.#windowMs) this.#popOldest();
  }

  /** Forgets the oldest queued alert (if still current); false when the queue is empty. */
  #popOldest(): boolean {
    if (this.#count === 0) return false;
    const key = this.#keys[this.#head] as string;
    const at = this.#times[this.#head];
    this.#keys[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#times.length - 1);
    this.#count -= 1;
    if (this.#stale === 0) this.#seen.delete(key);
    else if (this.#seen.get(key) === at) this.#seen.delete(key);
    else this.#stale -= 1;
    if (this.#times.length > MIN_RING && this.#count * 4 <= this.#times.length) this.#resize(this.#times.length / 2);
    return true;
  }

  /** Moves the queue into a ring of `size` slots (≥ its length), oldest first. */
  #resize(size: number): void {
    const keys = new Array<string | undefined>(size).fill(undefined);
    const times = new Float64Array(size);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head + i) & (this.#times.length - 1);
      keys[i] = this.#keys[from];
      times[i] = this.#times[from] as number;
    }
    this.#keys = keys;
    this.#times = times;
    this.#head = 0;
  }
}
