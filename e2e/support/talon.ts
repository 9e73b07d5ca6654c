/**
 * Helpers for the four talon.dev kinds in e2e tests. A rule or action is named by a namespace
 * and a name; the namespace CLUSTER ('') names the cluster-scoped kind (ClusterTalonRule,
 * ClusterTalonAction), as RuleRef does in the operator.
 *
 * Cluster-scoped objects are not removed with a test's namespace: every one a Talon creates is
 * labelled `talon.dev/e2e: "true"` and remembered, and `deleteClusterObjects()` (call it in
 * `after`) deletes them. A leftover of the same name (a crashed earlier run) is replaced.
 */
import { execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { e2eKubeconfigPath, eventually, kubectlPath } from './cluster.js';

export const GROUP = 'talon.dev';
export const VERSION = 'v1alpha1';

/** The "namespace" of the cluster-scoped kinds. */
export const CLUSTER = '';

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface TalonObject {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta;
  spec: Record<string, unknown>;
  status?: { conditions?: Condition[]; observedGeneration?: number; [k: string]: unknown };
}

/** The namespaced plurals; with namespace CLUSTER they stand for their cluster-scoped twins. */
export type TalonPlural = 'talonrules' | 'talonactions';

/** The resource of a (plural, namespace) pair: the cluster-scoped twin for CLUSTER. */
export function resourceOf(plural: TalonPlural, namespace: string): { plural: string; kind: string; cluster: boolean } {
  const rule = plural === 'talonrules';
  if (namespace === CLUSTER) return { plural: `cluster${plural}`, kind: rule ? 'ClusterTalonRule' : 'ClusterTalonAction', cluster: true };
  return { plural, kind: rule ? 'TalonRule' : 'TalonAction', cluster: false };
}

/** `Kind namespace/name`, or `Kind name` for the cluster-scoped kinds. */
export function describeObject(plural: TalonPlural, namespace: string, name: string): string {
  const r = resourceOf(plural, namespace);
  return r.cluster ? `${r.kind} ${name}` : `${r.kind} ${namespace}/${name}`;
}

const isCode = (err: unknown, code: number): boolean => (err as { code?: number }).code === code;

export class Talon {
  readonly custom: k8s.CustomObjectsApi;
  /** `plural/name` of every cluster-scoped object this instance created. */
  private readonly clusterObjects = new Set<string>();

  constructor(kc: k8s.KubeConfig) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  /** Creates a TalonAction, or with namespace CLUSTER a ClusterTalonAction. */
  async applyAction(namespace: string, name: string, spec: Record<string, unknown>): Promise<TalonObject> {
    return this.create('talonactions', namespace, name, spec);
  }

  /** Creates a TalonRule, or with namespace CLUSTER a ClusterTalonRule. */
  async applyRule(namespace: string, name: string, spec: Record<string, unknown>): Promise<TalonObject> {
    return this.create('talonrules', namespace, name, spec);
  }

  async applyClusterAction(name: string, spec: Record<string, unknown>): Promise<TalonObject> {
    return this.applyAction(CLUSTER, name, spec);
  }

  async applyClusterRule(name: string, spec: Record<string, unknown>): Promise<TalonObject> {
    return this.applyRule(CLUSTER, name, spec);
  }

  private async create(p: TalonPlural, namespace: string, name: string, spec: Record<string, unknown>): Promise<TalonObject> {
    const { plural, kind, cluster } = resourceOf(p, namespace);
    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind,
      metadata: { name, ...(cluster ? { labels: { 'talon.dev/e2e': 'true' } } : { namespace }) },
      spec,
    };
    if (!cluster) return (await this.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, body })) as TalonObject;
    this.clusterObjects.add(`${plural}/${name}`);
    try {
      return (await this.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural, body })) as TalonObject;
    } catch (err) {
      if (!isCode(err, 409)) throw err;
      // A leftover of an earlier run: replace it.
      await this.delete(p, CLUSTER, name);
      await eventually(`${kind} ${name} gone`, async () => {
        try {
          await this.get(p, CLUSTER, name);
          return false;
        } catch (e) {
          return isCode(e, 404);
        }
      });
      return (await this.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural, body })) as TalonObject;
    }
  }

  async get(p: TalonPlural, namespace: string, name: string): Promise<TalonObject> {
    const { plural, cluster } = resourceOf(p, namespace);
    return (
      cluster
        ? await this.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural, name })
        : await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name })
    ) as TalonObject;
  }

  /** Deletes one object; absent is fine. */
  async delete(p: TalonPlural, namespace: string, name: string): Promise<void> {
    const { plural, cluster } = resourceOf(p, namespace);
    await (cluster
      ? this.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural, name })
      : this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name })
    ).catch(() => undefined);
  }

  /** Deletes every TalonRule and TalonAction of a namespace, or with CLUSTER every cluster-scoped object this instance created. */
  async deleteAll(namespace: string): Promise<void> {
    if (namespace === CLUSTER) return this.deleteClusterObjects();
    for (const plural of ['talonrules', 'talonactions'] as const) {
      await this.custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural }).catch(() => undefined);
    }
  }

  /** Deletes the ClusterTalonRules and ClusterTalonActions this instance created. */
  async deleteClusterObjects(): Promise<void> {
    for (const key of this.clusterObjects) {
      const [plural, name] = key.split('/') as [string, string];
      await this.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural, name }).catch(() => undefined);
    }
    this.clusterObjects.clear();
  }

  /** Waits until the object's condition `type` has `status` for its current generation. */
  async waitCondition(
    plural: TalonPlural,
    namespace: string,
    name: string,
    type: string,
    status: 'True' | 'False',
    timeoutMs = 30_000,
  ): Promise<Condition> {
    return eventually(
      `${describeObject(plural, namespace, name)} ${type}=${status}`,
      async () => {
        const o = await this.get(plural, namespace, name);
        const c = o.status?.conditions?.find((x) => x.type === type);
        return c && c.status === status && c.observedGeneration === o.metadata.generation ? c : undefined;
      },
      timeoutMs,
      100,
    );
  }
}

export function condition(o: TalonObject, type: string): Condition | undefined {
  return o.status?.conditions?.find((c) => c.type === type);
}

/** Runs kubectl against the e2e cluster and returns stdout. */
export function kubectl(...args: string[]): string {
  return execFileSync(kubectlPath(), ['--kubeconfig', e2eKubeconfigPath(), ...args], { encoding: 'utf8' });
}
