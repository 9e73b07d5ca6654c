/**
 * The `webhook` notifier: the notification record (notification.ts) as JSON to any HTTP
 * endpoint. The URL comes from `urlFile` (it often embeds a token); `method` POST, PUT or
 * PATCH; plain `headers` and secret `headerFiles` (e.g. Authorization); `tls` trusts a CA
 * bundle and presents a client certificate. The receiver's certificate is always verified.
 */
import type http from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import type { Secret } from '../lib/secret.js';
import type { Notifier } from './types.js';
import { HeaderFilesSchema, HeadersSchema, TlsSchema, agentFor, headersFromFiles, secretUrl, sendJson } from './http.js';
import { notificationOf, type Notification } from './notification.js';

export const WebhookConfigSchema = Type.Object(
  {
    urlFile: Type.String({ minLength: 1, description: 'File holding the receiver URL (a mounted Secret).' }),
    method: Type.Unsafe<'POST' | 'PUT' | 'PATCH'>({ type: 'string', enum: ['POST', 'PUT', 'PATCH'], default: 'POST', description: 'HTTP method.' }),
    headers: HeadersSchema,
    headerFiles: HeaderFilesSchema,
    tls: Type.Optional(TlsSchema),
  },
  { additionalProperties: false },
);
export type WebhookConfig = Static<typeof WebhookConfigSchema>;

/** The request body of one outcome (pure): the notification record. */
export function webhookBody(o: Outcome): Notification {
  return notificationOf(o);
}

interface WebhookState {
  readonly url: URL;
  readonly agent: http.Agent;
  readonly secretHeaders: Readonly<Record<string, Secret>>;
}

export const webhookNotifier: Notifier<WebhookConfig, WebhookState> = {
  type: 'webhook',
  description: 'The outcome as JSON to an HTTP endpoint (method, headers, CA bundle, client certificate)',
  configSchema: WebhookConfigSchema,
  init: (config) => {
    const { url } = secretUrl(config.urlFile, 'the webhook URL');
    return { url, agent: agentFor(url, config.tls), secretHeaders: headersFromFiles(config.headerFiles) };
  },
  notify: async (outcome, ctx) => {
    const { state, config } = ctx;
    await sendJson({ url: state.url, label: 'the webhook', method: config.method, body: webhookBody(outcome), headers: config.headers, secretHeaders: state.secretHeaders, agent: state.agent, signal: ctx.signal });
  },
};
