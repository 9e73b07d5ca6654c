/**
 * Writes the reference pages under docs/reference/ from the plug-ins' own declarations, so a
 * new actionner, notifier or output (or a new parameter of one) is documented by declaring it:
 * - actionners.md: per actionner its description, parameters (type, default, constraints,
 *   meaning, from `paramsSchema`), what it acts on and who may use it (from `info.target`,
 *   `info.cloud` and `targetFor`), default `continue`, destructiveness, output, required alert
 *   fields, operator settings (`configSchema`), RBAC (`info.rbac`) and its example;
 * - notifiers.md: the router's keys of every instance, then each type's keys (`configSchema`);
 * - outputs.md: each output's action parameters (`paramsSchema`) and operator settings
 *   (`configSchema`).
 *
 *   node dist/scripts/gen-docs.js            write the files (run from the repository root)
 *   node dist/scripts/gen-docs.js --check    exit 1 when a committed file differs
 */
import { pathToFileURL } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { builtinActionners } from '../operator/src/actionners/index.js';
import { useOf, type Actionner, type ActionnerScope } from '../operator/src/actionners/types.js';
import { builtinNotifiers } from '../operator/src/notifiers/index.js';
import { builtinOutputs } from '../operator/src/outputs/index.js';
import { NotifierInstanceSchema } from '../operator/src/config/schema.js';
import { API_VERSION, CLUSTER_TALON_ACTION_KIND } from '../operator/src/api/v1alpha1/types.js';
import { runGenerator, type GeneratedFile } from './gen-crds.js';

export const REFERENCE_DIR = 'docs/reference';

type Schema = Record<string, unknown> & { type?: string; properties?: Record<string, Schema>; required?: string[] };

/** Markdown table cells must not break the row. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (v: unknown): string => (v === '' ? "`''`" : `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``);

/** The type of a schema node in words: `integer`, `string`, `list of string`, `a` \| `b`. */
export function typeText(s: Schema): string {
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map(code).join(' \\| ');
  const alts = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (alts) return alts.map((a) => (a.const !== undefined ? code(a.const) : typeText(a))).join(' \\| ');
  if (s.const !== undefined) return code(s.const);
  if (s.type === 'array') return `list of ${typeText((s.items as Schema | undefined) ?? {})}`;
  if (s.type === 'object' && s.patternProperties) return `map of ${typeText(Object.values(s.patternProperties as Record<string, Schema>)[0] ?? {})}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `map of ${typeText(s.additionalProperties as Schema)}`;
  if (s.type === 'object' && !s.properties) return 'map';
  return s.type ?? 'any';
}

/** Bounds and patterns worth saying. */
function constraints(s: Schema): string {
  const out: string[] = [];
  if (s.minimum !== undefined && s.maximum !== undefined) out.push(`${s.minimum as number}–${s.maximum as number}`);
  else if (s.minimum !== undefined) out.push(`≥ ${s.minimum as number}`);
  else if (s.maximum !== undefined) out.push(`≤ ${s.maximum as number}`);
  if (s.minLength !== undefined && (s.minLength as number) > 0) out.push(`length ≥ ${s.minLength as number}`);
  if (s.maxLength !== undefined) out.push(`length ≤ ${s.maxLength as number}`);
  if (s.minItems !== undefined && (s.minItems as number) > 0) out.push(`≥ ${s.minItems as number} items`);
  if (s.maxItems !== undefined) out.push(`≤ ${s.maxItems as number} items`);
  if (s.pattern !== undefined) out.push(`pattern ${code(s.pattern)}`);
  return out.join(', ');
}

interface Row {
  key: string;
  schema: Schema;
  required: boolean;
}

/**
 * The keys of an object schema, nested objects flattened into dotted paths (`profiles.<name>.region`)
 * so every setting appears once, with its own type and default.
 */
export function rows(s: Schema, prefix = ''): Row[] {
  const out: Row[] = [];
  const required = new Set(s.required ?? []);
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${key}`;
    if (child.type === 'object' && child.properties) {
      out.push({ key: path, schema: { ...child, type: 'object' }, required: required.has(key) && child.default === undefined });
      out.push(...rows(child, `${path}.`));
    } else if (child.type === 'object' && child.patternProperties) {
      const value = Object.values(child.patternProperties as Record<string, Schema>)[0] ?? {};
      out.push({ key: path, schema: child, required: false });
      if (value.properties) out.push(...rows(value, `${path}.<name>.`));
    } else {
      out.push({ key: path, schema: child, required: required.has(key) && child.default === undefined });
    }
  }
  return out;
}

/** A table of an object schema's keys: key, type, default, meaning. */
export function keyTable(s: TSchema, prefix = ''): string {
  const all = rows(s as unknown as Schema, prefix);
  if (all.length === 0) return '(none)\n';
  const lines = all.map(({ key, schema, required }) => {
    const def = schema.default !== undefined ? code(schema.default) : required ? '**required**' : '';
    const notes = [schema.description as string | undefined, constraints(schema)].filter((x) => x !== undefined && x !== '').join(' — ');
    return `| \`${key}\` | ${typeText(schema)} | ${def} | ${cell(notes)} |`;
  });
  return ['| key | type | default | meaning |', '|---|---|---|---|', ...lines, ''].join('\n');
}

const SCOPE_TEXT: Readonly<Record<ActionnerScope, string>> = {
  pod: "the alert's pod — a TalonRule may use it for pods of its own namespace",
  namespace: 'the audited object of a k8s_audit alert — a TalonRule may use it for namespaced objects of its own namespace',
  node: "a node — ClusterTalonRules only (refused in a TalonRule)",
  cloud: "outside the cluster or beyond the `edit` role, with the operator's credentials — ClusterTalonRules, and TalonRules only in `safety.cloudNamespaces`",
};

/**
 * What the actionner acts on: with its example's parameters, and with each value of every
 * enum parameter (e.g. `level: node` of kubernetes:label), since `targetFor` may depend on them.
 */
function scopeText(a: Actionner): string {
  const base = Value.Default(a.paramsSchema, structuredClone(a.info.example)) as Record<string, unknown>;
  const scopes = new Map<ActionnerScope, string[]>();
  const note = (params: Record<string, unknown>, what: string) => {
    const { scope } = useOf(a, params);
    const list = scopes.get(scope) ?? [];
    list.push(what);
    scopes.set(scope, list);
  };
  note(base, '');
  for (const [key, prop] of Object.entries((a.paramsSchema as unknown as Schema).properties ?? {})) {
    if (Array.isArray(prop.enum)) for (const v of prop.enum as unknown[]) note({ ...base, [key]: v }, `${key}: ${String(v)}`);
  }
  const entries = [...scopes.entries()];
  if (entries.length === 1) return SCOPE_TEXT[entries[0]![0]];
  return entries.map(([scope, whats]) => `${whats.filter((w) => w !== '').map((w) => `\`${w}\``).join(', ') || 'by default'}: ${SCOPE_TEXT[scope]}`).join('; ');
}

function rbacTable(a: Actionner): string {
  if (a.info.rbac.length === 0) return 'None beyond reading the alert.\n';
  const lines = a.info.rbac.map((r) => `| ${(r.apiGroups ?? []).map((g) => code(g === '' ? '""' : g)).join(', ')} | ${(r.resources ?? []).join(', ')} | ${(r.verbs ?? []).join(', ')} |`);
  return ['| apiGroups | resources | verbs |', '|---|---|---|', ...lines, ''].join('\n');
}

function exampleYaml(a: Actionner): string {
  const name = a.info.name.replace(':', '-');
  const doc = { apiVersion: API_VERSION, kind: CLUSTER_TALON_ACTION_KIND, metadata: { name }, spec: { actionner: a.info.name, ...(Object.keys(a.info.example).length > 0 ? { parameters: a.info.example } : {}) } };
  return '```yaml\n' + stringify(doc, { lineWidth: 0 }) + '```\n';
}

const HEADER = (source: string) => `<!-- Generated by scripts/gen-docs.ts from ${source}; do not edit. -->`;

export function renderActionners(list: readonly Actionner[] = builtinActionners()): string {
  const out: string[] = [
    HEADER('the actionners\' declarations (operator/src/actionners/index.ts)'),
    '# Actionners',
    '',
    'Every actionner an action may name (`actionner: category:name`), with its parameters as the',
    'compiler validates them: unknown keys are an error, defaults are applied once when the rule is',
    'loaded. "Acts on" says which rules may use it (DESIGN.md §2, "Scope and tenancy"); "RBAC" is what',
    "the operator's ClusterRole grants for it (`config/rbac/role.yaml` and the chart's per-category",
    'switches are generated from the same declarations).',
    '',
    ...list.map((a) => `- [\`${a.info.name}\`](#${a.info.name.replace(':', '')})`),
    '',
  ];
  for (const a of list) {
    const info = a.info;
    out.push(`## ${info.name}`, '', `${info.description}.`, '');
    out.push('| | |', '|---|---|');
    out.push(`| acts on | ${scopeText(a)} |`);
    out.push(`| continue by default | ${info.defaultContinue ? 'yes: the next action runs' : 'no: the rule stops after it unless the action sets `continue: true`'} |`);
    out.push(`| destructive | ${info.destructive ? 'yes: counted against `safety.destructiveActionsPerMinute`' : 'no'} |`);
    out.push(`| output | ${info.output === 'none' ? 'none' : info.output === 'required' ? 'required (`output: {target: …}`)' : 'allowed'} |`);
    const fields = info.requiredFields.map((alts) => alts.map(code).join(' or '));
    out.push(`| alert fields needed | ${fields.length > 0 ? fields.join('; ') : 'those naming its target'} |`);
    out.push('');
    out.push('### Parameters', '', keyTable(a.paramsSchema));
    if (a.configSchema) out.push(`### Operator settings (\`actionners.${info.name.split(':')[0]}\`)`, '', keyTable(a.configSchema));
    out.push('### RBAC', '', rbacTable(a));
    out.push('### Example', '', exampleYaml(a));
  }
  return out.join('\n');
}

export function renderNotifiers(): string {
  const out: string[] = [
    HEADER('the notifier types\' declarations (operator/src/notifiers/index.ts)'),
    '# Notifiers',
    '',
    'A notifier instance is configured under `notifiers.<instance name>` in the operator config with',
    'its `type` and the type\'s keys; rules name instances in `notifiers:`, and `defaultNotifiers`',
    'lists those every outcome goes to. Settings holding secrets are files (`…File`), read from a',
    'mounted Secret.',
    '',
    '## Keys of every instance',
    '',
    keyTable(NotifierInstanceSchema),
  ];
  for (const n of builtinNotifiers()) {
    out.push(`## ${n.type}`, '', `${n.description}.`, '', keyTable(n.configSchema));
  }
  return out.join('\n');
}

export function renderOutputs(): string {
  const out: string[] = [
    HEADER('the outputs\' declarations (operator/src/outputs/index.ts)'),
    '# Outputs',
    '',
    'Where an action\'s artifact (a capture, a log, a file) is stored: the action says',
    '`output: {target: <output>, parameters: {…}}`; the operator config\'s `outputs.<output>` holds',
    'the operator-side settings (directories, endpoints, credentials), which a rule cannot choose.',
    '',
  ];
  for (const o of builtinOutputs()) {
    out.push(`## ${o.name}`, '', `${o.description}.`, '');
    out.push('### Action parameters (`output.parameters`)', '', keyTable(o.paramsSchema));
    out.push(`### Operator settings (\`outputs["${o.name}"]\`)`, '', keyTable(o.configSchema));
    out.push('### Example', '', '```yaml\n' + stringify({ output: { target: o.name, parameters: o.example } }, { lineWidth: 0 }) + '```\n');
  }
  return out.join('\n');
}

export function docsFiles(): GeneratedFile[] {
  return [
    { path: `${REFERENCE_DIR}/actionners.md`, content: renderActionners() },
    { path: `${REFERENCE_DIR}/notifiers.md`, content: renderNotifiers() },
    { path: `${REFERENCE_DIR}/outputs.md`, content: renderOutputs() },
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runGenerator('gen-docs', docsFiles(), process.argv.slice(2));
}
