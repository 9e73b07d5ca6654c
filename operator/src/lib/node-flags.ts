/**
 * The V8 flags the image runs the operator with (the Dockerfile's ENTRYPOINT; node-flags.test.ts
 * keeps the two the same, and the benches and the e2e tier run the operator with them too).
 *
 * - `--max-semi-space-size=4`: a young generation of 2 × 4 MiB instead of V8's 2 × 16 MiB,
 *   which a busy webhook fills for good; short-lived request garbage still dies there.
 * - `--heap-growing-percent=50`: the old generation may grow to 1.5 × what was live after the
 *   last full GC before the next one starts, instead of V8's factor of up to 4 (Go's GOGC=50,
 *   where V8 behaves like GOGC=300). The operator's live heap is small (≈ 25–45 MiB), so
 *   those full GCs are short.
 *
 *   Measured with `node dist/bench/operator.bench.js` (bench/RESULTS.md, issue 15), distinct
 *   alerts at ≈ 6.5 k/s, the two runs one after the other: RSS peak 117–122 MiB with these two
 *   flags against 151–202 MiB without, CPU per alert 149–158 µs against 143–169 µs.
 * - `--no-memory-reducer`: V8's memory reducer starts full GCs a few seconds into any quiet
 *   spell, and those threw away the optimised code of the hot path: `--log-deopt` counted
 *   121–125 deopts for "weak objects" (optimised code whose embedded objects died in a GC) in
 *   the seconds after the label warm-up ended, the dispatcher, the webhook, the parser and the
 *   matcher among them; none without the reducer. The next alerts then run in V8's lower tiers
 *   and tier up again slowly at a moderate rate: at 100 label actions/s after a quiet 30 s the
 *   operator took 1.57–1.94 ms of CPU per effect with the reducer and 1.30–1.37 ms without
 *   (bench/RESULTS.md §8). Giving the heap back after a burst is `lib/idle-compaction.ts`'s
 *   job (two full GCs once per burst of ≥ 32 MiB); the storm bench holds it to ≤ 50 MB.
 */
export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=4', '--heap-growing-percent=50', '--no-memory-reducer']);

/**
 * The environment the image runs the operator with besides (the Dockerfile's `ENV`; the test
 * keeps them the same, and the e2e tier and the benches set it too).
 *
 * - `MALLOC_ARENA_MAX=2`: glibc's malloc keeps at most two arenas instead of up to 8 per core,
 *   one per thread that allocates (libuv's pool, V8's GC helpers); each keeps freed memory of
 *   its own. Measured with `node dist/bench/operator.bench.js` (bench/RESULTS.md §7, issue 15),
 *   distinct alerts at ≈ 16 k/s, runs interleaved: RSS peak 133–139 MiB (VmHWM 139–140)
 *   against 138–146 (VmHWM 144–150), CPU per alert the same (59–71 against 61–65 µs).
 */
export const NODE_PROCESS_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_ARENA_MAX: '2' });
