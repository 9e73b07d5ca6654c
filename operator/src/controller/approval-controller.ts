/**
 * The approval controller (docs/approvals.md): watches TalonApprovals and carries out what a
 * person decided. Level-based: each approval is read from the cache and converged.
 *
 * - Honoured: only approvals the operator created — labelled managed-by talon-operator and
 *   owned (ownerReference) by the rule of `spec.rule.uid` — and only while that very rule (same
 *   uid) is loaded. Creating one needs the verb `issue` (admission policy), which only the
 *   operator holds; anything else is ignored.
 * - Pending, no decision: status.phase Pending; a timer fires at `expiresAt`.
 * - `spec.decision: Approved`, set before `expiresAt` (the time its writer's managedFields
 *   entry records): phase Approved, the recorded action runs through the dispatcher
 *   (ApprovalRunner.execute), then phase Executed (Succeeded, DryRun) or Failed (anything else),
 *   with the outcome in status.outcome.
 * - `Rejected` → Skipped/ApprovalRejected, phase Rejected; no decision in time (or one made
 *   after `expiresAt`) → Skipped/ApprovalExpired, phase Expired. Nothing runs.
 * - Final phases (Rejected, Expired, Executed, Failed) are deleted `retentionMs` after
 *   status.phaseTime (a timer per approval; the periodic sweep catches up after a restart).
 *
 * Our own status writes reach the cache later than we act on them: the phase each approval
 * reached here is remembered (by uid) and wins over an older cached one, so an approval never
 * runs twice in one process. An approval found in phase Approved (the operator stopped during
 * the run) runs again: actionners are idempotent.
 */
import {
  APPROVAL_KEY_LABEL,
  FINAL_PHASES,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type ApprovalOutcome,
  type ApprovalPhase,
  type TalonApproval,
  type TalonApprovalStatus,
} from '../api/v1alpha1/approval.js';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { ruleKey, type CompiledRule } from '../rules/types.js';
import { silentLog, type LogPort } from '../lib/log.js';

/** What runs and concludes decided approvals (dispatch/approvals.ts ApprovalExecutor). */
export interface ApprovalRunner {
  execute(approval: TalonApproval, rule: CompiledRule): Promise<Outcome>;
  conclude(approval: TalonApproval, rule: CompiledRule, reason: 'ApprovalRejected' | 'ApprovalExpired', message: string): Outcome;
}

/** The approvals cache (a ResilientInformer). */
export interface ApprovalCache {
  list(): TalonApproval[];
  get(namespace: string, name: string): TalonApproval | undefined;
}

export interface ApprovalControllerDeps {
  readonly cache: ApprovalCache;
  /** The loaded rule of a key (ruleKey), or undefined. */
  readonly rule: (key: string) => CompiledRule | undefined;
  /** False until the rule index is loaded: decisions wait rather than find no rule. */
  readonly rulesLoaded: () => boolean;
  readonly runner: ApprovalRunner;
  readonly patchStatus: (namespace: string, name: string, status: TalonApprovalStatus) => Promise<void>;
  readonly remove: (namespace: string, name: string, uid: string) => Promise<void>;
  readonly retentionMs: number;
  readonly now?: () => number;
  readonly log?: LogPort;
}

const ORDER: Readonly<Record<ApprovalPhase, number>> = { Pending: 0, Approved: 1, Rejected: 2, Expired: 2, Executed: 2, Failed: 2 };
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How soon a decision that found the rule index not loaded yet is looked at again. */
const NOT_LOADED_RETRY_MS = 1_000;

/** The time `spec.decision` was last written, from the writer's managedFields entry; undefined when not recorded. */
export function decisionTime(a: TalonApproval): number | undefined {
  let best: number | undefined;
  for (const m of a.metadata.managedFields ?? []) {
    const spec = (m.fieldsV1 as Record<string, Record<string, unknown>> | undefined)?.['f:spec'];
    if (spec === undefined || !('f:decision' in spec) || m.time === undefined) continue;
    const t = new Date(m.time as unknown as string).getTime();
    if (!Number.isNaN(t) && (best === undefined || t > best)) best = t;
  }
  return best;
}

/** Whether the operator created this approval: its label, and ownership by the rule it names. */
export function isOurs(a: TalonApproval): boolean {
  if (a.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY || !a.metadata.labels?.[APPROVAL_KEY_LABEL]) return false;
  const r = a.spec?.rule;
  if (r === undefined) return false;
  return (a.metadata.ownerReferences ?? []).some((o) => o.controller === true && o.uid === r.uid && o.kind === r.kind && o.name === r.name);
}

const keyOfRule = (a: TalonApproval): string =>
  ruleKey(a.spec.rule.kind, a.spec.rule.namespace ?? '', a.spec.rule.name);

export class ApprovalController {
  private readonly deps: ApprovalControllerDeps;
  private readonly now: () => number;
  private readonly log: LogPort;
  /** The phase each approval reached here, by uid (wins over an older cached phase). */
  private readonly reached = new Map<string, ApprovalPhase>();
  private readonly busy = new Set<string>();
  private readonly again = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(deps: ApprovalControllerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? silentLog;
  }

  /** The phase of an approval as far as this process knows. */
  phaseOf(a: TalonApproval): ApprovalPhase {
    const cached = a.status?.phase ?? 'Pending';
    const mine = this.reached.get(a.metadata.uid ?? '');
    return mine !== undefined && ORDER[mine] > ORDER[cached] ? mine : cached;
  }

  /** The approval of `key` in `namespace` still waiting for a decision (the gate's dedup). */
  findPending(namespace: string, key: string): TalonApproval | undefined {
    const now = this.now();
    return this.deps.cache.list().find(
      (a) =>
        a.metadata.namespace === namespace &&
        a.metadata.labels?.[APPROVAL_KEY_LABEL] === key &&
        isOurs(a) &&
        this.phaseOf(a) === 'Pending' &&
        a.spec.decision === undefined &&
        Date.parse(a.spec.expiresAt) > now,
    );
  }

  /** Reconciles every approval now and then every `sweepMs` (expiry backstop, garbage collection). */
  start(sweepMs: number): void {
    this.stopped = false;
    this.sweep();
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  sweep(): void {
    for (const a of this.deps.cache.list()) this.onApproval(a);
  }

  /** Informer add/update. */
  onApproval(a: TalonApproval): void {
    if (this.stopped || !isOurs(a)) return;
    const uid = a.metadata.uid ?? '';
    if (this.busy.has(uid)) {
      this.again.add(uid);
      return;
    }
    this.busy.add(uid);
    void this.reconcile(a)
      .catch((err: unknown) => this.log.warn('approval reconcile failed', { approval: `${a.metadata.namespace}/${a.metadata.name}`, error: String(err) }))
      .finally(() => {
        this.busy.delete(uid);
        if (this.again.delete(uid)) {
          const latest = this.deps.cache.get(a.metadata.namespace ?? '', a.metadata.name ?? '');
          if (latest) this.onApproval(latest);
        }
      });
  }

  /** Informer delete. */
  onDelete(a: TalonApproval): void {
    const uid = a.metadata.uid ?? '';
    this.reached.delete(uid);
    const t = this.timers.get(uid);
    if (t) clearTimeout(t);
    this.timers.delete(uid);
  }

  private async reconcile(a: TalonApproval): Promise<void> {
    const ns = a.metadata.namespace ?? '';
    const name = a.metadata.name ?? '';
    const uid = a.metadata.uid ?? '';
    const phase = this.phaseOf(a);
    const now = this.now();
    if (FINAL_PHASES.has(phase)) {
      const since = Date.parse(a.status?.phaseTime ?? a.metadata.creationTimestamp?.toString() ?? '');
      if (Number.isNaN(since)) return;
      if (now - since >= this.deps.retentionMs) {
        await this.deps.remove(ns, name, uid);
        this.log.debug('approval removed after retention', { approval: `${ns}/${name}` });
      } else this.later(a, since + this.deps.retentionMs - now);
      return;
    }
    const expiresAt = Date.parse(a.spec.expiresAt);
    const decision = a.spec.decision;
    if (decision !== undefined || now >= expiresAt) {
      if (!this.deps.rulesLoaded()) {
        this.later(a, NOT_LOADED_RETRY_MS);
        return;
      }
      const rule = this.deps.rule(keyOfRule(a));
      const sameRule = rule !== undefined && rule.uid === a.spec.rule.uid ? rule : undefined;
      const decidedAt = decisionTime(a) ?? now;
      if (decision === 'Approved' && decidedAt <= expiresAt) return this.approve(a, sameRule);
      if (decision === 'Rejected' && decidedAt <= expiresAt) {
        const why = a.spec.decisionReason ? `: ${a.spec.decisionReason}` : '';
        return this.conclude(a, sameRule, 'Rejected', 'ApprovalRejected', `TalonApproval ${ns}/${name} was rejected${why}; ${a.spec.action.actionner} did not run`);
      }
      const late = decision !== undefined ? ` (the decision ${decision} came after it)` : '';
      return this.conclude(a, sameRule, 'Expired', 'ApprovalExpired', `TalonApproval ${ns}/${name} expired at ${a.spec.expiresAt} without a decision${late}; ${a.spec.action.actionner} did not run`);
    }
    if (a.status?.phase === undefined) await this.setPhase(a, 'Pending');
    this.later(a, expiresAt - now);
  }

  private async approve(a: TalonApproval, rule: CompiledRule | undefined): Promise<void> {
    const ref = `${a.metadata.namespace}/${a.metadata.name}`;
    if (rule === undefined) {
      await this.setPhase(a, 'Failed', { time: new Date(this.now()).toISOString(), result: 'Skipped', reason: 'InvalidParameters', message: `the rule ${keyOfRule(a)} (uid ${a.spec.rule.uid}) is no longer loaded: nothing ran` });
      return;
    }
    await this.setPhase(a, 'Approved');
    this.log.info('approval approved; running the action', { approval: ref, rule: rule.key, action: a.spec.action.name });
    const o = await this.deps.runner.execute(a, rule);
    const ok = o.result === 'Succeeded' || o.result === 'DryRun';
    await this.setPhase(a, ok ? 'Executed' : 'Failed', outcomeOf(o));
  }

  private async conclude(a: TalonApproval, rule: CompiledRule | undefined, phase: 'Rejected' | 'Expired', reason: 'ApprovalRejected' | 'ApprovalExpired', message: string): Promise<void> {
    const o = rule !== undefined ? outcomeOf(this.deps.runner.conclude(a, rule, reason, message)) : { time: new Date(this.now()).toISOString(), result: 'Skipped', reason, message };
    await this.setPhase(a, phase, o);
  }

  private async setPhase(a: TalonApproval, phase: ApprovalPhase, outcome?: ApprovalOutcome): Promise<void> {
    const uid = a.metadata.uid ?? '';
    const time = new Date(this.now()).toISOString();
    const final = FINAL_PHASES.has(phase);
    const status: TalonApprovalStatus = {
      phase,
      phaseTime: time,
      conditions: [
        {
          type: 'Complete',
          status: final ? 'True' : 'False',
          reason: phase,
          message: outcome?.message ?? (phase === 'Pending' ? `waiting for a decision until ${a.spec.expiresAt}` : `running ${a.spec.action.actionner}`),
          lastTransitionTime: time,
        },
      ],
      ...(outcome ? { outcome: { ...outcome, message: outcome.message.slice(0, 4096) } } : {}),
    };
    await this.deps.patchStatus(a.metadata.namespace ?? '', a.metadata.name ?? '', status);
    this.reached.set(uid, phase);
    // Final: the next look is its deletion when the retention period is over.
    if (final) this.later(a, this.deps.retentionMs);
  }

  /** Looks at the approval again in `ms` (its expiry, or a retry), from the cache's latest copy. */
  private later(a: TalonApproval, ms: number): void {
    const uid = a.metadata.uid ?? '';
    const old = this.timers.get(uid);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.timers.delete(uid);
      const latest = this.deps.cache.get(a.metadata.namespace ?? '', a.metadata.name ?? '');
      if (latest) this.onApproval(latest);
    }, Math.min(MAX_TIMER_MS, Math.max(0, ms) + 50));
    t.unref();
    this.timers.set(uid, t);
  }
}

function outcomeOf(o: Outcome): ApprovalOutcome {
  return { time: o.time, result: o.result, reason: o.reason, message: o.message };
}
