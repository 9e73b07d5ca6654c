/**
 * `match.condition`: CEL expressions over an alert, compiled once (semantics in match.ts).
 *
 * `matches()` in CEL normally runs a backtracking JavaScript RegExp, which an attacker who
 * controls an alert's text (a command line, a file name) could stall. Here every
 * `matches()` call is bound to re2js instead: linear time, RE2 syntax, literal patterns
 * checked at compile time, every pattern within the size caps of regex-limits.ts.
 *
 * Cost is bounded as cel-cost.ts describes: an estimate over COST_LIMIT is a compile error,
 * and every evaluation is metered and aborted (CostLimitError) past the same limit.
 */
import { Environment, type ASTNode, type ParseResult } from '@marcbachmann/cel-js';
import type { RE2JS } from 're2js';
import type { FalcoEvent } from '../falco/event.js';
import { COST_LIMIT, CostLimitError, CostMeter, childNodes as children, estimateCost } from './cel-cost.js';
import { compileBoundedRegex } from './regex-limits.js';

export { COST_LIMIT, CostLimitError } from './cel-cost.js';

/** The variables a condition sees, with their CEL types. */
export const CONDITION_VARIABLES: Readonly<Record<string, string>> = Object.freeze({
  rule: 'string',
  priority: 'string',
  priorityLevel: 'int',
  source: 'string',
  hostname: 'string',
  output: 'string',
  tags: 'list<string>',
  fields: 'map<string, dyn>',
});

/** A compiled condition. `evaluate` returns the raw CEL result or throws the evaluation error. */
export interface ConditionProgram {
  readonly source: string;
  evaluate(ev: FalcoEvent): unknown;
}

export type ConditionCompileResult = { ok: true; program: ConditionProgram } | { ok: false; message: string };

const RE2_MATCHES = 're2Matches';
/** Text characters a `matches()` call scans per evaluation step charged to the meter. */
const REGEX_CHARS_PER_STEP = 256;
const MAX_CACHED_PATTERNS = 256;
const LEVELS: readonly bigint[] = [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n];

interface Activation {
  rule: string;
  priority: string;
  priorityLevel: bigint;
  source: string;
  hostname: string;
  output: string;
  tags: readonly string[];
  fields: Readonly<Record<string, unknown>>;
}

const EMPTY_ACTIVATION: Readonly<Activation> = Object.freeze({
  rule: '',
  priority: '',
  priorityLevel: 0n,
  source: '',
  hostname: '',
  output: '',
  tags: Object.freeze([]),
  fields: Object.freeze({}),
});

/**
 * A CEL environment for conditions. Create one per compiler and share it between rules:
 * building an environment costs ~100 µs, compiling against a shared one does not repeat it.
 * It caches compiled regular expressions of dynamic `matches()` patterns (bounded).
 */
export class ConditionEnvironment {
  readonly #env: Environment;
  readonly #patterns = new Map<string, RE2JS>();
  readonly #meter: CostMeter;

  constructor(options: { readonly costLimit?: number } = {}) {
    this.#meter = new CostMeter(options.costLimit ?? COST_LIMIT);
    this.#meter.reset();
    const match = (text: string, pattern: string): boolean => {
      this.#meter.step(Math.ceil(text.length / REGEX_CHARS_PER_STEP));
      return this.#regex(pattern).test(text);
    };
    let env = new Environment({ enableOptionalTypes: true });
    for (const [name, type] of Object.entries(CONDITION_VARIABLES)) env = env.registerVariable(name, type);
    this.#env = env
      .registerFunction(`string.${RE2_MATCHES}(string): bool`, match)
      .registerFunction(`${RE2_MATCHES}(string, string): bool`, match);
    meterEvaluator(this.#env, this.#meter);
  }

  /** The evaluation steps one condition may take (compile-time estimate and run-time count). */
  get costLimit(): number {
    return this.#meter.limit;
  }

  #regex(pattern: string): RE2JS {
    let re = this.#patterns.get(pattern);
    if (re === undefined) {
      const compiled = compileBoundedRegex(pattern);
      if (!compiled.ok) throw new Error(`matches(): ${compiled.message}`);
      re = compiled.re;
      if (this.#patterns.size >= MAX_CACHED_PATTERNS) this.#patterns.clear();
      this.#patterns.set(pattern, re);
    }
    return re;
  }

  compile(source: string): ConditionCompileResult {
    if (typeof source !== 'string' || source.trim() === '')
      return { ok: false, message: 'must be a non-empty CEL expression' };
    let parsed: ParseResult;
    try {
      const original = this.#env.parse(source);
      const rewritten = bindMatchesToRe2(source, original.ast);
      if (!rewritten.ok) return rewritten;
      parsed = rewritten.source === source ? original : this.#env.parse(rewritten.source);
      if (callsMatches(parsed.ast)) return { ok: false, message: 'matches() could not be bound to RE2' };
    } catch (err) {
      return { ok: false, message: celMessage(err) };
    }
    const checked = parsed.check();
    if (!checked.valid) return { ok: false, message: celMessage(checked.error) };
    if (checked.type !== 'bool' && checked.type !== 'dyn') {
      return { ok: false, message: `must be a bool expression, but its type is ${checked.type}` };
    }
    const cost = estimateCost(parsed.ast);
    if (cost > this.#meter.limit) {
      return {
        ok: false,
        message: `estimated cost ${cost} exceeds the limit of ${this.#meter.limit} evaluation steps (nested all/exists/map/filter multiply by their lists' sizes; the alert's tags and fields count as up to 64 and 256)`,
      };
    }
    return { ok: true, program: program(source, parsed, this.#meter) };
  }
}

/**
 * Makes every node evaluation of `env` charge one step to `meter`. cel-js evaluates child
 * nodes through its evaluator's `run(ast, ctx)`; the evaluator is private, so it is captured
 * from the first argument of a root node's `evaluate` (the evaluator) during one boot
 * evaluation, and its `run` replaced. A cel-js that no longer works this way fails here, at
 * construction, rather than leaving conditions unmetered.
 */
function meterEvaluator(env: Environment, meter: CostMeter): void {
  const boot = env.parse('true');
  boot.check();
  type Evaluator = { run(ast: ASTNode, ctx: unknown): unknown };
  type Evaluable = { evaluate(ev: Evaluator, ast: unknown, ctx: unknown): unknown };
  const root = boot.ast as unknown as Evaluable;
  const original = Object.getPrototypeOf(root).evaluate as Evaluable['evaluate'];
  let evaluator: Evaluator | undefined;
  root.evaluate = function (this: Evaluable, ev, ast, ctx) {
    evaluator = ev;
    return original.call(this, ev, ast, ctx);
  };
  boot({});
  if (evaluator === undefined || typeof evaluator.run !== 'function') throw new Error('cannot meter CEL evaluation: cel-js internals changed');
  evaluator.run = function (this: Evaluator, ast: ASTNode, ctx: unknown): unknown {
    meter.step();
    return (ast as unknown as Evaluable).evaluate(this, ast, ctx);
  };
}

function program(source: string, run: ParseResult, meter: CostMeter): ConditionProgram {
  const activation: Activation = { ...EMPTY_ACTIVATION };
  return Object.freeze({
    source,
    evaluate(ev: FalcoEvent): unknown {
      activation.rule = ev.rule;
      activation.priority = ev.priority;
      activation.priorityLevel = LEVELS[ev.priorityLevel] ?? BigInt(ev.priorityLevel);
      activation.source = ev.source;
      activation.hostname = ev.hostname;
      activation.output = ev.output;
      activation.tags = ev.tags;
      activation.fields = ev.outputFields;
      meter.reset();
      let result: unknown;
      try {
        result = run(activation);
      } catch (err) {
        if (meter.exceeded) throw new CostLimitError(meter.limit);
        throw err;
      } finally {
        activation.output = '';
        activation.tags = EMPTY_ACTIVATION.tags;
        activation.fields = EMPTY_ACTIVATION.fields;
      }
      // CEL absorbs errors in && / || and quantifiers: a result after an exceeded budget is void.
      if (meter.exceeded) throw new CostLimitError(meter.limit);
      return result;
    },
  });
}

/** A CEL error's first line with our internal function name mapped back to `matches`. */
function celMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n')[0] ?? text).replaceAll(RE2_MATCHES, 'matches');
}


function callsMatches(node: ASTNode): boolean {
  if ((node.op === 'rcall' || node.op === 'call') && node.args[0] === 'matches') return true;
  return children(node).some(callsMatches);
}

/**
 * Renames every `matches` call to the re2js-backed function, by position in the source, and
 * compiles literal patterns so an invalid one is a compile error.
 */
function bindMatchesToRe2(source: string, ast: ASTNode): { ok: true; source: string } | { ok: false; message: string } {
  const renameAt: number[] = [];
  const patterns: unknown[] = [];
  const walk = (node: ASTNode): void => {
    if (node.op === 'rcall' && node.args[0] === 'matches') {
      const [, receiver, args] = node.args;
      const from = receiver.range.end;
      const to = args[0]?.range.start ?? node.range.end;
      const at = source.slice(from, to).indexOf('matches');
      if (at >= 0) renameAt.push(from + at);
      if (args[0]?.op === 'value') patterns.push(args[0].args);
    } else if (node.op === 'call' && node.args[0] === 'matches') {
      const at = source.indexOf('matches', node.range.start);
      if (at >= 0) renameAt.push(at);
      const pattern = node.args[1][1];
      if (pattern?.op === 'value') patterns.push(pattern.args);
    }
    for (const child of children(node)) walk(child);
  };
  walk(ast);
  for (const p of patterns) {
    if (typeof p !== 'string') continue;
    const compiled = compileBoundedRegex(p);
    if (!compiled.ok) {
      const shown = p.length > 80 ? `${JSON.stringify(p.slice(0, 80))}…` : JSON.stringify(p);
      return { ok: false, message: `invalid RE2 regular expression ${shown} in matches(): ${compiled.message}` };
    }
  }
  let out = source;
  for (const at of renameAt.sort((a, b) => b - a))
    out = `${out.slice(0, at)}${RE2_MATCHES}${out.slice(at + 'matches'.length)}`;
  return { ok: true, source: out };
}
