/** Helpers for TalonRule / TalonAction objects in e2e tests. */
import { execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { e2eKubeconfigPath, eventually, kubectlPath } from './cluster.js';

export const GROUP = 'talon.dev';
export const VERSION = 'v1alpha1';

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

export class Talon {
  readonly custom: k8s.CustomObjectsApi;
  constructor(kc: k8s.KubeConfig) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async applyAction(namespace: string, name: string, spec: Record<string, unknown>): Promise<TalonObject> {
    return this.create('talonactions', 'TalonAction', namespace, name, spec);
  }

  async applyRule(namespace: string, name: string, spec: Record<string, unknown>): Promise<TalonObject> {
    return this.create('talonrules', 'TalonRule', namespace, name, spec);
  }

  private async create(plural: string, kind: string, namespace: string, name: string, spec: Record<string, unknown>): Promise<TalonObject> {
    const body = { apiVersion: `${GROUP}/${VERSION}`, kind, metadata: { name, namespace }, spec };
    return (await this.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, body })) as TalonObject;
  }

  async get(plural: 'talonrules' | 'talonactions', namespace: string, name: string): Promise<TalonObject> {
    return (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name })) as TalonObject;
  }

  async delete(plural: 'talonrules' | 'talonactions', namespace: string, name: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }).catch(() => undefined);
  }

  async deleteAll(namespace: string): Promise<void> {
    for (const plural of ['talonrules', 'talonactions'] as const) {
      await this.custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural }).catch(() => undefined);
    }
  }

  /** Waits until the object's condition `type` has `status` for its current generation. */
  async waitCondition(
    plural: 'talonrules' | 'talonactions',
    namespace: string,
    name: string,
    type: string,
    status: 'True' | 'False',
    timeoutMs = 30_000,
  ): Promise<Condition> {
    return eventually(
      `${plural} ${namespace}/${name} ${type}=${status}`,
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
