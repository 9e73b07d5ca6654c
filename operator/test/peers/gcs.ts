/**
 * A small Google Cloud Storage server for tests, speaking the parts of the JSON API the
 * `@google-cloud/storage` client uses to upload and read back an object (point the client's
 * `apiEndpoint` at `endpoint`, `useAuthWithCustomEndpoint: false`):
 *
 * - `POST /upload/storage/v1/b/<bucket>/o?uploadType=media|multipart|resumable&name=…`
 *   (multipart: `multipart/related`, JSON metadata then the media; resumable: the session URI
 *   in `Location`, then `PUT` of the bytes), honouring `ifGenerationMatch=0`;
 * - `GET /storage/v1/b/<bucket>/o/<name>` (metadata) and `?alt=media` (the bytes, with
 *   `x-goog-hash`); `DELETE` of the same path.
 *
 * Objects are kept in memory (tests only); only the buckets given at start exist. Every
 * request is recorded (method, path, Authorization).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface GcsObject {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly generation: number;
}

export interface GcsServer {
  readonly endpoint: string;
  readonly objects: Map<string, GcsObject>;
  readonly requests: { method: string; path: string; authorization: string | undefined }[];
  /** `bucket/name` keys of the stored objects, sorted. */
  keys(): string[];
  stop(): Promise<void>;
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC32C (Castagnoli) of `data`, base64 of the big-endian value, as GCS reports it. */
export function crc32cBase64(data: Buffer): string {
  let c = 0xffffffff;
  for (const b of data) c = CRC32C_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Splits a multipart/related body into its parts' headers and bodies. */
function multipart(data: Buffer, boundary: string): { headers: string; body: Buffer }[] {
  const delim = Buffer.from(`--${boundary}`);
  const out: { headers: string; body: Buffer }[] = [];
  let pos = data.indexOf(delim);
  while (pos !== -1) {
    const start = pos + delim.length;
    if (data.subarray(start, start + 2).toString() === '--') break;
    const next = data.indexOf(delim, start);
    if (next === -1) break;
    const part = data.subarray(start + 2, next - 2); // skip CRLF after the delimiter and before the next
    const sep = part.indexOf('\r\n\r\n');
    out.push({ headers: part.subarray(0, sep).toString(), body: part.subarray(sep + 4) });
    pos = next;
  }
  return out;
}

export async function startGcsServer(opts: { buckets: readonly string[] }): Promise<GcsServer> {
  const buckets = new Set(opts.buckets);
  const objects = new Map<string, GcsObject>();
  const sessions = new Map<string, { bucket: string; name: string; contentType: string; metadata: Record<string, string> }>();
  const requests: GcsServer['requests'] = [];
  let generation = 1;
  let port = 0;

  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  const fail = (res: ServerResponse, status: number, message: string) => json(res, status, { error: { code: status, message, errors: [{ message }] } });
  const resource = (bucket: string, name: string, o: GcsObject) => ({
    kind: 'storage#object',
    id: `${bucket}/${name}/${o.generation}`,
    bucket,
    name,
    size: String(o.bytes.length),
    generation: String(o.generation),
    contentType: o.contentType,
    md5Hash: createHash('md5').update(o.bytes).digest('base64'),
    crc32c: crc32cBase64(o.bytes),
    metadata: o.metadata,
  });
  const put = (res: ServerResponse, url: URL, bucket: string, name: string, contentType: string, metadata: Record<string, string>, bytes: Buffer) => {
    const key = `${bucket}/${name}`;
    if (url.searchParams.get('ifGenerationMatch') === '0' && objects.has(key)) return fail(res, 412, 'At least one of the pre-conditions you specified did not hold.');
    const o: GcsObject = { bytes, contentType, metadata, generation: generation++ };
    objects.set(key, o);
    json(res, 200, resource(bucket, name, o));
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
      requests.push({ method: req.method ?? '', path: `${url.pathname}${url.search}`, authorization: req.headers.authorization });
      const up = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
      const obj = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
      if (up && req.method === 'POST') {
        const bucket = decodeURIComponent(up[1]!);
        if (!buckets.has(bucket)) return fail(res, 404, `bucket ${bucket} not found`);
        const type = url.searchParams.get('uploadType');
        const data = await body(req);
        if (type === 'media') {
          const name = url.searchParams.get('name');
          if (!name) return fail(res, 400, 'name is required');
          return put(res, url, bucket, name, req.headers['content-type'] ?? 'application/octet-stream', {}, data);
        }
        if (type === 'multipart') {
          const m = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '');
          if (!m) return fail(res, 400, 'multipart without boundary');
          const [meta, media] = multipart(data, m[1]!);
          if (!meta || !media) return fail(res, 400, 'multipart needs metadata and media');
          const md = JSON.parse(meta.body.toString()) as { name?: string; contentType?: string; metadata?: Record<string, string> };
          const name = url.searchParams.get('name') ?? md.name;
          if (!name) return fail(res, 400, 'name is required');
          const ct = /content-type:\s*(.+)/i.exec(media.headers)?.[1]?.trim() ?? md.contentType ?? 'application/octet-stream';
          return put(res, url, bucket, name, md.contentType ?? ct, md.metadata ?? {}, media.body);
        }
        if (type === 'resumable') {
          const md = data.length > 0 ? (JSON.parse(data.toString()) as { name?: string; contentType?: string; metadata?: Record<string, string> }) : {};
          const name = url.searchParams.get('name') ?? md.name;
          if (!name) return fail(res, 400, 'name is required');
          const id = randomUUID();
          sessions.set(id, { bucket, name, contentType: md.contentType ?? 'application/octet-stream', metadata: md.metadata ?? {} });
          res.writeHead(200, { location: `http://127.0.0.1:${port}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}` });
          return res.end();
        }
        return fail(res, 400, `uploadType ${type} is not supported`);
      }
      if (up && req.method === 'PUT') {
        const s = sessions.get(url.searchParams.get('upload_id') ?? '');
        if (!s) return fail(res, 404, 'no such upload session');
        const data = await body(req);
        sessions.delete(url.searchParams.get('upload_id') ?? '');
        return put(res, url, s.bucket, s.name, s.contentType, s.metadata, data);
      }
      if (obj) {
        const bucket = decodeURIComponent(obj[1]!);
        const name = decodeURIComponent(obj[2]!);
        const o = objects.get(`${bucket}/${name}`);
        if (req.method === 'DELETE') {
          if (!o) return fail(res, 404, 'No such object');
          objects.delete(`${bucket}/${name}`);
          res.writeHead(204);
          return res.end();
        }
        if (req.method === 'GET') {
          if (!o) return fail(res, 404, `No such object: ${bucket}/${name}`);
          if (url.searchParams.get('alt') === 'media') {
            res.writeHead(200, {
              'content-type': o.contentType,
              'content-length': String(o.bytes.length),
              'x-goog-hash': `crc32c=${crc32cBase64(o.bytes)},md5=${createHash('md5').update(o.bytes).digest('base64')}`,
              'x-goog-generation': String(o.generation),
            });
            return res.end(o.bytes);
          }
          return json(res, 200, resource(bucket, name, o));
        }
      }
      fail(res, 404, `not found: ${req.method} ${url.pathname}`);
    })().catch((err: unknown) => {
      if (!res.headersSent) fail(res, 500, String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    objects,
    requests,
    keys: () => [...objects.keys()].sort(),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
