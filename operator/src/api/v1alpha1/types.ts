/**
 * The talon.dev/v1alpha1 API (DESIGN.md §2), written once as TypeBox schemas.
 *
 * These schemas are the single source for the CRDs in `crds/` (via `crd.ts`) and for the
 * validators in `validation.ts`. They are kept structural in the Kubernetes sense: every node
 * has a `type`, free-form maps are `x-kubernetes-preserve-unknown-fields`, enums are plain
 * `enum` lists (no anyOf), and cross-field rules are CEL `x-kubernetes-validations`, which
 * `validation.ts` also evaluates offline. Spec schemas carry no `default`: defaults are
 * applied by the compiler, so what users apply is what `kubectl get -o yaml` shows.
 */
import { Type, type ObjectOptions, type Static, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { DURATION_PATTERN } from '../../lib/duration.js';
import { arityCelRules, MATCH_OPERATORS, type MatchOperator } from './operators.js';

export const GROUP = 'talon.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const TALON_RULE_KIND = 'TalonRule';
export const TALON_RULE_PLURAL = 'talonrules';
export const TALON_ACTION_KIND = 'TalonAction';
export const TALON_ACTION_PLURAL = 'talonactions';
export const CLUSTER_TALON_RULE_KIND = 'ClusterTalonRule';
export const CLUSTER_TALON_RULE_PLURAL = 'clustertalonrules';
export const CLUSTER_TALON_ACTION_KIND = 'ClusterTalonAction';
export const CLUSTER_TALON_ACTION_PLURAL = 'clustertalonactions';

/**
 * The rule kinds (DESIGN.md §2 "Scope and tenancy"): a TalonRule is a tenant rule, confined to
 * its namespace wherever it lives; a ClusterTalonRule (cluster-scoped) acts cluster-wide.
 */
export const RULE_KINDS = [TALON_RULE_KIND, CLUSTER_TALON_RULE_KIND] as const;
export type RuleKind = (typeof RULE_KINDS)[number];
/** The action kinds a rule may reference: a TalonAction (namespaced) or a ClusterTalonAction. */
export const ACTION_KINDS = [TALON_ACTION_KIND, CLUSTER_TALON_ACTION_KIND] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

/** The kind a reference names when it sets no `kind`: TalonAction in a TalonRule, ClusterTalonAction in a ClusterTalonRule. */
export function defaultActionKind(rule: RuleKind): ActionKind {
  return rule === CLUSTER_TALON_RULE_KIND ? CLUSTER_TALON_ACTION_KIND : TALON_ACTION_KIND;
}

/** A CEL rule as the apiserver's `x-kubernetes-validations` entries take it. */
export interface CelValidation {
  readonly rule: string;
  readonly message: string;
}

/** An object that rejects unknown keys offline (the apiserver prunes or, with strict field validation, rejects them). */
const Strict = <T extends TProperties>(properties: T, options: ObjectOptions = {}) =>
  Type.Object(properties, { ...options, additionalProperties: false });

const validations = (...rules: CelValidation[]) => ({ 'x-kubernetes-validations': rules });

/** A string restricted to `values`, rendered as a plain `enum` (structural, unlike a union of literals). */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: Record<string, unknown> = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

/** A free-form object: any keys, any values; kept as is by the apiserver. */
const FreeForm = (description: string) =>
  Type.Unsafe<Record<string, unknown>>({
    type: 'object',
    description,
    'x-kubernetes-preserve-unknown-fields': true,
  });

const Text = (maxLength: number, description?: string) =>
  Type.String({ maxLength, ...(description ? { description } : {}) });

export const ACTIONNER_PATTERN = '^[a-z0-9]+:[a-z0-9]+$';
export const PRIORITY_PATTERN =
  '^(<|>|=|<=|>=)?(debug|informational|notice|warning|error|critical|alert|emergency)$';

const ActionnerName = (description: string) =>
  Type.String({
    maxLength: 63,
    description,
    ...validations({
      rule: `self.matches('${ACTIONNER_PATTERN}')`,
      message: "must be 'category:name' in lower case, e.g. kubernetes:terminate",
    }),
  });

export const ADDITIONAL_CONTEXTS = ['k8snode', 'aws'] as const;

export const OutputSpecSchema = Strict({
  target: Type.String({
    maxLength: 63,
    description: 'Artifact target, e.g. aws:s3, gcp:gcs, local:file.',
    ...validations({
      rule: `self.matches('${ACTIONNER_PATTERN}')`,
      message: "must be 'category:name' in lower case, e.g. aws:s3",
    }),
  }),
  parameters: Type.Optional(FreeForm("Parameters of the output target.")),
});
export type OutputSpec = Static<typeof OutputSpecSchema>;

/** A duration in the operator's one grammar (lib/duration.ts), checked at admission. */
const DurationText = (description: string) =>
  Type.String({
    maxLength: 32,
    description,
    ...validations({
      rule: `self.matches('${DURATION_PATTERN}')`,
      message: 'must be a duration such as 30s, 5m, 1h or 1h30m',
    }),
  });
/**
 * `approval` on an action (docs/approvals.md): the action does not run until a person approves
 * the TalonApproval the operator creates for it; `expiresAfter` (default 1h) bounds the wait.
 */
export const ApprovalRequirementSchema = Strict({
  required: Type.Boolean({ description: 'true = the action runs only once a person approves its TalonApproval.' }),
  expiresAfter: Type.Optional(
    Type.String({
      maxLength: 32,
      description: 'How long the TalonApproval waits for a decision before it expires (Skipped/ApprovalExpired); default 1h.',
      ...validations({
        rule: `self.matches('${DURATION_PATTERN}')`,
        message: 'must be a duration such as 30s, 5m, 1h or 1h30m',
      }),
    }),
  ),
});
export type ApprovalRequirement = Static<typeof ApprovalRequirementSchema>;

/** Fields an action may set, whether defined in a TalonAction or inline in a rule. */
const actionFields = {
  description: Type.Optional(Text(1024)),
  parameters: Type.Optional(
    FreeForm("The actionner's parameters; validated against its schema, unknown keys are an error."),
  ),
  continue: Type.Optional(
    Type.Boolean({ description: "Run the rule's next action after this one; default: the actionner's default." }),
  ),
  ignoreErrors: Type.Optional(
    Type.Boolean({ description: "A failure of this action does not stop the rule's remaining actions." }),
  ),
  timeoutSeconds: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 3600, description: 'Per-run timeout; default from the operator config.' }),
  ),
  output: Type.Optional(OutputSpecSchema),
  additionalContexts: Type.Optional(
    Type.Array(StringEnum(ADDITIONAL_CONTEXTS), {
      maxItems: ADDITIONAL_CONTEXTS.length,
      description: 'Enrich the alert before the action runs.',
    }),
  ),
  revertAfter: Type.Optional(
    DurationText(
      'Undo the change after this long (reversible actionners only: label, annotation, networkpolicy isolation, calico/cilium denial, cordon); the previous value is restored unless someone changed it since. See docs/revert.md.',
    ),
  ),
  approval: Type.Optional(ApprovalRequirementSchema),
};

export const TalonActionSpecSchema = Strict({
  actionner: ActionnerName('The actionner, category:name; must exist.'),
  ...actionFields,
});
export type TalonActionSpec = Static<typeof TalonActionSpecSchema>;

/** CEL rules of a rule's action entry, whatever the rule's kind. */
const RULE_ACTION_RULES: readonly CelValidation[] = [
  {
    rule: 'has(self.action) != has(self.actionner)',
    message: "exactly one of 'action' (a TalonAction or ClusterTalonAction reference) or 'actionner' (an inline action) must be set",
  },
  { rule: '!has(self.actionner) || has(self.name)', message: "an inline action needs a 'name'" },
  {
    rule: '!has(self.kind) || has(self.action)',
    message: "'kind' names the kind of a reference ('action'); an inline action has none",
  },
  {
    rule: '!has(self.action) || !(has(self.name) || has(self.description) || has(self.output) || has(self.additionalContexts))',
    message: "a reference ('action') may only set kind and override parameters, continue, ignoreErrors, timeoutSeconds, revertAfter and approval",
  },
];

/** What a ClusterTalonRule adds: it may reference only ClusterTalonActions. */
export const CLUSTER_REFERENCE_RULE: CelValidation = {
  rule: `!has(self.kind) || self.kind == '${CLUSTER_TALON_ACTION_KIND}'`,
  message: `a ${CLUSTER_TALON_RULE_KIND} may reference only ${CLUSTER_TALON_ACTION_KIND}s: set kind: ${CLUSTER_TALON_ACTION_KIND} or leave kind out`,
};

const ruleActionSchema = (extra: readonly CelValidation[]) =>
  Strict(
    {
      action: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 253,
          description: "A referenced action: a TalonAction in this namespace, or a ClusterTalonAction (see kind).",
        }),
      ),
      kind: Type.Optional(
        StringEnum(ACTION_KINDS, {
          description:
            "Kind of the referenced action. In a TalonRule: TalonAction (the default, in the rule's namespace) or ClusterTalonAction. In a ClusterTalonRule: ClusterTalonAction only (the default).",
        }),
      ),
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'Name of an inline action.' })),
      actionner: Type.Optional(ActionnerName('The actionner of an inline action, category:name.')),
      ...actionFields,
    },
    validations(...RULE_ACTION_RULES, ...extra),
  );

/**
 * One entry of `spec.actions`: either a reference (`action`, naming a TalonAction in the rule's
 * namespace or, with `kind: ClusterTalonAction`, a ClusterTalonAction; with overrides) or an
 * inline action (`name` + `actionner` + fields).
 */
export const RuleActionSchema = ruleActionSchema([]);
/** An entry of `ClusterTalonRule.spec.actions`: as RuleActionSchema, references to ClusterTalonActions only. */
export const ClusterRuleActionSchema = ruleActionSchema([CLUSTER_REFERENCE_RULE]);
export type RuleAction = Static<typeof RuleActionSchema>;

export { MATCH_OPERATORS, type MatchOperator };

export const OutputFieldSelectorSchema = Strict(
  {
    key: Type.String({ minLength: 1, maxLength: 256, description: 'Falco output field, e.g. k8s.ns.name.' }),
    operator: StringEnum(MATCH_OPERATORS),
    values: Type.Optional(Type.Array(Text(1024), { maxItems: 64 })),
  },
  validations(...arityCelRules()),
);
export type OutputFieldSelector = Static<typeof OutputFieldSelectorSchema>;

export const MatchSpecSchema = Strict({
  rules: Type.Optional(
    Type.Array(Text(512), { maxItems: 256, description: 'Falco rule names (OR); empty = any.' }),
  ),
  priority: Type.Optional(
    Type.String({
      maxLength: 32,
      description: '[<|>|=|<=|>=]Level, e.g. >=Warning (case-insensitive level names).',
      ...validations({
        rule: `self.lowerAscii().matches('${PRIORITY_PATTERN}')`,
        message:
          'must be [<|>|=|<=|>=]Level with Level one of Debug, Informational, Notice, Warning, Error, Critical, Alert, Emergency',
      }),
    }),
  ),
  sources: Type.Optional(Type.Array(Text(256), { maxItems: 32, description: 'Event sources (OR).' })),
  tags: Type.Optional(
    Type.Array(Type.Array(Text(256), { maxItems: 32 }), {
      maxItems: 64,
      description: 'OR of AND-groups of Falco tags.',
    }),
  ),
  outputFields: Type.Optional(
    Type.Array(OutputFieldSelectorSchema, { maxItems: 32, description: 'AND of selector-style expressions.' }),
  ),
  condition: Type.Optional(Text(4096, 'A CEL expression over the alert, compiled once.')),
});
export type MatchSpec = Static<typeof MatchSpecSchema>;

/** The most steps an escalation ladder has, and the highest `after` a step may name. */
export const MAX_ESCALATION_STEPS = 8;
export const MAX_ESCALATION_AFTER = 10_000;

/** `spec.escalation`: a ladder of steps, each run once per window when the count of matches for a target reaches its `after`. */
const escalationSchema = <A extends TSchema>(actionSchema: A) =>
  Strict({
    window: DurationText(
      'Matches of the rule for one target are counted from the first one for this long; then counting starts over and every step may run again. Every match counts, cooldown-suppressed and merged ones included.',
    ),
    steps: Type.Array(
      Strict({
        after: Type.Integer({
          minimum: 1,
          maximum: MAX_ESCALATION_AFTER,
          description: 'Run this step when the count of matches for the target in the window reaches this number; strictly increasing from step to step.',
        }),
        actions: Type.Array(actionSchema, { minItems: 1, maxItems: 32, description: 'Run in order, as a plain rule runs spec.actions.' }),
      }),
      { minItems: 1, maxItems: MAX_ESCALATION_STEPS, description: 'The ladder, lowest `after` first.' },
    ),
  });

/** The rule spec's own cross-field rules: exactly one of `actions` and `escalation`. */
export const ACTIONS_OR_ESCALATION_RULE: CelValidation = {
  rule: 'has(self.actions) != has(self.escalation)',
  message: "exactly one of 'actions' (run on every match) or 'escalation' (a ladder of steps by count of matches) must be set",
};

const ruleSpecSchema = <A extends TSchema>(actionSchema: A) =>
  Strict({
    description: Type.Optional(Text(1024)),
    suspend: Type.Optional(Type.Boolean({ description: 'Matched and counted, but no action runs.' })),
    dryRun: Type.Optional(Type.Boolean({ description: 'Record what would be done; do nothing.' })),
    order: Type.Optional(
      Type.Integer({ minimum: -1000000, maximum: 1000000, description: 'Evaluation order in its scope; lower first.' }),
    ),
    continue: Type.Optional(
      Type.Boolean({
        description:
          "false = later rules are not evaluated for this event; a TalonRule's stops only later TalonRules, never a ClusterTalonRule.",
      }),
    ),
    cooldown: Type.Optional(
      Type.String({
        maxLength: 32,
        description: 'Same rule + same target within this window is suppressed; a Go duration (plus d for days), e.g. 30s, 5m, 1h30m.',
        ...validations({
          rule: `self.matches('${DURATION_PATTERN}')`,
          message: 'must be a duration such as 30s, 5m, 1h or 1h30m',
        }),
      }),
    ),
    match: Type.Optional(MatchSpecSchema),
    actions: Type.Optional(Type.Array(actionSchema, { minItems: 1, maxItems: 32, description: 'Run in order; or use escalation instead.' })),
    escalation: Type.Optional(escalationSchema(actionSchema)),
    notifiers: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 63 }), {
        maxItems: 16,
        description: "Added to the operator's default notifiers.",
      }),
    ),
  }, validations(ACTIONS_OR_ESCALATION_RULE));

/** The spec of a TalonRule. */
export const TalonRuleSpecSchema = ruleSpecSchema(RuleActionSchema);
/** The spec of a ClusterTalonRule: a TalonRule's, with references to ClusterTalonActions only. */
export const ClusterTalonRuleSpecSchema = ruleSpecSchema(ClusterRuleActionSchema);
export type TalonRuleSpec = Static<typeof TalonRuleSpecSchema>;

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

/**
 * The longest text of each string the operator writes to status (the CRDs' maxLength, from
 * these): what an alert or a rule brings is clipped to it with an ellipsis (lib/clip.ts), so
 * no alert can make a status write fail.
 */
export const STATUS_MAX_LENGTH = Object.freeze({
  conditionReason: 1024,
  conditionMessage: 32768,
  falcoRule: 256,
  targetKind: 63,
  targetNamespace: 253,
  targetName: 253,
  action: 253,
  actionner: 128,
  reason: 128,
  message: 1024,
  artifactOutput: 128,
  artifactLocation: 2048,
});

export const ConditionSchema = Strict({
  type: Type.String({ minLength: 1, maxLength: 316 }),
  status: StringEnum(CONDITION_STATUSES),
  reason: Type.String({ minLength: 1, maxLength: STATUS_MAX_LENGTH.conditionReason }),
  message: Type.String({ maxLength: STATUS_MAX_LENGTH.conditionMessage }),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  lastTransitionTime: Type.String({ format: 'date-time' }),
});
export type Condition = Static<typeof ConditionSchema>;

const Conditions = Type.Array(ConditionSchema, {
  maxItems: 8,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

export const OUTCOME_RESULTS = ['Succeeded', 'Failed', 'Skipped', 'DryRun'] as const;
export type OutcomeResult = (typeof OUTCOME_RESULTS)[number];

export const OutcomeTargetSchema = Strict({
  kind: Type.String({ maxLength: STATUS_MAX_LENGTH.targetKind }),
  namespace: Type.Optional(Type.String({ maxLength: STATUS_MAX_LENGTH.targetNamespace })),
  name: Type.String({ maxLength: STATUS_MAX_LENGTH.targetName }),
});

export const LastOutcomeSchema = Strict({
  time: Type.String({ format: 'date-time' }),
  falcoRule: Type.String({ maxLength: STATUS_MAX_LENGTH.falcoRule, description: "The alert's Falco rule, clipped with an ellipsis." }),
  target: Type.Optional(OutcomeTargetSchema),
  action: Type.String({ maxLength: STATUS_MAX_LENGTH.action }),
  actionner: Type.Optional(Type.String({ maxLength: STATUS_MAX_LENGTH.actionner })),
  result: StringEnum(OUTCOME_RESULTS),
  reason: Type.Optional(Type.String({ maxLength: STATUS_MAX_LENGTH.reason })),
  message: Type.Optional(Type.String({ maxLength: STATUS_MAX_LENGTH.message })),
  escalation: Type.Optional(
    Strict({
      step: Type.Integer({ minimum: 1, description: 'The escalation step this action belongs to (1 = the first).' }),
      count: Type.Integer({ minimum: 1, description: 'Matches for the target in the window when the step was reached.' }),
    }),
  ),
  artifact: Type.Optional(
    Strict({
      output: Type.String({ maxLength: STATUS_MAX_LENGTH.artifactOutput, description: "The output that stored it, e.g. 'aws:s3'." }),
      location: Type.String({ maxLength: STATUS_MAX_LENGTH.artifactLocation, description: 'Where: a path, or an s3:// or gs:// URL.' }),
      bytes: Type.Integer({ minimum: 0 }),
      truncated: Type.Boolean({ description: 'The artifact reached its size cap and was cut.' }),
    }),
  ),
});
export type LastOutcome = Static<typeof LastOutcomeSchema>;

/** The most outcomes `status.lastOutcomes` holds (newest first). */
export const MAX_LAST_OUTCOMES = 10;

const Counter = () => Type.Integer({ minimum: 0 });

export const ResultCountsSchema = Strict({
  succeeded: Type.Optional(Counter()),
  failed: Type.Optional(Counter()),
  skipped: Type.Optional(Counter()),
  dryRun: Type.Optional(Counter()),
});
export type ResultCounts = Static<typeof ResultCountsSchema>;

/** The most targets `status.escalation.targets` lists (the hottest: highest count first). */
export const MAX_ESCALATION_TARGETS = 10;

export const EscalationTargetSchema = Strict({
  target: OutcomeTargetSchema,
  count: Type.Integer({ minimum: 0, description: 'Matches for the target in its current window.' }),
  step: Type.Integer({ minimum: 0, description: 'The highest step run in the window (0 = none yet).' }),
  windowEnds: Type.String({ format: 'date-time', description: 'When the window closes and counting starts over.' }),
});
export type EscalationTarget = Static<typeof EscalationTargetSchema>;

export const TalonRuleStatusSchema = Strict({
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(Conditions),
  matchedEvents: Type.Optional(Counter()),
  suppressedEvents: Type.Optional(Counter()),
  results: Type.Optional(ResultCountsSchema),
  lastMatchedTime: Type.Optional(Type.String({ format: 'date-time' })),
  lastOutcomes: Type.Optional(Type.Array(LastOutcomeSchema, { maxItems: MAX_LAST_OUTCOMES })),
  escalation: Type.Optional(
    Strict(
      {
        targets: Type.Array(EscalationTargetSchema, { maxItems: MAX_ESCALATION_TARGETS }),
      },
      { description: "An escalation rule's ladder per target as this replica counts it: the hottest targets, highest count first." },
    ),
  ),
});
export type TalonRuleStatus = Static<typeof TalonRuleStatusSchema>;

export const TalonActionStatusSchema = Strict({
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(Conditions),
});
export type TalonActionStatus = Static<typeof TalonActionStatusSchema>;

/** A custom resource as read from the API (metadata as the client returns it). */
export interface CustomResource<Spec, Status> {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: Spec;
  status?: Status;
}
export type TalonRule = CustomResource<TalonRuleSpec, TalonRuleStatus>;
export type TalonAction = CustomResource<TalonActionSpec, TalonActionStatus>;
/** Cluster-scoped: the same spec and status as a TalonRule; `metadata.namespace` is absent. */
export type ClusterTalonRule = CustomResource<TalonRuleSpec, TalonRuleStatus>;
/** Cluster-scoped: the same spec and status as a TalonAction; `metadata.namespace` is absent. */
export type ClusterTalonAction = CustomResource<TalonActionSpec, TalonActionStatus>;

/** What `crd.ts` needs to know about each kind. */
export interface KindSchemas {
  readonly kind: string;
  readonly scope: 'Namespaced' | 'Cluster';
  readonly plural: string;
  readonly singular: string;
  readonly shortName: string;
  readonly spec: TSchema;
  readonly status: TSchema;
}

export const TALON_RULE_SCHEMAS: KindSchemas = {
  kind: TALON_RULE_KIND,
  scope: 'Namespaced',
  plural: TALON_RULE_PLURAL,
  singular: 'talonrule',
  shortName: 'trule',
  spec: TalonRuleSpecSchema,
  status: TalonRuleStatusSchema,
};

export const TALON_ACTION_SCHEMAS: KindSchemas = {
  kind: TALON_ACTION_KIND,
  scope: 'Namespaced',
  plural: TALON_ACTION_PLURAL,
  singular: 'talonaction',
  shortName: 'taction',
  spec: TalonActionSpecSchema,
  status: TalonActionStatusSchema,
};

export const CLUSTER_TALON_RULE_SCHEMAS: KindSchemas = {
  kind: CLUSTER_TALON_RULE_KIND,
  scope: 'Cluster',
  plural: CLUSTER_TALON_RULE_PLURAL,
  singular: 'clustertalonrule',
  shortName: 'ctrule',
  spec: ClusterTalonRuleSpecSchema,
  status: TalonRuleStatusSchema,
};

export const CLUSTER_TALON_ACTION_SCHEMAS: KindSchemas = {
  kind: CLUSTER_TALON_ACTION_KIND,
  scope: 'Cluster',
  plural: CLUSTER_TALON_ACTION_PLURAL,
  singular: 'clustertalonaction',
  shortName: 'ctaction',
  spec: TalonActionSpecSchema,
  status: TalonActionStatusSchema,
};

/** Every kind with a CRD, in the order of `crds/`. */
export const ALL_KIND_SCHEMAS: readonly KindSchemas[] = [
  TALON_RULE_SCHEMAS,
  TALON_ACTION_SCHEMAS,
  CLUSTER_TALON_RULE_SCHEMAS,
  CLUSTER_TALON_ACTION_SCHEMAS,
];

/** The plural (resource name) of each kind. */
export const PLURAL_OF: Readonly<Record<RuleKind | ActionKind, string>> = {
  [TALON_RULE_KIND]: TALON_RULE_PLURAL,
  [TALON_ACTION_KIND]: TALON_ACTION_PLURAL,
  [CLUSTER_TALON_RULE_KIND]: CLUSTER_TALON_RULE_PLURAL,
  [CLUSTER_TALON_ACTION_KIND]: CLUSTER_TALON_ACTION_PLURAL,
};
