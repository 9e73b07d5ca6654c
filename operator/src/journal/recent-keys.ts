/**
 * The deduplication keys the journal carries forward at each segment roll (docs/journal.md),
 * oldest first. A queue read from a moving head: forgetting the oldest keys is O(1) each —
 * `Array.prototype.shift` on an array of ~10^5 entries is a memmove of all of them, as V8
 * cannot trim an array in large-object space from the front.
 */
export class RecentKeys {
  private keys: string[] = [];
  private times: number[] = [];
  private head = 0;

  /** Keys held. */
  get size(): number {
    return this.keys.length - this.head;
  }

  /** A key first seen at `wallMs` (ms since the epoch); push in time order. */
  push(key: string, wallMs: number): void {
    this.keys.push(key);
    this.times.push(wallMs);
  }

  /** Forgets the keys seen `windowMs` or longer before `now`, then the oldest beyond `max`. */
  trim(now: number, windowMs: number, max: number): void {
    const end = this.keys.length;
    while (this.head < end && now - this.times[this.head]! >= windowMs) this.head++;
    if (end - this.head > max) this.head = end - Math.max(0, max);
    if (this.head >= 1024 && this.head * 2 >= end) {
      this.keys = this.keys.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }

  /** Every key held, oldest first, in slices of at most `size` (each slice its own copy). */
  *batches(size: number): IterableIterator<{ readonly keys: string[]; readonly times: number[] }> {
    for (let i = this.head; i < this.keys.length; i += size) {
      const end = Math.min(this.keys.length, i + size);
      yield { keys: this.keys.slice(i, end), times: this.times.slice(i, end) };
    }
  }
}
