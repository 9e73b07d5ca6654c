/**
 * Errors with a stable `code` and a `retryable` verdict, and the mapping of Kubernetes API
 * failures onto them. Classification is by HTTP status code or system error code, never by
 * message text (STYLE.md "Errors and logs").
 */

/**
 * Every code a TalonError carries. A failed action run carries its error's code as its
 * outcome reason, so each code is also in the reasons catalogue (api/v1alpha1/reasons.ts,
 * which fails to compile otherwise).
 */
export const ERROR_CODES = [
  'BadRequest',
  'Unauthorized',
  'Forbidden',
  'NotFound',
  'MethodNotAllowed',
  'Conflict',
  'Gone',
  'UnsupportedMediaType',
  'Invalid',
  'TooManyRequests',
  'ServerError',
  'ClientError',
  'NetworkError',
  'Aborted',
  'Unknown',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface TalonErrorOptions {
  readonly retryable?: boolean;
  readonly cause?: unknown;
  /** HTTP status of the failed call, when there was one. */
  readonly status?: number;
  /** Server-suggested delay before a retry (429 Retry-After), in milliseconds. */
  readonly retryAfterMs?: number;
}

/** An error the operator understands: `code` is stable and machine-readable; `retryable` says whether trying again can help. */
export class TalonError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, options: TalonErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TalonError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    if (options.status !== undefined) this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/** A failure that retrying cannot fix: record it and stop. */
export class TerminalError extends TalonError {
  constructor(code: ErrorCode, message: string, options: Omit<TalonErrorOptions, 'retryable'> = {}) {
    super(code, message, { ...options, retryable: false });
    this.name = 'TerminalError';
  }
}

/** System error codes of transient network failures; a retry may succeed. */
const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

interface StatusDetails {
  readonly message?: string;
  readonly reason?: string;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

/** The HTTP status of a Kubernetes client error: ApiException.code, or statusCode/status/response.statusCode. */
function httpStatusOf(err: Record<string, unknown>): number | undefined {
  for (const v of [err.code, err.statusCode, err.status, asRecord(err.response)?.statusCode]) {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 100 && v <= 599) return v;
  }
  return undefined;
}

/** The Kubernetes `Status` object of an ApiException body (an object or its JSON text). */
function statusBodyOf(err: Record<string, unknown>): StatusDetails {
  let body = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return {};
    }
  }
  const rec = asRecord(body);
  if (!rec) return {};
  const out: { message?: string; reason?: string } = {};
  if (typeof rec.message === 'string') out.message = rec.message;
  if (typeof rec.reason === 'string') out.reason = rec.reason;
  return out;
}

function networkCodeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; depth++) {
    const rec = asRecord(e);
    if (!rec) return undefined;
    for (const v of [rec.code, rec.errno]) {
      if (typeof v === 'string' && RETRYABLE_NETWORK_CODES.has(v)) return v;
    }
    e = rec.cause;
  }
  return undefined;
}

function retryAfterMsOf(err: Record<string, unknown>): number | undefined {
  const headers = asRecord(err.headers);
  const raw = headers?.['retry-after'] ?? headers?.['Retry-After'];
  const seconds = typeof raw === 'string' ? Number(raw) : typeof raw === 'number' ? raw : NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

const FORBIDDEN_RE = /cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]*)"| (at the cluster scope))?/;

/**
 * `missing RBAC permission: cannot delete pods in namespace "web"` from a 403 Status message,
 * when it names them: the verb, the resource (with its API group unless core), and where
 * (`in namespace "…"` or `at the cluster scope`), so the outcome alone says which Role rule is
 * missing.
 */
function rbacHint(message: string | undefined): string | undefined {
  const m = message === undefined ? null : FORBIDDEN_RE.exec(message);
  if (!m) return undefined;
  const group = m[3] ? ` (API group "${m[3]}")` : '';
  const where = m[4] !== undefined ? ` in namespace "${m[4]}"` : m[5] !== undefined ? ` ${m[5]}` : '';
  return `missing RBAC permission: cannot ${m[1]} ${m[2]}${group}${where}`;
}

const STATUS_CODES: ReadonlyMap<number, { code: ErrorCode; retryable: boolean }> = new Map<number, { code: ErrorCode; retryable: boolean }>([
  [400, { code: 'BadRequest', retryable: false }],
  [401, { code: 'Unauthorized', retryable: false }],
  [403, { code: 'Forbidden', retryable: false }],
  [404, { code: 'NotFound', retryable: false }],
  [405, { code: 'MethodNotAllowed', retryable: false }],
  [409, { code: 'Conflict', retryable: true }],
  [410, { code: 'Gone', retryable: true }],
  [415, { code: 'UnsupportedMediaType', retryable: false }],
  [422, { code: 'Invalid', retryable: false }],
  [429, { code: 'TooManyRequests', retryable: true }],
]);

/**
 * Maps anything a Kubernetes client call threw onto a TalonError.
 *
 * By HTTP status: 404 `NotFound` (the object is gone), 409 `Conflict` (re-read and retry),
 * 410 `Gone` (relist, then retry), 429 `TooManyRequests` and 5xx `ServerError` retryable;
 * 400 `BadRequest`, 401, 403 `Forbidden`, 422 `Invalid` and other 4xx are terminal. A 403's
 * message names the missing verb and resource when the API server's Status says which.
 * Transient network failures (ECONNREFUSED, ECONNRESET, ETIMEDOUT, …) are `NetworkError`,
 * retryable; an aborted call is `Aborted`, terminal. A TalonError is returned unchanged;
 * anything else is `Unknown`, terminal.
 */
export function fromKubeError(err: unknown): TalonError {
  if (err instanceof TalonError) return err;
  const rec = asRecord(err);
  const baseMessage = err instanceof Error ? err.message : String(err);
  if (rec) {
    const status = httpStatusOf(rec);
    if (status !== undefined) {
      const details = statusBodyOf(rec);
      const kind: { code: ErrorCode; retryable: boolean } = STATUS_CODES.get(status) ?? (status >= 500 ? { code: 'ServerError', retryable: true } : { code: 'ClientError', retryable: false });
      const apiMessage = details.message ?? details.reason ?? `HTTP ${status}`;
      const hint = status === 403 ? rbacHint(details.message) : undefined;
      const message = hint === undefined ? apiMessage : `${hint}: ${apiMessage}`;
      const retryAfterMs = status === 429 || status === 503 ? retryAfterMsOf(rec) : undefined;
      return new TalonError(kind.code, message, {
        retryable: kind.retryable,
        status,
        cause: err,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    const netCode = networkCodeOf(err);
    if (netCode !== undefined) {
      return new TalonError('NetworkError', `${netCode}: ${baseMessage}`, { retryable: true, cause: err });
    }
    if (rec.name === 'AbortError' || rec.code === 'ABORT_ERR') {
      return new TerminalError('Aborted', baseMessage, { cause: err });
    }
  }
  return new TerminalError('Unknown', baseMessage, { cause: err });
}

/**
 * What `err` means to a retry loop (the reconcile queue): the retryable TalonError when
 * trying again can help (409, 410, 429, 5xx, transient network failures), else a
 * TerminalError with the same code, message and status — retrying the same call cannot fix
 * a 400, 403, 404 or 422, nor a bug.
 */
export function terminalUnlessRetryable(err: unknown): TalonError {
  const e = fromKubeError(err);
  if (e.retryable || e instanceof TerminalError) return e;
  return new TerminalError(e.code, e.message, { cause: err, ...(e.status !== undefined ? { status: e.status } : {}) });
}
