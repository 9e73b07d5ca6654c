/**
 * TalonApproval (talon.dev/v1alpha1), the fifth kind (DESIGN.md §2, docs/approvals.md): what the
 * operator creates when an action marked `approval: {required: true}` would run. It records
 * exactly what would run (actionner and resolved parameters), on which object, why (the alert),
 * and until when a person may decide. A person decides by setting `spec.decision`
 * (`kubectl talon approve|reject`); the ValidatingAdmissionPolicy built here lets only users
 * granted the custom verb `approve` on `talonapprovals` do so, and only users granted `issue`
 * (the operator) create one. The recorded request is immutable (CEL transition rules).
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  ConditionSchema,
  GROUP,
  StringEnum,
  type CelValidation,
  type CustomResource,
  type KindSchemas,
} from './types.js';

export const TALON_APPROVAL_KIND = 'TalonApproval';
export const TALON_APPROVAL_PLURAL = 'talonapprovals';
/** The custom verb a person needs on `talonapprovals` to approve or reject (as CSRs' `approve` on signers). */
export const APPROVE_VERB = 'approve';
/** The custom verb needed to create a TalonApproval; only the operator's ClusterRole grants it. */
export const ISSUE_VERB = 'issue';
/** Label on every TalonApproval the operator creates. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'talon-operator';
/** Label holding the hash of (rule, action, target): one pending approval per key. */
export const APPROVAL_KEY_LABEL = 'talon.dev/approval-key';

export const APPROVAL_DECISIONS = ['Approved', 'Rejected'] as const;
export type ApprovalDecision = (typeof APPROVAL_DECISIONS)[number];
export const APPROVAL_PHASES = ['Pending', 'Approved', 'Rejected', 'Expired', 'Executed', 'Failed'] as const;
export type ApprovalPhase = (typeof APPROVAL_PHASES)[number];
/** Phases after which nothing more happens to an approval but its garbage collection. */
export const FINAL_PHASES: ReadonlySet<ApprovalPhase> = new Set(['Rejected', 'Expired', 'Executed', 'Failed']);

const Strict = <T extends Parameters<typeof Type.Object>[0]>(properties: T, options: Record<string, unknown> = {}) =>
  Type.Object(properties, { ...options, additionalProperties: false });
const FreeForm = (description: string) =>
  Type.Unsafe<Record<string, unknown>>({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });
const Name = (description: string) => Type.String({ maxLength: 253, description });
const immutable = (what: string): { 'x-kubernetes-validations': CelValidation[] } => ({
  'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: `${what} is immutable: it records what the operator asked for` }],
});

/** The recorded request, immutable; a decision, once made, is final. */
const SPEC_RULES: readonly CelValidation[] = [
  {
    rule: '!has(oldSelf.decision) || (has(self.decision) && self.decision == oldSelf.decision)',
    message: 'a decision, once made, cannot be changed or withdrawn',
  },
  {
    rule: '!has(oldSelf.decision) || (has(self.decisionReason) == has(oldSelf.decisionReason) && (!has(self.decisionReason) || self.decisionReason == oldSelf.decisionReason))',
    message: 'decisionReason cannot change once a decision is made',
  },
  { rule: '!has(self.decisionReason) || has(self.decision)', message: 'decisionReason goes with a decision' },
];

export const TalonApprovalSpecSchema = Strict(
  {
    rule: Strict(
      {
        kind: StringEnum(['TalonRule', 'ClusterTalonRule'] as const),
        name: Name('The rule whose action waits.'),
        namespace: Type.Optional(Name("The TalonRule's namespace; absent for a ClusterTalonRule.")),
        uid: Type.String({ maxLength: 128, description: 'The rule object the approval was asked for; a recreated rule does not inherit it.' }),
      },
      immutable('spec.rule'),
    ),
    action: Strict(
      {
        name: Name("The action's name within the rule."),
        actionner: Type.String({ maxLength: 63, description: 'category:name' }),
        parameters: FreeForm('The parameters as resolved (defaults applied, references merged); the run uses exactly these.'),
      },
      immutable('spec.action'),
    ),
    target: Strict(
      {
        kind: Type.String({ maxLength: 63 }),
        namespace: Type.Optional(Name('Absent for a cluster-scoped object.')),
        name: Name('The object the action acts on.'),
        uid: Type.Optional(Type.String({ maxLength: 128, description: 'When known: a replaced object (new uid) is not acted upon.' })),
      },
      immutable('spec.target'),
    ),
    alert: Strict(
      {
        rule: Type.String({ maxLength: 1024, description: 'The Falco rule.' }),
        priority: Type.String({ maxLength: 32 }),
        output: Type.String({ maxLength: 16384, description: "Falco's output text (cut at 16 KiB)." }),
        time: Type.String({ maxLength: 64, description: "The alert's time as Falco sent it." }),
        traceId: Type.String({ maxLength: 128, description: "The operator's trace id of the alert (logs, outcomes)." }),
        source: Type.String({ maxLength: 256 }),
        hostname: Type.String({ maxLength: 256 }),
        tags: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 64 })),
        outputFields: FreeForm("The alert's output fields, which the approved run sees as the original run would have (integers beyond 2^53 as strings)."),
      },
      immutable('spec.alert'),
    ),
    expiresAt: Type.String({
      format: 'date-time',
      description: 'Without a decision by then the approval expires: Skipped/ApprovalExpired, nothing runs.',
      ...immutable('spec.expiresAt'),
    }),
    decision: Type.Optional(StringEnum(APPROVAL_DECISIONS, { description: "A person's decision; needs the verb 'approve' on talonapprovals.talon.dev." })),
    decisionReason: Type.Optional(Type.String({ maxLength: 1024, description: 'Why, in the decider’s words.' })),
  },
  { 'x-kubernetes-validations': SPEC_RULES },
);
export type TalonApprovalSpec = Static<typeof TalonApprovalSpecSchema>;

export const ApprovalOutcomeSchema = Strict({
  time: Type.String({ format: 'date-time' }),
  result: Type.String({ maxLength: 32, description: 'Succeeded, Failed, Skipped or DryRun.' }),
  reason: Type.String({ maxLength: 128 }),
  message: Type.String({ maxLength: 4096 }),
});
export type ApprovalOutcome = Static<typeof ApprovalOutcomeSchema>;

export const TalonApprovalStatusSchema = Strict({
  phase: Type.Optional(StringEnum(APPROVAL_PHASES)),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, { maxItems: 8, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  ),
  outcome: Type.Optional(ApprovalOutcomeSchema),
  /** When the phase last changed: the retention period counts from a final phase's time. */
  phaseTime: Type.Optional(Type.String({ format: 'date-time' })),
});
export type TalonApprovalStatus = Static<typeof TalonApprovalStatusSchema>;
export type TalonApproval = CustomResource<TalonApprovalSpec, TalonApprovalStatus>;

export const TALON_APPROVAL_SCHEMAS: KindSchemas = {
  kind: TALON_APPROVAL_KIND,
  scope: 'Namespaced',
  plural: TALON_APPROVAL_PLURAL,
  singular: 'talonapproval',
  shortName: 'tapproval',
  spec: TalonApprovalSpecSchema,
  status: TalonApprovalStatusSchema,
};

export const APPROVAL_COLUMNS: readonly Record<string, unknown>[] = [
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Rule', type: 'string', jsonPath: '.spec.rule.name' },
  { name: 'Action', type: 'string', jsonPath: '.spec.action.name' },
  { name: 'Actionner', type: 'string', jsonPath: '.spec.action.actionner' },
  { name: 'Target', type: 'string', jsonPath: '.spec.target.name' },
  { name: 'Expires', type: 'string', jsonPath: '.spec.expiresAt' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  { name: 'Alert', type: 'string', jsonPath: '.spec.alert.rule', priority: 1 },
  { name: 'Reason', type: 'string', jsonPath: '.status.outcome.reason', priority: 1 },
];

export const APPROVAL_POLICY_NAME = `${TALON_APPROVAL_PLURAL}.${GROUP}`;

const authz = (verb: string, withName: boolean) =>
  `authorizer.group('${GROUP}').resource('${TALON_APPROVAL_PLURAL}').namespace(object.metadata.namespace)${withName ? '.name(object.metadata.name)' : ''}.check('${verb}').allowed()`;

/**
 * The ValidatingAdmissionPolicy and its binding, shipped with the CRDs: setting or changing
 * `spec.decision` needs the verb `approve` on the approval (a 403 names it); creating a
 * TalonApproval needs `issue`, which only the operator's ClusterRole grants, so a person cannot
 * forge a request that the operator would then honour. Status writes (a subresource) are not
 * matched.
 */
export function approvalAdmissionPolicy(): Record<string, unknown>[] {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: APPROVAL_POLICY_NAME },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [{ apiGroups: [GROUP], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [TALON_APPROVAL_PLURAL] }],
        },
        variables: [
          {
            name: 'decides',
            expression:
              "has(object.spec.decision) && (request.operation == 'CREATE' || !has(oldObject.spec.decision) || oldObject.spec.decision != object.spec.decision)",
          },
        ],
        validations: [
          {
            expression: `request.operation != 'CREATE' || ${authz(ISSUE_VERB, false)}`,
            messageExpression: `'only the talon-operator creates TalonApprovals: ' + request.userInfo.username + ' lacks the verb ${ISSUE_VERB} on ${TALON_APPROVAL_PLURAL}.${GROUP} in ' + object.metadata.namespace`,
            reason: 'Forbidden',
          },
          {
            expression: `!variables.decides || ${authz(APPROVE_VERB, true)}`,
            messageExpression: `request.userInfo.username + ' may not decide TalonApproval ' + object.metadata.namespace + '/' + object.metadata.name + ': deciding needs the verb ${APPROVE_VERB} on ${TALON_APPROVAL_PLURAL}.${GROUP}'`,
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: APPROVAL_POLICY_NAME },
      spec: { policyName: APPROVAL_POLICY_NAME, validationActions: ['Deny'] },
    },
  ];
}
