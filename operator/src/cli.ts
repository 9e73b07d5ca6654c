#!/usr/bin/env node
/**
 * talon-operator CLI:
 *   run   --config FILE [--kubeconfig FILE]   the operator
 *   check [--config FILE] FILE...              validate TalonRule/TalonAction manifests offline
 *   test  --event FILE [--config FILE] FILE... which rules an alert matches and what would be done
 * With --config, the notifier instances it defines are the ones rules may name; without it,
 * only the implicit `k8sevents`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, TALON_ACTION_KIND, TALON_RULE_KIND, type TalonAction, type TalonRule } from './api/v1alpha1/types.js';
import { loadConfig } from './config/load.js';
import { compileAction, compileRule } from './rules/compiler.js';
import { alertNamespace, alertObject, objectKey } from './falco/target.js';
import { parseAlert } from './falco/parse.js';
import { RuleIndex } from './rules/rule-index.js';
import type { CompiledRule } from './rules/types.js';
import { pluginSchemas, registries, startOperator } from './main.js';
import { createLogger } from './observability/logger.js';

const USAGE = `usage:
  talon-operator run --config FILE [--kubeconfig FILE]
  talon-operator check [--config FILE] FILE...
  talon-operator test --event ALERT.json [--control-namespace NS] [--config FILE] FILE...`;

interface Manifests {
  rules: TalonRule[];
  actions: TalonAction[];
  errors: string[];
}

function readManifests(files: readonly string[]): Manifests {
  const out: Manifests = { rules: [], actions: [], errors: [] };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      out.errors.push(`${file}: ${(err as Error).message}`);
      continue;
    }
    parseAllDocuments(text).forEach((doc, i) => {
      if (doc.errors.length > 0) {
        out.errors.push(`${file} (document ${i + 1}): ${doc.errors[0]!.message}`);
        return;
      }
      const obj = doc.toJS() as { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } } | null;
      if (!obj) return;
      if (obj.apiVersion !== API_VERSION) return;
      obj.metadata = { namespace: 'default', ...obj.metadata };
      if (obj.kind === TALON_RULE_KIND) out.rules.push(obj as TalonRule);
      else if (obj.kind === TALON_ACTION_KIND) out.actions.push(obj as TalonAction);
    });
  }
  return out;
}

function compileAll(m: Manifests, controlNamespace: string, notifiers: ReadonlySet<string>): { compiled: CompiledRule[]; problems: string[] } {
  const r = registries();
  const deps = { registry: r.actionners, outputs: r.outputs, notifiers, controlNamespace, defaultTimeoutMs: 30_000, cloudNamespaces: new Set<string>() };
  const problems: string[] = [];
  const compiled: CompiledRule[] = [];
  for (const a of m.actions) {
    const r = compileAction(a, deps);
    if (!r.ok) problems.push(`TalonAction ${a.metadata?.namespace}/${a.metadata?.name}: ${r.conditions.accepted.message}`);
  }
  for (const rule of m.rules) {
    const ns = rule.metadata?.namespace;
    const r = compileRule(rule, (name) => m.actions.find((a) => a.metadata?.name === name && a.metadata?.namespace === ns), deps);
    if (r.ok) compiled.push(r.rule);
    else {
      const c = r.conditions.accepted.status !== 'True' ? r.conditions.accepted : r.conditions.resolvedRefs;
      problems.push(`TalonRule ${ns}/${rule.metadata?.name}: ${c.reason}: ${c.message}`);
    }
  }
  return { compiled, problems };
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, kubeconfig: { type: 'string' } } });
  const loaded = loadConfig({ ...(values.config ? { file: values.config } : {}), env: process.env, plugins: pluginSchemas() });
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
  const op = await startOperator({ config: loaded.config, logger, ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}) });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info('shutting down', { signal });
    op.close().then(
      () => process.exit(0),
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
function notifierNames(configFile: string | undefined): ReadonlySet<string> | undefined {
  if (configFile === undefined) return new Set(['k8sevents']);
  const loaded = loadConfig({ file: configFile, env: process.env, plugins: pluginSchemas() });
  if (loaded.ok) return new Set(Object.keys(loaded.config.notifiers));
  for (const e of loaded.errors) process.stderr.write(`config: ${e}\n`);
  return undefined;
}

function check(args: string[]): number {
  const { values, positionals: files } = parseArgs({ args, allowPositionals: true, options: { config: { type: 'string' } } });
  if (files.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const notifiers = notifierNames(values.config);
  if (notifiers === undefined) return 1;
  const m = readManifests(files);
  const { compiled, problems } = compileAll(m, 'talon-system', notifiers);
  for (const e of [...m.errors, ...problems]) process.stderr.write(`${e}\n`);
  process.stdout.write(`${m.rules.length} rules (${compiled.length} valid), ${m.actions.length} actions; ${m.errors.length + problems.length} problems\n`);
  return m.errors.length + problems.length > 0 ? 1 : 0;
}

function testEvent(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { event: { type: 'string' }, 'control-namespace': { type: 'string', default: 'talon-system' }, config: { type: 'string' } },
  });
  if (!values.event || positionals.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const parsed = parseAlert(readFileSync(values.event), { receivedAt: 0, traceId: 'cli' });
  if (!parsed.ok) {
    process.stderr.write(`${values.event}: not a Falco alert: ${parsed.message}\n`);
    return 1;
  }
  const notifiers = notifierNames(values.config);
  if (notifiers === undefined) return 1;
  const m = readManifests(positionals);
  const controlNamespace = values['control-namespace']!;
  const { compiled, problems } = compileAll(m, controlNamespace, notifiers);
  for (const e of [...m.errors, ...problems]) process.stderr.write(`skipped: ${e}\n`);
  const index = RuleIndex.build(compiled, controlNamespace);
  const namespace = alertNamespace(parsed.event);
  const matched = new Set(index.evaluate(parsed.event, namespace).map((r) => r.key));
  process.stdout.write(
    `alert: rule=${JSON.stringify(parsed.event.rule)} priority=${parsed.event.priority} source=${parsed.event.source} object=${objectKey(alertObject(parsed.event))} namespace=${namespace ?? '(none: cluster rules only)'}\n`,
  );
  for (const { rule, explanation } of index.explain(parsed.event, namespace)) {
    if (matched.has(rule.key)) {
      process.stdout.write(`MATCH  ${rule.key}${rule.dryRun ? ' (dryRun)' : ''}${rule.suspend ? ' (suspended)' : ''}\n`);
      for (const a of rule.actions) process.stdout.write(`         would run ${a.name} (${a.actionner.info.name}) ${JSON.stringify(a.params)}\n`);
    } else if (explanation.matched) {
      process.stdout.write(`SKIP   ${rule.key}: not evaluated (an earlier rule has continue: false, or out of the target's namespace)\n`);
    } else {
      process.stdout.write(`NO     ${rule.key}: ${explanation.failed}: ${explanation.reason}\n`);
    }
  }
  return 0;
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
    default:
      process.stderr.write(`${USAGE}\n`);
      return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`talon-operator: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
