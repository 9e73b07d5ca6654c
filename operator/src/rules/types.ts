/**
 * The compiled, immutable form of TalonRules and ClusterTalonRules that the engine matches and
 * dispatches. Produced by the compiler from a rule CR and the actions it references;
 * everything here is validated, defaulted and frozen once, never per event.
 */
import type { Actionner } from '../actionners/types.js';
import { CLUSTER_TALON_RULE_KIND, type RuleKind } from '../api/v1alpha1/types.js';
import type { FalcoEvent } from '../falco/event.js';

/** The result of testing one rule's match criteria against one alert. */
export interface MatchExplanation {
  readonly matched: boolean;
  /** When not matched: the first criterion that failed, e.g. "priority", "outputFields[1]", "condition". */
  readonly failed?: string;
  /** Human sentence: what was expected and what the alert had. */
  readonly reason?: string;
}

/** Compiled match criteria of one rule (DESIGN.md §2 `match`). Pure and allocation-free on `test`. */
export interface Matcher {
  /** Falco rule names this matcher requires (OR); null when it names none (matches any rule name). */
  readonly ruleNames: readonly string[] | null;
  /** Sources this matcher requires (OR); null when any. */
  readonly sources: readonly string[] | null;
  test(ev: FalcoEvent): boolean;
  explain(ev: FalcoEvent): MatchExplanation;
}

export interface CompiledOutput {
  readonly target: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

export interface CompiledAction {
  /** The referenced TalonAction's or ClusterTalonAction's name, or the inline action's `name`. */
  readonly name: string;
  readonly actionner: Actionner;
  readonly params: Readonly<Record<string, unknown>>;
  readonly continue: boolean;
  readonly ignoreErrors: boolean;
  readonly timeoutMs: number;
  readonly output?: CompiledOutput;
  readonly additionalContexts: readonly string[];
  /** Set when the action waits for a person's TalonApproval (docs/approvals.md); absent = it runs directly. */
  readonly approval?: CompiledApproval;
  /** `revertAfter`: undo what the action changed after this long (reversible actionners only). */
  readonly revertAfterMs?: number;
}

export interface CompiledApproval {
  /** How long the TalonApproval waits for a decision. */
  readonly expiresAfterMs: number;
}

/** One step of an escalation ladder. */
export interface CompiledStep {
  /** Runs when the count of matches for a target in the window reaches this (strictly rising from step to step). */
  readonly after: number;
  readonly actions: readonly CompiledAction[];
}

/** `spec.escalation`, compiled. */
export interface CompiledEscalation {
  readonly windowMs: number;
  readonly steps: readonly CompiledStep[];
}

export type RuleScope = 'cluster' | 'tenant';

/** The scope of a rule kind: a ClusterTalonRule acts cluster-wide; a TalonRule is a tenant rule wherever it lives. */
export function scopeOfKind(kind: RuleKind): RuleScope {
  return kind === CLUSTER_TALON_RULE_KIND ? 'cluster' : 'tenant';
}

/**
 * The key of a rule, unique across both kinds (the informers' convention): `name` for a
 * ClusterTalonRule, `namespace/name` for a TalonRule. Names never contain '/', so a
 * ClusterTalonRule `x` and a TalonRule `ns/x` never collide.
 */
export function ruleKey(kind: RuleKind, namespace: string, name: string): string {
  return kind === CLUSTER_TALON_RULE_KIND ? name : `${namespace}/${name}`;
}

export interface CompiledRule {
  readonly kind: RuleKind;
  /** `ruleKey(kind, namespace, name)`: `name` for a ClusterTalonRule, `namespace/name` for a TalonRule. */
  readonly key: string;
  /** '' for a ClusterTalonRule. */
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly generation: number;
  /** From the kind: 'cluster' for a ClusterTalonRule, 'tenant' for a TalonRule. */
  readonly scope: RuleScope;
  readonly order: number;
  /** false = later rules are not evaluated: all of them for a cluster rule, later tenant rules for a tenant rule. */
  readonly continue: boolean;
  readonly suspend: boolean;
  readonly dryRun: boolean;
  /** 0 = no cooldown. */
  readonly cooldownMs: number;
  readonly matcher: Matcher;
  /** Every action the rule may run: `spec.actions`, or for an escalation rule the actions of all its steps in order. */
  readonly actions: readonly CompiledAction[];
  /** Set for an escalation rule: which of `actions` run is decided per match by the ladder (dispatch/escalation.ts). */
  readonly escalation?: CompiledEscalation;
  readonly notifiers: readonly string[];
}
