/**
 * The JSON document cloud function actionners (aws:lambda, gcp:function) send: the alert as
 * Falco sent it plus the context of the rule that acted, so the function knows why it runs.
 */
import type { FalcoEvent } from '../falco/event.js';
import type { ActionContext } from './types.js';

export interface CloudPayload {
  readonly rule: string;
  readonly priority: string;
  readonly source: string;
  readonly time: string;
  readonly hostname: string;
  readonly output: string;
  readonly tags: readonly string[];
  readonly outputFields: FalcoEvent['outputFields'];
  readonly uuid?: string;
  readonly context: {
    /** 'ClusterTalonRule' when the rule has no namespace, else 'TalonRule'. */
    readonly ruleKind: 'TalonRule' | 'ClusterTalonRule';
    readonly ruleNamespace: string;
    readonly ruleName: string;
    readonly action: string;
    readonly actionner: string;
    readonly traceId: string;
    /** The action's additional contexts (`node.*`, `aws.*`), when it asks for any. */
    readonly additional?: Readonly<Record<string, string>>;
  };
}

/** The payload for one run; pure. */
export function cloudPayload(ctx: Pick<ActionContext, 'event' | 'rule' | 'actionName' | 'contexts'>, actionner: string): CloudPayload {
  const ev = ctx.event;
  return {
    rule: ev.rule,
    priority: ev.priority,
    source: ev.source,
    time: ev.time,
    hostname: ev.hostname,
    output: ev.output,
    tags: ev.tags,
    outputFields: ev.outputFields,
    ...(ev.uuid === undefined ? {} : { uuid: ev.uuid }),
    context: {
      ruleKind: ctx.rule.namespace === '' ? 'ClusterTalonRule' : 'TalonRule',
      ruleNamespace: ctx.rule.namespace,
      ruleName: ctx.rule.name,
      action: ctx.actionName,
      actionner,
      traceId: ev.traceId,
      ...(ctx.contexts === undefined ? {} : { additional: ctx.contexts }),
    },
  };
}

/** `text` cut to at most `max` bytes of UTF-8 (never splitting a character), with a marker when cut. */
export function capText(bytes: Uint8Array, max: number): string {
  if (bytes.length <= max) return Buffer.from(bytes).toString('utf8');
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${Buffer.from(bytes.subarray(0, end)).toString('utf8')}… (${bytes.length} bytes, truncated)`;
}
