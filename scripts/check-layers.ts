/**
 * Keeps the arrows between the rooms of operator/src pointing one way (STYLE.md "Layout").
 * A room is the first folder under operator/src (`lib`, `falco`, `rules`, …) or, for a file
 * at the top, its name (`main`, `cli`, `errors`). Every relative import of every file,
 * tests included, must land in the same room or in one the table allows. Imports of
 * operator/test (fakes, builders) are allowed from test files only.
 *
 *   node dist/scripts/check-layers.js     exit 1 and list every upward import
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Which rooms each room may import. `*` = any. A room not in the table is an error. */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  lib: [],
  errors: [],
  api: ['lib', 'errors'],
  config: ['lib', 'api', 'errors'],
  observability: ['lib', 'errors'],
  falco: ['lib', 'errors'],
  kube: ['lib', 'errors'],
  outputs: ['lib', 'api', 'falco', 'kube', 'errors'],
  actionners: ['lib', 'api', 'falco', 'kube', 'errors'],
  notifiers: ['lib', 'api', 'falco', 'kube', 'observability', 'errors'],
  coordination: ['lib', 'kube', 'errors'],
  rules: ['lib', 'api', 'falco', 'actionners', 'outputs', 'errors'],
  dispatch: ['lib', 'api', 'config', 'falco', 'rules', 'kube', 'actionners', 'outputs', 'notifiers', 'observability', 'coordination', 'errors'],
  controller: ['lib', 'api', 'kube', 'rules', 'actionners', 'outputs', 'notifiers', 'observability', 'errors'],
  journal: ['lib', 'falco', 'errors'],
  http: ['lib', 'api', 'config', 'falco', 'dispatch', 'observability', 'errors'],
  console: ['lib', 'api', 'config', 'falco', 'rules', 'dispatch', 'kube', 'observability', 'errors'],
  convert: ['lib', 'api', 'actionners', 'rules', 'errors'],
  main: ['*'],
  cli: ['*'],
  plugin: ['*'],
};

export interface ImportEdge {
  /** Path of the importing file, relative to the source root. */
  readonly from: string;
  /** Path of the imported file, relative to the source root ('..' paths leave it). */
  readonly to: string;
}

export function roomOf(relPath: string): string {
  const parts = relPath.split(/[\\/]/);
  return parts.length === 1 ? parts[0]!.replace(/(\.test)?\.ts$/, '') : parts[0]!;
}

/** Every violation of `layers` among `edges`, as one readable line each. */
export function violations(edges: readonly ImportEdge[], layers: Readonly<Record<string, readonly string[]>> = LAYERS): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const fromRoom = roomOf(e.from);
    const allowed = layers[fromRoom];
    if (allowed === undefined) {
      out.push(`${e.from}: room '${fromRoom}' is not in the layering table (scripts/check-layers.ts)`);
      continue;
    }
    if (e.to.startsWith('..')) {
      const isTest = e.from.endsWith('.test.ts');
      if (!(isTest && e.to.startsWith(`..${sep}test${sep}`)) && !(isTest && e.to.startsWith('../test/'))) out.push(`${e.from} imports ${e.to}: outside operator/src${isTest ? '' : ' (only tests may import operator/test)'}`);
      continue;
    }
    const toRoom = roomOf(e.to);
    if (toRoom === fromRoom || allowed.includes('*') || allowed.includes(toRoom)) continue;
    out.push(`${e.from} imports ${e.to}: '${fromRoom}' may not import '${toRoom}' (allowed: ${allowed.join(', ') || 'nothing of ours'})`);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

/** The relative imports of one TypeScript source text. */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  for (const m of source.matchAll(IMPORT)) specs.push((m[1] ?? m[2])!);
  return specs;
}

/** Every relative import edge of the .ts files under `root`. */
export function scan(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        for (const spec of importsOf(readFileSync(p, 'utf8'))) {
          const target = resolve(dirname(p), spec.replace(/\.js$/, '.ts'));
          edges.push({ from: relative(root, p), to: relative(root, target) });
        }
      }
    }
  };
  walk(root);
  return edges;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const found = violations(scan(resolve('operator/src')));
  for (const v of found) console.error(v);
  if (found.length > 0) {
    console.error(`${found.length} import(s) against the layering table`);
    process.exit(1);
  }
  console.log('layers: every import points down');
}
