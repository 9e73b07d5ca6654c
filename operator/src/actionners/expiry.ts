/**
 * The one expiry mechanism for objects actions create with a lifetime (DESIGN.md §4 "Side
 * effects have a lifecycle"). An actionner that creates such objects declares an
 * `ExpiryHandler` for their kind (`Actionner.expiry`): how to list the objects the operator
 * made (`app.kubernetes.io/managed-by: talon-operator`) and how to remove one and undo what
 * it did. Objects carry `talon.dev/expires-at` (RFC 3339); the sweeper removes those whose
 * time has passed. Objects without the annotation never expire here. Idempotent: several
 * replicas may sweep at once (a 404 is success). Later policy actionners (Calico, Cilium)
 * add a handler and nothing else.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { fromKubeError } from '../errors.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { Periodic } from '../lib/periodic.js';
import { EXPIRES_AT_ANNOTATION } from './kubernetes/common.js';
import type { KubeClients } from './types.js';

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
  /** Wall clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly log?: LogPort;
}

export interface SweepResult {
  /** `Kind namespace/name` of the objects removed. */
  readonly deleted: readonly string[];
  /** `namespace/name` of the objects released by the removals. */
  readonly released: readonly string[];
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
          released.push(...(await h.remove(this.deps.kube, obj, signal)));
          deleted.push(`${h.kind} ${ref}`);
        } catch (err) {
          errors += 1;
          this.log.warn('expiry sweep remove failed', { kind: h.kind, object: ref, error: fromKubeError(err).message });
        }
      }
    }
    if (deleted.length > 0) this.log.info('expired objects removed', { objects: deleted, released });
    return { deleted, released, errors };
  }
}
