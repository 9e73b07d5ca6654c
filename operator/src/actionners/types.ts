/**
 * The actionner plug-in contract (STYLE.md "Contracts").
 *
 * An actionner is a self-describing object registered once in `actionners/index.ts`.
 * Parameters reach `run` already validated against `paramsSchema`, defaulted and frozen.
 * `run` honours `ctx.signal`, is idempotent, and never throws for an expected outcome:
 * it returns a result. Anything thrown is turned into a failure by the dispatcher, which is
 * also the only place that logs, counts and records outcomes.
 */
import type { TSchema } from '@sinclair/typebox';
import type { V1PolicyRule } from '@kubernetes/client-node';
import type { KubeClients } from '../kube/client.js';
import type { ExpiryHandler } from './expiry.js';
import type { ObjectRef } from '../api/v1alpha1/outcome.js';
import type { OutcomeReason } from '../api/v1alpha1/reasons.js';
import type { Artifact } from '../lib/artifact.js';
import type { FalcoEvent } from '../falco/event.js';
import type { ResolvedTarget, TargetSubject } from '../falco/target.js';
import type { LogPort } from '../lib/log.js';

export type { ResolvedTarget, TargetSubject };

/**
 * The tenancy class of one configured use of an actionner (DESIGN.md §2 "Scope and tenancy").
 * Never declared on its own: it follows from what the use acts on (`useOf`), so scope and
 * target cannot disagree.
 * - `pod`: the alert's pod; a tenant rule may act on it when it is in the rule's namespace.
 * - `namespace`: the audited object; a tenant rule may act on it when it is a namespaced
 *   object of the rule's namespace (a cluster-scoped object is out of scope).
 * - `node`: a node; refused for tenant rules.
 * - `cloud`: acts outside the cluster or beyond Kubernetes' `edit` role with the operator's
 *   credentials (no target, or an actionner declared `cloud`); tenant rules only in the
 *   namespaces the config lists (`safety.cloudNamespaces`), and any Kubernetes object it names
 *   must still be in the rule's namespace.
 */
export type ActionnerScope = 'pod' | 'namespace' | 'node' | 'cloud';

export interface ActionnerInfo {
  /** `category:name`, e.g. `kubernetes:label`. */
  readonly name: string;
  readonly description: string;
  /**
   * Output fields the alert must carry besides those naming the target (which `target` already
   * requires, through falco/target.ts); each entry is a list of alternatives (any one present
   * satisfies it), e.g. [['fd.rip', 'fd.sip']].
   */
  readonly requiredFields: readonly (readonly string[])[];
  /** Talon semantics: whether the rule's next action runs after this one by default. */
  readonly defaultContinue: boolean;
  /** Counted against the cluster-wide destructive-actions budget (terminate, delete, drain, cordon). */
  readonly destructive: boolean;
  /** What the actionner acts on, unless `targetFor` says otherwise for a use's parameters. */
  readonly target: TargetSubject;
  /**
   * True when it acts with the operator's credentials beyond Kubernetes' `edit` role (cloud
   * APIs, Calico/Cilium policies): its uses are `cloud`-scoped (node uses stay `node`).
   * Default false.
   */
  readonly cloud?: boolean;
  /**
   * True when what it does can be undone (actionners/revert.ts): the action may set
   * `revertAfter`, which reaches the run as `ctx.revertAfterMs`. Default false.
   */
  readonly reversible?: boolean;
  /** 'none' | 'allowed' | 'required': whether an output (artifact target) may or must be set. */
  readonly output: 'none' | 'allowed' | 'required';
  /** RBAC the operator needs for this actionner; config/rbac/role.yaml is generated from these. */
  readonly rbac: readonly V1PolicyRule[];
  /** A valid parameters object; a unit test validates every example against paramsSchema. */
  readonly example: Readonly<Record<string, unknown>>;
}

export type { KubeClients };

/** Name of the operator's own ClusterRole and ClusterRoleBinding when its identity names none (scripts/gen-rbac.ts, config/rbac). */
export const DEFAULT_OPERATOR_RBAC_NAME = 'talon-operator';

/** What the operator knows about where it runs, for guards. */
export interface OperatorIdentity {
  readonly protectedNamespaces: ReadonlySet<string>;
  /** The operator's own pod name (POD_NAME), if known; it never acts on itself. */
  readonly podName?: string;
  readonly podNamespace?: string;
  /**
   * Names of the operator's own ClusterRoles and ClusterRoleBindings (OPERATOR_RBAC_NAME; the
   * chart's full name); never acted upon. Absent: {DEFAULT_OPERATOR_RBAC_NAME}.
   */
  readonly rbacNames?: ReadonlySet<string>;
}

export type { ObjectRef } from '../api/v1alpha1/outcome.js';
export type { OutcomeReason };
export type { Artifact } from '../lib/artifact.js';

export type ActionStatus = 'success' | 'skipped' | 'failure';

export interface ActionResult {
  readonly status: ActionStatus;
  /** From the reasons catalogue (api/v1alpha1/reasons.ts), e.g. Terminated, IgnoredDaemonSet, NotFound. */
  readonly reason: OutcomeReason;
  readonly message: string;
  /** Objects created, changed or deleted. */
  readonly objects?: readonly ObjectRef[];
  readonly artifact?: Artifact;
  /** For failures: worth retrying with backoff (429, 5xx, timeouts, 409 conflicts). */
  readonly retryable?: boolean;
}

export interface ActionContext<P = Readonly<Record<string, unknown>>> {
  readonly event: FalcoEvent;
  /**
   * The object this action acts on, resolved once by the dispatcher for the use's subject
   * (`useOf(...).target`) and checked by its guards; the actionner acts on exactly this object
   * and never re-derives it from the alert.
   */
  readonly target: ResolvedTarget;
  readonly params: P;
  readonly signal: AbortSignal;
  readonly kube: KubeClients;
  readonly identity: OperatorIdentity;
  /** The rule and action this run belongs to (for labels on created objects). */
  readonly rule: { readonly namespace: string; readonly name: string; readonly uid?: string };
  readonly actionName: string;
  /**
   * True when the action has an output: an artifact the run returns will be stored. Actionners
   * whose output is optional use it to choose between streaming an artifact and putting an
   * excerpt in the message. Absent = false.
   */
  readonly hasOutput?: boolean;
  /**
   * What the actionner's `init` returned (absent when it declares none). The registry runs
   * `init` before any rule using the actionner is loaded, so a run always sees it.
   */
  readonly state?: unknown;
  /**
   * The action's `additionalContexts` (dispatch/contexts.ts), fetched at dispatch: flat keys
   * such as `node.hostname`, `aws.region`. Absent when the action asks for none.
   */
  readonly contexts?: Readonly<Record<string, string>>;
  /**
   * The action's `revertAfter` in ms (reversible actionners only): the run records on the
   * object it changes what to restore and when (actionners/revert.ts). Absent: no revert.
   */
  readonly revertAfterMs?: number;
}

/** What `init` gets besides its settings. */
export interface ActionnerInitDeps {
  readonly log: LogPort;
}

export type PrecheckResult = { ok: true } | { ok: false; reason: OutcomeReason; message: string };

export interface Actionner<P = Readonly<Record<string, unknown>>> {
  readonly info: ActionnerInfo;
  /** TypeBox schema: additionalProperties false, defaults declared; camelCase keys. */
  readonly paramsSchema: TSchema;
  /**
   * Optional: what one configured use acts on, when its parameters change it (e.g. `level: node`
   * on kubernetes:label); absent ⇒ `info.target`. Called with validated, defaulted parameters;
   * pure. Read through `useOf`, by the compiler (tenancy at admission) and the dispatcher
   * (target resolution and guards at run time).
   */
  targetFor?(params: P): TargetSubject;
  /**
   * Cheap synchronous checks of the alert and the resolved target against the parameters,
   * after the dispatcher's guards.
   */
  precheck(event: FalcoEvent, target: ResolvedTarget, params: P): PrecheckResult;
  run(ctx: ActionContext<P>): Promise<ActionResult>;
  /**
   * Optional: the settings this actionner reads from the operator config, section
   * `actionners.<category>` (e.g. `actionners.aws`); a closed object schema with defaults.
   * Actionners of one category that declare it share the same schema object. Validated at
   * start by the config loader.
   */
  readonly configSchema?: TSchema;
  /**
   * Optional: builds the actionner's clients from its (validated, defaulted) config section.
   * Run once, lazily, when the first rule using the actionner is loaded; a throw leaves those
   * rules not Ready (condition reason ActionnerInitFailed) and is retried on their next
   * reconcile. What it returns reaches every run as `ctx.state`. Never logs secrets.
   */
  init?(config: Readonly<Record<string, unknown>>, deps: ActionnerInitDeps): unknown;
  /** For actionners that create objects with a lifetime (`ttl`): how the expiry sweeper finds and removes them. */
  readonly expiry?: ExpiryHandler;
}

export const ok = (reason: OutcomeReason, message: string, objects?: readonly ObjectRef[]): ActionResult => ({
  status: 'success',
  reason,
  message,
  ...(objects ? { objects } : {}),
});
export const skipped = (reason: OutcomeReason, message: string): ActionResult => ({ status: 'skipped', reason, message });
export const failed = (reason: OutcomeReason, message: string, retryable = false): ActionResult => ({
  status: 'failure',
  reason,
  message,
  retryable,
});

/** What one configured use of an actionner acts on, and the tenancy class that follows from it. */
export interface ActionnerUse {
  readonly target: TargetSubject;
  readonly scope: ActionnerScope;
}

const SCOPE_OF_TARGET: Readonly<Record<TargetSubject, ActionnerScope>> = { pod: 'pod', audited: 'namespace', node: 'node', none: 'cloud' };

/**
 * The use of `actionner` with these (validated, defaulted) parameters. A node use is always
 * `node`-scoped, even for a `cloud` actionner: the stricter class wins.
 */
export function useOf<P>(actionner: Actionner<P>, params: P): ActionnerUse {
  const target = actionner.targetFor?.(params) ?? actionner.info.target;
  const scope = actionner.info.cloud === true && target !== 'node' ? 'cloud' : SCOPE_OF_TARGET[target];
  return { target, scope };
}

/**
 * What a `cloud`-scoped use does that a tenant namespace needs `safety.cloudNamespaces` for, as
 * tenancy refusals word it: CNI policy actionners (calico:, cilium:) write policy kinds beyond
 * the `edit` role; the others use the operator's cloud credentials.
 */
export function cloudUseText(actionner: string): string {
  return /^(calico|cilium):/.test(actionner) ? 'uses policy kinds beyond the edit role' : "uses the operator's cloud credentials";
}
