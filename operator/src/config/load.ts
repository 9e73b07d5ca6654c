/**
 * Loads the operator configuration: YAML file, then `TALON_*` environment overrides, then
 * schema validation with defaults, then the plug-ins' settings (notifier instances against
 * their type's schema, `defaultNotifiers`, outputs), then checks that need the file system. Every problem is
 * reported (all of them, each naming the key or variable); nothing throws.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parseDocument } from 'yaml';
import { deepFreeze } from '../lib/freeze.js';
import type { TSchema } from '@sinclair/typebox';
import type { Ajv } from 'ajv';
import { createAjv, joinPath, schemaErrors, suggest } from '../api/v1alpha1/validation.js';
import {
  CONFIG_KEYS,
  ConfigFileSchema,
  IMPLICIT_NOTIFIER,
  NOTIFIER_ROUTER_KEYS,
  NotifierInstanceSchema,
  REMOVED_KEYS,
  parseSize,
  type Config,
  type ConfigFile,
  type ConfigKey,
  type NotifierInstanceConfig,
} from './schema.js';
import { checkDuration, parseDuration } from '../lib/duration.js';

export type LoadResult = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly errors: readonly string[] };

/**
 * The settings schemas of the plug-ins the operator has (the config room may not import the
 * notifier and output rooms; main.ts hands their registries' schemas in).
 */
export interface PluginSchemas {
  /** Notifier type → its instances' configSchema. */
  readonly notifiers: ReadonlyMap<string, TSchema>;
  /** Output name (`category:name`) → its configSchema. */
  readonly outputs: ReadonlyMap<string, TSchema>;
  /** Actionner category (`aws`) → its configSchema (section `actionners.<category>`); absent = none. */
  readonly actionners?: ReadonlyMap<string, TSchema>;
}

export interface LoadOptions {
  /** Path of the YAML file; without it, only defaults and the environment apply. */
  readonly file?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Without it no notifier type or output is known: only the implicit `k8sevents` instance, unchecked. */
  readonly plugins?: PluginSchemas;
}

const MAX_BODY_LIMIT = 1024 ** 3;

/** Validates and resolves the configuration. `ok: false` carries every error found. */
export function loadConfig(options: LoadOptions): LoadResult {
  const errors: string[] = [];
  const raw = options.file === undefined ? {} : readYaml(options.file, errors);
  if (raw === undefined) return { ok: false, errors };
  if (removedKeys(raw, options.env, errors)) return { ok: false, errors };

  const fromEnv = applyEnv(raw, options.env, errors);
  const ajv = createAjv({ useDefaults: true });
  const validate = ajv.compile<ConfigFile>(ConfigFileSchema);
  const valid = validate(raw);
  if (!valid) {
    for (const e of schemaErrors(validate.errors, '', 'field')) {
      const variable = fromEnv.get(e.path);
      errors.push(`${e.path === '' ? 'config' : e.path}: ${friendly(e.path, e.message)}${variable === undefined ? '' : ` (from ${variable})`}`);
    }
  }
  // Checked even when the schema failed, so that one run reports every problem.
  const plugins = resolvePlugins(raw, options.plugins, ajv, fromEnv, errors);
  if (!valid) return { ok: false, errors };
  const config = resolve(raw, plugins, options.env, errors);
  checkFiles(config, errors);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: deepFreeze(config) };
}

/** Reports every removed key set in the file or the environment; true when one is. */
function removedKeys(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, errors: string[]): boolean {
  let found = false;
  for (const key of REMOVED_KEYS) {
    if (raw[key.path] !== undefined) {
      errors.push(`${key.path}: ${key.message}`);
      found = true;
    }
    const text = env[key.env];
    if (text !== undefined && text !== '') {
      errors.push(`${key.env} (${key.path}): ${key.message}`);
      found = true;
    }
  }
  return found;
}

const DURATION_KEYS: ReadonlySet<string> = new Set(['dedup.window', 'statusFlushInterval', 'revertSweepInterval', 'defaultActionTimeout', 'approvalRetention', 'journal.fsyncInterval', 'retry.horizon', 'retry.initialBackoff', 'retry.maxBackoff', 'shutdownGrace', 'webhook.idleTimeout', 'webhook.keepAliveTimeout']);

/** Schema messages reworded where ajv's would be cryptic (patterns, the required auth mode). */
function friendly(path: string, message: string): string {
  if (DURATION_KEYS.has(path) || (path.startsWith('notifiers') && path.endsWith('.timeout'))) return 'must be a duration such as 500ms, 10s, 5m or 1h30m';
  if (message.startsWith('must match pattern') && /^(protectedNamespaces|safety\.cloudNamespaces)/.test(path)) {
    return 'must be a namespace name (lower-case letters, digits and -, at most 63)';
  }
  if (path === 'auth' && message.includes("'mode'")) return `${message}: none, token or mtls (none must be chosen explicitly)`;
  return message;
}

function readYaml(file: string, errors: string[]): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    errors.push(`config file ${file}: ${(err as Error).message}`);
    return undefined;
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) errors.push(`config file ${file}: ${e.message}`);
    return undefined;
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    errors.push(`config file ${file}: must be a mapping of keys (listen, auth, …)`);
    return undefined;
  }
  return value as Record<string, unknown>;
}

function coerce(key: ConfigKey, text: string): { value: unknown } | { error: string } {
  switch (key.kind) {
    case 'string':
      return { value: text };
    case 'integer': {
      if (!/^-?\d+$/.test(text.trim())) return { error: `${key.env}: ${JSON.stringify(text)} is not an integer` };
      return { value: Number(text.trim()) };
    }
    case 'number': {
      const n = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(n)) return { error: `${key.env}: ${JSON.stringify(text)} is not a number` };
      return { value: n };
    }
    case 'boolean': {
      const t = text.trim().toLowerCase();
      if (['true', '1', 'yes'].includes(t)) return { value: true };
      if (['false', '0', 'no'].includes(t)) return { value: false };
      return { error: `${key.env}: ${JSON.stringify(text)} is not a boolean (true or false)` };
    }
    case 'list':
      return { value: text.split(',').map((s) => s.trim()).filter((s) => s !== '') };
    case 'size':
      return { value: /^\d+$/.test(text.trim()) ? Number(text.trim()) : text };
  }
}

/** Writes each set TALON_* variable into `raw`; returns path → variable for error messages. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, errors: string[]): Map<string, string> {
  const applied = new Map<string, string>();
  for (const key of CONFIG_KEYS) {
    const text = env[key.env];
    if (text === undefined || text === '') continue;
    const r = coerce(key, text);
    if ('error' in r) {
      errors.push(r.error);
      continue;
    }
    const segments = key.path.split('.');
    let node: Record<string, unknown> = raw;
    for (const s of segments.slice(0, -1)) {
      const next = node[s];
      if (next === undefined || next === null) node[s] = {};
      else if (typeof next !== 'object' || Array.isArray(next)) {
        errors.push(`${key.env}: cannot override ${key.path}: ${s} in the config file is not a mapping`);
        node = {};
        break;
      }
      node = node[s] as Record<string, unknown>;
    }
    node[segments[segments.length - 1]!] = r.value;
    applied.set(key.path, key.env);
  }
  return applied;
}

function duration(path: string, text: string, errors: string[]): number {
  const c = checkDuration(text);
  if (!c.ok) errors.push(`${path}: ${c.error}`);
  return c.ok ? c.ms : 0;
}

interface ResolvedPlugins {
  readonly defaultNotifiers: readonly string[];
  readonly notifiers: Record<string, NotifierInstanceConfig>;
  readonly outputs: Record<string, Readonly<Record<string, unknown>>>;
  readonly actionners: Record<string, Readonly<Record<string, unknown>>>;
}

const INSTANCE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const known = (names: Iterable<string>): string => [...names].sort().join(', ') || 'none';
const didYouMean = (word: string, candidates: Iterable<string>): string => {
  const s = suggest(word, [...candidates]);
  return s === undefined ? '' : ` (did you mean '${s}'?)`;
};

/** Validates `settings` against `schema` (defaults applied to a copy); errors rooted at `path`. */
function settingsOf(ajv: Ajv, schema: TSchema, settings: Record<string, unknown>, path: string, errors: string[]): Record<string, unknown> {
  const copy = structuredClone(settings);
  const validate = ajv.compile(schema);
  if (!validate(copy)) for (const e of schemaErrors(validate.errors, path, 'field')) errors.push(`${e.path}: ${e.message}`);
  return copy;
}

/**
 * Notifier instances, default notifiers and output settings, checked against the plug-ins'
 * schemas. Tolerant of a file that failed the schema (it only looks at what is well formed).
 */
function resolvePlugins(raw: Record<string, unknown>, plugins: PluginSchemas | undefined, ajv: Ajv, fromEnv: Map<string, string>, errors: string[]): ResolvedPlugins {
  const notifierTypes = plugins?.notifiers ?? new Map<string, TSchema>();
  const outputSchemas = plugins?.outputs ?? new Map<string, TSchema>();
  const notifiers: Record<string, NotifierInstanceConfig> = {};
  const declared = isMapping(raw.notifiers) ? raw.notifiers : {};
  const instances = Object.entries(declared);
  if (!(IMPLICIT_NOTIFIER in declared)) {
    const implicit: Record<string, unknown> = { type: IMPLICIT_NOTIFIER };
    ajv.compile(NotifierInstanceSchema)(implicit); // the router keys' defaults
    instances.push([IMPLICIT_NOTIFIER, implicit]);
  }
  for (const [name, inst] of instances) {
    const path = joinPath('notifiers', name);
    const implicit = !(name in declared);
    if (!INSTANCE_NAME.test(name) || name.length > 63) errors.push(`${path}: an instance name must be lower-case letters, digits and '-' (at most 63), as rules name it`);
    if (!isMapping(inst) || typeof inst.type !== 'string') continue; // reported by the schema
    const schema = notifierTypes.get(inst.type);
    if (schema === undefined && !implicit) {
      errors.push(`${path}.type: unknown notifier type '${inst.type}'${didYouMean(inst.type, notifierTypes.keys())}; known: ${known(notifierTypes.keys())}`);
      continue;
    }
    const own = Object.fromEntries(Object.entries(inst).filter(([k]) => !NOTIFIER_ROUTER_KEYS.includes(k)));
    // The implicit instance without plug-in schemas (tests, tools) stays unchecked.
    const config = schema === undefined ? own : settingsOf(ajv, schema, own, path, errors);
    const timeoutMs = typeof inst.timeout === 'string' ? parseDuration(inst.timeout) : undefined;
    if (timeoutMs === 0) errors.push(`${path}.timeout: must be longer than 0s`);
    notifiers[name] = {
      type: inst.type,
      timeoutMs: timeoutMs ?? 0,
      retries: typeof inst.retries === 'number' ? inst.retries : 0,
      queueSize: typeof inst.queueSize === 'number' ? inst.queueSize : 0,
      concurrency: typeof inst.concurrency === 'number' ? inst.concurrency : 0,
      ...(Array.isArray(inst.results) ? { results: inst.results as NonNullable<NotifierInstanceConfig['results']> } : {}),
      ...(typeof inst.dryRun === 'boolean' ? { dryRun: inst.dryRun } : {}),
      config,
    };
  }

  const defaults: string[] = [];
  const names = new Set([...Object.keys(declared), IMPLICIT_NOTIFIER]);
  if (Array.isArray(raw.defaultNotifiers)) {
    const variable = fromEnv.get('defaultNotifiers');
    raw.defaultNotifiers.forEach((d: unknown, i) => {
      if (typeof d !== 'string') return; // reported by the schema
      if (!names.has(d)) {
        errors.push(`defaultNotifiers[${i}]: unknown notifier '${d}'${didYouMean(d, names)}; configured: ${known(names)}${variable === undefined ? '' : ` (from ${variable})`}`);
      } else if (!defaults.includes(d)) defaults.push(d);
    });
  }

  const outputs: Record<string, Readonly<Record<string, unknown>>> = {};
  const given = isMapping(raw.outputs) ? raw.outputs : {};
  for (const [name, settings] of Object.entries(given)) {
    if (!outputSchemas.has(name)) errors.push(`${joinPath('outputs', name)}: unknown output '${name}'${didYouMean(name, outputSchemas.keys())}; known: ${known(outputSchemas.keys())}`);
    else if (!isMapping(settings)) errors.push(`${joinPath('outputs', name)}: must be a mapping of settings`);
  }
  for (const [name, schema] of outputSchemas) {
    const settings = given[name];
    outputs[name] = settingsOf(ajv, schema, isMapping(settings) ? settings : {}, joinPath('outputs', name), errors);
  }
  const actionnerSchemas = plugins?.actionners ?? new Map<string, TSchema>();
  const actionners: Record<string, Readonly<Record<string, unknown>>> = {};
  const sections = isMapping(raw.actionners) ? raw.actionners : {};
  for (const [name, settings] of Object.entries(sections)) {
    if (!actionnerSchemas.has(name)) errors.push(`${joinPath('actionners', name)}: no actionner category '${name}' takes settings${didYouMean(name, actionnerSchemas.keys())}; known: ${known(actionnerSchemas.keys())}`);
    else if (!isMapping(settings)) errors.push(`${joinPath('actionners', name)}: must be a mapping of settings`);
  }
  for (const [name, schema] of actionnerSchemas) {
    const settings = sections[name];
    actionners[name] = settingsOf(ajv, schema, isMapping(settings) ? settings : {}, joinPath('actionners', name), errors);
  }
  return { defaultNotifiers: defaults, notifiers, outputs, actionners };
}

function resolve(file: ConfigFile, plugins: ResolvedPlugins, env: NodeJS.ProcessEnv, errors: string[]): Config {
  const podNamespace = env.POD_NAMESPACE === undefined || env.POD_NAMESPACE === '' ? undefined : env.POD_NAMESPACE;
  const protectedNamespaces = [...new Set([...file.protectedNamespaces, ...(podNamespace ? [podNamespace] : [])])];

  const bodyLimitBytes = parseSize(file.bodyLimit);
  if (bodyLimitBytes === undefined || bodyLimitBytes < 1 || bodyLimitBytes > MAX_BODY_LIMIT) {
    errors.push(`bodyLimit: ${JSON.stringify(file.bodyLimit)} is not a size between 1 byte and 1GiB (e.g. 512KiB, 1MiB, 1048576)`);
  }

  const byteBudget = (path: string, value: number | string): number => {
    const n = parseSize(value);
    if (n === undefined || n < 1) errors.push(`${path}: ${JSON.stringify(value)} is not a size of at least 1 byte (e.g. 16MiB, 64MiB, 1048576)`);
    return n ?? 0;
  };
  const maxBytes = byteBudget('queue.maxBytes', file.queue.maxBytes);
  const maxHeldBytes = byteBudget('queue.maxHeldBytes', file.queue.maxHeldBytes);
  if (bodyLimitBytes !== undefined && maxHeldBytes > 0 && maxHeldBytes < bodyLimitBytes) {
    errors.push(`queue.maxHeldBytes: ${maxHeldBytes} bytes is less than bodyLimit (${bodyLimitBytes} bytes): an alert of the largest accepted size could never be admitted`);
  }
  const retry = {
    horizonMs: duration('retry.horizon', file.retry.horizon, errors),
    initialBackoffMs: duration('retry.initialBackoff', file.retry.initialBackoff, errors),
    maxBackoffMs: duration('retry.maxBackoff', file.retry.maxBackoff, errors),
  };
  if (retry.initialBackoffMs < 1) errors.push('retry.initialBackoff: must be at least 1ms');
  if (retry.maxBackoffMs < retry.initialBackoffMs) errors.push('retry.maxBackoff: must be at least retry.initialBackoff');

  const mode = file.auth.mode;
  if (mode === 'token' && file.auth.tokenFile === undefined) errors.push('auth.tokenFile: required when auth.mode is token');
  const tlsFile = file.tls ?? {};
  if ((tlsFile.certFile === undefined) !== (tlsFile.keyFile === undefined)) {
    errors.push('tls: certFile and keyFile must be set together');
  }
  if (mode === 'mtls') {
    for (const k of ['certFile', 'keyFile', 'clientCAFile'] as const) {
      if (tlsFile[k] === undefined) errors.push(`tls.${k}: required when auth.mode is mtls`);
    }
  } else if (tlsFile.clientCAFile !== undefined) {
    errors.push(`tls.clientCAFile: client certificates are only checked when auth.mode is mtls (auth.mode is ${mode})`);
  }
  if (file.metrics.port !== 0 && file.metrics.port === file.listen.port) {
    errors.push('metrics.port: must differ from listen.port (0 serves /metrics on the webhook port)');
  }
  if (file.console.enabled && file.console.port !== 0 && (file.console.port === file.listen.port || file.console.port === file.metrics.port)) {
    errors.push('console.port: must differ from listen.port and metrics.port (the console has its own management port)');
  }

  const tls =
    tlsFile.certFile !== undefined && tlsFile.keyFile !== undefined
      ? {
          certFile: tlsFile.certFile,
          keyFile: tlsFile.keyFile,
          ...(tlsFile.clientCAFile === undefined ? {} : { clientCAFile: tlsFile.clientCAFile }),
        }
      : undefined;

  return {
    listen: { address: file.listen.address, port: file.listen.port },
    auth: { mode, ...(file.auth.tokenFile === undefined ? {} : { tokenFile: file.auth.tokenFile }) },
    ...(tls === undefined ? {} : { tls }),
    metrics: { port: file.metrics.port },
    protectedNamespaces,
    bodyLimitBytes: bodyLimitBytes ?? 0,
    dedup: { windowMs: duration('dedup.window', file.dedup.window, errors) },
    webhook: {
      maxConnections: file.webhook.maxConnections,
      idleTimeoutMs: duration('webhook.idleTimeout', file.webhook.idleTimeout, errors),
      keepAliveTimeoutMs: duration('webhook.keepAliveTimeout', file.webhook.keepAliveTimeout, errors),
      perClientRequestsPerSecond: file.webhook.perClientRequestsPerSecond,
      perClientBurst: file.webhook.perClientBurst,
    },
    events: {
      perNamespacePerMinute: file.events.perNamespacePerMinute,
      clusterPerMinute: file.events.clusterPerMinute,
      updatesPerSecond: file.events.updatesPerSecond,
      maxInFlight: file.events.maxInFlight,
    },
    queue: { concurrency: file.queue.concurrency, maxPending: file.queue.maxPending, maxBytes, maxHeldBytes },
    journal: { enabled: file.journal.enabled, dir: file.journal.dir, fsync: file.journal.fsync, fsyncIntervalMs: duration('journal.fsyncInterval', file.journal.fsyncInterval, errors) },
    retry,
    shutdownGraceMs: duration('shutdownGrace', file.shutdownGrace, errors),
    safety: {
      destructiveActionsPerMinute: file.safety.destructiveActionsPerMinute,
      dryRun: file.safety.dryRun,
      cloudNamespaces: file.safety.cloudNamespaces,
    },
    coordination: coordinationOf(file, podNamespace, errors),
    defaultNotifiers: plugins.defaultNotifiers,
    notifiers: plugins.notifiers,
    outputs: plugins.outputs,
    actionners: plugins.actionners,
    logLevel: file.logLevel,
    logFormat: file.logFormat,
    logOutcomesPerSecond: file.logOutcomesPerSecond,
    statusFlushIntervalMs: duration('statusFlushInterval', file.statusFlushInterval, errors),
    revertSweepIntervalMs: duration('revertSweepInterval', file.revertSweepInterval, errors),
    contexts: { imdsEndpoint: file.contexts.imdsEndpoint, cacheTtlMs: duration('contexts.cacheTtl', file.contexts.cacheTtl, errors) },
    defaultActionTimeoutMs: duration('defaultActionTimeout', file.defaultActionTimeout, errors),
    approvalNamespace: file.approvalNamespace ?? podNamespace ?? 'talon-system',
    approvalRetentionMs: duration('approvalRetention', file.approvalRetention, errors),
    console: {
      enabled: file.console.enabled,
      address: file.console.address,
      port: file.console.port,
      sessionTtlMs: duration('console.sessionTtl', file.console.sessionTtl, errors),
      accessCacheTtlMs: duration('console.accessCacheTtl', file.console.accessCacheTtl, errors),
    },
    tracing: { ...file.tracing },
  };
}

function coordinationOf(file: ConfigFile, podNamespace: string | undefined, errors: string[]): Config['coordination'] {
  const c = file.coordination;
  const namespace = c.namespace !== '' ? c.namespace : (podNamespace ?? '');
  if (c.enabled && namespace === '') errors.push('coordination.namespace: required when coordination.enabled is true and $POD_NAMESPACE is unset');
  const leaseMs = duration('coordination.lease', c.lease, errors);
  if (leaseMs < 1000) errors.push(`coordination.lease: must be at least 1s, got ${c.lease}`);
  return {
    enabled: c.enabled,
    namespace,
    leaseMs,
    claimWindowMs: duration('coordination.claimWindow', c.claimWindow, errors),
    sweepIntervalMs: Math.max(1000, duration('coordination.sweepInterval', c.sweepInterval, errors)),
  };
}

function readable(path: string, label: string, errors: string[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    errors.push(`${label}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return undefined;
  }
}

/** The token, the certificates and the key must be readable and usable before anything starts. */
function checkFiles(config: Config, errors: string[]): void {
  if (config.auth.mode === 'token' && config.auth.tokenFile !== undefined) {
    const token = readable(config.auth.tokenFile, 'auth.tokenFile', errors);
    if (token !== undefined && token.trim() === '') errors.push(`auth.tokenFile: ${config.auth.tokenFile} is empty`);
  }
  if (config.tls !== undefined) {
    const cert = readable(config.tls.certFile, 'tls.certFile', errors);
    const key = readable(config.tls.keyFile, 'tls.keyFile', errors);
    const ca = config.tls.clientCAFile === undefined ? undefined : readable(config.tls.clientCAFile, 'tls.clientCAFile', errors);
    if (cert !== undefined && key !== undefined && (config.tls.clientCAFile === undefined || ca !== undefined)) {
      try {
        createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) });
      } catch (err) {
        errors.push(`tls: the certificate, key or client CA cannot be used: ${(err as Error).message}`);
      }
    }
  }
}

