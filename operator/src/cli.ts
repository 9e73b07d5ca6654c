#!/usr/bin/env node
/**
 * talon-operator CLI:
 *   run   --config FILE [--kubeconfig FILE]   the operator
 *   check [--config FILE] FILE...              validate TalonRule, TalonAction, ClusterTalonRule and
 *                                              ClusterTalonAction manifests offline
 *   test  --event FILE [--config FILE] FILE... which rules an alert matches and what would be done:
 *                                              ClusterTalonRules first, then the TalonRules of the
 *                                              alert's namespace
 *   convert [--namespace NS] … TALON_FILE...   Falco Talon rules files → manifests (convert/)
 * With --config, the notifier instances it defines are the ones rules may name; without it,
 * only the implicit `k8sevents`.
 */
import { isEntryPoint } from './lib/entry-point.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import {
  API_VERSION,
  CLUSTER_TALON_ACTION_KIND,
  CLUSTER_TALON_RULE_KIND,
  TALON_ACTION_KIND,
  TALON_RULE_KIND,
  type ActionKind,
  type RuleKind,
  type TalonAction,
  type TalonRule,
} from './api/v1alpha1/types.js';
import { loadConfig } from './config/load.js';
import { compileAction, compileRule, type ActionRef } from './rules/compiler.js';
import { alertNamespace, alertObject, objectKey } from './falco/target.js';
import { parseAlert } from './falco/parse.js';
import { RuleIndex } from './rules/rule-index.js';
import type { CompiledRule } from './rules/types.js';
import { pluginSchemas, registries, startOperator, type ShutdownSummary } from './main.js';
import { createLogger } from './observability/logger.js';
import { convertTalon, type ConvertInput } from './convert/convert.js';
import { convertTalonConfig } from './convert/talon-config.js';

const USAGE = `usage:
  talon-operator run --config FILE [--kubeconfig FILE]
  talon-operator check [--config FILE] FILE...
  talon-operator test --event ALERT.json [--config FILE] FILE...
  talon-operator convert [--namespace NS] [--minio-profile NAME] [--gcp-project ID] [--config FILE]
                         [--talon-config TALON_CONFIG.yaml --config-out CONFIG.yaml [--secrets-dir DIR]] TALON_RULES.yaml...`;

/** Where a command writes; the process's stdout and stderr by default. */
export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: CliOutput = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

interface Manifest<K, T> {
  readonly kind: K;
  readonly obj: T;
}

interface Manifests {
  rules: Manifest<RuleKind, TalonRule>[];
  actions: Manifest<ActionKind, TalonAction>[];
  errors: string[];
}

const RULE_KINDS: ReadonlySet<string> = new Set([TALON_RULE_KIND, CLUSTER_TALON_RULE_KIND]);
const ACTION_KINDS: ReadonlySet<string> = new Set([TALON_ACTION_KIND, CLUSTER_TALON_ACTION_KIND]);
const isCluster = (kind: string): boolean => kind === CLUSTER_TALON_RULE_KIND || kind === CLUSTER_TALON_ACTION_KIND;

/** `Kind namespace/name`, or `Kind name` for the cluster-scoped kinds. */
function label(kind: string, obj: { metadata?: { namespace?: string; name?: string } }): string {
  return isCluster(kind) ? `${kind} ${obj.metadata?.name}` : `${kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`;
}

/** A manifest file's name (for messages) and text. */
export interface ManifestText {
  readonly file: string;
  readonly text: string;
}

type ObjectLike = { apiVersion?: unknown; kind?: unknown; items?: unknown; metadata?: { name?: string; namespace?: string } };

/** The objects of one YAML document: itself, or the items of a `kind: List` (any `…List`). */
function objectsOf(obj: ObjectLike): ObjectLike[] {
  if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
    return obj.items.filter((i): i is ObjectLike => typeof i === 'object' && i !== null).flatMap(objectsOf);
  }
  return [obj];
}

const TALON_KINDS: ReadonlySet<string> = new Set([...RULE_KINDS, ...ACTION_KINDS]);

/**
 * The talon.dev objects of the files: multi-document YAML and `kind: List` alike. Namespaced
 * kinds without a namespace land in `default` (as kubectl would put them); the cluster-scoped
 * kinds have none (a namespace there is ignored). A file holding none of the four kinds is an
 * error (a silent "0 rules" would pass a file that was never checked).
 */
export function parseManifests(texts: readonly ManifestText[]): Manifests {
  const out: Manifests = { rules: [], actions: [], errors: [] };
  for (const { file, text } of texts) {
    let found = 0;
    let failed = false;
    parseAllDocuments(text).forEach((doc, i) => {
      if (doc.errors.length > 0) {
        out.errors.push(`${file} (document ${i + 1}): ${doc.errors[0]!.message}`);
        failed = true;
        return;
      }
      const top = doc.toJS() as ObjectLike | null;
      if (!top || typeof top !== 'object') return;
      for (const obj of objectsOf(top)) {
        const kind = obj.kind;
        if (typeof kind !== 'string' || !TALON_KINDS.has(kind)) continue;
        if (obj.apiVersion !== API_VERSION) {
          out.errors.push(`${file} (document ${i + 1}): ${kind} ${obj.metadata?.name ?? ''}: apiVersion ${JSON.stringify(obj.apiVersion)} is not ${API_VERSION}`);
          failed = true;
          continue;
        }
        found++;
        if (isCluster(kind)) {
          const { namespace: _ignored, ...rest } = obj.metadata ?? {};
          obj.metadata = rest;
        } else {
          obj.metadata = { namespace: 'default', ...obj.metadata };
        }
        if (RULE_KINDS.has(kind)) out.rules.push({ kind: kind as RuleKind, obj: obj as unknown as TalonRule });
        else out.actions.push({ kind: kind as ActionKind, obj: obj as unknown as TalonAction });
      }
    });
    if (found === 0 && !failed) out.errors.push(`${file}: no ${[...TALON_KINDS].join(', ')} in it (${API_VERSION})`);
  }
  return out;
}

function readManifests(files: readonly string[]): Manifests {
  const texts: ManifestText[] = [];
  const errors: string[] = [];
  for (const file of files) {
    try {
      texts.push({ file, text: readFileSync(file, 'utf8') });
    } catch (err) {
      errors.push(`${file}: ${(err as Error).message}`);
    }
  }
  const m = parseManifests(texts);
  m.errors.unshift(...errors);
  return m;
}

function compileAll(m: Manifests, notifiers: ReadonlySet<string>): { compiled: CompiledRule[]; problems: string[] } {
  const r = registries();
  const deps = { registry: r.actionners, outputs: r.outputs, notifiers, defaultTimeoutMs: 30_000, cloudNamespaces: new Set<string>() };
  const problems: string[] = [];
  const compiled: CompiledRule[] = [];
  for (const a of m.actions) {
    const r = compileAction(a.kind, a.obj, deps);
    if (!r.ok) problems.push(`${label(a.kind, a.obj)}: ${r.conditions.accepted.message}`);
  }
  for (const rule of m.rules) {
    const ns = rule.obj.metadata?.namespace;
    const lookup = (ref: ActionRef) =>
      m.actions.find(
        (a) =>
          a.kind === ref.kind &&
          a.obj.metadata?.name === ref.name &&
          (ref.kind === CLUSTER_TALON_ACTION_KIND || a.obj.metadata?.namespace === ns),
      )?.obj;
    const r = compileRule(rule.kind, rule.obj, lookup, deps);
    if (r.ok) compiled.push(r.rule);
    else {
      const c = r.conditions.accepted.status !== 'True' ? r.conditions.accepted : r.conditions.resolvedRefs;
      problems.push(`${label(rule.kind, rule.obj)}: ${c.reason}: ${c.message}`);
    }
  }
  return { compiled, problems };
}

/** `run` exit codes after a signal (docs/journal.md "Shutdown"). */
export const EXIT_CLEAN = 0;
/** Stopped with unfinished alerts kept in the journal: the next start resumes them. */
export const EXIT_LEFT_IN_JOURNAL = 3;
/** Stopped with unfinished alerts and no journal: they are lost (logged). */
export const EXIT_LOST = 4;
/** The shutdown did not finish within the grace period plus the flushes. */
export const EXIT_SHUTDOWN_STUCK = 5;

export function shutdownExitCode(s: ShutdownSummary): number {
  if (s.unfinished === 0) return EXIT_CLEAN;
  return s.journaled ? EXIT_LEFT_IN_JOURNAL : EXIT_LOST;
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, kubeconfig: { type: 'string' } } });
  // One set of registries for the config's schemas and the operator: each build compiles every plug-in schema.
  const plugins = registries();
  const loaded = loadConfig({ ...(values.config ? { file: values.config } : {}), env: process.env, plugins: pluginSchemas(plugins) });
  if (!loaded.ok) {
    for (const e of loaded.errors) process.stderr.write(`config: ${e}\n`);
    return 1;
  }
  const logger = createLogger({ level: loaded.config.logLevel, format: loaded.config.logFormat });
  process.on('unhandledRejection', (reason) => {
    logger.error('unhandled rejection (a bug); exiting', { error: String((reason as Error)?.stack ?? reason) });
    process.exit(70);
  });
  process.on('uncaughtException', (err) => {
    logger.error('uncaught exception (a bug); exiting', { error: String(err.stack ?? err) });
    process.exit(70);
  });
  const op = await startOperator({ config: loaded.config, logger, plugins, ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}) });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info('shutting down', { signal });
    // A last resort past the grace and the bounded flushes: exit before the kubelet's SIGKILL.
    const hardStopMs = loaded.config.shutdownGraceMs + 8_000;
    setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting', { after_ms: hardStopMs });
      process.exit(EXIT_SHUTDOWN_STUCK);
    }, hardStopMs).unref();
    op.close().then(
      (summary) => process.exit(shutdownExitCode(summary)),
      (err) => {
        logger.error('shutdown failed', { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return new Promise<number>(() => undefined);
}

/** The notifier instances rules may name: those of `--config`, else the implicit one; undefined after printing config errors. */
function notifierNames(configFile: string | undefined, out: CliOutput): ReadonlySet<string> | undefined {
  if (configFile === undefined) return new Set(['k8sevents']);
  const loaded = loadConfig({ file: configFile, env: process.env, plugins: pluginSchemas() });
  if (loaded.ok) return new Set(Object.keys(loaded.config.notifiers));
  for (const e of loaded.errors) out.stderr(`config: ${e}\n`);
  return undefined;
}

/** `check [--config FILE] FILE...`: validates the manifests offline; exit code 1 when anything is wrong, 2 on usage errors. */
export function check(args: readonly string[], out: CliOutput = processOutput): number {
  let parsedArgs: { values: { config?: string }; positionals: string[] };
  try {
    parsedArgs = parseArgs({ args: [...args], allowPositionals: true, options: { config: { type: 'string' } } });
  } catch (err) {
    out.stderr(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const files = parsedArgs.positionals;
  if (files.length === 0) {
    out.stderr(`${USAGE}\n`);
    return 2;
  }
  const notifiers = notifierNames(parsedArgs.values.config, out);
  if (notifiers === undefined) return 1;
  const m = readManifests(files);
  const { compiled, problems } = compileAll(m, notifiers);
  for (const e of [...m.errors, ...problems]) out.stderr(`${e}\n`);
  out.stdout(`${m.rules.length} rules (${compiled.length} valid), ${m.actions.length} actions; ${m.errors.length + problems.length} problems\n`);
  return m.errors.length + problems.length > 0 ? 1 : 0;
}

const REMOVED_OPTIONS: Readonly<Record<string, string>> = {
  '--control-namespace':
    'was removed: a ClusterTalonRule is cluster-wide and a TalonRule is confined to its namespace, wherever it lives',
};

/**
 * `test --event ALERT FILE...`: which rules the alert matches, in evaluation order (the
 * ClusterTalonRules, then the TalonRules of the alert target's namespace), and what they would
 * do. Exit code 0, 1 when the alert or a file cannot be read (or holds none of the four kinds),
 * 2 on usage errors. Manifests that do not compile are skipped with a note.
 */
export function testEvent(args: readonly string[], out: CliOutput = processOutput): number {
  for (const a of args) {
    const option = a.split('=')[0]!;
    const why = REMOVED_OPTIONS[option];
    if (why !== undefined) {
      out.stderr(`${option} ${why}\n${USAGE}\n`);
      return 2;
    }
  }
  let parsedArgs: { values: { event?: string; config?: string }; positionals: string[] };
  try {
    parsedArgs = parseArgs({ args: [...args], allowPositionals: true, options: { event: { type: 'string' }, config: { type: 'string' } } });
  } catch (err) {
    out.stderr(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsedArgs;
  if (!values.event || positionals.length === 0) {
    out.stderr(`${USAGE}\n`);
    return 2;
  }
  let body: Buffer;
  try {
    body = readFileSync(values.event);
  } catch (err) {
    out.stderr(`${values.event}: ${(err as Error).message}\n`);
    return 1;
  }
  const parsed = parseAlert(body, { receivedAt: 0, traceId: 'cli' });
  if (!parsed.ok) {
    out.stderr(`${values.event}: not a Falco alert: ${parsed.message}\n`);
    return 1;
  }
  const notifiers = notifierNames(values.config, out);
  if (notifiers === undefined) return 1;
  const m = readManifests(positionals);
  if (m.errors.length > 0) {
    for (const e of m.errors) out.stderr(`${e}\n`);
    return 1;
  }
  const { compiled, problems } = compileAll(m, notifiers);
  for (const e of problems) out.stderr(`skipped: ${e}\n`);
  const index = RuleIndex.build(compiled);
  const namespace = alertNamespace(parsed.event);
  const matched = new Set(index.evaluate(parsed.event, namespace).map((r) => r.key));
  out.stdout(
    `alert: rule=${JSON.stringify(parsed.event.rule)} priority=${parsed.event.priority} source=${parsed.event.source} object=${objectKey(alertObject(parsed.event))} namespace=${namespace ?? '(none: cluster rules only)'}\n`,
  );
  for (const { rule, explanation } of index.explain(parsed.event, namespace)) {
    const name = `${rule.kind} ${rule.key}`;
    if (matched.has(rule.key)) {
      out.stdout(`MATCH  ${name}${rule.dryRun ? ' (dryRun)' : ''}${rule.suspend ? ' (suspended)' : ''}\n`);
      const runs = (a: CompiledRule['actions'][number], indent: string) => out.stdout(`${indent}would run ${a.name} (${a.actionner.info.name}) ${JSON.stringify(a.params)}\n`);
      if (rule.escalation === undefined) for (const a of rule.actions) runs(a, '         ');
      else {
        // Which step runs depends on how often the target matched in the window (docs/escalation.md).
        for (const [i, st] of rule.escalation.steps.entries()) {
          out.stdout(`         step ${i + 1}, at match ${st.after} for the target within the window:\n`);
          for (const a of st.actions) runs(a, '           ');
        }
      }
    } else if (explanation.matched) {
      out.stdout(`SKIP   ${name}: not evaluated (an earlier rule has continue: false, or out of the target's namespace)\n`);
    } else {
      out.stdout(`NO     ${name}: ${explanation.failed}: ${explanation.reason}\n`);
    }
  }
  return 0;
}

/**
 * `convert [--namespace NS] [--minio-profile NAME] [--gcp-project ID] [--config FILE] FILE...`:
 * Falco Talon rules files (merged in the order given, as `falco-talon -r a -r b`) to manifests
 * on stdout; every warning (what Talon silently ignored, what changed) on stderr. With
 * `--talon-config T --config-out C`, Talon's configuration becomes an operator config written
 * to C (secrets as files under `--secrets-dir`), whose notifier instances the check uses. The
 * result is then checked as `check` would: exit 1 when conversion failed (nothing printed) or
 * the manifests would not pass `check`, 2 on usage errors.
 */
export function convert(args: readonly string[], out: CliOutput = processOutput): number {
  let parsedArgs: {
    values: { namespace?: string; 'minio-profile'?: string; 'gcp-project'?: string; config?: string; 'talon-config'?: string; 'config-out'?: string; 'secrets-dir'?: string };
    positionals: string[];
  };
  try {
    parsedArgs = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        namespace: { type: 'string' },
        'minio-profile': { type: 'string' },
        'gcp-project': { type: 'string' },
        config: { type: 'string' },
        'talon-config': { type: 'string' },
        'config-out': { type: 'string' },
        'secrets-dir': { type: 'string' },
      },
    });
  } catch (err) {
    out.stderr(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsedArgs;
  if (positionals.length === 0 || (values['talon-config'] === undefined) !== (values['config-out'] === undefined)) {
    out.stderr(`${USAGE}\n`);
    return 2;
  }
  const minioProfile = values['minio-profile'] ?? 'minio';
  /** Notifier instances of the converted Talon config (the check then uses them), when converted. */
  let converted: ReadonlySet<string> | undefined;
  if (values['talon-config'] !== undefined) {
    const d = { errors: [] as string[], warnings: [] as string[] };
    let text: string;
    try {
      text = readFileSync(values['talon-config'], 'utf8');
    } catch (err) {
      out.stderr(`${values['talon-config']}: ${(err as Error).message}\n`);
      return 1;
    }
    const config = convertTalonConfig(values['talon-config'], text, { secretsDir: values['secrets-dir'] ?? '/etc/talon/secrets', minioProfile }, d);
    for (const w of d.warnings) out.stderr(`warning: ${w}\n`);
    for (const e of d.errors) out.stderr(`error: ${e}\n`);
    if (d.errors.length > 0) return 1;
    writeFileSync(values['config-out'] as string, `# Converted from Falco Talon's configuration by talon-operator convert: ${basename(values['talon-config'])}\n${stringifyYaml(config, { lineWidth: 0 })}`);
    converted = new Set(['k8sevents', ...Object.keys((config.notifiers as Record<string, unknown> | undefined) ?? {})]);
  }
  const files: ConvertInput[] = [];
  for (const file of positionals) {
    try {
      files.push({ file, content: readFileSync(file, 'utf8') });
    } catch (err) {
      out.stderr(`${file}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const notifiers = values.config === undefined && converted !== undefined ? converted : notifierNames(values.config, out);
  if (notifiers === undefined) return 1;
  const actionners = registries().actionners;
  const readScript = (path: string): string | undefined => {
    for (const candidate of [path, ...positionals.map((f) => resolve(dirname(f), path))]) {
      try {
        return readFileSync(candidate, 'utf8');
      } catch {
        // try the next place
      }
    }
    return undefined;
  };
  const result = convertTalon({
    files,
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    minioProfile,
    ...(values['gcp-project'] !== undefined ? { gcpProject: values['gcp-project'] } : {}),
    readFile: readScript,
    actionner: (name) => actionners.get(name),
  });
  for (const w of result.warnings) out.stderr(`warning: ${w}\n`);
  for (const e of result.errors) out.stderr(`error: ${e}\n`);
  if (result.errors.length > 0) return 1;
  out.stdout(result.yaml);
  const m = parseManifests([{ file: '(converted)', text: result.yaml }]);
  const { problems } = compileAll(m, notifiers);
  for (const e of [...m.errors, ...problems]) out.stderr(`error: the converted manifests do not pass check: ${e}\n`);
  return m.errors.length + problems.length > 0 ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return run(rest);
    case 'check':
      return check(rest);
    case 'test':
      return testEvent(rest);
    case 'convert':
      return convert(rest);
    default:
      process.stderr.write(`${USAGE}\n`);
      return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
  }
}

if (isEntryPoint(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`talon-operator: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
