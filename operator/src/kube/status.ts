import {
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';

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
 * are replaced whole, a `null` value removes a key. Failures are client-node's
 * `ApiException` with the HTTP status in `.code` (404 gone, 409 stale resourceVersion, …);
 * mapping them is the caller's business.
 */
export async function patchStatus<T extends KubernetesObject = KubernetesObject>(
  api: KubeConfig | CustomObjectsApi,
  ref: CustomObjectRef,
  status: Readonly<Record<string, unknown>>,
  opts: PatchStatusOptions = {},
): Promise<T> {
  const custom = api instanceof KubeConfig ? api.makeApiClient(CustomObjectsApi) : api;
  const body: Record<string, unknown> = { status };
  if (opts.resourceVersion !== undefined) body.metadata = { resourceVersion: opts.resourceVersion };
  const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const common = {
    group: ref.group,
    version: ref.version,
    plural: ref.plural,
    name: ref.name,
    body,
    ...(opts.fieldManager !== undefined ? { fieldManager: opts.fieldManager } : {}),
  };
  const result: unknown =
    ref.namespace !== undefined && ref.namespace !== ''
      ? await custom.patchNamespacedCustomObjectStatus({ ...common, namespace: ref.namespace }, options)
      : await custom.patchClusterCustomObjectStatus(common, options);
  return result as T;
}
