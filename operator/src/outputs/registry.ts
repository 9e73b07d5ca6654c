/**
 * The registry of outputs: lookup by name and validation of an action's output parameters
 * (for the compiler), the settings schemas (for the config loader), and `open`, which starts
 * the outputs with their settings and returns the ArtifactStore the dispatcher hands
 * artifacts to. Each parameter schema is compiled once, at construction.
 */
import type { TSchema } from '@sinclair/typebox';
import type { ValidateFunction } from 'ajv';
import { deepFreeze } from '../lib/freeze.js';
import { discardArtifact } from '../lib/artifact.js';
import { createAjv, schemaErrors, suggestQualified, type FieldError } from '../api/v1alpha1/validation.js';
import type { ArtifactStore, Output, OutputDeps, OutputParams } from './types.js';

export type OutputParamsResult = { ok: true; params: OutputParams } | { ok: false; errors: FieldError[] };

interface Entry {
  readonly output: Output;
  readonly validate: ValidateFunction;
  readonly validateConfig: ValidateFunction;
}

const isClosedObject = (schema: TSchema): boolean => {
  const s = schema as { type?: unknown; additionalProperties?: unknown };
  return s.type === 'object' && s.additionalProperties === false;
};

export class OutputRegistry {
  private readonly entries: ReadonlyMap<string, Entry>;

  /** Throws when two outputs share a name, a name is not `category:name`, or a schema is not a closed object. */
  constructor(list: readonly Output[]) {
    const ajv = createAjv({ useDefaults: true });
    const entries = new Map<string, Entry>();
    for (const o of list) {
      if (!/^[a-z0-9]+:[a-z0-9]+$/.test(o.name)) throw new Error(`output name '${o.name}' is not category:name`);
      if (entries.has(o.name)) throw new Error(`output '${o.name}' is registered twice`);
      if (!isClosedObject(o.paramsSchema)) throw new Error(`output '${o.name}': paramsSchema must be an object schema with additionalProperties: false`);
      if (!isClosedObject(o.configSchema)) throw new Error(`output '${o.name}': configSchema must be an object schema with additionalProperties: false`);
      entries.set(o.name, { output: o, validate: ajv.compile(o.paramsSchema), validateConfig: ajv.compile(o.configSchema) });
    }
    this.entries = entries;
  }

  get(name: string): Output | undefined {
    return this.entries.get(name)?.output;
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** The closest registered name to an unknown one, for "did you mean" hints. */
  suggest(name: string): string | undefined {
    return suggestQualified(name, this.names());
  }

  /** name → configSchema, for the config loader (which may not import this room). */
  schemas(): ReadonlyMap<string, TSchema> {
    return new Map([...this.entries].map(([n, e]) => [n, e.output.configSchema]));
  }

  /**
   * Validates an action's output parameters (undefined = {}) for output `name`; `path` is
   * where they sit (e.g. `spec.actions[1].output.parameters`). On success: a defaulted,
   * deep-frozen copy. Unknown output: one error with a "did you mean" hint and the known names.
   */
  validateParams(name: string, params: unknown, path: string): OutputParamsResult {
    const entry = this.entries.get(name);
    if (!entry) {
      const s = this.suggest(name);
      return { ok: false, errors: [{ path, message: `unknown output '${name}'${s ? ` (did you mean '${s}'?)` : ''}; known: ${this.names().join(', ')}` }] };
    }
    const copy: unknown = params === undefined ? {} : structuredClone(params);
    if (!entry.validate(copy)) return { ok: false, errors: schemaErrors(entry.validate.errors, path, 'parameter') };
    return { ok: true, params: deepFreeze(copy as OutputParams) };
  }

  /**
   * Starts every output with its settings (`Config.outputs`; missing = `{}`; validated again
   * here, defaults applied) and returns the store the dispatcher uses. Rejects, naming the
   * output, when its settings are invalid or its `init` throws.
   */
  async open(configs: Readonly<Record<string, Readonly<Record<string, unknown>>>>, deps: OutputDeps): Promise<ArtifactStore> {
    const started = new Map<string, { output: Output; config: Readonly<Record<string, unknown>>; state: unknown }>();
    for (const [name, { output, validateConfig }] of this.entries) {
      const config: Record<string, unknown> = structuredClone(configs[name] ?? {});
      if (!validateConfig(config)) {
        const problems = schemaErrors(validateConfig.errors, `outputs.${name}`, 'field').map((e) => `${e.path}: ${e.message}`);
        throw new Error(`invalid output settings: ${problems.join('; ')}`);
      }
      deepFreeze(config);
      let state: unknown;
      try {
        state = output.init ? await output.init(config, deps) : undefined;
      } catch (err) {
        throw new Error(`outputs.${name}: could not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      started.set(name, { output, config, state });
    }
    return {
      async store(ref, artifact, ctx) {
        try {
          const s = started.get(ref.target);
          if (s === undefined) throw new Error(`unknown output '${ref.target}'`);
          return await s.output.store(artifact, { ...ctx, params: ref.parameters, config: s.config, state: s.state });
        } finally {
          discardArtifact(artifact);
        }
      },
    };
  }
}
