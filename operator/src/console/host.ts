/**
 * The operator's side of the console (config `console.*`): starts the console worker thread
 * and stops it. Kept apart from server.ts, which the worker runs: server.ts brings express,
 * helmet and the console's Kubernetes reads, none of which the operator's own thread needs,
 * so main.ts importing this module leaves them out of an operator's memory (the worker loads
 * them in its own thread, and only when the console is enabled).
 */
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';

export interface RunningConsole {
  readonly port: number;
  close(): Promise<void>;
}

/** What the worker is started with (structured-cloned). */
export interface ConsoleWorkerData {
  readonly config: Pick<Config, 'console' | 'tls' | 'logLevel' | 'logFormat'>;
  readonly kubeconfig?: string;
}

/** Runs the console in a worker thread (worker.ts); resolves once it listens, rejects if it cannot start. */
export async function startConsoleWorker(data: ConsoleWorkerData): Promise<RunningConsole> {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the console worker exited with ${code} before listening`)));
    worker.once('message', (m: { port?: number; error?: string }) => (m.port !== undefined ? resolve(m.port) : reject(new Error(m.error ?? 'console worker failed'))));
  });
  worker.removeAllListeners('exit');
  worker.removeAllListeners('error');
  return {
    port,
    close: async () => {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('stop');
      await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 5_000).unref())]);
      await worker.terminate();
    },
  };
}
