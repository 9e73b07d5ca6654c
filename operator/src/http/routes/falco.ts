/**
 * The alert intake: one Falco alert per POST, on any path (as Talon). The hot path is plain
 * node:http: authenticate, read the body up to the limit, parse, hand to `ingest`, answer.
 *
 * Answers: 202 `{"status":"accepted","traceId":…}` (a W3C trace id, lib/trace-id.ts) once `ingest` took the alert and `commit`
 * wrote it, with the turn's other answers (`answerAtEndOfTurn`); 400 `{"error":…}`
 * for a body that is not one valid alert; 401 bad credentials (and the connection closed); 405 not a POST; 413 body over
 * the limit (declared or actual, compressed or not); 415 unknown Content-Encoding; 500 only
 * when `ingest` or `commit` throws; 503 with Retry-After when `ingest` or `commit` refuses the alert (byte budget full,
 * journal unwritable: nothing is accepted that cannot be kept). Any Content-Type is accepted (`curl -d` sends form-urlencoded);
 * `Content-Encoding: gzip` and `deflate` are decoded. Every path answers; none throws.
 */
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzip, inflate } from 'node:zlib';
import { newTraceId } from '../../lib/trace-id.js';
import type { Refusal } from '../../lib/refusal.js';
import { parseAlert } from '../../falco/parse.js';
import type { FalcoEvent } from '../../falco/event.js';
import type { Logger } from '../../observability/logger.js';
import type { CounterCell, Metrics, ReceivedResult } from '../../observability/metrics.js';
import type { Authenticator } from '../auth.js';
import { sendAccepted, sendJson } from '../respond.js';

export interface FalcoRouteDeps {
  readonly bodyLimitBytes: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly authenticator: Authenticator;
  /** Queues the alert (`body`: its decoded bytes, for the journal); synchronous and fast. A refusal answers 503, a throw 500. */
  readonly ingest: (ev: FalcoEvent, body: Buffer) => IngestRefusal | undefined | void;
  /**
   * Commits the alerts `ingest` took since the last call (the journal's group commit), once per
   * event-loop turn before any of that turn's 202s; a refusal answers all of them 503, a throw
   * 500. Absent: `ingest` committed each alert itself.
   */
  readonly commit?: () => IngestRefusal | undefined | void;
}

/** Why an alert cannot be taken now; answered 503 with Retry-After. */
export type IngestRefusal = Refusal;

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Body bytes past the limit that are read and discarded after a 413, so the answer reaches
 * the client over a live connection instead of being lost to a reset; a larger body closes
 * the connection.
 */
const DRAIN_BYTES = 1024 * 1024;
const REJECTION_LOG_INTERVAL_MS = 10_000;

const errorBody = (message: string): string => JSON.stringify({ error: message });

/** At most one log line per interval for a repeated condition, with the count of the ones skipped. */
function throttled(logger: Logger, intervalMs: number): (message: string, fields: Record<string, unknown>) => void {
  let last = -Infinity;
  let skipped = 0;
  return (message, fields) => {
    const now = performance.now();
    if (now - last < intervalMs) {
      skipped++;
      return;
    }
    last = now;
    logger.warn(message, skipped > 0 ? { ...fields, similar_skipped: skipped } : fields);
    skipped = 0;
  };
}

function declaredLength(req: IncomingMessage): number | undefined {
  const h = req.headers['content-length'];
  return h === undefined ? undefined : Number(h);
}

type Decoder = typeof gunzip;
const DECODERS: ReadonlyMap<string, Decoder | null> = new Map<string, Decoder | null>([
  ['identity', null],
  ['gzip', gunzip],
  ['x-gzip', gunzip],
  ['deflate', inflate],
]);

/**
 * The answers to the alerts taken in one event-loop turn, written together once the turn's
 * reads are handled (`setImmediate`), in the order they were taken. First `settle()` runs once
 * for the whole turn — the journal's group commit, one write for every alert of the turn — and
 * returns how to answer each of them (202, or 503 for all when the commit failed).
 *
 * Why together: each answer written at once would wake the sender (Falco, Falcosidekick, a load
 * generator) once per alert, and on a VM that wake-up, paid inside our `writev`, costs more than
 * the rest of the answer: with 20 senders, answering together took the operator from 155 to
 * 108 µs of CPU per alert (bench/RESULTS.md §5). An answer is later by less than one turn.
 */
export function answerAtEndOfTurn(
  settle: () => (res: ServerResponse, traceId: string) => void,
  onError: (err: Error) => void,
): (res: ServerResponse, traceId: string) => void {
  let pending: { res: ServerResponse; traceId: string }[] = [];
  const flush = (): void => {
    const batch = pending;
    pending = [];
    let answer: (res: ServerResponse, traceId: string) => void;
    try {
      answer = settle();
    } catch (err) {
      onError(err as Error);
      answer = (res) => sendJson(res, 500, errorBody('internal error: the alert was not queued'));
    }
    for (const { res, traceId } of batch) {
      try {
        answer(res, traceId);
      } catch (err) {
        // One broken answer does not cost the others theirs (nor the process its life).
        onError(err as Error);
      }
    }
  };
  return (res, traceId) => {
    if (pending.push({ res, traceId }) === 1) setImmediate(flush);
  };
}

/** The intake handler (answers as described above); rejections are logged at most once per 10 s each kind. */
export function createFalcoHandler(deps: FalcoRouteDeps): RequestHandler {
  const { bodyLimitBytes: limit, logger, metrics, authenticator, ingest, commit } = deps;
  // Counter cells (HotCounter): one `inc` per alert, without prom-client hashing the label set each time.
  const cell = (result: ReceivedResult): CounterCell => metrics.hot.eventsReceived.cell({ result });
  const received = {
    accepted: cell('accepted'),
    rejected: cell('rejected'),
    unauthorized: cell('unauthorized'),
    tooLarge: cell('too_large'),
    refused: cell('refused'),
    error: cell('error'),
  };
  const logRefusal = throttled(logger, REJECTION_LOG_INTERVAL_MS);
  const logRejection = throttled(logger, REJECTION_LOG_INTERVAL_MS);
  const logUnauthorized = throttled(logger, REJECTION_LOG_INTERVAL_MS);
  const tooLargeBody = errorBody(`body exceeds the limit of ${limit} bytes`);
  const refusedAnswer = (refusal: IngestRefusal) => (res: ServerResponse) =>
    sendJson(res, 503, errorBody(`alert not accepted: ${refusal.reason}`), { 'retry-after': String(refusal.retryAfterSeconds) });
  const answerTaken = answerAtEndOfTurn(
    () => {
      let refusal: IngestRefusal | undefined | void;
      try {
        refusal = commit?.();
      } catch (err) {
        logger.error('committing accepted alerts failed', { error: (err as Error).message, stack: (err as Error).stack });
        return (res) => {
          received.error.inc();
          sendJson(res, 500, errorBody('internal error: the alert was not queued'));
        };
      }
      if (refusal !== undefined) {
        logRefusal('alerts refused (503)', { reason: refusal.reason });
        const answer = refusedAnswer(refusal);
        return (res) => {
          received.refused.inc();
          answer(res);
        };
      }
      return (res, traceId) => {
        received.accepted.inc();
        sendAccepted(res, traceId);
      };
    },
    (err) => logger.error('answering an alert failed', { error: err.message, stack: err.stack }),
  );

  /** Answers before the body is read: keeps the connection only when the body is small enough to drain. */
  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, body: string, headers: Readonly<Record<string, string>> = {}): void => {
    const length = declaredLength(req);
    const close = length === undefined ? req.headers['transfer-encoding'] !== undefined : length > limit;
    sendJson(res, status, body, headers, close);
  };

  /** 413; `unread` is how much body is still to come (undefined: unknown). */
  const tooLarge = (res: ServerResponse, unread: number | undefined): void => {
    received.tooLarge.inc();
    sendJson(res, 413, tooLargeBody, {}, unread === undefined || unread > DRAIN_BYTES);
  };

  const reject = (req: IncomingMessage, res: ServerResponse, message: string): void => {
    received.rejected.inc();
    logRejection('alert rejected', { reason: message, remote: req.socket.remoteAddress, path: req.url });
    sendJson(res, 400, errorBody(message));
  };

  /** Runs a step of the upload that happens outside the request handler's own call; a throw (a bug) answers 500. */
  const guarded = (res: ServerResponse, step: () => void): void => {
    try {
      step();
    } catch (err) {
      received.error.inc();
      logger.error('alert handling failed', { error: (err as Error).message, stack: (err as Error).stack });
      sendJson(res, 500, errorBody('internal error'));
    }
  };

  const accept = (req: IncomingMessage, res: ServerResponse, body: Buffer, receivedAt: number): void => {
    const traceId = newTraceId();
    const parsed = parseAlert(body, { receivedAt, traceId });
    if (!parsed.ok) {
      reject(req, res, parsed.message);
      return;
    }
    let refusal: IngestRefusal | undefined | void;
    try {
      refusal = ingest(parsed.event, body);
    } catch (err) {
      received.error.inc();
      logger.error('ingest failed', { trace_id: traceId, rule: parsed.event.rule, error: (err as Error).message, stack: (err as Error).stack });
      sendJson(res, 500, errorBody('internal error: the alert was not queued'));
      return;
    }
    if (refusal !== undefined) {
      received.refused.inc();
      logRefusal('alert refused (503)', { reason: refusal.reason, remote: req.socket.remoteAddress });
      refusedAnswer(refusal)(res);
      return;
    }
    answerTaken(res, traceId);
  };

  return (req, res) => {
    const receivedAt = performance.now();
    if (req.method !== 'POST') {
      received.rejected.inc();
      refuse(req, res, 405, errorBody('alerts must be sent with POST'), { allow: 'POST' });
      return;
    }
    if (!authenticator.allows(req)) {
      received.unauthorized.inc();
      logUnauthorized('unauthorized alert', { remote: req.socket.remoteAddress });
      // A client without credentials does not keep a connection (nor the socket it holds).
      sendJson(res, 401, errorBody('unauthorized'), authenticator.challenge, true);
      return;
    }
    const length = declaredLength(req);
    if (length !== undefined && length > limit) {
      tooLarge(res, req.headers.expect === undefined ? length : undefined);
      return;
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const decoder = DECODERS.get(encoding);
    if (decoder === undefined) {
      received.rejected.inc();
      refuse(req, res, 415, errorBody(`unsupported Content-Encoding ${JSON.stringify(encoding)}: use gzip, deflate or none`));
      return;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > limit + DRAIN_BYTES) req.socket.destroy();
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        tooLarge(res, 0);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => {
      over = true;
      logger.debug('alert upload failed', { remote: req.socket.remoteAddress, error: err.message });
    });
    req.on('end', () => {
      if (over) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (decoder === null) {
        guarded(res, () => accept(req, res, body, receivedAt));
        return;
      }
      decoder(body, { maxOutputLength: limit }, (err, decoded) =>
        guarded(res, () => {
          if (err === null) accept(req, res, decoded, receivedAt);
          else if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') tooLarge(res, 0);
          else reject(req, res, `body is not valid ${encoding} data: ${err.message}`);
        }),
      );
    });
  };
}
