/**
 * The `elasticsearch` notifier: one document per outcome, `POST <url>/<index>-<suffix>/_doc`,
 * the suffix the outcome's UTC date (`daily` YYYY.MM.DD, `monthly` YYYY.MM, `annually` YYYY,
 * `none`). The document is the notification record plus `@timestamp`. With
 * `indexTemplate.create`, an index template (`PUT <url>/_index_template/<index>`, shards,
 * replicas and the field mappings) is put once, before the first document; a failed put is
 * tried again before the next one. Authentication — `user` with `passwordFile` (basic) or
 * `apiKeyFile` (`Authorization: ApiKey …`) — and `headers` go on EVERY request (Talon sends
 * them on the template call only, so its documents are refused by secured clusters).
 */
import type http from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { Secret } from '../lib/secret.js';
import type { Notifier } from './types.js';
import { HeadersSchema, TlsSchema, agentFor, basicAuth, httpUrl, sendJson } from './http.js';
import { notificationOf, type Notification } from './notification.js';

export const ElasticsearchConfigSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'Base URL of Elasticsearch, e.g. https://es.example:9200.' }),
    index: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$', default: 'talon', description: 'Index name (the date suffix is added).' }),
    suffix: Type.Unsafe<'daily' | 'monthly' | 'annually' | 'none'>({ type: 'string', enum: ['daily', 'monthly', 'annually', 'none'], default: 'daily', description: 'Date suffix of the index.' }),
    indexTemplate: Type.Object(
      {
        create: Type.Boolean({ default: false, description: 'Put an index template for the index once, before the first document.' }),
        shards: Type.Integer({ minimum: 1, default: 1, description: 'number_of_shards of the template.' }),
        replicas: Type.Integer({ minimum: 0, default: 1, description: 'number_of_replicas of the template.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    user: Type.Optional(Type.String({ minLength: 1, description: 'Basic auth user (with passwordFile).' })),
    passwordFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the basic auth password (a mounted Secret).' })),
    apiKeyFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding an API key (the base64 "id:key" Elasticsearch returns); sent as Authorization: ApiKey.' })),
    headers: HeadersSchema,
    tls: Type.Optional(TlsSchema),
  },
  { additionalProperties: false },
);
export type ElasticsearchConfig = Static<typeof ElasticsearchConfigSchema>;

/** The index a document of an outcome at `time` goes to (pure; UTC date). */
export function indexName(index: string, suffix: ElasticsearchConfig['suffix'], time: string): string {
  const d = new Date(time);
  const at = Number.isNaN(d.getTime()) ? new Date(0) : d;
  const yyyy = String(at.getUTCFullYear());
  const mm = String(at.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(at.getUTCDate()).padStart(2, '0');
  switch (suffix) {
    case 'none':
      return index;
    case 'annually':
      return `${index}-${yyyy}`;
    case 'monthly':
      return `${index}-${yyyy}.${mm}`;
    case 'daily':
      return `${index}-${yyyy}.${mm}.${dd}`;
  }
}

/** The document of one outcome (pure). */
export function elasticsearchDocument(o: Outcome): Notification & { readonly '@timestamp': string } {
  return { '@timestamp': o.time, ...notificationOf(o) };
}

const keyword = { type: 'keyword' } as const;

/** The index template body (pure). */
export function indexTemplateBody(c: Pick<ElasticsearchConfig, 'index' | 'suffix' | 'indexTemplate'>): unknown {
  return {
    index_patterns: [c.suffix === 'none' ? c.index : `${c.index}-*`],
    template: {
      settings: { number_of_shards: c.indexTemplate.shards, number_of_replicas: c.indexTemplate.replicas },
      mappings: {
        properties: {
          '@timestamp': { type: 'date' },
          time: { type: 'date' },
          traceId: keyword,
          result: keyword,
          reason: keyword,
          message: { type: 'text' },
          rule: { properties: { kind: keyword, namespace: keyword, name: keyword } },
          action: keyword,
          actionner: keyword,
          target: { properties: { kind: keyword, namespace: keyword, name: keyword } },
          alert: { properties: { rule: keyword, priority: keyword, time: { type: 'date' }, source: keyword, hostname: keyword, output: { type: 'text' }, uuid: keyword } },
          durationMs: { type: 'long' },
          artifact: { properties: { output: keyword, location: keyword, bytes: { type: 'long' }, truncated: { type: 'boolean' } } },
        },
      },
    },
  };
}

interface ElasticsearchState {
  readonly base: URL;
  readonly agent: http.Agent;
  readonly auth?: Secret;
  /** Set once the template is in place (or not wanted). */
  template: Promise<void> | undefined;
}

function authOf(c: ElasticsearchConfig): Secret | undefined {
  if ((c.user === undefined) !== (c.passwordFile === undefined)) throw new Error('user and passwordFile go together');
  if (c.apiKeyFile !== undefined && c.user !== undefined) throw new Error('set either user/passwordFile or apiKeyFile, not both');
  if (c.apiKeyFile !== undefined) return Secret.of(`ApiKey ${Secret.fromFile(c.apiKeyFile).reveal()}`, c.apiKeyFile);
  if (c.user !== undefined && c.passwordFile !== undefined) return Secret.of(basicAuth(c.user, Secret.fromFile(c.passwordFile)), c.passwordFile);
  return undefined;
}

export const elasticsearchNotifier: Notifier<ElasticsearchConfig, ElasticsearchState> = {
  type: 'elasticsearch',
  description: 'A document per outcome in a dated Elasticsearch index (optional index template; basic auth or API key on every request)',
  configSchema: ElasticsearchConfigSchema,
  init: (config) => {
    const base = httpUrl(config.url, 'url');
    const auth = authOf(config);
    return { base, agent: agentFor(base, config.tls), ...(auth ? { auth } : {}), template: config.indexTemplate.create ? undefined : Promise.resolve() };
  },
  notify: async (outcome, ctx) => {
    const { state, config, signal } = ctx;
    const common = { label: 'elasticsearch', headers: config.headers, ...(state.auth ? { secretHeaders: { authorization: state.auth } } : {}), agent: state.agent, signal };
    const at = (path: string): URL => new URL(`${state.base.pathname.replace(/\/+$/, '')}/${path}`, state.base);
    if (state.template === undefined) {
      const put = sendJson({ ...common, url: at(`_index_template/${config.index}`), method: 'PUT', body: indexTemplateBody(config) }).then(() => undefined);
      state.template = put;
      put.catch(() => {
        if (state.template === put) state.template = undefined; // tried again before the next document
      });
    }
    await state.template;
    await sendJson({ ...common, url: at(`${indexName(config.index, config.suffix, outcome.time)}/_doc`), body: elasticsearchDocument(outcome) });
  },
};
