/**
 * What one webhook client can hold (config `webhook.*`): a cap on open connections, a short
 * deadline for a connection to send its first request header (silent sockets are closed), the
 * keep-alive idle timeout, and an optional per-client-address request rate (429 beyond).
 * `/healthz`, `/readyz` and `/metrics` are never rate limited, so kubelet probes keep working.
 */
import type http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { sendJson } from './respond.js';

export type WebhookLimits = Config['webhook'];

/** Client addresses whose buckets are remembered at most; beyond, full (idle) buckets are forgotten first. */
const MAX_CLIENTS = 65_536;

/**
 * Applies the connection cap and the timeouts to `server`. A connection must complete a
 * request header within `idleTimeoutMs` of opening; after its first request, keep-alive
 * idleness is bounded by `keepAliveTimeoutMs` (Node's own timer).
 */
export function applyConnectionLimits(server: http.Server | https.Server, limits: WebhookLimits, logger: Logger): void {
  server.maxConnections = limits.maxConnections;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  let refusedLogged = 0;
  server.on('drop', () => {
    const now = Date.now();
    if (now - refusedLogged > 10_000) {
      refusedLogged = now;
      logger.warn('webhook connection refused: too many open connections', { max_connections: limits.maxConnections });
    }
  });
  if (limits.idleTimeoutMs > 0) {
    const onTimeout = function (this: Socket): void {
      this.destroy();
    };
    // TLS: the handshake is bounded by the server's handshakeTimeout (idleTimeoutMs, set at
    // creation, see tlsHandshakeTimeout); the deadline then runs on the TLS socket.
    server.on(server instanceof https.Server ? 'secureConnection' : 'connection', (socket: Socket) => {
      socket.setTimeout(limits.idleTimeoutMs, onTimeout);
    });
    // Once a request header arrived, the socket's lifetime is the request timeout's and then
    // keep-alive's. The deadline is cleared at a connection's first request only: clearing it
    // again on every request was 0.7 % of the intake's allocations (issue 15).
    const cleared = new WeakSet<Socket>();
    const clear = (req: http.IncomingMessage): void => {
      const socket = req.socket;
      if (cleared.has(socket)) return;
      cleared.add(socket);
      socket.setTimeout(0);
      socket.removeListener('timeout', onTimeout);
    };
    server.on('request', clear);
    server.on('checkContinue', clear);
  }
}

/** The `handshakeTimeout` to create an HTTPS webhook server with: a silent TLS socket is closed as a plain one is. */
export function tlsHandshakeTimeout(limits: WebhookLimits): number | undefined {
  return limits.idleTimeoutMs > 0 ? limits.idleTimeoutMs : undefined;
}

interface Bucket {
  tokens: number;
  last: number;
}

export interface RateLimiter {
  /** True when `req` may proceed; otherwise it has been answered 429 with Retry-After. */
  admit(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Client addresses currently tracked (for tests). */
  clients(): number;
}

/** A token bucket per client address; `perClientRequestsPerSecond` 0 admits everything. */
export function createRateLimiter(limits: WebhookLimits, now: () => number = () => performance.now()): RateLimiter {
  const rate = limits.perClientRequestsPerSecond;
  const burst = limits.perClientBurst;
  if (rate === 0) return { admit: () => true, clients: () => 0 };
  const buckets = new Map<string, Bucket>();
  const retryAfter = String(Math.max(1, Math.ceil(1 / rate)));
  const tooMany = JSON.stringify({ error: `too many requests: at most ${rate} per second per client` });

  const forgetIdle = (t: number): void => {
    for (const [k, b] of buckets) if (b.tokens + ((t - b.last) / 1000) * rate >= burst) buckets.delete(k);
    // Still full of active clients: forget the oldest (they start again with a full bucket).
    while (buckets.size >= MAX_CLIENTS) buckets.delete(buckets.keys().next().value as string);
  };

  return {
    admit(req, res) {
      const key = req.socket.remoteAddress ?? '';
      const t = now();
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= MAX_CLIENTS) forgetIdle(t);
        b = { tokens: burst, last: t };
        buckets.set(key, b);
      } else {
        b.tokens = Math.min(burst, b.tokens + ((t - b.last) / 1000) * rate);
        b.last = t;
      }
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return true;
      }
      sendJson(res, 429, tooMany, { 'retry-after': retryAfter }, true);
      return false;
    },
    clients: () => buckets.size,
  };
}
