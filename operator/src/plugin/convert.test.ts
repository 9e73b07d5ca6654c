import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fixturesDir } from '../../test/builders.js';
import { runPlugin } from './kubectl-talon.js';

test('kubectl talon convert is talon-operator convert: manifests on stdout, warnings on stderr', async () => {
  const dir = join(fixturesDir(), 'talon-rules');
  const o = { out: '', err: '' };
  const io = { stdout: (t: string) => void (o.out += t), stderr: (t: string) => void (o.err += t) };
  const code = await runPlugin(['convert', join(dir, 'falcosecurity-charts__charts-falco-talon__rules.yaml'), join(dir, 'falcosecurity-charts__charts-falco-talon__rules_override.yaml')], io);
  assert.equal(code, 0, o.err);
  assert.match(o.out, /^kind: ClusterTalonRule\nmetadata:\n {2}name: terminal-shell-in-container$/m);
  assert.equal(await runPlugin(['convert'], io), 2);
});
