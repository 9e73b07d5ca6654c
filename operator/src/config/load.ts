/**
 * Loads the operator configuration: YAML file, then `TALON_*` environment overrides, then
 * schema validation with defaults, then checks that need the file system. Every problem is
 * reported (all of them, each naming the key or variable); nothing throws.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parseDocument } from 'yaml';
import { deepFreeze } from '../lib/freeze.js';
import { createAjv, schemaErrors } from '../api/v1alpha1/validation.js';
import { CONFIG_KEYS, ConfigFileSchema, REMOVED_KEYS, parseDuration, parseSize, type Config, type ConfigFile, type ConfigKey } from './schema.js';

export type LoadResult = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly errors: readonly string[] };

export interface LoadOptions {
  /** Path of the YAML file; without it, only defaults and the environment apply. */
  readonly file?: string;
  readonly env: NodeJS.ProcessEnv;
}

const MAX_BODY_LIMIT = 1024 ** 3;

/** Validates and resolves the configuration. `ok: false` carries every error found. */
export function loadConfig(options: LoadOptions): LoadResult {
  const errors: string[] = [];
  const raw = options.file === undefined ? {} : readYaml(options.file, errors);
  if (raw === undefined) return { ok: false, errors };
  if (removedKeys(raw, options.env, errors)) return { ok: false, errors };

  const fromEnv = applyEnv(raw, options.env, errors);
  const validate = createAjv({ useDefaults: true }).compile<ConfigFile>(ConfigFileSchema);
  if (!validate(raw)) {
    for (const e of schemaErrors(validate.errors, '', 'field')) {
      const variable = fromEnv.get(e.path);
      errors.push(`${e.path === '' ? 'config' : e.path}: ${friendly(e.path, e.message)}${variable === undefined ? '' : ` (from ${variable})`}`);
    }
    return { ok: false, errors };
  }
  const config = resolve(raw, options.env, errors);
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

const DURATION_KEYS: ReadonlySet<string> = new Set(['dedup.window', 'statusFlushInterval', 'defaultActionTimeout']);

/** Schema messages reworded where ajv's would be cryptic (patterns, the required auth mode). */
function friendly(path: string, message: string): string {
  if (DURATION_KEYS.has(path)) return 'must be a duration such as 500ms, 10s, 5m or 1h30m';
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
  const ms = parseDuration(text);
  if (ms === undefined) errors.push(`${path}: ${JSON.stringify(text)} is not a duration (e.g. 500ms, 10s, 5m, 1h30m)`);
  return ms ?? 0;
}

function resolve(file: ConfigFile, env: NodeJS.ProcessEnv, errors: string[]): Config {
  const podNamespace = env.POD_NAMESPACE === undefined || env.POD_NAMESPACE === '' ? undefined : env.POD_NAMESPACE;
  const protectedNamespaces = [...new Set([...file.protectedNamespaces, ...(podNamespace ? [podNamespace] : [])])];

  const bodyLimitBytes = parseSize(file.bodyLimit);
  if (bodyLimitBytes === undefined || bodyLimitBytes < 1 || bodyLimitBytes > MAX_BODY_LIMIT) {
    errors.push(`bodyLimit: ${JSON.stringify(file.bodyLimit)} is not a size between 1 byte and 1GiB (e.g. 512KiB, 1MiB, 1048576)`);
  }

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
    queue: { concurrency: file.queue.concurrency, maxPending: file.queue.maxPending },
    safety: {
      destructiveActionsPerMinute: file.safety.destructiveActionsPerMinute,
      dryRun: file.safety.dryRun,
      cloudNamespaces: file.safety.cloudNamespaces,
    },
    defaultNotifiers: file.defaultNotifiers,
    notifiers: file.notifiers,
    logLevel: file.logLevel,
    logFormat: file.logFormat,
    statusFlushIntervalMs: duration('statusFlushInterval', file.statusFlushInterval, errors),
    defaultActionTimeoutMs: duration('defaultActionTimeout', file.defaultActionTimeout, errors),
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

