import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdFiles, describeDrift, writeOrCheck } from './gen-crds.js';

test('writeOrCheck writes, then checks clean, then reports drift and missing files', () => {
  const root = mkdtempSync(join(tmpdir(), 'gen-crds-'));
  try {
    const files = crdFiles();
    assert.deepEqual(files.map((f) => f.path), [
      'crds/talon.dev_talonrules.yaml',
      'crds/talon.dev_talonactions.yaml',
      'crds/talon.dev_clustertalonrules.yaml',
      'crds/talon.dev_clustertalonactions.yaml',
      'crds/talon.dev_talonapprovals.yaml',
      'crds/talon.dev_talonapprovals-admission.yaml',
    ]);
    const kustomization = parse(readFileSync(join(process.cwd(), 'crds', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    assert.deepEqual([...kustomization.resources].sort(), files.map((f) => f.path.replace('crds/', '')).sort(), 'crds/kustomization.yaml lists every CRD');
    assert.deepEqual(writeOrCheck(root, files, true), files.map((f) => `${f.path}: missing`));
    assert.deepEqual(writeOrCheck(root, files, false), []);
    assert.deepEqual(writeOrCheck(root, files, true), []);
    const p = join(root, files[0]!.path);
    writeFileSync(p, readFileSync(p, 'utf8').replace('shortNames:\n      - trule', 'shortNames:\n      - tr'));
    const problems = writeOrCheck(root, files, true);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^crds\/talon\.dev_talonrules\.yaml: out of date; first difference at line \d+:\n  - committed: +- tr\n  \+ generated: +- trule$/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('describeDrift', () => {
  assert.equal(describeDrift('a\nb', 'a\nb'), undefined);
  assert.equal(describeDrift('a\nb\n', 'a\n'), 'first difference at line 2:\n  - committed: \n  + generated: b');
  assert.equal(describeDrift('a', 'a\nextra'), 'first difference at line 2:\n  - committed: extra\n  + generated: <end of file>');
});
