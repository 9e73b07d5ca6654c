/**
 * CustomResourceDefinitions for talon.dev/v1alpha1, built from the TypeBox schemas in
 * `types.ts`. `scripts/gen-crds.ts` writes them to `crds/`; a check fails when the committed
 * YAML drifts from what this module produces.
 */
import { stringify } from 'yaml';
import type { TSchema } from '@sinclair/typebox';
import {
  ALL_KIND_SCHEMAS,
  CLUSTER_TALON_ACTION_SCHEMAS,
  CLUSTER_TALON_RULE_SCHEMAS,
  GROUP,
  TALON_ACTION_SCHEMAS,
  TALON_RULE_SCHEMAS,
  VERSION,
  type KindSchemas,
} from './types.js';
import { APPROVAL_COLUMNS, approvalAdmissionPolicy, TALON_APPROVAL_SCHEMAS } from './approval.js';

type JsonSchema = Record<string, unknown>;

/** Keys of an OpenAPI v3 schema that apiextensions.k8s.io/v1 accepts and we emit. */
const ALLOWED_KEYS = new Set([
  'type',
  'format',
  'description',
  'nullable',
  'enum',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'required',
  'properties',
  'items',
  'additionalProperties',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

/** Keys dropped silently: TypeBox/JSON-Schema annotations with no CRD meaning. */
const DROPPED_KEYS = new Set(['$id', '$schema', 'title', 'examples', 'default']);

/**
 * The structural CRD form of a TypeBox schema: symbols and `$id` gone, `additionalProperties:
 * false` removed (the apiserver prunes unknown fields instead), a string-keyed record turned into
 * `additionalProperties: <schema>`. Throws on anything a kube-apiserver would reject as
 * non-structural (unions, `$ref`, pattern properties other than a plain record, untyped nodes).
 */
export function toCrdSchema(schema: TSchema | JsonSchema, path = 'openAPIV3Schema'): JsonSchema {
  const src = JSON.parse(JSON.stringify(schema)) as JsonSchema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(src)) {
    if (DROPPED_KEYS.has(key)) continue;
    if (key === 'additionalProperties') {
      if (value === false) continue;
      if (value === true) {
        if (src['x-kubernetes-preserve-unknown-fields'] === true) continue;
        throw new Error(`${path}: additionalProperties: true needs x-kubernetes-preserve-unknown-fields`);
      }
      out.additionalProperties = toCrdSchema(value as JsonSchema, `${path}.additionalProperties`);
      continue;
    }
    if (key === 'patternProperties') {
      const entries = Object.entries(value as JsonSchema);
      if (entries.length !== 1 || entries[0]![0] !== '^(.*)$') {
        throw new Error(`${path}: patternProperties are not structural`);
      }
      out.additionalProperties = toCrdSchema(entries[0]![1] as JsonSchema, `${path}.additionalProperties`);
      continue;
    }
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as JsonSchema).map(([k, v]) => [k, toCrdSchema(v as JsonSchema, `${path}.${k}`)]),
      );
      continue;
    }
    if (key === 'items') {
      if (Array.isArray(value)) throw new Error(`${path}: tuple items are not structural`);
      out.items = toCrdSchema(value as JsonSchema, `${path}.items`);
      continue;
    }
    if (!ALLOWED_KEYS.has(key)) throw new Error(`${path}: '${key}' is not allowed in a structural CRD schema`);
    out[key] = value;
  }
  if (out.type === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new Error(`${path}: every node of a structural schema needs a type`);
  }
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties !== undefined) {
    throw new Error(`${path}: properties and additionalProperties are mutually exclusive`);
  }
  return inCanonicalOrder(out);
}

const KEY_ORDER = [...ALLOWED_KEYS];

/** Same keys, in the order of ALLOWED_KEYS (type and description first), for readable YAML. */
function inCanonicalOrder(schema: JsonSchema): JsonSchema {
  return Object.fromEntries(
    Object.entries(schema).sort(([a], [b]) => KEY_ORDER.indexOf(a) - KEY_ORDER.indexOf(b)),
  );
}

const readyColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const reasonColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  priority: 1,
};
const ageColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const RULE_COLUMNS = [
  readyColumn,
  { name: 'Matched', type: 'integer', jsonPath: '.status.matchedEvents' },
  { name: 'Last Match', type: 'date', jsonPath: '.status.lastMatchedTime' },
  ageColumn,
  reasonColumn,
];
const ACTION_COLUMNS = [
  { name: 'Actionner', type: 'string', jsonPath: '.spec.actionner' },
  readyColumn,
  ageColumn,
  reasonColumn,
];

const PRINTER_COLUMNS: Readonly<Record<string, readonly Record<string, unknown>[]>> = {
  [TALON_RULE_SCHEMAS.kind]: RULE_COLUMNS,
  [TALON_ACTION_SCHEMAS.kind]: ACTION_COLUMNS,
  [CLUSTER_TALON_RULE_SCHEMAS.kind]: RULE_COLUMNS,
  [CLUSTER_TALON_ACTION_SCHEMAS.kind]: ACTION_COLUMNS,
  [TALON_APPROVAL_SCHEMAS.kind]: APPROVAL_COLUMNS,
};

/** Every kind with a CRD in `crds/`: the four of types.ts, then TalonApproval. */
export const CRD_KINDS: readonly KindSchemas[] = [...ALL_KIND_SCHEMAS, TALON_APPROVAL_SCHEMAS];

/** The CustomResourceDefinition object for one kind. */
export function buildCrd(k: KindSchemas): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        shortNames: [k.shortName],
        categories: ['talon'],
      },
      scope: k.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS[k.kind] ?? [],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${k.kind} (talon.dev/v1alpha1).`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toCrdSchema(k.spec, 'openAPIV3Schema.spec'),
                status: toCrdSchema(k.status, 'openAPIV3Schema.status'),
              },
            },
          },
        },
      ],
    },
  };
}

export const CRD_HEADER = '# Code generated by scripts/gen-crds.ts from operator/src/api/v1alpha1/types.ts. DO NOT EDIT.\n';

/** Every CRD file: its name under `crds/` and its YAML content. */
export function renderCrds(): { readonly file: string; readonly content: string }[] {
  return CRD_KINDS.map((k) => ({
    file: `${GROUP}_${k.plural}.yaml`,
    content: CRD_HEADER + '---\n' + stringify(buildCrd(k), { lineWidth: 0 }),
  }));
}

/** The admission policy shipped beside the CRDs (approval.ts): its file under `crds/` and its YAML. */
export function renderAdmission(): { readonly file: string; readonly content: string } {
  const docs = approvalAdmissionPolicy().map((o) => '---\n' + stringify(o, { lineWidth: 0 })).join('');
  return { file: `${GROUP}_${TALON_APPROVAL_SCHEMAS.plural}-admission.yaml`, content: POLICY_HEADER + docs };
}

export const POLICY_HEADER =
  '# Code generated by scripts/gen-crds.ts from operator/src/api/v1alpha1/approval.ts. DO NOT EDIT.\n' +
  '# Who may decide a TalonApproval (verb approve) and create one (verb issue): see docs/approvals.md.\n';
