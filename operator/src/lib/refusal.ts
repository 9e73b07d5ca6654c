/** Why an alert cannot be taken now, and when to try again: the webhook answers 503 with Retry-After. */
export interface Refusal {
  readonly reason: string;
  readonly retryAfterSeconds: number;
}
