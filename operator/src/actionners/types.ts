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
import type { ObjectRef } from '../api/v1alpha1/outcome.js';
import type { Artifact } from '../lib/artifact.js';
import type { EventTarget, FalcoEvent } from '../falco/event.js';

/**
 * Where an actionner acts. `pod`/`namespace` actionners may be used by tenant rules (confined
 * to the rule's namespace); `node` and `cluster` actionners are refused for tenant rules;
 * `cloud` actionners are allowed for tenant rules only in namespaces the config lists.
 */
export type ActionnerScope = 'pod' | 'namespace' | 'node' | 'cluster' | 'cloud';

export interface ActionnerInfo {
  /** `category:name`, e.g. `kubernetes:label`. */
  readonly name: string;
  readonly description: string;
  /**
   * Output fields the alert must carry for the action to make sense; each entry is a list of
   * alternatives (any one present satisfies it), e.g. [['k8s.pod.name','ka.target.pod.name']].
   */
  readonly requiredFields: readonly (readonly string[])[];
  /** Talon semantics: whether the rule's next action runs after this one by default. */
  readonly defaultContinue: boolean;
  /** Counted against the cluster-wide destructive-actions budget (terminate, delete, drain, cordon). */
  readonly destructive: boolean;
  readonly scope: ActionnerScope;
  /** 'none' | 'allowed' | 'required': whether an output (artifact target) may or must be set. */
  readonly output: 'none' | 'allowed' | 'required';
  /** RBAC the operator needs for this actionner; config/rbac/role.yaml is generated from these. */
  readonly rbac: readonly V1PolicyRule[];
  /** A valid parameters object; a unit test validates every example against paramsSchema. */
  readonly example: Readonly<Record<string, unknown>>;
}

export type { KubeClients };

/** What the operator knows about where it runs, for guards. */
export interface OperatorIdentity {
  readonly protectedNamespaces: ReadonlySet<string>;
  /** The operator's own pod name (POD_NAME), if known; it never acts on itself. */
  readonly podName?: string;
  readonly podNamespace?: string;
}

export type { ObjectRef } from '../api/v1alpha1/outcome.js';
export type { Artifact } from '../lib/artifact.js';

export type ActionStatus = 'success' | 'skipped' | 'failure';

export interface ActionResult {
  readonly status: ActionStatus;
  /** A CamelCase reason from a small stable vocabulary (e.g. Terminated, IgnoredDaemonSet, NotFound). */
  readonly reason: string;
  readonly message: string;
  /** Objects created, changed or deleted. */
  readonly objects?: readonly ObjectRef[];
  readonly artifact?: Artifact;
  /** For failures: worth retrying with backoff (429, 5xx, timeouts, 409 conflicts). */
  readonly retryable?: boolean;
}

export interface ActionContext<P = Readonly<Record<string, unknown>>> {
  readonly event: FalcoEvent;
  readonly target: EventTarget;
  readonly params: P;
  readonly signal: AbortSignal;
  readonly kube: KubeClients;
  readonly identity: OperatorIdentity;
  /** The rule and action this run belongs to (for labels on created objects). */
  readonly rule: { readonly namespace: string; readonly name: string; readonly uid?: string };
  readonly actionName: string;
}

export type PrecheckResult = { ok: true } | { ok: false; reason: string; message: string };

export interface Actionner<P = Readonly<Record<string, unknown>>> {
  readonly info: ActionnerInfo;
  /** TypeBox schema: additionalProperties false, defaults declared; camelCase keys. */
  readonly paramsSchema: TSchema;
  /**
   * Optional: the scope of one configured use, when parameters widen it beyond `info.scope`
   * (e.g. `level: node` on kubernetes:label). The compiler applies tenancy to this scope;
   * absent ⇒ `info.scope`. Called with validated, defaulted parameters.
   */
  scopeFor?(params: P): ActionnerScope;
  /** Cheap synchronous checks of the alert against the parameters (required fields, etc.). */
  precheck(event: FalcoEvent, target: EventTarget, params: P): PrecheckResult;
  run(ctx: ActionContext<P>): Promise<ActionResult>;
}

export const ok = (reason: string, message: string, objects?: readonly ObjectRef[]): ActionResult => ({
  status: 'success',
  reason,
  message,
  ...(objects ? { objects } : {}),
});
export const skipped = (reason: string, message: string): ActionResult => ({ status: 'skipped', reason, message });
export const failed = (reason: string, message: string, retryable = false): ActionResult => ({
  status: 'failure',
  reason,
  message,
  retryable,
});
