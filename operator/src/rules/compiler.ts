/**
 * The rule compiler: a TalonRule CR plus the TalonActions it references → an immutable
 * CompiledRule, or the conditions that say exactly what is wrong (DESIGN.md §2).
 *
 * Pure: no I/O, no clock. Everything per-event work would otherwise repeat (parameter
 * validation and defaults, match compilation, scope checks) happens here, once.
 */
import type { ActionnerRegistry } from '../actionners/registry.js';
import type { OutputRegistry } from '../outputs/registry.js';
import { deepFreeze } from '../lib/freeze.js';
import { useOf, type Actionner } from '../actionners/types.js';
import { Reason, type ConditionState } from '../api/v1alpha1/conditions.js';
import { parseDuration } from '../lib/duration.js';
import {
  type RuleAction,
  type TalonAction,
  type TalonActionSpec,
  type TalonRule,
  type TalonRuleSpec,
} from '../api/v1alpha1/types.js';
import { formatFieldErrors, suggest, validateActionSpec, validateRuleSpec } from '../api/v1alpha1/validation.js';
import { compileMatch, type CompileMatchOptions } from './match.js';
import type { CompiledAction, CompiledOutput, CompiledRule, RuleScope } from './types.js';

export interface CompileDeps {
  readonly registry: ActionnerRegistry;
  /** Rules in this namespace are cluster-wide; all others are tenant rules. */
  readonly controlNamespace: string;
  /** Per-action timeout when the action sets no `timeoutSeconds`. */
  readonly defaultTimeoutMs: number;
  /** Namespaces whose tenant rules may use cloud actionners and outputs. */
  readonly cloudNamespaces: ReadonlySet<string>;
  /** Passed to compileMatch; share one CEL environment across rules here (creating one is costly). */
  readonly match?: CompileMatchOptions;
  /** The outputs an action's `output.target` may name. */
  readonly outputs: OutputRegistry;
  /** The configured notifier instances a rule's `notifiers` may name. */
  readonly notifiers: ReadonlySet<string>;
}

/** Looks up a TalonAction by name in the rule's namespace. */
export type ActionLookup = (name: string) => TalonAction | undefined;

export interface RuleConditions {
  /** The rule's own spec: schema, match, actionners, parameters, scope. */
  readonly accepted: ConditionState;
  /** The referenced TalonActions exist and are valid. */
  readonly resolvedRefs: ConditionState;
}

export type CompileRuleResult =
  | { readonly ok: true; readonly rule: CompiledRule; readonly refs: string[]; readonly conditions: RuleConditions }
  | { readonly ok: false; readonly refs: string[]; readonly conditions: RuleConditions };

export interface ActionConditions {
  readonly accepted: ConditionState;
  readonly ready: ConditionState;
}

export interface CompileActionResult {
  readonly ok: boolean;
  readonly conditions: ActionConditions;
}

/** The most problems spelled out in one condition message. */
const MAX_PROBLEMS = 5;

interface Problem {
  readonly reason: Reason;
  readonly message: string;
}

const TRUE = (reason: Reason, message = ''): ConditionState => ({ status: 'True', reason, message });

function falseFrom(problems: readonly Problem[]): ConditionState {
  const shown = problems.slice(0, MAX_PROBLEMS).map((p) => p.message);
  if (problems.length > MAX_PROBLEMS) shown.push(`(and ${problems.length - MAX_PROBLEMS} more)`);
  return { status: 'False', reason: problems[0]!.reason, message: shown.join('; ') };
}

/** Names of the TalonActions a rule spec references, in order, without duplicates; tolerant of invalid specs. */
export function referencedActions(spec: unknown): string[] {
  const actions = (spec as { actions?: unknown } | undefined)?.actions;
  if (!Array.isArray(actions)) return [];
  const names = actions
    .map((a) => (a !== null && typeof a === 'object' ? (a as { action?: unknown }).action : undefined))
    .filter((n): n is string => typeof n === 'string' && n !== '');
  return [...new Set(names)];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parameters of a reference: the TalonAction's, overridden by the rule's. Maps merge key-wise
 * (recursively) with the rule's value winning; lists and scalars are replaced. Inputs untouched.
 */
export function mergeParameters(
  base: Readonly<Record<string, unknown>> | undefined,
  override: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(override ?? {})) {
    const cur = out[k];
    out[k] = isPlainObject(cur) && isPlainObject(v) ? mergeParameters(cur, v) : structuredClone(v);
  }
  return out;
}

/** The effective action of a reference: the TalonAction's spec with the rule's overrides applied. */
function mergeReference(base: TalonActionSpec, ref: RuleAction): TalonActionSpec {
  return {
    ...base,
    parameters: mergeParameters(base.parameters, ref.parameters),
    ...(ref.continue !== undefined ? { continue: ref.continue } : {}),
    ...(ref.ignoreErrors !== undefined ? { ignoreErrors: ref.ignoreErrors } : {}),
    ...(ref.timeoutSeconds !== undefined ? { timeoutSeconds: ref.timeoutSeconds } : {}),
  };
}

function scopeOf(namespace: string, deps: CompileDeps): RuleScope {
  return namespace === deps.controlNamespace ? 'cluster' : 'tenant';
}

const isCloudOutput = (target: string): boolean => !target.startsWith('local:');

/** Tenancy problems of one use of an actionner (DESIGN.md §2 "Scope and tenancy"). */
function scopeProblems(
  where: string,
  actionner: Actionner,
  params: Readonly<Record<string, unknown>>,
  output: TalonActionSpec['output'],
  namespace: string,
  deps: CompileDeps,
): Problem[] {
  if (scopeOf(namespace, deps) === 'cluster') return [];
  const name = actionner.info.name;
  const { scope } = useOf(actionner, params);
  const problems: Problem[] = [];
  if (scope === 'node') {
    problems.push({
      reason: Reason.ScopeNotAllowed,
      message: `${where} ${name}: acts on the ${scope} level, which tenant rules may not do; only rules in the namespace '${deps.controlNamespace}' may`,
    });
  } else if (scope === 'cloud' && !deps.cloudNamespaces.has(namespace)) {
    problems.push({
      reason: Reason.ScopeNotAllowed,
      message: `${where} ${name}: uses the operator's cloud credentials, which the namespace '${namespace}' may not (safety.cloudNamespaces)`,
    });
  }
  if (output && isCloudOutput(output.target) && !deps.cloudNamespaces.has(namespace)) {
    problems.push({
      reason: Reason.ScopeNotAllowed,
      message: `${where} ${name}: output '${output.target}' uses the operator's cloud credentials, which the namespace '${namespace}' may not (safety.cloudNamespaces)`,
    });
  }
  return problems;
}

interface CheckedAction {
  readonly actionner: Actionner;
  readonly params: Readonly<Record<string, unknown>>;
  readonly output?: CompiledOutput;
}

/**
 * Checks a schema-valid action spec against the registry and tenancy: actionner exists,
 * parameters valid, output allowed/required, scope allowed. `where` prefixes messages
 * (e.g. `spec.actions[1]`), `paramsPath` is where the parameters sit.
 */
function checkAction(
  spec: TalonActionSpec,
  where: string,
  paramsPath: string,
  namespace: string,
  deps: CompileDeps,
): { ok: true; action: CheckedAction } | { ok: false; problems: Problem[] } {
  const actionner = deps.registry.get(spec.actionner);
  if (!actionner) {
    const hint = deps.registry.suggest(spec.actionner);
    return {
      ok: false,
      problems: [
        {
          reason: Reason.UnknownActionner,
          message: `${where}: unknown actionner '${spec.actionner}'${hint ? ` (did you mean '${hint}'?)` : ''}`,
        },
      ],
    };
  }
  const name = actionner.info.name;
  const validated = deps.registry.validateParams(name, spec.parameters, paramsPath);
  if (!validated.ok) {
    return {
      ok: false,
      problems: validated.errors.map((e) => ({ reason: Reason.InvalidParameters, message: `${where} ${name}: ${e.message}` })),
    };
  }
  const problems: Problem[] = [];
  if (actionner.info.output === 'none' && spec.output) {
    problems.push({ reason: Reason.InvalidOutput, message: `${where} ${name}: produces no artifact; remove 'output'` });
  }
  if (actionner.info.output === 'required' && !spec.output) {
    problems.push({ reason: Reason.InvalidOutput, message: `${where} ${name}: needs an 'output' target for its artifact` });
  }
  let output: CompiledOutput | undefined;
  if (spec.output && actionner.info.output !== 'none') {
    const checked = deps.outputs.validateParams(spec.output.target, spec.output.parameters, `${where}.output.parameters`);
    if (checked.ok) output = deepFreeze({ target: spec.output.target, parameters: checked.params });
    else {
      const prefix = deps.outputs.get(spec.output.target) ? `output ${spec.output.target}: ` : '';
      problems.push(...checked.errors.map((e) => ({ reason: Reason.InvalidOutput, message: `${where} ${name}: ${prefix}${e.message}` })));
    }
  }
  problems.push(...scopeProblems(where, actionner, validated.params, spec.output, namespace, deps));
  return problems.length ? { ok: false, problems } : { ok: true, action: { actionner, params: validated.params, ...(output ? { output } : {}) } };
}

/** Problems of a rule's `notifiers`: each must name a configured instance. */
function notifierProblems(names: readonly string[], deps: CompileDeps): Problem[] {
  const known = [...deps.notifiers].sort();
  return names.flatMap((n, i) => {
    if (deps.notifiers.has(n)) return [];
    const hint = suggest(n, known);
    return [{
      reason: Reason.UnknownNotifier,
      message: `spec.notifiers[${i}]: unknown notifier '${n}'${hint ? ` (did you mean '${hint}'?)` : ''}; configured: ${known.join(', ') || 'none'}`,
    }];
  });
}

/**
 * Compiles a TalonRule. `refs` always lists the referenced TalonAction names (even when the
 * spec is invalid) so the caller can re-reconcile the rule when one of them changes.
 * Accepted=False reasons: InvalidSpec, InvalidMatch, UnknownNotifier, UnknownActionner,
 * InvalidParameters, InvalidOutput, ScopeNotAllowed (the first problem's reason; the message lists up to five,
 * each naming the field, e.g. "spec.actions[1] kubernetes:terminate: unknown parameter
 * 'grace_period_seconds' (did you mean 'gracePeriodSeconds'?)"). ResolvedRefs=False reasons:
 * ActionNotFound, ActionNotReady.
 */
export function compileRule(rule: TalonRule, actions: ActionLookup, deps: CompileDeps): CompileRuleResult {
  const namespace = rule.metadata.namespace ?? '';
  const refs = referencedActions(rule.spec);
  const accept: Problem[] = [];
  const resolve: Problem[] = [];

  const specErrors = validateRuleSpec(rule.spec);
  if (specErrors.length > 0) {
    accept.push({ reason: Reason.InvalidSpec, message: formatFieldErrors(specErrors, MAX_PROBLEMS) });
    for (const name of refs) {
      const ref = resolveRef(`TalonAction '${name}'`, actions(name), namespace, deps);
      if (!ref.ok) resolve.push(ref.problem);
    }
    return { ok: false, refs, conditions: conditionsOf(accept, resolve) };
  }
  const spec: TalonRuleSpec = rule.spec;

  const match = compileMatch(spec.match, 'spec.match', deps.match);
  if (!match.ok) accept.push({ reason: Reason.InvalidMatch, message: formatFieldErrors(match.errors, MAX_PROBLEMS) });
  accept.push(...notifierProblems(spec.notifiers ?? [], deps));

  const compiled: CompiledAction[] = [];
  spec.actions.forEach((item, i) => {
    const where = `spec.actions[${i}]`;
    let effective: TalonActionSpec;
    if (item.action !== undefined) {
      const ref = resolveRef(`${where}: TalonAction '${item.action}'`, actions(item.action), namespace, deps);
      if (!ref.ok) {
        resolve.push(ref.problem);
        return;
      }
      effective = mergeReference(ref.spec, item);
    } else {
      effective = item as TalonActionSpec;
    }
    const checked = checkAction(effective, where, `${where}.parameters`, namespace, deps);
    if (!checked.ok) {
      accept.push(...checked.problems);
      return;
    }
    const output = checked.action.output;
    compiled.push(
      Object.freeze({
        name: item.action ?? item.name ?? '',
        actionner: checked.action.actionner,
        params: checked.action.params,
        continue: effective.continue ?? checked.action.actionner.info.defaultContinue,
        ignoreErrors: effective.ignoreErrors ?? false,
        timeoutMs: effective.timeoutSeconds !== undefined ? effective.timeoutSeconds * 1000 : deps.defaultTimeoutMs,
        ...(output ? { output } : {}),
        additionalContexts: Object.freeze([...(effective.additionalContexts ?? [])]),
      }),
    );
  });

  if (accept.length > 0 || resolve.length > 0 || !match.ok) {
    return { ok: false, refs, conditions: conditionsOf(accept, resolve) };
  }
  const name = rule.metadata.name ?? '';
  const compiledRule: CompiledRule = Object.freeze({
    key: `${namespace}/${name}`,
    namespace,
    name,
    uid: rule.metadata.uid ?? '',
    generation: rule.metadata.generation ?? 0,
    scope: scopeOf(namespace, deps),
    order: spec.order ?? 0,
    continue: spec.continue ?? true,
    suspend: spec.suspend ?? false,
    dryRun: spec.dryRun ?? false,
    cooldownMs: spec.cooldown !== undefined ? (parseDuration(spec.cooldown) ?? 0) : 0,
    matcher: match.matcher,
    actions: Object.freeze(compiled),
    notifiers: Object.freeze([...new Set(spec.notifiers ?? [])]),
  });
  return { ok: true, rule: compiledRule, refs, conditions: conditionsOf([], []) };
}

function conditionsOf(accept: readonly Problem[], resolve: readonly Problem[]): RuleConditions {
  return {
    accepted: accept.length ? falseFrom(accept) : TRUE(Reason.Valid),
    resolvedRefs: resolve.length ? falseFrom(resolve) : TRUE(Reason.Resolved),
  };
}

/** A referenced TalonAction's spec, or why it cannot be used (missing, or itself not valid). */
function resolveRef(
  what: string,
  target: TalonAction | undefined,
  namespace: string,
  deps: CompileDeps,
): { ok: true; spec: TalonActionSpec } | { ok: false; problem: Problem } {
  if (!target) {
    return { ok: false, problem: { reason: Reason.ActionNotFound, message: `${what} not found in the namespace '${namespace}'` } };
  }
  const problems = actionProblems(target, deps);
  if (problems.length === 0) return { ok: true, spec: target.spec };
  return {
    ok: false,
    problem: {
      reason: Reason.ActionNotReady,
      message: `${what} is not valid: ${problems.slice(0, 2).map((p) => p.message).join('; ')}`,
    },
  };
}

function actionProblems(action: TalonAction, deps: CompileDeps): Problem[] {
  const errors = validateActionSpec(action.spec);
  if (errors.length > 0) return [{ reason: Reason.InvalidSpec, message: formatFieldErrors(errors, MAX_PROBLEMS) }];
  const checked = checkAction(action.spec, 'spec', 'spec.parameters', action.metadata.namespace ?? '', deps);
  return checked.ok ? [] : checked.problems;
}

/**
 * Checks a TalonAction for its status: Accepted (schema, actionner, parameters, output and — in
 * a tenant namespace — scope) and Ready (= Accepted; reason Valid or NotAccepted).
 */
export function compileAction(action: TalonAction, deps: CompileDeps): CompileActionResult {
  const problems = actionProblems(action, deps);
  if (problems.length === 0) {
    return { ok: true, conditions: { accepted: TRUE(Reason.Valid), ready: TRUE(Reason.Valid) } };
  }
  const accepted = falseFrom(problems);
  return {
    ok: false,
    conditions: { accepted, ready: { status: 'False', reason: Reason.NotAccepted, message: accepted.message } },
  };
}
