/**
 * `kubectl talon revert KIND/NAME [-n NAMESPACE] [--id ID] [--timeout DURATION] [--kubeconfig FILE]`:
 * undo one outcome now instead of at its `revertAfter` (docs/revert.md).
 *
 * It does not undo anything itself: it makes the change due now and waits for the operator's
 * one sweeper to undo it, so there is a single undo path that restores previous values, leaves
 * alone what someone changed since, and records the undo's outcome and Event.
 *
 * - `pod/NAME`, `node/NAME`: the revert record (`revert.talon.dev/<id>`) of the outcome — the
 *   outcome's message names the id — gets `at` = now and `requested: true`. Without `--id`
 *   the object must carry exactly one record; otherwise the records are listed.
 * - `networkpolicy/NAME`: a quarantine policy the operator created gets `talon.dev/expires-at`
 *   = now (and `talon.dev/revert-requested`); the sweeper deletes it and releases the pod.
 *
 * Every write is a merge patch conditional on the object as read, with the user's own
 * credentials: who may revert is who may patch the object (RBAC).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { EXPIRES_AT_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, mergePatch } from '../actionners/kubernetes/common.js';
import { REVERT_REQUESTED_ANNOTATION } from '../actionners/expiry.js';
import { recordsOf, REVERT_ANNOTATION_PREFIX, REVERT_PENDING_LABEL, type RecordOnObject } from '../actionners/revert.js';
import { fromKubeError } from '../errors.js';
import { loadKubeConfig, makeClients, type Clients } from '../kube/client.js';
import { parseDuration } from '../lib/duration.js';
import { sleep } from '../lib/sleep.js';
import type { CliOutput } from '../cli.js';

const USAGE = `usage: kubectl talon revert (pod|node|networkpolicy)/NAME [-n NAMESPACE] [--id ID] [--timeout 60s] [--kubeconfig FILE]
  Undo one outcome of an action with revertAfter (or a quarantine policy) now; the outcome's
  message names the object and the --id. Waits until the operator has undone it.
`;

interface Args {
  readonly kind: 'pod' | 'node' | 'networkpolicy';
  readonly name: string;
  readonly namespace?: string;
  readonly id?: string;
  readonly timeoutMs: number;
  readonly kubeconfig?: string;
}

const KINDS: Readonly<Record<string, Args['kind']>> = { pod: 'pod', pods: 'pod', po: 'pod', node: 'node', nodes: 'node', no: 'node', networkpolicy: 'networkpolicy', networkpolicies: 'networkpolicy', netpol: 'networkpolicy' };

/** The arguments, or the message saying what is wrong with them. */
export function parseRevertArgs(argv: readonly string[]): Args | string {
  let target: string | undefined;
  let namespace: string | undefined;
  let id: string | undefined;
  let timeout = '60s';
  let kubeconfig: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === '-n' || flag === '--namespace') namespace = value();
    else if (flag === '--id') id = value();
    else if (flag === '--timeout') timeout = value() ?? '';
    else if (flag === '--kubeconfig') kubeconfig = value();
    else if (a.startsWith('-')) return `unknown flag '${a}'`;
    else if (target === undefined) target = a;
    else return `unexpected argument '${a}'`;
  }
  if (target === undefined) return 'name the object: KIND/NAME';
  const slash = target.indexOf('/');
  const kind = KINDS[target.slice(0, slash).toLowerCase()];
  const name = target.slice(slash + 1);
  if (slash < 0 || kind === undefined || name === '') return `'${target}' is not pod/NAME, node/NAME or networkpolicy/NAME`;
  const timeoutMs = parseDuration(timeout);
  if (timeoutMs === undefined) return `--timeout: '${timeout}' is not a duration such as 30s or 2m`;
  if (namespace === '' || id === '' || kubeconfig === '') return 'a flag is missing its value';
  return { kind, name, timeoutMs, ...(namespace !== undefined ? { namespace } : {}), ...(id !== undefined ? { id } : {}), ...(kubeconfig !== undefined ? { kubeconfig } : {}) };
}

export async function revert(argv: readonly string[], out: CliOutput): Promise<number> {
  const args = parseRevertArgs(argv);
  if (typeof args === 'string') {
    out.stderr(`kubectl talon revert: ${args}\n${USAGE}`);
    return 2;
  }
  const kc = loadKubeConfig(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {});
  const namespace = args.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const clients = makeClients(kc);
  try {
    return args.kind === 'networkpolicy' ? await revertPolicy(clients, namespace, args, out) : await revertRecord(clients, namespace, args, out);
  } catch (err) {
    const e = fromKubeError(err);
    out.stderr(`kubectl talon revert: ${e.status === 404 ? `${args.kind} '${args.name}' not found` : e.message}\n`);
    return 1;
  } finally {
    kc.destroyAgent();
  }
}

function describeRecord(r: RecordOnObject): string {
  const keys = [...Object.keys(r.record.labels ?? {}).map((k) => `label ${k}`), ...Object.keys(r.record.annotations ?? {}).map((k) => `annotation ${k}`), ...(r.record.unschedulable ? ['cordon'] : [])];
  const rule = r.record.rule.namespace ? `${r.record.rule.namespace}/${r.record.rule.name}` : r.record.rule.name;
  return `--id ${r.id}: ${r.record.actionner} action '${r.record.action}' of rule ${rule} (${keys.join(', ')}), due ${r.record.at}`;
}

async function revertRecord(clients: Clients, namespace: string, args: Args, out: CliOutput): Promise<number> {
  const isPod = args.kind === 'pod';
  const what = isPod ? `pod '${args.name}' in namespace '${namespace}'` : `node '${args.name}'`;
  const read = (): Promise<KubernetesObject> => (isPod ? clients.core.readNamespacedPod({ name: args.name, namespace }) : clients.core.readNode({ name: args.name }));
  const obj = await read();
  const records = recordsOf(obj);
  const chosen = args.id !== undefined ? records.find((r) => r.id === args.id) : records.length === 1 ? records[0] : undefined;
  if (chosen === undefined) {
    const why = records.length === 0 ? `the ${what} carries no change to revert (only actions with revertAfter record one)` : args.id !== undefined ? `the ${what} has no change with --id ${args.id}` : `the ${what} carries ${records.length} changes: choose one with --id`;
    out.stderr(`kubectl talon revert: ${why}\n${records.map((r) => `  ${describeRecord(r)}\n`).join('')}`);
    return records.length === 0 ? 1 : 2;
  }
  const key = `${REVERT_ANNOTATION_PREFIX}${chosen.id}`;
  const body = {
    metadata: {
      resourceVersion: obj.metadata?.resourceVersion,
      labels: { [REVERT_PENDING_LABEL]: 'true' },
      annotations: { [key]: JSON.stringify({ ...chosen.record, at: new Date().toISOString(), requested: true }) },
    },
  };
  if (isPod) await clients.core.patchNamespacedPod({ name: args.name, namespace, body }, mergePatch());
  else await clients.core.patchNode({ name: args.name, body }, mergePatch());
  out.stdout(`revert requested: ${describeRecord(chosen)}\n`);
  const done = await waitUntil(args.timeoutMs, async () => {
    const now = await read().catch((err: unknown) => (fromKubeError(err).status === 404 ? undefined : Promise.reject(err)));
    return now === undefined || now.metadata?.annotations?.[key] === undefined ? (now ?? null) : undefined;
  });
  if (done === undefined) return notYet(args, out);
  const after = done === null ? undefined : done;
  const values = [
    ...Object.keys(chosen.record.labels ?? {}).map((k) => `label ${k}=${after?.metadata?.labels?.[k] ?? '(absent)'}`),
    ...Object.keys(chosen.record.annotations ?? {}).map((k) => `annotation ${k}=${after?.metadata?.annotations?.[k] ?? '(absent)'}`),
    ...(chosen.record.unschedulable ? [`unschedulable=${(after as { spec?: { unschedulable?: boolean } } | undefined)?.spec?.unschedulable === true}`] : []),
  ];
  out.stdout(`reverted by the operator (its outcome and Event say what was restored or left alone); now: ${values.join(', ')}\n`);
  return 0;
}

async function revertPolicy(clients: Clients, namespace: string, args: Args, out: CliOutput): Promise<number> {
  const np = await clients.networking.readNamespacedNetworkPolicy({ name: args.name, namespace });
  if (np.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
    out.stderr(`kubectl talon revert: NetworkPolicy '${args.name}' in namespace '${namespace}' was not created by talon-operator\n`);
    return 1;
  }
  const body = {
    metadata: {
      resourceVersion: np.metadata?.resourceVersion,
      annotations: { [EXPIRES_AT_ANNOTATION]: new Date().toISOString(), [REVERT_REQUESTED_ANNOTATION]: 'true' },
    },
  };
  await clients.networking.patchNamespacedNetworkPolicy({ name: args.name, namespace, body }, mergePatch());
  out.stdout(`revert requested: NetworkPolicy '${args.name}' in namespace '${namespace}' expires now\n`);
  const gone = await waitUntil(args.timeoutMs, async () => {
    try {
      await clients.networking.readNamespacedNetworkPolicy({ name: args.name, namespace });
      return undefined;
    } catch (err) {
      if (fromKubeError(err).status === 404) return true;
      throw err;
    }
  });
  if (gone === undefined) return notYet(args, out);
  out.stdout('reverted by the operator: the policy is deleted and the pod released from quarantine\n');
  return 0;
}

function notYet(args: Args, out: CliOutput): number {
  out.stderr(`kubectl talon revert: the operator has not undone it within ${args.timeoutMs} ms (is it running? it sweeps every revertSweepInterval); the request stays and will be honoured\n`);
  return 1;
}

const NEVER = new AbortController().signal;

/** Polls `probe` every 500 ms until it returns something other than undefined, or `timeoutMs` passes (undefined). */
async function waitUntil<T>(timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() >= end) return undefined;
    await sleep(500, NEVER);
  }
}
