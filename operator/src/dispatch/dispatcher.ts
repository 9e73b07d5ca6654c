/**
 * The dispatcher: turns matched rules into work items on the keyed queue, runs each rule's
 * actions with guards, timeouts and retries, and is the one place that records an outcome
 * (DESIGN.md §4, §5; STYLE.md "Contracts").
 *
 * Per matched rule (already in evaluation order and cut by rule `continue: false`):
 * - the match is reported (`sink.matched`);
 * - a suspended rule records one Skipped/Suspended outcome and runs nothing;
 * - an escalation rule counts the match for the target (escalation.ts); when no step of its
 *   ladder is due the match is suppressed ('EscalationWait'), else the due step's actions are
 *   what the work item runs (merge key: rule and step); the step counts as run once queued,
 *   and is given back when the destructive budget skips one of its actions;
 * - a rule in its cooldown for the same target is suppressed (`sink.suppressed(…,'Cooldown')`);
 * - otherwise one work item is queued under the target's key with the rule's key as merge
 *   key: a still-pending item of the same rule and target absorbs it ('Merged'); a full queue
 *   (or a stopped dispatcher) records a Skipped/QueueFull (ShuttingDown) outcome and logs a warning.
 *
 * Per action of a work item, in order: the action's target is resolved once for what its use
 * acts on (`useOf` → falco/target.ts `resolveTarget`); the guards (guards.ts: required fields,
 * tenancy, self-protection, protected objects, protected namespaces) check that resolved
 * object → actionner precheck → dry run (rule or global: DryRun outcome saying what would be
 * done, nothing done, no budget used) → budget for destructive actionners (BudgetExceeded; the
 * token is given back when the run destroys nothing) → run on that same resolved object, each
 * attempt under a deadline of `timeoutMs` and the dispatcher's shutdown signal, retrying
 * retryable failures with capped exponential backoff and jitter until the retry horizon
 * (`RetryPolicy.horizonMs`, separate from the timeout: an API-server outage of minutes is
 * outlived). While an item retries it keeps its key's lane: later items for the same object
 * wait, other objects proceed. The outcome's `target` is
 * the action's resolved object (for a node found through the alert's pod, that pod; `None`
 * when the alert names no object of the subject).
 *
 * Work-queue and cooldown key: the alert's main object (falco/target.ts `alertObject`: its
 * pod, else its audited object, else its node), not each action's target. So all actions of
 * every rule for one alert run serially on one key even when they touch different objects,
 * and a cooldown is per (rule, alert's main object). A cooldown window is checked when the
 * match arrives and again when its item starts, and it starts only when the rule's actions
 * ended without a failure (success, or skipped by design) — never on a failure, so an outage
 * does not lock a target out of the action that failed.
 *
 * Progress (`ProgressPort`, the journal's ledger): each recorded action and each finished
 * rule is reported, so that after a restart no action whose outcome was recorded runs again.
 * At shutdown (`shutdownGracefully`) items not started stay pending and running ones get a grace
 * period; an action cut off by it is abandoned — logged, counted, not recorded — and its alert
 * stays in the journal.
 *
 * Then Talon's code semantics (talon-compat §3.4): a Failed action, or one skipped by a guard
 * before running (Talon's failed Checks), stops the rule's remaining actions unless
 * `ignoreErrors`; an action with `continue: false` stops them whatever its result. A run that
 * returns `skipped` (e.g. IgnoredDaemonSet) counts as success, as in Talon.
 *
 * An action marked `approval` (docs/approvals.md) stops after the dry-run step: the approval
 * gate (approvals.ts) records a TalonApproval request instead of the budget and the run;
 * `runApproved` later runs it, every check again, once a person approved.
 */
import { useOf, type ActionnerUse, type ActionResult, type KubeClients, type OperatorIdentity } from '../actionners/types.js';
import type { AdditionalContexts } from './contexts.js';
import { sleep } from '../lib/sleep.js';
import { fromKubeError } from '../errors.js';
import { Backoff } from '../lib/backoff.js';
import { KeyedQueue, type WorkInfo } from '../lib/keyed-queue.js';
import type { Budget } from './budget.js';
import type { FalcoEvent } from '../falco/event.js';
import { alertObject, objectKey, resolveTarget, targetText, type ResolvedTarget, type TargetResolution } from '../falco/target.js';
import { checkGuards } from './guards.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { type ArtifactLocation, type Outcome, type OutcomeAlert, type OutcomeReason, type OutcomeResult, type OutcomeTarget } from '../api/v1alpha1/outcome.js';
import { type OutcomeSink } from '../notifiers/types.js';
import type { ArtifactStore } from '../outputs/types.js';
import { discardArtifact } from '../lib/artifact.js';
import type { CompiledAction, CompiledRule } from '../rules/types.js';
import { abortable } from '../lib/abortable.js';
import type { ApprovalGate } from './approvals.js';
import type { ClaimPort } from '../coordination/types.js';
import { EscalationLadders, escalate, escalationText, type ItemEscalation } from './escalation.js';
import type { OutcomeLog } from '../observability/outcome-log.js';
import type { ObjectRef } from '../lib/object-ref.js';
import { isoTime } from '../lib/iso-time.js';

export interface CooldownPort {
  /** True while (rule, target) is in its cooldown window. */
  active(ruleKey: string, targetKey: string): boolean;
  /** Starts (rule, target)'s window of `ms`. */
  start(ruleKey: string, targetKey: string, ms: number): void;
}

export interface RetryPolicy {
  /** Runs per action at most, the first included; default: no count limit (the horizon bounds it). */
  readonly attempts?: number;
  /** How long after the first attempt a retryable failure is still retried, in ms; default: no time limit (attempts bound it). Neither set: one attempt. */
  readonly horizonMs?: number;
  /** Upper bound of the first backoff delay, in ms. */
  readonly baseMs: number;
  /** Upper bound of any backoff delay, in ms; default 30 s. */
  readonly maxMs?: number;
}

/** What the dispatcher reports about its progress on an alert (the journal's ledger). */
export interface ProgressPort {
  /** Index of the first action of the rule still to run for this alert (after a restart, past the recorded ones). */
  resumeAt(ev: FalcoEvent, ruleKey: string): number;
  /** The rule's first `recorded` actions have their outcome recorded; a promise: the outcome is recorded once it resolves (the journal's write). */
  actionRecorded(ev: FalcoEvent, ruleKey: string, recorded: number): Promise<void> | undefined;
  /** Nothing of the rule runs again for this alert. */
  ruleDone(ev: FalcoEvent, ruleKey: string): void;
}

/** What a graceful shutdown left undone (it stays in the journal when there is one). */
export interface ShutdownReport {
  /** Work items that had not started. */
  readonly notStarted: number;
  /** Actions cut off by the end of the grace period. */
  readonly abandoned: number;
}

export interface DispatcherDeps {
  readonly queue: { readonly concurrency: number; readonly maxPending: number };
  readonly kube: KubeClients;
  readonly identity: OperatorIdentity;
  readonly budget: Budget;
  readonly sink: OutcomeSink;
  /** Where artifacts go (the started outputs); without it an action with an output fails ArtifactNotStored. */
  readonly outputs?: ArtifactStore;
  readonly cooldowns: CooldownPort;
  /**
   * Cluster-wide claims (coordination/, docs/replicas.md): when set, a rule with a destructive
   * action runs for a target only after claiming (rule, target) for at least `windowMs`
   * (the rule's cooldown when longer); a run claimed elsewhere is suppressed ('Claimed').
   */
  readonly claims?: { readonly port: ClaimPort; readonly windowMs: number };
  readonly retry: RetryPolicy;
  /** Progress reports for the journal; absent: none. */
  readonly progress?: ProgressPort;
  readonly globalDryRun: boolean;
  /** Namespaces whose tenant rules may use `cloud` actionners (DESIGN.md §2). */
  readonly cloudNamespaces?: ReadonlySet<string>;
  /** What an actionner's `init` returned (the registry's `stateOf`); it reaches runs as `ctx.state`. */
  readonly actionnerState?: (actionner: string) => unknown;
  /** The escalation ladders' counts (dispatch/escalation.ts); absent: the dispatcher keeps its own. */
  readonly escalation?: EscalationLadders;
  /** Fetches actions' `additionalContexts` (dispatch/contexts.ts); absent: none are fetched. */
  readonly contexts?: Pick<AdditionalContexts, 'fetch'>;
  /** Wall clock for outcome times, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Monotonic clock in ms, the one `FalcoEvent.receivedAt` uses (default performance.now). */
  readonly clock?: () => number;
  readonly random?: () => number;
  readonly log?: LogPort;
  /**
   * Which `info` outcome lines are written (observability/outcome-log.ts: each up to a rate,
   * the rest folded into a summary line); absent: every outcome gets its line.
   */
  readonly outcomeLog?: Pick<OutcomeLog, 'admit' | 'flush'>;
  /** Where actions marked `approval: {required: true}` go instead of running (approvals.ts); absent: they fail ApprovalNotCreated. */
  readonly approvals?: ApprovalGate;
}

interface WorkItem {
  readonly ev: FalcoEvent;
  readonly rule: CompiledRule;
  /** The work-queue and cooldown key: the alert's main object. */
  readonly key: string;
  /** A run a person approved (runApproved): the approval gate is passed. */
  readonly approved?: boolean;
  /** What to run: the rule's actions, or for an escalation rule the due step's. */
  readonly actions: readonly CompiledAction[];
  readonly escalation?: ItemEscalation;
}

/** One action's use, its target resolution, and the outcome target that stands for it. */
interface ActionTarget {
  readonly use: ActionnerUse;
  readonly resolution: TargetResolution;
  readonly ref: OutcomeTarget;
}

const NO_OBJECT: OutcomeTarget = Object.freeze({ kind: 'None', name: '' });
/** The `objects` of an outcome whose run reported none (shared: outcomes are read-only). */
const NO_OBJECTS: readonly ObjectRef[] = Object.freeze([]);

type Verdict = { readonly result: OutcomeResult; readonly reason: OutcomeReason; readonly message: string };

/** How a work item's actions ended: without a failure (the cooldown may start), with one, or cut off at shutdown. */
type WorkEnd = 'completed' | 'failed' | 'abandoned';

/** A run's final result after its artifact was handed to the action's output (the stream itself is gone). */
/** A run's result once its artifact was handled, with the additional contexts the run was given. */
type RunResult = Omit<ActionResult, 'artifact'> & { readonly stored?: ArtifactLocation; readonly contexts?: Readonly<Record<string, string>> };
type RunOnceResult = ActionResult & { readonly contexts?: Readonly<Record<string, string>> };

class ShutdownError extends Error {
  constructor() {
    super('the operator is shutting down');
    this.name = 'ShutdownError';
  }
}

class DeadlineError extends Error {
  constructor(ms: number) {
    super(`the action did not finish within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/**
 * What a cluster-wide claim is taken for: the rule, or for an escalation rule the step (each
 * step runs once per window, so step 1's claim must not hold back step 3), or for an approved
 * run that approval (every replica sees the decision; one carries it out, and the claim the
 * original match took does not hold it back).
 */
function claimKey(item: WorkItem): string {
  if (item.approved === true) return `${item.rule.key}#approved:${item.ev.traceId}:${item.actions[0]?.name ?? ''}`;
  if (item.escalation !== undefined) return `${item.rule.key}#step${item.escalation.step}`;
  return item.rule.key;
}

export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly queue: KeyedQueue<WorkItem>;
  private readonly shutdown = new AbortController();
  private readonly now: () => number;
  private readonly clock: () => number;
  private readonly log: LogPort;
  /** Who waits for the outcomes of an approved run (runApproved), by its event. */
  private readonly observers = new WeakMap<FalcoEvent, (o: Outcome) => void>();
  private stopping = false;
  private abandonedCount = 0;
  private readonly ladders: EscalationLadders;
  /** Each running attempt's deadline: aborted at shutdown by one listener, not one listener each. */
  private readonly deadlines = new Set<AbortController>();
  /** The guards' dependencies, made once. */
  private readonly guardDeps: Parameters<typeof checkGuards>[1];

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.ladders = deps.escalation ?? new EscalationLadders(this.now);
    this.clock = deps.clock ?? (() => performance.now());
    this.log = deps.log ?? silentLog;
    this.guardDeps = { identity: deps.identity, ...(deps.cloudNamespaces ? { cloudNamespaces: deps.cloudNamespaces } : {}) };
    this.shutdown.signal.addEventListener(
      'abort',
      () => {
        for (const ac of this.deadlines) ac.abort(new ShutdownError());
      },
      { once: true },
    );
    this.queue = new KeyedQueue<WorkItem>({
      concurrency: deps.queue.concurrency,
      maxPending: deps.queue.maxPending,
      worker: (item, info) => this.claimedWork(item, info),
      onError: (err, item) => this.log.error('work item crashed', { rule: item.rule.key, target: item.key, trace_id: item.ev.traceId, error: String(err) }),
    });
  }

  /** Work items waiting to start. */
  depth(): number {
    return this.queue.depth();
  }

  /** Queues the actions of the matched rules; never blocks and never throws. */
  dispatch(ev: FalcoEvent, rules: readonly CompiledRule[]): void {
    if (rules.length === 0) return;
    const key = objectKey(alertObject(ev));
    for (const rule of rules) {
      this.deps.sink.matched(rule, ev);
      const first = rule.actions[0];
      if (rule.suspend) {
        if (first) this.record(ev, rule, first, actionTarget(ev, first).ref, { result: 'Skipped', reason: 'Suspended', message: 'the rule is suspended: matched and counted, no action run' }, 0, 0, 0);
        this.deps.progress?.ruleDone(ev, rule.key);
        continue;
      }
      const step = escalate(this.ladders, rule, ev, key);
      if (step === 'wait') {
        this.deps.sink.suppressed(rule, ev, 'EscalationWait');
        this.log.debug('match suppressed', { rule: rule.key, target: key, trace_id: ev.traceId, why: 'EscalationWait' });
        this.deps.progress?.ruleDone(ev, rule.key);
        continue;
      }
      // A due step held back by the cooldown is not marked run: the next match let through runs it.
      if (rule.cooldownMs > 0 && this.deps.cooldowns.active(rule.key, key)) {
        this.suppressCooldown(ev, rule, key);
        continue;
      }
      const item: WorkItem = step === undefined ? { ev, rule, key, actions: rule.actions } : { ev, rule, key, actions: step.actions, escalation: step.escalation };
      const stopping = this.stopping || this.shutdown.signal.aborted;
      // Marked run before enqueue (the worker may start synchronously and give it back); undone if not queued.
      if (step !== undefined) this.ladders.fired(rule.key, key, step.escalation.step - 1);
      const queued = stopping ? false : this.queue.enqueue(key, item, step?.mergeKey ?? rule.key);
      if (queued === false && step !== undefined) this.ladders.rearm(rule.key, key, step.escalation.step - 1);
      if (queued === 'merged') {
        this.deps.sink.suppressed(rule, ev, 'Merged');
        this.log.debug('match suppressed', { rule: rule.key, target: key, trace_id: ev.traceId, why: 'Merged' });
        this.deps.progress?.ruleDone(ev, rule.key);
      } else if (queued === false) {
        const why = stopping ? 'the operator is shutting down' : `the work queue is full (${this.queue.depth()} pending)`;
        this.log.warn('work item dropped', { rule: rule.key, target: key, trace_id: ev.traceId, why });
        const reason = stopping ? 'ShuttingDown' : 'QueueFull';
        const head = item.actions[0];
        if (head) this.record(ev, rule, head, actionTarget(ev, head).ref, { result: 'Skipped', reason, message: `${why}: none of the rule's ${item.actions.length} actions ran` }, 0, 0, 0, undefined, item.escalation);
        // Refused at shutdown: the alert stays journaled and is evaluated again at the next start.
        if (!stopping) this.deps.progress?.ruleDone(ev, rule.key);
      }
    }
  }

  /**
   * Runs one approved action (approvals.ts ApprovalExecutor) as a work item of its own on the
   * target's key: guards, precheck, dry run, budget and retries apply again, the approval gate
   * does not. Resolves with the action's outcome (Skipped/QueueFull or ShuttingDown when it
   * could not be queued). `ev` must be a fresh object per call.
   */
  runApproved(ev: FalcoEvent, rule: CompiledRule, action: CompiledAction): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      this.observers.set(ev, resolve);
      const key = objectKey(alertObject(ev));
      const one: CompiledRule = { ...rule, actions: [action] };
      const queued = this.shutdown.signal.aborted ? false : this.queue.enqueue(key, { ev, rule: one, key, actions: one.actions, approved: true }, `approved:${ev.traceId}:${action.name}:${this.now()}`);
      if (queued === false) {
        const reason = this.shutdown.signal.aborted ? 'ShuttingDown' : 'QueueFull';
        this.record(ev, one, action, actionTarget(ev, action).ref, { result: 'Skipped', reason, message: `the approved ${action.actionner.info.name} could not be queued: ${reason}` }, 0, 0, 0);
      }
    });
  }

  /** Records an outcome decided outside a run (a rejected or expired approval); returns it. */
  recordVerdict(ev: FalcoEvent, rule: CompiledRule, action: CompiledAction, target: OutcomeTarget, verdict: Verdict): Outcome {
    let recorded: Outcome | undefined;
    this.observers.set(ev, (o) => (recorded = o));
    this.record(ev, rule, action, target, verdict, 0, 0, 0);
    return recorded!;
  }

  private suppressCooldown(ev: FalcoEvent, rule: CompiledRule, key: string): void {
    this.deps.sink.suppressed(rule, ev, 'Cooldown');
    this.log.debug('match suppressed', { rule: rule.key, target: key, trace_id: ev.traceId, why: 'Cooldown' });
    this.deps.progress?.ruleDone(ev, rule.key);
  }

  /**
   * Records that `rule`'s condition was aborted at its cost limit for `ev` (Failed/CostLimit):
   * the rule did not match, but its owner must see why, as for any action that did not run.
   */
  conditionAborted(ev: FalcoEvent, rule: CompiledRule, message: string): void {
    const first = rule.actions[0];
    if (first) this.record(ev, rule, first, actionTarget(ev, first).ref, { result: 'Failed', reason: 'CostLimit', message }, 0, 0, 0);
  }

  /** Resolves when every queued item has run. */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  /** Refuses new work, aborts running actions (they end Failed/Aborted) and waits for the queue to empty. */
  async stop(): Promise<void> {
    this.shutdown.abort(new ShutdownError());
    await this.queue.drain();
    this.deps.outcomeLog?.flush();
  }

  /**
   * Graceful stop: no new work is taken or started; running items get `graceMs` to finish,
   * then their actions are aborted and abandoned (not recorded: the alert stays journaled).
   * Says what was left undone; every abandoned action is logged.
   */
  async shutdownGracefully(graceMs: number): Promise<ShutdownReport> {
    this.stopping = true;
    const notStarted = this.queue.halt();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((r) => (timer = setTimeout(() => r('grace'), Math.max(0, graceMs))));
    const first = await Promise.race([this.queue.whenIdle().then(() => 'idle' as const), graceOver]);
    clearTimeout(timer);
    if (first === 'grace') {
      this.shutdown.abort(new ShutdownError());
      // Aborted runs return at once; one that ignores its signal is not waited for long.
      await Promise.race([this.queue.whenIdle(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    }
    this.deps.outcomeLog?.flush();
    return { notStarted, abandoned: this.abandonedCount };
  }

  /**
   * `work` under the item's cluster-wide claim when its rule has a destructive action and
   * claims are configured; otherwise `work` alone. The claim is released (marked done) after
   * the last action, whatever its result — or abandoned when shutdown cut the run.
   */
  private claimedWork(item: WorkItem, wi: WorkInfo): Promise<void> {
    const claims = this.deps.claims;
    // Not an async function: most items need no claim, and an async frame returning `work`'s
    // promise costs a promise and two more microtask turns per item (issue 15).
    if (claims === undefined || !item.actions.some(isDestructive)) return this.work(item, wi);
    return this.workUnderClaim(item, wi, claims);
  }

  private async workUnderClaim(item: WorkItem, wi: WorkInfo, claims: NonNullable<DispatcherDeps['claims']>): Promise<void> {
    const { ev, rule } = item;
    const got = await claims.port.claim({ ruleKey: claimKey(item), targetKey: item.key, windowMs: Math.max(claims.windowMs, rule.cooldownMs, rule.escalation?.windowMs ?? 0), signal: this.shutdown.signal });
    const progress = item.approved === true ? undefined : this.deps.progress;
    if (got.kind === 'claimed') {
      this.deps.sink.suppressed(rule, ev, 'Claimed');
      this.log.debug('match suppressed', { rule: rule.key, target: item.key, trace_id: ev.traceId, why: 'Claimed', holder: got.holder });
      progress?.ruleDone(ev, rule.key);
      return;
    }
    if (got.kind === 'failed') {
      if (this.stopping) {
        // Shutdown while waiting for the claim: nothing ran, the alert stays journaled.
        this.abandonedCount += 1;
        this.log.warn('claim wait abandoned at shutdown; its alert stays in the journal', { rule: rule.key, target: item.key, trace_id: ev.traceId });
        return;
      }
      const first = rule.actions[0];
      if (first) this.record(ev, rule, first, actionTarget(ev, first).ref, { result: 'Failed', reason: 'ClaimFailed', message: `${got.message}: none of the rule's ${rule.actions.length} actions ran` }, 0, Math.max(0, this.clock() - ev.receivedAt), wi.merged);
      progress?.ruleDone(ev, rule.key);
      return;
    }
    try {
      await this.work(item, wi);
    } finally {
      // A run cut by shutdown is given up, so another replica runs it now rather than never.
      await (this.shutdown.signal.aborted ? got.claim.abandon() : got.claim.release());
    }
  }

  private async work(item: WorkItem, wi: WorkInfo): Promise<void> {
    const { ev, rule } = item;
    // An approved run is a person's decision on an alert the journal has finished with: it is
    // not journaled again, and a cooldown started since does not hold it back.
    const progress = item.approved === true ? undefined : this.deps.progress;
    const from = progress?.resumeAt(ev, rule.key) ?? 0;
    // The window may have started since the match was queued (an earlier item of the rule succeeded).
    if (item.approved !== true && from === 0 && rule.cooldownMs > 0 && this.deps.cooldowns.active(rule.key, item.key)) {
      this.suppressCooldown(ev, rule, item.key);
      // A ladder step held back here did not run: the next match let through tries it again.
      if (item.escalation !== undefined) this.ladders.rearm(rule.key, item.key, item.escalation.step - 1);
      return;
    }
    const end = await this.runActions(item, wi, from);
    if (end === 'abandoned') return;
    if (end === 'completed' && rule.cooldownMs > 0) this.deps.cooldowns.start(rule.key, item.key, rule.cooldownMs);
    progress?.ruleDone(ev, rule.key);
  }

  /** The rule's actions from index `from`, in order, each outcome recorded and reported. */
  private async runActions(item: WorkItem, wi: WorkInfo, from: number): Promise<WorkEnd> {
    const { ev, rule } = item;
    const esc = item.escalation;
    let failed = false;
    for (let i = from; i < item.actions.length; i++) {
      const action = item.actions[i]!;
      // Reported before the outcome is recorded: the journal is the commit point, so an outcome
      // that was recorded never belongs to an action that runs again after a crash. The journal
      // writes the turn's progress records together; the outcome waits for that write.
      const done = (): Promise<void> | undefined => (item.approved === true ? undefined : this.deps.progress?.actionRecorded(ev, rule.key, i + 1));
      const start = this.clock();
      const ingestToActionMs = Math.max(0, start - ev.receivedAt);
      const at = actionTarget(ev, action);
      const { ref } = at;
      const checked = this.check(item, action, at);
      if (!checked.ok) {
        await done();
        this.record(ev, rule, action, ref, checked.verdict, 0, ingestToActionMs, wi.merged, undefined, esc);
        if (checked.verdict.result === 'Failed') failed = true;
        if (!action.ignoreErrors || !action.continue) return failed ? 'failed' : 'completed';
        continue;
      }
      const target = checked.target;
      if (rule.dryRun || this.deps.globalDryRun) {
        const why = rule.dryRun ? 'the rule is in dry-run mode' : 'the operator is in dry-run mode';
        const message = `${why}: would run ${action.actionner.info.name} with ${paramsText(action)} on ${targetText(target)}`;
        await done();
        this.record(ev, rule, action, ref, { result: 'DryRun', reason: 'DryRun', message }, 0, ingestToActionMs, wi.merged, undefined, esc);
        if (!action.continue) return failed ? 'failed' : 'completed';
        continue;
      }
      if (action.approval !== undefined && item.approved !== true) {
        const verdict = await this.requestApproval(item, action, ref);
        await done();
        this.record(ev, rule, action, ref, verdict, 0, ingestToActionMs, wi.merged, undefined, esc);
        if (verdict.result === 'Failed') {
          failed = true;
          if (!action.ignoreErrors) return 'failed';
        }
        if (!action.continue) return failed ? 'failed' : 'completed';
        continue;
      }
      const destructive = action.actionner.info.destructive;
      if (destructive && !(await this.deps.budget.tryTake())) {
        const verdict: Verdict = { result: 'Skipped', reason: 'BudgetExceeded', message: `the cluster-wide budget of destructive actions per minute is spent: ${action.actionner.info.name} not run` };
        await done();
        this.record(ev, rule, action, ref, verdict, 0, ingestToActionMs, wi.merged, undefined, esc);
        // Not run for lack of budget is not a skip by design: no cooldown.
        // The step did not really run: the next match of the target tries it again.
        if (esc) this.ladders.rearm(rule.key, item.key, esc.step - 1);
        failed = true;
        if (!action.ignoreErrors || !action.continue) return 'failed';
        continue;
      }
      const res = await this.runWithRetry(item, action, target);
      if (destructive && res.status === 'skipped') await this.deps.budget.refund();
      if (res.status === 'failure' && res.reason === 'Aborted' && this.stopping) {
        if (destructive) await this.deps.budget.refund();
        this.abandonedCount += 1;
        this.log.warn('action abandoned at shutdown; its alert stays in the journal', { rule: rule.key, action: action.name, actionner: action.actionner.info.name, target: item.key, trace_id: ev.traceId });
        return 'abandoned';
      }
      const result: OutcomeResult = res.status === 'success' ? 'Succeeded' : res.status === 'skipped' ? 'Skipped' : 'Failed';
      const took = this.clock() - start;
      await done();
      this.record(ev, rule, action, ref, { result, reason: res.reason, message: res.message }, took, ingestToActionMs, wi.merged, res, esc);
      if (result === 'Failed') {
        failed = true;
        if (!action.ignoreErrors) return 'failed';
      }
      if (!action.continue) return failed ? 'failed' : 'completed';
    }
    return failed ? 'failed' : 'completed';
  }

  /** The approval gate's verdict for an action that needs approval (approvals.ts); never throws. */
  private async requestApproval(item: WorkItem, action: CompiledAction, target: OutcomeTarget): Promise<Verdict> {
    const gate = this.deps.approvals;
    if (gate === undefined) return { result: 'Failed', reason: 'ApprovalNotCreated', message: `${action.actionner.info.name} needs approval, and approvals are not available in this process` };
    try {
      return await gate.request({ ev: item.ev, rule: item.rule, action, target });
    } catch (err) {
      return { result: 'Failed', reason: 'ApprovalNotCreated', message: `${action.actionner.info.name} needs approval: ${String(err)}` };
    }
  }

  /**
   * The guards (guards.ts) on the action's resolved target, then the actionner's precheck: the
   * target to run on, or the verdict (Skipped; Failed when the precheck throws) that stops it.
   */
  private check(item: WorkItem, action: CompiledAction, at: ActionTarget): { ok: true; target: ResolvedTarget } | { ok: false; verdict: Verdict } {
    const { ev, rule } = item;
    const a = action.actionner;
    const guarded = checkGuards({ event: ev, rule, actionner: a.info, use: at.use, resolution: at.resolution }, this.guardDeps);
    if (!guarded.ok) return { ok: false, verdict: { result: 'Skipped', reason: guarded.reason, message: guarded.message } };
    const target = guarded.target;
    try {
      const pc = a.precheck(ev, target, action.params);
      if (!pc.ok) return { ok: false, verdict: { result: 'Skipped', reason: pc.reason, message: pc.message } };
    } catch (err) {
      return { ok: false, verdict: { result: 'Failed', reason: 'PrecheckError', message: `${a.info.name} precheck threw: ${String(err)}` } };
    }
    return { ok: true, target };
  }

  /**
   * Runs the action until success, a terminal failure, `attempts` runs, the retry horizon, or
   * shutdown. Each attempt has its own deadline of `timeoutMs`; a run that ignores its signal
   * is abandoned at it. Between attempts: capped exponential backoff with jitter, given up
   * when the next attempt would start past the horizon. The final run's artifact goes to the
   * action's output under a fresh deadline (`storeArtifact`); an artifact of a superseded
   * attempt is discarded.
   */
  private async runWithRetry(item: WorkItem, action: CompiledAction, target: ResolvedTarget): Promise<RunResult> {
    const retry = this.deps.retry;
    let backoff: Backoff | undefined;
    const attempts = retry.attempts ?? (retry.horizonMs === undefined ? 1 : Infinity);
    const horizonEnd = this.clock() + (retry.horizonMs ?? Infinity);
    const began = this.clock();
    let last: RunOnceResult = { status: 'failure', reason: 'NotRun', message: 'not run' };
    let attempt = 0;
    let gaveUp = '';
    for (;;) {
      attempt += 1;
      if (last.artifact) discardArtifact(last.artifact);
      const deadline = this.deadline(action.timeoutMs);
      try {
        last = await this.runOnce(item, action, target, deadline.signal);
        if (deadline.signal.aborted && last.status === 'failure' && last.reason !== 'Timeout' && last.reason !== 'Aborted') last = { ...abortedResult(deadline.signal, last), ...(last.artifact ? { artifact: last.artifact } : {}), ...(last.contexts ? { contexts: last.contexts } : {}) };
      } finally {
        deadline.done();
      }
      if (last.status !== 'failure' || !last.retryable || this.shutdown.signal.aborted) break;
      backoff ??= new Backoff({
        initialMs: Math.max(1, retry.baseMs),
        maxMs: Math.max(retry.baseMs, retry.maxMs ?? 30_000, 1),
        ...(this.deps.random ? { random: this.deps.random } : {}),
      });
      const delay = backoff.next();
      if (attempt >= attempts) gaveUp = `gave up after ${attempt} attempts`;
      else if (this.clock() + delay > horizonEnd) gaveUp = `gave up after ${attempt} attempts in ${Math.round((this.clock() - began) / 1000)} s: the retry horizon of ${Math.round((retry.horizonMs ?? 0) / 1000)} s is reached`;
      if (gaveUp) break;
      this.log.debug('action retry', { rule: item.rule.key, action: action.name, actionner: action.actionner.info.name, target: item.key, trace_id: item.ev.traceId, attempt, reason: last.reason, delay_ms: delay });
      try {
        await sleep(delay, this.shutdown.signal);
      } catch {
        last = { ...abortedResult(this.shutdown.signal, last), ...(last.artifact ? { artifact: last.artifact } : {}) };
        break;
      }
    }
    const final: RunOnceResult = gaveUp && attempt > 1 ? { ...last, message: `${last.message} (${gaveUp})` } : last;
    if (final.artifact === undefined) return this.storeArtifact(item, action, final, this.shutdown.signal);
    const deadline = this.deadline(action.timeoutMs);
    try {
      return await this.storeArtifact(item, action, final, deadline.signal);
    } finally {
      deadline.done();
    }
  }

  /** A signal aborted after `ms` (DeadlineError) or at shutdown (ShutdownError); call `done` when finished with it. */
  private deadline(ms: number): { readonly signal: AbortSignal; done(): void } {
    const ac = new AbortController();
    if (this.shutdown.signal.aborted) {
      ac.abort(new ShutdownError());
      return { signal: ac.signal, done: () => undefined };
    }
    this.deadlines.add(ac);
    const timer = setTimeout(() => ac.abort(new DeadlineError(ms)), ms);
    return {
      signal: ac.signal,
      done: () => {
        clearTimeout(timer);
        this.deadlines.delete(ac);
      },
    };
  }

  /**
   * Hands a run's artifact to the action's output under the action's deadline and shutdown
   * (`signal`), before the outcome is recorded: the location joins the result (and its
   * message). When storing fails the result says so — Failed/ArtifactNotStored, or the run's
   * own failure reason if it had failed — keeping the run's message and objects. An artifact
   * with no output configured is discarded. Never throws.
   */
  private async storeArtifact(item: WorkItem, action: CompiledAction, res: RunOnceResult, signal: AbortSignal): Promise<RunResult> {
    const { artifact, ...rest } = res;
    if (artifact === undefined) return rest;
    const output = action.output;
    const fields = { rule: item.rule.key, action: action.name, actionner: action.actionner.info.name, target: item.key, trace_id: item.ev.traceId };
    if (output === undefined) {
      discardArtifact(artifact);
      this.log.debug('artifact discarded', { ...fields, artifact: artifact.name, why: 'the action has no output' });
      return rest;
    }
    const notStored = (why: string): RunResult => ({
      ...rest,
      status: 'failure',
      reason: rest.status === 'failure' ? rest.reason : 'ArtifactNotStored',
      message: `${rest.message}; its artifact '${artifact.name}' was not stored by ${output.target}: ${why}`,
      retryable: false,
    });
    if (this.deps.outputs === undefined) {
      discardArtifact(artifact);
      return notStored('no output is available in this process');
    }
    try {
      if (signal.aborted) throw signal.reason;
      const rule = { namespace: item.rule.namespace, name: item.rule.name, uid: item.rule.uid };
      const stored = await abortable(this.deps.outputs.store(output, artifact, { rule, action: action.name, event: item.ev, signal }), signal);
      const size = `${stored.bytes} bytes${stored.truncated ? ', truncated' : ''}`;
      return { ...rest, stored, message: `${rest.message} (artifact stored by ${stored.output} at ${stored.location}, ${size})` };
    } catch (err) {
      discardArtifact(artifact);
      const e = signal.aborted ? signal.reason : err;
      this.log.warn('artifact not stored', { ...fields, output: output.target, error: e instanceof Error ? e.message : String(e) });
      return notStored(e instanceof Error ? e.message : String(e));
    }
  }

  private async runOnce(item: WorkItem, action: CompiledAction, target: ResolvedTarget, signal: AbortSignal): Promise<RunOnceResult> {
    if (signal.aborted) return abortedResult(signal);
    let contexts: Readonly<Record<string, string>> | undefined;
    if (action.additionalContexts.length > 0 && this.deps.contexts) {
      const fetched = await this.deps.contexts.fetch(action.additionalContexts, item.ev, signal);
      contexts = fetched.values;
      if (fetched.problems.length > 0) this.log.warn('additional contexts incomplete', { action: action.name, traceId: item.ev.traceId, problems: fetched.problems.join('; ') });
    }
    try {
      const run = action.actionner.run({
        event: item.ev,
        target,
        params: action.params,
        signal,
        kube: this.deps.kube,
        identity: this.deps.identity,
        rule: { namespace: item.rule.namespace, name: item.rule.name, uid: item.rule.uid },
        actionName: action.name,
        hasOutput: action.output !== undefined,
        state: this.deps.actionnerState?.(action.actionner.info.name),
        ...(contexts === undefined ? {} : { contexts }),
        ...(action.revertAfterMs === undefined ? {} : { revertAfterMs: action.revertAfterMs }),
      });
      // A run abandoned at the deadline may still produce an artifact later: release it.
      run.then(
        (r) => {
          if (signal.aborted && r?.artifact) discardArtifact(r.artifact);
        },
        () => undefined,
      );
      const res = await abortable(run, signal);
      return contexts === undefined ? res : { ...res, contexts };
    } catch (err) {
      if (signal.aborted) return abortedResult(signal);
      const e = fromKubeError(err);
      return { status: 'failure', reason: e.code, message: `${action.actionner.info.name} threw: ${e.message}`, retryable: e.retryable };
    }
  }

  private record(
    ev: FalcoEvent,
    rule: CompiledRule,
    action: CompiledAction,
    target: OutcomeTarget,
    v: Verdict,
    durationMs: number,
    ingestToActionMs: number,
    merged: number,
    res?: RunResult,
    esc?: ItemEscalation,
  ): void {
    // Built by assignment: conditional spreads in this literal (and a fresh `[]` per outcome)
    // were 3.5 % of a matched alert's allocations (issue 15).
    const alert: { -readonly [K in keyof OutcomeAlert]: OutcomeAlert[K] } = { time: ev.time, source: ev.source, hostname: ev.hostname, output: ev.output };
    if (ev.uuid !== undefined) alert.uuid = ev.uuid;
    const outcome: { -readonly [K in keyof Outcome]: Outcome[K] } = {
      time: isoTime(this.now()),
      traceId: ev.traceId,
      rule: { kind: rule.kind, namespace: rule.namespace, name: rule.name, uid: rule.uid },
      action: action.name,
      actionner: action.actionner.info.name,
      target: withUid(target, res),
      result: v.result,
      reason: v.reason,
      message: esc ? `${escalationText(esc)}: ${v.message}` : v.message,
      durationMs: Math.max(0, durationMs),
      ingestToActionMs,
      objects: res?.objects ?? NO_OBJECTS,
      falcoRule: ev.rule,
      priority: ev.priority,
      alert,
      merged,
    };
    if (res?.stored) outcome.artifact = res.stored;
    if (res?.contexts) outcome.contexts = res.contexts;
    if (esc) outcome.escalation = { step: esc.step, count: esc.count };
    const fields = (): Record<string, unknown> => ({ rule: rule.key, action: action.name, actionner: outcome.actionner, target: objectKey(target.kind === 'None' ? undefined : target), trace_id: ev.traceId, result: v.result, reason: v.reason });
    // A warning is never folded; an info line may be (counted in the next summary line instead).
    if (v.result === 'Failed') this.log.warn('action outcome', { ...fields(), message: v.message });
    else if (this.deps.outcomeLog?.admit(rule.key, action.name, v.result, v.reason) ?? true) this.log.info('action outcome', fields());
    try {
      this.deps.sink.record(outcome, { notifiers: rule.notifiers });
    } catch (err) {
      this.log.error('outcome sink threw', { ...fields(), error: String(err) });
    }
    this.observers.get(ev)?.(outcome);
  }
}

/**
 * The target of one action: resolved for what its use acts on, and the outcome target standing
 * for it (the object; for a node found through the alert's pod, that pod; else None).
 */
function actionTarget(ev: FalcoEvent, action: CompiledAction): ActionTarget {
  const use = useOf(action.actionner, action.params);
  const resolution = resolveTarget(ev, use.target);
  if (!resolution.ok) return { use, resolution, ref: NO_OBJECT };
  const t = resolution.target;
  return { use, resolution, ref: t.object ?? (t.subject === 'node' ? t.pod : undefined) ?? NO_OBJECT };
}

/** An action's parameters as JSON, written once per compiled action (they are frozen) rather than per dry-run outcome. */
const PARAMS_TEXT = new WeakMap<CompiledAction, string>();
const isDestructive = (a: CompiledAction): boolean => a.actionner.info.destructive;

function paramsText(action: CompiledAction): string {
  let t = PARAMS_TEXT.get(action);
  if (t === undefined) {
    t = JSON.stringify(action.params);
    PARAMS_TEXT.set(action, t);
  }
  return t;
}

/** The target with the uid an actionner reported for it, if any. */
function withUid(ref: OutcomeTarget, res: RunResult | undefined): OutcomeTarget {
  const match = res?.objects?.find((o) => o.kind === ref.kind && o.name === ref.name && o.namespace === ref.namespace) as { uid?: unknown } | undefined;
  return typeof match?.uid === 'string' ? { ...ref, uid: match.uid } : ref;
}


function abortedResult(signal: AbortSignal, last?: ActionResult): ActionResult {
  const r: unknown = signal.reason;
  const after = last && last.reason !== 'NotRun' ? ` (last attempt: ${last.reason}: ${last.message})` : '';
  if (r instanceof DeadlineError) return { status: 'failure', reason: 'Timeout', message: `${r.message}${after}`, retryable: false };
  return { status: 'failure', reason: 'Aborted', message: `${r instanceof Error ? r.message : 'aborted'}${after}`, retryable: false };
}
