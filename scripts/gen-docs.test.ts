import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { builtinActionners } from '../operator/src/actionners/index.js';
import { builtinNotifiers } from '../operator/src/notifiers/index.js';
import { builtinOutputs } from '../operator/src/outputs/index.js';
import type { Actionner } from '../operator/src/actionners/types.js';
import { docsFiles, keyTable, renderActionners, renderNotifiers, renderOutputs } from './gen-docs.js';

const keysOf = (s: unknown): string[] => Object.keys((s as { properties?: Record<string, unknown> }).properties ?? {});

test('docs/reference/: three generated pages', () => {
  assert.deepEqual(docsFiles().map((f) => f.path), ['docs/reference/actionners.md', 'docs/reference/notifiers.md', 'docs/reference/outputs.md']);
});

test('actionners.md: every declared actionner with every parameter, its RBAC rules and its example', () => {
  const doc = renderActionners();
  for (const a of builtinActionners()) {
    const section = doc.slice(doc.indexOf(`## ${a.info.name}\n`));
    const body = section.slice(0, section.indexOf('\n## ', 3) === -1 ? undefined : section.indexOf('\n## ', 3));
    assert.ok(body.length > 0, a.info.name);
    for (const key of keysOf(a.paramsSchema)) assert.match(body, new RegExp(`^\\| \`${key}\` \\|`, 'm'), `${a.info.name} ${key}`);
    for (const r of a.info.rbac) assert.ok(body.includes(`| ${(r.resources ?? []).join(', ')} | ${(r.verbs ?? []).join(', ')} |`), `${a.info.name} rbac`);
    assert.match(body, new RegExp(`actionner: ${a.info.name}\n`));
  }
  assert.match(doc, /## kubernetes:label[\s\S]*?\| acts on \| `level: pod`: the alert's pod .*; `level: node`: a node — ClusterTalonRules only/);
});

test('the pages follow the declarations: a new actionner or parameter appears without a hand-written list', () => {
  const extra: Actionner = {
    ...builtinActionners()[0]!,
    info: { ...builtinActionners()[0]!.info, name: 'example:new', description: 'A new one', example: { fresh: 3 } },
    paramsSchema: Type.Object({ fresh: Type.Integer({ minimum: 1, default: 2, description: 'A new parameter.' }) }, { additionalProperties: false }),
  };
  const doc = renderActionners([extra]);
  assert.match(doc, /^## example:new$/m);
  assert.match(doc, /^\| `fresh` \| integer \| `2` \| A new parameter\. — ≥ 1 \|$/m);
});

test('notifiers.md and outputs.md list every type with its config keys, nested ones as paths', () => {
  const n = renderNotifiers();
  for (const t of builtinNotifiers()) {
    assert.match(n, new RegExp(`^## ${t.type}$`, 'm'));
    for (const key of keysOf(t.configSchema)) assert.ok(n.includes(`| \`${key}\` |`), `${t.type} ${key}`);
  }
  for (const key of ['type', 'timeout', 'retries', 'queueSize', 'concurrency']) assert.ok(n.includes(`| \`${key}\` |`), key);
  const o = renderOutputs();
  for (const out of builtinOutputs()) {
    assert.match(o, new RegExp(`^## ${out.name}$`, 'm'));
    for (const key of keysOf(out.paramsSchema)) assert.ok(o.includes(`| \`${key}\` |`), `${out.name} ${key}`);
  }
  assert.match(o, /^\| `profiles\.<name>\.endpoint` \| string \| +\| Endpoint of an S3-compatible store/m);
});

test('keyTable: types, defaults, required, constraints', () => {
  const t = keyTable(
    Type.Object({
      a: Type.String({ description: 'x|y' }),
      b: Type.Optional(Type.Array(Type.String(), { maxItems: 3 })),
      c: Type.Union([Type.Literal('p'), Type.Literal('q')], { default: 'p' }),
      d: Type.String({ default: '' }),
    }),
  );
  assert.equal(
    t,
    [
      '| key | type | default | meaning |',
      '|---|---|---|---|',
      '| `a` | string | **required** | x\\|y |',
      '| `b` | list of string |  | ≤ 3 items |',
      '| `c` | `p` \\| `q` | `p` |  |',
      "| `d` | string | `''` |  |",
      '',
    ].join('\n'),
  );
});
