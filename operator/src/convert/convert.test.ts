import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { fixturesDir } from '../../test/builders.js';
import { builtinActionners } from '../actionners/index.js';
import { ConditionEnvironment } from '../rules/match-cel.js';
import { eventFrom } from '../../test/builders.js';
import { convertTalon, slug, type ConvertResult, type Manifest } from './convert.js';

const actionners = new Map(builtinActionners().map((a) => [a.info.name, a]));
const find = (name: string) => actionners.get(name);

/** Converts YAML texts named a.yaml, b.yaml … (in that order). */
function convertTexts(texts: readonly string[], extra: { namespace?: string; gcpProject?: string } = {}): ConvertResult {
  return convertTalon({
    files: texts.map((content, i) => ({ file: `${String.fromCharCode(97 + i)}.yaml`, content })),
    minioProfile: 'minio',
    actionner: find,
    ...extra,
  });
}

const byName = (r: ConvertResult, name: string): Manifest => {
  const m = r.manifests.find((x) => x.metadata.name === name);
  assert.ok(m, `no manifest ${name} in ${r.manifests.map((x) => x.metadata.name).join(', ')}`);
  return m;
};
const spec = (r: ConvertResult, name: string) => byName(r, name).spec as unknown as Record<string, any>;

/** The pairs of the reference files: a base file and its override, converted together. */
export const TALON_PAIRS = [
  ['falcosecurity-falco-talon__rules.yaml', 'falcosecurity-falco-talon__rules_override.yaml'],
  ['falcosecurity-charts__charts-falco-talon__rules.yaml', 'falcosecurity-charts__charts-falco-talon__rules_override.yaml'],
] as const;

describe('convert: golden output of the reference Talon files', () => {
  const dir = join(fixturesDir(), 'talon-rules');
  for (const pair of TALON_PAIRS) {
    test(`${pair.join(' + ')} converts to the golden manifests and warnings, byte for byte`, () => {
      const r = convertTalon({
        files: pair.map((f) => ({ file: f, content: readFileSync(join(dir, f), 'utf8') })),
        minioProfile: 'minio',
        gcpProject: 'my-project',
        actionner: find,
      });
      assert.deepEqual(r.errors, []);
      const golden = join(dir, 'golden', basename(pair[0], '.yaml'));
      const warnings = r.warnings.map((w) => `warning: ${w}\n`).join('');
      if (process.env.UPDATE_GOLDEN === '1') {
        mkdirSync(join(dir, 'golden'), { recursive: true });
        writeFileSync(`${golden}.yaml`, r.yaml);
        writeFileSync(`${golden}.warnings.txt`, warnings);
      }
      assert.equal(r.yaml, readFileSync(`${golden}.yaml`, 'utf8'));
      assert.equal(warnings, readFileSync(`${golden}.warnings.txt`, 'utf8'));
      // Deterministic: a second run gives the same bytes.
      const again = convertTalon({ files: pair.map((f) => ({ file: f, content: readFileSync(join(dir, f), 'utf8') })), minioProfile: 'minio', gcpProject: 'my-project', actionner: find });
      assert.equal(again.yaml, r.yaml);
      assert.ok(existsSync(`${golden}.yaml`));
    });
  }
});

describe('convert: Talon merge and override semantics (talon-compat §3.6)', () => {
  test('a later action block folds into the first: scalars replaced, lists appended, maps merged key-wise, output target first-wins', () => {
    const r = convertTexts([
      `- action: Isolate
  actionner: calico:networkpolicy
  parameters: {order: 1, allow_cidr: [10.0.0.0/8]}
- action: Grab
  actionner: kubernetes:log
  parameters: {tail_lines: 5}
  output: {target: aws:s3, parameters: {bucket: first, prefix: a/}}
- action: Mark
  actionner: kubernetes:label
  parameters: {labels: {a: "1", b: "1"}}
`,
      `- action: Isolate
  parameters: {order: 2, allow_cidr: [192.168.0.0/16]}
- action: Grab
  output: {target: gcp:gcs, parameters: {bucket: second}}
- action: Mark
  parameters: {labels: {b: "2", c: "2"}}
`,
    ]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(spec(r, 'isolate').parameters, { order: 2, allowCIDRs: ['10.0.0.0/8', '192.168.0.0/16'] });
    assert.deepEqual(spec(r, 'grab').output, { target: 'aws:s3', parameters: { bucket: 'second', prefix: 'a/' } });
    assert.deepEqual(spec(r, 'mark').parameters, { labels: { a: '1', b: '2', c: '2' } });
  });

  test('a later rule block appends match lists and actions, replaces continue, and clears priority and source it does not repeat', () => {
    const r = convertTexts([
      `- rule: Shell
  match: {rules: [A], priority: ">=Warning", source: syscall, output_fields: ["k8s.ns.name=prod"]}
  actions: [{action: One, actionner: kubernetes:label, parameters: {labels: {x: y}}}]
`,
      `- rule: Shell
  continue: "false"
  match: {rules: [B], output_fields: ["k8s.ns.name=staging"]}
  actions: [{action: Two, actionner: kubernetes:terminate}]
`,
    ]);
    assert.deepEqual(r.errors, []);
    const s = spec(r, 'shell');
    assert.deepEqual(s.match.rules, ['A', 'B']);
    assert.equal(s.match.priority, undefined);
    assert.equal(s.match.sources, undefined);
    assert.equal(s.continue, false);
    assert.deepEqual(
      s.actions.map((a: { name: string }) => a.name),
      ['one', 'two'],
    );
    // Two OR-groups now: one CEL condition.
    assert.equal(s.match.outputFields, undefined);
    assert.match(s.match.condition, /prod.*\|\|.*staging/);
  });

  test("a rule's entry overriding a block resolves as Talon does: lists = block's + entry's, the block's map keys win; emitted as a reference with overrides", () => {
    const r = convertTexts([
      `- action: Mark
  actionner: kubernetes:label
  parameters: {labels: {status: suspicious}, level: pod}
- action: Isolate
  actionner: kubernetes:networkpolicy
  parameters: {allow_cidr: [10.0.0.0/8]}
- rule: R
  actions:
    - action: Mark
      parameters: {labels: {status: ignored, team: a}}
    - action: Isolate
      continue: "false"
      parameters: {allow_cidr: [192.168.0.0/16]}
`,
    ]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(spec(r, 'r').actions, [
      { action: 'mark', parameters: { labels: { team: 'a', status: 'suspicious' } } },
      { action: 'isolate', parameters: { allowCIDRs: ['10.0.0.0/8', '192.168.0.0/16'] }, continue: false },
    ]);
  });

  test('an entry that changes what a reference cannot (actionner, output) becomes an inline action', () => {
    const r = convertTexts([
      `- action: Logs
  actionner: kubernetes:log
- rule: R
  actions:
    - action: Logs
      output: {target: local:file, parameters: {destination: /tmp}}
`,
    ]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(spec(r, 'r').actions, [{ name: 'logs', actionner: 'kubernetes:log', output: { target: 'local:file' } }]);
  });

  test('rules keep Talon order through order, and distinct names that slug alike stay distinct', () => {
    const r = convertTexts([
      `- rule: Zeta
  actions: [{action: a, actionner: kubernetes:cordon}]
- rule: "Alpha!"
  actions: [{action: a, actionner: kubernetes:cordon}]
- rule: "alpha?"
  actions: [{action: a, actionner: kubernetes:cordon}]
`,
    ]);
    assert.deepEqual(
      r.manifests.map((m) => [m.metadata.name, (m.spec as { order?: number }).order, m.metadata.annotations['talon.dev/talon-name']]),
      [
        ['zeta', 10, 'Zeta'],
        ['alpha', 20, 'Alpha!'],
        ['alpha-2', 30, 'alpha?'],
      ],
    );
    assert.equal(slug('***', 'rule'), 'rule');
  });
});

describe('convert: parameters, old names and what Talon ignores', () => {
  test('snake_case becomes the declared camelCase keys; renamed ones too', () => {
    const r = convertTexts([
      `- action: T
  actionner: kubernetes:terminate
  parameters: {grace_period_seconds: 3, ignore_daemonsets: true, ignore_statefulsets: "true", min_healthy_replicas: 2}
- action: D
  actionner: kubernetes:drain
  parameters: {ignore_daemonsets: false, max_wait_period: 60}
- action: L
  actionner: aws:lambda
  parameters: {aws_lambda_name: fn, aws_lambda_alias_or_version: "7", aws_lambda_invocation_type: Event}
`,
    ]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(spec(r, 't').parameters, { gracePeriodSeconds: 3, ignoreDaemonSets: true, ignoreStatefulSets: 'true', minHealthyReplicas: '2' });
    assert.deepEqual(spec(r, 'd').parameters, { ignoreDaemonSets: false, maxWaitSeconds: 60 });
    assert.deepEqual(spec(r, 'l').parameters, { functionName: 'fn', qualifier: '7', invocationType: 'Event' });
  });

  test('kubernetes:labelize is kubernetes:label; unknown keys anywhere are warned about and dropped, never copied', () => {
    const r = convertTexts([
      `- action: Old
  actionner: kubernetes:labelize
  priority: high
  parameters: {labels: {a: b}, ignoreDaemonsets: true}
- rule: R
  enabled: false
  match: {rules: [X], namespaces: [a]}
  actions: [{action: Old}]
- macro: not talon
`,
    ]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(spec(r, 'old'), { actionner: 'kubernetes:label', parameters: { labels: { a: 'b' } } });
    assert.deepEqual(spec(r, 'r').match, { rules: ['X'] });
    const w = r.warnings.join('\n');
    for (const bit of ["kubernetes:labelize is Talon's old name", "unknown key 'priority'", "'ignoreDaemonsets' is not a kubernetes:label parameter", "unknown key 'enabled'", "unknown key 'namespaces'", 'item 3 is neither']) {
      assert.ok(w.includes(bit), `no warning about ${bit} in:\n${w}`);
    }
    assert.ok(!r.yaml.includes('enabled') && !r.yaml.includes('ignoreDaemonsets') && !r.yaml.includes('namespaces'));
  });

  test("exec's shell string becomes the rule's own script text, run in every container; reserved names are read under a prefix", () => {
    const r = convertTexts([
      `- rule: R
  actions:
    - action: Plain
      actionner: kubernetes:exec
      parameters: {command: 'echo "$FD_NAME" > /tmp/x; ls \${PROC_CWD}', shell: /bin/bash}
    - action: Node
      actionner: kubernetes:exec
      additional_contexts: [k8snode]
      parameters: {command: 'echo "\${NODE_HOSTNAME} $FD_NAME $HOME"'}
`,
    ]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(spec(r, 'r').actions, [
      { name: 'plain', actionner: 'kubernetes:script', parameters: { script: 'echo "$FD_NAME" > /tmp/x; ls ${PROC_CWD}', shell: '/bin/bash', allContainers: true } },
      {
        name: 'node',
        actionner: 'kubernetes:script',
        parameters: { script: 'echo "${TALON_NODE_HOSTNAME} $TALON_FD_NAME $HOME"', allContainers: true, envPrefix: 'TALON_' },
        additionalContexts: ['k8snode'],
      },
    ]);
  });

  test('download: ${FD_NAME} is fileFromField fd.name; a path is file; a path mixing text and a variable is an error', () => {
    const ok = convertTexts([
      `- rule: R
  actions:
    - {action: A, actionner: kubernetes:download, parameters: {file: "\${FD_NAME}"}, output: {target: local:file, parameters: {destination: /x}}}
    - {action: B, actionner: kubernetes:download, parameters: {file: /etc/passwd}, output: {target: local:file, parameters: {destination: /x}}}
`,
    ]);
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(
      spec(ok, 'r').actions.map((a: { parameters: unknown }) => a.parameters),
      [{ fileFromField: 'fd.name' }, { file: '/etc/passwd' }],
    );
    const bad = convertTexts([`- rule: R\n  actions: [{action: A, actionner: kubernetes:download, parameters: {file: "/tmp/\${FD_NAME}"}, output: {target: local:file, parameters: {destination: /x}}}]\n`]);
    assert.match(bad.errors.join('\n'), /mixes text and variables/);
    assert.equal(bad.yaml, '');
  });

  test('outputs: minio:s3 → aws:s3 with the endpoint profile; a leading / of a prefix removed; per-action region/destination dropped with a note', () => {
    const r = convertTexts([
      `- rule: R
  actions:
    - {action: A, actionner: kubernetes:log, output: {target: minio:s3, parameters: {bucket: b, prefix: /files/}}}
    - {action: B, actionner: kubernetes:log, output: {target: aws:s3, parameters: {bucket: c, region: eu-west-1, acl: private}}}
`,
    ]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      spec(r, 'r').actions.map((a: { output: unknown }) => a.output),
      [
        { target: 'aws:s3', parameters: { bucket: 'b', prefix: 'files/', profile: 'minio' } },
        { target: 'aws:s3', parameters: { bucket: 'c' } },
      ],
    );
    assert.match(r.warnings.join('\n'), /output parameter 'acl' is not a aws:s3 parameter/);
  });

  test('gcp:function needs --gcp-project for its URL; Talon load errors are errors and nothing is printed', () => {
    const gcp = `- action: G\n  actionner: gcp:function\n  parameters: {gcp_function_name: f, gcp_function_location: europe-west1}\n`;
    assert.match(convertTexts([gcp]).errors.join('\n'), /--gcp-project/);
    assert.deepEqual(spec(convertTexts([gcp], { gcpProject: 'p' }), 'g').parameters, { url: 'https://europe-west1-p.cloudfunctions.net/f' });
    for (const [text, why] of [
      ['- rule: R\n  actions: [{action: A}]\n', /no actionner/],
      ['- rule: R\n  match: {priority: Info}\n  actions: [{action: A, actionner: kubernetes:cordon}]\n', /priority "Info"/],
      ['- rule: R\n  match: {output_fields: ["k8s_ns=x"]}\n  actions: [{action: A, actionner: kubernetes:cordon}]\n', /output_fields clause/],
      ['- rule: R\n  continue: maybe\n  actions: [{action: A, actionner: kubernetes:cordon}]\n', /"true" or "false"/],
      ['- rule: R\n  actions: [{action: A, actionner: kubernetes:nope}]\n', /unknown actionner/],
      ['rule: R\n', /YAML list/],
    ] as const) {
      const r = convertTexts([text]);
      assert.match(r.errors.join('\n'), why);
      assert.equal(r.yaml, '');
    }
  });

  test('--namespace gives TalonRule/TalonAction in that namespace, references to TalonActions', () => {
    const r = convertTexts([`- action: M\n  actionner: kubernetes:label\n  parameters: {labels: {a: b}}\n- rule: R\n  actions: [{action: M}]\n`], { namespace: 'team-a' });
    const docs = parseAllDocuments(r.yaml).map((d) => d.toJS());
    assert.deepEqual(
      docs.map((d) => [d.kind, d.metadata.namespace]),
      [
        ['TalonAction', 'team-a'],
        ['TalonRule', 'team-a'],
      ],
    );
    assert.deepEqual(docs[1].spec.actions, [{ action: 'm' }]);
    assert.ok(parse(r.yaml.split('---')[0]!));
  });
});

describe('convert: output_fields OR-groups as a CEL condition with Talon semantics', () => {
  const env = new ConditionEnvironment();
  const r = convertTexts([
    `- rule: R
  match:
    output_fields:
      - k8s.ns.name=prod, fd.sport=443, k8s.pod.name!=keep
      - 'k8s.ns.name="staging"'
  actions: [{action: A, actionner: kubernetes:cordon}]
`,
  ]);
  const condition = spec(r, 'r').match.condition as string;
  const compiled = env.compile(condition);
  assert.ok(compiled.ok, condition);
  const matches = (fields: Record<string, unknown>) => (compiled.ok ? compiled.program.evaluate(eventFrom({ rule: 'x', output_fields: fields })) : undefined);
  const cases: [Record<string, unknown>, boolean, string][] = [
    [{ 'k8s.ns.name': 'prod', 'fd.sport': 443 }, true, 'a number compares by its text, as Talon\'s %v'],
    [{ 'k8s.ns.name': 'prod', 'fd.sport': '443' }, true, 'a string equal to the value'],
    [{ 'k8s.ns.name': 'prod', 'fd.sport': 443, 'k8s.pod.name': null }, true, 'a != clause on null passes'],
    [{ 'k8s.ns.name': 'prod', 'fd.sport': 443, 'k8s.pod.name': 'keep' }, false, 'the != clause holds'],
    [{ 'k8s.ns.name': 'prod', 'fd.sport': 80 }, false, 'one = clause misses'],
    [{ 'k8s.ns.name': 'prod' }, false, 'an = clause on an absent field misses'],
    [{ 'k8s.ns.name': 'staging' }, true, 'the second group; quotes stripped from the value'],
    [{ 'k8s.ns.name': null }, false, 'null is never equal'],
    [{}, false, 'nothing'],
  ];
  for (const [fields, want, why] of cases) {
    test(`${JSON.stringify(fields)} → ${want} (${why})`, () => assert.equal(matches(fields), want));
  }
});
