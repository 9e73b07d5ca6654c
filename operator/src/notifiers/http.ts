/**
 * What the HTTP notifiers (slack, teams, webhook, loki, elasticsearch) share: the TLS and
 * header settings of their config, reading secrets from files, and one JSON request whose
 * failure is classified for the router.
 *
 * Failure contract of `sendJson` (the router retries what is retryable, STYLE.md "Errors"):
 * - 2xx: resolves with the status and at most 64 KiB of the answer;
 * - 408, 429, 5xx: a retryable TalonError carrying `status` and, from `Retry-After` (seconds
 *   or an HTTP date), `retryAfterMs`;
 * - other answers: a TerminalError (retrying cannot fix a 400, 401, 403 or 404);
 * - network failures (refused, reset, DNS): a retryable `NetworkError`; certificate
 *   verification failures on either side: a TerminalError (retrying cannot fix them).
 * Messages name the receiver by its label and host only, never the URL: a Slack or Teams
 * webhook URL is itself the secret, and errors end up in logs.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { TalonError, TerminalError, type ErrorCode } from '../errors.js';
import { Secret } from '../lib/secret.js';

/** TLS options of an https receiver: a CA bundle to trust and a client certificate to present. */
export const TlsSchema = Type.Object(
  {
    caFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM bundle of the CAs that sign the receiver (default: the system roots).' })),
    certFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate (with keyFile), for receivers that verify clients.' })),
    keyFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of certFile.' })),
    serverName: Type.Optional(Type.String({ minLength: 1, description: 'Name to verify the receiver certificate against, when it differs from the URL host.' })),
  },
  { additionalProperties: false, description: 'TLS towards the receiver; the certificate is always verified.' },
);
export type TlsSettings = Static<typeof TlsSchema>;

/** Extra request headers with plain values (never secrets: use headerFiles). */
export const HeadersSchema = Type.Record(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), Type.String(), {
  default: {},
  description: 'Extra request headers (plain values).',
});
/** Extra request headers whose values are secrets, read from files. */
export const HeaderFilesSchema = Type.Record(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), Type.String({ minLength: 1 }), {
  default: {},
  description: 'Extra request headers whose values are read from files (e.g. Authorization), so a Kubernetes Secret can be mounted.',
});

/** An agent for one configured receiver: keep-alive, with its TLS options read once. Throws naming the file that cannot be read. */
export function agentFor(url: URL, tls: TlsSettings | undefined): http.Agent {
  if (url.protocol === 'http:') return new http.Agent({ keepAlive: true });
  if ((tls?.certFile === undefined) !== (tls?.keyFile === undefined)) throw new Error('tls.certFile and tls.keyFile go together');
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return new https.Agent({
    keepAlive: true,
    ...(tls?.caFile !== undefined ? { ca: read(tls.caFile) } : {}),
    ...(tls?.certFile !== undefined ? { cert: read(tls.certFile) } : {}),
    ...(tls?.keyFile !== undefined ? { key: read(tls.keyFile) } : {}),
    ...(tls?.serverName !== undefined ? { servername: tls.serverName } : {}),
  });
}

/**
 * An http(s) URL from `text`; `what` names it in errors, which never repeat the text (it may
 * be a secret URL).
 */
export function httpUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${what} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${what} must be an http or https URL`);
  return url;
}

/** An http(s) URL read from a secret file (a webhook URL is a secret). */
export function secretUrl(path: string, what: string): { url: URL; secret: Secret } {
  const secret = Secret.fromFile(path);
  return { url: httpUrl(secret.reveal(), `${what} in ${path}`), secret };
}

/** Header values read from files. */
export function headersFromFiles(files: Readonly<Record<string, string>> | undefined): Record<string, Secret> {
  return Object.fromEntries(Object.entries(files ?? {}).map(([k, path]) => [k, Secret.fromFile(path)]));
}

/** `Authorization: Basic …` of a user and a secret password. */
export function basicAuth(user: string, password: Secret): string {
  return `Basic ${Buffer.from(`${user}:${password.reveal()}`).toString('base64')}`;
}

export interface JsonRequest {
  readonly url: URL;
  /** Names the receiver in errors, e.g. "the slack webhook". */
  readonly label: string;
  readonly method?: string;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly secretHeaders?: Readonly<Record<string, Secret>>;
  readonly agent?: http.Agent;
  readonly signal: AbortSignal;
}

export interface JsonAnswer {
  readonly status: number;
  readonly body: string;
}

const ANSWER_MAX = 64 * 1024;
export const USER_AGENT = 'talon-operator';

/** Milliseconds a `Retry-After` value asks for (delta-seconds or an HTTP date); undefined when absent or malformed. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const STATUS_CODE: Readonly<Record<number, ErrorCode>> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests' };

/** The error an answer with `status` stands for (see the module contract). */
export function statusError(label: string, status: number, retryAfter: string | undefined): TalonError {
  const message = `${label} answered HTTP ${status}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter);
    return new TalonError(status >= 500 ? 'ServerError' : 'TooManyRequests', message, { retryable: true, status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
  return new TerminalError(STATUS_CODE[status] ?? 'ClientError', message, { status });
}

/** Sends `body` as JSON; resolves on 2xx, rejects as the module contract says. */
export function sendJson(req: JsonRequest): Promise<JsonAnswer> {
  const payload = Buffer.from(JSON.stringify(req.body));
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'user-agent': USER_AGENT,
    ...req.headers,
    ...Object.fromEntries(Object.entries(req.secretHeaders ?? {}).map(([k, v]) => [k, v.reveal()])),
    'content-length': String(payload.length),
  };
  const where = `${req.label} (${req.url.host})`;
  const transport = req.url.protocol === 'https:' ? https : http;
  return new Promise<JsonAnswer>((resolve, reject) => {
    const r = transport.request(req.url, { method: req.method ?? 'POST', headers, signal: req.signal, ...(req.agent ? { agent: req.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < ANSWER_MAX) chunks.push(c);
        size += c.length;
      });
      res.on('error', (err) => reject(networkError(where, err)));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).subarray(0, ANSWER_MAX).toString('utf8');
        if (status >= 200 && status < 300) resolve({ status, body });
        else reject(statusError(where, status, headerText(res.headers['retry-after'])));
      });
    });
    r.on('error', (err) => reject(req.signal.aborted ? req.signal.reason : networkError(where, err)));
    r.end(payload);
  });
}

const headerText = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** Certificate verification failures (OpenSSL's verify codes, Node's TLS codes): configuration, not luck. */
const TLS_VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A failure before any answer. Certificate problems on either side (we do not trust the
 * receiver, or it refused our client certificate with a TLS alert) are terminal: retrying
 * the same handshake cannot succeed. Everything else (refused, reset, DNS) is retryable.
 */
function networkError(where: string, err: Error): TalonError {
  const code = (err as NodeJS.ErrnoException).code ?? err.name;
  if (TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_SSL_')) return new TerminalError('ClientError', `${where}: TLS handshake failed: ${code}`);
  return new TalonError('NetworkError', `${where} could not be reached: ${code}`, { retryable: true });
}
