/**
 * The `match` block of a TalonRule, compiled once into a pure, allocation-free Matcher.
 *
 * ## Semantics
 *
 * Every present criterion must hold (AND). An absent criterion, or an empty list, matches
 * every alert. Criteria are evaluated cheapest first, in this order, and `explain` reports the
 * first that fails: `priority`, `rules`, `sources`, `tags`, `outputFields[i]`, `condition`.
 *
 * - `rules`: the alert's Falco rule name equals one of the names exactly (OR).
 * - `priority`: Talon syntax `[<|>|=|<=|>=]Level`, e.g. `Warning`, `>=Error`, `<Notice`; no
 *   comparator means `=`. Levels are Falco's, case-insensitive, lowest first: Debug,
 *   Informational, Notice, Warning, Error, Critical, Alert, Emergency. `Info` is rejected as
 *   Talon rejects it (Falco's JSON always says `Informational`). An alert whose priority is
 *   unknown has level 0, so it matches only `<` / `<=` comparisons, as in Talon.
 * - `sources`: the alert's source (`syscall` when the alert has none) equals one of them (OR).
 * - `tags`: a list of groups; the alert matches when it carries every tag of at least one
 *   group (OR of AND-groups, Talon's semantics).
 * - `outputFields`: every expression holds (AND). `{key, operator, values}`:
 *   - A `null` field (Falco could not resolve it) counts as absent.
 *   - `Exists` / `DoesNotExist`: the field is present and not null / absent or null. No values.
 *   - `In` / `NotIn`: the field's text equals one of the values / none of them. An absent
 *     field is never `In` and always `NotIn`.
 *   - `StartsWith` / `EndsWith` / `Contains`: the field's text starts with / ends with /
 *     contains one of the values.
 *   - `Matches`: the field's text matches the one value, an RE2 regular expression (re2js:
 *     linear time, unanchored; write `^…$` for a full match).
 *   - `Gt` / `Lt`: the field is a number (or a decimal string such as `"201"`) greater / less
 *     than the one value, a decimal number (`42`, `-7`, `1.5`). Integers compare exactly at
 *     any size (`evt.time` 1747563495901045861 > 1747563495901045860); non-integers compare as
 *     doubles. A field that is not a number never matches.
 *   - The field's text: strings as-is; integers in exact decimal; other numbers as JavaScript
 *     prints them; booleans `true` / `false`. For a list field the expression holds when it
 *     holds for any element (`NotIn`: when no element is in the values).
 * - `condition`: a CEL expression, compiled once, that must evaluate to `true`. Variables:
 *   `rule`, `priority`, `source`, `hostname`, `output` (strings), `priorityLevel` (int, as
 *   above), `tags` (list of strings) and `fields` (map of output_fields, unchanged: strings,
 *   bools, null, lists; JSON numbers are doubles, integers beyond 2^53 are ints holding the
 *   exact value, so `fields["evt.time"] > 1747563495901045860` is exact; CEL compares ints,
 *   uints and doubles with each other). Indexing a missing key is an evaluation error: test
 *   `"k8s.ns.name" in fields` first or write `fields[?"k8s.ns.name"].orValue("")`.
 *   `matches()` uses RE2 (re2js). A compile or type error is a spec error; an evaluation
 *   error or a non-bool result means no match and is reported through `onConditionFailure`.
 */
import { PRIORITIES, priorityLevel, type FalcoEvent } from '../falco/event.js';
import type { Matcher, MatchExplanation } from './types.js';
import {
  compileFieldExpr,
  showValue,
  type FieldPredicate,
  type OutputFieldExpr,
  type SpecError,
} from './match-fields.js';
import { ConditionEnvironment, CostLimitError, type ConditionProgram } from './match-cel.js';

export type { FieldOperator, OutputFieldExpr, SpecError } from './match-fields.js';
export { ConditionEnvironment, COST_LIMIT, CostLimitError } from './match-cel.js';

export interface MatchSpec {
  rules?: string[];
  priority?: string;
  sources?: string[];
  tags?: string[][];
  outputFields?: OutputFieldExpr[];
  condition?: string;
}

/**
 * A condition that could not decide: an evaluation error, a result that is not a bool, or an
 * evaluation aborted at its cost limit (`cost`, which the dispatcher records as Failed/CostLimit).
 */
export interface ConditionFailure {
  readonly kind: 'error' | 'non-bool' | 'cost';
  readonly message: string;
  /** How many failures this matcher has had, this one included (1 = first: log it). */
  readonly count: number;
}

export interface CompileMatchOptions {
  /** Shared CEL environment; one is created when absent (costly: share it across rules). */
  readonly conditions?: ConditionEnvironment;
  /** Called on each condition failure (the alert then does not match). Must not throw. */
  readonly onConditionFailure?: (failure: ConditionFailure, ev: FalcoEvent) => void;
}

/**
 * Necessary conditions a rule index may use to skip a matcher without calling `test`; each
 * is implied by the matcher's criteria, so skipping on them never loses a match.
 */
export interface IndexHints {
  /** `In` expressions: the field's text (or a list element's) equals one of `values`. */
  readonly fieldIn: readonly { readonly key: string; readonly values: readonly string[] }[];
  /** StartsWith / anchored Matches: the field's text (or a list element's) starts with one of `prefixes`. */
  readonly fieldPrefix: readonly { readonly key: string; readonly prefixes: readonly string[] }[];
  /** Contains / EndsWith: the field's text (or a list element's) contains one of `substrings`. */
  readonly fieldContains?: readonly { readonly key: string; readonly substrings: readonly string[] }[];
  /** The `tags` criterion: the alert carries every tag of one group; null when absent. */
  readonly tagGroups: readonly (readonly string[])[] | null;
}

export interface CompiledMatcher extends Matcher {
  readonly indexHints: IndexHints;
  /** Bit `l` is set when an alert of priority level `l` (0 = unknown … 8) can match. */
  readonly priorityMask: number;
  /** Condition evaluation failures so far. */
  readonly conditionFailures: number;
}

export type CompileMatchResult = { ok: true; matcher: CompiledMatcher } | { ok: false; errors: SpecError[] };

export type PriorityComparator = '<' | '<=' | '=' | '>=' | '>';

/** Talon's priority syntax; case-insensitive level names are checked separately. */
export const PRIORITY_SYNTAX = /^(<=|>=|<|>|=)?([A-Za-z]+)$/;

export const ALL_PRIORITY_LEVELS = (1 << (PRIORITIES.length + 1)) - 1;

/** Parses `[<|>|=|<=|>=]Level` into the mask of alert levels (0…8) it admits. */
export function parsePriority(
  text: string,
): { ok: true; comparator: PriorityComparator; level: number; mask: number } | { ok: false; message: string } {
  const m = PRIORITY_SYNTAX.exec(text);
  const levels = PRIORITIES.join(', ');
  if (!m) return { ok: false, message: `${JSON.stringify(text)} is not [<|>|=|<=|>=]Level (levels: ${levels})` };
  const name = m[2] as string;
  const level = priorityLevel(name);
  if (level === 0) {
    const hint = name.toLowerCase() === 'info' ? ' ("Info" is not accepted: write "Informational")' : '';
    return { ok: false, message: `unknown priority ${JSON.stringify(name)}${hint}; expected one of ${levels}` };
  }
  const comparator = (m[1] ?? '=') as PriorityComparator;
  let mask = 0;
  for (let l = 0; l <= PRIORITIES.length; l++) if (comparePriority(comparator, l, level)) mask |= 1 << l;
  return { ok: true, comparator, level, mask };
}

function comparePriority(c: PriorityComparator, got: number, want: number): boolean {
  switch (c) {
    case '<':
      return got < want;
    case '<=':
      return got <= want;
    case '>':
      return got > want;
    case '>=':
      return got >= want;
    default:
      return got === want;
  }
}

const list = (xs: readonly unknown[]): string => JSON.stringify(xs);

function stringList(value: unknown, path: string, errors: SpecError[]): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    errors.push({ path, message: 'must be a list of strings' });
    return undefined;
  }
  let ok = true;
  value.forEach((v, i) => {
    if (typeof v !== 'string' || v === '') {
      errors.push({ path: `${path}[${i}]`, message: 'must be a non-empty string' });
      ok = false;
    }
  });
  return ok && value.length > 0 ? (value as string[]) : undefined;
}

function hasAllTagsOfAGroup(tags: readonly string[], groups: readonly (readonly string[])[]): boolean {
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g] as readonly string[];
    let all = true;
    for (let i = 0; i < group.length; i++) {
      if (!tags.includes(group[i] as string)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

interface Criteria {
  readonly priority: string | null;
  readonly priorityMask: number;
  readonly ruleNames: readonly string[] | null;
  readonly sources: readonly string[] | null;
  readonly tags: readonly (readonly string[])[] | null;
  readonly fields: readonly FieldPredicate[];
  readonly condition: ConditionProgram | null;
}

/** One class for every matcher, criteria inline: the index's call site stays monomorphic. */
class CompiledMatch implements CompiledMatcher {
  readonly ruleNames: readonly string[] | null;
  readonly sources: readonly string[] | null;
  readonly priorityMask: number;
  readonly indexHints: IndexHints;
  #conditionFailures = 0;
  readonly #priority: string | null;
  readonly #names: ReadonlySet<string> | null;
  readonly #sources: ReadonlySet<string> | null;
  readonly #tags: readonly (readonly string[])[] | null;
  readonly #fields: readonly FieldPredicate[];
  readonly #condition: ConditionProgram | null;
  readonly #onFailure: CompileMatchOptions['onConditionFailure'];

  constructor(c: Criteria, onFailure: CompileMatchOptions['onConditionFailure']) {
    this.ruleNames = c.ruleNames;
    this.sources = c.sources;
    this.priorityMask = c.priorityMask;
    this.indexHints = Object.freeze({
      fieldIn: Object.freeze(
        c.fields.filter((p) => p.operator === 'In').map((p) => Object.freeze({ key: p.key, values: p.values })),
      ),
      fieldPrefix: Object.freeze(
        c.fields.flatMap((p) => {
          const prefixes = p.requiredPrefixes;
          return prefixes === null ? [] : [Object.freeze({ key: p.key, prefixes })];
        }),
      ),
      fieldContains: Object.freeze(
        c.fields.flatMap((p) => {
          const substrings = p.requiredSubstrings;
          return substrings === null ? [] : [Object.freeze({ key: p.key, substrings })];
        }),
      ),
      tagGroups: c.tags,
    });
    this.#priority = c.priority;
    this.#names = c.ruleNames === null ? null : new Set(c.ruleNames);
    this.#sources = c.sources === null ? null : new Set(c.sources);
    this.#tags = c.tags;
    this.#fields = c.fields;
    this.#condition = c.condition;
    this.#onFailure = onFailure;
  }

  get conditionFailures(): number {
    return this.#conditionFailures;
  }

  test(ev: FalcoEvent): boolean {
    if ((this.priorityMask & (1 << ev.priorityLevel)) === 0) return false;
    if (this.#names !== null && !this.#names.has(ev.rule)) return false;
    if (this.#sources !== null && !this.#sources.has(ev.source)) return false;
    if (this.#tags !== null && !hasAllTagsOfAGroup(ev.tags, this.#tags)) return false;
    const fields = this.#fields;
    if (fields.length > 0) {
      const values = ev.outputFields;
      for (let i = 0; i < fields.length; i++) if (!(fields[i] as FieldPredicate).test(values)) return false;
    }
    return this.#condition === null || this.#runCondition(this.#condition, ev);
  }

  #runCondition(condition: ConditionProgram, ev: FalcoEvent): boolean {
    let result: unknown;
    try {
      result = condition.evaluate(ev);
    } catch (err) {
      const kind = err instanceof CostLimitError ? 'cost' : 'error';
      this.#fail(kind, err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err), ev);
      return false;
    }
    if (typeof result === 'boolean') return result;
    this.#fail('non-bool', `condition returned ${describeCel(result)}, not a bool`, ev);
    return false;
  }

  #fail(kind: ConditionFailure['kind'], message: string, ev: FalcoEvent): void {
    this.#conditionFailures++;
    this.#onFailure?.({ kind, message, count: this.#conditionFailures }, ev);
  }

  /** The same checks as `test`, in the same order, with the first failure described. */
  explain(ev: FalcoEvent): MatchExplanation {
    const fail = (failed: string, reason: string): MatchExplanation => ({ matched: false, failed, reason });
    if ((this.priorityMask & (1 << ev.priorityLevel)) === 0) {
      return fail(
        'priority',
        `expected priority ${this.#priority ?? ''}, got ${JSON.stringify(ev.priority)} (level ${ev.priorityLevel})`,
      );
    }
    if (this.#names !== null && !this.#names.has(ev.rule)) {
      return fail(
        'rules',
        `expected the Falco rule to be one of ${list(this.ruleNames ?? [])}, got ${JSON.stringify(ev.rule)}`,
      );
    }
    if (this.#sources !== null && !this.#sources.has(ev.source)) {
      return fail(
        'sources',
        `expected the source to be one of ${list(this.sources ?? [])}, got ${JSON.stringify(ev.source)}`,
      );
    }
    if (this.#tags !== null && !hasAllTagsOfAGroup(ev.tags, this.#tags)) {
      return fail('tags', `expected the tags to include all of one group of ${list(this.#tags)}, got ${list(ev.tags)}`);
    }
    for (const p of this.#fields) {
      if (!p.test(ev.outputFields))
        return fail(`outputFields[${p.index}]`, `expected ${p.text}, got ${showValue(p.valueIn(ev.outputFields))}`);
    }
    if (this.#condition !== null) {
      let result: unknown;
      try {
        result = this.#condition.evaluate(ev);
      } catch (err) {
        const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
        return fail('condition', `the condition failed to evaluate: ${message}`);
      }
      if (result === false)
        return fail(
          'condition',
          `expected the condition ${JSON.stringify(this.#condition.source)} to be true, got false`,
        );
      if (result !== true) return fail('condition', `the condition returned ${describeCel(result)}, not a bool`);
    }
    return { matched: true };
  }
}

function describeCel(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return `int ${v}`;
  if (typeof v === 'number') return `double ${v}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v)}`;
  return Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : typeof v;
}

/**
 * Compiles a `match` block. Errors name their path under `basePath`
 * (e.g. "spec.match.outputFields[1].values"); all problems are reported, not just the first.
 */
export function compileMatch(
  spec: MatchSpec | undefined,
  basePath = 'spec.match',
  options: CompileMatchOptions = {},
): CompileMatchResult {
  const errors: SpecError[] = [];
  if (spec !== undefined && (typeof spec !== 'object' || spec === null || Array.isArray(spec))) {
    return { ok: false, errors: [{ path: basePath, message: 'must be an object' }] };
  }
  const s = (spec ?? {}) as Record<string, unknown>;

  let priority: string | null = null;
  let priorityMask = ALL_PRIORITY_LEVELS;
  if (s.priority !== undefined && s.priority !== null && s.priority !== '') {
    if (typeof s.priority !== 'string') {
      errors.push({ path: `${basePath}.priority`, message: 'must be a string like ">=Warning"' });
    } else {
      const p = parsePriority(s.priority);
      if (!p.ok) errors.push({ path: `${basePath}.priority`, message: p.message });
      else {
        priority = s.priority;
        priorityMask = p.mask;
      }
    }
  }

  const rules = stringList(s.rules, `${basePath}.rules`, errors);
  const sources = stringList(s.sources, `${basePath}.sources`, errors);

  let tags: (readonly string[])[] | null = null;
  if (s.tags !== undefined && s.tags !== null) {
    if (!Array.isArray(s.tags)) {
      errors.push({ path: `${basePath}.tags`, message: 'must be a list of tag groups (lists of strings)' });
    } else if (s.tags.length > 0) {
      tags = s.tags.map((g, i) => {
        const path = `${basePath}.tags[${i}]`;
        const group = stringList(g, path, errors);
        if (Array.isArray(g) && g.length === 0) errors.push({ path, message: 'a tag group needs at least one tag' });
        return Object.freeze([...(group ?? [])]);
      });
    }
  }

  let fields: FieldPredicate[] = [];
  if (s.outputFields !== undefined && s.outputFields !== null) {
    if (!Array.isArray(s.outputFields)) {
      errors.push({ path: `${basePath}.outputFields`, message: 'must be a list of {key, operator, values}' });
    } else {
      fields = s.outputFields
        .map((e, i) => compileFieldExpr(e, i, `${basePath}.outputFields[${i}]`, errors))
        .filter((p): p is FieldPredicate => p !== undefined)
        .sort((a, b) => a.cost - b.cost || a.index - b.index);
    }
  }

  let condition: ConditionProgram | null = null;
  if (s.condition !== undefined && s.condition !== null) {
    const path = `${basePath}.condition`;
    if (typeof s.condition !== 'string') errors.push({ path, message: 'must be a CEL expression (string)' });
    else {
      const compiled = (options.conditions ?? new ConditionEnvironment()).compile(s.condition);
      if (compiled.ok) condition = compiled.program;
      else errors.push({ path, message: compiled.message });
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  const matcher = new CompiledMatch(
    {
      priority,
      priorityMask,
      ruleNames: rules ? Object.freeze([...rules]) : null,
      sources: sources ? Object.freeze([...sources]) : null,
      tags: tags ? Object.freeze(tags) : null,
      fields: Object.freeze(fields),
      condition,
    },
    options.onConditionFailure,
  );
  return { ok: true, matcher };
}
