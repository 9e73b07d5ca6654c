/**
 * Garbage collection of coordination Leases: one LIST per sweep, then a conditional delete
 * (at the resourceVersion listed) of every claim past its window — `done`, or `running` whose
 * holder stopped renewing longer ago than the lease plus the window (a crashed replica's claim
 * nobody took over) — and of every budget slot older than the budget window. Every replica
 * sweeps; the preconditions make concurrent sweeps and a concurrent take-over safe (a Lease
 * rewritten since the LIST is left alone).
 */
import { fromKubeError } from '../errors.js';
import { silentLog, type LogPort } from '../lib/log.js';
import type { LeaseApi, LeaseRecord } from './lease-api.js';
import { KIND_LABEL, STATE_ANNOTATION } from './labels.js';
import { windowEnd } from './claims.js';
import { BUDGET_WINDOW_MS } from './shared-budget.js';

/** True when nobody can need this Lease any more at `now`. */
export function isGarbage(l: LeaseRecord, now: number): boolean {
  const kind = l.labels[KIND_LABEL];
  if (kind === 'budget') return now >= l.acquireTime + BUDGET_WINDOW_MS;
  if (kind !== 'claim') return false;
  const end = windowEnd(l);
  if (l.annotations[STATE_ANNOTATION] === 'done') return now >= end;
  const leaseEnd = l.renewTime + l.leaseDurationSeconds * 1000;
  return now >= leaseEnd + Math.max(0, end - l.acquireTime);
}

/** Deletes the garbage Leases; returns how many it deleted. Never throws. */
export async function sweepLeases(api: LeaseApi, now: () => number = Date.now, log: LogPort = silentLog): Promise<number> {
  let leases: LeaseRecord[];
  try {
    leases = await api.list(KIND_LABEL);
  } catch (err) {
    const e = fromKubeError(err);
    log.warn('coordination sweep: list failed', { code: e.code, error: e.message });
    return 0;
  }
  let deleted = 0;
  for (const l of leases) {
    if (!isGarbage(l, now()) || l.resourceVersion === undefined) continue;
    try {
      await api.remove(l.name, l.resourceVersion);
      deleted++;
    } catch (err) {
      const e = fromKubeError(err);
      if (e.status !== 409) log.warn('coordination sweep: delete failed', { lease: l.name, code: e.code, error: e.message });
    }
  }
  if (deleted > 0) log.debug('coordination sweep', { deleted });
  return deleted;
}
