import { test } from 'node:test';
import assert from 'node:assert/strict';
import { falcoEvent } from '../../../test/fakes/kube.js';
import { alertEnv, argvWithEnv, envNameOf, envValueOf, isReservedEnvName, MAX_ENV_BYTES, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS, skippedText } from './exec-env.js';

test('variable names: the documented table', () => {
  const table: [string, string | undefined][] = [
    ['fd.name', 'FD_NAME'],
    ['proc.aname[2]', 'PROC_ANAME_2'],
    ['proc.aname[0]', 'PROC_ANAME_0'],
    ['k8s.pod.name', 'K8S_POD_NAME'],
    ['k8s.ns.name', 'K8S_NS_NAME'],
    ['container.image.repository', 'CONTAINER_IMAGE_REPOSITORY'],
    ['evt.arg.flags', 'EVT_ARG_FLAGS'],
    ['proc.env[HOME]', 'PROC_ENV_HOME'],
    ['ka.target.pod.name', 'KA_TARGET_POD_NAME'],
    ['fd.sip.name', 'FD_SIP_NAME'],
    ['a..b--c', 'A_B_C'],
    ['jevt.value[/user/name]', 'JEVT_VALUE_USER_NAME'],
    ['1.x', '_1_X'],
    ['...', undefined],
    ['[]', undefined],
  ];
  for (const [key, name] of table) assert.equal(envNameOf(key), name, key);
  assert.equal(envNameOf('fd.name', 'FALCO_'), 'FALCO_FD_NAME');
});

test('values are text: integers exact beyond 2^53, booleans, lists joined; null and nested lists are not passed', () => {
  assert.equal(envValueOf('a b'), 'a b');
  assert.equal(envValueOf(1700000000123456789n), '1700000000123456789');
  assert.equal(envValueOf(8080), '8080');
  assert.equal(envValueOf(-1), '-1');
  assert.equal(envValueOf(true), 'true');
  assert.equal(envValueOf(false), 'false');
  assert.equal(envValueOf(['a', 2, null, 3n]), 'a,2,,3');
  assert.equal(envValueOf([]), '');
  assert.equal(envValueOf(null), undefined);
  assert.equal(envValueOf([['nested']]), undefined);
});

test('an alert becomes NAME=value entries, its own variables first, fields in sorted order', () => {
  const ev = falcoEvent(
    { 'proc.aname[2]': 'bash', 'fd.name': '/etc/shadow', 'evt.time': 1700000000123456789n, 'fd.num': null, 'k8s.pod.name': 'web' },
    { rule: 'Read sensitive file', priority: 'Warning', source: 'syscall', hostname: 'node-1', tags: ['filesystem', 'mitre_credential_access'] },
  );
  const env = alertEnv(ev);
  assert.deepEqual(env.entries, [
    'RULE=Read sensitive file',
    'PRIORITY=Warning',
    'SOURCE=syscall',
    'HOSTNAME=node-1',
    'TAGS=filesystem,mitre_credential_access',
    'EVT_TIME=1700000000123456789',
    'FD_NAME=/etc/shadow',
    'K8S_POD_NAME=web',
    'PROC_ANAME_2=bash',
  ]);
  assert.deepEqual(env.skipped, [{ field: 'fd.num', why: 'null or unsupported value' }]);
});

test('a prefix goes before every name; fields selects which, the alert variables included', () => {
  const ev = falcoEvent({ 'fd.name': '/x', 'proc.name': 'sh' });
  assert.deepEqual(alertEnv(ev, { prefix: 'FALCO_', fields: ['fd.name', 'rule', 'user.name'] }), {
    entries: ['FALCO_RULE=Terminal shell in container', 'FALCO_FD_NAME=/x'],
    skipped: [{ field: 'user.name', why: 'not in the alert' }],
  });
  assert.deepEqual(alertEnv(ev, { fields: [] }).entries, []);
  assert.throws(() => alertEnv(ev, { prefix: 'bad prefix' }), /envPrefix/);
});

test('names the loader or the shell read are never set by an alert', () => {
  for (const name of ['PATH', 'IFS', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'BASH_ENV', 'ENV', 'BASH_FUNC_x%%', 'PYTHONSTARTUP', 'NODE_OPTIONS', 'PS4', 'HOME', 'SHELLOPTS']) {
    assert.ok(isReservedEnvName(name), name);
  }
  for (const name of ['FD_NAME', 'PROC_ANAME_2', 'K8S_POD_NAME', 'RULE', 'HOSTNAME', 'TAGS']) assert.ok(!isReservedEnvName(name), name);
  // Output field keys are whatever the sender posts: crafted keys cannot reach those names.
  const ev = falcoEvent({ 'ld.preload': '/tmp/evil.so', path: '/tmp/evil', ifs: 'x', 'bash.env': '/tmp/rc', 'fd.name': 'ok' });
  const env = alertEnv(ev);
  assert.deepEqual(env.entries.filter((e) => !/^(RULE|PRIORITY|SOURCE|HOSTNAME|TAGS)=/.test(e)), ['FD_NAME=ok']);
  assert.deepEqual(env.skipped.map((s) => s.why).sort(), ['reserved name BASH_ENV', 'reserved name IFS', 'reserved name LD_PRELOAD', 'reserved name PATH']);
});

test('collisions: the first name wins (alert variables, then sorted fields); the rest are reported', () => {
  const ev = falcoEvent({ 'fd.name': 'a', fd_name: 'b', rule: 'not the rule' });
  const env = alertEnv(ev);
  assert.ok(env.entries.includes('FD_NAME=a'));
  assert.ok(env.entries.includes('RULE=Terminal shell in container'));
  assert.deepEqual(env.skipped, [
    { field: 'fd_name', why: 'name FD_NAME already set' },
    { field: 'rule', why: 'name RULE already set' },
  ]);
});

test('caps: NUL, value size, variable count and total size', () => {
  const big = 'x'.repeat(MAX_ENV_VALUE_BYTES + 1);
  const ev = falcoEvent({ 'a.nul': 'a\0b', 'a.big': big, 'a.fits': 'x'.repeat(MAX_ENV_VALUE_BYTES) });
  const env = alertEnv(ev, { fields: ['a.nul', 'a.big', 'a.fits'] });
  assert.deepEqual(env.entries, [`A_FITS=${'x'.repeat(MAX_ENV_VALUE_BYTES)}`]);
  assert.deepEqual(env.skipped.map((s) => s.why), ['value contains NUL', `value over ${MAX_ENV_VALUE_BYTES} bytes`]);

  const many = falcoEvent(Object.fromEntries(Array.from({ length: MAX_ENV_VARS + 10 }, (_, i) => [`f.k${String(i).padStart(4, '0')}`, 'v'])));
  const counted = alertEnv(many);
  assert.equal(counted.entries.length, MAX_ENV_VARS);
  assert.equal(counted.skipped.length, 15);

  const heavy = falcoEvent(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f.k${String(i).padStart(2, '0')}`, 'y'.repeat(4000)])));
  const sized = alertEnv(heavy, { fields: Object.keys(heavy.outputFields) });
  const total = sized.entries.reduce((n, e) => n + Buffer.byteLength(e), 0);
  assert.ok(total <= MAX_ENV_BYTES, `${total}`);
  assert.ok(sized.skipped.length > 0 && sized.skipped.every((s) => s.why === `over ${MAX_ENV_BYTES} bytes in total`));
});

test('argv: env, --, one entry per variable, then the command unchanged; the command alone when nothing is set', () => {
  const value = `$(touch /tmp/x); echo 'q' "d" \`id\` && a | b\nnext`;
  assert.deepEqual(argvWithEnv([`FD_NAME=${value}`], ['ls', '-l']), ['env', '--', `FD_NAME=${value}`, 'ls', '-l']);
  assert.deepEqual(argvWithEnv([], ['ls', '-l']), ['ls', '-l']);
});

test('skipped fields read as one short sentence', () => {
  assert.equal(skippedText([]), '');
  assert.equal(skippedText([{ field: 'fd.num', why: 'null or unsupported value' }]), '1 alert field not passed: fd.num (null or unsupported value)');
  const seven = Array.from({ length: 7 }, (_, i) => ({ field: `f.${i}`, why: 'w' }));
  assert.match(skippedText(seven), /^7 alert fields not passed: f\.0 \(w\), .*f\.4 \(w\), and 2 more$/);
});
