/**
 * The destructive-action budget shared by every replica (DESIGN.md §4 "Safety", §9): the
 * budget of N per minute is N slot Leases (`talon-budget-0` … `-N-1`); taking a token takes
 * a free slot for a minute, by creating its Lease or replacing an expired one at the
 * resourceVersion read. Two replicas reaching for the same slot conflict (409) and exactly one
 * wins, so at most N destructive actions start in any minute, cluster-wide.
 *
 * Why slots and not one counter object: one counter is a hot spot every take rewrites (two
 * replicas in a storm conflict on every other write); N slots spread the writes, and a
 * replica that knows the slots (one LIST, then kept from its own writes) takes a token in one
 * create or replace. Why not a bucket per replica of N/replicas: it needs the replica count,
 * strands budget on an idle replica behind an uneven Service, and cannot split N < replicas.
 *
 * Semantics differ from the single-process token bucket (dispatch/budget.ts) in one way: a
 * slot frees a full minute after its take (a sliding window), where the bucket refills one
 * token every 60/N s. Both hold "at most N per minute" in steady state.
 *
 * Failure: when the API cannot be reached the token is refused (fail closed) and a warning
 * logged: a budget that cannot be checked does not let destructive actions through.
 */
import { fromKubeError } from '../errors.js';
import { silentLog, type LogPort } from '../lib/log.js';
import type { LeaseApi, LeaseRecord } from './lease-api.js';
import { KIND_LABEL, MANAGED_BY, budgetSlotName } from './labels.js';

export const BUDGET_WINDOW_MS = 60_000;

export interface LeaseBudgetOptions {
  readonly api: LeaseApi;
  readonly identity: string;
  /** Destructive actions per minute across the cluster (the number of slots). */
  readonly perMinute: number;
  /** Wall clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly random?: () => number;
  readonly log?: LogPort;
}

export class LeaseBudget {
  private readonly api: LeaseApi;
  private readonly identity: string;
  private readonly slots: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: LogPort;
  /** What this replica knows of the slots: from its last LIST and its own writes. */
  private readonly known = new Map<number, LeaseRecord>();
  private listedAt = -Infinity;
  /** Slots this replica took, newest last, for refunds. */
  private readonly mine: number[] = [];

  constructor(o: LeaseBudgetOptions) {
    if (!(Number.isInteger(o.perMinute) && o.perMinute >= 0)) throw new RangeError(`budget perMinute must be an integer >= 0, got ${o.perMinute}`);
    this.api = o.api;
    this.identity = o.identity;
    this.slots = o.perMinute;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.log = o.log ?? silentLog;
  }

  async tryTake(): Promise<boolean> {
    if (this.slots === 0) return false;
    try {
      // A conflict means our view is stale: relist and try another slot, a bounded number of times.
      for (let attempt = 0; attempt <= Math.min(this.slots, 8); attempt++) {
        if (attempt > 0 || this.now() - this.listedAt > BUDGET_WINDOW_MS) await this.relist();
        let free = this.freeSlots();
        // Slots free early only by refunds of other replicas: look again at most once a second.
        if (free.length === 0 && this.now() - this.listedAt > 1000) {
          await this.relist();
          free = this.freeSlots();
        }
        if (free.length === 0) return false;
        const slot = free[Math.floor(this.random() * free.length)] as number;
        try {
          const prev = this.known.get(slot);
          const rec = this.slotLease(slot, prev);
          this.known.set(slot, prev === undefined ? await this.api.create(rec) : await this.api.replace(rec));
          this.mine.push(slot);
          return true;
        } catch (err) {
          const status = fromKubeError(err).status;
          if (status !== 409 && status !== 404) throw err;
        }
      }
      return false;
    } catch (err) {
      const e = fromKubeError(err);
      this.log.warn('shared budget unavailable: destructive action refused', { code: e.code, error: e.message });
      return false;
    }
  }

  /** Frees the slot this replica took last that is still its own (the action destroyed nothing). */
  async refund(): Promise<void> {
    const slot = this.mine.pop();
    if (slot === undefined) return;
    const rec = this.known.get(slot);
    if (rec?.resourceVersion === undefined || rec.holder !== this.identity) return;
    try {
      await this.api.remove(rec.name, rec.resourceVersion);
      this.known.delete(slot);
    } catch (err) {
      const e = fromKubeError(err);
      this.log.debug('budget refund not applied', { slot: rec.name, code: e.code });
    }
  }

  private freeSlots(): number[] {
    const now = this.now();
    const free: number[] = [];
    for (let i = 0; i < this.slots; i++) {
      const l = this.known.get(i);
      if (l === undefined || now >= l.acquireTime + BUDGET_WINDOW_MS) free.push(i);
    }
    return free;
  }

  private async relist(): Promise<void> {
    const leases = await this.api.list(`${KIND_LABEL}=budget`);
    this.known.clear();
    for (let i = 0; i < this.slots; i++) {
      const l = leases.find((x) => x.name === budgetSlotName(i));
      if (l) this.known.set(i, l);
    }
    this.listedAt = this.now();
  }

  private slotLease(slot: number, prev: LeaseRecord | undefined): LeaseRecord {
    const now = this.now();
    return {
      name: budgetSlotName(slot),
      ...(prev?.resourceVersion !== undefined ? { resourceVersion: prev.resourceVersion } : {}),
      holder: this.identity,
      acquireTime: now,
      renewTime: now,
      leaseDurationSeconds: BUDGET_WINDOW_MS / 1000,
      transitions: (prev?.transitions ?? 0) + (prev === undefined ? 0 : 1),
      labels: { ...MANAGED_BY, [KIND_LABEL]: 'budget' },
      annotations: {},
    };
  }
}
