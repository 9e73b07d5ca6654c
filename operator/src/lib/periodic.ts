/**
 * A task run every `intervalMs` until stopped. The timer never keeps the process alive
 * (unref), `start` replaces a running timer, and a run's rejection goes to `onError`
 * instead of becoming an unhandled rejection.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly task: () => unknown,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      try {
        const r = this.task();
        if (r instanceof Promise) r.catch(this.onError);
      } catch (err) {
        this.onError(err);
      }
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }
}
