/**
 * Claims through Leases (DESIGN.md §9): before a rule with destructive actions runs for a
 * target, the replica creates the Lease named by the hash of (rule, target). One API call in
 * the common case; the create conflicting (409) means someone else has it, and the Lease says
 * who and in which state:
 *
 * - `running` and renewed within its lease: the holder is working on it. We wait (polling
 *   with backoff, abortable) until it is `done` (→ claimed) or its lease runs out (→ the holder
 *   crashed: we take it over by replacing the Lease at the resourceVersion we read, so of
 *   several waiters exactly one wins).
 * - `done` and the window not over: the run happened → claimed.
 * - `done` past the window: a new window starts → taken over by a conditional replace.
 *
 * The holder renews its Lease every third of the lease while the run lasts and marks it `done`
 * when the run ends (a second call). A claim running under our own identity that this process
 * does not hold was left by our previous incarnation (same POD_NAME): taken over at once.
 *
 * Times compare the Lease's renewTime (written by the holder's clock) with ours: as with
 * leader election, lease durations must exceed the clock skew between nodes.
 */
import { fromKubeError } from '../errors.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { sleep } from '../lib/sleep.js';
import type { LeaseApi, LeaseRecord } from './lease-api.js';
import { KIND_LABEL, MANAGED_BY, RULE_ANNOTATION, STATE_ANNOTATION, TARGET_ANNOTATION, WINDOW_END_ANNOTATION, claimName } from './labels.js';
import type { ClaimOutcome, ClaimPort, ClaimRequest, HeldClaim } from './types.js';

export interface LeaseClaimsOptions {
  readonly api: LeaseApi;
  /** This replica's identity (holderIdentity); unique among the replicas. */
  readonly identity: string;
  /** Lease of a running claim: how long after its last renewal a silent holder counts as crashed. */
  readonly leaseMs: number;
  /** Wall clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /**
   * First and largest poll delay while another replica runs the claim (default 200 ms and a
   * quarter of the lease: a waiter's reads stay few, and it notices an expired lease soon).
   */
  readonly pollMs?: { readonly min: number; readonly max: number };
  readonly log?: LogPort;
}

type State = 'running' | 'done';

/** How a Lease found in the way stands, seen at `now`. */
export type ClaimStanding = 'held' | 'done' | 'free';

/** `held`: a live holder is running it; `done`: ran within its window; `free`: may be taken. */
export function standing(l: LeaseRecord, now: number, self: { identity: string; holding: boolean }): ClaimStanding {
  const state = l.annotations[STATE_ANNOTATION] as State | undefined;
  if (state === 'done') return now < windowEnd(l) ? 'done' : 'free';
  if (l.holder === self.identity && !self.holding) return 'free';
  return now < l.renewTime + l.leaseDurationSeconds * 1000 ? 'held' : 'free';
}

export function windowEnd(l: LeaseRecord): number {
  const t = Date.parse(l.annotations[WINDOW_END_ANNOTATION] ?? '');
  return Number.isFinite(t) ? t : 0;
}

export class LeaseClaims implements ClaimPort {
  private readonly api: LeaseApi;
  private readonly identity: string;
  private readonly leaseMs: number;
  private readonly now: () => number;
  private readonly poll: { readonly min: number; readonly max: number };
  private readonly log: LogPort;
  /** Names of the claims this process holds now. */
  private readonly holding = new Set<string>();

  constructor(o: LeaseClaimsOptions) {
    if (!(o.leaseMs >= 1000)) throw new RangeError(`claim lease must be >= 1s, got ${o.leaseMs} ms`);
    this.api = o.api;
    this.identity = o.identity;
    this.leaseMs = o.leaseMs;
    this.now = o.now ?? Date.now;
    this.poll = o.pollMs ?? { min: 200, max: Math.max(200, Math.floor(o.leaseMs / 4)) };
    this.log = o.log ?? silentLog;
  }

  /** Claims this process holds now (for tests and metrics). */
  get held(): number {
    return this.holding.size;
  }

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    const name = claimName(req.ruleKey, req.targetKey);
    let delay = this.poll.min;
    for (;;) {
      try {
        const created = await this.api.create(this.fresh(name, req, undefined));
        return this.acquired(created, false);
      } catch (err) {
        if (fromKubeError(err).status !== 409) return failed(req, err);
      }
      // Someone has it: read what they have, then wait, give up or take over.
      for (;;) {
        let cur: LeaseRecord | undefined;
        try {
          cur = await this.api.read(name);
        } catch (err) {
          return failed(req, err);
        }
        if (cur === undefined) break; // swept meanwhile: create again
        const s = standing(cur, this.now(), { identity: this.identity, holding: this.holding.has(name) });
        if (s === 'done') return { kind: 'claimed', holder: cur.holder };
        if (s === 'free') {
          try {
            const taken = await this.api.replace(this.fresh(name, req, cur));
            const crashed = cur.annotations[STATE_ANNOTATION] !== 'done';
            if (crashed) this.log.warn('claim taken over', { claim: name, rule: req.ruleKey, target: req.targetKey, from: cur.holder });
            return this.acquired(taken, crashed);
          } catch (err) {
            const status = fromKubeError(err).status;
            if (status === 409) continue; // another waiter won or the holder renewed: re-read
            if (status === 404) break;
            return failed(req, err);
          }
        }
        if (this.holding.has(name)) return { kind: 'claimed', holder: this.identity };
        try {
          await sleep(delay, req.signal ?? new AbortController().signal);
        } catch {
          return { kind: 'failed', message: `stopped while ${cur.holder} held the claim for ${req.ruleKey} on ${req.targetKey}` };
        }
        delay = Math.min(this.poll.max, delay * 2);
      }
    }
  }

  /** The Lease this replica writes to (re)start a claim; `prev` when replacing one. */
  private fresh(name: string, req: ClaimRequest, prev: LeaseRecord | undefined): LeaseRecord {
    const now = this.now();
    return {
      name,
      ...(prev?.resourceVersion !== undefined ? { resourceVersion: prev.resourceVersion } : {}),
      holder: this.identity,
      acquireTime: now,
      renewTime: now,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      transitions: prev === undefined ? 0 : prev.transitions + 1,
      labels: { ...MANAGED_BY, [KIND_LABEL]: 'claim' },
      annotations: {
        [STATE_ANNOTATION]: 'running',
        [WINDOW_END_ANNOTATION]: new Date(now + Math.max(0, req.windowMs)).toISOString(),
        [RULE_ANNOTATION]: req.ruleKey,
        [TARGET_ANNOTATION]: req.targetKey,
      },
    };
  }

  private acquired(lease: LeaseRecord, tookOver: boolean): ClaimOutcome {
    const name = lease.name;
    this.holding.add(name);
    let current = lease;
    let lost = false;
    const renew = async (): Promise<void> => {
      try {
        current = await this.api.replace({ ...current, renewTime: this.now() });
      } catch (err) {
        const e = fromKubeError(err);
        if (e.status === 409 || e.status === 404) {
          lost = true;
          clearInterval(timer);
        }
        this.log.warn('claim renewal failed', { claim: name, code: e.code, error: e.message });
      }
    };
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      renewing = renewing.then(renew);
    }, Math.max(250, Math.floor(this.leaseMs / 3)));
    timer.unref();
    const stop = async (): Promise<boolean> => {
      clearInterval(timer);
      await renewing;
      this.holding.delete(name);
      return !lost;
    };
    const claim: HeldClaim = {
      abandon: async () => {
        if (!(await stop()) || current.resourceVersion === undefined) return;
        try {
          await this.api.remove(name, current.resourceVersion);
        } catch (err) {
          const e = fromKubeError(err);
          this.log.warn('claim not given up: another replica takes it over once the lease expires', { claim: name, code: e.code, error: e.message });
        }
      },
      release: async () => {
        if (!(await stop())) return;
        const now = this.now();
        const end = Math.max(windowEnd(current), now);
        try {
          await this.api.replace({ ...current, renewTime: now, annotations: { ...current.annotations, [STATE_ANNOTATION]: 'done', [WINDOW_END_ANNOTATION]: new Date(end).toISOString() } });
        } catch (err) {
          const e = fromKubeError(err);
          this.log.warn('claim release failed: another replica may run it again once the lease expires', { claim: name, code: e.code, error: e.message });
        }
      },
    };
    return { kind: 'acquired', claim, tookOver };
  }
}

function failed(req: ClaimRequest, err: unknown): ClaimOutcome {
  const e = fromKubeError(err);
  return { kind: 'failed', message: `could not claim ${req.ruleKey} on ${req.targetKey} through a Lease: ${e.code}: ${e.message}` };
}
