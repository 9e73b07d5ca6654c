/**
 * The webhook server (DESIGN.md §1): alert intake on POST to any path, plus `/healthz`,
 * `/readyz` and `/metrics` (unless metrics have their own port). Built, not started: the
 * caller listens. HTTPS when `tls` is configured (always in mtls mode); certificates and the
 * token file are re-read periodically so rotated Secrets take effect without a restart.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import type { FalcoEvent } from '../falco/event.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createAuthenticator } from './auth.js';
import { applyConnectionLimits, createRateLimiter, tlsHandshakeTimeout } from './limits.js';
import { sendJson } from './respond.js';
import { createFalcoHandler, type IngestRefusal, type RequestHandler } from './routes/falco.js';
import { handleHealthz, handleMetrics, handleReadyz, type Readiness } from './routes/health.js';

export { warnIfUnauthenticated } from './auth.js';

export interface ServerDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Queues one accepted alert (`body`: its decoded bytes); synchronous and fast. A refusal answers 503 + Retry-After, a throw 500. */
  readonly ingest: (ev: FalcoEvent, body: Buffer) => IngestRefusal | undefined | void;
  /** Commits the alerts `ingest` took this turn (routes/falco.ts); absent: `ingest` already committed them. */
  readonly commit?: () => IngestRefusal | undefined | void;
  readonly isReady: () => Readiness;
  /** How often the token file and TLS files are re-read; 0 disables. Default 10 s. */
  readonly credentialReloadMs?: number;
}

export type WebhookServer = http.Server | https.Server;

const DEFAULT_RELOAD_MS = 10_000;
/**
 * Idle keep-alive connections (config `webhook.keepAliveTimeout`, default 125 s) stay open
 * longer than the senders' own idle limits (Go's transport: 90 s; libcurl: 118 s), so the
 * sender, not us, closes them: a POST on a connection the server is closing would be lost,
 * and neither Falco nor Falcosidekick retries. Connection caps and rate limits: limits.ts.
 */
const HEADERS_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 60_000;

interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

function readTls(tls: NonNullable<Config['tls']>): TlsMaterial {
  return {
    cert: readFileSync(tls.certFile, 'utf8'),
    key: readFileSync(tls.keyFile, 'utf8'),
    ...(tls.clientCAFile === undefined ? {} : { ca: readFileSync(tls.clientCAFile, 'utf8') }),
  };
}

/** Answers malformed requests (bad framing, oversized headers, timeouts) and never lets them throw. */
function onClientError(logger: Logger) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    logger.debug('bad HTTP request', { error: err.message, code: err.code });
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
}

function configure(server: WebhookServer, config: Config, logger: Logger): void {
  applyConnectionLimits(server, config.webhook, logger);
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.on('clientError', onClientError(logger));
  if (server instanceof https.Server) {
    server.on('tlsClientError', (err: Error) => logger.debug('TLS handshake failed', { error: err.message }));
  }
}

/** Re-reads the TLS files periodically and swaps the server's context when they change. */
function watchTls(server: https.Server, tls: NonNullable<Config['tls']>, logger: Logger, intervalMs: number, initial: TlsMaterial): () => void {
  let current = initial;
  const timer = setInterval(() => {
    let next: TlsMaterial;
    try {
      next = readTls(tls);
    } catch (err) {
      logger.warn('cannot re-read TLS files; keeping the current ones', { error: (err as Error).message });
      return;
    }
    if (next.cert === current.cert && next.key === current.key && next.ca === current.ca) return;
    try {
      server.setSecureContext({ ...next });
      current = next;
      logger.info('TLS certificates reloaded', { cert_file: tls.certFile });
    } catch (err) {
      logger.warn('new TLS files are unusable; keeping the current ones', { error: (err as Error).message });
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The webhook server, not listening. Closing it stops the credential reloads. */
export function createServer(deps: ServerDeps): WebhookServer {
  const { config, logger, metrics } = deps;
  const reloadMs = deps.credentialReloadMs ?? DEFAULT_RELOAD_MS;
  const authenticator = createAuthenticator({ config, logger, reloadIntervalMs: reloadMs });
  const falco = createFalcoHandler({ bodyLimitBytes: config.bodyLimitBytes, logger, metrics, authenticator, ingest: deps.ingest, ...(deps.commit ? { commit: deps.commit } : {}) });
  const metricsHere = config.metrics.port === 0;
  const metricsElsewhere = JSON.stringify({ error: `metrics are served on port ${config.metrics.port}` });
  const limiter = createRateLimiter(config.webhook);

  const route: RequestHandler = (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === '/healthz') handleHealthz(req, res);
    else if (path === '/readyz') handleReadyz(req, res, deps);
    else if (path === '/metrics' && req.method !== 'POST') {
      if (metricsHere) handleMetrics(req, res, deps);
      else sendJson(res, 404, metricsElsewhere);
    } else if (limiter.admit(req, res)) falco(req, res);
  };
  const handler: RequestHandler = (req, res) => {
    try {
      route(req, res);
    } catch (err) {
      logger.error('request handler failed', { error: (err as Error).message, stack: (err as Error).stack });
      sendJson(res, 500, JSON.stringify({ error: 'internal error' }), {}, true);
    }
  };

  let server: WebhookServer;
  let stopTls = (): void => undefined;
  if (config.tls === undefined) {
    server = http.createServer(handler);
  } else {
    const material = readTls(config.tls);
    const mtls = config.auth.mode === 'mtls';
    const handshakeTimeout = tlsHandshakeTimeout(config.webhook);
    const httpsServer = https.createServer({ ...material, minVersion: 'TLSv1.2', requestCert: mtls, rejectUnauthorized: false, ...(handshakeTimeout ? { handshakeTimeout } : {}) }, handler);
    if (reloadMs > 0) stopTls = watchTls(httpsServer, config.tls, logger, reloadMs, material);
    server = httpsServer;
  }
  configure(server, config, logger);
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const length = Number(req.headers['content-length']);
    if (req.method === 'POST' && length > config.bodyLimitBytes) {
      handler(req, res);
      return;
    }
    res.writeContinue();
    handler(req, res);
  });
  server.on('close', () => {
    authenticator.close();
    stopTls();
  });
  return server;
}

/**
 * Stops the webhook for a shutdown and resolves once every connection is gone: listening
 * stops, idle keep-alive connections are closed at once and again every 100 ms as requests in
 * flight finish (Node stops its header-timeout sweep once a server is closing, so one idle
 * or silent connection would otherwise hold the process past the pod's grace period), and
 * whatever is still open after `requestGraceMs` is closed.
 */
export function closeGracefully(server: WebhookServer, requestGraceMs = 2_000): Promise<void> {
  return new Promise<void>((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    const cutoff = setTimeout(() => server.closeAllConnections(), requestGraceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(cutoff);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export interface MetricsServerDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** A plain-HTTP server answering GET /metrics (and /healthz), for `metrics.port` ≠ 0. Not listening. */
export function createMetricsServer(deps: MetricsServerDeps): http.Server {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') handleMetrics(req, res, deps);
    else if (path === '/healthz') handleHealthz(req, res);
    else sendJson(res, 404, JSON.stringify({ error: 'not found: this port serves /metrics' }));
  });
  server.on('clientError', onClientError(deps.logger));
  return server;
}
