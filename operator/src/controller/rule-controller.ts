/**
 * The TalonRule / TalonAction controller. Level-based: informer events only enqueue keys;
 * a reconcile reads the cached world and converges:
 *   rule + the actions it references → compiled rule (or conditions saying what is wrong)
 *   → the in-memory rule map → an immutable RuleIndex swapped in atomically (coalesced per tick)
 *   → status conditions, patched only when they changed, with an Event when a rejection flips (reporter.ts).
 * A TalonAction change re-reconciles the rules that reference it. Status-only updates (same
 * generation) are ignored, so our own status writes never wake our own reconciles.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ActionnerRegistry } from '../actionners/registry.js';
import type { OutputRegistry } from '../outputs/registry.js';
import type { TalonAction, TalonRule, Condition } from '../api/v1alpha1/types.js';
import { ConditionType, Reason, setCondition } from '../api/v1alpha1/conditions.js';
import { terminalUnlessRetryable } from '../errors.js';
import { compileAction, compileRule } from '../rules/compiler.js';
import { ConditionEnvironment, type ConditionFailure } from '../rules/match.js';
import { RuleIndex } from '../rules/rule-index.js';
import type { CompiledRule } from '../rules/types.js';
import { ReconcileQueue } from './reconcile-queue.js';
import { Reporter, type ConditionEventSink } from './reporter.js';

export interface ObjectStore<T> {
  get(namespace: string, name: string): T | undefined;
  list(): readonly T[];
}

export interface StatusWriter {
  /** Merge-patches the status subresource. Throws on failure: retryable ones are retried with backoff, others wait for the next change. */
  patch(kind: 'TalonRule' | 'TalonAction', namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
}

export interface ControllerLogger {
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  debug(msg: string, meta?: Record<string, unknown>): void;
}

export interface RuleControllerDeps {
  readonly rules: ObjectStore<TalonRule>;
  readonly actions: ObjectStore<TalonAction>;
  readonly registry: ActionnerRegistry;
  /** What a rule may name besides actionners: outputs and configured notifier instances. */
  readonly outputs: OutputRegistry;
  readonly notifiers: ReadonlySet<string>;
  readonly controlNamespace: string;
  readonly cloudNamespaces: ReadonlySet<string>;
  readonly defaultTimeoutMs: number;
  readonly status: StatusWriter;
  /** Where rejections (and recoveries after one) are recorded as Events; absent: conditions only. */
  readonly events?: ConditionEventSink;
  /** Receives every new index; called at most once per tick. */
  readonly publish: (index: RuleIndex) => void;
  readonly logger: ControllerLogger;
  readonly now?: () => Date;
  /** A rule's CEL condition failed to evaluate for an alert (that alert did not match it). */
  readonly onConditionFailure?: (ruleKey: string, failure: ConditionFailure) => void;
}

type Kind = 'rule' | 'action';
const keyOf = (kind: Kind, ns: string, name: string): string => `${kind}:${ns}/${name}`;
function splitKey(key: string): { kind: Kind; namespace: string; name: string } {
  const colon = key.indexOf(':');
  const slash = key.indexOf('/', colon);
  return { kind: key.slice(0, colon) as Kind, namespace: key.slice(colon + 1, slash), name: key.slice(slash + 1) };
}

function meta(obj: KubernetesObject): { namespace: string; name: string; generation: number } {
  return {
    namespace: obj.metadata?.namespace ?? '',
    name: obj.metadata?.name ?? '',
    generation: obj.metadata?.generation ?? 0,
  };
}

export class RuleController {
  private readonly compiled = new Map<string, CompiledRule>();
  /** `namespace/actionName` → keys of rules referencing it. */
  private readonly rulesByAction = new Map<string, Set<string>>();
  private readonly refsOfRule = new Map<string, string[]>();
  private readonly queue: ReconcileQueue;
  private readonly reporter: Reporter<Parameters<StatusWriter['patch']>[0]>;
  private publishScheduled = false;
  private index: RuleIndex;
  private initialKeys: Set<string> | undefined;
  private loaded = false;
  /** Events before start() are ignored: start() enqueues the whole cache, so nothing is lost. */
  private started = false;
  private readonly now: () => Date;
  private readonly cel = new ConditionEnvironment();

  constructor(private readonly deps: RuleControllerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.index = RuleIndex.build([], deps.controlNamespace);
    this.reporter = new Reporter({ status: deps.status, ...(deps.events ? { events: deps.events } : {}) });
    this.queue = new ReconcileQueue({
      reconcile: (key) => this.reconcile(key),
      workers: 8,
      onError: (key, err, attempt, retryInMs) =>
        deps.logger.warn('reconcile failed; will retry', { key, attempt, retryInMs, error: String(err) }),
      onTerminal: (key, err) => deps.logger.warn('reconcile failed; not retrying until the object changes', { key, code: err.code, error: err.message }),
    });
  }

  /** The current index (also handed to `publish`). */
  currentIndex(): RuleIndex {
    return this.index;
  }

  /**
   * Call once both informers have synced (so a rule never sees its actions' cache half-filled):
   * enqueues every cached object; `isLoaded()` turns
   * true once each of those has been reconciled (successfully or with a condition) once.
   */
  start(): void {
    this.started = true;
    const keys = new Set<string>();
    for (const a of this.deps.actions.list()) {
      const m = meta(a);
      keys.add(keyOf('action', m.namespace, m.name));
    }
    for (const r of this.deps.rules.list()) {
      const m = meta(r);
      keys.add(keyOf('rule', m.namespace, m.name));
    }
    this.initialKeys = keys;
    if (keys.size === 0) this.markLoaded();
    for (const k of keys) this.queue.add(k);
  }

  isLoaded(): boolean {
    return this.loaded;
  }

  stop(): void {
    this.queue.stop();
  }

  onRule(type: 'add' | 'update' | 'delete', obj: TalonRule, old?: TalonRule): void {
    if (!this.started) return;
    if (type === 'update' && old && meta(old).generation === meta(obj).generation && meta(obj).generation !== 0) return;
    const m = meta(obj);
    this.queue.add(keyOf('rule', m.namespace, m.name));
  }

  onAction(type: 'add' | 'update' | 'delete', obj: TalonAction, old?: TalonAction): void {
    if (!this.started) return;
    if (type === 'update' && old && meta(old).generation === meta(obj).generation && meta(obj).generation !== 0) return;
    const m = meta(obj);
    this.queue.add(keyOf('action', m.namespace, m.name));
    for (const ruleKey of this.rulesByAction.get(`${m.namespace}/${m.name}`) ?? []) this.queue.add(ruleKey);
  }

  /** Re-reconciles everything (periodic resync); unchanged objects produce no writes. */
  resyncAll(): void {
    for (const a of this.deps.actions.list()) this.onAction('add', a);
    for (const r of this.deps.rules.list()) this.onRule('add', r);
  }

  private async reconcile(key: string): Promise<void> {
    const { kind, namespace, name } = splitKey(key);
    try {
      if (kind === 'rule') await this.reconcileRule(namespace, name);
      else await this.reconcileAction(namespace, name);
    } catch (err) {
      throw terminalUnlessRetryable(err);
    } finally {
      if (this.initialKeys?.delete(key) && this.initialKeys.size === 0) this.markLoaded();
    }
  }

  private markLoaded(): void {
    this.initialKeys = undefined;
    this.flushIndex();
    this.loaded = true;
  }

  private async reconcileAction(namespace: string, name: string): Promise<void> {
    const action = this.deps.actions.get(namespace, name);
    if (!action) return;
    const result = compileAction(action, this.compileDeps());
    const conds = result.conditions;
    const accepted = conds.accepted;
    let next = setCondition(action.status?.conditions ?? [], { type: ConditionType.Accepted, ...accepted, observedGeneration: meta(action).generation }, this.now());
    next = setCondition(
      next,
      {
        type: ConditionType.Ready,
        status: accepted.status,
        reason: accepted.status === 'True' ? Reason.Valid : Reason.NotAccepted,
        message: accepted.status === 'True' ? '' : accepted.message,
        observedGeneration: meta(action).generation,
      },
      this.now(),
    );
    await this.writeConditions('TalonAction', action, next);
  }

  private async reconcileRule(namespace: string, name: string): Promise<void> {
    const ruleKey = keyOf('rule', namespace, name);
    const indexKey = `${namespace}/${name}`;
    const rule = this.deps.rules.get(namespace, name);
    if (!rule) {
      this.setRefs(ruleKey, namespace, []);
      if (this.compiled.delete(indexKey)) this.schedulePublish();
      return;
    }
    const generation = meta(rule).generation;
    const result = compileRule(rule, (actionName: string) => this.deps.actions.get(namespace, actionName), this.compileDeps(indexKey));
    this.setRefs(ruleKey, namespace, result.refs);

    let conds: Condition[] = rule.status?.conditions ?? [];
    const now = this.now();
    if (result.ok) {
      this.compiled.set(indexKey, result.rule);
      this.schedulePublish();
      conds = setCondition(conds, { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: '', observedGeneration: generation }, now);
      conds = setCondition(conds, { type: ConditionType.ResolvedRefs, status: 'True', reason: Reason.Resolved, message: '', observedGeneration: generation }, now);
      conds = setCondition(conds, { type: ConditionType.Ready, status: 'True', reason: Reason.Loaded, message: `loaded as a ${result.rule.scope} rule`, observedGeneration: generation }, now);
    } else {
      if (this.compiled.delete(indexKey)) this.schedulePublish();
      const { accepted, resolvedRefs } = result.conditions;
      conds = setCondition(conds, { type: ConditionType.Accepted, ...accepted, observedGeneration: generation }, now);
      conds = setCondition(conds, { type: ConditionType.ResolvedRefs, ...resolvedRefs, observedGeneration: generation }, now);
      const notAccepted = accepted.status !== 'True';
      conds = setCondition(
        conds,
        {
          type: ConditionType.Ready,
          status: 'False',
          reason: notAccepted ? Reason.NotAccepted : Reason.RefsNotResolved,
          message: notAccepted ? accepted.message : resolvedRefs.message,
          observedGeneration: generation,
        },
        now,
      );
      this.deps.logger.info('rule not loaded', { rule: indexKey, reason: notAccepted ? accepted.reason : resolvedRefs.reason });
    }
    await this.writeConditions('TalonRule', rule, conds);
  }

  private async writeConditions(kind: 'TalonRule' | 'TalonAction', obj: TalonRule | TalonAction, conditions: Condition[]): Promise<void> {
    await this.reporter.setConditions(kind, obj, conditions);
  }

  private setRefs(ruleKey: string, namespace: string, refs: readonly string[]): void {
    for (const old of this.refsOfRule.get(ruleKey) ?? []) this.rulesByAction.get(old)?.delete(ruleKey);
    const keys = refs.map((r) => `${namespace}/${r}`);
    for (const k of keys) {
      let set = this.rulesByAction.get(k);
      if (!set) this.rulesByAction.set(k, (set = new Set()));
      set.add(ruleKey);
    }
    if (keys.length) this.refsOfRule.set(ruleKey, keys);
    else this.refsOfRule.delete(ruleKey);
  }

  private compileDeps(ruleKey?: string) {
    const onFailure = this.deps.onConditionFailure;
    return {
      registry: this.deps.registry,
      outputs: this.deps.outputs,
      notifiers: this.deps.notifiers,
      controlNamespace: this.deps.controlNamespace,
      defaultTimeoutMs: this.deps.defaultTimeoutMs,
      cloudNamespaces: this.deps.cloudNamespaces,
      match: {
        conditions: this.cel,
        ...(onFailure && ruleKey ? { onConditionFailure: (f: ConditionFailure) => onFailure(ruleKey, f) } : {}),
      },
    };
  }

  private schedulePublish(): void {
    if (this.publishScheduled || !this.loaded) return;
    this.publishScheduled = true;
    setImmediate(() => {
      this.publishScheduled = false;
      this.flushIndex();
    });
  }

  private flushIndex(): void {
    this.index = RuleIndex.build([...this.compiled.values()], this.deps.controlNamespace);
    this.deps.publish(this.index);
  }
}
