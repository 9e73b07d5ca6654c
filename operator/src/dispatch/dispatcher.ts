/**
 * The dispatcher: turns matched rules into work items on the keyed queue, runs each rule's
 * actions with guards, timeouts and retries, and is the one place that records an outcome
 * (DESIGN.md §4, §5; STYLE.md "Contracts").
 *
 * Per matched rule (already in evaluation order and cut by rule `continue: false`):
 * - the match is reported (`sink.matched`);
 * - a suspended rule records one Skipped/Suspended outcome and runs nothing;
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
 * token is given back when the run destroys nothing) → run on that same resolved object under
 * one deadline of `timeoutMs` (retries included) and the dispatcher's shutdown signal,
 * retrying retryable failures with exponential backoff and jitter. The outcome's `target` is
 * the action's resolved object (for a node found through the alert's pod, that pod; `None`
 * when the alert names no object of the subject).
 *
 * Work-queue and cooldown key: the alert's main object (falco/target.ts `alertObject`: its
 * pod, else its audited object, else its node), not each action's target. So all actions of
 * every rule for one alert run serially on one key even when they touch different objects,
 * and a cooldown is per (rule, alert's main object).
 *
 * Then Talon's code semantics (talon-compat §3.4): a Failed action, or one skipped by a guard
 * before running (Talon's failed Checks), stops the rule's remaining actions unless
 * `ignoreErrors`; an action with `continue: false` stops them whatever its result. A run that
 * returns `skipped` (e.g. IgnoredDaemonSet) counts as success, as in Talon.
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
import { type ArtifactLocation, type Outcome, type OutcomeReason, type OutcomeResult, type OutcomeTarget } from '../api/v1alpha1/outcome.js';
import { type OutcomeSink } from '../notifiers/types.js';
import type { ArtifactStore } from '../outputs/types.js';
import { discardArtifact } from '../lib/artifact.js';
import type { CompiledAction, CompiledRule } from '../rules/types.js';
import { abortable } from '../lib/abortable.js';

export interface CooldownPort {
  /** True when (rule, target) may act now, and starts its window; false while a window is open. */
  tryAcquire(ruleKey: string, targetKey: string, ms: number): boolean;
}

export interface RetryPolicy {
  /** Runs per action, the first included (>= 1). */
  readonly attempts: number;
  /** Upper bound of the first backoff delay, in ms. */
  readonly baseMs: number;
  /** Upper bound of any backoff delay, in ms; default 30 s. */
  readonly maxMs?: number;
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
  readonly retry: RetryPolicy;
  readonly globalDryRun: boolean;
  /** Namespaces whose tenant rules may use `cloud` actionners (DESIGN.md §2). */
  readonly cloudNamespaces?: ReadonlySet<string>;
  /** What an actionner's `init` returned (the registry's `stateOf`); it reaches runs as `ctx.state`. */
  readonly actionnerState?: (actionner: string) => unknown;
  /** Fetches actions' `additionalContexts` (dispatch/contexts.ts); absent: none are fetched. */
  readonly contexts?: Pick<AdditionalContexts, 'fetch'>;
  /** Wall clock for outcome times, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Monotonic clock in ms, the one `FalcoEvent.receivedAt` uses (default performance.now). */
  readonly clock?: () => number;
  readonly random?: () => number;
  readonly log?: LogPort;
}

interface WorkItem {
  readonly ev: FalcoEvent;
  readonly rule: CompiledRule;
  /** The work-queue and cooldown key: the alert's main object. */
  readonly key: string;
}

/** One action's use, its target resolution, and the outcome target that stands for it. */
interface ActionTarget {
  readonly use: ActionnerUse;
  readonly resolution: TargetResolution;
  readonly ref: OutcomeTarget;
}

const NO_OBJECT: OutcomeTarget = Object.freeze({ kind: 'None', name: '' });

type Verdict = { readonly result: OutcomeResult; readonly reason: OutcomeReason; readonly message: string };

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

export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly queue: KeyedQueue<WorkItem>;
  private readonly shutdown = new AbortController();
  private readonly now: () => number;
  private readonly clock: () => number;
  private readonly log: LogPort;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.clock = deps.clock ?? (() => performance.now());
    this.log = deps.log ?? silentLog;
    this.queue = new KeyedQueue<WorkItem>({
      concurrency: deps.queue.concurrency,
      maxPending: deps.queue.maxPending,
      worker: (item, info) => this.work(item, info),
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
        continue;
      }
      if (rule.cooldownMs > 0 && !this.deps.cooldowns.tryAcquire(rule.key, key, rule.cooldownMs)) {
        this.deps.sink.suppressed(rule, ev, 'Cooldown');
        this.log.debug('match suppressed', { rule: rule.key, target: key, trace_id: ev.traceId, why: 'Cooldown' });
        continue;
      }
      const queued = this.shutdown.signal.aborted ? false : this.queue.enqueue(key, { ev, rule, key }, rule.key);
      if (queued === 'merged') {
        this.deps.sink.suppressed(rule, ev, 'Merged');
        this.log.debug('match suppressed', { rule: rule.key, target: key, trace_id: ev.traceId, why: 'Merged' });
      } else if (queued === false) {
        const stopping = this.shutdown.signal.aborted;
        const why = stopping ? 'the operator is shutting down' : `the work queue is full (${this.queue.depth()} pending)`;
        this.log.warn('work item dropped', { rule: rule.key, target: key, trace_id: ev.traceId, why });
        const reason = stopping ? 'ShuttingDown' : 'QueueFull';
        if (first) this.record(ev, rule, first, actionTarget(ev, first).ref, { result: 'Skipped', reason, message: `${why}: none of the rule's ${rule.actions.length} actions ran` }, 0, 0, 0);
      }
    }
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
  }

  private async work(item: WorkItem, wi: WorkInfo): Promise<void> {
    const { ev, rule } = item;
    for (const action of rule.actions) {
      const start = this.clock();
      const ingestToActionMs = Math.max(0, start - ev.receivedAt);
      const at = actionTarget(ev, action);
      const { ref } = at;
      const checked = this.check(item, action, at);
      if (!checked.ok) {
        this.record(ev, rule, action, ref, checked.verdict, 0, ingestToActionMs, wi.merged);
        if (!action.ignoreErrors || !action.continue) return;
        continue;
      }
      const target = checked.target;
      if (rule.dryRun || this.deps.globalDryRun) {
        const why = rule.dryRun ? 'the rule is in dry-run mode' : 'the operator is in dry-run mode';
        const message = `${why}: would run ${action.actionner.info.name} with ${JSON.stringify(action.params)} on ${targetText(target)}`;
        this.record(ev, rule, action, ref, { result: 'DryRun', reason: 'DryRun', message }, 0, ingestToActionMs, wi.merged);
        if (!action.continue) return;
        continue;
      }
      const destructive = action.actionner.info.destructive;
      if (destructive && !this.deps.budget.tryTake()) {
        const verdict: Verdict = { result: 'Skipped', reason: 'BudgetExceeded', message: `the cluster-wide budget of destructive actions per minute is spent: ${action.actionner.info.name} not run` };
        this.record(ev, rule, action, ref, verdict, 0, ingestToActionMs, wi.merged);
        if (!action.ignoreErrors || !action.continue) return;
        continue;
      }
      const res = await this.runWithRetry(item, action, target);
      if (destructive && res.status === 'skipped') this.deps.budget.refund();
      const result: OutcomeResult = res.status === 'success' ? 'Succeeded' : res.status === 'skipped' ? 'Skipped' : 'Failed';
      this.record(ev, rule, action, ref, { result, reason: res.reason, message: res.message }, this.clock() - start, ingestToActionMs, wi.merged, res);
      if (result === 'Failed' && !action.ignoreErrors) return;
      if (!action.continue) return;
    }
  }

  /**
   * The guards (guards.ts) on the action's resolved target, then the actionner's precheck: the
   * target to run on, or the verdict (Skipped; Failed when the precheck throws) that stops it.
   */
  private check(item: WorkItem, action: CompiledAction, at: ActionTarget): { ok: true; target: ResolvedTarget } | { ok: false; verdict: Verdict } {
    const { ev, rule } = item;
    const a = action.actionner;
    const deps = { identity: this.deps.identity, ...(this.deps.cloudNamespaces ? { cloudNamespaces: this.deps.cloudNamespaces } : {}) };
    const guarded = checkGuards({ event: ev, rule, actionner: a.info, use: at.use, resolution: at.resolution }, deps);
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
   * Runs the action until success, a terminal failure, `attempts` runs, the deadline or
   * shutdown. A run that ignores its signal is abandoned at the deadline. The final run's
   * artifact goes to the action's output under the same deadline (`storeArtifact`); an
   * artifact of a superseded attempt is discarded.
   */
  private async runWithRetry(item: WorkItem, action: CompiledAction, target: ResolvedTarget): Promise<RunResult> {
    const ac = new AbortController();
    const onShutdown = (): void => ac.abort(new ShutdownError());
    if (this.shutdown.signal.aborted) onShutdown();
    else this.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    const timer = setTimeout(() => ac.abort(new DeadlineError(action.timeoutMs)), action.timeoutMs);
    const backoff = new Backoff({
      initialMs: Math.max(1, this.deps.retry.baseMs),
      maxMs: Math.max(this.deps.retry.baseMs, this.deps.retry.maxMs ?? 30_000, 1),
      ...(this.deps.random ? { random: this.deps.random } : {}),
    });
    const attempts = Math.max(1, this.deps.retry.attempts);
    try {
      let last: RunOnceResult = { status: 'failure', reason: 'NotRun', message: 'not run' };
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (last.artifact) discardArtifact(last.artifact);
        last = await this.runOnce(item, action, target, ac.signal);
        if (last.status !== 'failure' || !last.retryable || ac.signal.aborted || attempt === attempts) break;
        this.log.debug('action retry', { rule: item.rule.key, action: action.name, actionner: action.actionner.info.name, target: item.key, trace_id: item.ev.traceId, attempt, reason: last.reason });
        try {
          await sleep(backoff.next(), ac.signal);
        } catch {
          break;
        }
      }
      let final: RunOnceResult = last;
      if (ac.signal.aborted && last.status === 'failure' && last.reason !== 'Timeout' && last.reason !== 'Aborted') final = { ...abortedResult(ac.signal, last), ...(last.artifact ? { artifact: last.artifact } : {}), ...(last.contexts ? { contexts: last.contexts } : {}) };
      else if (attempts > 1 && last.status === 'failure' && last.retryable) final = { ...last, message: `${last.message} (gave up after ${attempts} attempts)` };
      return await this.storeArtifact(item, action, final, ac.signal);
    } finally {
      clearTimeout(timer);
      this.shutdown.signal.removeEventListener('abort', onShutdown);
    }
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
  ): void {
    const outcome: Outcome = {
      time: new Date(this.now()).toISOString(),
      traceId: ev.traceId,
      rule: { kind: rule.kind, namespace: rule.namespace, name: rule.name, uid: rule.uid },
      action: action.name,
      actionner: action.actionner.info.name,
      target: withUid(target, res),
      result: v.result,
      reason: v.reason,
      message: v.message,
      durationMs: Math.max(0, durationMs),
      ingestToActionMs,
      objects: res?.objects ?? [],
      ...(res?.stored ? { artifact: res.stored } : {}),
      ...(res?.contexts ? { contexts: res.contexts } : {}),
      falcoRule: ev.rule,
      priority: ev.priority,
      alert: { time: ev.time, source: ev.source, hostname: ev.hostname, output: ev.output, ...(ev.uuid !== undefined ? { uuid: ev.uuid } : {}) },
      merged,
    };
    const fields = { rule: rule.key, action: action.name, actionner: outcome.actionner, target: objectKey(target.kind === 'None' ? undefined : target), trace_id: ev.traceId, result: v.result, reason: v.reason };
    if (v.result === 'Failed') this.log.warn('action outcome', { ...fields, message: v.message });
    else this.log.info('action outcome', fields);
    try {
      this.deps.sink.record(outcome, { notifiers: rule.notifiers });
    } catch (err) {
      this.log.error('outcome sink threw', { ...fields, error: String(err) });
    }
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
