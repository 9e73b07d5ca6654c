/**
 * The approval gate (docs/approvals.md): what the dispatcher does instead of running an action
 * marked `approval: {required: true}`, and how an approved TalonApproval becomes a run again.
 *
 * - `ApprovalGate.request` (called by the dispatcher after the guards and the precheck passed,
 *   in place of the budget and the run) creates one TalonApproval recording exactly what would
 *   run — the actionner and its resolved parameters, the target (with its uid when it is a pod
 *   or a node), the alert, the expiry — or finds the one still pending for the same (rule,
 *   action, target) and creates nothing. Its verdict becomes the gated action's outcome:
 *   Skipped/ApprovalRequested, Skipped/ApprovalPending, Failed/ApprovalNotCreated.
 * - `ApprovalExecutor` is what the approval controller calls once a person decided: approved
 *   → the recorded parameters, re-validated against the actionner's schema, run through the
 *   dispatcher (guards, precheck, budget and retries again, on the alert as recorded);
 *   rejected/expired → the Skipped outcome that says so, recorded by the dispatcher.
 *
 * Deduplication is per process: a pending approval is found in the approvals cache (the
 * controller's informer) or, until the cache shows it, in this gate's own memory. Replicas
 * do not coordinate yet (the resilience issue adds that); two replicas may each create one.
 */
import { createHash } from 'node:crypto';
import {
  APPROVAL_KEY_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  TALON_APPROVAL_KIND,
  TALON_APPROVAL_PLURAL,
  type TalonApproval,
  type TalonApprovalSpec,
} from '../api/v1alpha1/approval.js';
import { API_VERSION, GROUP, VERSION } from '../api/v1alpha1/types.js';
import type { Outcome, OutcomeReason, OutcomeResult, OutcomeTarget } from '../api/v1alpha1/outcome.js';
import type { FalcoEvent, FieldValue } from '../falco/event.js';
import { priorityLevel } from '../falco/event.js';
import type { CompiledAction, CompiledRule } from '../rules/types.js';
import { fromKubeError } from '../errors.js';
import { silentLog, type LogPort } from '../lib/log.js';

export interface ApprovalVerdict {
  readonly result: OutcomeResult;
  readonly reason: OutcomeReason;
  readonly message: string;
}

/** What the dispatcher hands the gate: the alert, the rule and action, and the action's resolved target. */
export interface ApprovalRequest {
  readonly ev: FalcoEvent;
  readonly rule: CompiledRule;
  readonly action: CompiledAction;
  readonly target: OutcomeTarget;
}

/** The dispatcher's port. Never throws: a failure is a Failed/ApprovalNotCreated verdict. */
export interface ApprovalGate {
  request(req: ApprovalRequest): Promise<ApprovalVerdict>;
}

/** The API calls the gate makes. */
export interface ApprovalStorePort {
  /** Creates the TalonApproval (metadata.generateName set) and returns it as stored. */
  create(namespace: string, body: TalonApproval): Promise<TalonApproval>;
  /** The uid of a Pod or Node, undefined when it cannot be read. */
  uidOf(target: OutcomeTarget): Promise<string | undefined>;
}

export interface KubeApprovalGateDeps {
  readonly store: ApprovalStorePort;
  /** The pending approval of a key in a namespace, from the approvals cache. */
  readonly findPending: (namespace: string, key: string) => TalonApproval | undefined;
  /** Whether the cache holds `namespace/name` (once it does, `findPending` speaks for it). */
  readonly cached: (namespace: string, name: string) => boolean;
  /** Where cluster rules' approvals go (config `approvalNamespace`). */
  readonly clusterNamespace: string;
  readonly now?: () => number;
  readonly log?: LogPort;
}

/** The dedup key of (rule, action, target): a label value (hex, 40 characters). */
export function approvalKey(rule: Pick<CompiledRule, 'key' | 'kind'>, action: string, target: OutcomeTarget): string {
  const text = [rule.kind, rule.key, action, target.kind, target.namespace ?? '', target.name].join('\u0000');
  return createHash('sha256').update(text).digest('hex').slice(0, 40);
}

/** Tenant rules' approvals live in the target's namespace (their rule's); cluster rules' in the configured one. */
export function approvalNamespace(rule: Pick<CompiledRule, 'scope' | 'namespace'>, target: OutcomeTarget, clusterNamespace: string): string {
  if (rule.scope === 'tenant') return target.namespace ?? rule.namespace;
  return clusterNamespace;
}

/** How long the gate trusts its own memory of an approval it created that the cache does not show yet. */
const CACHE_GRACE_MS = 60_000;
const MAX_OUTPUT = 16_384;
const MAX_FIELD_TEXT = 4_096;

/** A DNS-label-safe prefix for generateName: `<rule>-<action>-`. */
function namePrefix(rule: string, action: string): string {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const base = `${clean(rule)}-${clean(action)}`.slice(0, 52).replace(/-+$/, '');
  return `${base || 'approval'}-`;
}

/** Output fields as JSON values the API stores: big integers as decimal strings, overlong texts cut. */
function storableFields(fields: Readonly<Record<string, FieldValue>>): Record<string, unknown> {
  const conv = (v: FieldValue): unknown => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'string') return v.length > MAX_FIELD_TEXT ? v.slice(0, MAX_FIELD_TEXT) : v;
    if (Array.isArray(v)) return v.map(conv);
    return v;
  };
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, conv(v)]));
}

/** The TalonApproval the gate creates for a request (without its name: the API server generates it). */
export function approvalManifest(req: ApprovalRequest, opts: { namespace: string; key: string; expiresAt: string; targetUid?: string }): TalonApproval {
  const { ev, rule, action, target } = req;
  const spec: TalonApprovalSpec = {
    rule: { kind: rule.kind, name: rule.name, ...(rule.scope === 'tenant' ? { namespace: rule.namespace } : {}), uid: rule.uid },
    action: { name: action.name, actionner: action.actionner.info.name, parameters: structuredClone(action.params) as Record<string, unknown> },
    target: {
      kind: target.kind,
      ...(target.namespace !== undefined ? { namespace: target.namespace } : {}),
      name: target.name,
      ...(opts.targetUid !== undefined ? { uid: opts.targetUid } : {}),
    },
    alert: {
      rule: ev.rule,
      priority: ev.priority,
      output: ev.output.length > MAX_OUTPUT ? ev.output.slice(0, MAX_OUTPUT) : ev.output,
      time: ev.time,
      traceId: ev.traceId,
      source: ev.source,
      hostname: ev.hostname,
      ...(ev.tags.length > 0 ? { tags: [...ev.tags].slice(0, 64) } : {}),
      outputFields: storableFields(ev.outputFields),
    },
    expiresAt: opts.expiresAt,
  };
  return {
    apiVersion: API_VERSION,
    kind: TALON_APPROVAL_KIND,
    metadata: {
      generateName: namePrefix(rule.name, action.name),
      namespace: opts.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [APPROVAL_KEY_LABEL]: opts.key },
      // The rule owns its approvals: deleting it removes them, and the controller honours only
      // approvals owned by the very rule (uid) they name.
      ownerReferences: [{ apiVersion: API_VERSION, kind: rule.kind, name: rule.name, uid: rule.uid, controller: true }],
    },
    spec,
  };
}

const nameOf = (a: TalonApproval): string => `${a.metadata.namespace ?? ''}/${a.metadata.name ?? ''}`;

export class KubeApprovalGate implements ApprovalGate {
  private readonly deps: KubeApprovalGateDeps;
  private readonly now: () => number;
  private readonly log: LogPort;
  /** Approvals this gate created, by `namespace\0key`, until the cache speaks for them. */
  private readonly created = new Map<string, { readonly namespace: string; readonly name: string; readonly at: number }>();

  constructor(deps: KubeApprovalGateDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? silentLog;
  }

  async request(req: ApprovalRequest): Promise<ApprovalVerdict> {
    const { rule, action, target } = req;
    const namespace = approvalNamespace(rule, target, this.deps.clusterNamespace);
    const key = approvalKey(rule, action.name, target);
    const existing = this.pendingName(namespace, key);
    if (existing !== undefined) {
      return { result: 'Skipped', reason: 'ApprovalPending', message: `${action.actionner.info.name} waits for TalonApproval ${existing}, still pending for this rule, action and target: nothing ran` };
    }
    const expiresAt = new Date(this.now() + (action.approval?.expiresAfterMs ?? 0)).toISOString();
    try {
      const targetUid = await this.deps.store.uidOf(target);
      const body = approvalManifest(req, { namespace, key, expiresAt, ...(targetUid !== undefined ? { targetUid } : {}) });
      const stored = await this.deps.store.create(namespace, body);
      const name = stored.metadata.name ?? '';
      this.created.set(`${namespace}\u0000${key}`, { namespace, name, at: this.now() });
      this.log.info('approval requested', { rule: rule.key, action: action.name, approval: `${namespace}/${name}`, trace_id: req.ev.traceId });
      return {
        result: 'Skipped',
        reason: 'ApprovalRequested',
        message: `${action.actionner.info.name} needs approval: TalonApproval ${namespace}/${name} created (kubectl talon approve ${name} -n ${namespace}); it expires at ${expiresAt}`,
      };
    } catch (err) {
      const e = fromKubeError(err);
      return { result: 'Failed', reason: 'ApprovalNotCreated', message: `${action.actionner.info.name} needs approval but TalonApproval could not be created in ${namespace}: ${e.code}: ${e.message}` };
    }
  }

  /** `namespace/name` of the pending approval of `key`, if any. */
  private pendingName(namespace: string, key: string): string | undefined {
    const cached = this.deps.findPending(namespace, key);
    if (cached) return nameOf(cached);
    const mine = this.created.get(`${namespace}\u0000${key}`);
    if (mine === undefined) return undefined;
    // Once the cache holds it, the cache decides (it is no longer pending); unseen for too long, it is gone.
    if (this.deps.cached(mine.namespace, mine.name) || this.now() - mine.at > CACHE_GRACE_MS) {
      this.created.delete(`${namespace}\u0000${key}`);
      return undefined;
    }
    return `${mine.namespace}/${mine.name}`;
  }
}

/** The Kubernetes side of the gate. */
export function kubeApprovalStore(api: {
  custom: { createNamespacedCustomObject(p: { group: string; version: string; namespace: string; plural: string; body: object }): Promise<unknown> };
  core: { readNamespacedPod(p: { name: string; namespace: string }): Promise<{ metadata?: { uid?: string } }>; readNode(p: { name: string }): Promise<{ metadata?: { uid?: string } }> };
}): ApprovalStorePort {
  return {
    create: async (namespace, body) =>
      (await api.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: TALON_APPROVAL_PLURAL, body })) as TalonApproval,
    uidOf: async (t) => {
      try {
        if (t.kind === 'Pod' && t.namespace !== undefined) return (await api.core.readNamespacedPod({ name: t.name, namespace: t.namespace })).metadata?.uid;
        if (t.kind === 'Node') return (await api.core.readNode({ name: t.name })).metadata?.uid;
      } catch {
        // Unknown uid: the approval records the object by name only.
      }
      return undefined;
    },
  };
}

/** The alert as recorded in an approval, as the event the approved run sees (a new receive time). */
export function eventFromApproval(spec: TalonApprovalSpec, receivedAt: number): FalcoEvent {
  const a = spec.alert;
  return Object.freeze({
    rule: a.rule,
    priority: a.priority,
    priorityLevel: priorityLevel(a.priority),
    source: a.source,
    time: a.time,
    hostname: a.hostname,
    output: a.output,
    tags: Object.freeze([...(a.tags ?? [])]),
    outputFields: Object.freeze({ ...(a.outputFields as Record<string, FieldValue>) }),
    receivedAt,
    traceId: a.traceId,
  });
}

/** What the executor needs of the dispatcher. */
export interface ApprovedRunPort {
  runApproved(ev: FalcoEvent, rule: CompiledRule, action: CompiledAction): Promise<Outcome>;
  recordVerdict(ev: FalcoEvent, rule: CompiledRule, action: CompiledAction, target: OutcomeTarget, verdict: ApprovalVerdict): Outcome;
}

export interface ApprovalExecutorDeps {
  readonly dispatcher: ApprovedRunPort;
  /** The actionner registry's parameter validation. */
  readonly validateParams: (actionner: string, params: unknown, path: string) => { ok: true; params: Readonly<Record<string, unknown>> } | { ok: false; errors: readonly { message: string }[] };
  readonly clock?: () => number;
}

/** Why an approval cannot be honoured, or the action to run. */
export type ApprovedAction = { readonly ok: true; readonly action: CompiledAction } | { readonly ok: false; readonly message: string };

/**
 * Runs and concludes decided approvals for the approval controller (controller/approval-controller.ts).
 * The action run is the rule's action of the recorded name (its timeout, output and contexts),
 * with the recorded parameters; the actionner must be the one recorded. A rule suspended since
 * (its kill switch) runs nothing: Skipped/Suspended.
 */
export class ApprovalExecutor {
  private readonly deps: ApprovalExecutorDeps;
  private readonly clock: () => number;

  constructor(deps: ApprovalExecutorDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? (() => performance.now());
  }

  /** The action an approval asks for, as it would run now, or why it cannot. */
  approvedAction(approval: TalonApproval, rule: CompiledRule): ApprovedAction {
    const want = approval.spec.action;
    const current = rule.actions.find((a) => a.name === want.name);
    if (current === undefined) return { ok: false, message: `the rule no longer has an action named '${want.name}'` };
    if (current.actionner.info.name !== want.actionner) {
      return { ok: false, message: `the rule's action '${want.name}' now uses ${current.actionner.info.name}, not the approved ${want.actionner}` };
    }
    const checked = this.deps.validateParams(want.actionner, want.parameters, 'spec.action.parameters');
    if (!checked.ok) return { ok: false, message: `the approved parameters are no longer valid: ${checked.errors.map((e) => e.message).join('; ')}` };
    return { ok: true, action: Object.freeze({ ...current, params: checked.params }) };
  }

  /** Runs an approved request through the dispatcher; resolves with its outcome. */
  async execute(approval: TalonApproval, rule: CompiledRule): Promise<Outcome> {
    const ev = eventFromApproval(approval.spec, this.clock());
    const approved = this.approvedAction(approval, rule);
    if (approved.ok && rule.suspend) {
      const message = `TalonApproval ${nameOf(approval)} was approved but the rule is suspended (its kill switch): nothing ran`;
      return this.deps.dispatcher.recordVerdict(ev, rule, approved.action, targetOf(approval.spec), { result: 'Skipped', reason: 'Suspended', message });
    }
    if (!approved.ok) {
      const action = rule.actions.find((a) => a.name === approval.spec.action.name) ?? rule.actions[0]!;
      const message = `TalonApproval ${nameOf(approval)} was approved but cannot be honoured: ${approved.message}; nothing ran`;
      return this.deps.dispatcher.recordVerdict(ev, rule, { ...action, name: approval.spec.action.name }, targetOf(approval.spec), { result: 'Skipped', reason: 'InvalidParameters', message });
    }
    return this.deps.dispatcher.runApproved(ev, rule, approved.action);
  }

  /** Records the Skipped outcome of a rejected or expired approval. */
  conclude(approval: TalonApproval, rule: CompiledRule, reason: 'ApprovalRejected' | 'ApprovalExpired', message: string): Outcome {
    const ev = eventFromApproval(approval.spec, this.clock());
    const action = rule.actions.find((a) => a.name === approval.spec.action.name) ?? { ...rule.actions[0]!, name: approval.spec.action.name };
    return this.deps.dispatcher.recordVerdict(ev, rule, action, targetOf(approval.spec), { result: 'Skipped', reason, message });
  }
}

function targetOf(spec: TalonApprovalSpec): OutcomeTarget {
  const t = spec.target;
  return { kind: t.kind, ...(t.namespace !== undefined ? { namespace: t.namespace } : {}), name: t.name, ...(t.uid !== undefined ? { uid: t.uid } : {}) };
}
