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
 * Measured with `node dist/bench/operator.bench.js` (bench/RESULTS.md, issue 15), distinct
 * alerts at ≈ 6.5 k/s, the two runs one after the other: RSS peak 117–122 MiB with these flags
 * against 151–202 MiB without, CPU per alert 149–158 µs against 143–169 µs.
 */
export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=4', '--heap-growing-percent=50']);

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
