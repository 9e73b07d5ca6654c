/**
 * Test builders: FalcoEvents from plain objects or from sample JSON files.
 * Not the production parser (http/); just enough to feed the engine in tests.
 */
import { after, before } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { priorityLevel, type FalcoEvent, type FieldValue } from '../src/falco/event.js';
import { compileMatch, type CompileMatchOptions, type ConditionEnvironment, type MatchSpec } from '../src/rules/match.js';
import { ruleKey, scopeOfKind, type CompiledRule } from '../src/rules/types.js';
import type { Outcome } from '../src/api/v1alpha1/outcome.js';

/** A frozen FalcoEvent from a Falco-shaped object (`rule`, `priority`, `output_fields`, …). */
export function eventFrom(obj: Record<string, unknown>): FalcoEvent {
  const text = (k: string): string => (typeof obj[k] === 'string' ? (obj[k] as string) : '');
  const priority = text('priority');
  const source = text('source');
  const tags = Array.isArray(obj.tags) ? (obj.tags as string[]) : [];
  const fields = (obj.output_fields ?? {}) as Record<string, FieldValue>;
  const ev: FalcoEvent = {
    rule: text('rule'),
    priority,
    priorityLevel: priorityLevel(priority),
    source: source === '' ? 'syscall' : source,
    time: text('time'),
    hostname: text('hostname'),
    output: text('output'),
    tags: Object.freeze([...tags]),
    outputFields: Object.freeze({ ...fields }),
    ...(typeof obj.uuid === 'string' ? { uuid: obj.uuid } : {}),
    receivedAt: 0,
    traceId: 'test',
  };
  return Object.freeze(ev);
}

const BIG = '\u0000bigint:';

/**
 * Parses Falco JSON keeping integers beyond 2^53 exact (as bigint). Test-only: it quotes
 * long integer literals that follow `:`, `[` or `,` before JSON.parse.
 */
export function parseFalcoJson(text: string): Record<string, unknown> {
  const quoted = text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"\\u0000bigint:$2"');
  return JSON.parse(quoted, (_key, value: unknown) => {
    if (typeof value !== 'string' || !value.startsWith(BIG)) return value;
    const big = BigInt(value.slice(BIG.length));
    const n = Number(big);
    return Number.isSafeInteger(n) ? n : big;
  }) as Record<string, unknown>;
}

/**
 * operator/test/fixtures/ of the repository: found from the compiled file's location
 * (dist/operator/test/) or, when compiled elsewhere, from the working directory.
 */
export function fixturesDir(): string {
  const candidates = [
    fileURLToPath(new URL('../../../operator/test/fixtures', import.meta.url)),
    join(process.cwd(), 'operator/test/fixtures'),
  ];
  const dir = candidates.find((d) => existsSync(join(d, 'events')));
  if (!dir) throw new Error(`operator/test/fixtures not found (tried ${candidates.join(', ')})`);
  return dir;
}

/** operator/test/fixtures/events/, the sample Falco alerts. */
export function eventsDir(): string {
  return join(fixturesDir(), 'events');
}

/** File names of the sample alerts under operator/test/fixtures/events/. */
export function sampleFiles(): string[] {
  return readdirSync(join(fixturesDir(), 'events'))
    .filter((f) => f.endsWith('.json'))
    .sort();
}

/** The FalcoEvent of a sample file under operator/test/fixtures/events/. */
export function sampleEvent(file: string): FalcoEvent {
  return eventFrom(parseFalcoJson(readFileSync(join(fixturesDir(), 'events', file), 'utf8')));
}

export interface RuleOptions {
  /** Set: a TalonRule (tenant rule) in this namespace; absent: a ClusterTalonRule. */
  namespace?: string;
  order?: number;
  continue?: boolean;
  suspend?: boolean;
  dryRun?: boolean;
  cooldownMs?: number;
  match?: MatchSpec;
}

/**
 * A CompiledRule with a compiled match block and no actions: a ClusterTalonRule (cluster
 * scope) without `opts.namespace`, a TalonRule (tenant scope) in `opts.namespace` with it.
 */
export function ruleOf(name: string, opts: RuleOptions = {}, compile: CompileMatchOptions = {}): CompiledRule {
  const kind = opts.namespace === undefined ? 'ClusterTalonRule' : 'TalonRule';
  const namespace = opts.namespace ?? '';
  const compiled = compileMatch(opts.match, 'spec.match', compile);
  if (!compiled.ok) throw new Error(`ruleOf(${name}): ${JSON.stringify(compiled.errors)}`);
  return Object.freeze({
    kind,
    key: ruleKey(kind, namespace, name),
    namespace,
    name,
    uid: `uid-${namespace}-${name}`,
    generation: 1,
    scope: scopeOfKind(kind),
    order: opts.order ?? 0,
    continue: opts.continue ?? true,
    suspend: opts.suspend ?? false,
    dryRun: opts.dryRun ?? false,
    cooldownMs: opts.cooldownMs ?? 0,
    matcher: compiled.matcher,
    actions: Object.freeze([]),
    notifiers: Object.freeze([]),
  });
}

/**
 * A temporary directory for one test file: created before its tests, removed after them.
 * `file(name, text)` writes a file there and returns its path; `path(name)` only names one.
 */
export function tempFiles(prefix: string): { file(name: string, text: string): string; path(name: string): string } {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    file(name, text) {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    path: (name) => join(dir, name),
  };
}

/**
 * An Outcome for notifier tests: a terminate of pod shop/web-1 by TalonRule shop/kill-shells
 * that succeeded, with the alert it answered; `over` replaces whole fields.
 */
export function sampleOutcome(over: Partial<Outcome> = {}): Outcome {
  return {
    time: '2024-03-05T10:11:12.345Z',
    traceId: 'trace-1',
    rule: { kind: 'TalonRule', namespace: 'shop', name: 'kill-shells', uid: 'u1' },
    action: 'kill',
    actionner: 'kubernetes:terminate',
    target: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'p1' },
    result: 'Succeeded',
    reason: 'Terminated',
    message: 'terminated',
    durationMs: 12,
    ingestToActionMs: 1,
    objects: [],
    falcoRule: 'Terminal shell in container',
    priority: 'Warning',
    alert: { time: '2024-03-05T10:11:12.000Z', source: 'syscall', hostname: 'node-1', output: 'A shell was spawned' },
    merged: 0,
    ...over,
  };
}

/** The probe of issue 14: four nested all() over 300-element lists, ~8·10⁹ iterations. */
export function issueCondition(): string {
  const list = `[${Array(300).fill('1').join(',')}]`;
  return `${list}.all(a, ${list}.all(b, ${list}.all(c, ${list}.all(d, a + b + c + d > 0))))`;
}

/** Nested all() over literal lists of `n` elements, `depth` deep. */
export function nestedCondition(n: number, depth: number): string {
  const list = `[${Array(n).fill('1').join(',')}]`;
  let body = `${Array.from({ length: depth }, (_, d) => `x${d}`).join(' + ')} > 0`;
  for (let d = depth - 1; d >= 0; d--) body = `${list}.all(x${d}, ${body})`;
  return body;
}

/** The most expensive nestedCondition(n, depth) the compiler accepts (largest n). */
export function maximalAllowedCondition(env: ConditionEnvironment, depth = 2): { source: string; n: number } {
  let lo = 1;
  let hi = 300;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (env.compile(nestedCondition(mid, depth)).ok) lo = mid;
    else hi = mid - 1;
  }
  return { source: nestedCondition(lo, depth), n: lo };
}
