/**
 * Cluster-wide coordination of active-active replicas through Leases (DESIGN.md §9,
 * docs/replicas.md): claims per (rule, target, window), the shared destructive budget, and
 * the sweeper of expired Leases. `startCoordination` wires them for main.ts.
 */
import type { CoordinationV1Api } from '@kubernetes/client-node';
import type { LogPort } from '../lib/log.js';
import { Periodic } from '../lib/periodic.js';
import { LeaseClaims } from './claims.js';
import { countedLeaseApi, kubeLeaseApi, type CallAnswer, type LeaseApi } from './lease-api.js';
import { LeaseBudget } from './shared-budget.js';
import { sweepLeases } from './sweeper.js';

export type { ClaimPort, ClaimOutcome, ClaimRequest, HeldClaim } from './types.js';
export { LeaseClaims } from './claims.js';
export { LeaseBudget } from './shared-budget.js';
export { COORDINATION_RBAC } from './rbac.js';

export interface CoordinationSettings {
  readonly namespace: string;
  readonly identity: string;
  readonly leaseMs: number;
  readonly claimWindowMs: number;
  readonly sweepIntervalMs: number;
  readonly destructiveActionsPerMinute: number;
}

export interface Coordination {
  readonly claims: LeaseClaims;
  readonly budget: LeaseBudget;
  readonly claimWindowMs: number;
  stop(): void;
}

/** `onCall` sees every Lease request (for talon_coordination_requests_total). */
export function startCoordination(api: CoordinationV1Api, s: CoordinationSettings, log: LogPort, onCall: (op: keyof LeaseApi, answer: CallAnswer) => void = () => undefined): Coordination {
  const leases = countedLeaseApi(kubeLeaseApi(api, s.namespace), onCall);
  const claims = new LeaseClaims({ api: leases, identity: s.identity, leaseMs: s.leaseMs, log });
  const budget = new LeaseBudget({ api: leases, identity: s.identity, perMinute: s.destructiveActionsPerMinute, log });
  const sweeper = new Periodic(() => sweepLeases(leases, Date.now, log));
  sweeper.start(s.sweepIntervalMs);
  log.info('coordination enabled', { namespace: s.namespace, identity: s.identity, leaseMs: s.leaseMs, claimWindowMs: s.claimWindowMs });
  return { claims, budget, claimWindowMs: s.claimWindowMs, stop: () => sweeper.stop() };
}
