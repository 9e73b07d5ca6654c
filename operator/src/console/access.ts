/**
 * Who the user is and what they may do, asked of the API server: TokenReview for the token
 * pasted at sign-in, SubjectAccessReview for each (verb, resource, namespace) the console is
 * about to show or change — the same RBAC as kubectl, so someone who cannot list TalonRules in
 * a namespace sees none there. Answers are cached per session for a short time.
 */
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Session, UserInfo } from './session.js';

/** A resource attribute of a SubjectAccessReview. `namespace` '' = cluster-wide. */
export interface AccessQuery {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly namespace: string;
}

export type TokenReviewResult = { readonly authenticated: true; readonly user: UserInfo } | { readonly authenticated: false; readonly error: string };

/** The two API calls (a state-based fake in unit tests). */
export interface AuthPort {
  tokenReview(token: string): Promise<TokenReviewResult>;
  subjectAccessReview(user: UserInfo, q: AccessQuery): Promise<boolean>;
}

export function kubeAuthPort(kc: KubeConfig): AuthPort {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  return {
    tokenReview: async (token) => {
      const r = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
      const st = r.status;
      if (!st?.authenticated || !st.user?.username) return { authenticated: false, error: st?.error || 'the API server did not accept this token' };
      const u = st.user;
      return {
        authenticated: true,
        user: { username: u.username!, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups ?? [], ...(u.extra ? { extra: u.extra } : {}) },
      };
    },
    subjectAccessReview: async (user, q) => {
      const r = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            groups: [...user.groups],
            ...(user.uid ? { uid: user.uid } : {}),
            ...(user.extra ? { extra: Object.fromEntries(Object.entries(user.extra).map(([k, v]) => [k, [...v]])) } : {}),
            resourceAttributes: { verb: q.verb, group: q.group, resource: q.resource, ...(q.namespace !== '' ? { namespace: q.namespace } : {}) },
          },
        },
      });
      return r.status?.allowed === true;
    },
  };
}

/** SubjectAccessReviews with a per-session cache. */
export class Access {
  constructor(
    private readonly port: AuthPort,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async can(session: Session, q: AccessQuery): Promise<boolean> {
    const key = `${q.verb}\u0000${q.group}\u0000${q.resource}\u0000${q.namespace}`;
    const hit = session.access.get(key);
    const now = this.now();
    if (hit !== undefined && hit[1] > now) return hit[0];
    const allowed = await this.port.subjectAccessReview(session.user, q);
    session.access.set(key, [allowed, now + this.ttlMs]);
    return allowed;
  }

  /**
   * The namespaces among `namespaces` where `verb` on the resource is allowed. A cluster-wide
   * grant answers for all of them with one review.
   */
  async namespacesAllowed(session: Session, verb: string, group: string, resource: string, namespaces: Iterable<string>): Promise<Set<string>> {
    const all = [...new Set(namespaces)];
    if (await this.can(session, { verb, group, resource, namespace: '' })) return new Set(all);
    const answers = await Promise.all(all.map(async (ns) => [ns, await this.can(session, { verb, group, resource, namespace: ns })] as const));
    return new Set(answers.filter(([, ok]) => ok).map(([ns]) => ns));
  }
}
