/**
 * The registry of notifier types, and the start-up step that turns the configured instances
 * (`Config.notifiers`, already validated against each type's `configSchema` by the config
 * loader) into delivery endpoints for the router.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Outcome, OutcomeResult } from '../api/v1alpha1/outcome.js';
import type { Notifier, NotifierConfig, NotifierDeps, NotifyContext } from './types.js';

/** One configured instance as the config loader resolves it (`Config.notifiers[name]`). */
export interface NotifierInstanceSettings {
  readonly type: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly queueSize: number;
  readonly concurrency: number;
  /** Filter: only outcomes with these results are sent; absent = every result. */
  readonly results?: readonly OutcomeResult[];
  /** Filter: false = DryRun outcomes are not sent; absent = they are. */
  readonly dryRun?: boolean;
  /** The type's own settings: validated, defaulted, frozen. */
  readonly config: NotifierConfig;
}

/**
 * One call of an endpoint, as the router runs it: `signal` is aborted at the call's timeout or
 * when the router gives up at shutdown. It may be made only when first read, so a notifier that
 * never reads it (k8sevents hands its Events over and returns) costs no AbortSignal per outcome.
 */
export interface NotifierCall {
  readonly signal: AbortSignal;
}

/** A configured notifier instance ready to deliver: what the router drives. */
export interface NotifierEndpoint {
  /** The instance name (the metric label, what rules and `defaultNotifiers` name). */
  readonly name: string;
  readonly type: string;
  /** Per-call timeout in ms. */
  readonly timeoutMs: number;
  /** Retries after the first attempt. */
  readonly retries: number;
  /** Outcomes waiting at most; beyond, new ones are dropped for this instance. */
  readonly queueSize: number;
  /** Calls in flight at most. */
  readonly concurrency: number;
  /** Filter: only outcomes with these results are sent; absent = every result. */
  readonly results?: readonly OutcomeResult[];
  /** Filter: false = DryRun outcomes are not sent; absent = they are. */
  readonly dryRun?: boolean;
  send(outcome: Outcome, call: NotifierCall): Promise<void>;
  /** Set when the type has `notifyNow`: the router delivers through it, in the caller's turn. */
  readonly sendNow?: (outcome: Outcome) => void;
}

/** The signal of a `notifyNow` call: it is never aborted (the call does not wait on anything). */
const NEVER_ABORTED = new AbortController().signal;

/** The NotifyContext of one call: its signal read from the call only when the notifier reads it. */
class CallContext implements NotifyContext {
  constructor(
    private readonly call: NotifierCall,
    readonly instance: string,
    readonly config: NotifierConfig,
    readonly state: unknown,
  ) {}

  get signal(): AbortSignal {
    return this.call.signal;
  }
}

export class NotifierRegistry {
  private readonly types: ReadonlyMap<string, Notifier>;

  /** Throws when two notifiers share a type, a type is not lower-case, or a config schema is not a closed object. */
  constructor(list: readonly Notifier[]) {
    const types = new Map<string, Notifier>();
    for (const n of list) {
      if (!/^[a-z][a-z0-9]*$/.test(n.type)) throw new Error(`notifier type '${n.type}' must be lower-case letters and digits`);
      if (types.has(n.type)) throw new Error(`notifier type '${n.type}' is registered twice`);
      const s = n.configSchema as { type?: unknown; additionalProperties?: unknown };
      if (s.type !== 'object' || s.additionalProperties !== false) {
        throw new Error(`notifier '${n.type}': configSchema must be an object schema with additionalProperties: false`);
      }
      types.set(n.type, n);
    }
    this.types = types;
  }

  get(type: string): Notifier | undefined {
    return this.types.get(type);
  }

  /** Registered types, sorted. */
  names(): string[] {
    return [...this.types.keys()].sort();
  }

  /** type → configSchema, for the config loader (which may not import this room). */
  schemas(): ReadonlyMap<string, TSchema> {
    return new Map([...this.types].map(([t, n]) => [t, n.configSchema]));
  }

  /**
   * Runs each instance's `init` and returns one endpoint per configured instance, in config
   * order. Rejects, naming the instance, when a type is unknown or an `init` throws.
   */
  async endpoints(instances: Readonly<Record<string, NotifierInstanceSettings>>, deps: NotifierDeps): Promise<NotifierEndpoint[]> {
    const out: NotifierEndpoint[] = [];
    for (const [name, inst] of Object.entries(instances)) {
      const n = this.types.get(inst.type);
      if (n === undefined) throw new Error(`notifiers.${name}: unknown notifier type '${inst.type}' (known: ${this.names().join(', ')})`);
      let state: unknown;
      try {
        state = n.init ? await n.init(inst.config, deps) : undefined;
      } catch (err) {
        throw new Error(`notifiers.${name}: the ${inst.type} notifier could not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      const config = inst.config;
      const notifyNow = n.notifyNow;
      const nowContext: NotifyContext = { signal: NEVER_ABORTED, instance: name, config, state };
      out.push({
        name,
        type: inst.type,
        timeoutMs: inst.timeoutMs,
        retries: inst.retries,
        queueSize: inst.queueSize,
        concurrency: inst.concurrency,
        ...(inst.results !== undefined ? { results: inst.results } : {}),
        ...(inst.dryRun !== undefined ? { dryRun: inst.dryRun } : {}),
        send: (outcome, call) => n.notify(outcome, new CallContext(call, name, config, state)),
        ...(notifyNow !== undefined ? { sendNow: (outcome: Outcome) => notifyNow.call(n, outcome, nowContext) } : {}),
      });
    }
    return out;
  }
}
