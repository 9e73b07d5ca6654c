/**
 * Shared implementation of kubernetes:label and kubernetes:annotation (talon-compat §4): set or
 * remove metadata keys on the alert's pod, or on its node (`level: node`: the pod's node, else
 * Falco's hostname; the use then acts on a node, so tenant rules may not). One JSON merge
 * patch per call: a key with value "" becomes `null` in the patch, which removes it; a missing
 * labels/annotations map needs no special handling. Idempotent.
 */
import { Type, type TObject } from '@sinclair/typebox';
import type { KubernetesObject } from '@kubernetes/client-node';
import { StringEnum } from '../../api/v1alpha1/types.js';
import {
  failed,
  ok,
  skipped,
  type ActionContext,
  type ActionResult,
  type Actionner,
  type ObjectRef,
  type TargetSubject,
  type OutcomeReason,
} from '../types.js';
import { apiFailure, isNotFound, podTarget } from './common.js';
import { MERGE_PATCH, apiPath } from '../../kube/raw.js';
import { nodeOfTarget } from './cordon.js';
import { madeByOf, recordedMetadataPatch, revertCommand } from '../revert.js';

/** A Kubernetes qualified name (label/annotation key): optional DNS-subdomain prefix, `/`, name. */
export const QUALIFIED_NAME_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
/** A label value, or "" (which removes the label). */
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';

export const LEVELS = ['pod', 'node'] as const;
export type Level = (typeof LEVELS)[number];

export type MetadataField = 'labels' | 'annotations';

export interface MetadataKind<K extends MetadataField> {
  readonly field: K;
  readonly actionner: string;
  readonly description: string;
  /** Past participle for messages: "labeled", "annotated". */
  readonly done: string;
  /** Result reason on success: "Labeled", "Annotated". */
  readonly reason: OutcomeReason;
  readonly valuePattern?: string;
  readonly example: Readonly<Record<string, string>>;
}


/** Parameters of kubernetes:label (K = 'labels') and kubernetes:annotation (K = 'annotations'). */
export type MetadataParams<K extends MetadataField> = Readonly<Record<K, Readonly<Record<string, string>>>> & {
  readonly level: Level;
};

function paramsSchema(kind: MetadataKind<MetadataField>): TObject {
  const valueLimits = kind.valuePattern ? { maxLength: 63, pattern: kind.valuePattern } : {};
  return Type.Object(
    {
      [kind.field]: Type.Record(Type.String(), Type.String(valueLimits), {
        minProperties: 1,
        propertyNames: { pattern: QUALIFIED_NAME_PATTERN, maxLength: 317 },
        description: 'Keys to set; an empty value removes the key.',
      }),
      level: StringEnum(LEVELS, { default: 'pod', description: "'pod' (default) or 'node' (the pod's node)." }),
    },
    { additionalProperties: false },
  );
}

function describeChanges(map: Readonly<Record<string, string>>): string {
  const set = Object.entries(map).filter(([, v]) => v !== '');
  const removed = Object.keys(map).filter((k) => map[k] === '');
  const parts: string[] = [];
  if (set.length) parts.push(`set ${set.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (removed.length) parts.push(`removed ${removed.join(', ')}`);
  return parts.join('; ');
}

/**
 * The one merge patch of an action, raw (kube/raw.ts): a label action per alert is the hot
 * path, and only the stored object's metadata is read from the answer (its uid; with
 * revertAfter its labels and annotations), so only the metadata is asked for (`discard`: nothing).
 */
const patchRaw = (ctx: ActionContext<unknown>, path: string, body: Record<string, unknown>, discard = false): Promise<KubernetesObject> =>
  ctx.kube.raw.request<KubernetesObject>({ method: 'PATCH', path, body, contentType: MERGE_PATCH, signal: ctx.signal, discard, metadataOnly: true });
const readRaw = (ctx: ActionContext<unknown>, path: string): Promise<KubernetesObject> =>
  ctx.kube.raw.request<KubernetesObject>({ method: 'GET', path, signal: ctx.signal, metadataOnly: true });

const aborted = (signal: AbortSignal): ActionResult | undefined =>
  signal.aborted ? failed('Aborted', 'the action was aborted before it completed') : undefined;

/** Builds the label or annotation actionner. */
export function metadataActionner<K extends MetadataField>(kind: MetadataKind<K>): Actionner<MetadataParams<K>> {
  const schema = paramsSchema(kind);

  return {
    info: {
      name: kind.actionner,
      description: kind.description,
      requiredFields: [],
      defaultContinue: true,
      destructive: false,
      reversible: true,
      target: 'pod',
      output: 'none',
      rbac: [
        // list: the revert sweeper finds pods and nodes with changes to undo (actionners/revert.ts).
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'patch'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'patch'] },
      ],
      example: { [kind.field]: kind.example, level: 'pod' },
    },
    paramsSchema: schema,

    targetFor(params: MetadataParams<K>): TargetSubject {
      return params.level === 'node' ? 'node' : 'pod';
    },

    precheck() {
      return { ok: true };
    },

    async run(ctx: ActionContext<MetadataParams<K>>): Promise<ActionResult> {
      const map = ctx.params[kind.field];
      const body = {
        metadata: { [kind.field]: Object.fromEntries(Object.entries(map).map(([k, v]) => [k, v === '' ? null : v])) },
      };
      const changes = describeChanges(map);
      /**
       * With revertAfter: read the object, then one merge patch conditional on what was read
       * that sets the values and records them for undo (a 409 is retried by the dispatcher).
       */
      const recordedPatch = async (read: () => Promise<KubernetesObject>, write: (b: Record<string, unknown>) => Promise<KubernetesObject>, kindName: 'Pod' | 'Node', name: string, namespace?: string) => {
        const after = ctx.revertAfterMs as number;
        const p = recordedMetadataPatch(await read(), kind.field, map, madeByOf(ctx, kind.actionner), after, Date.now());
        const stored = await write(p.patch);
        const note = p.recorded ? `; reverted at ${p.at} (now: ${revertCommand(kindName, name, namespace, p.id)})` : '; nothing to revert: the values were already set';
        return { stored, note };
      };

      if (ctx.target.subject !== 'node') {
        const { name: pod, namespace } = podTarget(ctx.target);
        const podDesc = `the pod '${pod}' in the namespace '${namespace}'`;
        const stop = aborted(ctx.signal);
        if (stop) return stop;
        let uid: string | undefined;
        let note = '';
        try {
          const path = apiPath('api', 'v1', 'namespaces', namespace, 'pods', pod);
          if (ctx.revertAfterMs === undefined) uid = (await patchRaw(ctx, path, body)).metadata?.uid;
          else {
            const r = await recordedPatch(() => readRaw(ctx, path), (b) => patchRaw(ctx, path, b), 'Pod', pod, namespace);
            uid = r.stored.metadata?.uid;
            note = r.note;
          }
        } catch (err) {
          return isNotFound(err) ? skipped('NotFound', `${podDesc} no longer exists`) : apiFailure(`patching ${podDesc}`, err);
        }
        const ref: ObjectRef = { apiVersion: 'v1', kind: 'Pod', namespace, name: pod, ...(uid ? { uid } : {}) };
        return ok(kind.reason, `${podDesc} has been ${kind.done} (${changes})${note}`, [ref]);
      }

      let stop = aborted(ctx.signal);
      if (stop) return stop;
      const lookup = await nodeOfTarget(ctx.kube, ctx.target, ctx.signal);
      if (!lookup.ok) return lookup.result;
      stop = aborted(ctx.signal);
      if (stop) return stop;
      const nodeDesc = `the node '${lookup.node}'`;
      let note = '';
      try {
        const path = apiPath('api', 'v1', 'nodes', lookup.node);
        if (ctx.revertAfterMs === undefined) await patchRaw(ctx, path, body, true);
        else {
          const r = await recordedPatch(() => readRaw(ctx, path), (b) => patchRaw(ctx, path, b), 'Node', lookup.node);
          note = r.note;
        }
      } catch (err) {
        return isNotFound(err) ? skipped('NotFound', `${nodeDesc} no longer exists`) : apiFailure(`patching ${nodeDesc}`, err);
      }
      const ref: ObjectRef = { apiVersion: 'v1', kind: 'Node', name: lookup.node };
      const of = lookup.pod !== undefined ? ` of the pod '${lookup.pod.name}' in the namespace '${lookup.pod.namespace}'` : '';
      return ok(kind.reason, `${nodeDesc}${of} has been ${kind.done} (${changes})${note}`, lookup.pod !== undefined ? [ref, lookup.pod] : [ref]);
    },
  };
}
