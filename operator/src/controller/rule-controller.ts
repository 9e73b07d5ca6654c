/**
 * The controller of the four kinds: TalonRule, TalonAction, ClusterTalonRule and
 * ClusterTalonAction. Level-based: informer events only enqueue keys; a reconcile reads the
 * cached world and converges:
 *   rule + the actions it references → compiled rule (or conditions saying what is wrong)
 *   → the in-memory rule map → an immutable RuleIndex swapped in atomically (coalesced per tick)
 *   → status conditions, patched only when they changed, with an Event when a rejection flips (reporter.ts).
 * An action change (either kind) re-reconciles every rule (either kind) that references it.
 * Status-only updates (same generation) are ignored, so our own status writes never wake our
 * own reconciles.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ActionnerRegistry } from '../actionners/registry.js';
import type { OutputRegistry } from '../outputs/registry.js';
import {
  CLUSTER_TALON_ACTION_KIND,
  CLUSTER_TALON_RULE_KIND,
  TALON_ACTION_KIND,
  TALON_RULE_KIND,
  type ActionKind,
  type ClusterTalonAction,
  type ClusterTalonRule,
  type Condition,
  type RuleKind,
  type TalonAction,
  type TalonRule,
} from '../api/v1alpha1/types.js';
import { ConditionType, Reason, setCondition } from '../api/v1alpha1/conditions.js';
import { terminalUnlessRetryable, TalonError } from '../errors.js';
import type { LogPort } from '../lib/log.js';
import { compileAction, compileRule, type ActionRef } from '../rules/compiler.js';
import { ConditionEnvironment, type CompileMatchOptions, type ConditionFailure } from '../rules/match.js';

/** The alert a condition failed on (the controller room does not import falco/). */
type FalcoEvent = Parameters<NonNullable<CompileMatchOptions['onConditionFailure']>>[1];
import { RuleIndex } from '../rules/rule-index.js';
import { ruleKey, type CompiledRule } from '../rules/types.js';
import { ReconcileQueue } from './reconcile-queue.js';
import { Reporter, type ConditionEventSink } from './reporter.js';

/** An informer cache. Cluster-scoped kinds are looked up with namespace ''. */
export interface ObjectStore<T> {
  get(namespace: string, name: string): T | undefined;
  list(): readonly T[];
}

/** One of the four kinds this controller reconciles. */
export type TalonKind = RuleKind | ActionKind;

export interface StatusWriter {
  /**
   * Merge-patches the status subresource of one object; `namespace` is '' for the
   * cluster-scoped kinds. Throws on failure: retryable ones are retried with backoff, others wait for the next change.
   */
  patch(kind: TalonKind, namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
}

export interface RuleControllerDeps {
  readonly rules: ObjectStore<TalonRule>;
  readonly actions: ObjectStore<TalonAction>;
  readonly clusterRules: ObjectStore<ClusterTalonRule>;
  readonly clusterActions: ObjectStore<ClusterTalonAction>;
  readonly registry: ActionnerRegistry;
  /** What a rule may name besides actionners: outputs and configured notifier instances. */
  readonly outputs: OutputRegistry;
  readonly notifiers: ReadonlySet<string>;
  readonly cloudNamespaces: ReadonlySet<string>;
  readonly defaultTimeoutMs: number;
  readonly status: StatusWriter;
  /** Where rejections (and recoveries after one) are recorded as Events; absent: conditions only. */
  readonly events?: ConditionEventSink;
  /** Receives every new index; called at most once per tick. */
  readonly publish: (index: RuleIndex) => void;
  readonly logger: LogPort;
  readonly now?: () => Date;
  /** A rule's CEL condition failed to evaluate for an alert (that alert did not match it). */
  readonly onConditionFailure?: (ruleKey: string, failure: ConditionFailure, ev: FalcoEvent) => void;
}

const isClusterKind = (kind: TalonKind): boolean => kind === CLUSTER_TALON_RULE_KIND || kind === CLUSTER_TALON_ACTION_KIND;
const isRuleKind = (kind: TalonKind): kind is RuleKind => kind === TALON_RULE_KIND || kind === CLUSTER_TALON_RULE_KIND;

/** The queue key of an object: `Kind:namespace/name`, namespace '' for the cluster-scoped kinds. */
const keyOf = (kind: TalonKind, ns: string, name: string): string => `${kind}:${isClusterKind(kind) ? '' : ns}/${name}`;
function splitKey(key: string): { kind: TalonKind; namespace: string; name: string } {
  const colon = key.indexOf(':');
  const slash = key.indexOf('/', colon);
  return { kind: key.slice(0, colon) as TalonKind, namespace: key.slice(colon + 1, slash), name: key.slice(slash + 1) };
}

function meta(obj: KubernetesObject): { namespace: string; name: string; generation: number } {
  return {
    namespace: obj.metadata?.namespace ?? '',
    name: obj.metadata?.name ?? '',
    generation: obj.metadata?.generation ?? 0,
  };
}

type Cached =
  | { readonly rule: true; readonly kind: RuleKind; readonly obj: TalonRule | ClusterTalonRule }
  | { readonly rule: false; readonly kind: ActionKind; readonly obj: TalonAction | ClusterTalonAction };

export class RuleController {
  private readonly compiled = new Map<string, CompiledRule>();
  /** Queue key of an action → queue keys of the rules referencing it. */
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
    this.index = RuleIndex.build([]);
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
   * Call once all four informers have synced (so a rule never sees its actions' cache
   * half-filled): enqueues every cached object; `isLoaded()` turns true once each of those has
   * been reconciled (successfully or with a condition) once.
   */
  start(): void {
    this.started = true;
    const keys = new Set<string>();
    for (const { kind, obj } of this.everything()) {
      const m = meta(obj);
      keys.add(keyOf(kind, m.namespace, m.name));
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

  /** An informer event on a TalonRule or a ClusterTalonRule (`kind`). */
  onRule(kind: RuleKind, type: 'add' | 'update' | 'delete', obj: TalonRule | ClusterTalonRule, old?: TalonRule | ClusterTalonRule): void {
    if (!this.started) return;
    if (type === 'update' && old && meta(old).generation === meta(obj).generation && meta(obj).generation !== 0) return;
    const m = meta(obj);
    this.queue.add(keyOf(kind, m.namespace, m.name));
  }

  /** An informer event on a TalonAction or a ClusterTalonAction (`kind`); the rules referencing it follow. */
  onAction(kind: ActionKind, type: 'add' | 'update' | 'delete', obj: TalonAction | ClusterTalonAction, old?: TalonAction | ClusterTalonAction): void {
    if (!this.started) return;
    if (type === 'update' && old && meta(old).generation === meta(obj).generation && meta(obj).generation !== 0) return;
    const m = meta(obj);
    const key = keyOf(kind, m.namespace, m.name);
    this.queue.add(key);
    for (const ruleKey of this.rulesByAction.get(key) ?? []) this.queue.add(ruleKey);
  }

  /** Re-reconciles everything (periodic resync); unchanged objects produce no writes. */
  resyncAll(): void {
    for (const e of this.everything()) {
      if (e.rule) this.onRule(e.kind, 'add', e.obj);
      else this.onAction(e.kind, 'add', e.obj);
    }
  }

  /** Every cached object with its kind: actions first, so a first pass finds rules' references. */
  private everything(): Cached[] {
    const d = this.deps;
    return [
      ...d.clusterActions.list().map((obj): Cached => ({ rule: false, kind: CLUSTER_TALON_ACTION_KIND, obj })),
      ...d.actions.list().map((obj): Cached => ({ rule: false, kind: TALON_ACTION_KIND, obj })),
      ...d.clusterRules.list().map((obj): Cached => ({ rule: true, kind: CLUSTER_TALON_RULE_KIND, obj })),
      ...d.rules.list().map((obj): Cached => ({ rule: true, kind: TALON_RULE_KIND, obj })),
    ];
  }

  private async reconcile(key: string): Promise<void> {
    const { kind, namespace, name } = splitKey(key);
    try {
      if (isRuleKind(kind)) await this.reconcileRule(kind, namespace, name);
      else await this.reconcileAction(kind, namespace, name);
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

  private async reconcileAction(kind: ActionKind, namespace: string, name: string): Promise<void> {
    const action = kind === CLUSTER_TALON_ACTION_KIND ? this.deps.clusterActions.get('', name) : this.deps.actions.get(namespace, name);
    if (!action) return;
    const result = compileAction(kind, action, this.compileDeps());
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
    await this.writeConditions(kind, action, next);
  }

  private async reconcileRule(kind: RuleKind, namespace: string, name: string): Promise<void> {
    const queueKey = keyOf(kind, namespace, name);
    const indexKey = ruleKey(kind, namespace, name);
    const cluster = kind === CLUSTER_TALON_RULE_KIND;
    const rule = cluster ? this.deps.clusterRules.get('', name) : this.deps.rules.get(namespace, name);
    if (!rule) {
      this.setRefs(queueKey, namespace, []);
      if (this.compiled.delete(indexKey)) this.schedulePublish();
      return;
    }
    const generation = meta(rule).generation;
    // A ClusterTalonRule never sees a TalonAction: the compiler refuses such a reference.
    const lookup = (ref: ActionRef): TalonAction | ClusterTalonAction | undefined =>
      ref.kind === CLUSTER_TALON_ACTION_KIND
        ? this.deps.clusterActions.get('', ref.name)
        : cluster
          ? undefined
          : this.deps.actions.get(namespace, ref.name);
    const result = compileRule(kind, rule, lookup, this.compileDeps(indexKey));
    this.setRefs(queueKey, namespace, result.refs);

    let conds: Condition[] = rule.status?.conditions ?? [];
    const now = this.now();
    // Actionners that need clients start once, when the first rule using them is loaded.
    const init = result.ok ? await this.deps.registry.initialize(result.rule.actions.map((a) => a.actionner.info.name)) : undefined;
    if (result.ok && init && !init.ok) {
      if (this.compiled.delete(indexKey)) this.schedulePublish();
      conds = setCondition(conds, { type: ConditionType.Accepted, status: 'True', reason: Reason.Valid, message: '', observedGeneration: generation }, now);
      conds = setCondition(conds, { type: ConditionType.ResolvedRefs, status: 'True', reason: Reason.Resolved, message: '', observedGeneration: generation }, now);
      conds = setCondition(
        conds,
        { type: ConditionType.Ready, status: 'False', reason: Reason.ActionnerInitFailed, message: `actionner ${init.actionner} could not start: ${init.message}`, observedGeneration: generation },
        now,
      );
      await this.writeConditions(kind, rule, conds);
      // A retryable error: the queue reconciles the rule again with backoff.
      throw new TalonError('Unknown', `actionner ${init.actionner} could not start: ${init.message}`, { retryable: true });
    }
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
      this.deps.logger.info('rule not loaded', { kind, rule: indexKey, reason: notAccepted ? accepted.reason : resolvedRefs.reason });
    }
    await this.writeConditions(kind, rule, conds);
  }

  private async writeConditions(kind: TalonKind, obj: TalonRule | TalonAction, conditions: Condition[]): Promise<void> {
    await this.reporter.setConditions(kind, obj, conditions);
  }

  /** Records which actions the rule with queue key `ruleQueueKey` (in `namespace`) references. */
  private setRefs(ruleQueueKey: string, namespace: string, refs: readonly ActionRef[]): void {
    for (const old of this.refsOfRule.get(ruleQueueKey) ?? []) this.rulesByAction.get(old)?.delete(ruleQueueKey);
    const keys = refs.map((r) => keyOf(r.kind, namespace, r.name));
    for (const k of keys) {
      let set = this.rulesByAction.get(k);
      if (!set) this.rulesByAction.set(k, (set = new Set()));
      set.add(ruleQueueKey);
    }
    if (keys.length) this.refsOfRule.set(ruleQueueKey, keys);
    else this.refsOfRule.delete(ruleQueueKey);
  }

  private compileDeps(ruleKey?: string) {
    const onFailure = this.deps.onConditionFailure;
    return {
      registry: this.deps.registry,
      outputs: this.deps.outputs,
      notifiers: this.deps.notifiers,
      defaultTimeoutMs: this.deps.defaultTimeoutMs,
      cloudNamespaces: this.deps.cloudNamespaces,
      match: {
        conditions: this.cel,
        ...(onFailure && ruleKey ? { onConditionFailure: (f: ConditionFailure, ev: FalcoEvent) => onFailure(ruleKey, f, ev) } : {}),
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
    this.index = RuleIndex.build([...this.compiled.values()]);
    this.deps.publish(this.index);
  }
}
