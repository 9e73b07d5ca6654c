/**
 * `kubectl talon approve|reject NAME [-n NAMESPACE] [--reason TEXT] [--kubeconfig FILE]`:
 * decides a TalonApproval by setting `spec.decision` (and `spec.decisionReason`) with the
 * user's own credentials. Whether the user may is decided by the API server: the admission
 * policy shipped with the CRDs requires the verb `approve` on `talonapprovals`, and a refusal
 * (403) is printed as the server words it. Nothing runs here: the operator sees the decision
 * and runs (or not) the recorded action; `kubectl get tapproval NAME` shows the phase.
 */
import { apiMessage } from './api-message.js';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CliOutput } from '../cli.js';
import { loadKubeConfig } from '../kube/client.js';
import { type ApprovalDecision, type TalonApproval, TALON_APPROVAL_PLURAL } from '../api/v1alpha1/approval.js';
import { GROUP, VERSION } from '../api/v1alpha1/types.js';

export interface DecideArgs {
  readonly name: string;
  readonly namespace?: string;
  readonly reason?: string;
  readonly kubeconfig?: string;
}

/** Parses `NAME [-n NS] [--reason TEXT] [--kubeconfig FILE]` (also `--flag=value`); an error text on bad input. */
export function parseDecideArgs(args: readonly string[]): DecideArgs | string {
  let name: string | undefined;
  const opts: { namespace?: string; reason?: string; kubeconfig?: string } = {};
  const flags: Readonly<Record<string, keyof typeof opts>> = { '-n': 'namespace', '--namespace': 'namespace', '--reason': 'reason', '--kubeconfig': 'kubeconfig' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const flag = a.startsWith('-') ? (eq > 0 ? a.slice(0, eq) : a) : undefined;
    if (flag !== undefined) {
      const key = flags[flag];
      if (key === undefined) return `unknown flag ${flag}`;
      const value = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined || value === '') return `${flag} needs a value`;
      opts[key] = value;
    } else if (name === undefined) name = a;
    else return `one TalonApproval at a time (got '${name}' and '${a}')`;
  }
  if (name === undefined) return 'missing the TalonApproval NAME';
  return { name, ...opts };
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);


/** Sets the decision; exit code 0 on success, 1 when the server refuses, 2 on bad arguments. */
export async function decide(decision: ApprovalDecision, args: readonly string[], out: CliOutput): Promise<number> {
  const verb = decision === 'Approved' ? 'approve' : 'reject';
  const parsed = parseDecideArgs(args);
  if (typeof parsed === 'string') {
    out.stderr(`kubectl talon ${verb}: ${parsed}\nusage: kubectl talon ${verb} NAME [-n NAMESPACE] [--reason TEXT] [--kubeconfig FILE]\n`);
    return 2;
  }
  const kc = loadKubeConfig(parsed.kubeconfig ? { kubeconfig: parsed.kubeconfig } : {});
  const namespace = parsed.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const custom = kc.makeApiClient(CustomObjectsApi);
  const ref = { group: GROUP, version: VERSION, plural: TALON_APPROVAL_PLURAL, namespace, name: parsed.name };
  try {
    const current = (await custom.getNamespacedCustomObject(ref)) as TalonApproval;
    const already = current.spec?.decision;
    if (already !== undefined) {
      out.stderr(`TalonApproval ${namespace}/${parsed.name} is already ${already}${already === decision ? '' : '; a decision is final'}\n`);
      return already === decision ? 0 : 1;
    }
    const body = { spec: { decision, ...(parsed.reason !== undefined ? { decisionReason: parsed.reason } : {}) } };
    await custom.patchNamespacedCustomObject({ ...ref, body }, mergePatch);
    const a = current.spec;
    out.stdout(`TalonApproval ${namespace}/${parsed.name} ${decision.toLowerCase()}: ${a.action.actionner} on ${a.target.kind} ${a.target.namespace ? `${a.target.namespace}/` : ''}${a.target.name}\n`);
    return 0;
  } catch (err) {
    const { code, text } = apiMessage(err);
    out.stderr(`kubectl talon ${verb}: ${code !== undefined ? `(${code}) ` : ''}${text}\n`);
    return 1;
  }
}
