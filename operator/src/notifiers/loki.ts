/**
 * The `loki` notifier: one log line per outcome through Loki's push API
 * (`POST <url>/loki/api/v1/push`). Stream labels are bounded: `result`, `rule` (namespace/name
 * of the TalonRule, or the ClusterTalonRule's name), `actionner` and `namespace` (the
 * target's, when it has one) — never pod names, trace ids or messages, which would make a
 * stream per alert. The line is the notification record as JSON (query it with `| json`);
 * its timestamp is the outcome's time. `tenant` sets `X-Scope-OrgID`; `user` with
 * `passwordFile` is basic auth.
 */
import type http from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { Secret } from '../lib/secret.js';
import type { Notifier } from './types.js';
import { HeadersSchema, TlsSchema, agentFor, basicAuth, httpUrl, sendJson } from './http.js';
import { notificationOf, ruleName } from './notification.js';

export const LokiConfigSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'Base URL of Loki (or its gateway), e.g. http://loki-gateway.monitoring; /loki/api/v1/push is appended.' }),
    tenant: Type.Optional(Type.String({ minLength: 1, description: 'Tenant id, sent as X-Scope-OrgID.' })),
    user: Type.Optional(Type.String({ minLength: 1, description: 'Basic auth user (with passwordFile).' })),
    passwordFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the basic auth password or API key (a mounted Secret).' })),
    headers: HeadersSchema,
    tls: Type.Optional(TlsSchema),
  },
  { additionalProperties: false },
);
export type LokiConfig = Static<typeof LokiConfigSchema>;

export interface LokiPush {
  readonly streams: readonly { readonly stream: Readonly<Record<string, string>>; readonly values: readonly (readonly [string, string])[] }[];
}

/** Nanoseconds since the epoch of an RFC 3339 time, as Loki wants them (a decimal string). */
export function unixNanos(time: string): string {
  const ms = Date.parse(time);
  return (BigInt(Number.isNaN(ms) ? 0 : ms) * 1_000_000n).toString();
}

/** The push body of one outcome (pure). */
export function lokiBody(o: Outcome): LokiPush {
  const namespace = o.target.kind !== 'None' && o.target.namespace ? o.target.namespace : undefined;
  const stream = { result: o.result, rule: ruleName(o), actionner: o.actionner, ...(namespace !== undefined ? { namespace } : {}) };
  return { streams: [{ stream, values: [[unixNanos(o.time), JSON.stringify(notificationOf(o))]] }] };
}

interface LokiState {
  readonly push: URL;
  readonly agent: http.Agent;
  readonly auth?: Secret;
}

export const lokiNotifier: Notifier<LokiConfig, LokiState> = {
  type: 'loki',
  description: 'A log line per outcome to Loki (push API; bounded stream labels; tenant header; basic auth)',
  configSchema: LokiConfigSchema,
  init: (config) => {
    if ((config.user === undefined) !== (config.passwordFile === undefined)) throw new Error('user and passwordFile go together');
    const base = httpUrl(config.url, 'url');
    const push = new URL(`${base.pathname.replace(/\/+$/, '')}/loki/api/v1/push`, base);
    const auth = config.user !== undefined && config.passwordFile !== undefined ? Secret.of(basicAuth(config.user, Secret.fromFile(config.passwordFile)), config.passwordFile) : undefined;
    return { push, agent: agentFor(push, config.tls), ...(auth ? { auth } : {}) };
  },
  notify: async (outcome, ctx) => {
    const { state, config } = ctx;
    await sendJson({
      url: state.push,
      label: 'loki',
      body: lokiBody(outcome),
      headers: { ...config.headers, ...(config.tenant !== undefined ? { 'X-Scope-OrgID': config.tenant } : {}) },
      ...(state.auth ? { secretHeaders: { authorization: state.auth } } : {}),
      agent: state.agent,
      signal: ctx.signal,
    });
  },
};
