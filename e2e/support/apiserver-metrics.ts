/**
 * Counts from the API server itself: `apiserver_request_total` read through `kubectl get
 * --raw /metrics` (the admin kubeconfig may read it). Counts every client's requests, so a
 * test compares before/after deltas around what it does, on its own control plane.
 */
import { execFileSync } from 'node:child_process';
import { e2eKubeconfigPath, kubectlPath } from './cluster.js';

export interface RequestFilter {
  readonly verb?: string;
  readonly resource?: string;
  readonly subresource?: string;
  readonly group?: string;
  /** `resource` (one named object), `namespace` (a collection), `cluster`. */
  readonly scope?: string;
  readonly code?: string;
}

/** Sum of apiserver_request_total over the series whose labels match `filter`. */
export function apiserverRequests(filter: RequestFilter): number {
  const text = execFileSync(kubectlPath(), ['--kubeconfig', e2eKubeconfigPath(), 'get', '--raw', '/metrics'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const m = /^apiserver_request_total\{(.*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = new Map<string, string>();
    for (const p of m[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels.set(p[1]!, p[2]!);
    if (Object.entries(filter).every(([k, v]) => v === undefined || (labels.get(k) ?? '') === v)) total += Number(m[2]);
  }
  return total;
}
