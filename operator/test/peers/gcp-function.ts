/**
 * A Google token endpoint and a Cloud Function (v2) for tests, checking what Google checks:
 *
 * - `POST /token` (a service-account key's `token_uri`): a JWT-bearer grant whose assertion
 *   must be an RS256 JWT signed with the service account's key (made here), issued by its
 *   `client_email`, with a `target_audience` claim; answers `{id_token}`: an RS256 JWT signed
 *   by this peer's own "Google" key, audience = target_audience, valid one hour.
 * - `POST /<name>` (the function): `Authorization: Bearer <id token>` must verify with the
 *   "Google" key, be unexpired, and have audience = this function's URL (for paths under
 *   `/audience-mismatch/` the peer expects another audience, to show the check can fail: 401).
 *   Functions by name: `ok-*` 200 `{"received": <trace id>}`; `busy-*` 429; `deny-*` 403.
 * Every token request and call is recorded.
 */
import { createSign, createVerify, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';

export interface ServiceAccountKey {
  readonly type: 'service_account';
  readonly project_id: string;
  readonly private_key_id: string;
  readonly private_key: string;
  readonly client_email: string;
  readonly client_id: string;
  readonly token_uri: string;
}

export interface GcpCall {
  readonly path: string;
  readonly audience?: string;
  readonly email?: string;
  readonly tokenProblem?: string;
  readonly payload: unknown;
}

export interface GcpPeer {
  readonly endpoint: string;
  readonly serviceAccountKey: ServiceAccountKey;
  readonly tokenRequests: { assertionValid: boolean; problem?: string; targetAudience?: string }[];
  readonly calls: GcpCall[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function signJwt(claims: Record<string, unknown>, key: KeyObject, kid: string): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  const body = b64url(JSON.stringify(claims));
  const sig = createSign('RSA-SHA256').update(`${head}.${body}`).sign(key);
  return `${head}.${body}.${b64url(sig)}`;
}

/** The claims of an RS256 JWT whose signature verifies with `key`, else a problem string. */
function verifyJwt(token: string, key: KeyObject): { claims: Record<string, unknown> } | { problem: string } {
  const parts = token.split('.');
  if (parts.length !== 3) return { problem: 'not a JWT' };
  const [h, b, s] = parts as [string, string, string];
  const head = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string };
  if (head.alg !== 'RS256') return { problem: `alg ${String(head.alg)}` };
  if (!createVerify('RSA-SHA256').update(`${h}.${b}`).verify(key, Buffer.from(s, 'base64url'))) return { problem: 'bad signature' };
  return { claims: JSON.parse(Buffer.from(b, 'base64url').toString('utf8')) as Record<string, unknown> };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startGcpPeer(): Promise<GcpPeer> {
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const google = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saPublic = sa.publicKey;
  const tokenRequests: GcpPeer['tokenRequests'] = [];
  const calls: GcpCall[] = [];
  let endpoint = '';
  const email = 'talon-responder@talon-test.iam.gserviceaccount.com';
  const now = () => Math.floor(Date.now() / 1000);

  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && url.pathname === '/token') {
        const form = new URLSearchParams(text);
        const v = form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' ? verifyJwt(form.get('assertion') ?? '', saPublic) : { problem: 'wrong grant_type' };
        const claims = 'claims' in v ? v.claims : {};
        const problem =
          'problem' in v
            ? v.problem
            : claims.iss !== email
              ? 'wrong issuer'
              : typeof claims.target_audience !== 'string'
                ? 'no target_audience'
                : typeof claims.exp !== 'number' || claims.exp < now()
                  ? 'expired assertion'
                  : undefined;
        tokenRequests.push({ assertionValid: problem === undefined, ...(problem ? { problem } : {}), ...(typeof claims.target_audience === 'string' ? { targetAudience: claims.target_audience } : {}) });
        if (problem) return json(400, { error: 'invalid_grant', error_description: problem });
        const idToken = signJwt({ iss: 'https://accounts.google.com', aud: claims.target_audience, azp: email, email, email_verified: true, sub: '1234567890', iat: now(), exp: now() + 3600 }, google.privateKey, 'google-test');
        return json(200, { id_token: idToken });
      }
      if (req.method !== 'POST') return json(405, { error: 'method' });
      let payload: unknown;
      try {
        payload = JSON.parse(text);
      } catch {
        payload = text;
      }
      const auth = req.headers.authorization ?? '';
      const bearer = /^Bearer (.+)$/.exec(auth)?.[1];
      const expected = url.pathname.startsWith('/audience-mismatch/') ? `${endpoint}/another-function` : `${endpoint}${url.pathname}`;
      const v = bearer === undefined ? { problem: 'no bearer token' } : verifyJwt(bearer, google.publicKey);
      const claims = 'claims' in v ? v.claims : {};
      const tokenProblem =
        'problem' in v ? v.problem : claims.aud !== expected ? `audience ${String(claims.aud)} is not ${expected}` : typeof claims.exp !== 'number' || claims.exp < now() ? 'expired' : undefined;
      calls.push({
        path: url.pathname,
        ...(typeof claims.aud === 'string' ? { audience: claims.aud } : {}),
        ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
        ...(tokenProblem ? { tokenProblem } : {}),
        payload,
      });
      if (tokenProblem) {
        res.writeHead(401, { 'Content-Type': 'text/plain' });
        return res.end(tokenProblem);
      }
      const name = url.pathname.split('/').pop() ?? '';
      if (name.startsWith('ok-')) return json(200, { received: (payload as { context?: { traceId?: string } }).context?.traceId });
      res.writeHead(name.startsWith('busy-') ? 429 : name.startsWith('deny-') ? 403 : 404, { 'Content-Type': 'text/plain' });
      return res.end(name.startsWith('busy-') ? 'slow down' : name.startsWith('deny-') ? 'denied' : 'no such function');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    serviceAccountKey: {
      type: 'service_account',
      project_id: 'talon-test',
      private_key_id: 'sa-test-key',
      private_key: sa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: '1234567890',
      token_uri: `${endpoint}/token`,
    },
    tokenRequests,
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
