/**
 * Raw JSON requests to the API server for the hot path (a label PATCH per alert, Event
 * writes): client-node's typed clients run every request and response through its
 * ObjectSerializer (`deserialize`, `findCorrectType`, media-type negotiation), which was
 * 12 % of the operator's busy time at 100 label actions/s. Here the body is JSON.stringify'd,
 * the response JSON.parse'd only when the caller wants it (`discard` skips it), and the
 * caller reads the fields it needs.
 *
 * Requests go through the same pooled keep-alive transport and auth material as the typed
 * clients (KeepAliveKubeConfig.authMaterial: computed at most once per AUTH_REFRESH_MS, the
 * pool swapped when the TLS material changes). A 401 forces the material to be computed
 * again and the request is sent once more (an expired exec credential or a rotated token).
 *
 * Errors are what the typed clients throw, so `fromKubeError` maps them the same way: a
 * non-2xx answer rejects with an ApiException carrying the status code, the response text
 * (the Kubernetes Status) and the headers (Retry-After); network failures and aborts reject
 * with node's own errors (`ECONNRESET`…, `AbortError`).
 */
import http from 'node:http';
import https from 'node:https';
import { ApiException } from './client-node-lite.js';
import type { AuthMaterial } from './pool.js';

export const MERGE_PATCH = 'application/merge-patch+json';

/**
 * Where a typed call's options carry its AbortSignal (actionners/kubernetes/common.ts
 * requestOptions), so a typed call answered by a raw request (kube/access.ts) still aborts.
 */
export const REQUEST_SIGNAL: unique symbol = Symbol('talon.requestSignal');

export interface RawRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The API path, e.g. `apiPath('api', 'v1', 'namespaces', ns, 'pods', name)`. */
  readonly path: string;
  /** Sent as JSON (a string as is). */
  readonly body?: unknown;
  /** Content-Type of the body (default application/json; merge patches: MERGE_PATCH). */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** The caller needs nothing from the response: it is read but not parsed (resolves undefined). */
  readonly discard?: boolean;
  /**
   * The caller reads only the object's `metadata`: the server is asked for PartialObjectMetadata
   * (a pod's answer loses its spec and status), or the whole object where it cannot.
   */
  readonly metadataOnly?: boolean;
}

/** Accept header of `metadataOnly` requests: PartialObjectMetadata, else plain JSON. */
export const METADATA_ONLY_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json';

/** Raw requests (injected into actionners through KubeClients; fakes in unit tests). */
export interface RawKube {
  /** Resolves with the parsed response body (undefined when `discard` or empty); rejects as the module doc says. */
  request<T = unknown>(req: RawRequest): Promise<T>;
}

/** Where a request's auth comes from (KeepAliveKubeConfig, or any KubeConfig per request). */
export interface AuthSource {
  readonly server: string;
  /** `refresh`: compute it again now (after a 401). */
  authMaterial(refresh?: boolean): Promise<AuthMaterial>;
}

/** `/seg/seg/…` with every segment URI-encoded (names come from alerts). */
export function apiPath(...segments: readonly string[]): string {
  let out = '';
  for (const s of segments) out += `/${encodeURIComponent(s)}`;
  return out;
}

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly headers: Record<string, string>;
}

/** RawKube over node:http(s) (see the module doc). */
export class RawClient implements RawKube {
  private readonly send: typeof https.request;
  private readonly hostname: string;
  private readonly port: string;
  private readonly prefix: string;

  constructor(private readonly auth: AuthSource) {
    const u = new URL(auth.server);
    this.send = u.protocol === 'http:' ? http.request : https.request;
    this.hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = u.port;
    this.prefix = u.pathname.replace(/\/+$/, '');
  }

  async request<T = unknown>(req: RawRequest): Promise<T> {
    const body = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    let answer = await this.once(req, body, await this.auth.authMaterial());
    if (answer.status === 401) answer = await this.once(req, body, await this.auth.authMaterial(true));
    if (answer.status < 200 || answer.status > 299) {
      throw new ApiException(answer.status, `${req.method} ${req.path}`, answer.text, answer.headers);
    }
    if (req.discard === true || answer.text === '') return undefined as T;
    return JSON.parse(answer.text) as T;
  }

  private once(req: RawRequest, body: string | undefined, auth: AuthMaterial): Promise<Answer> {
    const headers: Record<string, string> = { ...auth.headers, accept: req.metadataOnly === true ? METADATA_ONLY_ACCEPT : 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return new Promise<Answer>((resolve, reject) => {
      const r = this.send(
        {
          hostname: this.hostname,
          ...(this.port !== '' ? { port: this.port } : {}),
          path: this.prefix + req.path,
          method: req.method,
          headers,
          ...(auth.agent !== undefined ? { agent: auth.agent } : {}),
          ...(req.signal !== undefined ? { signal: req.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            // Headers are only copied for failures (Retry-After); success needs none.
            const out: Record<string, string> = {};
            if (status < 200 || status > 299) for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
            resolve({ status, text: chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'), headers: out });
          });
        },
      );
      r.on('error', reject);
      r.end(body);
    });
  }
}
