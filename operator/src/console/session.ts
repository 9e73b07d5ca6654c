/**
 * Console sessions: the user pastes their Kubernetes bearer token once; the browser gets an
 * opaque random session id (a cookie), and the token stays in this process's memory until the
 * session expires or the user signs out. The console is reached with `kubectl port-forward` to
 * one pod, so sessions are not shared between replicas (a restart signs everyone out).
 *
 * Each session also holds its synchroniser CSRF token (OWASP "Synchronizer Token Pattern")
 * and its cache of SubjectAccessReview answers.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Who the API server says the token belongs to (TokenReview status.user). */
export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface Session {
  readonly id: string;
  readonly user: UserInfo;
  /** The bearer token the user signed in with; used only for the user's own writes (approvals). */
  readonly token: string;
  readonly csrf: string;
  readonly expiresAt: number;
  /** SubjectAccessReview answers: key → [allowed, until]. */
  readonly access: Map<string, readonly [boolean, number]>;
}

export interface SessionStoreOptions {
  readonly ttlMs: number;
  /** Sessions kept at most; the oldest is dropped beyond (default 10 000). */
  readonly max?: number;
  readonly now?: () => number;
}

const opaque = (): string => randomBytes(32).toString('base64url');

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: SessionStoreOptions) {
    this.ttlMs = opts.ttlMs;
    this.max = opts.max ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  create(user: UserInfo, token: string): Session {
    this.sweep();
    if (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value as string);
    const s: Session = { id: opaque(), user, token, csrf: opaque(), expiresAt: this.now() + this.ttlMs, access: new Map() };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session of an id; undefined when unknown or expired (an expired one is forgotten). */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const s = this.sessions.get(id);
    if (s === undefined) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }
}

/** Constant-time comparison of a submitted CSRF token with the session's. */
export function csrfMatches(session: Session, submitted: unknown): boolean {
  if (typeof submitted !== 'string' || submitted === '') return false;
  const a = Buffer.from(submitted);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
