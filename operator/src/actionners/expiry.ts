/**
 * Removes expired quarantines (DESIGN.md §4 "Side effects have a lifecycle"): NetworkPolicies
 * labelled `app.kubernetes.io/managed-by: talon-operator` whose `talon.dev/expires-at`
 * annotation lies in the past are deleted, then the quarantine label their pod selector names
 * is removed from the pods still carrying it. Idempotent: several replicas may sweep at once
 * (404s are success). Policies without the annotation never expire here.
 *
 * RBAC: networking.k8s.io networkpolicies list/delete; pods list/patch.
 */
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { EXPIRES_AT_ANNOTATION, isNotFound, MANAGED_BY_LABEL, MANAGED_BY_VALUE, mergePatch, QUARANTINE_LABEL, requestOptions } from './kubernetes/common.js';
import type { KubeClients } from './types.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { fromKubeError } from '../errors.js';
import { Periodic } from '../lib/periodic.js';

export interface TtlSweeperDeps {
  readonly kube: Pick<KubeClients, 'core' | 'networking'>;
  /** Wall clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly log?: LogPort;
}

export interface SweepResult {
  /** `namespace/name` of the policies deleted. */
  readonly deleted: readonly string[];
  /** `namespace/name` of the pods whose quarantine label was removed. */
  readonly released: readonly string[];
  readonly errors: number;
}

export class TtlSweeper {
  private readonly deps: TtlSweeperDeps;
  private readonly now: () => number;
  private readonly log: LogPort;
  private readonly periodic = new Periodic(() => this.sweep());
  private running: Promise<SweepResult> | undefined;

  constructor(deps: TtlSweeperDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? silentLog;
  }

  /** One pass; concurrent calls share it. Never throws: failures are logged and counted. */
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
    const { core, networking } = this.deps.kube;
    const deleted: string[] = [];
    const released: string[] = [];
    let errors = 0;
    let policies: V1NetworkPolicy[];
    try {
      policies = (await networking.listNetworkPolicyForAllNamespaces({ labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` }, requestOptions(signal))).items;
    } catch (err) {
      this.log.warn('ttl sweep list failed', { error: fromKubeError(err).message });
      return { deleted, released, errors: 1 };
    }
    const now = this.now();
    for (const np of policies) {
      const expires = Date.parse(np.metadata?.annotations?.[EXPIRES_AT_ANNOTATION] ?? '');
      if (Number.isNaN(expires) || expires > now) continue;
      const namespace = np.metadata?.namespace ?? '';
      const name = np.metadata?.name ?? '';
      try {
        await networking.deleteNamespacedNetworkPolicy({ name, namespace }, requestOptions(signal));
        deleted.push(`${namespace}/${name}`);
      } catch (err) {
        if (!isNotFound(err)) {
          errors += 1;
          this.log.warn('ttl sweep delete failed', { policy: `${namespace}/${name}`, error: fromKubeError(err).message });
          continue;
        }
      }
      const value = np.spec?.podSelector?.matchLabels?.[QUARANTINE_LABEL];
      if (value === undefined) continue;
      try {
        const pods = await core.listNamespacedPod({ namespace, labelSelector: `${QUARANTINE_LABEL}=${value}` }, requestOptions(signal));
        for (const pod of pods.items) {
          const podName = pod.metadata?.name ?? '';
          try {
            await core.patchNamespacedPod({ name: podName, namespace, body: { metadata: { labels: { [QUARANTINE_LABEL]: null } } } }, mergePatch(signal));
            released.push(`${namespace}/${podName}`);
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
      } catch (err) {
        errors += 1;
        this.log.warn('ttl sweep release failed', { policy: `${namespace}/${name}`, error: fromKubeError(err).message });
      }
    }
    if (deleted.length > 0) this.log.info('expired quarantines removed', { policies: deleted, pods: released });
    return { deleted, released, errors };
  }
}
