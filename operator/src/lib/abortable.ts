/**
 * `p`, or a rejection with the signal's reason as soon as `signal` aborts, whichever comes
 * first. The work behind `p` is not stopped (it should honour the signal itself); a caller
 * that must not wait for a run that ignores its signal uses this to walk away at the deadline.
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
