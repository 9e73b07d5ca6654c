/**
 * kubernetes:log — a container's log (talon-compat §4), read through pods/log.
 *
 * With an output, the log is streamed to it as an artifact (`log-<container>.txt`), never
 * held whole in memory; at most `maxBytes` are stored (the API server stops after one byte
 * more, so the output can say `truncated`). Without an output, the outcome message carries the
 * last MESSAGE_EXCERPT_CHARS characters of at most 64 KiB of the selected lines. Lines are
 * selected with `tailLines` (0 = every line), `sinceSeconds` and `previous` (the container's
 * terminated instance). The container is the first unless `container` names another
 * (init and ephemeral containers too).
 */
import { Type, type Static } from '@sinclair/typebox';
import { ok, type Actionner } from '../types.js';
import { apiFailure, podTarget } from './common.js';
import { CappedCapture, chooseContainers, MESSAGE_EXCERPT_CHARS, printable, readTargetPod } from './exec-run.js';
import { safeArtifactName } from './download.js';

/** Bytes read for the message excerpt when the action has no output. */
export const LOG_EXCERPT_READ_BYTES = 65536;

export const LogParams = Type.Object(
  {
    container: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: "The container (any of the pod's containers, init or ephemeral); default: the first container." })),
    previous: Type.Boolean({ default: false, description: "The log of the container's previous (terminated) instance." }),
    tailLines: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 20, description: 'The last N lines; 0 = every line.' }),
    sinceSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000, description: 'Only lines of the last N seconds.' })),
    timestamps: Type.Boolean({ default: false, description: 'Prefix every line with its RFC 3339 time.' }),
    maxBytes: Type.Integer({ minimum: 1, maximum: 1024 * 1024 * 1024, default: 10 * 1024 * 1024, description: 'Largest log stored; beyond, the artifact is truncated.' }),
  },
  { additionalProperties: false },
);
export type LogParams = Static<typeof LogParams>;

export const logActionner: Actionner<LogParams> = {
  info: {
    name: 'kubernetes:log',
    description: "Fetch a container's log of the alert's pod: to the output, or an excerpt in the outcome",
    requiredFields: [],
    defaultContinue: true,
    destructive: false,
    target: 'pod',
    output: 'allowed',
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ],
    example: { tailLines: 200, sinceSeconds: 600 },
  },
  paramsSchema: LogParams,

  precheck() {
    return { ok: true };
  },

  async run(ctx) {
    const read = await readTargetPod(ctx);
    if (!read.ok) return read.result;
    const chosen = chooseContainers(read.pod, ctx.params.container !== undefined ? { container: ctx.params.container } : {});
    if (!chosen.ok) return chosen.result;
    const container = chosen.names[0] as string;
    const { namespace, name } = podTarget(ctx.target);
    const p = ctx.params;
    const stored = ctx.hasOutput === true;
    const which = `${p.previous ? 'previous ' : ''}log of container '${container}' of pod '${namespace}/${name}'`;
    let body;
    try {
      body = await ctx.kube.streams.log({
        namespace,
        pod: name,
        container,
        ...(p.tailLines > 0 ? { tailLines: p.tailLines } : {}),
        ...(p.sinceSeconds !== undefined ? { sinceSeconds: p.sinceSeconds } : {}),
        previous: p.previous,
        timestamps: p.timestamps,
        limitBytes: stored ? p.maxBytes + 1 : Math.min(p.maxBytes, LOG_EXCERPT_READ_BYTES),
        signal: ctx.signal,
      });
    } catch (err) {
      return { ...apiFailure(`reading the ${which}`, err), objects: [read.ref] };
    }
    if (stored) {
      const artifact = { name: safeArtifactName(`log-${container}${p.previous ? '-previous' : ''}.txt`), contentType: 'text/plain; charset=utf-8', stream: body, maxBytes: p.maxBytes };
      return { ...ok('LogCollected', `collected the ${which}`, [read.ref]), artifact };
    }
    const capture = new CappedCapture(LOG_EXCERPT_READ_BYTES);
    try {
      for await (const chunk of body) capture.add(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    } catch (err) {
      return { ...apiFailure(`reading the ${which}`, err), objects: [read.ref] };
    }
    const text = printable(capture.data, Number.MAX_SAFE_INTEGER);
    const excerpt = text.length > MESSAGE_EXCERPT_CHARS ? `…${text.slice(-MESSAGE_EXCERPT_CHARS)}` : text;
    const empty = text === '' ? ' (empty)' : '';
    return ok('LogCollected', `${which}${empty}${empty === '' ? `:\n${excerpt}` : ''}`, [read.ref]);
  },
};
