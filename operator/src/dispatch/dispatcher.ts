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
 * Per action of a work item, in order: required fields → tenancy (OutOfScope) → protected
 * namespace → the operator's own pod (SelfProtection) → actionner precheck → dry run (rule or
 * global: DryRun outcome saying what would be done, nothing done, no budget used) → budget
 * for destructive actionners (BudgetExceeded; the token is given back when the run destroys
 * nothing) → run under one deadline of `timeoutMs` (retries included) and the dispatcher's
 * shutdown signal, retrying retryable failures with exponential backoff and jitter.
 * Then Talon's code semantics (talon-compat §3.4): a Failed action, or one skipped by a guard
 * before running (Talon's failed Checks), stops the rule's remaining actions unless
 * `ignoreErrors`; an action with `continue: false` stops them whatever its result. A run that
 * returns `skipped` (e.g. IgnoredDaemonSet) counts as success, as in Talon.
 */
import type { ActionResult, KubeClients, OperatorIdentity } from '../actionners/types.js';
import { kindOfResource } from '../actionners/kubernetes/common.js';
import { sleep } from '../lib/sleep.js';
import { fromKubeError } from '../errors.js';
import { Backoff } from '../lib/backoff.js';
import { KeyedQueue, type WorkInfo } from '../lib/keyed-queue.js';
import type { Budget } from './budget.js';
import { field, resolveTarget, type EventTarget, type FalcoEvent } from '../falco/event.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { type Outcome, type OutcomeResult, type OutcomeTarget } from '../api/v1alpha1/outcome.js';
import { type OutcomeSink } from '../notifiers/types.js';
import type { CompiledAction, CompiledRule } from '../rules/types.js';

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
  readonly cooldowns: CooldownPort;
  readonly retry: RetryPolicy;
  readonly globalDryRun: boolean;
  /** Namespaces whose tenant rules may use `cloud` actionners (DESIGN.md §2). */
  readonly cloudNamespaces?: ReadonlySet<string>;
  /** Wall clock for outcome times, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Monotonic clock in ms, the one `FalcoEvent.receivedAt` uses (default performance.now). */
  readonly clock?: () => number;
  readonly random?: () => number;
  readonly log?: LogPort;
}

/** Where the alert points: the queue/cooldown key, the outcome target, and the namespaces guards look at. */
export interface TargetInfo {
  readonly key: string;
  readonly ref: OutcomeTarget;
  /** Namespace for tenancy; undefined for cluster-scoped objects and alerts without one. */
  readonly scopeNamespace: string | undefined;
  /** Namespaces protection applies to: the object's namespace, or a Namespace object's own name. */
  readonly protectNamespaces: readonly string[];
}

/**
 * The target of an alert: the audited object of a k8s_audit alert about something other than
 * a pod; else the pod; else the node (Falco's hostname); else 'event'.
 */
export function describeTarget(t: EventTarget): TargetInfo {
  if (t.auditResource !== undefined && t.auditResource !== 'pods' && t.auditName !== undefined) {
    const k = kindOfResource(t.auditResource);
    const ns = k.namespaced ? t.auditNamespace : undefined;
    const ref: OutcomeTarget = { ...(k.apiVersion ? { apiVersion: k.apiVersion } : {}), kind: k.kind, name: t.auditName, ...(ns !== undefined ? { namespace: ns } : {}) };
    const protect = k.kind === 'Namespace' ? [t.auditName] : ns !== undefined ? [ns] : [];
    return { key: `${k.kind}/${ns ?? ''}/${t.auditName}`, ref, scopeNamespace: ns, protectNamespaces: protect };
  }
  if (t.pod !== undefined) {
    const ns = t.namespace;
    return {
      key: `Pod/${ns ?? ''}/${t.pod}`,
      ref: { apiVersion: 'v1', kind: 'Pod', name: t.pod, ...(ns !== undefined ? { namespace: ns } : {}) },
      scopeNamespace: ns,
      protectNamespaces: ns !== undefined ? [ns] : [],
    };
  }
  if (t.hostname !== undefined) {
    return { key: `Node//${t.hostname}`, ref: { apiVersion: 'v1', kind: 'Node', name: t.hostname }, scopeNamespace: undefined, protectNamespaces: [] };
  }
  return { key: 'event', ref: { kind: 'None', name: '' }, scopeNamespace: t.namespace, protectNamespaces: t.namespace !== undefined ? [t.namespace] : [] };
}

interface WorkItem {
  readonly ev: FalcoEvent;
  readonly rule: CompiledRule;
  readonly target: EventTarget;
  readonly info: TargetInfo;
}

type Verdict = { readonly result: OutcomeResult; readonly reason: string; readonly message: string };

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
      onError: (err, item) => this.log.error('work item crashed', { rule: item.rule.key, target: item.info.key, trace_id: item.ev.traceId, error: String(err) }),
    });
  }

  /** Work items waiting to start. */
  depth(): number {
    return this.queue.depth();
  }

  /** Queues the actions of the matched rules; never blocks and never throws. */
  dispatch(ev: FalcoEvent, rules: readonly CompiledRule[]): void {
    if (rules.length === 0) return;
    const target = resolveTarget(ev);
    const info = describeTarget(target);
    for (const rule of rules) {
      this.deps.sink.matched(rule, ev);
      const first = rule.actions[0];
      if (rule.suspend) {
        if (first) this.record(ev, rule, first, info, { result: 'Skipped', reason: 'Suspended', message: 'the rule is suspended: matched and counted, no action run' }, 0, 0, 0);
        continue;
      }
      if (rule.cooldownMs > 0 && !this.deps.cooldowns.tryAcquire(rule.key, info.key, rule.cooldownMs)) {
        this.deps.sink.suppressed(rule, ev, 'Cooldown');
        this.log.debug('match suppressed', { rule: rule.key, target: info.key, trace_id: ev.traceId, why: 'Cooldown' });
        continue;
      }
      const queued = this.shutdown.signal.aborted ? false : this.queue.enqueue(info.key, { ev, rule, target, info }, rule.key);
      if (queued === 'merged') {
        this.deps.sink.suppressed(rule, ev, 'Merged');
        this.log.debug('match suppressed', { rule: rule.key, target: info.key, trace_id: ev.traceId, why: 'Merged' });
      } else if (queued === false) {
        const stopping = this.shutdown.signal.aborted;
        const why = stopping ? 'the operator is shutting down' : `the work queue is full (${this.queue.depth()} pending)`;
        this.log.warn('work item dropped', { rule: rule.key, target: info.key, trace_id: ev.traceId, why });
        const reason = stopping ? 'ShuttingDown' : 'QueueFull';
        if (first) this.record(ev, rule, first, info, { result: 'Skipped', reason, message: `${why}: none of the rule's ${rule.actions.length} actions ran` }, 0, 0, 0);
      }
    }
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
      const guard = this.guard(item, action);
      if (guard) {
        this.record(ev, rule, action, item.info, guard, 0, ingestToActionMs, wi.merged);
        if (!action.ignoreErrors || !action.continue) return;
        continue;
      }
      if (rule.dryRun || this.deps.globalDryRun) {
        const why = rule.dryRun ? 'the rule is in dry-run mode' : 'the operator is in dry-run mode';
        const message = `${why}: would run ${action.actionner.info.name} with ${JSON.stringify(action.params)} on ${targetText(item.info.ref)}`;
        this.record(ev, rule, action, item.info, { result: 'DryRun', reason: 'DryRun', message }, 0, ingestToActionMs, wi.merged);
        if (!action.continue) return;
        continue;
      }
      const destructive = action.actionner.info.destructive;
      if (destructive && !this.deps.budget.tryTake()) {
        const verdict: Verdict = { result: 'Skipped', reason: 'BudgetExceeded', message: `the cluster-wide budget of destructive actions per minute is spent: ${action.actionner.info.name} not run` };
        this.record(ev, rule, action, item.info, verdict, 0, ingestToActionMs, wi.merged);
        if (!action.ignoreErrors || !action.continue) return;
        continue;
      }
      const res = await this.runWithRetry(item, action);
      if (destructive && res.status === 'skipped') this.deps.budget.refund();
      const result: OutcomeResult = res.status === 'success' ? 'Succeeded' : res.status === 'skipped' ? 'Skipped' : 'Failed';
      this.record(ev, rule, action, item.info, { result, reason: res.reason, message: res.message }, this.clock() - start, ingestToActionMs, wi.merged, res);
      if (result === 'Failed' && !action.ignoreErrors) return;
      if (!action.continue) return;
    }
  }

  /** The checks before running; a Skipped verdict, or undefined to go ahead. */
  private guard(item: WorkItem, action: CompiledAction): Verdict | undefined {
    const { ev, rule, target, info } = item;
    const a = action.actionner;
    const skip = (reason: string, message: string): Verdict => ({ result: 'Skipped', reason, message });

    for (const alternatives of a.info.requiredFields) {
      if (!alternatives.some((k) => isPresent(field(ev, k)))) return skip('MissingFields', `the alert lacks ${alternatives.join(' or ')}, which ${a.info.name} needs`);
    }
    if (rule.scope === 'tenant') {
      if (a.info.scope === 'node' || a.info.scope === 'cluster') return skip('OutOfScope', `${a.info.name} acts at ${a.info.scope} level, which a TalonRule may not do`);
      if (a.info.scope === 'cloud' && !(this.deps.cloudNamespaces?.has(rule.namespace) ?? false)) return skip('OutOfScope', `cloud actionners are not allowed for rules in namespace '${rule.namespace}'`);
      if (info.scopeNamespace !== rule.namespace) {
        const where = info.scopeNamespace === undefined ? 'a cluster-scoped object or none' : `namespace '${info.scopeNamespace}'`;
        return skip('OutOfScope', `the alert's target ${targetText(info.ref)} is in ${where}; a rule in namespace '${rule.namespace}' may only act there`);
      }
    }
    const protectedNs = info.protectNamespaces.find((ns) => this.deps.identity.protectedNamespaces.has(ns));
    if (protectedNs !== undefined) return skip('ProtectedNamespace', `namespace '${protectedNs}' is protected: ${targetText(info.ref)} is never acted upon`);
    const id = this.deps.identity;
    if (id.podName !== undefined && info.ref.kind === 'Pod' && info.ref.name === id.podName && (id.podNamespace === undefined || info.ref.namespace === id.podNamespace)) {
      return skip('SelfProtection', `${targetText(info.ref)} is the operator's own pod`);
    }
    try {
      const pc = a.precheck(ev, target, action.params);
      if (!pc.ok) return skip(pc.reason, pc.message);
    } catch (err) {
      return { result: 'Failed', reason: 'PrecheckError', message: `${a.info.name} precheck threw: ${String(err)}` };
    }
    return undefined;
  }

  /**
   * Runs the action until success, a terminal failure, `attempts` runs, the deadline or
   * shutdown. A run that ignores its signal is abandoned at the deadline.
   */
  private async runWithRetry(item: WorkItem, action: CompiledAction): Promise<ActionResult> {
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
      let last: ActionResult = { status: 'failure', reason: 'NotRun', message: 'not run' };
      for (let attempt = 1; attempt <= attempts; attempt++) {
        last = await this.runOnce(item, action, ac.signal);
        if (last.status !== 'failure' || !last.retryable || ac.signal.aborted || attempt === attempts) break;
        this.log.debug('action retry', { rule: item.rule.key, action: action.name, actionner: action.actionner.info.name, target: item.info.key, trace_id: item.ev.traceId, attempt, reason: last.reason });
        try {
          await sleep(backoff.next(), ac.signal);
        } catch {
          break;
        }
      }
      if (ac.signal.aborted && last.status === 'failure' && last.reason !== 'Timeout' && last.reason !== 'Aborted') return abortedResult(ac.signal, last);
      return attempts > 1 && last.status === 'failure' && last.retryable ? { ...last, message: `${last.message} (gave up after ${attempts} attempts)` } : last;
    } finally {
      clearTimeout(timer);
      this.shutdown.signal.removeEventListener('abort', onShutdown);
    }
  }

  private async runOnce(item: WorkItem, action: CompiledAction, signal: AbortSignal): Promise<ActionResult> {
    if (signal.aborted) return abortedResult(signal);
    try {
      const run = action.actionner.run({
        event: item.ev,
        target: item.target,
        params: action.params,
        signal,
        kube: this.deps.kube,
        identity: this.deps.identity,
        rule: { namespace: item.rule.namespace, name: item.rule.name, uid: item.rule.uid },
        actionName: action.name,
      });
      return await abortable(run, signal);
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
    info: TargetInfo,
    v: Verdict,
    durationMs: number,
    ingestToActionMs: number,
    merged: number,
    res?: ActionResult,
  ): void {
    const outcome: Outcome = {
      time: new Date(this.now()).toISOString(),
      traceId: ev.traceId,
      rule: { kind: rule.kind, namespace: rule.namespace, name: rule.name, uid: rule.uid },
      action: action.name,
      actionner: action.actionner.info.name,
      target: withUid(info.ref, res),
      result: v.result,
      reason: v.reason,
      message: v.message,
      durationMs: Math.max(0, durationMs),
      ingestToActionMs,
      objects: res?.objects ?? [],
      falcoRule: ev.rule,
      priority: ev.priority,
      merged,
    };
    const fields = { rule: rule.key, action: action.name, actionner: outcome.actionner, target: info.key, trace_id: ev.traceId, result: v.result, reason: v.reason };
    if (v.result === 'Failed') this.log.warn('action outcome', { ...fields, message: v.message });
    else this.log.info('action outcome', fields);
    try {
      this.deps.sink.record(outcome);
    } catch (err) {
      this.log.error('outcome sink threw', { ...fields, error: String(err) });
    }
  }
}

function isPresent(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function targetText(t: OutcomeTarget): string {
  if (t.kind === 'None') return 'the alert (no Kubernetes object)';
  return `${t.kind} ${t.namespace !== undefined ? `${t.namespace}/` : ''}${t.name}`;
}

/** The target with the uid an actionner reported for it, if any. */
function withUid(ref: OutcomeTarget, res: ActionResult | undefined): OutcomeTarget {
  const match = res?.objects?.find((o) => o.kind === ref.kind && o.name === ref.name && o.namespace === ref.namespace) as { uid?: unknown } | undefined;
  return typeof match?.uid === 'string' ? { ...ref, uid: match.uid } : ref;
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function abortedResult(signal: AbortSignal, last?: ActionResult): ActionResult {
  const r: unknown = signal.reason;
  const after = last && last.reason !== 'NotRun' ? ` (last attempt: ${last.reason}: ${last.message})` : '';
  if (r instanceof DeadlineError) return { status: 'failure', reason: 'Timeout', message: `${r.message}${after}`, retryable: false };
  return { status: 'failure', reason: 'Aborted', message: `${r instanceof Error ? r.message : 'aborted'}${after}`, retryable: false };
}
