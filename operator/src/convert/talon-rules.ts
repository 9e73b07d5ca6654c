/**
 * Falco Talon rules files as Talon reads them (talon-compat §3): the `- action:` and `- rule:`
 * blocks, their keys, and the multi-file merge of §3.6. Everything Talon would silently ignore
 * (an unknown key, a misspelt section) is reported as a warning and dropped instead of being
 * carried along; everything Talon would refuse to load (`rules check` fails) is an error.
 */
import { parseAllDocuments } from 'yaml';

/** A parameter map as Talon decodes it: scalars, lists and maps. */
export type TalonParams = Record<string, unknown>;

export interface TalonOutput {
  target?: string;
  parameters?: TalonParams;
}

/** The fields an action may set, in a `- action:` block or in a rule's `actions` entry. */
export interface TalonActionFields {
  description?: string;
  actionner?: string;
  parameters?: TalonParams;
  output?: TalonOutput;
  continue?: boolean;
  ignoreErrors?: boolean;
  additionalContexts?: string[];
}

export interface TalonAction extends TalonActionFields {
  /** The `action:` name. */
  name: string;
  /** Where it was first defined, for messages: `file: action 'name'`. */
  where: string;
}

export interface TalonMatch {
  rules: string[];
  priority?: string;
  source?: string;
  tags: string[];
  outputFields: string[];
}

export interface TalonRule {
  name: string;
  where: string;
  description?: string;
  match: TalonMatch;
  actions: TalonAction[];
  notifiers: string[];
  continue?: boolean;
  dryRun?: boolean;
}

/** The merged content of one or more rules files, in Talon's evaluation (file, then merge) order. */
export interface TalonRuleSet {
  actions: TalonAction[];
  rules: TalonRule[];
}

/** Problems found while reading: `errors` make Talon refuse the files, `warnings` are what it would silently ignore. */
export interface Diagnostics {
  errors: string[];
  warnings: string[];
}

const ACTION_KEYS = ['action', 'description', 'actionner', 'parameters', 'output', 'continue', 'ignore_errors', 'additional_contexts'] as const;
const RULE_KEYS = ['rule', 'description', 'match', 'actions', 'notifiers', 'continue', 'dry_run'] as const;
const MATCH_KEYS = ['rules', 'priority', 'source', 'tags', 'output_fields'] as const;
const OUTPUT_KEYS = ['target', 'parameters'] as const;

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Warns about and drops every key of `obj` not in `known`. */
function knownKeys(obj: Record<string, unknown>, known: readonly string[], where: string, d: Diagnostics): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) d.warnings.push(`${where}: unknown key '${key}' (Talon ignores it): dropped`);
  }
}

/** A scalar as Talon's string fields hold it (YAML `true` and `"true"` alike). */
function text(v: unknown, where: string, key: string, d: Diagnostics): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  d.errors.push(`${where}: '${key}' must be a string`);
  return undefined;
}

/** Talon's string-encoded booleans: "true" or "false"; anything else fails `rules check`. */
function flag(v: unknown, where: string, key: string, d: Diagnostics): boolean | undefined {
  const t = text(v, where, key, d);
  if (t === undefined || t === '') return undefined;
  if (t === 'true') return true;
  if (t === 'false') return false;
  d.errors.push(`${where}: '${key}' must be "true" or "false", got ${JSON.stringify(t)}`);
  return undefined;
}

function strings(v: unknown, where: string, key: string, d: Diagnostics): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    d.errors.push(`${where}: '${key}' must be a list`);
    return [];
  }
  const out: string[] = [];
  for (const item of v) {
    const t = text(item, where, key, d);
    if (t !== undefined) out.push(t);
  }
  return out;
}

function params(v: unknown, where: string, key: string, d: Diagnostics): TalonParams | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isMap(v)) {
    d.errors.push(`${where}: '${key}' must be a map`);
    return undefined;
  }
  return v;
}

function readActionFields(block: Record<string, unknown>, where: string, d: Diagnostics): TalonActionFields {
  const out: TalonActionFields = {};
  const description = text(block.description, where, 'description', d);
  if (description !== undefined) out.description = description;
  const actionner = text(block.actionner, where, 'actionner', d);
  if (actionner !== undefined && actionner !== '') out.actionner = actionner;
  const p = params(block.parameters, where, 'parameters', d);
  if (p !== undefined) out.parameters = p;
  if (block.output !== undefined && block.output !== null) {
    if (!isMap(block.output)) d.errors.push(`${where}: 'output' must be a map`);
    else {
      knownKeys(block.output, OUTPUT_KEYS, `${where} output`, d);
      const output: TalonOutput = {};
      const target = text(block.output.target, where, 'output.target', d);
      if (target !== undefined && target !== '') output.target = target;
      const op = params(block.output.parameters, where, 'output.parameters', d);
      if (op !== undefined) output.parameters = op;
      if (output.target !== undefined && Object.keys(output.parameters ?? {}).length === 0) {
        d.errors.push(`${where}: output '${output.target}' needs parameters (Talon refuses an output without them)`);
      }
      out.output = output;
    }
  }
  const cont = flag(block.continue, where, 'continue', d);
  if (cont !== undefined) out.continue = cont;
  const ignore = flag(block.ignore_errors, where, 'ignore_errors', d);
  if (ignore !== undefined) out.ignoreErrors = ignore;
  const contexts = strings(block.additional_contexts, where, 'additional_contexts', d);
  if (block.additional_contexts !== undefined) out.additionalContexts = contexts;
  return out;
}

function readAction(block: Record<string, unknown>, file: string, d: Diagnostics): TalonAction | undefined {
  const name = text(block.action, file, 'action', d);
  const where = `${file}: action '${name ?? ''}'`;
  knownKeys(block, ACTION_KEYS, where, d);
  if (name === undefined || name === '') {
    d.errors.push(`${file}: an action block has an empty name`);
    return undefined;
  }
  return { name, where, ...readActionFields(block, where, d) };
}

function readRule(block: Record<string, unknown>, file: string, d: Diagnostics): TalonRule | undefined {
  const name = text(block.rule, file, 'rule', d);
  const where = `${file}: rule '${name ?? ''}'`;
  knownKeys(block, RULE_KEYS, where, d);
  if (name === undefined || name === '') {
    d.errors.push(`${file}: a rule has an empty name`);
    return undefined;
  }
  const match: TalonMatch = { rules: [], tags: [], outputFields: [] };
  if (block.match !== undefined && block.match !== null) {
    if (!isMap(block.match)) d.errors.push(`${where}: 'match' must be a map`);
    else {
      knownKeys(block.match, MATCH_KEYS, `${where} match`, d);
      match.rules = strings(block.match.rules, where, 'match.rules', d);
      const priority = text(block.match.priority, where, 'match.priority', d);
      if (priority !== undefined && priority !== '') match.priority = priority;
      const source = text(block.match.source, where, 'match.source', d);
      if (source !== undefined && source !== '') match.source = source;
      match.tags = strings(block.match.tags, where, 'match.tags', d);
      match.outputFields = strings(block.match.output_fields, where, 'match.output_fields', d);
    }
  }
  const actions: TalonAction[] = [];
  if (!Array.isArray(block.actions)) d.errors.push(`${where}: 'actions' must be a list of at least one action`);
  else {
    block.actions.forEach((entry, i) => {
      const at = `${where} actions[${i}]`;
      if (!isMap(entry)) return void d.errors.push(`${at}: must be a map with 'action'`);
      knownKeys(entry, ACTION_KEYS, at, d);
      const actionName = text(entry.action, at, 'action', d);
      if (actionName === undefined || actionName === '') return void d.errors.push(`${at}: 'action' (its name) is required`);
      actions.push({ name: actionName, where: `${where} action '${actionName}'`, ...readActionFields(entry, `${where} action '${actionName}'`, d) });
    });
  }
  const rule: TalonRule = { name, where, match, actions, notifiers: strings(block.notifiers, where, 'notifiers', d) };
  const description = text(block.description, where, 'description', d);
  if (description !== undefined) rule.description = description;
  const cont = flag(block.continue, where, 'continue', d);
  if (cont !== undefined) rule.continue = cont;
  const dryRun = flag(block.dry_run, where, 'dry_run', d);
  if (dryRun !== undefined) rule.dryRun = dryRun;
  return rule;
}

/** The blocks of one file, in file order. */
export function readTalonFile(file: string, content: string, d: Diagnostics): TalonRuleSet {
  const out: TalonRuleSet = { actions: [], rules: [] };
  const docs = parseAllDocuments(content);
  const items: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      d.errors.push(`${file}: not YAML: ${doc.errors[0]!.message}`);
      return out;
    }
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) continue;
    if (!Array.isArray(v)) {
      d.errors.push(`${file}: a Talon rules file is a YAML list of '- action:' and '- rule:' blocks`);
      return out;
    }
    items.push(...v);
  }
  items.forEach((item, i) => {
    if (!isMap(item)) return void d.errors.push(`${file}: item ${i + 1} is not a map`);
    if ('rule' in item && 'action' in item) return void d.errors.push(`${file}: item ${i + 1} has both 'rule' and 'action'`);
    if ('rule' in item) {
      const r = readRule(item, file, d);
      if (r) out.rules.push(r);
    } else if ('action' in item) {
      const a = readAction(item, file, d);
      if (a) out.actions.push(a);
    } else {
      d.warnings.push(`${file}: item ${i + 1} is neither '- action:' nor '- rule:' (Talon ignores it): dropped`);
    }
  });
  return out;
}

/**
 * Talon's parameter merge (§3.6): scalars replaced by the later value, lists appended, maps
 * merged key-wise (their values merged the same way).
 */
export function mergeParams(earlier: TalonParams | undefined, later: TalonParams | undefined): TalonParams | undefined {
  if (later === undefined) return earlier;
  if (earlier === undefined) return { ...later };
  const out: TalonParams = { ...earlier };
  for (const [k, v] of Object.entries(later)) out[k] = mergeValue(out[k], v);
  return out;
}

function mergeValue(earlier: unknown, later: unknown): unknown {
  if (Array.isArray(earlier) && Array.isArray(later)) return [...earlier, ...later];
  if (isMap(earlier) && isMap(later)) return mergeParams(earlier, later);
  return later;
}

/** Folds a later `- action:` block with the same name into the first (§3.6). */
function foldAction(first: TalonAction, later: TalonAction): void {
  if (later.actionner !== undefined) first.actionner = later.actionner;
  if (later.continue !== undefined) first.continue = later.continue;
  if (later.description !== undefined) first.description = later.description;
  if (later.ignoreErrors !== undefined) first.ignoreErrors = later.ignoreErrors;
  if (later.additionalContexts !== undefined) first.additionalContexts = [...(first.additionalContexts ?? []), ...later.additionalContexts];
  const merged = mergeParams(first.parameters, later.parameters);
  if (merged !== undefined) first.parameters = merged;
  if (later.output !== undefined) {
    const output: TalonOutput = { ...(first.output ?? {}) };
    // output.target is first-wins: a later file cannot change where artifacts go.
    if (output.target === undefined && later.output.target !== undefined) output.target = later.output.target;
    const op = mergeParams(output.parameters, later.output.parameters);
    if (op !== undefined) output.parameters = op;
    first.output = output;
  }
}

/** Folds a later `- rule:` block with the same name into the first (§3.6). */
function foldRule(first: TalonRule, later: TalonRule): void {
  if (later.continue !== undefined) first.continue = later.continue;
  if (later.dryRun !== undefined) first.dryRun = later.dryRun;
  if (later.description !== undefined) first.description = later.description;
  first.notifiers.push(...later.notifiers);
  first.match.outputFields.push(...later.match.outputFields);
  first.match.rules.push(...later.match.rules);
  first.match.tags.push(...later.match.tags);
  first.actions.push(...later.actions);
  // priority and source are replaced unconditionally: a later block without them clears them.
  if (later.match.priority !== undefined) first.match.priority = later.match.priority;
  else delete first.match.priority;
  if (later.match.source !== undefined) first.match.source = later.match.source;
  else delete first.match.source;
}

/**
 * The files read and merged in order, as Talon loads `-r a.yaml -r b.yaml`: a later block with
 * the name of an earlier one is folded into it and keeps the earlier one's place.
 */
export function mergeTalonFiles(files: readonly TalonRuleSet[], d: Diagnostics): TalonRuleSet {
  const out: TalonRuleSet = { actions: [], rules: [] };
  const actions = new Map<string, TalonAction>();
  const rules = new Map<string, TalonRule>();
  for (const f of files) {
    for (const a of f.actions) {
      const first = actions.get(a.name);
      if (first) foldAction(first, a);
      else {
        const copy = structuredClone(a);
        actions.set(a.name, copy);
        out.actions.push(copy);
      }
    }
    for (const r of f.rules) {
      const first = rules.get(r.name);
      if (first) {
        d.warnings.push(
          `${r.where}: merged into ${first.where} (Talon v0.3.0's merge loop skips rules near the end of the list and may keep both copies live; converted as one merged rule)`,
        );
        foldRule(first, r);
      } else {
        const copy = structuredClone(r);
        rules.set(r.name, copy);
        out.rules.push(copy);
      }
    }
  }
  return out;
}
