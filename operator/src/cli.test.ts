import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventsDir, issueCondition, tempFiles } from '../test/builders.js';
import { check, testEvent, type CliOutput } from './cli.js';

/** Captures what a command writes. */
function capture(): CliOutput & { out: string; err: string } {
  const c = {
    out: '',
    err: '',
    stdout: (t: string) => void (c.out += t),
    stderr: (t: string) => void (c.err += t),
  };
  return c;
}

const tmp = tempFiles('talon-cli-');
const file = tmp.file;

/** The sample alert: "Terminal shell in container" about pod kubecon in namespace default. */
const SHELL_ALERT = join(eventsDir(), 'terminal-shell-in-container.json');

const MANIFESTS = `
apiVersion: talon.dev/v1alpha1
kind: ClusterTalonAction
metadata: {name: mark}
spec: {actionner: 'kubernetes:label', parameters: {labels: {seen: 'yes'}}}
---
apiVersion: talon.dev/v1alpha1
kind: ClusterTalonRule
metadata: {name: shell}
spec:
  order: 100
  match: {rules: [Terminal shell in container]}
  actions: [{action: mark}]
---
apiVersion: talon.dev/v1alpha1
kind: TalonRule
metadata: {name: shell, namespace: default}
spec:
  order: -100
  continue: false
  match: {rules: [Terminal shell in container]}
  actions: [{action: mark, kind: ClusterTalonAction, parameters: {labels: {tenant: 'yes'}}}]
---
apiVersion: talon.dev/v1alpha1
kind: TalonRule
metadata: {name: later, namespace: default}
spec:
  order: 0
  match: {rules: [Terminal shell in container]}
  actions: [{name: lbl, actionner: 'kubernetes:label', parameters: {labels: {x: 'y'}}}]
---
apiVersion: talon.dev/v1alpha1
kind: TalonRule
metadata: {name: elsewhere, namespace: team-b}
spec:
  match: {rules: [Terminal shell in container]}
  actions: [{name: lbl, actionner: 'kubernetes:label', parameters: {labels: {x: 'y'}}}]
`;

describe('check', () => {
  test('the samples in config/samples: one of each kind, no problems (run from the repository root)', (t) => {
    const samples = join(process.cwd(), 'config', 'samples');
    if (!existsSync(samples)) {
      t.skip(`no config/samples under ${process.cwd()}`);
      return;
    }
    const files = ['clustertalonaction', 'clustertalonrule', 'talonaction', 'talonrule'].map((k) => join(samples, `talon.dev_v1alpha1_${k}.yaml`));
    const c = capture();
    assert.equal(check(files, c), 0, c.err);
    assert.equal(c.out, '2 rules (2 valid), 2 actions; 0 problems\n');
    assert.equal(c.err, '');
  });

  test('the four kinds, with what admission and the compiler refuse, named by kind', () => {
    const path = file(
      'bad.yaml',
      `${MANIFESTS}
---
apiVersion: talon.dev/v1alpha1
kind: ClusterTalonRule
metadata: {name: names-a-talonaction}
spec:
  actions: [{action: mark, kind: TalonAction}]
---
apiVersion: talon.dev/v1alpha1
kind: TalonRule
metadata: {name: cordon, namespace: talon-system}
spec:
  actions: [{name: c, actionner: 'kubernetes:cordon'}]
---
apiVersion: talon.dev/v1alpha1
kind: TalonAction
metadata: {name: drain, namespace: talon-system}
spec: {actionner: 'kubernetes:drain'}
---
apiVersion: talon.dev/v1alpha1
kind: ClusterTalonAction
metadata: {name: drain, namespace: ignored}
spec: {actionner: 'kubernetes:drain'}
`,
    );
    const c = capture();
    assert.equal(check([path], c), 1);
    assert.equal(c.out, '6 rules (4 valid), 3 actions; 3 problems\n');
    const lines = c.err.trimEnd().split('\n');
    assert.equal(lines.length, 3, c.err);
    assert.match(lines[0]!, /^TalonAction talon-system\/drain: spec kubernetes:drain: acts on the node level, which a TalonAction may not do/);
    assert.match(
      lines[1]!,
      /^ClusterTalonRule names-a-talonaction: InvalidSpec: spec\.actions\[0\]: a ClusterTalonRule may reference only ClusterTalonActions: set kind: ClusterTalonAction or leave kind out$/,
    );
    assert.match(lines[2]!, /^TalonRule talon-system\/cordon: ScopeNotAllowed: spec\.actions\[0\] kubernetes:cordon: acts on the node level, which a TalonRule may not do/);
  });

  test('no file: usage, exit 2', () => {
    const c = capture();
    assert.equal(check([], c), 2);
    assert.match(c.err, /^usage:/);
  });
});

describe('test', () => {
  test('ClusterTalonRules first, then the TalonRules of the target namespace; a tenant continue: false stops only tenant rules', () => {
    const path = file('rules.yaml', MANIFESTS);
    const c = capture();
    assert.equal(testEvent(['--event', SHELL_ALERT, path], c), 0, c.err);
    assert.equal(c.err, '');
    const lines = c.out.trimEnd().split('\n');
    assert.match(lines[0]!, /^alert: rule="Terminal shell in container" .*namespace=default$/m);
    assert.deepEqual(
      lines.slice(1).map((l) => l.replace(/ {2,}/g, ' ').split(':')[0]),
      [
        'MATCH ClusterTalonRule shell',
        ' would run mark (kubernetes',
        'MATCH TalonRule default/shell',
        ' would run mark (kubernetes',
        'NO TalonRule default/later',
        'NO TalonRule team-b/elsewhere',
      ],
    );
    assert.match(c.out, /would run mark \(kubernetes:label\) \{"labels":\{"seen":"yes","tenant":"yes"\}/);
    assert.match(c.out, /NO {5}TalonRule default\/later: continue: not evaluated: TalonRule default\/shell matched first/);
    assert.match(c.out, /NO {5}TalonRule team-b\/elsewhere: namespace: tenant rule of namespace "team-b" only matches alerts whose target is in "team-b"; the target's namespace is "default"/);
  });

  test('--control-namespace is gone: exit 2 with the reason', () => {
    const path = file('rules2.yaml', MANIFESTS);
    for (const args of [['--control-namespace', 'talon-system'], ['--control-namespace=talon-system']]) {
      const c = capture();
      assert.equal(testEvent(['--event', SHELL_ALERT, ...args, path], c), 2);
      assert.match(c.err, /^--control-namespace was removed: a ClusterTalonRule is cluster-wide and a TalonRule is confined to its namespace/);
      assert.equal(c.out, '');
    }
  });

  test('bad input: usage errors exit 2, an unreadable or invalid alert exits 1', () => {
    const rules = file('rules3.yaml', MANIFESTS);
    const c = capture();
    assert.equal(testEvent(['--event', SHELL_ALERT], c), 2);
    assert.equal(testEvent(['--nope', rules], c), 2);
    assert.match(c.err, /Unknown option '--nope'/);
    assert.equal(testEvent(['--event', tmp.path('missing.json'), rules], c), 1);
    assert.equal(testEvent(['--event', file('bad.json', '{"rule": 1}'), rules], c), 1);
    assert.match(c.err, /not a Falco alert/);
  });
});

describe('kind: List and multi-document files (issue 18)', () => {
  /** MANIFESTS as one `kind: List`, as `kubectl get -o yaml` prints several objects. */
  const asList = (): string => {
    const docs = MANIFESTS.split(/^---$/m).map((d) => d.trim()).filter((d) => d !== '');
    const items = docs.map((d) => `- ${d.split('\n').join('\n  ')}`).join('\n');
    return `apiVersion: v1\nkind: List\nmetadata: {resourceVersion: ""}\nitems:\n${items}\n`;
  };

  test('check reads a List exactly as the same objects in multi-document YAML', () => {
    const multi = capture();
    assert.equal(check([file('multi.yaml', MANIFESTS)], multi), 0, multi.err);
    const list = capture();
    assert.equal(check([file('list.yaml', asList())], list), 0, list.err);
    assert.equal(list.out, multi.out);
    assert.match(list.out, /^4 rules \(4 valid\), 1 actions; 0 problems/);
  });

  test('check finds the problems of objects inside a List', () => {
    const c = capture();
    const bad = asList().replace("actionner: 'kubernetes:label', parameters: {labels: {x: 'y'}}", "actionner: 'kubernetes:nope'");
    assert.equal(check([file('bad-list.yaml', bad)], c), 1);
    assert.match(c.err, /TalonRule default\/later: UnknownActionner/);
  });

  test('a file with no TalonRule/TalonAction (of either scope) is an error for check and test, not a silent pass', () => {
    const empty = file('configmap.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
    const emptyList = file('empty-list.yaml', 'apiVersion: v1\nkind: List\nitems: []\n');
    const wrongVersion = file('v2.yaml', 'apiVersion: talon.dev/v2\nkind: TalonRule\nmetadata: {name: x}\nspec: {actions: []}\n');
    for (const [path, why] of [
      [empty, /configmap\.yaml: no TalonRule, ClusterTalonRule, TalonAction, ClusterTalonAction in it/],
      [emptyList, /empty-list\.yaml: no TalonRule/],
      [wrongVersion, /v2\.yaml \(document 1\): TalonRule x: apiVersion "talon.dev\/v2" is not talon.dev\/v1alpha1/],
    ] as const) {
      const c = capture();
      assert.equal(check([path], c), 1, path);
      assert.match(c.err, why);
      const t = capture();
      assert.equal(testEvent(['--event', SHELL_ALERT, path], t), 1, path);
      assert.match(t.err, why);
    }
  });

  test('test reads a List: the same rules match as from multi-document YAML', () => {
    const multi = capture();
    assert.equal(testEvent(['--event', SHELL_ALERT, file('multi2.yaml', MANIFESTS)], multi), 0, multi.err);
    const list = capture();
    assert.equal(testEvent(['--event', SHELL_ALERT, file('list2.yaml', asList())], list), 0, list.err);
    assert.equal(list.out, multi.out);
    assert.match(list.out, /^MATCH {2}ClusterTalonRule shell$/m);
  });
});

test('test: an escalation rule shows what each step would run and at which match', () => {
  const path = file('ladder.yaml', `
apiVersion: talon.dev/v1alpha1
kind: ClusterTalonRule
metadata: {name: ladder}
spec:
  match: {rules: [Terminal shell in container]}
  escalation:
    window: 10m
    steps:
      - {after: 1, actions: [{name: mark, actionner: 'kubernetes:label', parameters: {labels: {seen: 'yes'}}, revertAfter: 1h}]}
      - {after: 3, actions: [{name: kill, actionner: 'kubernetes:terminate'}]}
`);
  const c = capture();
  assert.equal(testEvent(['--event', SHELL_ALERT, path], c), 0, c.err);
  assert.deepEqual(
    c.out.trimEnd().split('\n').slice(1).map((l) => l.trim().replace(/ \{.*$/, '')),
    ['MATCH  ClusterTalonRule ladder', 'step 1, at match 1 for the target within the window:', 'would run mark (kubernetes:label)', 'step 2, at match 3 for the target within the window:', 'would run kill (kubernetes:terminate)'],
  );
});

describe('check: bounded cost', () => {
  test("the issue's CEL and regex probes: the same messages the operator writes in the Accepted condition", () => {
    const path = file(
      'cost.yaml',
      `apiVersion: talon.dev/v1alpha1
kind: ClusterTalonRule
metadata: {name: costly-cel}
spec:
  match: {condition: ${JSON.stringify(issueCondition())}}
  actions: [{name: l, actionner: 'kubernetes:label', parameters: {labels: {x: 'y'}}}]
---
apiVersion: talon.dev/v1alpha1
kind: ClusterTalonRule
metadata: {name: costly-regex}
spec:
  match: {outputFields: [{key: proc.cmdline, operator: Matches, values: [${JSON.stringify('.{1000}'.repeat(146))}]}]}
  actions: [{name: l, actionner: 'kubernetes:label', parameters: {labels: {x: 'y'}}}]
`,
    );
    const c = capture();
    assert.equal(check([path], c), 1);
    assert.match(c.err, /costly-cel.*spec\.match\.condition: estimated cost \d+ exceeds the limit of 100000 evaluation steps/);
    assert.match(c.err, /costly-regex.*spec\.match\.outputFields\[0\]\.values\[0\]: invalid RE2 regular expression: the regular expression expands to 146000 instructions/);
  });
});
