/**
 * Additional contexts (`additionalContexts` on an action): facts about where the alert happened
 * that the alert does not carry, fetched when an action asking for them is dispatched (never
 * for matching, which runs before), cached briefly, and handed to the action's run as
 * `ctx.contexts` (flat string keys, Talon's names):
 * - `k8snode`: the alert pod's node (`k8s.ns.name`/`k8s.pod.name` → pod → spec.nodeName → node):
 *   `node.name`, `node.hostname`, `node.instancetype`, `node.role`, `node.topology.region`,
 *   `node.topology.zone`, `node.spec.providerid` (from well-known labels and the spec, when
 *   set) and `node.address.<type>` for each status address (`internalip`, `hostname`, …).
 * - `aws`: the operator's instance identity from IMDS v2 (a session token, then the identity
 *   document and IAM info): `aws.region`, `aws.availability_zone`, `aws.instance_id`,
 *   `aws.instance_type`, `aws.account_id`, `aws.instance_profile_arn`, `aws.instance_profile_id`.
 * A context that cannot be fetched is left out (the run proceeds; `fetch` returns the problems).
 */
import type { KubeClients } from '../kube/client.js';
import type { FalcoEvent } from '../falco/event.js';
import { field } from '../falco/event.js';

export const CONTEXT_NAMES = ['k8snode', 'aws'] as const;

export interface ContextsOptions {
  readonly kube: KubeClients;
  /** IMDS base URL; default http://169.254.169.254. */
  readonly imdsEndpoint?: string;
  /** How long a fetched context is reused; default 30 s. */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

export interface FetchedContexts {
  readonly values: Readonly<Record<string, string>>;
  /** One line per context that could not be fetched. */
  readonly problems: readonly string[];
}

const NODE_LABELS: readonly (readonly [string, string])[] = [
  ['node.hostname', 'kubernetes.io/hostname'],
  ['node.instancetype', 'node.kubernetes.io/instance-type'],
  ['node.topology.region', 'topology.kubernetes.io/region'],
  ['node.topology.zone', 'topology.kubernetes.io/zone'],
];

export class AdditionalContexts {
  private readonly cache = new Map<string, { at: number; values: Promise<Record<string, string>> }>();
  private readonly imds: string;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: ContextsOptions) {
    this.imds = (opts.imdsEndpoint ?? 'http://169.254.169.254').replace(/\/+$/, '');
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** The named contexts for `ev`; unknown names are ignored (the compiler refuses them). */
  async fetch(names: readonly string[], ev: FalcoEvent, signal: AbortSignal): Promise<FetchedContexts> {
    const values: Record<string, string> = {};
    const problems: string[] = [];
    for (const name of new Set(names)) {
      let key: string | undefined;
      let load: (() => Promise<Record<string, string>>) | undefined;
      if (name === 'k8snode') {
        const ns = field(ev, 'k8s.ns.name');
        const pod = field(ev, 'k8s.pod.name');
        if (typeof ns !== 'string' || typeof pod !== 'string' || ns === '' || pod === '') {
          problems.push('k8snode: the alert names no pod');
          continue;
        }
        key = `k8snode/${ns}/${pod}`;
        load = () => this.node(ns, pod);
      } else if (name === 'aws') {
        key = 'aws';
        load = () => this.aws(signal);
      }
      if (key === undefined || load === undefined) continue;
      const hit = this.cache.get(key);
      let p: Promise<Record<string, string>>;
      if (hit && this.now() - hit.at < this.ttlMs) p = hit.values;
      else {
        p = load();
        this.cache.set(key, { at: this.now(), values: p });
        p.catch(() => this.cache.delete(key));
      }
      try {
        Object.assign(values, await p);
      } catch (err) {
        problems.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { values, problems };
  }

  private async node(namespace: string, name: string): Promise<Record<string, string>> {
    const pod = await this.opts.kube.core.readNamespacedPod({ namespace, name });
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) throw new Error(`pod ${namespace}/${name} is not on a node`);
    const node = await this.opts.kube.core.readNode({ name: nodeName });
    const labels = node.metadata?.labels ?? {};
    const out: Record<string, string> = { 'node.name': nodeName };
    for (const [k, label] of NODE_LABELS) if (labels[label] !== undefined) out[k] = labels[label]!;
    const roles = Object.keys(labels)
      .filter((l) => l.startsWith('node-role.kubernetes.io/'))
      .map((l) => l.slice('node-role.kubernetes.io/'.length))
      .sort();
    if (roles.length > 0) out['node.role'] = roles.join(',');
    if (node.spec?.providerID) out['node.spec.providerid'] = node.spec.providerID;
    for (const a of node.status?.addresses ?? []) out[`node.address.${a.type.toLowerCase()}`] = a.address;
    return out;
  }

  private async aws(signal: AbortSignal): Promise<Record<string, string>> {
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(2000)]);
    const tokenRes = await fetch(`${this.imds}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, signal: timeout });
    if (!tokenRes.ok) throw new Error(`IMDS token: status ${tokenRes.status}`);
    const token = await tokenRes.text();
    const get = (path: string) => fetch(`${this.imds}${path}`, { headers: { 'X-aws-ec2-metadata-token': token }, signal: timeout });
    const docRes = await get('/latest/dynamic/instance-identity/document');
    if (!docRes.ok) throw new Error(`IMDS identity document: status ${docRes.status}`);
    const doc = (await docRes.json()) as Record<string, unknown>;
    const out: Record<string, string> = {};
    const put = (k: string, v: unknown) => {
      if (typeof v === 'string' && v !== '') out[k] = v;
    };
    put('aws.region', doc.region);
    put('aws.availability_zone', doc.availabilityZone);
    put('aws.instance_id', doc.instanceId);
    put('aws.instance_type', doc.instanceType);
    put('aws.account_id', doc.accountId);
    const iam = await get('/latest/meta-data/iam/info');
    if (iam.ok) {
      const info = (await iam.json()) as Record<string, unknown>;
      put('aws.instance_profile_arn', info.InstanceProfileArn);
      put('aws.instance_profile_id', info.InstanceProfileId);
    } else await iam.body?.cancel();
    return out;
  }
}
