/**
 * gcp:function — calls a Google Cloud Function (2nd gen, or any Cloud Run URL) with the alert
 * and the rule's context (cloud-payload.ts), authenticated with a Google-signed ID token whose
 * audience is the function's URL.
 *
 * Split of powers: an action names the function's URL and a timeout in SECONDS (Talon read its
 * timeout as nanoseconds); the credentials live only in the operator config (`actionners.gcp`):
 * a service-account key file (`credentialsFile`, read at init; its `token_uri` is honoured, for
 * private or test token endpoints), else Application Default Credentials (workload identity,
 * GOOGLE_APPLICATION_CREDENTIALS, the metadata server). `allowedUrlPrefixes` restricts the
 * URLs actions may call ([] = any https:// URL; a plain http:// URL must be listed).
 *
 * Outcome: 2xx → Invoked with the status and the response capped at `maxResponseBytes`; 429 and
 * 5xx (and no answer) → InvokeFailed, retryable (the dispatcher retries); other statuses →
 * InvokeFailed, not retried; the function's timeout → InvokeFailed, retryable.
 * Tenancy: `cloud` — ClusterTalonRules, or TalonRules in `safety.cloudNamespaces`.
 * google-auth-library is loaded by `init` (lib/first-use.ts), which runs only once a rule uses
 * this actionner: an operator without such rules does not carry it.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import type { IdTokenClient } from 'google-auth-library';
import { capText, cloudPayload } from '../cloud-payload.js';
import { failed, ok, type ActionContext, type Actionner, type ActionResult, type ActionnerInitDeps } from '../types.js';
import { firstUse } from '../../lib/first-use.js';

const googleAuth = firstUse('google-auth-library', () => import('google-auth-library'));

const NAME = 'gcp:function';
/** The token endpoint google-auth-library always calls for service-account keys. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

const FunctionParamsSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https?://[^\\s/?#@]+(/[^\\s#]*)?$', maxLength: 2048, description: 'The function’s URL (serviceConfig.uri), e.g. https://fn-abc-uc.a.run.app; it is the ID token’s audience.' }),
    timeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'How long to wait for the function’s answer, in seconds.' }),
  },
  { additionalProperties: false },
);
export type FunctionParams = Static<typeof FunctionParamsSchema>;

/** `actionners.gcp` in the operator config. */
export const GcpConfigSchema = Type.Object(
  {
    credentialsFile: Type.Optional(Type.String({ minLength: 1, description: 'Service-account key file (JSON); absent = Application Default Credentials (workload identity).' })),
    allowedUrlPrefixes: Type.Array(Type.String({ pattern: '^https?://[^\\s/?#@]+' }), {
      default: [],
      description: 'URL prefixes actions may call; [] = any https:// URL.',
    }),
    maxResponseBytes: Type.Integer({ minimum: 0, maximum: 1024 * 1024, default: 4096, description: 'Largest part of a function’s response kept in the outcome message.' }),
  },
  { additionalProperties: false },
);
export type GcpConfig = Static<typeof GcpConfigSchema>;

export interface FunctionResponse {
  readonly status: number;
  readonly body: Uint8Array;
}

export interface GcpState {
  /** POSTs `json` to `url` with an ID token for it; throws on network failures and timeouts. */
  readonly post: (url: string, json: string, signal: AbortSignal) => Promise<FunctionResponse>;
  readonly allowedUrlPrefixes: readonly string[];
  readonly maxResponseBytes: number;
}

/** Whether an action may call `url` under `prefixes`. */
export function urlAllowed(url: string, prefixes: readonly string[]): boolean {
  return prefixes.length === 0 ? url.startsWith('https://') : prefixes.some((p) => url.startsWith(p));
}

interface KeyFile {
  readonly type?: unknown;
  readonly client_email?: unknown;
  readonly private_key?: unknown;
  readonly token_uri?: unknown;
}

/** Reads and checks a service-account key file; errors name the file, never its content. */
function readKeyFile(path: string): KeyFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`actionners.gcp.credentialsFile ${path}: not a readable JSON key file (${err instanceof Error && 'code' in err ? String(err.code) : 'invalid JSON'})`);
  }
  const k = (parsed ?? {}) as KeyFile;
  if (k.type !== 'service_account' || typeof k.client_email !== 'string' || typeof k.private_key !== 'string') {
    throw new Error(`actionners.gcp.credentialsFile ${path}: not a service-account key (type service_account with client_email and private_key)`);
  }
  return k;
}

/** Builds the authenticated caller. With a key file, checks it now (a bad file fails init). */
export async function initGcp(config: Readonly<Record<string, unknown>>, deps?: ActionnerInitDeps): Promise<GcpState> {
  const c = config as GcpConfig;
  const key = c.credentialsFile === undefined ? undefined : readKeyFile(c.credentialsFile);
  const tokenUri = typeof key?.token_uri === 'string' && key.token_uri !== GOOGLE_TOKEN_URL ? key.token_uri : undefined;
  if (tokenUri !== undefined && !/^https?:\/\//.test(tokenUri)) throw new Error(`actionners.gcp.credentialsFile ${c.credentialsFile}: token_uri is not an http(s) URL`);
  // The settings are checked: only now the library.
  const { GoogleAuth } = await googleAuth();
  const auth = new GoogleAuth(c.credentialsFile === undefined ? {} : { keyFilename: c.credentialsFile });
  if (tokenUri !== undefined) {
    // google-auth-library always posts the assertion to GOOGLE_TOKEN_URL: honour the key's token_uri.
    const client = await auth.getClient();
    client.transporter.interceptors.request.add({
      resolved: async (opts) => {
        if (String(opts.url) === GOOGLE_TOKEN_URL) opts.url = new URL(tokenUri);
        return opts;
      },
    });
  }
  const clients = new Map<string, Promise<IdTokenClient>>();
  const clientFor = (url: string): Promise<IdTokenClient> => {
    let p = clients.get(url);
    if (p === undefined) {
      p = auth.getIdTokenClient(url);
      clients.set(url, p);
      p.catch(() => clients.delete(url));
    }
    return p;
  };
  deps?.log.debug('actionner ready', { actionner: NAME, credentials: c.credentialsFile === undefined ? 'default' : 'file', tokenUri: tokenUri ?? 'google' });
  return {
    post: async (url, json, signal) => {
      const client = await clientFor(url);
      const res = await client.request<ArrayBuffer>({
        url,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: json,
        signal,
        responseType: 'arraybuffer',
        validateStatus: () => true,
        retry: false,
      });
      return { status: res.status, body: new Uint8Array(res.data ?? new ArrayBuffer(0)) };
    },
    allowedUrlPrefixes: c.allowedUrlPrefixes,
    maxResponseBytes: c.maxResponseBytes,
  };
}

async function run(ctx: ActionContext<FunctionParams>): Promise<ActionResult> {
  const state = ctx.state as GcpState | undefined;
  if (state === undefined) return failed('InvokeFailed', `${NAME} is not initialised`, true);
  const { url, timeoutSeconds } = ctx.params;
  if (!urlAllowed(url, state.allowedUrlPrefixes)) {
    return failed('InvokeFailed', `function URL ${url} is not allowed by the operator config (actionners.gcp.allowedUrlPrefixes${state.allowedUrlPrefixes.length === 0 ? ': https:// only' : ''})`);
  }
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error(`no answer within ${timeoutSeconds}s`)), timeoutSeconds * 1000);
  const signal = AbortSignal.any([ctx.signal, timeout.signal]);
  let res: FunctionResponse;
  try {
    res = await state.post(url, JSON.stringify(cloudPayload(ctx, NAME)), signal);
  } catch (err) {
    if (ctx.signal.aborted) return failed('Aborted', `calling function ${url} was aborted`);
    if (timeout.signal.aborted) return failed('InvokeFailed', `function ${url} did not answer within ${timeoutSeconds}s`, true);
    return failed('InvokeFailed', `calling function ${url} failed: ${err instanceof Error ? err.message : String(err)}`, true);
  } finally {
    clearTimeout(timer);
  }
  const body = capText(res.body, state.maxResponseBytes);
  if (res.status >= 200 && res.status <= 299) return ok('Invoked', `function ${url} answered status ${res.status}${body === '' ? '' : `: ${body}`}`);
  return failed('InvokeFailed', `function ${url} answered status ${res.status}: ${body}`, res.status === 429 || res.status >= 500);
}

export const functionActionner: Actionner<FunctionParams> = {
  info: {
    name: NAME,
    description: 'Call a Google Cloud Function (2nd gen) with the alert and the rule context, with an ID token.',
    requiredFields: [],
    defaultContinue: true,
    destructive: false,
    target: 'none',
    cloud: true,
    output: 'none',
    rbac: [],
    example: { url: 'https://falco-response-abc123-uc.a.run.app', timeoutSeconds: 30 },
  },
  paramsSchema: FunctionParamsSchema,
  configSchema: GcpConfigSchema,
  init: (config, deps) => initGcp(config, deps),
  precheck: () => ({ ok: true }),
  run,
};
