/**
 * A real S3-compatible server for tests and benchmarks: gofakes3 (github.com/johannesboyne/
 * gofakes3, `cmd/gofakes3`), built from the Go module proxy by `e2e/cluster/build.sh gofakes3`
 * into `$TALON_CACHE/bin/gofakes3-<GOFAKES3_VERSION>` (`make test-integration` and `make
 * test-e2e` build it first). It runs as a separate process on a free loopback port, storing
 * into a temporary directory.
 *
 * gofakes3 does not verify signatures, so `startS3Server` also puts a recording proxy in front
 * of it: every request's method, path and `Authorization` header is kept in `requests`, for a
 * test to check that the client signed with the configured credentials (SigV4). Point clients
 * at `endpoint` (through the proxy); `directEndpoint` skips the proxy (benchmarks).
 *
 *     const s3 = await startS3Server({ buckets: ['forensics'] });
 *     const config = { outputs: { 'aws:s3': { profiles: { default: s3.profile(tmpDir) } } } };
 *     // … an action with output {target: aws:s3, parameters: {bucket: forensics}} runs; its outcome's
 *     // artifact.location is s3://forensics/<key>
 *     const bytes = await s3.getObject('forensics', key);
 *     assert.match(s3.requests[0].authorization, /^AWS4-HMAC-SHA256 Credential=AKIATALONTEST0000001\//);
 *     await s3.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createServer as createTcpServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

/** The repository root (this file is dist/operator/test/peers/s3.js once built). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** gofakes3's version, read from e2e/cluster/versions.sh (the one place it is pinned). */
export function gofakes3Version(): string {
  const text = readFileSync(join(ROOT, 'e2e', 'cluster', 'versions.sh'), 'utf8');
  const m = /^GOFAKES3_VERSION=(\S+)$/m.exec(text);
  if (!m?.[1]) throw new Error('GOFAKES3_VERSION is not set in e2e/cluster/versions.sh');
  return m[1];
}

/** Where build.sh puts the binary; throws with how to build it when it is not there. */
export function gofakes3Binary(): string {
  const cache = process.env.TALON_CACHE ?? join(homedir(), '.cache', 'talon-operator');
  const bin = join(cache, 'bin', `gofakes3-${gofakes3Version()}`, 'gofakes3');
  if (!existsSync(bin)) {
    throw new Error(`gofakes3 is not built (${bin} is missing): run \`bash e2e/cluster/build.sh gofakes3\` (make test-integration and make test-e2e do it)`);
  }
  return bin;
}

/** The test credentials of the server (any values work: gofakes3 checks none). */
export const TEST_ACCESS_KEY_ID = 'AKIATALONTEST0000001';
export const TEST_SECRET_ACCESS_KEY = 'talon/test/secret/0123456789abcdefghijklmnop';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
}

export interface S3Server {
  /** Through the recording proxy. */
  readonly endpoint: string;
  /** gofakes3 itself. */
  readonly directEndpoint: string;
  readonly requests: RecordedRequest[];
  /** gofakes3's process id (only its own memory is in it). */
  readonly pid: number;
  /** A client of `directEndpoint` with the test credentials. */
  readonly client: S3Client;
  getObject(bucket: string, key: string): Promise<Buffer>;
  listKeys(bucket: string): Promise<string[]>;
  /** Multipart uploads begun and neither completed nor aborted. */
  pendingUploads(bucket: string): Promise<number>;
  /**
   * An `outputs["aws:s3"].profiles.<name>` entry for this server (through the recording proxy),
   * with the test credentials written as files into `dir` — what an operator config (e.g.
   * `OperatorProcess.start({config})` in e2e) needs.
   */
  profile(dir: string): { endpoint: string; forcePathStyle: true; region: string; accessKeyIdFile: string; secretAccessKeyFile: string };
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createTcpServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

async function waitListening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`gofakes3 exited (${child.exitCode}): ${log()}`);
    const up = await new Promise<boolean>((res) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        res(true);
      });
      c.once('error', () => res(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gofakes3 did not listen on 127.0.0.1:${port}: ${log()}`);
}

function startProxy(target: number, requests: RecordedRequest[]): Promise<Server> {
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    const out = request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.on('error', () => out.destroy());
    req.pipe(out);
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res(server)));
}

/** Starts gofakes3 (and the proxy) with `buckets` created; FAILS (never skips) when gofakes3 is not built. */
export async function startS3Server(opts: { buckets?: readonly string[] } = {}): Promise<S3Server> {
  const bin = gofakes3Binary();
  const dir = mkdtempSync(join(tmpdir(), 'talon-gofakes3-'));
  let child: ChildProcess | undefined;
  let output = '';
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    child = spawn(bin, ['-host', `127.0.0.1:${port}`, '-backend', 'fs', '-fs.path', dir, '-fs.create', '-quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    try {
      await waitListening(port, child, () => output);
      break;
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt >= 2) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const proc = child;
  const addr = (() => {
    const i = proc.spawnargs.indexOf('-host');
    return proc.spawnargs[i + 1] ?? '';
  })();
  const directPort = Number(addr.split(':')[1]);
  const requests: RecordedRequest[] = [];
  const proxy = await startProxy(directPort, requests);
  const proxyAddr = proxy.address();
  const proxyPort = typeof proxyAddr === 'object' && proxyAddr ? proxyAddr.port : 0;
  const directEndpoint = `http://127.0.0.1:${directPort}`;
  const client = new S3Client({
    endpoint: directEndpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: TEST_ACCESS_KEY_ID, secretAccessKey: TEST_SECRET_ACCESS_KEY },
    // gofakes3 answers a multipart object's GET with a part's checksum: compare bytes instead.
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  for (const b of opts.buckets ?? []) await client.send(new CreateBucketCommand({ Bucket: b }));
  return {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    directEndpoint,
    requests,
    pid: proc.pid ?? 0,
    client,
    async getObject(bucket, key) {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    async listKeys(bucket) {
      const r = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (r.Contents ?? []).map((o) => o.Key ?? '').sort();
    },
    async pendingUploads(bucket) {
      const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (r.Uploads ?? []).length;
    },
    profile(profileDir) {
      const accessKeyIdFile = join(profileDir, 'gofakes3-access-key-id');
      const secretAccessKeyFile = join(profileDir, 'gofakes3-secret-access-key');
      writeFileSync(accessKeyIdFile, `${TEST_ACCESS_KEY_ID}\n`, { mode: 0o600 });
      writeFileSync(secretAccessKeyFile, `${TEST_SECRET_ACCESS_KEY}\n`, { mode: 0o600 });
      return { endpoint: `http://127.0.0.1:${proxyPort}`, forcePathStyle: true, region: 'us-east-1', accessKeyIdFile, secretAccessKeyFile };
    },
    async stop() {
      client.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((res) => proxy.close(() => res()));
      if (proc.exitCode === null) {
        const exited = new Promise<void>((res) => proc.once('exit', () => res()));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
