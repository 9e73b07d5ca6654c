/**
 * What the dispatcher asks of cluster-wide coordination (DESIGN.md §9): one run of a rule with
 * destructive actions per (rule, target, window) across all replicas.
 */

export interface ClaimRequest {
  /** The rule's key (kind/namespace/name). */
  readonly ruleKey: string;
  /** The alert's main object (the work-queue key). */
  readonly targetKey: string;
  /** How long after it starts the claim keeps other runs of the same rule on the target away. */
  readonly windowMs: number;
  /** Aborts a wait for another replica's running claim (shutdown). */
  readonly signal?: AbortSignal;
}

/** A claim this replica holds: renewed until released. */
export interface HeldClaim {
  /** Marks the run done: other replicas now see it as finished, not as crashed. Never throws. */
  release(): Promise<void>;
  /** Gives the claim up unfinished (shutdown cut the run): deleted, so a waiting replica runs it at once. Never throws. */
  abandon(): Promise<void>;
}

export type ClaimOutcome =
  /** Run now. `tookOver`: a crashed replica's claim (lease expired while running) was taken over. */
  | { readonly kind: 'acquired'; readonly claim: HeldClaim; readonly tookOver: boolean }
  /** Another run (on this or another replica) has or had the claim within its window: do not run. */
  | { readonly kind: 'claimed'; readonly holder: string }
  /** The claim could not be decided (API failure, shutdown): nothing may run. */
  | { readonly kind: 'failed'; readonly message: string };

export interface ClaimPort {
  claim(req: ClaimRequest): Promise<ClaimOutcome>;
}
