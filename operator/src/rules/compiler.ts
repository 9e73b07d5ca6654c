/**
 * The rule compiler: a TalonRule or ClusterTalonRule CR plus the actions it references → an
 * immutable CompiledRule, or the conditions that say exactly what is wrong (DESIGN.md §2).
 *
 * Scope comes from the kind alone: a ClusterTalonRule is a cluster rule; a TalonRule is a
 * tenant rule wherever it lives (no namespace is special). Tenant rules may not use node- or
 * cluster-level actionners, nor cloud ones outside `safety.cloudNamespaces`; a TalonAction is
 * only ever used by tenant rules of its namespace, so it is held to the same limits.
 *
 * Pure: no I/O, no clock. Everything per-event work would otherwise repeat (parameter
 * validation and defaults, match compilation, scope checks) happens here, once.
 */
import type { ActionnerRegistry } from '../actionners/registry.js';
import type { OutputRegistry } from '../outputs/registry.js';
import { deepFreeze } from '../lib/freeze.js';
import { cloudUseText, useOf, type Actionner } from '../actionners/types.js';
import { Reason, type ConditionState } from '../api/v1alpha1/conditions.js';
import { parseDuration } from '../lib/duration.js';
import {
  ACTION_KINDS,
  CLUSTER_TALON_ACTION_KIND,
  CLUSTER_TALON_RULE_KIND,
  defaultActionKind,
  TALON_ACTION_KIND,
  TALON_RULE_KIND,
  type ActionKind,
  type ClusterTalonAction,
  type ClusterTalonRule,
  type RuleAction,
  type RuleKind,
  type TalonAction,
  type TalonActionSpec,
  type TalonRule,
  type TalonRuleSpec,
} from '../api/v1alpha1/types.js';
import { formatFieldErrors, suggest, validateActionSpec, validateRuleSpec } from '../api/v1alpha1/validation.js';
import { compileMatch, type CompileMatchOptions } from './match.js';
import { ruleKey, scopeOfKind, type CompiledAction, type CompiledApproval, type CompiledEscalation, type CompiledOutput, type CompiledRule, type CompiledStep, type RuleScope } from './types.js';

export interface CompileDeps {
  readonly registry: ActionnerRegistry;
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

/** A rule's reference to an action: a TalonAction (in the rule's namespace) or a ClusterTalonAction. */
export interface ActionRef {
  readonly kind: ActionKind;
  readonly name: string;
}

/**
 * Finds a referenced action: a TalonAction in the rule's namespace (the caller knows it), or a
 * ClusterTalonAction; undefined when there is none.
 */
export type ActionLookup = (ref: ActionRef) => TalonAction | ClusterTalonAction | undefined;

export interface RuleConditions {
  /** The rule's own spec: schema, match, actionners, parameters, scope. */
  readonly accepted: ConditionState;
  /** The referenced TalonActions exist and are valid. */
  readonly resolvedRefs: ConditionState;
}

export type CompileRuleResult =
  | { readonly ok: true; readonly rule: CompiledRule; readonly refs: ActionRef[]; readonly conditions: RuleConditions }
  | { readonly ok: false; readonly refs: ActionRef[]; readonly conditions: RuleConditions };

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

const isActionKind = (v: unknown): v is ActionKind => (ACTION_KINDS as readonly unknown[]).includes(v);

/**
 * The actions a rule spec references, in order, without duplicates; a reference without a
 * (valid) `kind` names the rule kind's default. Tolerant of invalid specs.
 */
export function referencedActions(spec: unknown, ruleKind: RuleKind): ActionRef[] {
  const s = spec as { actions?: unknown; escalation?: { steps?: unknown } } | undefined;
  const steps = Array.isArray(s?.escalation?.steps) ? (s.escalation.steps as unknown[]) : [];
  const actions = [
    ...(Array.isArray(s?.actions) ? s.actions : []),
    ...steps.flatMap((st) => {
      const a = (st as { actions?: unknown } | null)?.actions;
      return Array.isArray(a) ? a : [];
    }),
  ];
  const out: ActionRef[] = [];
  const seen = new Set<string>();
  for (const a of actions) {
    if (a === null || typeof a !== 'object') continue;
    const { action, kind } = a as { action?: unknown; kind?: unknown };
    if (typeof action !== 'string' || action === '') continue;
    const ref: ActionRef = { kind: isActionKind(kind) ? kind : defaultActionKind(ruleKind), name: action };
    const k = `${ref.kind}/${ref.name}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(ref);
  }
  return out;
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

/** The effective action of a reference: the referenced action's spec with the rule's overrides applied. */
function mergeReference(base: TalonActionSpec, ref: RuleAction): TalonActionSpec {
  return {
    ...base,
    parameters: mergeParameters(base.parameters, ref.parameters),
    ...(ref.continue !== undefined ? { continue: ref.continue } : {}),
    ...(ref.ignoreErrors !== undefined ? { ignoreErrors: ref.ignoreErrors } : {}),
    ...(ref.timeoutSeconds !== undefined ? { timeoutSeconds: ref.timeoutSeconds } : {}),
    ...(ref.approval !== undefined ? { approval: ref.approval } : {}),
    ...(ref.revertAfter !== undefined ? { revertAfter: ref.revertAfter } : {}),
  };
}

/** How long an approval waits when `expiresAfter` is not set. */
export const DEFAULT_APPROVAL_EXPIRY_MS = 60 * 60_000;

/** The compiled `approval` of an action: absent unless required. */
function compileApproval(spec: TalonActionSpec): { approval?: CompiledApproval } {
  if (spec.approval?.required !== true) return {};
  const ms = spec.approval.expiresAfter === undefined ? DEFAULT_APPROVAL_EXPIRY_MS : (parseDuration(spec.approval.expiresAfter) ?? DEFAULT_APPROVAL_EXPIRY_MS);
  return { approval: Object.freeze({ expiresAfterMs: ms }) };
}

/**
 * Where an action is used, for tenancy: the scope it runs in, the namespace of a tenant use,
 * and what to call the user of it in messages ('TalonRule', 'TalonAction').
 */
interface UseScope {
  readonly scope: RuleScope;
  /** The tenant's namespace; '' for cluster scope. */
  readonly namespace: string;
  readonly by: RuleKind | ActionKind;
}

const isCloudOutput = (target: string): boolean => !target.startsWith('local:');

/** Tenancy problems of one use of an actionner (DESIGN.md §2 "Scope and tenancy"). */
function scopeProblems(
  where: string,
  actionner: Actionner,
  params: Readonly<Record<string, unknown>>,
  output: TalonActionSpec['output'],
  use: UseScope,
  deps: CompileDeps,
): Problem[] {
  if (use.scope === 'cluster') return [];
  const { namespace } = use;
  const name = actionner.info.name;
  const { scope } = useOf(actionner, params);
  const problems: Problem[] = [];
  if (scope === 'node') {
    problems.push({
      reason: Reason.ScopeNotAllowed,
      message:
        use.by === TALON_ACTION_KIND
          ? `${where} ${name}: acts on the ${scope} level, which a ${TALON_ACTION_KIND} may not do (only the TalonRules of its namespace can use it); use a ${CLUSTER_TALON_ACTION_KIND}`
          : `${where} ${name}: acts on the ${scope} level, which a ${TALON_RULE_KIND} may not do (it is confined to its namespace); only a ${CLUSTER_TALON_RULE_KIND} may`,
    });
  } else if (scope === 'cloud' && !deps.cloudNamespaces.has(namespace)) {
    problems.push({
      reason: Reason.ScopeNotAllowed,
      message: `${where} ${name}: ${cloudUseText(name)}, which the namespace '${namespace}' may not (safety.cloudNamespaces)`,
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
  readonly revertAfterMs?: number;
}

/**
 * An action's `revertAfter` in ms (undefined when unset), or why it cannot be used: the
 * actionner cannot undo what it does, or the action also sets the `ttl` parameter (the same
 * mechanism under its older name).
 */
function revertAfterOf(
  spec: TalonActionSpec,
  where: string,
  actionner: Actionner,
  params: Readonly<Record<string, unknown>>,
): { ok: true; ms: number | undefined } | { ok: false; problem: Problem } {
  if (spec.revertAfter === undefined) return { ok: true, ms: undefined };
  const name = actionner.info.name;
  if (actionner.info.reversible !== true) {
    return { ok: false, problem: { reason: Reason.InvalidSpec, message: `${where} ${name}: revertAfter: what ${name} does cannot be undone; reversible actionners: ${REVERSIBLE_HINT}` } };
  }
  if (params.ttl !== undefined) {
    return { ok: false, problem: { reason: Reason.InvalidSpec, message: `${where} ${name}: set revertAfter or the ttl parameter, not both (ttl is the same mechanism under its older name)` } };
  }
  const ms = parseDuration(spec.revertAfter);
  if (ms === undefined || ms <= 0) return { ok: false, problem: { reason: Reason.InvalidSpec, message: `${where}.revertAfter: '${spec.revertAfter}' is not a duration above zero` } };
  return { ok: true, ms };
}

const REVERSIBLE_HINT = 'kubernetes:label, kubernetes:annotation, kubernetes:networkpolicy, calico:networkpolicy, cilium:networkpolicy, kubernetes:cordon';

/**
 * The compiled ladder of `spec.escalation`: each step's actions compiled by `compileList`
 * (which records their problems), the window parsed, and `after` checked to rise strictly
 * from step to step (problems pushed to `accept`).
 */
function compileEscalation(
  spec: NonNullable<TalonRuleSpec['escalation']>,
  compileList: (items: readonly RuleAction[], prefix: string) => CompiledAction[],
  accept: Problem[],
): CompiledEscalation {
  const windowMs = parseDuration(spec.window) ?? 0;
  if (windowMs <= 0) accept.push({ reason: Reason.InvalidSpec, message: `spec.escalation.window: '${spec.window}' is not a duration above zero` });
  const steps: CompiledStep[] = spec.steps.map((st, i) => {
    const prev = spec.steps[i - 1];
    if (prev !== undefined && st.after <= prev.after) {
      accept.push({
        reason: Reason.InvalidSpec,
        message: `spec.escalation.steps[${i}].after: ${st.after} must be above the previous step's ${prev.after} (steps are ordered by count of matches)`,
      });
    }
    return Object.freeze({ after: st.after, actions: Object.freeze(compileList(st.actions, `spec.escalation.steps[${i}].actions`)) });
  });
  return Object.freeze({ windowMs, steps: Object.freeze(steps) });
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
  use: UseScope,
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
  problems.push(...scopeProblems(where, actionner, validated.params, spec.output, use, deps));
  const revert = revertAfterOf(spec, where, actionner, validated.params);
  if (!revert.ok) problems.push(revert.problem);
  const revertAfterMs = revert.ok ? revert.ms : undefined;
  return problems.length
    ? { ok: false, problems }
    : { ok: true, action: { actionner, params: validated.params, ...(output ? { output } : {}), ...(revertAfterMs !== undefined ? { revertAfterMs } : {}) } };
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
 * Compiles a TalonRule or a ClusterTalonRule (`kind`; a ClusterTalonRule's namespace is
 * ignored and recorded as ''). `refs` always lists the referenced actions (even when the spec
 * is invalid) so the caller can re-reconcile the rule when one of them changes.
 * Accepted=False reasons: InvalidSpec, InvalidMatch, UnknownNotifier, UnknownActionner, InvalidParameters,
 * InvalidOutput, ScopeNotAllowed (the first problem's reason; the message lists up to five,
 * each naming the field, e.g. "spec.actions[1] kubernetes:terminate: unknown parameter
 * 'grace_period_seconds' (did you mean 'gracePeriodSeconds'?)"). ResolvedRefs=False reasons:
 * ActionNotFound, ActionNotReady.
 */
export function compileRule(
  kind: RuleKind,
  rule: TalonRule | ClusterTalonRule,
  actions: ActionLookup,
  deps: CompileDeps,
): CompileRuleResult {
  const scope = scopeOfKind(kind);
  const namespace = scope === 'cluster' ? '' : (rule.metadata.namespace ?? '');
  const use: UseScope = { scope, namespace, by: kind };
  const refs = referencedActions(rule.spec, kind);
  const accept: Problem[] = [];
  const resolve: Problem[] = [];

  const specErrors = validateRuleSpec(rule.spec, 'spec', kind);
  if (specErrors.length > 0) {
    accept.push({ reason: Reason.InvalidSpec, message: formatFieldErrors(specErrors, MAX_PROBLEMS) });
    for (const r of refs) {
      const ref = resolveRef('', r, use, actions, deps);
      if (!ref.ok) resolve.push(ref.problem);
    }
    return { ok: false, refs, conditions: conditionsOf(accept, resolve) };
  }
  const spec: TalonRuleSpec = rule.spec;

  const match = compileMatch(spec.match, 'spec.match', deps.match);
  if (!match.ok) accept.push({ reason: Reason.InvalidMatch, message: formatFieldErrors(match.errors, MAX_PROBLEMS) });
  accept.push(...notifierProblems(spec.notifiers ?? [], deps));

  const compileList = (items: readonly RuleAction[], prefix: string): CompiledAction[] => {
    const out: CompiledAction[] = [];
    items.forEach((item, i) => {
      const where = `${prefix}[${i}]`;
      let effective: TalonActionSpec;
      if (item.action !== undefined) {
        const target: ActionRef = { kind: item.kind ?? defaultActionKind(kind), name: item.action };
        const ref = resolveRef(`${where}: `, target, use, actions, deps);
        if (!ref.ok) {
          resolve.push(ref.problem);
          return;
        }
        effective = mergeReference(ref.spec, item);
      } else {
        effective = item as TalonActionSpec;
      }
      const checked = checkAction(effective, where, `${where}.parameters`, use, deps);
      if (!checked.ok) {
        accept.push(...checked.problems);
        return;
      }
      const output = checked.action.output;
      const revertAfterMs = checked.action.revertAfterMs;
      out.push(
        Object.freeze({
          name: item.action ?? item.name ?? '',
          actionner: checked.action.actionner,
          params: checked.action.params,
          continue: effective.continue ?? checked.action.actionner.info.defaultContinue,
          ignoreErrors: effective.ignoreErrors ?? false,
          timeoutMs: effective.timeoutSeconds !== undefined ? effective.timeoutSeconds * 1000 : deps.defaultTimeoutMs,
          ...(output ? { output } : {}),
          ...(revertAfterMs !== undefined ? { revertAfterMs } : {}),
          additionalContexts: Object.freeze([...(effective.additionalContexts ?? [])]),
          ...compileApproval(effective),
        }),
      );
    });
    return out;
  };
  const compiled: CompiledAction[] = spec.actions ? compileList(spec.actions, 'spec.actions') : [];
  const escalation = spec.escalation ? compileEscalation(spec.escalation, compileList, accept) : undefined;
  if (escalation) compiled.push(...escalation.steps.flatMap((st) => st.actions));

  if (accept.length > 0 || resolve.length > 0 || !match.ok) {
    return { ok: false, refs, conditions: conditionsOf(accept, resolve) };
  }
  const name = rule.metadata.name ?? '';
  const compiledRule: CompiledRule = Object.freeze({
    kind,
    key: ruleKey(kind, namespace, name),
    namespace,
    name,
    uid: rule.metadata.uid ?? '',
    generation: rule.metadata.generation ?? 0,
    scope,
    order: spec.order ?? 0,
    continue: spec.continue ?? true,
    suspend: spec.suspend ?? false,
    dryRun: spec.dryRun ?? false,
    cooldownMs: spec.cooldown !== undefined ? (parseDuration(spec.cooldown) ?? 0) : 0,
    matcher: match.matcher,
    actions: Object.freeze(compiled),
    ...(escalation ? { escalation } : {}),
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

/**
 * A referenced action's spec, or why it cannot be used: missing, a TalonAction named by a
 * ClusterTalonRule, or itself not valid. `prefix` starts messages (e.g. `spec.actions[0]: `).
 */
function resolveRef(
  prefix: string,
  ref: ActionRef,
  use: UseScope,
  actions: ActionLookup,
  deps: CompileDeps,
): { ok: true; spec: TalonActionSpec } | { ok: false; problem: Problem } {
  const what = `${prefix}${ref.kind} '${ref.name}'`;
  if (ref.kind !== CLUSTER_TALON_ACTION_KIND && use.scope === 'cluster') {
    // Refused at admission (CEL); kept for specs that never went through the apiserver.
    return {
      ok: false,
      problem: { reason: Reason.ActionNotFound, message: `${what}: a ${CLUSTER_TALON_RULE_KIND} may reference only ${CLUSTER_TALON_ACTION_KIND}s` },
    };
  }
  const target = actions(ref);
  if (!target) {
    const where = ref.kind === CLUSTER_TALON_ACTION_KIND ? '' : ` in the namespace '${use.namespace}'`;
    return { ok: false, problem: { reason: Reason.ActionNotFound, message: `${what} not found${where}` } };
  }
  const problems = actionProblems(ref.kind, target, deps);
  if (problems.length === 0) return { ok: true, spec: target.spec };
  return {
    ok: false,
    problem: {
      reason: Reason.ActionNotReady,
      message: `${what} is not valid: ${problems.slice(0, 2).map((p) => p.message).join('; ')}`,
    },
  };
}

/** Problems of an action on its own: a TalonAction is held to tenant limits in its namespace, a ClusterTalonAction to none. */
function actionProblems(kind: ActionKind, action: TalonAction | ClusterTalonAction, deps: CompileDeps): Problem[] {
  const errors = validateActionSpec(action.spec);
  if (errors.length > 0) return [{ reason: Reason.InvalidSpec, message: formatFieldErrors(errors, MAX_PROBLEMS) }];
  const use: UseScope =
    kind === CLUSTER_TALON_ACTION_KIND
      ? { scope: 'cluster', namespace: '', by: kind }
      : { scope: 'tenant', namespace: action.metadata.namespace ?? '', by: kind };
  const checked = checkAction(action.spec, 'spec', 'spec.parameters', use, deps);
  return checked.ok ? [] : checked.problems;
}

/**
 * Checks a TalonAction or ClusterTalonAction (`kind`) for its status: Accepted (schema,
 * actionner, parameters, output and, for a TalonAction, tenant scope) and Ready (= Accepted;
 * reason Valid or NotAccepted). A ClusterTalonAction may use any actionner; a TalonRule
 * referencing it is still held to tenant limits when it is compiled.
 */
export function compileAction(kind: ActionKind, action: TalonAction | ClusterTalonAction, deps: CompileDeps): CompileActionResult {
  const problems = actionProblems(kind, action, deps);
  if (problems.length === 0) {
    return { ok: true, conditions: { accepted: TRUE(Reason.Valid), ready: TRUE(Reason.Valid) } };
  }
  const accepted = falseFrom(problems);
  return {
    ok: false,
    conditions: { accepted, ready: { status: 'False', reason: Reason.NotAccepted, message: accepted.message } },
  };
}
