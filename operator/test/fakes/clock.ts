/**
 * A manual clock for code that takes a timer port (`now`, `set`, `clear`), e.g. the reconcile
 * queue: time moves only in `advance`, which fires due timers in order of their due time and
 * lets the promises they start settle before the next one.
 */
export class FakeTimers {
  private time = 0;
  private seq = 0;
  private readonly pending = new Map<number, { due: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  set(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { due: this.time + Math.max(0, ms), fn });
    return id;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Due times of the pending timers, relative to now, soonest first. */
  delays(): number[] {
    return [...this.pending.values()].map((t) => t.due - this.time).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      let nextId: number | undefined;
      let next: { due: number; fn: () => void } | undefined;
      for (const [id, t] of this.pending) {
        if (t.due <= end && (next === undefined || t.due < next.due)) {
          nextId = id;
          next = t;
        }
      }
      if (next === undefined || nextId === undefined) break;
      this.pending.delete(nextId);
      this.time = next.due;
      next.fn();
    }
    this.time = end;
    await settle();
  }
}

/** Lets every promise chain that is ready run to its next real wait. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}
