/**
 * The cost of a CEL condition, bounded twice as Kubernetes bounds its CEL admission rules:
 *
 * - at compile time, `estimateCost` gives an upper bound of the number of evaluation steps
 *   (one step = one expression node evaluated) from the expression's shape: a comprehension
 *   (`all`, `exists`, `exists_one`, `map`, `filter`) costs its range's size times its body, so
 *   nested loops multiply. List literals have their exact size; the alert's own collections
 *   are assumed at most ASSUMED_SIZES (what real Falco alerts carry, with a wide margin);
 *   a condition over COST_LIMIT is refused with the estimate in the message.
 * - at run time, `CostMeter` counts the steps actually taken and aborts the evaluation past
 *   the same limit (an alert with more tags or fields than assumed can exceed the estimate).
 *
 * One step takes ~80–180 ns in cel-js, so COST_LIMIT bounds one evaluation to ~20 ms: a
 * condition at the limit cannot hold the event loop long enough to starve `/healthz`.
 */
import type { ASTNode } from '@marcbachmann/cel-js';

/** Evaluation steps one condition may take: the compile-time estimate and the run-time count. */
export const COST_LIMIT = 100_000;

/** Sizes the estimate assumes for collections whose size only the alert knows. */
export const ASSUMED_SIZES = Object.freeze({
  /** `tags` elements. */
  tags: 64,
  /** `fields` entries (Falco's output fields). */
  fields: 256,
  /** Any other list or map of unknown size (a list-valued output field, a dyn value). */
  unknown: 64,
});

/**
 * Steps a comprehension takes per element beyond its body (cel-js evaluates the loop step and
 * the accumulator update as nodes of their own); calibrated against `CostMeter` in the tests.
 */
const LOOP_OVERHEAD = 3;
const COMPREHENSIONS: ReadonlySet<string> = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

/** A collection's size bound: elements, and the bound of each element when it is a collection. */
interface Size {
  readonly n: number;
  readonly elem?: Size;
}

const UNKNOWN: Size = { n: ASSUMED_SIZES.unknown, elem: { n: ASSUMED_SIZES.unknown } };
const VARIABLE_SIZES: Readonly<Record<string, Size>> = {
  tags: { n: ASSUMED_SIZES.tags },
  fields: { n: ASSUMED_SIZES.fields, elem: UNKNOWN },
};

/** True for a cel-js AST node (shared with match-cel.ts's walks). */
export function isNode(v: unknown): v is ASTNode {
  return typeof v === 'object' && v !== null && 'op' in v && 'range' in v;
}

/** The AST nodes among a node's arguments, nested lists flattened. */
export function childNodes(node: ASTNode): ASTNode[] {
  const out: ASTNode[] = [];
  const visit = (v: unknown): void => {
    if (isNode(v)) out.push(v);
    else if (Array.isArray(v)) for (const item of v) visit(item);
  };
  visit(node.args);
  return out;
}

/** A comprehension macro call: `receiver.name(var, body...)`. */
function comprehension(node: ASTNode): { receiver: ASTNode; variable: string; body: ASTNode[] } | undefined {
  if (node.op !== 'rcall') return undefined;
  const [name, receiver, args] = node.args as [string, ASTNode, ASTNode[]];
  if (!COMPREHENSIONS.has(name) || !Array.isArray(args) || args.length < 2) return undefined;
  const first = args[0];
  if (first?.op !== 'id' || typeof first.args !== 'string') return undefined;
  return { receiver, variable: first.args, body: args.slice(1) };
}

type Scope = ReadonlyMap<string, Size>;

function sizeOf(node: ASTNode, scope: Scope): Size {
  switch (node.op) {
    case 'list': {
      const items = node.args as ASTNode[];
      let elem: Size | undefined;
      for (const item of items) {
        const s = item.op === 'list' || item.op === 'map' ? sizeOf(item, scope) : undefined;
        if (s !== undefined && (elem === undefined || s.n > elem.n)) elem = s;
      }
      return elem === undefined ? { n: items.length } : { n: items.length, elem };
    }
    case 'map':
      return { n: (node.args as unknown[]).length, elem: UNKNOWN };
    case 'id': {
      const name = node.args as unknown as string;
      return scope.get(name) ?? VARIABLE_SIZES[name] ?? UNKNOWN;
    }
    case '[]':
    case '.':
      return sizeOf((node.args as ASTNode[])[0] as ASTNode, scope).elem ?? UNKNOWN;
    case '+': {
      const [l, r] = node.args as ASTNode[];
      const a = sizeOf(l as ASTNode, scope);
      const b = sizeOf(r as ASTNode, scope);
      return { n: a.n + b.n, elem: a.elem ?? b.elem ?? UNKNOWN };
    }
    default: {
      const c = comprehension(node);
      if (c !== undefined) {
        const range = sizeOf(c.receiver, scope);
        return { n: range.n, elem: UNKNOWN };
      }
      return UNKNOWN;
    }
  }
}

function costOf(node: ASTNode, scope: Scope): number {
  const c = comprehension(node);
  if (c !== undefined) {
    const range = sizeOf(c.receiver, scope);
    const inner = new Map(scope);
    inner.set(c.variable, range.elem ?? UNKNOWN);
    let body = 0;
    for (const b of c.body) body += costOf(b, inner);
    return 1 + costOf(c.receiver, scope) + range.n * (body + LOOP_OVERHEAD);
  }
  let cost = 1;
  for (const child of childNodes(node)) cost += costOf(child, scope);
  return cost;
}

/** An upper bound of the steps evaluating `ast` takes, under ASSUMED_SIZES for the alert's collections. */
export function estimateCost(ast: ASTNode): number {
  return costOf(ast, new Map());
}

/** Thrown (and recorded) when an evaluation exceeds its budget. */
export class CostLimitError extends Error {
  constructor(readonly limit: number) {
    super(`the condition exceeded its cost limit of ${limit} evaluation steps and was aborted`);
    this.name = 'CostLimitError';
  }
}

/**
 * Counts evaluation steps against a budget. `step()` is called for every node evaluated; past
 * the budget it marks the meter exceeded and throws. CEL absorbs errors in `&&`, `||` and the
 * quantifiers, so the throw alone may not end the evaluation: every later step throws again at
 * once (no further work is done below it) and the caller checks `exceeded` afterwards.
 */
export class CostMeter {
  #left = 0;
  #used = 0;
  #exceeded = false;

  constructor(readonly limit: number = COST_LIMIT) {}

  /** Starts a new evaluation with the full budget. */
  reset(): void {
    this.#left = this.limit;
    this.#used = 0;
    this.#exceeded = false;
  }

  /** Charges `n` steps; throws CostLimitError past the budget. */
  step(n = 1): void {
    this.#used += n;
    this.#left -= n;
    if (this.#left < 0) {
      this.#exceeded = true;
      throw new CostLimitError(this.limit);
    }
  }

  get exceeded(): boolean {
    return this.#exceeded;
  }

  /** Steps charged since the last reset. */
  get used(): number {
    return this.#used;
  }
}
