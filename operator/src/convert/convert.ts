/**
 * `talon-operator convert`: Falco Talon rules files → talon.dev manifests.
 *
 * The files are read and merged as Talon loads them (talon-rules.ts, talon-compat §3.6); each
 * `- action:` block becomes a ClusterTalonAction (TalonAction with a namespace), each
 * `- rule:` a ClusterTalonRule (TalonRule) whose `order` keeps Talon's evaluation order (file,
 * then merge order). A rule's action entry that names an action block becomes a reference,
 * with overrides when the entry changes parameters, `continue` or `ignore_errors` — computed so
 * that our override semantics (maps merged key-wise with the rule winning, lists replaced) give
 * exactly what Talon's reference resolution gives (lists appended, the block's map keys
 * winning) — or an inline action when the entry changes more than a reference may. The output
 * is deterministic: same files and options, same bytes.
 */
import { basename } from 'node:path';
import { stringify } from 'yaml';
import {
  API_VERSION,
  CLUSTER_TALON_ACTION_KIND,
  CLUSTER_TALON_RULE_KIND,
  TALON_ACTION_KIND,
  TALON_RULE_KIND,
  type RuleAction,
  type TalonActionSpec,
  type TalonRuleSpec,
} from '../api/v1alpha1/types.js';
import type { Actionner } from '../actionners/types.js';
import { mergeParameters } from '../rules/compiler.js';
import { convertAction, type ConvertOptions } from './talon-actionners.js';
import { convertMatch } from './talon-match.js';
import { mergeParams, mergeTalonFiles, readTalonFile, type Diagnostics, type TalonAction, type TalonParams } from './talon-rules.js';

export type { ConvertOptions } from './talon-actionners.js';

/** The annotation that keeps the Talon name of a converted rule or action. */
export const TALON_NAME_ANNOTATION = 'talon.dev/talon-name';

export interface ConvertInput {
  /** As given on the command line; named in messages and in the output's header. */
  readonly file: string;
  readonly content: string;
}

export interface ConvertRequest extends ConvertOptions {
  readonly files: readonly ConvertInput[];
  /** Namespaced TalonRule/TalonAction in this namespace; absent: the cluster kinds. */
  readonly namespace?: string;
  /** The actionners, by name (the registry's). */
  readonly actionner: (name: string) => Actionner | undefined;
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations: Record<string, string> };
  spec: TalonActionSpec | TalonRuleSpec;
}

export interface ConvertResult extends Diagnostics {
  readonly manifests: Manifest[];
  /** The manifests as multi-document YAML, with a header comment; '' when there are errors. */
  readonly yaml: string;
}

/** A Kubernetes name from a Talon name: lower case, runs of other characters turned into '-'. */
export function slug(name: string, fallback: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 57)
    .replace(/-+$/, '');
  return s === '' ? fallback : s;
}

/** Hands out distinct names: the slug, then slug-2, slug-3 … */
class Names {
  readonly #used = new Set<string>();
  take(name: string, fallback: string): string {
    const base = slug(name, fallback);
    let candidate = base;
    for (let i = 2; this.#used.has(candidate); i++) candidate = `${base}-${i}`;
    this.#used.add(candidate);
    return candidate;
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Talon's resolution of a rule's entry against the action block it names (§3.6): the entry's
 * scalars win, lists are the block's then the entry's, maps take the block's keys over the
 * entry's; the entry's output target wins.
 */
function resolveReference(base: TalonAction, entry: TalonAction): TalonAction {
  const params: TalonParams = { ...(base.parameters ?? {}) };
  for (const [k, v] of Object.entries(entry.parameters ?? {})) {
    const b = params[k];
    params[k] = Array.isArray(b) && Array.isArray(v) ? [...b, ...v] : isMap(b) && isMap(v) ? { ...v, ...b } : v;
  }
  const out: TalonAction = { ...base, name: entry.name, where: entry.where };
  if (Object.keys(params).length > 0) out.parameters = params;
  for (const key of ['actionner', 'description', 'continue', 'ignoreErrors'] as const) {
    if (entry[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = entry[key];
  }
  if (entry.output !== undefined) {
    const target = entry.output.target ?? base.output?.target;
    const op = mergeParams(base.output?.parameters, entry.output.parameters);
    out.output = { ...(target !== undefined ? { target } : {}), ...(op !== undefined ? { parameters: op } : {}) };
  }
  if (entry.additionalContexts !== undefined) out.additionalContexts = [...(base.additionalContexts ?? []), ...entry.additionalContexts];
  return out;
}

/** JSON with map keys sorted: equal values give equal text whatever their key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (isMap(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}

const same = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b);

/**
 * A reference to `baseName` with overrides that our semantics turn into `effective`, or
 * undefined when no reference can (an entry that changes the actionner, output, contexts or
 * description, or removes a parameter key).
 */
function referenceTo(baseName: string, base: TalonActionSpec, effective: TalonActionSpec, kind: string | undefined): RuleAction | undefined {
  for (const key of ['actionner', 'description', 'output', 'additionalContexts', 'timeoutSeconds'] as const) {
    if (!same(base[key], effective[key])) return undefined;
  }
  const ref: RuleAction = { action: baseName, ...(kind ? { kind: kind as RuleAction['kind'] } : {}) };
  const overrides: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(effective.parameters ?? {})) if (!same(base.parameters?.[k], v)) overrides[k] = v;
  if (Object.keys(overrides).length > 0) ref.parameters = overrides;
  if (!same(mergeParameters(base.parameters, ref.parameters), effective.parameters ?? {})) return undefined;
  for (const key of ['continue', 'ignoreErrors'] as const) {
    if (effective[key] === base[key]) continue;
    if (effective[key] === undefined) return undefined;
    ref[key] = effective[key];
  }
  return ref;
}

/** Converts the files; see the module comment. */
export function convertTalon(req: ConvertRequest): ConvertResult {
  const d: Diagnostics = { errors: [], warnings: [] };
  const sets = req.files.map((f) => readTalonFile(f.file, f.content, d));
  const merged = mergeTalonFiles(sets, d);
  const namespaced = req.namespace !== undefined;
  const actionKind = namespaced ? TALON_ACTION_KIND : CLUSTER_TALON_ACTION_KIND;
  const ruleKind = namespaced ? TALON_RULE_KIND : CLUSTER_TALON_RULE_KIND;
  const metadata = (name: string, talonName: string) => ({
    name,
    ...(namespaced ? { namespace: req.namespace } : {}),
    annotations: { [TALON_NAME_ANNOTATION]: talonName },
  });

  const manifests: Manifest[] = [];
  const actionNames = new Names();
  const blocks = new Map<string, { name: string; spec: TalonActionSpec | undefined; talon: TalonAction }>();
  for (const a of merged.actions) {
    const spec = convertAction(a, req.actionner, req, d);
    const name = actionNames.take(a.name, 'action');
    blocks.set(a.name, { name, spec, talon: a });
    if (spec) manifests.push({ apiVersion: API_VERSION, kind: actionKind, metadata: metadata(name, a.name), spec });
  }

  const ruleNames = new Names();
  merged.rules.forEach((r, i) => {
    const inlineNames = new Names();
    const actions: RuleAction[] = [];
    for (const entry of r.actions) {
      const block = blocks.get(entry.name);
      const talon = block ? resolveReference(block.talon, entry) : entry;
      const effective = convertAction(talon, req.actionner, req, d);
      if (!effective) continue;
      const ref = block?.spec ? referenceTo(block.name, block.spec, effective, undefined) : undefined;
      actions.push(ref ?? { name: inlineNames.take(entry.name, 'action'), ...effective });
    }
    const spec: TalonRuleSpec = { actions } as TalonRuleSpec;
    const ordered: Record<string, unknown> = {};
    if (r.description !== undefined && r.description.trim() !== '') ordered.description = r.description.trim();
    ordered.order = (i + 1) * 10;
    if (r.continue !== undefined) ordered.continue = r.continue;
    if (r.dryRun !== undefined) ordered.dryRun = r.dryRun;
    const match = convertMatch(r.match, r.where, d);
    if (Object.keys(match).length > 0) ordered.match = match;
    ordered.actions = spec.actions;
    if (r.notifiers.length > 0) {
      ordered.notifiers = [...new Set(r.notifiers)];
      d.warnings.push(`${r.where}: notifiers ${JSON.stringify(ordered.notifiers)} must be notifier instances of the operator config (notifiers.<name>)`);
    }
    manifests.push({ apiVersion: API_VERSION, kind: ruleKind, metadata: metadata(ruleNames.take(r.name, 'rule'), r.name), spec: ordered as TalonRuleSpec });
  });

  const header = `# Converted from Falco Talon rules by talon-operator convert: ${req.files.map((f) => basename(f.file)).join(', ')}\n`;
  const yaml = d.errors.length > 0 ? '' : header + manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
  return { manifests, yaml, errors: [...new Set(d.errors)], warnings: [...new Set(d.warnings)] };
}
