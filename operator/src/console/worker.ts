/**
 * The console worker thread's body (host.ts startConsoleWorker): its own Kubernetes client
 * and logger, the console app, then `{port}` to the parent; 'stop' closes and exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadKubeConfig } from '../kube/client.js';
import { createLogger, logPort } from '../observability/logger.js';
import type { ConsoleWorkerData } from './host.js';
import { startConsole } from './server.js';

const data = workerData as ConsoleWorkerData;
const logger = createLogger({ level: data.config.logLevel, format: data.config.logFormat });
try {
  const kc = loadKubeConfig(data.kubeconfig ? { kubeconfig: data.kubeconfig } : {});
  const running = await startConsole(data.config, kc, logPort(logger));
  parentPort?.on('message', (m: unknown) => {
    if (m === 'stop') void running.close().then(() => process.exit(0));
  });
  parentPort?.postMessage({ port: running.port });
} catch (err) {
  logger.error('console failed to start', { error: (err as Error).message });
  parentPort?.postMessage({ error: (err as Error).message });
}
