/**
 * The `match.outputFields` operators: the one table that both the CRD's CEL validations
 * (generated in types.ts) and the compiler's checks (rules/match-fields.ts) are built from,
 * so the API server and `talon-operator check` accept and refuse exactly the same entries.
 * Semantics of each operator: rules/match.ts.
 */
export type Arity = 'none' | 'one' | 'many';

export interface OperatorSpec {
  /** How many values the operator takes: none, exactly one, or one or more. */
  readonly arity: Arity;
  /** What each value must be: free text, an RE2 regular expression, a decimal number. */
  readonly value: 'text' | 'regex' | 'decimal';
}

export const OPERATOR_TABLE = {
  In: { arity: 'many', value: 'text' },
  NotIn: { arity: 'many', value: 'text' },
  Exists: { arity: 'none', value: 'text' },
  DoesNotExist: { arity: 'none', value: 'text' },
  StartsWith: { arity: 'many', value: 'text' },
  EndsWith: { arity: 'many', value: 'text' },
  Contains: { arity: 'many', value: 'text' },
  Matches: { arity: 'one', value: 'regex' },
  Gt: { arity: 'one', value: 'decimal' },
  Lt: { arity: 'one', value: 'decimal' },
} as const satisfies Record<string, OperatorSpec>;

export type MatchOperator = keyof typeof OPERATOR_TABLE;
export const MATCH_OPERATORS = Object.keys(OPERATOR_TABLE) as readonly MatchOperator[];

export function operatorsOfArity(arity: Arity): MatchOperator[] {
  return MATCH_OPERATORS.filter((op) => OPERATOR_TABLE[op].arity === arity);
}

/** The sentence the API server and the compiler both give for a wrong number of values. */
export function arityMessage(arity: Arity, ops: readonly string[]): string {
  const list = ops.length === 1 ? `operator ${ops[0]}` : `operators ${ops.slice(0, -1).join(', ')} and ${ops[ops.length - 1]}`;
  switch (arity) {
    case 'none':
      return `values must be empty for ${list}`;
    case 'one':
      return `${list} take${ops.length === 1 ? 's' : ''} exactly one value`;
    case 'many':
      return `${list} need${ops.length === 1 ? 's' : ''} at least one value`;
  }
}

/** The arity error of one entry, or undefined when `count` values suit `op`. */
export function arityError(op: MatchOperator, count: number): string | undefined {
  const arity = OPERATOR_TABLE[op].arity;
  const ok = arity === 'none' ? count === 0 : arity === 'one' ? count === 1 : count >= 1;
  return ok ? undefined : `${arityMessage(arity, [op])}, got ${count}`;
}

/** CEL `x-kubernetes-validations` for an outputFields entry (`self.operator`, `self.values`), one per arity. */
export function arityCelRules(): { rule: string; message: string }[] {
  const quoted = (ops: readonly string[]) => `[${ops.map((o) => `'${o}'`).join(', ')}]`;
  const none = operatorsOfArity('none');
  const one = operatorsOfArity('one');
  const many = operatorsOfArity('many');
  return [
    { rule: `!(self.operator in ${quoted(none)}) || !has(self.values) || size(self.values) == 0`, message: arityMessage('none', none) },
    { rule: `!(self.operator in ${quoted(one)}) || (has(self.values) && size(self.values) == 1)`, message: arityMessage('one', one) },
    { rule: `!(self.operator in ${quoted(many)}) || (has(self.values) && size(self.values) > 0)`, message: arityMessage('many', many) },
  ];
}
