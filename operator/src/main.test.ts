/**
 * main.js at start-up: which packages it loads (an idle operator loads none of those kept for
 * first use, lib/first-use.ts), and what a feature does when such a package cannot be loaded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { falcoEvent } from '../test/fakes/kube.js';
import { artifactFromBuffer } from './lib/artifact.js';
import { silentLog } from './lib/log.js';
import { initLambda, lambdaActionner, type LambdaParams } from './actionners/aws/lambda.js';
import { initGcp } from './actionners/gcp/function.js';
import type { ActionContext } from './actionners/types.js';
import { builtinOutputs } from './outputs/index.js';
import { OutputRegistry } from './outputs/registry.js';
import { initSmtp } from './notifiers/smtp.js';
import { createAlertTracer } from './observability/tracing.js';

/**
 * Packages an idle operator (the default config: no console, no tracing, no cloud actionners
 * or outputs, no SMTP) must not load: each costs MiB of heap, so the modules that need one load
 * it on first use (lib/first-use.ts). `scope/*` stands for every package of the scope.
 */
const LOADED_ON_FIRST_USE = [
  '@aws-sdk/client-lambda',
  '@aws-sdk/client-s3',
  '@google-cloud/storage',
  'google-auth-library',
  'nodemailer',
  '@opentelemetry/*',
  'express',
  'helmet',
] as const;

/** Covered by a `scope/*` above but loaded by a package main.js needs: prom-client (metrics, always on) requires the OTel API for exemplars. */
const LOADED_BY_OTHERS: readonly string[] = ['@opentelemetry/api'];

const listed = (pkg: string): boolean =>
  !LOADED_BY_OTHERS.includes(pkg) && LOADED_ON_FIRST_USE.some((l) => (l.endsWith('/*') ? pkg.startsWith(l.slice(0, -1)) : pkg === l));

/**
 * A module resolve hook (it runs in the loader's own thread): posts the package name of every
 * resolution that lands in node_modules to the port it is given; answers `flush` once every
 * earlier name is posted (a port keeps its order).
 */
const WATCHING_HOOKS = `let port;
export function initialize(data) {
  port = data.port;
  port.on('message', () => port.postMessage({ flushed: true }));
  port.unref();
}
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url);
  if (m) port.postMessage({ pkg: m[1] });
  return r;
}`;

const root = fileURLToPath(new URL('../../../', import.meta.url));
const main = new URL('./main.js', import.meta.url).href;

/**
 * A fresh process: the hook registered, main.js imported; then the packages in the CommonJS
 * cache (it also holds what was `require`d, which the ESM hook does not see); then each listed
 * package imported, the control that the hook does see them when they load. Prints one JSON line.
 */
const CHILD = `
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
let seen = new Set();
let flushed;
port1.on('message', (m) => (m.flushed ? flushed() : seen.add(m.pkg)));
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(WATCHING_HOOKS)}), { data: { port: port2 }, transferList: [port2] });
const collect = async () => {
  await new Promise((resolve) => { flushed = resolve; port1.postMessage('flush'); });
  const out = [...seen];
  seen = new Set();
  return out;
};
await import(${JSON.stringify(main)});
const resolved = await collect();
const cjs = Object.keys(createRequire(${JSON.stringify(main)}).cache).map((p) => /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(p)?.[1]).filter(Boolean);
for (const pkg of ${JSON.stringify(LOADED_ON_FIRST_USE.filter((l) => !l.endsWith('/*')))}) await import(pkg);
const control = await collect();
console.log(JSON.stringify({ resolved, cjs: [...new Set(cjs)], control }));
port1.close();
`;

async function importsOfMain(): Promise<void> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHILD], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  const { resolved, cjs, control } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<'resolved' | 'cjs' | 'control', string[]>;
  assert.ok(resolved.length > 0, 'the hook saw main.js resolve its packages');
  assert.deepEqual(resolved.filter(listed), [], 'resolved by importing main.js');
  assert.deepEqual(cjs.filter(listed), [], 'in the CommonJS cache after importing main.js');
  for (const pkg of LOADED_ON_FIRST_USE.filter((l) => !l.endsWith('/*'))) assert.ok(control.includes(pkg), `the hook sees ${pkg} when it is imported`);
}

/**
 * What a feature does when its package, loaded on first use (lib/first-use.ts), cannot be
 * loaded: that action, store, delivery or start fails with a message naming the package, and
 * nothing else breaks. This file runs itself in a child process whose resolve hook refuses
 * the packages, as a broken installation would.
 */
const REFUSING_HOOKS = `let refused = [];
export function initialize(data) { refused = data.refused; }
export async function resolve(specifier, context, next) {
  if (refused.some((r) => (r.endsWith('/*') ? specifier.startsWith(r.slice(0, -1)) : specifier === r || specifier.startsWith(r + '/')))) {
    throw Object.assign(new Error("Cannot find package '" + specifier + "' (refused by the test)"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;

const REGISTER = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(REFUSING_HOOKS)}), { data: { refused: ${JSON.stringify(LOADED_ON_FIRST_USE)} } });`;

const CHILD_ENV = 'TALON_LAZY_LOAD_FAILURES_CHILD';

/** Each feature's first use with its package refused: what it reported, as text. */
async function firstUses(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const rejection = async (p: Promise<unknown>): Promise<string> => p.then(() => 'no error', (e: Error & { code?: string; retryable?: boolean }) => `${e.code ?? 'Error'} retryable=${String(e.retryable ?? '-')}: ${e.message}`);

  const params: LambdaParams = { functionName: 'respond', qualifier: '$LATEST', invocationType: 'RequestResponse' };
  const ctx = { event: falcoEvent({}), params, signal: new AbortController().signal, rule: { namespace: '', name: 'cr' }, actionName: 'invoke', state: initLambda({ region: 'r', maxResponseBytes: 16 }) };
  const res = await lambdaActionner.run(ctx as unknown as ActionContext<LambdaParams>);
  out.lambda = `${res.status} ${res.reason} retryable=${String(res.retryable ?? false)}: ${res.message}`;

  out.gcpFunction = await rejection(initGcp({ allowedUrlPrefixes: [], maxResponseBytes: 16 }));

  const store = await new OutputRegistry(builtinOutputs()).open({ 'aws:s3': { profiles: { default: {} } }, 'gcp:gcs': { profiles: { default: {} } } }, { log: silentLog });
  const storeCtx = { rule: { namespace: 'shop', name: 'capture' }, action: 'dump', event: falcoEvent({ 'k8s.ns.name': 'shop' }), signal: new AbortController().signal };
  const art = () => artifactFromBuffer('dump.txt', 'text/plain', Buffer.from('hello'));
  out.s3 = await rejection(store.store({ target: 'aws:s3', parameters: { bucket: 'forensics', prefix: '', profile: 'default' } }, art(), storeCtx));
  out.gcs = await rejection(store.store({ target: 'gcp:gcs', parameters: { bucket: 'forensics', prefix: '', profile: 'default' } }, art(), storeCtx));

  const smtp = initSmtp({ host: '127.0.0.1', tls: 'none', insecureSkipVerify: false, from: 'talon@example.com', to: ['sec@example.com'], subject: '{result}' });
  out.smtp = await rejection(smtp.send({ subject: 's', text: 't', html: 'h' }, new AbortController().signal));

  out.tracing = await rejection(createAlertTracer({ endpoint: 'http://127.0.0.1:4318/v1/traces', samplingRatio: 1, serviceName: 't' }));
  return out;
}

if (process.env[CHILD_ENV] === '1') {
  const unhandled: string[] = [];
  process.on('unhandledRejection', (e) => unhandled.push(String(e)));
  const out = await firstUses();
  await new Promise((r) => setTimeout(r, 50));
  console.log(JSON.stringify({ ...out, unhandled: unhandled.join('; ') }));
} else {
  test('importing main.js loads none of the packages kept for first use; the hook sees them once they are imported', importsOfMain);

  test('a package that cannot be loaded fails the feature that needed it, naming the package; nothing else breaks', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD_ENV]: '1' },
    });
    const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, string>;
    const refused = (pkg: string) => `cannot load ${pkg}: Cannot find package '${pkg}' (refused by the test)`;
    assert.equal(r.lambda, `failure InvokeFailed retryable=false: invoking Lambda function respond:$LATEST: ${refused('@aws-sdk/client-lambda')}`);
    assert.equal(r.gcpFunction, `Error retryable=-: ${refused('google-auth-library')}`);
    assert.match(r.s3 ?? '', new RegExp(`^Error retryable=-: s3://forensics/\\S+: ${escape(refused('@aws-sdk/client-s3'))}$`));
    assert.match(r.gcs ?? '', new RegExp(`^Error retryable=-: gs://forensics/\\S+: ${escape(refused('@google-cloud/storage'))}$`));
    assert.equal(r.smtp, `Unknown retryable=false: SMTP ${refused('nodemailer')}`);
    assert.match(r.tracing ?? '', /^Error retryable=-: cannot load @opentelemetry: Cannot find package '@opentelemetry\/[a-z-]+' \(refused by the test\)$/);
    assert.equal(r.unhandled, '', 'no unhandled rejection');
  });
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
