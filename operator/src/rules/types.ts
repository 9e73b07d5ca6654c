/**
 * The compiled, immutable form of TalonRules that the engine matches and dispatches.
 * Produced by the compiler from a TalonRule CR and the TalonActions it references;
 * everything here is validated, defaulted and frozen once, never per event.
 */
import type { Actionner } from '../actionners/types.js';
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
  /** The TalonAction name for a reference, or the inline action's `name`. */
  readonly name: string;
  readonly actionner: Actionner;
  readonly params: Readonly<Record<string, unknown>>;
  readonly continue: boolean;
  readonly ignoreErrors: boolean;
  readonly timeoutMs: number;
  readonly output?: CompiledOutput;
  readonly additionalContexts: readonly string[];
}

export type RuleScope = 'cluster' | 'tenant';

export interface CompiledRule {
  /** `namespace/name`. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly generation: number;
  /** 'cluster' for rules in the control namespace, 'tenant' elsewhere. */
  readonly scope: RuleScope;
  readonly order: number;
  /** false = later rules (of the same scope or, for cluster rules, all later rules) are not evaluated. */
  readonly continue: boolean;
  readonly suspend: boolean;
  readonly dryRun: boolean;
  /** 0 = no cooldown. */
  readonly cooldownMs: number;
  readonly matcher: Matcher;
  readonly actions: readonly CompiledAction[];
  readonly notifiers: readonly string[];
}
