import http from 'node:http';
import https from 'node:https';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApiException } from './client-node-lite.js';
import type { AuthSource } from './raw.js';
import { silentLog, type LogPort } from '../lib/log.js';
import { Backoff } from '../lib/backoff.js';

export interface ResilientInformerOptions {
  /** The server and its auth (kube/access.ts; a KubeConfig's through transport.ts authSourceOf). */
  readonly auth: AuthSource;
  /**
   * Collection path: `/api/v1/pods`, `/api/v1/namespaces/ns/pods`,
   * `/apis/talon.dev/v1alpha1/talonrules`, `/apis/talon.dev/v1alpha1/namespaces/ns/talonrules`.
   */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Period of the full relist (see `ResilientInformer`); default 10 min; 0 disables. */
  readonly resyncMs?: number;
  /**
   * A watch that delivers no line (event or bookmark) for this long is torn down and counted
   * as a failure; default 5 min. Each watch asks the server (`timeoutSeconds`) to end it
   * cleanly after 50–90 % of this, so only a broken connection trips the watchdog.
   */
  readonly watchdogMs?: number;
  /** Timeout of each LIST page request; default 60 s. */
  readonly requestTimeoutMs?: number;
  /** LIST page size (`limit`); default 500. */
  readonly pageSize?: number;
  /** Reconnect backoff (full jitter); default {initialMs: 500, maxMs: 30 s, minMs: 50}. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number; readonly minMs?: number };
  /** A watch that stayed established this long resets the backoff when it ends; default 30 s. */
  readonly healthyMs?: number;
  readonly logger?: LogPort;
  /** Clock, in ms; default Date.now. */
  readonly now?: () => number;
  /** Uniform source in [0, 1) for jitter; default Math.random. */
  readonly random?: () => number;
}

export interface InformerHandlers<T> {
  add: (obj: T) => void;
  /** `old` is the previously stored object; on resync it may carry the same resourceVersion. */
  update: (obj: T, old: T) => void;
  /** The last state seen (the DELETED event's object, or the stored one when found missing on relist). */
  delete: (obj: T) => void;
  synced: () => void;
  error: (err: Error) => void;
}

/** The watch delivered nothing, not even a bookmark, for `watchdogMs`. */
export class WatchdogTimeoutError extends Error {
  constructor(readonly path: string, readonly idleMs: number) {
    super(`no watch event for ${idleMs} ms on ${path}`);
    this.name = 'WatchdogTimeoutError';
  }
}

type WatchEnd =
  | { readonly kind: 'closed'; readonly connectedMs: number }
  | { readonly kind: 'gone'; readonly connectedMs: number }
  | { readonly kind: 'failed'; readonly connectedMs: number; readonly error: Error }
  | { readonly kind: 'interrupted' };

type AbortReason = 'resync' | 'watchdog' | 'stop';

interface ListPage<T> {
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items?: T[];
}

interface WatchEvent {
  readonly type?: string;
  readonly object?: KubernetesObject & { code?: number; message?: string; reason?: string };
}


const ERROR_BODY_LIMIT = 64 * 1024;

function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

function objectKey(obj: KubernetesObject): string {
  return keyOf(obj.metadata?.namespace, obj.metadata?.name);
}

function isGone(err: unknown): boolean {
  return err instanceof ApiException && err.code === 410;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * A list+watch cache of one resource collection that keeps itself correct across
 * disconnects.
 *
 * - The first complete (paginated) LIST fills the store, emits `add` for each object, then
 *   `synced`; `hasSynced()` is false until then and true forever after.
 * - A WATCH then runs from the list's resourceVersion with bookmarks; ADDED/MODIFIED/DELETED
 *   become `add`/`update`/`delete`. An ADDED/MODIFIED carrying the stored resourceVersion is
 *   not re-emitted.
 * - When the watch ends or fails it is reopened from the last resourceVersion seen after a
 *   backoff delay (exponential, full jitter, floor `minMs`); the backoff resets when a watch
 *   had stayed established for `healthyMs`. No request is ever retried without a delay.
 * - 410 Gone (HTTP status or an ERROR event) triggers a RELIST diffed against the store:
 *   `add`/`update`/`delete` are emitted for the differences, so deletions that happened
 *   while disconnected are delivered.
 * - A watch idle for `watchdogMs` is aborted and reopened (as a failure).
 * - Every `resyncMs` after a successful list the watch is closed and a relist runs; it
 *   diffs like a 410 relist and additionally emits `update(obj, old)` for every object that
 *   did not change, so level-based handlers re-converge.
 * - While disconnected the store is kept and stays readable; `healthy()` turns false on a
 *   failure and true again on the next successful list or watch line; `lastError` holds
 *   the most recent failure.
 *
 * Handlers run synchronously in event order; a throwing handler is logged and does not
 * disturb the informer. Objects handed out are the stored ones: treat them as read-only.
 * An informer runs once: `stop()` is final.
 */
export class ResilientInformer<T extends KubernetesObject> {
  private readonly auth: AuthSource;
  /** A 401 was answered: the next request computes the auth material again. */
  private refreshAuth = false;
  private readonly path: string;
  private readonly labelSelector: string | undefined;
  private readonly fieldSelector: string | undefined;
  private readonly resyncMs: number;
  private readonly watchdogMs: number;
  private readonly requestTimeoutMs: number;
  private readonly pageSize: number;
  private readonly healthyMs: number;
  private readonly log: LogPort;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly backoff: Backoff;
  private readonly handlers: { [K in keyof InformerHandlers<T>]: Set<InformerHandlers<T>[K]> } = {
    add: new Set(),
    update: new Set(),
    delete: new Set(),
    synced: new Set(),
    error: new Set(),
  };

  private store = new Map<string, T>();
  private rv = '';
  private synced = false;
  private failures = 0;
  private error: Error | undefined;
  private needList = true;
  private resyncDue = false;
  private stopped = false;
  private readonly stopController = new AbortController();
  private resyncTimer: NodeJS.Timeout | undefined;
  private abortWatch: ((reason: AbortReason) => void) | undefined;
  private startPromise: Promise<void> | undefined;
  private resolveStart: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(opts: ResilientInformerOptions) {
    this.auth = opts.auth;
    this.path = opts.path.replace(/\/+$/, '');
    this.labelSelector = opts.labelSelector;
    this.fieldSelector = opts.fieldSelector;
    this.resyncMs = opts.resyncMs ?? 600_000;
    this.watchdogMs = opts.watchdogMs ?? 300_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.pageSize = opts.pageSize ?? 500;
    this.healthyMs = opts.healthyMs ?? 30_000;
    this.log = opts.logger ?? silentLog;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const b = opts.backoff ?? { initialMs: 500, maxMs: 30_000, minMs: 50 };
    this.backoff = new Backoff({
      initialMs: b.initialMs,
      maxMs: b.maxMs,
      minMs: b.minMs ?? Math.min(50, b.initialMs),
      random: this.random,
    });
  }

  on<K extends keyof InformerHandlers<T>>(event: K, handler: InformerHandlers<T>[K]): this {
    this.handlers[event].add(handler);
    return this;
  }

  off<K extends keyof InformerHandlers<T>>(event: K, handler: InformerHandlers<T>[K]): this {
    this.handlers[event].delete(handler);
    return this;
  }

  /**
   * Starts listing and watching in the background. The promise resolves once the first
   * complete list is in the store and its `add`s and `synced` were emitted, or when `stop()`
   * is called first (check `hasSynced()`); it never rejects — failures are retried with
   * backoff and reported through `error`/`lastError`. Later calls return the same promise.
   */
  start(): Promise<void> {
    if (!this.startPromise) {
      this.startPromise = new Promise<void>((resolve) => {
        this.resolveStart = resolve;
      });
      if (this.stopped) this.resolveStart?.();
      else
        this.loop = this.run().catch((err: unknown) => {
          this.log.warn('informer loop crashed', { path: this.path, error: asError(err).message });
        });
    }
    return this.startPromise;
  }

  /** Stops for good: aborts in-flight requests and timers; resolves when the loop has exited. */
  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.stopController.abort();
      this.abortWatch?.('stop');
      if (this.resyncTimer) clearTimeout(this.resyncTimer);
      this.resyncTimer = undefined;
      this.resolveStart?.();
    }
    return this.loop ?? Promise.resolve();
  }

  /** True once the first complete list has been stored; stays true across disconnects. */
  hasSynced(): boolean {
    return this.synced;
  }

  /**
   * Synced, and no failure since the last successful list or the last watch event/bookmark
   * received (an established but silent watch does not by itself restore health).
   */
  healthy(): boolean {
    return this.synced && this.failures === 0;
  }

  /** The most recent failure, kept after recovery (see `healthy()` for the current state). */
  get lastError(): Error | undefined {
    return this.error;
  }

  /** The last resourceVersion seen (list, event or bookmark); '' before the first list. */
  get resourceVersion(): string {
    return this.rv;
  }

  list(): T[] {
    return [...this.store.values()];
  }

  /** The stored object; `namespace` '' or undefined for cluster-scoped kinds. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(keyOf(namespace || undefined, name));
  }

  private emit<K extends keyof InformerHandlers<T>>(event: K, ...args: Parameters<InformerHandlers<T>[K]>): void {
    for (const handler of this.handlers[event]) {
      try {
        (handler as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.log.warn('informer handler threw', { path: this.path, event, error: asError(err).message });
      }
    }
  }

  private fail(err: Error): void {
    this.failures += 1;
    this.error = err;
    this.log.warn('informer request failed', {
      path: this.path,
      error: err.message,
      code: err instanceof ApiException ? err.code : undefined,
      failures: this.failures,
    });
    this.emit('error', err);
  }

  private succeed(): void {
    this.failures = 0;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let delay: number | undefined;
      try {
        if (this.needList || this.resyncDue) {
          await this.relist(this.resyncDue && this.synced);
          this.needList = false;
          this.resyncDue = false;
        }
        if (this.stopped) break;
        delay = this.afterWatch(await this.watchOnce());
      } catch (err) {
        if (this.stopped) break;
        this.fail(asError(err));
        delay = this.backoff.next();
      }
      if (delay !== undefined && !this.stopped) {
        this.log.debug('informer retrying', { path: this.path, delayMs: delay, relist: this.needList });
        await this.sleep(delay);
      }
    }
  }

  /** The delay before the next attempt, or undefined to go on at once. */
  private afterWatch(end: WatchEnd): number | undefined {
    if (end.kind === 'interrupted') return undefined;
    if (end.connectedMs >= this.healthyMs) this.backoff.reset();
    switch (end.kind) {
      case 'closed':
        this.log.debug('informer watch closed', { path: this.path, connectedMs: end.connectedMs });
        break;
      case 'gone':
        this.log.info('informer resourceVersion expired, relisting', { path: this.path, resourceVersion: this.rv });
        this.needList = true;
        break;
      case 'failed':
        this.fail(end.error);
        break;
    }
    return this.backoff.next();
  }

  private sleep(ms: number): Promise<void> {
    const stop = this.stopController.signal;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        stop.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      stop.addEventListener('abort', done, { once: true });
    });
  }

  private scheduleResync(): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    if (this.resyncMs <= 0 || this.stopped) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      this.resyncDue = true;
      this.abortWatch?.('resync');
    }, this.resyncMs);
    this.resyncTimer.unref();
  }

  private selectorQuery(): Record<string, string> {
    const q: Record<string, string> = {};
    if (this.labelSelector) q.labelSelector = this.labelSelector;
    if (this.fieldSelector) q.fieldSelector = this.fieldSelector;
    return q;
  }

  private async relist(resync: boolean): Promise<void> {
    const items: T[] = [];
    let listRv: string | undefined;
    let cont: string | undefined;
    let restarted = false;
    for (;;) {
      const query: Record<string, string> = { ...this.selectorQuery(), limit: String(this.pageSize) };
      if (cont) query.continue = cont;
      let page: ListPage<T>;
      try {
        page = await this.getJson<ListPage<T>>(query);
      } catch (err) {
        if (isGone(err) && cont && !restarted) {
          this.log.info('informer list continuation expired, restarting list', { path: this.path });
          items.length = 0;
          listRv = undefined;
          cont = undefined;
          restarted = true;
          continue;
        }
        throw err;
      }
      listRv ??= page.metadata?.resourceVersion;
      if (page.items) items.push(...page.items);
      cont = page.metadata?.continue || undefined;
      if (!cont) break;
    }
    this.succeed();
    this.replace(items, listRv ?? '', resync);
    this.scheduleResync();
  }

  private replace(items: readonly T[], listRv: string, resync: boolean): void {
    const prev = this.store;
    const next = new Map<string, T>();
    for (const obj of items) next.set(objectKey(obj), obj);
    this.store = next;
    this.rv = listRv;
    let added = 0;
    let updated = 0;
    let deleted = 0;
    for (const [key, obj] of next) {
      const old = prev.get(key);
      if (!old) {
        added += 1;
        this.emit('add', obj);
      } else if (resync || old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        updated += 1;
        this.emit('update', obj, old);
      }
    }
    for (const [key, old] of prev) {
      if (!next.has(key)) {
        deleted += 1;
        this.emit('delete', old);
      }
    }
    this.log.debug('informer listed', { path: this.path, resourceVersion: listRv, resync, added, updated, deleted });
    if (!this.synced) {
      this.synced = true;
      this.log.info('informer synced', { path: this.path, objects: next.size });
      this.emit('synced');
      this.resolveStart?.();
    }
  }

  private async watchOnce(): Promise<WatchEnd> {
    const ac = new AbortController();
    let reason: AbortReason | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    const abort = (r: AbortReason): void => {
      reason ??= r;
      ac.abort();
    };
    const armWatchdog = (): void => {
      if (watchdog) clearTimeout(watchdog);
      watchdog = setTimeout(() => abort('watchdog'), this.watchdogMs);
      watchdog.unref();
    };
    this.abortWatch = abort;
    if (this.resyncDue) abort('resync');
    let connectedAt: number | undefined;
    const connectedMs = (): number => (connectedAt === undefined ? 0 : this.now() - connectedAt);
    armWatchdog();
    try {
      const query: Record<string, string> = {
        ...this.selectorQuery(),
        watch: 'true',
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(Math.max(1, Math.floor((this.watchdogMs / 1000) * (0.5 + 0.4 * this.random())))),
      };
      if (this.rv) query.resourceVersion = this.rv;
      const res = await this.request(query, ac.signal);
      if (res.statusCode !== 200) throw await this.toApiException(res);
      connectedAt = this.now();
      this.log.debug('informer watching', { path: this.path, resourceVersion: this.rv });
      armWatchdog();
      res.setEncoding('utf8');
      let buffered = '';
      for await (const chunk of res as AsyncIterable<string>) {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          armWatchdog();
          this.succeed();
          const outcome = this.handleLine(line);
          if (outcome === 'gone') return { kind: 'gone', connectedMs: connectedMs() };
          if (outcome) return { kind: 'failed', connectedMs: connectedMs(), error: outcome };
        }
      }
      return { kind: 'closed', connectedMs: connectedMs() };
    } catch (err) {
      if (reason === 'resync' || reason === 'stop') return { kind: 'interrupted' };
      if (reason === 'watchdog') {
        return { kind: 'failed', connectedMs: connectedMs(), error: new WatchdogTimeoutError(this.path, this.watchdogMs) };
      }
      if (isGone(err)) return { kind: 'gone', connectedMs: connectedMs() };
      return { kind: 'failed', connectedMs: connectedMs(), error: asError(err) };
    } finally {
      if (watchdog) clearTimeout(watchdog);
      this.abortWatch = undefined;
      ac.abort();
    }
  }

  /** Applies one watch line; returns 'gone' on an expired resourceVersion, an Error to end the watch. */
  private handleLine(line: string): 'gone' | Error | undefined {
    let event: WatchEvent;
    try {
      event = JSON.parse(line) as WatchEvent;
    } catch {
      return new Error(`malformed watch event on ${this.path}`);
    }
    const obj = event.object;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        if (!obj?.metadata?.name) return new Error(`watch event without object name on ${this.path}`);
        const typed = obj as T;
        const key = objectKey(typed);
        const old = this.store.get(key);
        this.rv = obj.metadata.resourceVersion ?? this.rv;
        if (old && old.metadata?.resourceVersion === obj.metadata.resourceVersion) return undefined;
        this.store.set(key, typed);
        if (old) this.emit('update', typed, old);
        else this.emit('add', typed);
        return undefined;
      }
      case 'DELETED': {
        if (!obj?.metadata?.name) return new Error(`watch event without object name on ${this.path}`);
        const key = objectKey(obj);
        this.rv = obj.metadata.resourceVersion ?? this.rv;
        if (!this.store.delete(key)) return undefined;
        this.emit('delete', obj as T);
        return undefined;
      }
      case 'BOOKMARK':
        this.rv = obj?.metadata?.resourceVersion ?? this.rv;
        return undefined;
      case 'ERROR': {
        const code = typeof obj?.code === 'number' ? obj.code : 500;
        if (code === 410) return 'gone';
        return new ApiException(code, obj?.message ?? 'watch error', obj, {});
      }
      default:
        return new Error(`unknown watch event type ${String(event.type)} on ${this.path}`);
    }
  }

  private async getJson<R>(query: Record<string, string>): Promise<R> {
    const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.requestTimeoutMs)]);
    const res = await this.request(query, signal);
    if (res.statusCode !== 200) throw await this.toApiException(res);
    res.setEncoding('utf8');
    let body = '';
    for await (const chunk of res as AsyncIterable<string>) body += chunk;
    return JSON.parse(body) as R;
  }

  /** Issues a GET on the collection with the kubeconfig's credentials; resolves on response headers. */
  private async request(query: Record<string, string>, signal: AbortSignal): Promise<http.IncomingMessage> {
    const url = new URL(this.auth.server.replace(/\/+$/, '') + this.path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const refresh = this.refreshAuth;
    this.refreshAuth = false;
    const auth = await this.auth.authMaterial(refresh);
    signal.throwIfAborted();
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method: 'GET',
          ...(auth.agent !== undefined ? { agent: auth.agent } : {}),
          headers: { ...auth.headers, Accept: 'application/json' },
          signal,
        },
        (res) => {
          res.on('error', () => {});
          resolve(res);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  private async toApiException(res: http.IncomingMessage): Promise<ApiException<unknown>> {
    const code = res.statusCode ?? 500;
    if (code === 401) this.refreshAuth = true;
    let text = '';
    try {
      res.setEncoding('utf8');
      for await (const chunk of res as AsyncIterable<string>) {
        if (text.length < ERROR_BODY_LIMIT) text += chunk;
      }
    } catch {
      // The status code alone classifies the failure.
    }
    let body: unknown = text;
    let message = http.STATUS_CODES[code] ?? 'HTTP error';
    try {
      body = JSON.parse(text);
      const m = (body as { message?: unknown }).message;
      if (typeof m === 'string') message = m;
    } catch {
      // Not a Status object: keep the raw text.
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
    return new ApiException(code, message, body, headers);
  }
}
