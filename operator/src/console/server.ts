/**
 * Starts and stops the console's management listener (config `console.*`): HTTPS with the
 * operator's serving certificate when `tls` is configured (the session cookie is then
 * `Secure`), plain HTTP otherwise — it listens on 127.0.0.1 by default and is reached with
 * `kubectl port-forward`.
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
import { kubeConsoleSource } from './source.js';

export interface RunningConsole {
  readonly port: number;
  close(): Promise<void>;
}

export async function startConsole(config: Pick<Config, 'console' | 'tls'>, kc: KubeConfig, log: LogPort): Promise<RunningConsole> {
  const secure = config.tls !== undefined;
  const app = createConsoleApp({
    source: kubeConsoleSource(kc),
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
