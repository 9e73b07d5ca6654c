/**
 * Loading heavy packages on first use instead of at start-up.
 *
 * Why: the cloud SDKs, nodemailer and OpenTelemetry cost an idle operator tens of MiB of heap
 * (and about twice that at peak, since V8 grows the heap in proportion to what is live) when
 * the default config uses none of them. Modules that need one keep `import type` for its types
 * (erased at runtime) and load the package through `firstUse(pkg, () => import(pkg))` at the
 * first point that only runs when the feature is configured or used.
 *
 * `operator/src/main.test.ts` checks that importing main.js loads none of them.
 */

/**
 * `make()` run on the first call, its promise shared by every caller until it settles. A
 * rejected attempt is not kept: the next call tries again (a transient failure, e.g. a file
 * the SDK reads at construction, does not stick forever).
 */
export function memoAsync<T>(make: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (pending === undefined) {
      const p = make();
      pending = p;
      p.catch(() => {
        if (pending === p) pending = undefined;
      });
    }
    return pending;
  };
}

/**
 * A package loaded on first call (`load` is the `import(...)`; a literal specifier there keeps
 * bundlers and the type checker seeing it). A failed load rejects with `cannot load <pkg>: …`,
 * the original error as `cause`, so the action, output or notification it was for fails with
 * a message that says what is missing.
 */
export function firstUse<T>(pkg: string, load: () => Promise<T>): () => Promise<T> {
  return memoAsync(async () => {
    try {
      return await load();
    } catch (err) {
      throw new Error(`cannot load ${pkg}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
}
