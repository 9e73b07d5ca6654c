/**
 * A Lambda-compatible endpoint for tests (`POST /2015-03-31/functions/<name>/invocations`,
 * `?Qualifier=`), checking each request as AWS does: the SigV4 `Authorization` header must be
 * well formed (AWS4-HMAC-SHA256, credential scope `<date>/<region>/lambda/aws4_request`,
 * signed headers including host and x-amz-date) and its signature must verify with the
 * test's key (recomputed here per the SigV4 spec with node:crypto); else 403
 * InvalidSignatureException. Functions behave by name:
 * - `ok-*`: 200 with `{"received": <trace id>}` (202 and no body for `Event`, 204 for `DryRun`);
 * - `crash-*`: 200 with `X-Amz-Function-Error: Unhandled` and an error payload;
 * - `busy-*`: 429 TooManyRequestsException;
 * anything else: 404 ResourceNotFoundException. Every request is recorded.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';

export const LAMBDA_KEY_ID = 'AKIATALONLAMBDATEST';
export const LAMBDA_SECRET = 'lambda-test-secret-key/EXAMPLE';
export const LAMBDA_REGION = 'eu-west-3';

export interface LambdaCall {
  readonly functionName: string;
  readonly qualifier: string | undefined;
  readonly invocationType: string | undefined;
  readonly payload: unknown;
  /** Whether the SigV4 signature verified with the test's key. */
  readonly signatureValid: boolean;
  readonly signatureProblem?: string;
}

export interface LambdaServer {
  readonly endpoint: string;
  readonly calls: LambdaCall[];
  stop(): Promise<void>;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
/** RFC 3986 encoding, as SigV4 wants for query keys and values. */
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Checks a request's SigV4 signature; returns undefined when it verifies, else the problem. */
export function verifySigV4(req: IncomingMessage, body: Buffer, secret: string, keyId: string, region: string, service: string): string | undefined {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return `malformed Authorization header: ${auth}`;
  const [, id, date, reg, svc, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (id !== keyId) return `unknown access key ${id}`;
  if (reg !== region || svc !== service) return `wrong scope ${reg}/${svc}`;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(date)) return 'x-amz-date does not match the credential date';
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return 'host and x-amz-date must be signed';
  const url = new URL(req.url ?? '/', 'http://x');
  // Non-S3 services: each path segment URI-encoded twice.
  const path = url.pathname.split('/').map((seg) => rfc3986(rfc3986(decodeURIComponent(seg)))).join('/');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const payloadHash = typeof req.headers['x-amz-content-sha256'] === 'string' ? req.headers['x-amz-content-sha256'] : sha256(body);
  if (payloadHash !== sha256(body)) return 'x-amz-content-sha256 does not match the body';
  const canonical = [req.method, path, query, headers, signedHeaders, payloadHash].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${reg}/${svc}/aws4_request`, sha256(canonical)].join('\n');
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), reg), svc), 'aws4_request');
  const expected = hmac(kSigning, toSign).toString('hex');
  return expected === signature ? undefined : 'signature does not match';
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startLambdaServer(): Promise<LambdaServer> {
  const calls: LambdaCall[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
      const error = (status: number, type: string, message: string) => {
        res.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': type });
        res.end(JSON.stringify({ Type: 'User', message }));
      };
      if (req.method !== 'POST' || !m) return error(404, 'UnknownOperationException', 'unknown operation');
      const problem = verifySigV4(req, body, LAMBDA_SECRET, LAMBDA_KEY_ID, LAMBDA_REGION, 'lambda');
      let payload: unknown;
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        payload = body.toString('utf8');
      }
      const functionName = decodeURIComponent(m[1]!);
      const invocationType = req.headers['x-amz-invocation-type'] as string | undefined;
      calls.push({ functionName, qualifier: url.searchParams.get('Qualifier') ?? undefined, invocationType, payload, signatureValid: problem === undefined, ...(problem ? { signatureProblem: problem } : {}) });
      if (problem) return error(403, 'InvalidSignatureException', problem);
      if (functionName.startsWith('ok-')) {
        if (invocationType === 'Event') return res.writeHead(202).end();
        if (invocationType === 'DryRun') return res.writeHead(204).end();
        const traceId = (payload as { context?: { traceId?: string } }).context?.traceId;
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Amz-Executed-Version': '7' });
        return res.end(JSON.stringify({ received: traceId }));
      }
      if (functionName.startsWith('crash-')) {
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Amz-Function-Error': 'Unhandled' });
        return res.end(JSON.stringify({ errorType: 'Error', errorMessage: 'boom' }));
      }
      if (functionName.startsWith('busy-')) return error(429, 'TooManyRequestsException', 'Rate exceeded');
      return error(404, 'ResourceNotFoundException', `Function not found: ${functionName}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
