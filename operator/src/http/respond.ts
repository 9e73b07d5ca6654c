/** Response helpers shared by the webhook's routes. */
import type { ServerResponse } from 'node:http';

const JSON_TYPE = 'application/json';

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
