/**
 * The open-loop pacing the latency and floor benches share (no side effects on import, so the
 * patch-floor child process can use it without loading the benches).
 */
import { performance } from 'node:perf_hooks';

/**
 * Calls `send(i)` for i = 0 … total−1, each at its due time `i × 1000 / rate` ms after the
 * start (open loop: a slow answer does not delay the next send), then waits for every answer.
 * `send` settles its own failures; a rejection rejects the whole run.
 */
export async function openLoop(rate: number, total: number, send: (i: number) => Promise<unknown>): Promise<void> {
  const inflight = new Set<Promise<unknown>>();
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const p = send(i).finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
}
