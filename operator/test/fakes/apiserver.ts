/**
 * A tiny in-memory stand-in for kube-apiserver's list/watch/patch-status protocol, over plain
 * HTTP on 127.0.0.1, for unit tests of informers and status writers. Not a conformance fake:
 * one global resourceVersion counter, no field/label selectors, no admission.
 *
 * Collections are addressed by their cluster-wide path (`/api/v1/pods`,
 * `/apis/talon.dev/v1alpha1/talonrules`); namespaced request paths
 * (`/api/v1/namespaces/ns/pods`) are served from the same collection, filtered.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/**
 * How new WATCH requests are answered:
 * - `normal`: 200, replay of history after the requested resourceVersion, then live events;
 * - `drop`: 200 headers, then the socket is destroyed (abrupt disconnect);
 * - `end`: 200 headers, then a clean end of the response;
 * - `gone`: HTTP 410 with a Status body;
 * - `goneEvent`: 200, one ERROR event carrying a 410 Status, then a clean end;
 * - `silent`: 200 headers and nothing more, connection kept open;
 * - `stall`: no response at all, connection kept open;
 * - `error`: HTTP 500 with a Status body.
 * A watch from a resourceVersion older than the last `compact()` is answered as `expiredAs`.
 */
export type WatchMode = 'normal' | 'drop' | 'end' | 'gone' | 'goneEvent' | 'silent' | 'stall' | 'error';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

interface HistoryEntry {
  readonly rv: number;
  readonly collection: string;
  readonly namespace: string;
  readonly line: string;
}

interface OpenWatch {
  readonly collection: string;
  readonly namespace: string | undefined;
  readonly res: http.ServerResponse;
}

interface ParsedPath {
  readonly collection: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
}

export interface ChangeOptions {
  /** false: the change happens but no watch ever sees it (a lost event). Default true. */
  readonly deliver?: boolean;
}

type Obj = KubernetesObject & Record<string, unknown>;

function parsePath(pathname: string): ParsedPath | undefined {
  const segs = pathname.split('/').filter(Boolean);
  let prefixLen: number;
  if (segs[0] === 'api' && segs.length >= 2) prefixLen = 2;
  else if (segs[0] === 'apis' && segs.length >= 3) prefixLen = 3;
  else return undefined;
  const prefix = '/' + segs.slice(0, prefixLen).join('/');
  const rest = segs.slice(prefixLen);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest.splice(0, 2);
  }
  const plural = rest[0];
  if (plural === undefined || rest.length > 3) return undefined;
  return { collection: `${prefix}/${plural}`, namespace, name: rest[1], subresource: rest[2] };
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason, message };
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class FakeApiServer {
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  watchMode: WatchMode = 'normal';
  /** How a watch from a compacted resourceVersion is answered. */
  expiredAs: 'gone' | 'goneEvent' = 'goneEvent';
  /** The next this-many LIST requests are answered 500. */
  failLists = 0;

  private readonly server: http.Server;
  private readonly objects = new Map<string, Map<string, Obj>>();
  private history: HistoryEntry[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly hanging = new Set<http.ServerResponse>();
  private rv = 100;
  private compactedRv = 0;
  private listGate: Promise<void> | undefined;

  private constructor(server: http.Server) {
    this.server = server;
  }

  static async start(): Promise<FakeApiServer> {
    const server = http.createServer();
    const fake = new FakeApiServer(server);
    server.on('request', (req, res) => fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** A KubeConfig pointing at this server over plain HTTP with bearer token `fake-token`. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** Requests for `collection` (any namespace) of the given kind. */
  requestsOf(kind: 'list' | 'watch' | 'patch', collection: string): RecordedRequest[] {
    return this.requests.filter((r) => {
      const p = parsePath(r.path);
      if (!p || p.collection !== collection) return false;
      if (kind === 'patch') return r.method === 'PATCH';
      const watch = r.query.watch === 'true' || r.query.watch === '1';
      return r.method === 'GET' && p.name === undefined && (kind === 'watch') === watch;
    });
  }

  get(collection: string, namespace: string | undefined, name: string): Obj | undefined {
    return this.objects.get(collection)?.get(keyOf(namespace, name));
  }

  /** Creates or replaces an object (a new resourceVersion is assigned); returns the stored copy. */
  put(collection: string, obj: KubernetesObject, opts: ChangeOptions = {}): Obj {
    const name = obj.metadata?.name;
    if (!name) throw new Error('object needs metadata.name');
    const namespace = obj.metadata?.namespace;
    const store = this.objectsOf(collection);
    const key = keyOf(namespace, name);
    const existed = store.has(key);
    this.rv += 1;
    const stored = structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv) } }) as Obj;
    store.set(key, stored);
    this.publish(collection, namespace, existed ? 'MODIFIED' : 'ADDED', stored, opts);
    return stored;
  }

  /** Deletes an object; returns whether it existed. */
  remove(collection: string, namespace: string | undefined, name: string, opts: ChangeOptions = {}): boolean {
    const store = this.objectsOf(collection);
    const key = keyOf(namespace, name);
    const old = store.get(key);
    if (!old) return false;
    store.delete(key);
    this.rv += 1;
    const final = { ...old, metadata: { ...old.metadata, resourceVersion: String(this.rv) } } as Obj;
    this.publish(collection, namespace, 'DELETED', final, opts);
    return true;
  }

  /** Sends a BOOKMARK at a fresh resourceVersion to open watches of `collection`. */
  bookmark(collection: string): string {
    this.rv += 1;
    const rv = String(this.rv);
    this.sendRaw(collection, { type: 'BOOKMARK', object: { kind: 'Bookmark', metadata: { resourceVersion: rv } } });
    return rv;
  }

  /** Writes one watch event, verbatim, to every open watch of `collection`. */
  sendRaw(collection: string, event: unknown): void {
    const line = JSON.stringify(event) + '\n';
    for (const w of this.watches) if (w.collection === collection) w.res.write(line);
  }

  /** Forgets history: watches from any resourceVersion older than the current one expire. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** Abruptly closes every open watch connection. */
  dropWatches(): void {
    for (const w of this.watches) w.res.socket?.destroy();
    this.watches.clear();
  }

  openWatches(collection?: string): number {
    let n = 0;
    for (const w of this.watches) if (collection === undefined || w.collection === collection) n += 1;
    return n;
  }

  /** Holds every LIST request until the returned function is called. */
  holdLists(): () => void {
    let release!: () => void;
    this.listGate = new Promise<void>((resolve) => {
      release = () => {
        this.listGate = undefined;
        resolve();
      };
    });
    return release;
  }

  async close(): Promise<void> {
    for (const w of this.watches) w.res.socket?.destroy();
    for (const res of this.hanging) res.socket?.destroy();
    this.watches.clear();
    this.hanging.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private objectsOf(collection: string): Map<string, Obj> {
    let store = this.objects.get(collection);
    if (!store) {
      store = new Map();
      this.objects.set(collection, store);
    }
    return store;
  }

  private publish(collection: string, namespace: string | undefined, type: string, object: Obj, opts: ChangeOptions): void {
    if (opts.deliver === false) return;
    const line = JSON.stringify({ type, object }) + '\n';
    this.history.push({ rv: this.rv, collection, namespace: namespace ?? '', line });
    for (const w of this.watches) {
      if (w.collection === collection && (w.namespace === undefined || w.namespace === namespace)) w.res.write(line);
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = Buffer.concat(chunks).toString('utf8');
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
      };
      this.requests.push(rec);
      void this.route(rec, res).catch((err: unknown) => {
        if (!res.headersSent) this.json(res, 500, status(500, 'InternalError', String(err)));
      });
    });
  }

  private json(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async route(req: RecordedRequest, res: http.ServerResponse): Promise<void> {
    const p = parsePath(req.path);
    if (!p) return this.json(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (req.method === 'GET' && p.name === undefined) {
      if (req.query.watch === 'true' || req.query.watch === '1') return this.watch(p, req, res);
      return this.list(p, req, res);
    }
    if (req.method === 'GET' && p.subresource === undefined) {
      const obj = this.get(p.collection, p.namespace, p.name!);
      if (!obj) return this.json(res, 404, status(404, 'NotFound', `"${p.name}" not found`));
      return this.json(res, 200, obj);
    }
    if (req.method === 'PATCH' && (p.subresource === undefined || p.subresource === 'status')) return this.patch(p, req, res);
    return this.json(res, 405, status(405, 'MethodNotAllowed', 'not supported by the fake'));
  }

  private async list(p: ParsedPath, req: RecordedRequest, res: http.ServerResponse): Promise<void> {
    if (this.listGate) await this.listGate;
    if (this.failLists > 0) {
      this.failLists -= 1;
      return this.json(res, 500, status(500, 'InternalError', 'injected list failure'));
    }
    const all = [...this.objectsOf(p.collection).entries()]
      .filter(([, o]) => p.namespace === undefined || o.metadata?.namespace === p.namespace)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o);
    let offset = 0;
    let rv = this.resourceVersion;
    if (req.query.continue) {
      const token = JSON.parse(Buffer.from(req.query.continue, 'base64url').toString('utf8')) as { offset: number; rv: string };
      offset = token.offset;
      rv = token.rv;
    }
    const limit = req.query.limit ? Number(req.query.limit) : 0;
    const end = limit > 0 ? offset + limit : all.length;
    const items = all.slice(offset, end);
    const metadata: Record<string, string> = { resourceVersion: rv };
    if (end < all.length) metadata.continue = Buffer.from(JSON.stringify({ offset: end, rv })).toString('base64url');
    this.json(res, 200, { kind: 'List', apiVersion: 'v1', metadata, items });
  }

  private watch(p: ParsedPath, req: RecordedRequest, res: http.ServerResponse): void {
    const fromRv = req.query.resourceVersion ? Number(req.query.resourceVersion) : undefined;
    let mode = this.watchMode;
    if (mode === 'normal' && fromRv !== undefined && fromRv > 0 && fromRv < this.compactedRv) mode = this.expiredAs;
    const expired = status(410, 'Expired', `too old resource version: ${fromRv} (${this.compactedRv})`);
    switch (mode) {
      case 'gone':
        return this.json(res, 410, expired);
      case 'error':
        return this.json(res, 500, status(500, 'InternalError', 'injected watch failure'));
      case 'stall':
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      default:
        break;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    switch (mode) {
      case 'drop':
        setImmediate(() => res.socket?.destroy());
        return;
      case 'end':
        res.end();
        return;
      case 'goneEvent':
        res.end(JSON.stringify({ type: 'ERROR', object: expired }) + '\n');
        return;
      case 'silent':
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      default:
        break;
    }
    if (fromRv !== undefined && fromRv > 0) {
      for (const h of this.history) {
        if (h.rv > fromRv && h.collection === p.collection && (p.namespace === undefined || h.namespace === p.namespace)) {
          res.write(h.line);
        }
      }
    }
    const w: OpenWatch = { collection: p.collection, namespace: p.namespace, res };
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
  }

  private patch(p: ParsedPath, req: RecordedRequest, res: http.ServerResponse): void {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (type !== 'application/merge-patch+json') {
      return this.json(res, 415, status(415, 'UnsupportedMediaType', `the fake only supports merge patches, got ${type}`));
    }
    const obj = this.get(p.collection, p.namespace, p.name!);
    if (!obj) return this.json(res, 404, status(404, 'NotFound', `"${p.name}" not found`));
    let patch: Record<string, unknown>;
    try {
      patch = JSON.parse(req.body) as Record<string, unknown>;
    } catch {
      return this.json(res, 400, status(400, 'BadRequest', 'invalid JSON'));
    }
    const wantRv = (patch.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (wantRv !== undefined && wantRv !== obj.metadata?.resourceVersion) {
      return this.json(res, 409, status(409, 'Conflict', 'the object has been modified'));
    }
    const next =
      p.subresource === 'status'
        ? { ...obj, status: mergePatch(obj.status, patch.status) }
        : (mergePatch(obj, { ...patch, metadata: { ...(patch.metadata as object), resourceVersion: undefined } }) as Obj);
    const stored = this.put(p.collection, next as KubernetesObject);
    this.json(res, 200, stored);
  }
}
