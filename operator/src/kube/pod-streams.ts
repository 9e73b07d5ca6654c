/**
 * The streaming pod subresources: `pods/exec` (client-node's `Exec`, over a WebSocket) and
 * `pods/log` (a streamed GET). An injected port (`PodStreams`), so actionners never hold a
 * KubeConfig and unit tests use a fake (operator/test/fakes/pod-streams.ts).
 *
 * The command of an exec is an argv list: client-node sends each entry as its own `command=`
 * query parameter and the container runtime executes it without a shell. Nothing here ever
 * builds a command string, and nothing of this process's environment reaches the command.
 */
import https from 'node:https';
import http from 'node:http';
import { Readable, Writable } from 'node:stream';
import type { KubeConfig, V1Status } from '@kubernetes/client-node';
import { ApiException, Exec } from './client-node-lite.js';
// Not re-exported by the package index; needed to give each session its own streams (below).
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import { TalonError } from '../errors.js';

export interface PodExecRequest {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  /** argv: executed as is, no shell. */
  readonly command: readonly string[];
  /** Receives the command's stdout; while it needs draining the session stops reading (back-pressure). Ended when the command ends. */
  readonly stdout: Writable;
  /** Receives the command's stderr, as `stdout`. */
  readonly stderr: Writable;
  /** Aborting closes the session (the command may keep running in the container: Kubernetes has no kill). */
  readonly signal: AbortSignal;
  /** Called once the session is open (the API server accepted the exec), before any output. */
  readonly onOpen?: () => void;
}

/** How a command ended, from the exec protocol's status channel. */
export interface PodExecStatus {
  /** True when the command exited 0. */
  readonly success: boolean;
  /** The exit code when the status names one (0 on success); absent when the command did not run (e.g. not found). */
  readonly exitCode?: number;
  /** The status message (e.g. "command terminated with non-zero exit code: ..."); '' on success. */
  readonly message: string;
}

export interface PodLogRequest {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly tailLines?: number;
  readonly sinceSeconds?: number;
  /** The previous (terminated) instance of the container. */
  readonly previous?: boolean;
  readonly timestamps?: boolean;
  /** Server-side cap: the API server stops after this many bytes. */
  readonly limitBytes?: number;
  /** Aborting ends the request and destroys the returned stream. */
  readonly signal: AbortSignal;
}

export interface PodStreams {
  /**
   * Runs `command` in the container and resolves with its exit status once the command ended
   * and `stdout`/`stderr` were ended. Rejects when the session could not be opened (an API
   * error — mapped by `fromKubeError` — or a network error), when it closed without a status,
   * and with the signal's reason when aborted (the session is closed).
   */
  exec(req: PodExecRequest): Promise<PodExecStatus>;
  /**
   * The container's log as a stream, once the API server answered 200. Rejects with an
   * `ApiException` carrying the server's Status (404 pod/container, 400 no previous
   * container, 403 …) or a network error; the stream errors if the connection breaks.
   */
  log(req: PodLogRequest): Promise<Readable>;
}

/**
 * The exit status a v1 Status of the exec status channel stands for. The kubelet names the
 * exit code in a cause (`reason: ExitCode`); runtimes that only report Go's error text (kwok:
 * an InternalError "...: exit status 3") are read from that text's fixed ending.
 */
export function execStatusOf(status: V1Status): PodExecStatus {
  if (status.status === 'Success') return { success: true, exitCode: 0, message: '' };
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const message = status.message ?? status.reason ?? 'the command failed';
  let code = cause?.message !== undefined && /^[0-9]{1,10}$/.test(cause.message) ? Number(cause.message) : undefined;
  if (code === undefined) {
    const m = /: exit status ([0-9]{1,3})$/.exec(message);
    if (m) code = Number(m[1]);
  }
  return { success: false, ...(code !== undefined ? { exitCode: code } : {}), message };
}

/** The parts of client-node's WebSocket (the `ws` package) used here. */
interface ExecSocket {
  close(): void;
  terminate?(): void;
  pause?(): void;
  resume?(): void;
  readonly readyState: number;
  on(event: 'close', listener: () => void): unknown;
}

const abortReason = (signal: AbortSignal): Error => (signal.reason instanceof Error ? signal.reason : new TalonError('Aborted', 'the exec session was aborted'));

/**
 * A writable that forwards into `target` and asks for the socket to pause while `target`
 * needs draining, so a slow reader (an upload) bounds what the session buffers.
 */
class BackPressured extends Writable {
  private paused = false;
  socket: ExecSocket | undefined;

  constructor(private readonly target: Writable) {
    super();
    target.on('drain', () => {
      if (this.paused) {
        this.paused = false;
        this.socket?.resume?.();
      }
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.target.destroyed) {
      cb();
      return;
    }
    if (!this.target.write(chunk) && !this.paused) {
      this.paused = true;
      this.socket?.pause?.();
    }
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.target.destroyed && !this.target.writableEnded) this.target.end();
    cb();
  }

  /** Called once the socket exists: applies a pause requested before. */
  attach(socket: ExecSocket): void {
    this.socket = socket;
    if (this.paused) socket.pause?.();
  }
}

const ended = (w: Writable): Promise<void> =>
  new Promise((resolve) => {
    if (w.writableFinished || w.destroyed) resolve();
    else {
      w.once('finish', () => resolve());
      w.once('close', () => resolve());
    }
  });

class KubePodStreams implements PodStreams {
  constructor(private readonly kc: KubeConfig) {}

  async exec(req: PodExecRequest): Promise<PodExecStatus> {
    req.signal.throwIfAborted();
    const stdout = new BackPressured(req.stdout);
    const stderr = new BackPressured(req.stderr);
    // A handler per session, so a v5 close-stream frame ends this session's streams, never process.stdout.
    const handler = new WebSocketHandler(this.kc, undefined, { stdin: Readable.from([]), stdout, stderr });
    const exec = new Exec(this.kc, handler);
    let status: V1Status | undefined;
    let onStatus: () => void = () => undefined;
    const statusSeen = new Promise<void>((resolve) => (onStatus = resolve));
    let onAbort: () => void = () => undefined;
    const aborted = new Promise<'aborted'>((resolve) => {
      onAbort = () => resolve('aborted');
      req.signal.addEventListener('abort', onAbort, { once: true });
    });
    const connecting = exec.exec(req.namespace, req.pod, req.container, [...req.command], stdout, stderr, null, false, (s) => {
      status = s;
      onStatus();
    }) as unknown as Promise<ExecSocket>;
    let socket: ExecSocket;
    try {
      const opened = await Promise.race([connecting, aborted]);
      if (opened === 'aborted') {
        connecting.then((s) => s.close(), () => undefined);
        throw abortReason(req.signal);
      }
      socket = opened;
    } catch (err) {
      req.signal.removeEventListener('abort', onAbort);
      stdout.end();
      stderr.end();
      throw err;
    }
    stdout.attach(socket);
    stderr.attach(socket);
    req.onOpen?.();
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    try {
      const first = await Promise.race([statusSeen.then(() => 'status' as const), closed.then(() => 'closed' as const), aborted]);
      if (first === 'aborted') throw abortReason(req.signal);
      // The status channel comes last; give frames already received a turn, then read it.
      if (first === 'closed' && status === undefined) await new Promise((r) => setImmediate(r));
      const s = status as V1Status | undefined;
      if (s === undefined) throw new TalonError('NetworkError', 'the exec session closed before the command reported its exit status', { retryable: false });
      if (!stdout.writableEnded) stdout.end();
      if (!stderr.writableEnded) stderr.end();
      await Promise.race([Promise.all([ended(stdout), ended(stderr)]), aborted]);
      if (req.signal.aborted) throw abortReason(req.signal);
      return execStatusOf(s);
    } finally {
      req.signal.removeEventListener('abort', onAbort);
      if (socket.readyState <= 1) {
        socket.resume?.();
        socket.close();
      }
      if (!stdout.writableEnded) stdout.end();
      if (!stderr.writableEnded) stderr.end();
    }
  }

  async log(req: PodLogRequest): Promise<Readable> {
    req.signal.throwIfAborted();
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(`${cluster.server.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(req.namespace)}/pods/${encodeURIComponent(req.pod)}/log`);
    const q = url.searchParams;
    q.set('container', req.container);
    if (req.tailLines !== undefined) q.set('tailLines', String(req.tailLines));
    if (req.sinceSeconds !== undefined) q.set('sinceSeconds', String(req.sinceSeconds));
    if (req.previous === true) q.set('previous', 'true');
    if (req.timestamps === true) q.set('timestamps', 'true');
    if (req.limitBytes !== undefined) q.set('limitBytes', String(req.limitBytes));
    const opts: https.RequestOptions = { method: 'GET', headers: {} };
    await this.kc.applyToHTTPSOptions(opts);
    const send = url.protocol === 'https:' ? https.request : http.request;
    return await new Promise<Readable>((resolve, reject) => {
      const request = send(url, { ...opts, signal: req.signal }, (res) => {
        const code = res.statusCode ?? 0;
        if (code === 200) {
          resolve(res);
          return;
        }
        // An error body is a small Status object: read at most 64 KiB of it.
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < 65536) chunks.push(c);
          size += c.length;
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          reject(new ApiException(code, `reading the log: HTTP ${code}`, body, headers));
        });
      });
      request.on('error', reject);
      request.end();
    });
  }
}

/** The pod streams of the cluster `kc` talks to. */
export function makePodStreams(kc: KubeConfig): PodStreams {
  return new KubePodStreams(kc);
}
