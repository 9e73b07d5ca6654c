import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstUse, memoAsync } from './first-use.js';

test('memoAsync: one make() shared by concurrent and later callers; a rejection is not kept', async () => {
  let calls = 0;
  let fail = true;
  const get = memoAsync(async () => {
    calls += 1;
    if (fail) throw new Error(`attempt ${calls}`);
    return { n: calls };
  });
  const [a, b] = await Promise.allSettled([get(), get()]);
  assert.equal(calls, 1, 'concurrent callers share the attempt');
  assert.equal(a.status, 'rejected');
  assert.equal(b.status, 'rejected');
  fail = false;
  const first = await get();
  assert.equal(calls, 2, 'the failed attempt was dropped: tried again');
  assert.equal(await get(), first, 'the success is kept');
  assert.equal(calls, 2);
});

test('firstUse: nothing loads before the first call; a failed load names the package and keeps the cause', async () => {
  let loads = 0;
  const load = firstUse('the-module', async () => {
    loads += 1;
    return import('node:zlib');
  });
  assert.equal(loads, 0);
  const [z1, z2] = await Promise.all([load(), load()]);
  assert.equal(loads, 1);
  assert.equal(z1, z2);
  assert.equal(typeof z1.gzipSync, 'function');

  const missing = firstUse('no-such-package-for-talon', () => import('no-such-package-for-talon' as string));
  await assert.rejects(missing(), (e: Error) => {
    assert.match(e.message, /^cannot load no-such-package-for-talon: .*no-such-package-for-talon/);
    assert.equal((e.cause as NodeJS.ErrnoException).code, 'ERR_MODULE_NOT_FOUND');
    return true;
  });
});
