/**
 * Compiled `match.outputFields` expressions (semantics documented in match.ts).
 *
 * Each expression compiles once into a predicate over one field value. Predicates never
 * allocate for strings, booleans, null and In/NotIn on numbers; text operators on numbers
 * format the number (V8 caches small-number strings).
 */
import type { RE2JS } from 're2js';
import { compileBoundedRegex } from './regex-limits.js';
import { arityError, MATCH_OPERATORS, type MatchOperator } from '../api/v1alpha1/operators.js';
import type { FieldValue } from '../falco/event.js';

export const FIELD_OPERATORS = MATCH_OPERATORS;
export type FieldOperator = MatchOperator;

/** One `match.outputFields` entry (selector style, like Kubernetes label selectors). */
export interface OutputFieldExpr {
  key: string;
  operator: FieldOperator;
  values?: string[];
}

/** A spec problem; `path` names the offending field, e.g. "spec.match.outputFields[1].values". */
export interface SpecError {
  path: string;
  message: string;
}

type Scalar = string | number | bigint | boolean;

/** `fields[key]` as an own property; undefined when absent. */
export function ownField(fields: Readonly<Record<string, FieldValue>>, key: string): FieldValue | undefined {
  return Object.prototype.hasOwnProperty.call(fields, key) ? fields[key] : undefined;
}

/** Text of a scalar as the text operators see it: exact decimal for integers, JS text for other numbers. */
export function scalarText(v: Scalar): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) return BigInt(v).toString();
  return String(v);
}

/** An exact decimal bound for Gt/Lt: `floor` is exact, `approx` is the nearest double. */
interface Decimal {
  readonly floor: bigint;
  readonly isInteger: boolean;
  readonly approx: number;
  /** true when `approx` is exactly the decimal's value (integers that a double represents). */
  readonly exactDouble: boolean;
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;
const INTEGER = /^[+-]?\d+$/;

function parseDecimal(text: string): Decimal | undefined {
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  const negative = m[1] === '-';
  const whole = BigInt(m[2] as string);
  const fraction = m[3] ?? '';
  const isInteger = !/[1-9]/.test(fraction);
  const truncated = negative ? -whole : whole;
  const floor = negative && !isInteger ? truncated - 1n : truncated;
  const approx = Number(text);
  return { floor, isInteger, approx, exactDouble: isInteger && BigInt(approx) === floor };
}

/** Sign of (value − bound) for an integer value; exact. */
function compareBigint(value: bigint, bound: Decimal): number {
  if (value < bound.floor) return -1;
  if (value > bound.floor) return 1;
  return bound.isInteger ? 0 : -1;
}

/** Sign of (value − bound); NaN when the value is not a number (or numeric text). */
function compareNumeric(value: Scalar, bound: Decimal): number {
  if (typeof value === 'bigint') return compareBigint(value, bound);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return value > 0 ? 1 : value < 0 ? -1 : NaN;
    if (bound.exactDouble || !Number.isInteger(value)) return Math.sign(value - bound.approx);
    return compareBigint(BigInt(value), bound);
  }
  if (typeof value === 'string') {
    if (INTEGER.test(value)) return compareBigint(BigInt(value), bound);
    return DECIMAL.test(value) ? Math.sign(Number(value) - bound.approx) : NaN;
  }
  return NaN;
}

/** The values of In/NotIn as the sets each scalar type is looked up in (null when empty). */
interface ValueSets {
  readonly strings: ReadonlySet<string>;
  readonly numbers: ReadonlySet<number> | null;
  readonly bigints: ReadonlySet<bigint> | null;
}

function valueSets(values: readonly string[]): ValueSets {
  const numbers = new Set<number>();
  const bigints = new Set<bigint>();
  for (const v of values) {
    if (/^-?(0|[1-9]\d*)$/.test(v)) bigints.add(BigInt(v));
    const n = Number(v);
    if (Number.isFinite(n) && scalarText(n) === v) numbers.add(n);
  }
  return {
    strings: new Set(values),
    numbers: numbers.size > 0 ? numbers : null,
    bigints: bigints.size > 0 ? bigints : null,
  };
}

const NO_VALUES: ValueSets = { strings: new Set(), numbers: null, bigints: null };
const NO_BOUND: Decimal = { floor: 0n, isInteger: true, approx: 0, exactDouble: true };

const enum Op {
  Exists,
  DoesNotExist,
  In,
  NotIn,
  StartsWith,
  EndsWith,
  Contains,
  Matches,
  Gt,
  Lt,
}

const OPS: Readonly<Record<FieldOperator, Op>> = {
  Exists: Op.Exists,
  DoesNotExist: Op.DoesNotExist,
  In: Op.In,
  NotIn: Op.NotIn,
  StartsWith: Op.StartsWith,
  EndsWith: Op.EndsWith,
  Contains: Op.Contains,
  Matches: Op.Matches,
  Gt: Op.Gt,
  Lt: Op.Lt,
};

/** Cost class per operator: evaluation order within outputFields, cheapest first. */
const COST: Readonly<Record<FieldOperator, number>> = {
  Exists: 0,
  DoesNotExist: 0,
  In: 1,
  NotIn: 1,
  StartsWith: 2,
  EndsWith: 2,
  Contains: 2,
  Gt: 3,
  Lt: 3,
  Matches: 4,
};

/**
 * One compiled expression. A single class whose `test` switches on the operator keeps the
 * matcher's call sites monomorphic.
 */
export class FieldPredicate {
  readonly key: string;
  /** Index of the expression in the spec's `outputFields` list. */
  readonly index: number;
  /** Relative cost class, lower first; used to order evaluation. */
  readonly cost: number;
  /** The expression as text, e.g. `k8s.ns.name NotIn ["kube-system"]`. */
  readonly text: string;
  readonly operator: FieldOperator;
  readonly values: readonly string[];
  readonly #op: Op;
  /** Keys that name an Object.prototype member need an own-property check. */
  readonly #ownCheck: boolean;
  readonly #strings: ReadonlySet<string>;
  readonly #numbers: ReadonlySet<number> | null;
  readonly #bigints: ReadonlySet<bigint> | null;
  readonly #bound: Decimal;
  readonly #re: RE2JS | null;
  /** For Matches: a literal every match must start with ("" when unknown). */
  readonly #prefix: string;

  constructor(
    key: string,
    operator: FieldOperator,
    values: readonly string[],
    index: number,
    bound: Decimal,
    re: RE2JS | null,
  ) {
    this.key = key;
    this.index = index;
    this.cost = COST[operator];
    this.text = values.length === 0 ? `${key} ${operator}` : `${key} ${operator} ${JSON.stringify(values)}`;
    this.operator = operator;
    this.values = values;
    this.#op = OPS[operator];
    this.#ownCheck = key in Object.prototype;
    const sets = operator === 'In' || operator === 'NotIn' ? valueSets(values) : NO_VALUES;
    this.#strings = sets.strings;
    this.#numbers = sets.numbers;
    this.#bigints = sets.bigints;
    this.#bound = bound;
    this.#re = re;
    this.#prefix = operator === 'Matches' ? anchoredLiteralPrefix(values[0] as string) : '';
  }

  /**
   * Literals one of which the field's text (or a list element's) must start with for `test`
   * to hold; null when the expression implies none (for an index).
   */
  get requiredPrefixes(): readonly string[] | null {
    if (this.#op === Op.StartsWith) return this.values.includes('') ? null : this.values;
    if (this.#op === Op.Matches) return this.#prefix === '' ? null : [this.#prefix];
    return null;
  }

  /**
   * Literals one of which the field's text (or a list element's) must contain for `test` to
   * hold (Contains, EndsWith); null when the expression implies none (for an index).
   */
  get requiredSubstrings(): readonly string[] | null {
    if (this.#op !== Op.Contains && this.#op !== Op.EndsWith) return null;
    return this.values.includes('') ? null : this.values;
  }

  /** The field's value in `fields`; undefined when absent. */
  valueIn(fields: Readonly<Record<string, FieldValue>>): FieldValue | undefined {
    return this.#ownCheck ? ownField(fields, this.key) : fields[this.key];
  }

  test(fields: Readonly<Record<string, FieldValue>>): boolean {
    return this.testValue(this.valueIn(fields));
  }

  /** `value` undefined = absent. */
  testValue(value: FieldValue | undefined): boolean {
    switch (this.#op) {
      case Op.Exists:
        return value !== undefined && value !== null;
      case Op.DoesNotExist:
        return value === undefined || value === null;
      case Op.NotIn:
        return !this.#any(value);
      default:
        return this.#any(value);
    }
  }

  #any(value: FieldValue | undefined): boolean {
    if (value === undefined || value === null) return false;
    if (typeof value !== 'object') return this.#scalar(value);
    for (let i = 0; i < value.length; i++) if (this.#any(value[i])) return true;
    return false;
  }

  #scalar(v: Scalar): boolean {
    switch (this.#op) {
      case Op.In:
      case Op.NotIn:
        switch (typeof v) {
          case 'string':
            return this.#strings.has(v);
          case 'number':
            return this.#numbers !== null && this.#numbers.has(v);
          case 'bigint':
            return this.#bigints !== null && this.#bigints.has(v);
          default:
            return this.#strings.has(v ? 'true' : 'false');
        }
      case Op.StartsWith: {
        const text = scalarText(v);
        const values = this.values;
        for (let i = 0; i < values.length; i++) if (text.startsWith(values[i] as string)) return true;
        return false;
      }
      case Op.EndsWith: {
        const text = scalarText(v);
        const values = this.values;
        for (let i = 0; i < values.length; i++) if (text.endsWith(values[i] as string)) return true;
        return false;
      }
      case Op.Contains: {
        const text = scalarText(v);
        const values = this.values;
        for (let i = 0; i < values.length; i++) if (text.includes(values[i] as string)) return true;
        return false;
      }
      case Op.Matches: {
        const text = scalarText(v);
        return text.startsWith(this.#prefix) && (this.#re as RE2JS).test(text);
      }
      case Op.Gt:
        return compareNumeric(v, this.#bound) === 1;
      case Op.Lt:
        return compareNumeric(v, this.#bound) === -1;
      default:
        return false;
    }
  }
}

const REGEX_META = new Set('\\.+*?()|[]{}^$');
const QUANTIFIERS = new Set('*+?{');

/**
 * The literal text a match of RE2 `pattern` must start with, when the pattern is `^` then
 * literal characters (escaped punctuation counts as literal); "" when that cannot be told
 * simply (no `^`, any `|`, flags, classes). A quantified last code point is not included.
 */
export function anchoredLiteralPrefix(pattern: string): string {
  if (!pattern.startsWith('^') || pattern.includes('|')) return '';
  const literal: string[] = [];
  let i = 1;
  while (i < pattern.length) {
    const c = String.fromCodePoint(pattern.codePointAt(i) as number);
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined || !/[!-/:-@[-`{-~]/.test(next)) break;
      literal.push(next);
      i += 2;
    } else if (REGEX_META.has(c)) {
      break;
    } else {
      literal.push(c);
      i += c.length;
    }
  }
  if (i < pattern.length && QUANTIFIERS.has(pattern[i] as string)) literal.pop();
  return literal.join('');
}


/** Compiles one expression; on problems, pushes SpecErrors and returns undefined. */
export function compileFieldExpr(
  expr: unknown,
  index: number,
  path: string,
  errors: SpecError[],
): FieldPredicate | undefined {
  if (typeof expr !== 'object' || expr === null || Array.isArray(expr)) {
    errors.push({ path, message: 'must be an object with key, operator and values' });
    return undefined;
  }
  const { key, operator, values } = expr as Record<string, unknown>;
  const before = errors.length;
  if (typeof key !== 'string' || key === '')
    errors.push({ path: `${path}.key`, message: 'must be a non-empty field name' });
  if (typeof operator !== 'string' || !(FIELD_OPERATORS as readonly string[]).includes(operator)) {
    errors.push({
      path: `${path}.operator`,
      message: `unknown operator ${JSON.stringify(operator)} (expected one of ${FIELD_OPERATORS.join(', ')})`,
    });
  }
  if (values !== undefined && (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))) {
    errors.push({ path: `${path}.values`, message: 'must be a list of strings' });
  }
  if (errors.length > before) return undefined;

  const k = key as string;
  const op = operator as FieldOperator;
  const vals = Object.freeze([...((values ?? []) as string[])]);
  const vpath = `${path}.values`;
  const arity = arityError(op, vals.length);
  if (arity !== undefined) errors.push({ path: vpath, message: arity });
  if (errors.length > before) return undefined;

  let bound = NO_BOUND;
  let re: RE2JS | null = null;
  if (op === 'Gt' || op === 'Lt') {
    const parsed = parseDecimal(vals[0] as string);
    if (!parsed) {
      errors.push({
        path: `${vpath}[0]`,
        message: `${op} needs a decimal number like 42, -7 or 1.5, got ${JSON.stringify(vals[0])}`,
      });
      return undefined;
    }
    bound = parsed;
  } else if (op === 'Matches') {
    const compiled = compileBoundedRegex(vals[0] as string);
    if (!compiled.ok) {
      errors.push({ path: `${vpath}[0]`, message: `invalid RE2 regular expression: ${compiled.message}` });
      return undefined;
    }
    re = compiled.re;
  }
  return new FieldPredicate(k, op, vals, index, bound, re);
}

/** A field value as a short text for explanations. */
export function showValue(v: FieldValue | undefined): string {
  if (v === undefined) return 'no such field';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'object' && v !== null) return `[${v.map(showValue).join(', ')}]`;
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 197)}..."` : s;
}
