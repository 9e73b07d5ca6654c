/**
 * The console's management listener (config `console.*`), run in a worker thread of its own
 * (host.ts starts it, worker.ts is its body): page rendering and the large Event lists it
 * parses never run on the event loop that serves the intake (bench/console-intake.bench.ts
 * measures that). HTTPS with the operator's serving certificate when `tls` is configured (the
 * session cookie is then `Secure`), plain HTTP otherwise; it listens on 127.0.0.1 by default and is reached with
 * `kubectl port-forward`. Sessions live in the worker's memory.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config/schema.js';
import type { LogPort } from '../lib/log.js';
import { kubeAuthPort } from './access.js';
import { createConsoleApp } from './app.js';
import type { RunningConsole } from './host.js';
import { cachedSource, kubeConsoleSource } from './source.js';

/** How long the rule and Event lists are reused between page loads. */
const READ_CACHE_MS = 2_000;

/** The console in this thread (the worker's body; tests may call it directly). */
export async function startConsole(config: Pick<Config, 'console' | 'tls'>, kc: KubeConfig, log: LogPort): Promise<RunningConsole> {
  const secure = config.tls !== undefined;
  const app = createConsoleApp({
    source: cachedSource(kubeConsoleSource(kc), READ_CACHE_MS),
    auth: kubeAuthPort(kc),
    sessionTtlMs: config.console.sessionTtlMs,
    accessCacheTtlMs: config.console.accessCacheTtlMs,
    secure,
    log,
  });
  const server = config.tls ? https.createServer({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }, app) : http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.console.port, config.console.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info('console listening', { address: config.console.address, port, tls: secure });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
