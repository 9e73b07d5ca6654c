import type { KubernetesObject } from '@kubernetes/client-node';
import { MERGE_PATCH, apiPath, type RawKube } from './raw.js';

/** Identifies one custom object; `namespace` absent for cluster-scoped kinds. */
export interface CustomObjectRef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface PatchStatusOptions {
  /** When set, the patch applies only if the object is still at this resourceVersion (else 409). */
  readonly resourceVersion?: string;
  readonly fieldManager?: string;
}

/**
 * Merge-patches (RFC 7386) `status` into the object's `/status` subresource and returns the
 * object as stored. Merge-patch semantics apply: nested maps merge, arrays (e.g. conditions)
 * are replaced whole, a `null` value removes a key. A raw request (kube/raw.ts): status writes
 * run for every rule at start-up and as outcomes are counted, and must not load client-node's
 * typed clients. Failures are `ApiException`s with the HTTP status in `.code` (404 gone, 409
 * stale resourceVersion, …); mapping them is the caller's business.
 */
export async function patchStatus<T extends KubernetesObject = KubernetesObject>(
  raw: RawKube,
  ref: CustomObjectRef,
  status: Readonly<Record<string, unknown>>,
  opts: PatchStatusOptions = {},
): Promise<T> {
  const body: Record<string, unknown> = { status };
  if (opts.resourceVersion !== undefined) body.metadata = { resourceVersion: opts.resourceVersion };
  const scope = ref.namespace !== undefined && ref.namespace !== '' ? ['namespaces', ref.namespace] : [];
  const query = opts.fieldManager !== undefined ? `?fieldManager=${encodeURIComponent(opts.fieldManager)}` : '';
  const path = apiPath('apis', ref.group, ref.version, ...scope, ref.plural, ref.name, 'status') + query;
  return raw.request<T>({ method: 'PATCH', path, body, contentType: MERGE_PATCH });
}
