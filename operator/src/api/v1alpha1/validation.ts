/**
 * Offline validation of the specs of the four kinds (TalonRule, TalonAction, ClusterTalonRule,
 * ClusterTalonAction) with the same rules the apiserver applies
 * at admission: the JSON schema (ajv) and the CEL `x-kubernetes-validations` (cel-js), both read
 * from the schemas in `types.ts`. Also the error formatting shared with the actionner registry:
 * every error names the exact field (`spec.actions[1].parameters.gracePeriodSeconds`).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import { parse as parseCel } from '@marcbachmann/cel-js';
import type { TSchema } from '@sinclair/typebox';
import {
  CLUSTER_TALON_RULE_KIND,
  ClusterTalonRuleSpecSchema,
  TALON_RULE_KIND,
  TalonActionSpecSchema,
  TalonRuleSpecSchema,
  type CelValidation,
  type RuleKind,
} from './types.js';

/** One validation error: where (a dotted/bracketed path from the object root) and what. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** `path: message` for each error, joined by "; ", at most `max` shown. */
export function formatFieldErrors(errors: readonly FieldError[], max = 5): string {
  const shown = errors.slice(0, max).map((e) => `${e.path}: ${e.message}`);
  if (errors.length > max) shown.push(`(and ${errors.length - max} more)`);
  return shown.join('; ');
}

/** An ajv instance configured for our schemas: all errors, verbose (for hints), formats, CRD keywords tolerated. */
export function createAjv(opts: { useDefaults?: boolean } = {}): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    strict: false,
    useDefaults: opts.useDefaults ?? false,
  });
  ajvFormats.default(ajv);
  return ajv;
}

/** Appends one object key or array index to a path: `a.b`, `a[1]`, `a["talon.dev/x"]`. */
export function joinPath(base: string, segment: string | number): string {
  if (typeof segment === 'number') return `${base}[${segment}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment)) return base === '' ? segment : `${base}.${segment}`;
  return `${base}[${JSON.stringify(segment)}]`;
}

function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

function pointerToPath(base: string, pointer: string): string {
  return pointerSegments(pointer).reduce<string>((p, s) => joinPath(p, s), base);
}

/**
 * The candidate the user most likely meant by `word`: an exact match ignoring case, `_` and `-`
 * (so `grace_period_seconds` → `gracePeriodSeconds`), else the closest by edit distance within
 * a third of the word's length. Undefined when nothing is close.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const exact = candidates.find((c) => norm(c) === norm(word));
  if (exact !== undefined) return exact;
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * The closest of `names` (all `category:name`) to an unknown `name`: within the same category
 * when the category exists (so `kubernetes:lable` → `kubernetes:label`), else by the whole
 * name (`kubernets:label` → `kubernetes:label`).
 */
export function suggestQualified(name: string, names: readonly string[]): string | undefined {
  const colon = name.indexOf(':');
  const category = colon === -1 ? undefined : name.slice(0, colon + 1);
  const sameCategory = category ? names.filter((n) => n.startsWith(category)) : [];
  if (category && sameCategory.length > 0) {
    const s = suggest(name.slice(category.length), sameCategory.map((n) => n.slice(category.length)));
    return s === undefined ? undefined : category + s;
  }
  return suggest(name, names);
}

/** Edit distance counting insertions, deletions, substitutions and adjacent transpositions as 1. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const hint = (word: string, candidates: readonly string[]) => {
  const s = suggest(word, candidates);
  return s === undefined ? '' : ` (did you mean '${s}'?)`;
};

/**
 * How error messages name what is wrong. `field`: the path says it all ("must be boolean").
 * `parameter`: messages also name the parameter relative to the parameters object
 * ("parameter 'gracePeriodSeconds' must be >= 0"), so they read well after an action prefix.
 */
export type ErrorStyle = 'field' | 'parameter';

/** Turns ajv errors into FieldErrors rooted at `basePath`; unknown keys get a "did you mean" hint. */
export function schemaErrors(
  errors: readonly ErrorObject[] | null | undefined,
  basePath: string,
  style: ErrorStyle,
): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  const push = (path: string, message: string) => {
    const k = `${path}\0${message}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push({ path, message });
    }
  };
  const rel = (pointer: string) => pointerToPath('', pointer);
  for (const e of errors ?? []) {
    if (e.propertyName !== undefined) continue;
    const path = pointerToPath(basePath, e.instancePath);
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(e.params.additionalProperty);
        const props = Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
        const name = style === 'parameter' ? joinPath(rel(e.instancePath), key) : key;
        push(joinPath(path, key), `unknown ${style} '${name}'${hint(key, props)}`);
        break;
      }
      case 'required': {
        const key = String(e.params.missingProperty);
        const name = style === 'parameter' ? joinPath(rel(e.instancePath), key) : key;
        push(path, `missing required ${style} '${name}'`);
        break;
      }
      default: {
        let message: string;
        if (e.keyword === 'enum') {
          message = `must be one of: ${(e.params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}`;
        } else if (e.keyword === 'propertyNames') {
          message = `has an invalid key '${String(e.params.propertyName)}'`;
        } else {
          message = e.message ?? `failed ${e.keyword}`;
        }
        if (style === 'parameter') {
          const r = rel(e.instancePath);
          message = r === '' ? `parameters ${message}` : `parameter '${r}' ${message}`;
        }
        push(path, message);
      }
    }
  }
  return out;
}

type CelProgram = (ctx: Record<string, unknown>) => unknown;

/** The CEL rules of a schema, arranged like the schema so they can be walked with the data. */
interface CelNode {
  readonly rules: readonly { readonly program: CelProgram; readonly message: string; readonly rule: string }[];
  readonly properties: ReadonlyMap<string, CelNode>;
  readonly items?: CelNode;
  /** The schema's node is an object: like the apiserver, its rules are not evaluated on a value of another type (the schema error says it). */
  readonly object: boolean;
}

function compileCelTree(schema: TSchema): CelNode | undefined {
  const declared = (schema['x-kubernetes-validations'] as CelValidation[] | undefined) ?? [];
  const rules = declared.map((v) => ({ program: parseCel(v.rule) as CelProgram, message: v.message, rule: v.rule }));
  const properties = new Map<string, CelNode>();
  for (const [k, s] of Object.entries((schema.properties as Record<string, TSchema> | undefined) ?? {})) {
    const n = compileCelTree(s);
    if (n) properties.set(k, n);
  }
  const items = schema.items ? compileCelTree(schema.items as TSchema) : undefined;
  if (rules.length === 0 && properties.size === 0 && !items) return undefined;
  return { rules, properties, ...(items ? { items } : {}), object: schema.type === 'object' };
}

function evaluateCel(node: CelNode, data: unknown, path: string, out: FieldError[], tolerateErrors: boolean): void {
  if (data === undefined || data === null) return;
  if (node.object && (typeof data !== 'object' || Array.isArray(data))) return;
  for (const r of node.rules) {
    let passed: unknown;
    try {
      passed = r.program({ self: data });
    } catch (err) {
      if (!tolerateErrors) out.push({ path, message: `rule ${r.rule} could not be evaluated: ${(err as Error).message}` });
      continue;
    }
    if (passed !== true) out.push({ path, message: r.message });
  }
  if (Array.isArray(data)) {
    if (node.items) data.forEach((d, i) => evaluateCel(node.items!, d, joinPath(path, i), out, tolerateErrors));
  } else if (typeof data === 'object') {
    for (const [k, n] of node.properties) {
      evaluateCel(n, (data as Record<string, unknown>)[k], joinPath(path, k), out, tolerateErrors);
    }
  }
}

/** A compiled validator for one schema: ajv plus its CEL rules. */
export class SchemaValidator {
  private readonly check: ValidateFunction;
  private readonly cel: CelNode | undefined;

  constructor(ajv: Ajv, schema: TSchema) {
    this.check = ajv.compile(schema);
    this.cel = compileCelTree(schema);
  }

  /** Errors for `value` rooted at `basePath`; empty when valid. Does not modify `value`. */
  validate(value: unknown, basePath: string): FieldError[] {
    const ok = this.check(value);
    const errors = ok ? [] : schemaErrors(this.check.errors, basePath, 'field');
    if (this.cel) evaluateCel(this.cel, value, basePath, errors, !ok);
    return errors;
  }
}

/** Validators for every kind's spec, compiled once per instance (the action kinds share one spec schema). */
export class SpecValidator {
  private readonly rule: SchemaValidator;
  private readonly clusterRule: SchemaValidator;
  private readonly action: SchemaValidator;

  constructor() {
    const ajv = createAjv();
    this.rule = new SchemaValidator(ajv, TalonRuleSpecSchema);
    this.clusterRule = new SchemaValidator(ajv, ClusterTalonRuleSpecSchema);
    this.action = new SchemaValidator(ajv, TalonActionSpecSchema);
  }

  validateRuleSpec(spec: unknown, basePath = 'spec', kind: RuleKind = TALON_RULE_KIND): FieldError[] {
    return (kind === CLUSTER_TALON_RULE_KIND ? this.clusterRule : this.rule).validate(spec, basePath);
  }

  validateActionSpec(spec: unknown, basePath = 'spec'): FieldError[] {
    return this.action.validate(spec, basePath);
  }
}

let shared: SpecValidator | undefined;
/** A lazily compiled, stateless SpecValidator (a cache of pure compiled schemas, not mutable state). */
function specValidator(): SpecValidator {
  shared ??= new SpecValidator();
  return shared;
}

/**
 * Errors of a TalonRule (or, with `kind`, a ClusterTalonRule) spec, as the apiserver would
 * reject it (schema + CEL); empty when valid.
 */
export function validateRuleSpec(spec: unknown, basePath = 'spec', kind: RuleKind = TALON_RULE_KIND): FieldError[] {
  return specValidator().validateRuleSpec(spec, basePath, kind);
}

/** Errors of a TalonAction or ClusterTalonAction spec (one schema), as the apiserver would reject it (schema + CEL); empty when valid. */
export function validateActionSpec(spec: unknown, basePath = 'spec'): FieldError[] {
  return specValidator().validateActionSpec(spec, basePath);
}
