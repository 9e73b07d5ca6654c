/**
 * The registry of actionners: lookup by name and parameter validation. Each actionner's
 * parameter schema is compiled once, at construction; validated parameters come back with
 * defaults applied and deep-frozen, ready to reach `run` unchanged for every event.
 */
import type { ValidateFunction } from 'ajv';
import { deepFreeze } from '../lib/freeze.js';
import { createAjv, schemaErrors, suggestQualified, type FieldError } from '../api/v1alpha1/validation.js';
import type { ExpiryHandler } from './expiry.js';
import type { Actionner } from './types.js';

export type Params = Readonly<Record<string, unknown>>;

export type ParamsResult = { ok: true; params: Params } | { ok: false; errors: FieldError[] };


interface Entry {
  readonly actionner: Actionner;
  readonly validate: ValidateFunction;
}

export class ActionnerRegistry {
  private readonly entries: ReadonlyMap<string, Entry>;

  /**
   * Throws when two actionners share a name, a name is not `category:name`, or a parameter
   * schema is not a closed object (`type: object`, `additionalProperties: false`).
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
    }
    this.entries = entries;
  }

  get(name: string): Actionner | undefined {
    return this.entries.get(name)?.actionner;
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
