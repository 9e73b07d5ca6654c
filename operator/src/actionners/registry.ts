/**
 * The registry of actionners: lookup by name and parameter validation. Each actionner's
 * parameter schema is compiled once, at construction; validated parameters come back with
 * defaults applied and deep-frozen, ready to reach `run` unchanged for every event.
 */
import type { TSchema } from '@sinclair/typebox';
import type { ValidateFunction } from 'ajv';
import { deepFreeze } from '../lib/freeze.js';
import { createAjv, schemaErrors, suggestQualified, type FieldError } from '../api/v1alpha1/validation.js';
import type { ExpiryHandler } from './expiry.js';
import type { Actionner, ActionnerInitDeps } from './types.js';
import { silentLog } from '../lib/log.js';

/** The outcome of making actionners ready: the first one whose `init` failed, if any. */
export type InitResult = { ok: true } | { ok: false; actionner: string; message: string };

/** The config section of an actionner: its category (`aws` for `aws:lambda`). */
export const configSectionOf = (name: string): string => name.slice(0, name.indexOf(':'));

export type Params = Readonly<Record<string, unknown>>;

export type ParamsResult = { ok: true; params: Params } | { ok: false; errors: FieldError[] };


interface Entry {
  readonly actionner: Actionner;
  readonly validate: ValidateFunction;
}

export class ActionnerRegistry {
  private readonly entries: ReadonlyMap<string, Entry>;
  private readonly sections = new Map<string, TSchema>();
  private readonly validateSection = new Map<string, ValidateFunction>();
  private settings: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {};
  private initDeps: ActionnerInitDeps = { log: silentLog };
  /** name → the pending or settled init; a failed one is removed so the next call retries. */
  private readonly inits = new Map<string, Promise<unknown>>();
  private readonly states = new Map<string, unknown>();

  /**
   * Throws when two actionners share a name, a name is not `category:name`, a parameter
   * schema is not a closed object (`type: object`, `additionalProperties: false`), or two
   * actionners of one category declare different config schemas.
   */
  constructor(list: readonly Actionner[]) {
    const ajv = createAjv({ useDefaults: true });
    const entries = new Map<string, Entry>();
    for (const a of list) {
      const name = a.info.name;
      if (!/^[a-z0-9]+:[a-z0-9]+$/.test(name)) throw new Error(`actionner name '${name}' is not category:name`);
      if (entries.has(name)) throw new Error(`actionner '${name}' is registered twice`);
      const s = a.paramsSchema as { type?: unknown; additionalProperties?: unknown };
      if (s.type !== 'object' || s.additionalProperties !== false) {
        throw new Error(`actionner '${name}': paramsSchema must be an object schema with additionalProperties: false`);
      }
      entries.set(name, { actionner: a, validate: ajv.compile(a.paramsSchema) });
      if (a.configSchema !== undefined) {
        const c = a.configSchema as { type?: unknown; additionalProperties?: unknown };
        if (c.type !== 'object' || c.additionalProperties !== false) throw new Error(`actionner '${name}': configSchema must be an object schema with additionalProperties: false`);
        const section = configSectionOf(name);
        const prev = this.sections.get(section);
        if (prev !== undefined && prev !== a.configSchema) throw new Error(`actionner '${name}': category '${section}' already has another configSchema`);
        if (prev === undefined) this.validateSection.set(section, ajv.compile(a.configSchema));
        this.sections.set(section, a.configSchema);
      }
    }
    this.entries = entries;
  }

  get(name: string): Actionner | undefined {
    return this.entries.get(name)?.actionner;
  }

  /** section (category) → config schema, for the config loader (`actionners.<section>`). */
  schemas(): ReadonlyMap<string, TSchema> {
    return new Map(this.sections);
  }

  /**
   * The operator config's `actionners` sections (validated, defaulted by the config loader)
   * and what `init` gets. Call once at start, before rules are loaded; inits are lazy.
   */
  configure(settings: Readonly<Record<string, Readonly<Record<string, unknown>>>>, deps: ActionnerInitDeps): void {
    this.settings = settings;
    this.initDeps = deps;
  }

  /**
   * Makes the named actionners ready: runs each one's `init` once (concurrent callers share
   * the run). Never throws: a failure is returned and forgotten, so the next call retries.
   */
  async initialize(names: Iterable<string>): Promise<InitResult> {
    for (const name of new Set(names)) {
      const a = this.entries.get(name)?.actionner;
      if (a?.init === undefined) continue;
      let pending = this.inits.get(name);
      if (pending === undefined) {
        const init = a.init.bind(a);
        const section = configSectionOf(name);
        pending = (async () => init(this.sectionSettings(section), this.initDeps))();
        this.inits.set(name, pending);
        pending.then(
          (state) => this.states.set(name, state),
          () => this.inits.delete(name),
        );
      }
      try {
        this.states.set(name, await pending);
      } catch (err) {
        return { ok: false, actionner: name, message: err instanceof Error ? err.message : String(err) };
      }
    }
    return { ok: true };
  }

  /**
   * The settings of config section `section`, validated with defaults applied (the config
   * loader already did so at start; this covers callers without a loaded config). Throws a
   * message naming the bad field.
   */
  private sectionSettings(section: string): Readonly<Record<string, unknown>> {
    const copy = structuredClone(this.settings[section] ?? {}) as Record<string, unknown>;
    const validate = this.validateSection.get(section);
    if (validate !== undefined && !validate(copy)) {
      throw new Error(schemaErrors(validate.errors, `actionners.${section}`, 'field').map((e) => `${e.path}: ${e.message}`).join('; '));
    }
    return deepFreeze(copy);
  }

  /** What the named actionner's `init` returned; undefined before it succeeded or without one. */
  stateOf(name: string): unknown {
    return this.states.get(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** The expiry handlers the registered actionners declare, one per kind. */
  expiryHandlers(): ExpiryHandler[] {
    const byKind = new Map<string, ExpiryHandler>();
    for (const { actionner } of this.entries.values()) if (actionner.expiry) byKind.set(actionner.expiry.kind, actionner.expiry);
    return [...byKind.values()];
  }

  /**
   * The closest registered name to an unknown one, for "did you mean" hints: within the same
   * category when the category exists (so `kubernetes:lable` → `kubernetes:label`), else by
   * the whole name (`kubernets:label` → `kubernetes:label`).
   */
  suggest(name: string): string | undefined {
    return suggestQualified(name, this.names());
  }

  /**
   * Validates `params` (undefined = {}) for actionner `name`; `path` is where the parameters
   * sit (e.g. `spec.actions[1].parameters`) and prefixes every error path. On success the
   * parameters are a defaulted, deep-frozen copy; the input is never modified.
   * Messages name the parameter: "unknown parameter 'grace_period_seconds' (did you mean
   * 'gracePeriodSeconds'?)", "missing required parameter 'labels'", "parameter 'level' must be
   * one of: pod, node".
   */
  validateParams(name: string, params: unknown, path: string): ParamsResult {
    const entry = this.entries.get(name);
    if (!entry) {
      const s = this.suggest(name);
      return {
        ok: false,
        errors: [{ path, message: `unknown actionner '${name}'${s ? ` (did you mean '${s}'?)` : ''}` }],
      };
    }
    const copy: unknown = params === undefined ? {} : structuredClone(params);
    if (!entry.validate(copy)) return { ok: false, errors: schemaErrors(entry.validate.errors, path, 'parameter') };
    return { ok: true, params: deepFreeze(copy as Params) };
  }
}
