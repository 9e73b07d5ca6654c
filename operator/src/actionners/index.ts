/**
 * THE list of built-in actionners. Adding an actionner is one new file plus one line here;
 * RBAC (scripts/gen-rbac.ts), docs and the chart's role follow from its declaration.
 */
import type { Actionner } from './types.js';
import { annotationActionner } from './kubernetes/annotation.js';
import { labelActionner } from './kubernetes/label.js';
import { terminateActionner } from './kubernetes/terminate.js';
import { networkPolicyActionner } from './kubernetes/networkpolicy.js';
import { deleteActionner } from './kubernetes/delete.js';
import { cordonActionner } from './kubernetes/cordon.js';
import { drainActionner } from './kubernetes/drain.js';
import { execActionner } from './kubernetes/exec.js';
import { scriptActionner } from './kubernetes/script.js';
import { logActionner } from './kubernetes/log.js';
import { downloadActionner } from './kubernetes/download.js';
import { tcpdumpActionner } from './kubernetes/tcpdump.js';
import { sysdigActionner } from './kubernetes/sysdig.js';
import { calicoNetworkPolicyActionner } from './calico/networkpolicy.js';
import { ciliumNetworkPolicyActionner } from './cilium/networkpolicy.js';
import { lambdaActionner } from './aws/lambda.js';
import { functionActionner } from './gcp/function.js';

/** A fresh array of every built-in actionner, in documentation order. */
export function builtinActionners(): Actionner[] {
  return [
    terminateActionner,
    labelActionner,
    annotationActionner,
    networkPolicyActionner,
    deleteActionner,
    cordonActionner,
    drainActionner,
    execActionner,
    scriptActionner,
    logActionner,
    downloadActionner,
    tcpdumpActionner,
    sysdigActionner,
    calicoNetworkPolicyActionner,
    ciliumNetworkPolicyActionner,
    lambdaActionner,
    functionActionner,
  ];
}
