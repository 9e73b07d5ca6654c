/**
 * A reference to a Kubernetes object: the one shape used for outcome targets, objects an
 * action touched, and Events' regarding/related objects. `namespace` is absent for
 * cluster-scoped objects; `uid` is set when known (`kubectl describe` finds Events through it).
 */
export interface ObjectRef {
  readonly apiVersion?: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly uid?: string;
}
