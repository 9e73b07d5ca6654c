import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Type } from '@sinclair/typebox';
import { buildCrd, renderCrds, toCrdSchema } from './crd.js';
import { CLUSTER_TALON_ACTION_SCHEMAS, CLUSTER_TALON_RULE_SCHEMAS, TALON_ACTION_SCHEMAS, TALON_RULE_SCHEMAS } from './types.js';

type Node = Record<string, unknown>;

/** The JSONSchemaProps fields (json names) of apiextensions.k8s.io/v1. */
const JSON_SCHEMA_PROPS = new Set([
  'id', '$schema', '$ref', 'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum',
  'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems',
  'multipleOf', 'enum', 'maxProperties', 'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not',
  'properties', 'additionalProperties', 'patternProperties', 'dependencies', 'additionalItems', 'definitions',
  'externalDocs', 'example', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
/** Fields a structural schema must not use (apiextensions validation of structural schemas). */
const NOT_STRUCTURAL = ['$ref', 'definitions', 'patternProperties', 'dependencies', 'additionalItems', 'id', '$schema',
  'allOf', 'anyOf', 'oneOf', 'not'];

/** Problems that would make a kube-apiserver reject the schema as non-structural (a strict subset check). */
function structuralProblems(node: Node, path: string, out: string[] = []): string[] {
  for (const key of Object.keys(node)) {
    if (!JSON_SCHEMA_PROPS.has(key)) out.push(`${path}: unknown key ${key}`);
  }
  for (const key of NOT_STRUCTURAL) if (key in node) out.push(`${path}: ${key} is not structural`);
  if (node.uniqueItems === true) out.push(`${path}: uniqueItems: true is forbidden`);
  if (node.additionalProperties === false) out.push(`${path}: additionalProperties: false is forbidden`);
  if (node.properties && node.additionalProperties) out.push(`${path}: properties with additionalProperties`);
  if (typeof node.exclusiveMinimum === 'number' || typeof node.exclusiveMaximum === 'number') {
    out.push(`${path}: exclusive bounds must be booleans in OpenAPI v3.0`);
  }
  if (node.type === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true && node['x-kubernetes-int-or-string'] !== true) {
    out.push(`${path}: no type`);
  }
  if (node.type === 'array' && (node.items === undefined || Array.isArray(node.items))) out.push(`${path}: array needs one items schema`);
  if (node['x-kubernetes-list-type'] === 'map') {
    const keys = (node['x-kubernetes-list-map-keys'] as string[] | undefined) ?? [];
    const required = ((node.items as Node | undefined)?.required as string[] | undefined) ?? [];
    if (keys.length === 0 || !keys.every((k) => required.includes(k))) out.push(`${path}: list-map keys must be required`);
  }
  for (const [k, v] of Object.entries((node.properties as Record<string, Node> | undefined) ?? {})) structuralProblems(v, `${path}.${k}`, out);
  if (node.items && !Array.isArray(node.items)) structuralProblems(node.items as Node, `${path}[]`, out);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    structuralProblems(node.additionalProperties as Node, `${path}{}`, out);
  }
  for (const v of (node['x-kubernetes-validations'] as { rule?: unknown; message?: unknown }[] | undefined) ?? []) {
    if (typeof v.rule !== 'string' || typeof v.message !== 'string') out.push(`${path}: validation needs rule and message`);
  }
  return out;
}

const crdOf = (file: string) => parse(renderCrds().find((f) => f.file === file)!.content) as Node;
const versionOf = (crd: Node) => ((crd.spec as Node).versions as Node[])[0]!;
const rootSchemaOf = (crd: Node) => ((versionOf(crd).schema as Node).openAPIV3Schema) as Node;

test('the five CRDs are rendered under their conventional file names', () => {
  assert.deepEqual(renderCrds().map((f) => f.file), [
    'talon.dev_talonrules.yaml',
    'talon.dev_talonactions.yaml',
    'talon.dev_clustertalonrules.yaml',
    'talon.dev_clustertalonactions.yaml',
    'talon.dev_talonapprovals.yaml',
  ]);
});

test('the generated schemas are structural', () => {
  for (const f of renderCrds()) {
    const crd = parse(f.content) as Node;
    assert.deepEqual(structuralProblems(rootSchemaOf(crd), 'openAPIV3Schema'), [], f.file);
  }
});

test('no TypeBox artefacts leak into the YAML', () => {
  for (const f of renderCrds()) {
    assert.doesNotMatch(f.content, /\$id|\[Kind\]|Symbol\(|TypeBox|patternProperties|additionalProperties: false/, f.file);
  }
});

test('TalonRule CRD: names, scope, status subresource, printer columns', () => {
  const crd = crdOf('talon.dev_talonrules.yaml');
  assert.equal((crd.metadata as Node).name, 'talonrules.talon.dev');
  const spec = crd.spec as Node;
  assert.equal(spec.scope, 'Namespaced');
  assert.deepEqual(spec.names, {
    kind: 'TalonRule', listKind: 'TalonRuleList', plural: 'talonrules', singular: 'talonrule',
    shortNames: ['trule'], categories: ['talon'],
  });
  const v = versionOf(crd);
  assert.deepEqual(v.subresources, { status: {} });
  const cols = v.additionalPrinterColumns as Node[];
  assert.deepEqual(cols.filter((c) => c.priority === undefined).map((c) => [c.name, c.jsonPath]), [
    ['Ready', '.status.conditions[?(@.type=="Ready")].status'],
    ['Matched', '.status.matchedEvents'],
    ['Last Match', '.status.lastMatchedTime'],
    ['Age', '.metadata.creationTimestamp'],
  ]);
});

test('TalonAction CRD: names and printer columns', () => {
  const crd = crdOf('talon.dev_talonactions.yaml');
  const names = (crd.spec as Node).names as Node;
  assert.deepEqual([names.kind, names.shortNames, names.categories], ['TalonAction', ['taction'], ['talon']]);
  const cols = versionOf(crd).additionalPrinterColumns as Node[];
  assert.deepEqual(cols.filter((c) => c.priority === undefined).map((c) => c.name), ['Actionner', 'Ready', 'Age']);
});

test('ClusterTalonRule and ClusterTalonAction CRDs: cluster-scoped, short names, same columns and status as the namespaced kinds', () => {
  const pairs: [string, string, string, string][] = [
    ['talon.dev_clustertalonrules.yaml', 'talon.dev_talonrules.yaml', 'ClusterTalonRule', 'ctrule'],
    ['talon.dev_clustertalonactions.yaml', 'talon.dev_talonactions.yaml', 'ClusterTalonAction', 'ctaction'],
  ];
  for (const [clusterFile, namespacedFile, kind, shortName] of pairs) {
    const crd = crdOf(clusterFile);
    const spec = crd.spec as Node;
    assert.equal(spec.scope, 'Cluster', kind);
    const names = spec.names as Node;
    assert.deepEqual(
      [names.kind, names.listKind, names.plural, names.singular, names.shortNames, names.categories],
      [kind, `${kind}List`, `${kind.toLowerCase()}s`, kind.toLowerCase(), [shortName], ['talon']],
    );
    const twin = crdOf(namespacedFile);
    assert.equal((twin.spec as Node).scope, 'Namespaced');
    assert.deepEqual(versionOf(crd).additionalPrinterColumns, versionOf(twin).additionalPrinterColumns, `${kind} columns`);
    assert.deepEqual(versionOf(crd).subresources, { status: {} });
    const props = (s: Node) => rootSchemaOf(s).properties as Node;
    assert.deepEqual(props(crd).status, props(twin).status, `${kind} status`);
  }
  // The action spec is the same; the rule spec differs only in what a reference may name.
  const props = (f: string) => rootSchemaOf(crdOf(f)).properties as Node;
  assert.deepEqual(props('talon.dev_clustertalonactions.yaml').spec, props('talon.dev_talonactions.yaml').spec);
  const itemOf = (f: string) => (((props(f).spec as Node).properties as Node).actions as Node).items as Node;
  const clusterItem = itemOf('talon.dev_clustertalonrules.yaml');
  const tenantItem = itemOf('talon.dev_talonrules.yaml');
  assert.deepEqual(clusterItem.properties, tenantItem.properties);
  const rules = (n: Node) => (n['x-kubernetes-validations'] as Node[]).map((r) => r.rule);
  assert.deepEqual(rules(clusterItem), [...rules(tenantItem), "!has(self.kind) || self.kind == 'ClusterTalonAction'"]);
  assert.deepEqual(((clusterItem.properties as Node).kind as Node).enum, ['TalonAction', 'ClusterTalonAction']);
});

test('parameters are preserved as free-form objects; admission CEL rules are present', () => {
  const spec = (rootSchemaOf(crdOf('talon.dev_talonrules.yaml')).properties as Node).spec as Node;
  const item = ((spec.properties as Node).actions as Node).items as Node;
  const params = (item.properties as Node).parameters as Node;
  assert.equal(params.type, 'object');
  assert.equal(params['x-kubernetes-preserve-unknown-fields'], true);
  const rules = (item['x-kubernetes-validations'] as Node[]).map((r) => r.rule);
  assert.ok(rules.includes('has(self.action) != has(self.actionner)'));
  const actionner = (item.properties as Node).actionner as Node;
  assert.match(String((actionner['x-kubernetes-validations'] as Node[])[0]!.rule), /matches\('\^\[a-z0-9\]\+:\[a-z0-9\]\+\$'\)/);
  const match = (spec.properties as Node).match as Node;
  const selector = ((match.properties as Node).outputFields as Node).items as Node;
  assert.equal((selector['x-kubernetes-validations'] as Node[]).length, 3);
  assert.ok(((match.properties as Node).priority as Node)['x-kubernetes-validations']);
});

test('toCrdSchema maps records to additionalProperties and refuses non-structural constructs', () => {
  assert.deepEqual(toCrdSchema(Type.Record(Type.String(), Type.String())), {
    type: 'object',
    additionalProperties: { type: 'string' },
  });
  assert.throws(() => toCrdSchema(Type.Union([Type.String(), Type.Number()])), /anyOf/);
  assert.throws(() => toCrdSchema(Type.Unknown()), /needs a type/);
  assert.throws(() => toCrdSchema(Type.Object({}, { additionalProperties: true })), /preserve-unknown-fields/);
});

test('buildCrd is deterministic', () => {
  assert.deepEqual(buildCrd(TALON_RULE_SCHEMAS), buildCrd(TALON_RULE_SCHEMAS));
  assert.deepEqual(buildCrd(CLUSTER_TALON_RULE_SCHEMAS), buildCrd(CLUSTER_TALON_RULE_SCHEMAS));
  assert.deepEqual(buildCrd(CLUSTER_TALON_ACTION_SCHEMAS), buildCrd(CLUSTER_TALON_ACTION_SCHEMAS));
  assert.equal(JSON.stringify(buildCrd(TALON_ACTION_SCHEMAS)), JSON.stringify(buildCrd(TALON_ACTION_SCHEMAS)));
});

test('the committed crds/ match the generator (run from the repository root)', (t) => {
  const dir = join(process.cwd(), 'crds');
  if (!existsSync(dir)) {
    t.skip(`no crds/ under ${process.cwd()}`);
    return;
  }
  for (const f of renderCrds()) {
    assert.equal(readFileSync(join(dir, f.file), 'utf8'), f.content, `crds/${f.file} is stale: run node dist/scripts/gen-crds.js`);
  }
});
