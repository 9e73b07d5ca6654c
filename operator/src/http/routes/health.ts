/**
 * Management endpoints, never authenticated so kubelet probes and Prometheus work:
 * `/healthz` (the process answers), `/readyz` (the operator can act: informers synced, index
 * loaded), `/metrics` (Prometheus text). GET and HEAD only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { sendJson } from '../respond.js';

export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

export interface HealthRouteDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly isReady: () => Readiness;
}

const HEALTHY = '{"status":"ok"}';

function readOnly(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  sendJson(res, 405, JSON.stringify({ error: `${req.url ?? ''} answers GET and HEAD only` }), { allow: 'GET, HEAD' });
  return false;
}

/** 200 while the process can answer. */
export function handleHealthz(req: IncomingMessage, res: ServerResponse): void {
  if (readOnly(req, res)) sendJson(res, 200, HEALTHY);
}

/** 200 when ready, else 503 with the reasons; a readiness check that throws counts as not ready. */
export function handleReadyz(req: IncomingMessage, res: ServerResponse, deps: HealthRouteDeps): void {
  if (!readOnly(req, res)) return;
  let state: Readiness;
  try {
    state = deps.isReady();
  } catch (err) {
    deps.logger.error('readiness check failed', { error: (err as Error).message });
    state = { ready: false, reasons: [`readiness check failed: ${(err as Error).message}`] };
  }
  sendJson(res, state.ready ? 200 : 503, JSON.stringify(state.ready ? { status: 'ready' } : { status: 'not ready', reasons: state.reasons }));
}

/** The registry in Prometheus text format; 500 if collecting fails. */
export function handleMetrics(req: IncomingMessage, res: ServerResponse, deps: Pick<HealthRouteDeps, 'logger' | 'metrics'>): void {
  if (!readOnly(req, res)) return;
  deps.metrics.text().then(
    (text) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(200, { 'content-type': deps.metrics.contentType, 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
    },
    (err: unknown) => {
      deps.logger.error('collecting metrics failed', { error: (err as Error).message });
      sendJson(res, 500, JSON.stringify({ error: 'collecting metrics failed' }));
    },
  );
}
