/**
 * The output plug-in contract (STYLE.md "Contracts"): where an action's artifact (a capture,
 * a log, a file) is stored. An output is a stateless, self-describing object listed once in
 * `outputs/index.ts`; an action names it as `output: {target: <name>, parameters}`. The
 * compiler checks the target exists and validates the parameters (defaults applied, frozen);
 * the operator config's `outputs.<name>` holds the operator-side settings (a base directory,
 * an endpoint, credentials), validated against `configSchema` at start.
 */
import type { TSchema } from '@sinclair/typebox';
import type { ArtifactLocation, RuleRef } from '../api/v1alpha1/outcome.js';
import type { FalcoEvent } from '../falco/event.js';
import type { Artifact } from '../lib/artifact.js';
import type { LogPort } from '../lib/log.js';

export type { Artifact } from '../lib/artifact.js';
export type { ArtifactLocation } from '../api/v1alpha1/outcome.js';

/** What an output may use, injected by main.ts. */
export interface OutputDeps {
  readonly log: LogPort;
  /** Wall clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
}

export type OutputParams = Readonly<Record<string, unknown>>;

/** Where one artifact comes from and how to store it. */
export interface StoreContext<P = OutputParams, C = Readonly<Record<string, unknown>>, S = unknown> {
  /** The rule whose action produced the artifact; `namespace` '' for a cluster-scoped rule. */
  readonly rule: RuleRef;
  /** The action's name within the rule. */
  readonly action: string;
  readonly event: FalcoEvent;
  /** The action's output parameters: validated, defaulted, frozen. */
  readonly params: P;
  /** The action's deadline and the operator's shutdown. */
  readonly signal: AbortSignal;
  /** The operator config's `outputs.<name>`: validated, defaulted, frozen. */
  readonly config: C;
  /** What `init` returned (undefined without `init`). */
  readonly state: S;
}

export interface Output<P = OutputParams, C = Readonly<Record<string, unknown>>, S = unknown> {
  /** `category:name`, e.g. `local:file`, `aws:s3`. */
  readonly name: string;
  readonly description: string;
  /** TypeBox schema of an action's `output.parameters`: closed object, defaults declared, camelCase keys. */
  readonly paramsSchema: TSchema;
  /** TypeBox schema of the operator config's `outputs.<name>`: closed object, defaults declared. */
  readonly configSchema: TSchema;
  /** A valid parameters object; a unit test validates every example against paramsSchema. */
  readonly example: OutputParams;
  /** Optional, once at start: builds what `store` needs (clients). Throwing stops the start-up. */
  init?(config: C, deps: OutputDeps): S | Promise<S>;
  /**
   * Stores one artifact and says where. Reads the stream at most up to the cap (the
   * artifact's `maxBytes`, or the output's own limit if lower) and reports `truncated` when
   * there was more; never buffers the whole artifact. Honours `ctx.signal`. Rejects when the
   * artifact could not be stored, leaving nothing partial behind. Never writes outside what
   * its config allows, whatever the artifact's name or the parameters say.
   */
  store(artifact: Artifact, ctx: StoreContext<P, C, S>): Promise<ArtifactLocation>;
}

/** An action's output as compiled: the target and its validated parameters. */
export interface OutputRef {
  readonly target: string;
  readonly parameters: OutputParams;
}

/** What the dispatcher hands artifacts to (the started outputs). */
export interface ArtifactStore {
  /**
   * Stores `artifact` with `output.target`; rejects when the target is unknown or storing
   * failed. The artifact's stream is destroyed when this settles, whatever happened.
   */
  store(output: OutputRef, artifact: Artifact, ctx: Pick<StoreContext, 'rule' | 'action' | 'event' | 'signal'>): Promise<ArtifactLocation>;
}
