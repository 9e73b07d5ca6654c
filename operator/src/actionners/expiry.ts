/**
 * The one expiry and revert mechanism (DESIGN.md §4 "Side effects have a lifecycle";
 * docs/revert.md). It undoes two kinds of changes, both recorded on the Kubernetes objects
 * themselves so that a restarted operator (or another replica) finds them:
 *
 * - objects actions CREATE with a lifetime (quarantine and CNI policies, `ttl` or
 *   `revertAfter`): described below, removed through their kind's ExpiryHandler;
 * - changes actions make to EXISTING objects with `revertAfter` (labels, annotations,
 *   cordon): revert records on pods and nodes (revert.ts), undone through `changes`.
 *
 * Each undo is recorded as an outcome of the rule and action that made the change (`record`:
 * status, Events, notifiers) — reason Reverted, or RevertLeftAlone when someone changed the
 * value since — when the object says who made it (`talon.dev/made-by`, or the record).
 *
 * An actionner that creates such objects declares an
 * `ExpiryHandler` for their kind (`Actionner.expiry`): how to list the objects the operator
 * made (`app.kubernetes.io/managed-by: talon-operator`) and how to remove one and undo what
 * it did. Objects carry `talon.dev/expires-at` (RFC 3339); the sweeper removes those whose
 * time has passed. Objects without the annotation never expire here. Idempotent: several
 * replicas may sweep at once (a 404 is success). Later policy actionners (Calico, Cilium)
 * add a handler and nothing else.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { fromKubeError } from '../errors.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { Periodic } from '../lib/periodic.js';
import { EXPIRES_AT_ANNOTATION } from './kubernetes/common.js';
import type { KubeClients, ObjectRef } from './types.js';
import { MADE_BY_ANNOTATION, parseMadeBy, undoMessage, undoOutcome, undoPatch, type ChangedKindPort } from './revert.js';

/** Set on a created object by `kubectl talon revert` together with an expiry of now: the removal was asked for. */
export const REVERT_REQUESTED_ANNOTATION = 'talon.dev/revert-requested';

export interface ExpiryHandler {
  /** The kind of object, e.g. `NetworkPolicy`; one handler per kind. */
  readonly kind: string;
  /** The objects of this kind the operator created, in every namespace. */
  list(kube: KubeClients, signal?: AbortSignal): Promise<readonly KubernetesObject[]>;
  /**
   * Removes one expired object and undoes its effect; returns the `namespace/name` of other
   * objects it released (e.g. pods whose quarantine label it removed). A 404 of the object
   * itself must count as removed; other failures throw.
   */
  remove(kube: KubeClients, obj: KubernetesObject, signal?: AbortSignal): Promise<readonly string[]>;
}

export interface ExpirySweeperDeps {
  readonly kube: KubeClients;
  readonly handlers: readonly ExpiryHandler[];
  /** The kinds whose changes are recorded on themselves (revert.ts CHANGED_KINDS); absent: none. */
  readonly changes?: readonly ChangedKindPort[];
  /** Records the outcome of each undo (the dispatcher's outcome sink); absent: undos are only logged. */
  readonly record?: (outcome: Outcome) => void;
  /** Wall clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly log?: LogPort;
}

export interface SweepResult {
  /** `Kind namespace/name` of the objects removed. */
  readonly deleted: readonly string[];
  /** `namespace/name` of the objects released by the removals. */
  readonly released: readonly string[];
  /** `Kind namespace/name` of the objects whose recorded changes were undone. */
  readonly reverted: readonly string[];
  readonly errors: number;
}

/** When an object expires: ms since the epoch, or undefined when it never does. */
export function expiresAt(obj: KubernetesObject): number | undefined {
  const t = Date.parse(obj.metadata?.annotations?.[EXPIRES_AT_ANNOTATION] ?? '');
  return Number.isNaN(t) ? undefined : t;
}

export class ExpirySweeper {
  private readonly deps: ExpirySweeperDeps;
  private readonly now: () => number;
  private readonly log: LogPort;
  private readonly periodic = new Periodic(() => this.sweep());
  private running: Promise<SweepResult> | undefined;

  constructor(deps: ExpirySweeperDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? silentLog;
    const kinds = deps.handlers.map((h) => h.kind);
    const dup = kinds.find((k, i) => kinds.indexOf(k) !== i);
    if (dup !== undefined) throw new Error(`two expiry handlers for kind ${dup}`);
  }

  /** One pass over every handler; concurrent calls share it. Never throws: failures are logged and counted. */
  sweep(signal?: AbortSignal): Promise<SweepResult> {
    this.running ??= this.sweepOnce(signal).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(intervalMs: number): void {
    this.periodic.start(intervalMs);
  }

  stop(): void {
    this.periodic.stop();
  }

  private async sweepOnce(signal?: AbortSignal): Promise<SweepResult> {
    const deleted: string[] = [];
    const released: string[] = [];
    let errors = 0;
    const now = this.now();
    for (const h of this.deps.handlers) {
      let objects: readonly KubernetesObject[];
      try {
        objects = await h.list(this.deps.kube, signal);
      } catch (err) {
        errors += 1;
        this.log.warn('expiry sweep list failed', { kind: h.kind, error: fromKubeError(err).message });
        continue;
      }
      for (const obj of objects) {
        const at = expiresAt(obj);
        if (at === undefined || at > now) continue;
        const ref = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
        try {
          const freed = await h.remove(this.deps.kube, obj, signal);
          released.push(...freed);
          deleted.push(`${h.kind} ${ref}`);
          this.recordRemoval(h.kind, obj, at, freed, now);
        } catch (err) {
          errors += 1;
          this.log.warn('expiry sweep remove failed', { kind: h.kind, object: ref, error: fromKubeError(err).message });
        }
      }
    }
    const reverted: string[] = [];
    for (const port of this.deps.changes ?? []) errors += await this.undoChanges(port, now, reverted, signal);
    if (deleted.length > 0) this.log.info('expired objects removed', { objects: deleted, released });
    if (reverted.length > 0) this.log.info('recorded changes reverted', { objects: reverted });
    return { deleted, released, reverted, errors };
  }

  /** The outcome of removing a created object, when it says who made it; its target is the pod that owns it. */
  private recordRemoval(kind: string, obj: KubernetesObject, at: number, released: readonly string[], now: number): void {
    const who = parseMadeBy(obj.metadata?.annotations?.[MADE_BY_ANNOTATION]);
    if (who === undefined || this.deps.record === undefined) return;
    const ns = obj.metadata?.namespace ?? '';
    const owner = obj.metadata?.ownerReferences?.find((o) => o.kind === 'Pod');
    const self: ObjectRef = { ...(obj.apiVersion ? { apiVersion: obj.apiVersion } : {}), kind, namespace: ns, name: obj.metadata?.name ?? '' };
    const target: ObjectRef = owner ? { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: owner.name, ...(owner.uid ? { uid: owner.uid } : {}) } : self;
    const when = obj.metadata?.annotations?.[REVERT_REQUESTED_ANNOTATION] !== undefined ? 'on demand (kubectl talon revert)' : `at its expiry ${new Date(at).toISOString()}`;
    const freed = released.length > 0 ? `; quarantine label removed from ${released.join(', ')}` : '';
    this.emit(undoOutcome(who, target, 'Succeeded', 'Reverted', `reverted ${when}: ${kind} '${self.name}' in namespace '${ns}' removed${freed}`, [self], now));
  }

  /** Undoes the due records on the objects of one kind; returns the number of failures. */
  private async undoChanges(port: ChangedKindPort, now: number, reverted: string[], signal?: AbortSignal): Promise<number> {
    let objects: readonly KubernetesObject[];
    try {
      objects = await port.list(this.deps.kube, signal);
    } catch (err) {
      const e = fromKubeError(err);
      // 403: the RBAC of the actionners that record changes on this kind is switched off; nothing of ours to undo.
      if (e.status === 403) return 0;
      this.log.warn('revert sweep list failed', { kind: port.kind, error: e.message });
      return 1;
    }
    let errors = 0;
    for (const obj of objects) {
      const plan = undoPatch(obj, now);
      if (plan === undefined) continue;
      const ns = obj.metadata?.namespace;
      const name = obj.metadata?.name ?? '';
      const what = `${port.kind} ${ns ? `${ns}/` : ''}${name}`;
      let stored: KubernetesObject;
      try {
        stored = await port.patch(this.deps.kube, obj, plan.patch, signal);
      } catch (err) {
        // A 409 means the object changed since it was listed: the next sweep starts over from it.
        errors += 1;
        this.log.warn('revert sweep patch failed', { kind: port.kind, object: what, error: fromKubeError(err).message });
        continue;
      }
      if (plan.undone.length > 0) reverted.push(what);
      const uid = stored.metadata?.uid;
      const target: ObjectRef = { apiVersion: 'v1', kind: port.kind, ...(ns ? { namespace: ns } : {}), name, ...(uid ? { uid } : {}) };
      const words = `${port.kind === 'Pod' ? 'the pod' : 'the node'} '${name}'${ns ? ` in namespace '${ns}'` : ''}`;
      for (const u of plan.undone) {
        const result = u.restored.length > 0 || u.leftAlone.length === 0 ? 'Succeeded' : 'Skipped';
        this.emit(undoOutcome(u.record, target, result, result === 'Succeeded' ? 'Reverted' : 'RevertLeftAlone', undoMessage(words, u), [target], now));
      }
    }
    return errors;
  }

  private emit(o: Outcome): void {
    try {
      this.deps.record?.(o);
    } catch (err) {
      this.log.error('revert outcome sink threw', { rule: o.rule.name, action: o.action, error: String(err) });
    }
  }
}
