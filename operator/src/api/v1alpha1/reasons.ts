/**
 * The catalogue of outcome reasons: every CamelCase `reason` an action outcome (or a
 * suppressed match) can carry, with what it means and the results it appears with. It types
 * `ActionResult.reason` (actionners), the dispatcher's verdicts and `Outcome.reason`, so a
 * reason that is not here is a compile error; `docs/reasons.md` is generated from it
 * (`node dist/scripts/gen-reasons.js`).
 *
 * Adding a reason is one line below. Reasons are API: they reach Events, `status.lastOutcomes`,
 * notifiers and users' alerting, so a reason is never renamed or given a new meaning.
 * Condition reasons (Accepted, ResolvedRefs, Ready) are a separate catalogue, in conditions.ts.
 */
import { ERROR_CODES } from '../../errors.js';
import type { OutcomeResult } from './outcome.js';

/**
 * Who gives the reason: an actionner's run or precheck, the dispatcher (guards and run
 * control), the Kubernetes API (a TalonError code from `fromKubeError`, errors.ts), or the
 * dispatcher's suppression of a match (counted, no outcome).
 */
export type ReasonSource = 'actionner' | 'dispatcher' | 'api' | 'suppression';

export interface ReasonInfo {
  /** The results an outcome with this reason can have; empty for suppressions (no outcome). */
  readonly results: readonly OutcomeResult[];
  readonly by: readonly ReasonSource[];
  /** One line: what happened. */
  readonly meaning: string;
}

const S = 'Succeeded';
const F = 'Failed';
const K = 'Skipped';

export const OUTCOME_REASONS = {
  // --- actionner results ------------------------------------------------------------------
  Terminated: { results: [S], by: ['actionner'], meaning: 'kubernetes:terminate deleted the pod.' },
  Deleted: { results: [S], by: ['actionner'], meaning: 'kubernetes:delete deleted the audited object.' },
  AlreadyGone: { results: [S], by: ['actionner'], meaning: 'The pod or object to remove no longer existed: nothing left to do.' },
  Labeled: { results: [S], by: ['actionner'], meaning: 'kubernetes:label set or removed labels on the pod or its node.' },
  Annotated: { results: [S], by: ['actionner'], meaning: 'kubernetes:annotation set or removed annotations on the pod or its node.' },
  Isolated: { results: [S], by: ['actionner'], meaning: 'kubernetes:networkpolicy quarantined the pod (label + NetworkPolicy selecting only it).' },
  EgressDenied: { results: [S], by: ['actionner'], meaning: "calico:networkpolicy or cilium:networkpolicy denied the pod's egress to the alert's remote IP (policy created, merged or unchanged)." },
  InvalidRemoteIP: { results: [K], by: ['actionner'], meaning: 'Neither fd.rip nor fd.sip of the alert is an IP address: no egress to deny.' },
  Cordoned: { results: [S], by: ['actionner'], meaning: "kubernetes:cordon marked the pod's node unschedulable." },
  AlreadyCordoned: { results: [S], by: ['actionner'], meaning: "The pod's node was already cordoned." },
  Drained: { results: [S], by: ['actionner'], meaning: "kubernetes:drain cordoned the pod's node and evicted its pods." },
  EvictionIncomplete: { results: [F], by: ['actionner'], meaning: 'The node is cordoned but some pods could not be evicted (disruption budgets, API errors).' },
  Captured: { results: [S], by: ['actionner'], meaning: 'kubernetes:tcpdump or kubernetes:sysdig captured for its duration and streamed the capture to the output.' },
  CaptureNotStarted: { results: [F], by: ['actionner'], meaning: 'The capture container (ephemeral container or Job pod) did not run within startTimeoutSeconds, or could not start (image pull, admission); nothing was captured.' },
  CaptureFailed: { results: [F], by: ['actionner'], meaning: 'The capture container ran but the capture command could not be run or exited with an error; nothing was stored.' },
  ContainerNotFound: { results: [F, K], by: ['actionner'], meaning: "The pod has no container of the name the action gives (or no container at all): exec, script, log and download fail, tcpdump skips." },
  PodReplaced: { results: [K], by: ['actionner'], meaning: "The alert's pod was replaced (new uid or container); the replacement is left alone." },
  MinHealthyReplicas: { results: [K], by: ['actionner'], meaning: "Terminating the pod would leave its workload below minHealthyReplicas." },
  IgnoredDaemonSet: { results: [K], by: ['actionner'], meaning: 'The pod belongs to a DaemonSet and ignoreDaemonSets is set.' },
  IgnoredStatefulSet: { results: [K], by: ['actionner'], meaning: 'The pod belongs to a StatefulSet and ignoreStatefulSets is set.' },
  IgnoredStandalonePod: { results: [K], by: ['actionner'], meaning: 'The pod has no owner and ignoreStandalonePods is set.' },
  UnsupportedResource: { results: [K], by: ['actionner'], meaning: 'kubernetes:delete does not delete this kind of resource.' },
  PodNotFound: { results: [K], by: ['actionner'], meaning: "The alert's pod does not exist (any more)." },
  NodeNotFound: { results: [K], by: ['actionner'], meaning: "The pod's node does not exist (any more)." },
  PodNotScheduled: { results: [K], by: ['actionner'], meaning: 'The pod is not on a node, so there is no node to cordon, drain, label or annotate.' },
  InvalidParameters: { results: [K], by: ['actionner'], meaning: "A parameter passed the schema but cannot be used (e.g. a malformed CIDR, a ttl past the longest duration)." },
  Executed: { results: [S], by: ['actionner'], meaning: 'kubernetes:exec or kubernetes:script ran and exited 0 in every chosen container; the message has its output.' },
  CommandFailed: { results: [F], by: ['actionner'], meaning: 'The command or script exited non-zero or could not run in a container; the message has the exit code and output. Never retried.' },
  CommandTimeout: { results: [F], by: ['actionner'], meaning: "The command did not finish within its timeoutSeconds; the session was closed and the message has what it printed." },
  LogCollected: { results: [S], by: ['actionner'], meaning: "kubernetes:log read the container's log: to the output, or an excerpt in the message." },
  Downloaded: { results: [S], by: ['actionner'], meaning: 'kubernetes:download read the file out of the container and handed it to the output.' },
  Invoked: { results: [S], by: ['actionner'], meaning: 'aws:lambda or gcp:function invoked the function, which succeeded; the message has the status and the (capped) response.' },
  FunctionError: { results: [F], by: ['actionner'], meaning: 'The invoked function ran and reported an error (Lambda FunctionError); not retried.' },
  InvokeFailed: { results: [F], by: ['actionner'], meaning: 'The function could not be invoked or answered an error status (the message has it); throttling (429) and 5xx are retried.' },
  DownloadFailed: { results: [F], by: ['actionner'], meaning: 'kubernetes:download could not read the file (cat failed: no such file, permission denied, no cat in the image).' },
  Reverted: { results: [S], by: ['actionner'], meaning: 'A change made with revertAfter was undone (its time came, or kubectl talon revert asked): the previous values are back, the created policy is gone.' },
  RevertLeftAlone: { results: [K], by: ['actionner'], meaning: 'A change due to be undone had been changed again by someone else since: it is left as it is.' },
  MissingFields: { results: [K], by: ['actionner', 'dispatcher'], meaning: 'The alert lacks the output fields the actionner needs (e.g. k8s.pod.name and k8s.ns.name).' },

  // --- dispatcher verdicts ----------------------------------------------------------------
  Suspended: { results: [K], by: ['dispatcher'], meaning: 'The rule is suspended: the match is counted, no action runs.' },
  DryRun: { results: ['DryRun'], by: ['dispatcher'], meaning: 'The rule or the operator is in dry-run mode: the outcome says what would have been done.' },
  OutOfScope: { results: [K], by: ['dispatcher'], meaning: "A tenant rule's action would act outside the rule's namespace, or beyond what tenant rules may do." },
  ProtectedNamespace: { results: [K], by: ['dispatcher'], meaning: 'The target is in a protected namespace, which is never acted upon.' },
  SelfProtection: { results: [K], by: ['dispatcher'], meaning: "The target is the operator's own pod, ClusterRole or ClusterRoleBinding." },
  ProtectedObject: { results: [K], by: ['dispatcher'], meaning: 'The target is a system: ClusterRole/ClusterRoleBinding or a bootstrap role (cluster-admin, admin, edit, view), never changed whatever a rule says.' },
  BudgetExceeded: { results: [K], by: ['dispatcher'], meaning: 'The cluster-wide budget of destructive actions per minute is spent (Warning Event).' },
  CostLimit: { results: [F], by: ['dispatcher'], meaning: "The rule's CEL condition exceeded its cost limit on this alert and was aborted: the rule's actions did not run (counted in talon_cel_errors_total)." },
  QueueFull: { results: [K], by: ['dispatcher'], meaning: "The work queue is full: none of the rule's actions ran (Warning Event)." },
  ShuttingDown: { results: [K], by: ['dispatcher'], meaning: "The operator is stopping: none of the rule's actions ran." },
  ClaimFailed: { results: [F], by: ['dispatcher'], meaning: "Several replicas: the cluster-wide claim could not be decided (API failure, or shutdown while waiting): none of the rule's actions ran." },
  ArtifactNotStored: { results: [F], by: ['dispatcher'], meaning: "The action ran but its output could not store the artifact (the message says why and what the action did)." },
  PrecheckError: { results: [F], by: ['dispatcher'], meaning: "The actionner's precheck threw (a bug in the actionner)." },
  Timeout: { results: [F], by: ['dispatcher'], meaning: "The action, retries included, did not finish within its timeout." },
  NotRun: { results: [F], by: ['dispatcher'], meaning: 'The action ended before its first attempt started.' },
  Aborted: { results: [F], by: ['dispatcher', 'actionner', 'api'], meaning: 'The action was interrupted (the operator is stopping, or the call was cancelled).' },

  // --- approval gate (docs/approvals.md) ----------------------------------------------------
  ApprovalRequested: { results: [K], by: ['dispatcher'], meaning: 'The action needs approval: a TalonApproval was created (the message names it); nothing ran yet.' },
  ApprovalPending: { results: [K], by: ['dispatcher'], meaning: 'The action needs approval and a TalonApproval for the same rule, action and target is already pending: nothing ran, no second approval.' },
  ApprovalRejected: { results: [K], by: ['dispatcher'], meaning: 'A person rejected the TalonApproval: the action never ran.' },
  ApprovalExpired: { results: [K], by: ['dispatcher'], meaning: 'Nobody decided the TalonApproval before its expiresAt: the action never ran.' },
  ApprovalNotCreated: { results: [F], by: ['dispatcher'], meaning: 'The action needs approval but its TalonApproval could not be created (the message has the API error); nothing ran.' },

  // --- Kubernetes API errors (errors.ts fromKubeError), carried by failed runs -------------
  BadRequest: { results: [F], by: ['api'], meaning: 'The API server refused the request as malformed (HTTP 400).' },
  Unauthorized: { results: [F], by: ['api'], meaning: "The operator's credentials were refused (HTTP 401)." },
  Forbidden: { results: [F], by: ['api'], meaning: 'RBAC forbids the call (HTTP 403); the message names the missing verb and resource.' },
  NotFound: { results: [F, K], by: ['api', 'actionner'], meaning: 'The object is gone (HTTP 404); label and annotation skip when their pod or node is gone.' },
  MethodNotAllowed: { results: [F], by: ['api'], meaning: 'The API server does not allow this method on the resource (HTTP 405).' },
  Conflict: { results: [F], by: ['api'], meaning: 'The object changed meanwhile (HTTP 409); retried, then given up.' },
  Gone: { results: [F], by: ['api'], meaning: 'The resource version is too old (HTTP 410); retried, then given up.' },
  UnsupportedMediaType: { results: [F], by: ['api'], meaning: 'The API server refused the patch or body type (HTTP 415).' },
  Invalid: { results: [F], by: ['api'], meaning: 'The API server rejected the object as invalid (HTTP 422).' },
  TooManyRequests: { results: [F], by: ['api'], meaning: 'The API server throttled the call or a disruption budget refused it (HTTP 429); retried, then given up.' },
  ServerError: { results: [F], by: ['api'], meaning: 'The API server failed (HTTP 5xx); retried, then given up.' },
  ClientError: { results: [F], by: ['api'], meaning: 'The API server refused the call with another 4xx status.' },
  NetworkError: { results: [F], by: ['api'], meaning: 'The API server could not be reached (connection refused, reset, timed out, DNS); retried, then given up.' },
  Unknown: { results: [F], by: ['api'], meaning: 'The actionner threw something that is not an API error (a bug in the actionner).' },

  // --- suppressions: a match that produced no action run (counted in status, no outcome) --
  Cooldown: { results: [], by: ['suppression'], meaning: 'The same rule acted on the same target within its cooldown window.' },
  Merged: { results: [], by: ['suppression'], meaning: 'A work item of the same rule and target was still pending; the match was merged into it.' },
  Claimed: { results: [], by: ['suppression'], meaning: 'Several replicas: a run of the same rule on the same target holds, or held within its window, the cluster-wide claim (docs/replicas.md).' },
  EscalationWait: { results: [], by: ['suppression'], meaning: "An escalation rule matched but the count of matches for the target reached no step that has not run in the window: counted toward the next step." },
} as const satisfies Readonly<Record<string, ReasonInfo>>;

/** Every reason an outcome or a suppression can carry. */
export type OutcomeReason = keyof typeof OUTCOME_REASONS;

/** The reasons given by `source`. */
export type ReasonBy<Source extends ReasonSource> = {
  [R in OutcomeReason]: Source extends (typeof OUTCOME_REASONS)[R]['by'][number] ? R : never;
}[OutcomeReason];

/** Why a match produced no action run: cooldown window, merged into a pending item, claimed cluster-wide by another run. */
export type SuppressReason = ReasonBy<'suppression'>;

/**
 * Every TalonError code, as a reason: failed runs carry the code of what was thrown. This
 * assignment fails to compile when errors.ts gains a code the catalogue lacks.
 */
export const ERROR_REASONS: readonly OutcomeReason[] = ERROR_CODES;

export function isOutcomeReason(text: string): text is OutcomeReason {
  return Object.hasOwn(OUTCOME_REASONS, text);
}

/** The catalogue as rows, in catalogue order (for docs and tests). */
export function reasonRows(): { readonly reason: OutcomeReason; readonly info: ReasonInfo }[] {
  return (Object.keys(OUTCOME_REASONS) as OutcomeReason[]).map((reason) => ({ reason, info: OUTCOME_REASONS[reason] }));
}
