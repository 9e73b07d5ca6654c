/**
 * Who may post alerts (DESIGN.md §3 "Authentication"): nobody is checked in `none` mode, a
 * bearer token in `token` mode (Falcosidekick's custom header), a client certificate signed by
 * the configured CA in `mtls` mode (Falco's http_output). Only ingestion is guarded; health
 * and readiness stay open for kubelet probes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';

export interface Authenticator {
  /** True when the request may post alerts. Constant time in the token's content. */
  allows(req: IncomingMessage): boolean;
  /** Headers to send with a 401 (`WWW-Authenticate` in token mode). */
  readonly challenge: Readonly<Record<string, string>>;
  /**
   * Re-reads the credential file now (token mode). An empty or deleted file revokes the token
   * (every alert is refused with 401 until a token is written); any other read error keeps
   * the current token.
   */
  reload(): void;
  /** Stops re-reading the credential file. */
  close(): void;
}

export interface AuthenticatorOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** How often the token file is re-read, for Secret rotation; 0 disables. Default 10 s. */
  readonly reloadIntervalMs?: number;
}

const DEFAULT_RELOAD_MS = 10_000;

/** Logs a warning when alerts are accepted without authentication; call once at startup. */
export function warnIfUnauthenticated(config: Config, logger: Logger): void {
  if (config.auth.mode === 'none') {
    logger.warn('webhook accepts alerts without authentication', {
      auth_mode: 'none',
      hint: 'set auth.mode to token or mtls',
    });
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The credential of `Authorization: Bearer <token>` (scheme case-insensitive); undefined otherwise. */
export function bearerCredential(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const space = header.indexOf(' ');
  if (space === -1 || header.slice(0, space).toLowerCase() !== 'bearer') return undefined;
  const credential = header.slice(space + 1).trim();
  return credential === '' ? undefined : credential;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { config, logger } = options;
  switch (config.auth.mode) {
    case 'none':
      return { allows: () => true, challenge: {}, reload: () => undefined, close: () => undefined };
    case 'mtls':
      return {
        allows: (req) => (req.socket as TLSSocket).authorized === true,
        challenge: {},
        reload: () => undefined,
        close: () => undefined,
      };
    case 'token':
      return tokenAuthenticator(config.auth.tokenFile ?? '', logger, options.reloadIntervalMs ?? DEFAULT_RELOAD_MS);
  }
}

/** The token's digest; undefined when the token is revoked (an empty token file). */
function tokenAuthenticator(file: string, logger: Logger, reloadIntervalMs: number): Authenticator {
  const initial = readFileSync(file, 'utf8').trim();
  let expected: Buffer | undefined = initial === '' ? undefined : digest(initial);
  const revoke = (why: string): void => {
    if (expected === undefined) return;
    expected = undefined;
    logger.warn('bearer token revoked: every alert is refused until a token is written', { file, why });
  };
  const reload = (): void => {
    let token: string;
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        revoke('the token file was deleted');
        return;
      }
      logger.warn('cannot re-read the token file; keeping the current token', { file, error: (err as Error).message });
      return;
    }
    if (token === '') {
      revoke('the token file is empty');
      return;
    }
    const next = digest(token);
    if (expected === undefined || !timingSafeEqual(next, expected)) {
      expected = next;
      logger.info('bearer token reloaded', { file });
    }
  };
  const timer = reloadIntervalMs > 0 ? setInterval(reload, reloadIntervalMs) : undefined;
  timer?.unref();
  return {
    allows(req) {
      const credential = bearerCredential(req.headers.authorization);
      const current = expected;
      return credential !== undefined && current !== undefined && timingSafeEqual(digest(credential), current);
    },
    challenge: { 'www-authenticate': 'Bearer realm="talon"' },
    reload,
    close: () => clearInterval(timer),
  };
}
