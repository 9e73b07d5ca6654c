/** Response helpers shared by the webhook's routes. */
import type { ServerResponse } from 'node:http';

const JSON_TYPE = 'application/json';

/**
 * The 202 of an accepted alert: its headers as one flat list made once (a trace id is always 32
 * characters, so the length is too), not an object spread per answer as in `sendJson`.
 */
export function sendAccepted(res: ServerResponse, traceId: string): void {
  if (res.headersSent || res.destroyed) return;
  const body = `{"status":"accepted","traceId":"${traceId}"}`;
  res.writeHead(202, body.length === ACCEPTED_LENGTH ? ACCEPTED_HEADERS : ['content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(body))]);
  res.end(body);
}
const ACCEPTED_LENGTH = `{"status":"accepted","traceId":"${'0'.repeat(32)}"}`.length;
// Frozen: writeHead reads a flat list without changing it (and would throw here if it tried).
const ACCEPTED_HEADERS = Object.freeze(['content-type', JSON_TYPE, 'content-length', String(ACCEPTED_LENGTH)]) as string[];

/** Writes a complete JSON answer. `close` ends the connection after it (used when the rest of the body will not be read). */
export function sendJson(res: ServerResponse, status: number, body: string, headers: Readonly<Record<string, string>> = {}, close = false): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    ...headers,
    'content-type': JSON_TYPE,
    'content-length': String(Buffer.byteLength(body)),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}
