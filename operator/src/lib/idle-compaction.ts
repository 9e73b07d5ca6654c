/**
 * Gives the heap back after a burst, once the process is quiet.
 *
 * Under a storm of alerts V8 lets the old generation grow to a multiple of what is live
 * (measured: 60,000 distinct alerts left heapUsed at 190 MiB and RSS at 300 MiB for minutes
 * after the work had drained, with 67 MiB live): nothing allocates any more, so no major GC
 * runs, and V8's memory reducer did not shrink it within 45 s of idling. A full GC when the
 * work has drained and nothing has arrived for `quietMs` returns those pages at once.
 *
 * Node has no public call for a full GC without `--expose-gc` on the command line; the image's
 * entrypoint stays `node cli.js`, so the function is obtained the way jest-leak-detector does:
 * `v8.setFlagsFromString('--expose-gc')` then `gc` from a new VM context. It runs only when
 * the process is idle (a compaction of ~70 MiB live takes tens of ms), at most once per quiet
 * period, and only when the heap has grown by `growthBytes` since the last one (the first time
 * once quiet after start).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { LogPort } from './log.js';

export interface IdleCompactionOptions {
  /** A counter that moves whenever work arrives (alerts received). */
  readonly activity: () => number;
  /** True when no accepted work is unfinished. */
  readonly drained: () => boolean;
  /** How often to look, ms (default 5 s). */
  readonly intervalMs?: number;
  /** Quiet for this long before compacting, ms (default 10 s). */
  readonly quietMs?: number;
  /** Compact only when heapUsed exceeds the size after the last compaction by this much (default 32 MiB). */
  readonly growthBytes?: number;
  readonly now?: () => number;
  /** Tests inject these. */
  readonly gc?: () => void;
  readonly heapUsed?: () => number;
  readonly log?: Pick<LogPort, 'debug'>;
  /** Run at each quiet, drained look before the heap is measured: drops what only ages out as work arrives (dedup keys past their window). */
  readonly beforeCompaction?: () => void;
}

let exposed: (() => void) | undefined;

/** The full-GC function (see the module doc). */
export function fullGc(): () => void {
  if (exposed === undefined) {
    v8.setFlagsFromString('--expose-gc');
    exposed = vm.runInNewContext('gc') as () => void;
  }
  return exposed;
}

export class IdleCompactor {
  private readonly opts: IdleCompactionOptions;
  private readonly now: () => number;
  private readonly heapUsed: () => number;
  private timer: NodeJS.Timeout | undefined;
  private lastActivity: number;
  private quietSince: number;
  private baseline: number;
  private compactions = 0;

  constructor(opts: IdleCompactionOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.heapUsed = opts.heapUsed ?? (() => process.memoryUsage().heapUsed);
    this.lastActivity = opts.activity();
    this.quietSince = this.now();
    // 0 until the first compaction: the first quiet period after start also gives back the
    // garbage of loading modules and listing the caches (idle RSS 173 → 129 MiB measured).
    this.baseline = 0;
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.opts.intervalMs ?? 5_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Full GCs run so far. */
  count(): number {
    return this.compactions;
  }

  /** One look: compacts when quiet, drained and grown; returns whether it did. */
  tick(): boolean {
    const now = this.now();
    const activity = this.opts.activity();
    if (activity !== this.lastActivity || !this.opts.drained()) {
      this.lastActivity = activity;
      this.quietSince = now;
      return false;
    }
    if (now - this.quietSince < (this.opts.quietMs ?? 10_000)) return false;
    this.opts.beforeCompaction?.();
    const before = this.heapUsed();
    if (before - this.baseline < (this.opts.growthBytes ?? 32 * 1024 * 1024)) return false;
    const started = performance.now();
    // Twice: the first full GC frees the objects, the second compacts the pages they left
    // sparse so V8 can release them (measured on a fragmented 250 MiB heap: RSS 276 MiB after
    // one, 104 MiB after two).
    const collect = this.opts.gc ?? fullGc();
    collect();
    collect();
    this.baseline = this.heapUsed();
    this.compactions++;
    this.opts.log?.debug('heap compacted after a burst', { heap_before_mib: Math.round(before / 1048576), heap_after_mib: Math.round(this.baseline / 1048576), ms: Math.round(performance.now() - started) });
    return true;
  }
}
